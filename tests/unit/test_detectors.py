"""The fault detectors' pure parts: NPD config parsing, rule matching, condition states, tailing, plugins."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.detectors.config import (
    ConfigError,
    LogMonitorConfig,
    PluginMonitorConfig,
    parse_duration,
    parse_monitor,
)
from kubenode.agent.detectors.default_rules import KERNEL_MONITOR
from kubenode.agent.detectors.logwatch import FileTail, FloodBudget
from kubenode.agent.detectors.matcher import LogMatcher, strip_kmsg_header
from kubenode.agent.detectors.plugin import resolve_plugin, run_plugin, status_for_exit, trim_output
from kubenode.agent.detectors.state import ConditionTracker, DetectorState, StateFile

# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1.5s", 1.5), ("2h", 7200.0),
    ("10us", 1e-5), ("1m0.5s", 60.5),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "-5s", "5 m", "5x", "1h-3m", "s5"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["h", "m", "s", "ms"])), min_size=1, max_size=4))
def test_parse_duration_roundtrip(parts: list[tuple[int, str]]) -> None:
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == pytest.approx(sum(n * unit[u] for n, u in parts))


@given(st.text(max_size=12))
def test_parse_duration_never_crashes(text: str) -> None:
    try:
        assert parse_duration(text) >= 0
    except ValueError:
        pass


# --------------------------------------------------------------------------- configs


def test_default_kernel_monitor_parses() -> None:
    cfg = parse_monitor(KERNEL_MONITOR)
    assert isinstance(cfg, LogMonitorConfig)
    assert cfg.plugin == "kmsg" and cfg.lookback == 300 and cfg.buffer_size == 10
    assert [c.type for c in cfg.conditions] == ["KernelDeadlock", "ReadonlyFilesystem"]
    reasons = {r.reason for r in cfg.rules}
    assert {"OOMKilling", "TaskHung", "KernelOops", "Ext4Error", "IOError", "FilesystemIsReadOnly"} <= reasons


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(KERNEL_MONITOR)
    target: Any = cfg
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return cfg


@pytest.mark.parametrize(("path", "value", "where"), [
    (["plugin"], "syslog", "config.plugin"),  # journald is supported since issue 13: an unknown plugin is not
    (["plugin"], KeyError, "config.plugin"),
    (["source"], "", "config.source"),
    (["lookback"], "5 minutes", "config.lookback"),
    (["bufferSize"], 0, "config.bufferSize"),
    (["bufferSize"], "10", "config.bufferSize"),
    (["conditions", 0, "type"], "Ready", "config.conditions[0].type"),
    (["conditions", 1, "type"], "KernelDeadlock", "config.conditions[1].type"),
    (["conditions", 0, "reason"], "has spaces", "config.conditions[0].reason"),
    (["conditions", 0, "ttlSeconds"], -1, "config.conditions[0].ttlSeconds"),
    (["conditions", 0, "recoveryPattern"], "([", "config.conditions[0].recoveryPattern"),
    (["rules", 0, "type"], "sometimes", "config.rules[0].type"),
    (["rules", 1, "pattern"], "task [", "config.rules[1].pattern"),
    (["rules", 9, "condition"], "NoSuchCondition", "config.rules[9].condition"),
    (["rules", 9, "condition"], KeyError, "config.rules[9].condition"),
    (["rules", 2, "reason"], KeyError, "config.rules[2].reason"),
    (["rules"], {"a": 1}, "config.rules"),
])
def test_invalid_configs_name_the_field(path: list[Any], value: Any, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_monitor(_broken(path, value))
    assert info.value.path == where
    assert str(info.value).startswith(where + ": ")


def test_custom_plugin_monitor() -> None:
    cfg = parse_monitor({
        "plugin": "custom", "source": "ntp-custom-plugin-monitor",
        "pluginConfig": {"invoke_interval": "10s", "timeout": "3s", "max_output_length": 80, "concurrency": 2},
        "conditions": [{"type": "NTPProblem", "reason": "NTPIsUp", "message": "ntp service is up"}],
        "rules": [{"type": "permanent", "condition": "NTPProblem", "reason": "NTPIsDown", "path": "check_ntp.sh",
                   "args": ["--strict"]},
                  {"type": "temporary", "reason": "NTPSlow", "path": "check_ntp.sh", "timeout": "1s"}],
    })
    assert isinstance(cfg, PluginMonitorConfig)
    assert (cfg.invoke_interval, cfg.timeout, cfg.concurrency) == (10, 3, 2)
    assert cfg.rules[0].args == ("--strict",) and cfg.rules[0].timeout == 3 and cfg.rules[1].timeout == 1


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=10)
keys = st.sampled_from(["plugin", "source", "logPath", "lookback", "bufferSize", "conditions", "rules",
                        "pluginConfig", "maxLinesPerSecond"])


@given(st.dictionaries(keys, json_values, max_size=9))
def test_parser_rejects_garbage_only_with_config_errors(raw: dict[str, Any]) -> None:
    path = ""
    try:
        parse_monitor(raw)
    except ConfigError as exc:
        path = exc.path
    assert path == "" or path.startswith("config")


@given(st.sampled_from(range(len(KERNEL_MONITOR["rules"]))), st.sampled_from(["type", "reason", "pattern"]),
       json_values)
def test_parser_mutated_rules(i: int, field: str, value: Any) -> None:
    cfg = _broken(["rules", i, field], value)
    path = ""
    try:
        parse_monitor(cfg)
    except ConfigError as exc:
        path = exc.path
    assert path == "" or path.startswith(f"config.rules[{i}]")


# --------------------------------------------------------------------------- matching


def kernel() -> LogMonitorConfig:
    cfg = parse_monitor(KERNEL_MONITOR)
    assert isinstance(cfg, LogMonitorConfig)
    return cfg


@pytest.mark.parametrize(("line", "expected"), [
    ("INFO: task java:4242 blocked for more than 120 seconds.",
     [("event", "TaskHung", ""), ("condition", "TaskHung", "KernelDeadlock")]),
    ("6,1234,5678901,-;INFO: task docker:77 blocked for more than 120 seconds.",
     [("event", "TaskHung", ""), ("condition", "TaskHung", "KernelDeadlock")]),
    ("Killed process 1234 (java) total-vm:1024kB, anon-rss:512kB, file-rss:0kB, shmem-rss:0kB",
     [("event", "OOMKilling", "")]),
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", [("event", "KernelOops", "")]),
    ("divide error: 0000 [#1] SMP", [("event", "KernelOops", "")]),
    ("EXT4-fs error (device sda1): bad block", [("event", "Ext4Error", "")]),
    ("Buffer I/O error on dev sdb, logical block 0", [("event", "IOError", "")]),
    ("EXT4-fs (sda1): Remounting filesystem read-only",
     [("condition", "FilesystemIsReadOnly", "ReadonlyFilesystem")]),
    ("eth0: link up", []),
    ("task java:4242 blocked for more than 120 seconds. and more", []),  # NPD anchors patterns at the end
])
def test_kernel_rules(line: str, expected: list[tuple[str, str, str]]) -> None:
    got = [(f.kind, f.reason, f.condition) for f in LogMatcher(kernel()).feed(line)]
    assert got == expected


def test_multiline_pattern_uses_the_buffer() -> None:
    cfg = parse_monitor({"plugin": "filelog", "logPath": "/var/log/x", "source": "x", "bufferSize": 3,
                         "rules": [{"type": "temporary", "reason": "Pair", "pattern": "first\\nsecond"}]})
    assert isinstance(cfg, LogMonitorConfig)
    m = LogMatcher(cfg)
    assert m.feed("first") == []
    assert [f.reason for f in m.feed("second")] == ["Pair"]


def test_recovery_pattern() -> None:
    raw = copy.deepcopy(KERNEL_MONITOR)
    raw["conditions"][1]["recoveryPattern"] = "Remounting filesystem read-write"
    cfg = parse_monitor(raw)
    assert isinstance(cfg, LogMonitorConfig)
    found = LogMatcher(cfg).feed("EXT4-fs (sda1): Remounting filesystem read-write")
    assert [(f.kind, f.condition) for f in found] == [("recovered", "ReadonlyFilesystem")]


def test_kmsg_header() -> None:
    assert strip_kmsg_header("6,1,2,-;hello") == "hello"
    assert strip_kmsg_header("no header; here") == "no header; here"


# --------------------------------------------------------------------------- condition states


def tracker(state: DetectorState | None = None, boot: str = "b1", now: float = 1000.0,
            ttl: float | None = None) -> ConditionTracker:
    raw = copy.deepcopy(KERNEL_MONITOR)
    if ttl:
        raw["conditions"][0]["ttlSeconds"] = ttl
    cfg = parse_monitor(raw)
    return ConditionTracker(list(cfg.conditions), state or DetectorState(), boot, now)


def test_healthy_defaults() -> None:
    t = tracker()
    assert [(x.type, x.status, x.reason) for x in t.conditions] == [
        ("KernelDeadlock", "False", "KernelHasNoDeadlock"), ("ReadonlyFilesystem", "False", "FilesystemIsNotReadOnly")]


@pytest.mark.parametrize(("boot", "status", "rebooted"), [("b1", "True", False), ("b2", "False", True)])
def test_restart_keeps_conditions_reboot_resets(tmp_path: Path, boot: str, status: str, rebooted: bool) -> None:
    t = tracker()
    assert t.set("KernelDeadlock", "True", "TaskHung", "task java:1 blocked", 1001.0)
    f = StateFile(tmp_path / "state.json")
    f.save(t.state)
    again = tracker(f.load(), boot=boot, now=2000.0)
    c = again.state.conditions["KernelDeadlock"]
    assert (c.status, again.rebooted) == (status, rebooted)
    assert c.since == (1001.0 if status == "True" else 2000.0)


@pytest.mark.parametrize(("now", "status"), [(1059.0, "True"), (1060.0, "False"), (5000.0, "False")])
def test_ttl_clears(now: float, status: str) -> None:
    t = tracker(ttl=60)
    t.set("KernelDeadlock", "True", "TaskHung", "x", 1000.0)
    assert t.next_expiry() == 1060.0
    t.expire(now)
    assert t.state.conditions["KernelDeadlock"].status == status


def test_transition_time_kept_on_repeat() -> None:
    t = tracker()
    t.set("KernelDeadlock", "True", "TaskHung", "a", 1001.0)
    t.set("KernelDeadlock", "True", "TaskHung", "b", 1500.0)
    assert t.state.conditions["KernelDeadlock"].since == 1001.0


def test_unreadable_state_file_starts_fresh(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert StateFile(tmp_path / "state.json").load().boot_id == ""


# --------------------------------------------------------------------------- tailing and flood budget


def test_file_tail_follows_appends_partial_lines_and_truncation(tmp_path: Path) -> None:
    f = tmp_path / "kmsg"
    f.write_text("old\n")
    tail = FileTail(f, from_end=True)
    assert tail.read_lines() == []
    with f.open("a") as out:
        out.write("one\ntw")
    assert tail.read_lines() == ["one"]
    with f.open("a") as out:
        out.write("o\n")
    assert tail.read_lines() == ["two"]
    f.write_text("new\n")  # truncated and rewritten (shorter than our offset)
    assert tail.read_lines() == ["new"]
    resumed = FileTail(f, tail.position)
    with f.open("a") as out:
        out.write("later\n")
    assert resumed.read_lines() == ["later"]


def test_file_tail_replaced_file(tmp_path: Path) -> None:
    f = tmp_path / "log"
    f.write_text("a\nb\nc\n")
    tail = FileTail(f)
    assert tail.read_lines() == ["a", "b", "c"]
    f.rename(tmp_path / "log.1")  # logrotate: the old file moves away, a new one takes its name
    f.write_text("d\ne\nf\ng\n")
    assert tail.read_lines() == ["d", "e", "f", "g"]


@pytest.mark.parametrize(("rate", "batches", "admitted", "dropped"), [
    (100, [(50, 0.0)], [50], 0),
    (100, [(250, 0.0)], [100], 150),
    (100, [(100, 0.0), (100, 0.5)], [100, 50], 50),
    (10, [(10, 0.0), (10, 10.0)], [10, 10], 0),  # refills, but never above one second's worth
])
def test_flood_budget(rate: int, batches: list[tuple[int, float]], admitted: list[int], dropped: int) -> None:
    b = FloodBudget(rate, 0.0)
    assert [b.admit(n, t) for n, t in batches] == admitted
    assert b.dropped == dropped


# --------------------------------------------------------------------------- plugins


@pytest.mark.parametrize(("code", "status"), [(0, "False"), (1, "True"), (2, "Unknown"), (127, "Unknown"),
                                              (-9, "Unknown"), (None, "Unknown")])
def test_exit_code_mapping(code: int | None, status: str) -> None:
    assert status_for_exit(code) == status


def test_output_trimmed_to_80() -> None:
    assert trim_output(b"  " + b"x" * 200 + b"\n", 80) == "x" * 80


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_plugins_only_from_the_allowlisted_directory(tmp_path: Path) -> None:
    allowed = tmp_path / "plugins"
    allowed.mkdir()
    ok = _script(allowed / "check.sh", "exit 0")
    outside = _script(tmp_path / "evil.sh", "exit 0")
    assert resolve_plugin("check.sh", allowed) == ok.resolve()
    with pytest.raises(ValueError, match="outside"):
        resolve_plugin(str(outside), allowed)
    with pytest.raises(ValueError, match="outside"):
        resolve_plugin("../evil.sh", allowed)
    os.symlink(outside, allowed / "link.sh")
    with pytest.raises(ValueError, match="outside"):
        resolve_plugin("link.sh", allowed)
    (allowed / "data.txt").write_text("x")
    with pytest.raises(ValueError, match="not an executable"):
        resolve_plugin("data.txt", allowed)


@pytest.mark.parametrize(("body", "status", "message"), [
    ("echo all good; exit 0", "False", "all good"),
    ("echo ntp is down; exit 1", "True", "ntp is down"),
    ("echo confused; exit 3", "Unknown", "confused"),
    ("sleep 5", "Unknown", "plugin timed out after 0.3s"),
])
async def test_run_plugin(tmp_path: Path, body: str, status: str, message: str) -> None:
    exe = _script(tmp_path / "p.sh", body)
    r = await run_plugin(exe, (), 0.3, 80)
    assert (r.status, r.message) == (status, message)
