"""node-problem-detector's own shipped configs and kernel-log samples (tests/fixtures/npd, Apache-2.0)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.detectors import (
    KERNEL_MONITOR,
    LogMonitorConfig,
    PluginMonitorConfig,
    SystemStatsConfig,
    load_monitors,
    load_stats_monitors,
    parse_monitor,
    parse_system_stats,
)
from kubenode.agent.detectors.config import ConfigError
from kubenode.agent.detectors.journal import journalctl_argv, parse_entry
from kubenode.agent.detectors.matcher import LogMatcher
from kubenode.agent.detectors.plugin import NPD_PLUGIN_DIRS, resolve_plugin
from kubenode.agent.detectors.system_stats import StatsCollector, is_system_stats
from kubenode.agent.telemetry import render

NPD = Path(__file__).parent.parent / "fixtures" / "npd"
CONFIGS = sorted((NPD / "config").glob("*.json"))
STATS = {"system-stats-monitor.json", "net-cgroup-system-stats-monitor.json", "windows-system-stats-monitor.json"}
JOURNALD = {"docker-monitor.json", "systemd-monitor.json", "abrt-adaptor.json"}


def _load(name: str) -> dict[str, object]:
    raw: dict[str, object] = json.loads((NPD / "config" / name).read_text())
    return raw


def test_all_26_shipped_configs_are_here() -> None:
    assert len(CONFIGS) == 26


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_unchanged(path: Path) -> None:
    raw = json.loads(path.read_text())
    if path.name in STATS:
        assert is_system_stats(raw)
        assert isinstance(parse_system_stats(raw, path.name), SystemStatsConfig)
    else:
        m = parse_monitor(raw, path.name)
        assert isinstance(m, LogMonitorConfig | PluginMonitorConfig)
        if path.name in JOURNALD:
            assert isinstance(m, LogMonitorConfig) and m.plugin == "journald" and m.journal_source


def _lines(sample: str) -> list[str]:
    return (NPD / "kernel_log" / sample).read_text().split("\n")


def _findings(config: dict[str, object], sample: str) -> set[tuple[str, str, str]]:
    matcher = LogMatcher(parse_monitor(config))
    out: set[tuple[str, str, str]] = set()
    for line in _lines(sample):
        out |= {(f.kind, f.reason, f.condition) for f in matcher.feed(line)}
    return out


@pytest.mark.parametrize(("sample", "npd", "ours"), [
    # NPD's kernel-monitor.json and our default monitor (which sets KernelDeadlock for any hung task)
    ("divide_zero", {("event", "KernelOops", "")}, {("event", "KernelOops", "")}),  # trailing space trimmed
    ("null_pointer", {("event", "KernelOops", "")}, {("event", "KernelOops", "")}),
    ("oom_kill", {("event", "OOMKilling", "")}, {("event", "OOMKilling", "")}),
    ("unregister_netdevice", {("event", "UnregisterNetDevice", "")}, {("event", "UnregisterNetDevice", "")}),
    ("docker_hung", {("event", "TaskHung", ""), ("condition", "DockerHung", "KernelDeadlock")},
     {("event", "TaskHung", ""), ("condition", "TaskHung", "KernelDeadlock")}),
    ("aufs_umount_hung", {("event", "TaskHung", "")},
     {("event", "TaskHung", ""), ("condition", "TaskHung", "KernelDeadlock")}),
    ("readonly_filesystem", set(), {("condition", "FilesystemIsReadOnly", "ReadonlyFilesystem")}),
    ("au_opts_verify", set(), set()),
])
def test_kernel_log_samples(sample: str, npd: set[tuple[str, str, str]], ours: set[tuple[str, str, str]]) -> None:
    assert _findings(_load("kernel-monitor.json"), sample) == npd
    assert _findings(KERNEL_MONITOR, sample) == ours


def test_readonly_monitor_sample() -> None:
    assert _findings(_load("readonly-monitor.json"), "readonly_filesystem") == {
        ("condition", "FilesystemIsReadOnly", "ReadonlyFilesystem")}


def test_disk_log_message_filelog_go_only_regex() -> None:
    # `(?i)` after `|` in pluginConfig.message (a Go-only form); skipList drops audit lines; the message NPD
    # hands to the rules is the last submatch, here the whole match (the pattern has no group)
    matcher = LogMatcher(parse_monitor(_load("disk-log-message-filelog.json")))
    assert matcher._message("Jan  2 15:04:05 h smartd[1]: /dev/sda, 120 OFFLINE UNCORRECTABLE SECTORS") == (
        "OFFLINE UNCORRECTABLE SECTORS")
    assert matcher._message("Jan  2 15:04:05 h smartd[1]: 9 Currently unreadable (pending) sectors") == (
        "Currently unreadable (pending) sectors")
    assert matcher._message("Jan  2 15:04:05 h audit[1]: 500 Offline uncorrectable sectors") is None
    assert matcher._message("Jan  2 15:04:05 h sshd[1]: accepted") is None  # NPD skips unmatched lines
    # ... so, exactly as in NPD, its rule (which wants the count before the words) cannot fire on it
    assert matcher.feed("Jan  2 15:04:05 h smartd[1]: /dev/sda, 120 Offline uncorrectable sectors") == []


def test_kernel_monitor_filelog_uses_the_last_submatch() -> None:
    matcher = LogMatcher(parse_monitor(_load("kernel-monitor-filelog.json")))
    found = matcher.feed("Jan  2 15:04:05 host kernel: [  12.345] Killed process 1012 (heapster) "
                         "total-vm:327128kB, anon-rss:306328kB, file-rss:11132kB, shmem-rss:12345kB")
    assert [(f.kind, f.reason) for f in found] == [("event", "OOMKilling")]
    # Go's and Python's greedy `\[.*\]` agree: the message of a line with more brackets is what follows the last
    assert matcher._message("Jan  2 15:04:05 host kernel: [  1.0] divide error: 0000 [#1] SMP") == "SMP"


def test_journald_rules_and_trimming() -> None:
    systemd = LogMatcher(parse_monitor(_load("systemd-monitor.json")))
    assert [f.reason for f in systemd.feed("Started kubelet.service - Kubernetes kubelet.  ")] == ["KubeletStart"]
    docker = LogMatcher(parse_monitor(_load("docker-monitor.json")))
    found = docker.feed("OCI runtime start failed: container process is already dead: unknown")
    assert [f.reason for f in found] == ["DockerContainerStartupFailure"]


@pytest.mark.parametrize(("config", "where"), [
    ({"plugin": "journald", "source": "s", "pluginConfig": {}}, "config.pluginConfig.source"),
    ({"plugin": "journald", "source": "s", "pluginConfig": {"source": ""}}, "config.pluginConfig.source"),
    ({"plugin": "filelog", "source": "s", "logPath": "/x", "skipList": "audit"}, "config.skipList"),
])
def test_journald_and_filelog_field_errors(config: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_monitor(config)
    assert info.value.path == where


@pytest.mark.parametrize(("raw", "where"), [
    ({"cpu": {"metricsConfigs": {"cpu/no_such": {"displayName": "x"}}}}, "config.cpu.metricsConfigs[cpu/no_such]"),
    ({"cpu": {}, "invokeInterval": "soon"}, "config.invokeInterval"),
    ({"cpu": {}, "invokeInterval": "0s"}, "config.invokeInterval"),
    ({"net": {"excludeInterfaceRegexp": "(?=x)"}}, "config.net.excludeInterfaceRegexp"),
    ({"disk": {"lsblkTimeout": "0s"}}, "config.disk.lsblkTimeout"),
    ({"cpu": {}, "bogus": 1}, "config.bogus"),
])
def test_system_stats_errors(raw: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_system_stats(raw)
    assert info.value.path == where


def test_system_stats_exported_with_npd_names() -> None:
    configs = [parse_system_stats(_load(n), n) for n in sorted(STATS - {"windows-system-stats-monitor.json"})]
    text = render(StatsCollector(configs).collect())
    for name in ("cpu_load_1m", "cpu_usage_time", "memory_bytes_used", "host_uptime", "net_rx_bytes",
                 "disk_io_time", "system_processes_total"):
        assert f"# TYPE {name} " in text, name
    assert 'memory_bytes_used{state="used"}' in text
    assert "net_rx_bytes{interface_name=" in text
    assert "disk_avg_queue_len" not in text and "system_os_feature" not in text  # said so, not faked
    assert configs[0].not_exported == {}  # net-cgroup: everything exported
    assert set(configs[1].not_exported) == {"disk/avg_queue_len", "disk/bytes_used", "disk/percent_used",
                                            "system/os_feature"}


def _write(d: Path, name: str, raw: object) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(raw))
    return d / name


def test_builtin_kernel_monitor_replaced_only_on_purpose(tmp_path: Path) -> None:
    d = tmp_path / "detectors"
    other_kmsg = {"plugin": "kmsg", "source": "my-kmsg", "conditions": [],
                  "rules": [{"type": "temporary", "reason": "Mine", "pattern": "mine"}]}
    _write(d, "mine.json", other_kmsg)
    monitors, problems = load_monitors(d)
    assert [m.source for m in monitors] == ["kernel-monitor", "my-kmsg"] and problems == []  # not dropped
    _write(d, "readonly.json", _load("readonly-monitor.json"))
    monitors, problems = load_monitors(d)
    assert "readonly-monitor" not in [m.source for m in monitors]
    assert len(problems) == 1 and "ReadonlyFilesystem" in problems[0] and "'kernel-monitor'" in problems[0]
    (d / "readonly.json").unlink()
    _write(d, "kernel-monitor.json", _load("kernel-monitor.json"))  # NPD's own: source kernel-monitor
    monitors, problems = load_monitors(d)
    assert [m.source for m in monitors].count("kernel-monitor") == 1 and problems == []
    kernel = next(m for m in monitors if m.source == "kernel-monitor")
    assert "DockerHung" in {r.reason for r in kernel.rules}  # NPD's config, not ours


def test_flag_files_and_stats_shape(tmp_path: Path) -> None:
    d = tmp_path / "detectors"
    _write(d, "system-stats-monitor.json", _load("system-stats-monitor.json"))
    flag = _write(tmp_path / "elsewhere", "systemd.json", _load("systemd-monitor.json"))
    stats_flag = _write(tmp_path / "elsewhere", "net.json", _load("net-cgroup-system-stats-monitor.json"))
    monitors, problems = load_monitors(d, [flag])
    assert problems == [] and [m.source for m in monitors] == ["kernel-monitor", "systemd-monitor"]
    stats, problems = load_stats_monitors(d, [stats_flag])
    assert problems == [] and [s.source for s in stats] == ["system-stats-monitor.json", "net.json"]


def _exe(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(path, mode)
    return path


def test_plugins_at_npd_standard_paths(tmp_path: Path) -> None:
    root = tmp_path / "machine"
    ours = root / "etc" / "kubenode" / "detectors" / "plugins"
    ours.mkdir(parents=True)
    npd_dirs = [root / d.lstrip("/") for d in NPD_PLUGIN_DIRS]
    ntp = _exe(root / "config" / "plugin" / "check_ntp.sh")
    hc = _exe(root / "home" / "kubernetes" / "bin" / "health-checker")
    for d in (ntp.parent, hc.parent):
        os.chmod(d, 0o755)
    assert resolve_plugin("./config/plugin/check_ntp.sh", ours, npd_dirs, root) == ntp.resolve()
    assert resolve_plugin("/home/kubernetes/bin/health-checker", ours, npd_dirs, root) == hc.resolve()
    with pytest.raises(ValueError, match="outside"):
        resolve_plugin("/usr/bin/env", ours, npd_dirs, root)
    os.chmod(hc, 0o777)  # anyone could have replaced it: not an admin's plugin
    with pytest.raises(ValueError, match="writable by group or others"):
        resolve_plugin("/home/kubernetes/bin/health-checker", ours, npd_dirs, root)
    os.chmod(hc, 0o755)
    os.chmod(hc.parent, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
    with pytest.raises(ValueError, match="writable by group or others"):
        resolve_plugin("/home/kubernetes/bin/health-checker", ours, npd_dirs, root)


def test_journalctl_command_and_entries() -> None:
    argv = journalctl_argv("/usr/bin/journalctl", "dockerd", Path("/m/var/log/journal"), since=1000.5)
    assert argv == ["/usr/bin/journalctl", "--output=json", "--follow", "--no-pager", "--lines=all", "--quiet",
                    "--identifier=dockerd", "--directory=/m/var/log/journal", "--since=@1000"]
    assert "--after-cursor=c1" in journalctl_argv("journalctl", "x", None, since=1.0, after_cursor="c1")
    e = parse_entry(b'{"MESSAGE": "divide error: 0000 [#1] SMP ", "__CURSOR": "s=1"}')
    assert e is not None and e.message == "divide error: 0000 [#1] SMP " and e.cursor == "s=1"
    assert parse_entry(b'{"MESSAGE": [104, 105, 255]}').message == "hi\ufffd"  # type: ignore[union-attr]
    assert parse_entry(b"not json") is None and parse_entry(b'{"X": 1}') is None


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                       lambda children: st.lists(children, max_size=3)
                       | st.dictionaries(st.sampled_from(["cpu", "net", "disk", "metricsConfigs", "displayName",
                                                          "invokeInterval", "cpu/load_1m", "excludeInterfaceRegexp",
                                                          "lsblkTimeout", "x"]), children, max_size=4),
                       max_leaves=12)


@given(JSONISH)
def test_system_stats_parser_only_raises_config_errors(raw: object) -> None:
    try:
        parse_system_stats(raw)
    except ConfigError:
        pass


@given(st.text(max_size=300))
def test_journal_entry_parser_never_crashes(line: str) -> None:
    parse_entry(line.encode())
