# ruff: noqa: E501  (the /proc samples below are real lines, longer than our limit)
"""The agent's /metrics: exact exposition, node-exporter names from /proc samples, NPD problem metrics, log ring."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.telemetry import AgentMetrics, Family, LogRing, NodeCollector, format_value, render
from kubenode.agent.telemetry.node_collector import (
    parse_diskstats,
    parse_loadavg,
    parse_meminfo,
    parse_mounts,
    parse_netdev,
    parse_pressure,
    parse_stat,
    parse_vmstat,
)

MEMINFO = """MemTotal:       24683711 kB
MemFree:         8444692 kB
MemAvailable:   22123456 kB
Buffers:           74576 kB
Cached:         14014216 kB
Active(anon):       1668 kB
Inactive(file):  9000000 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
"""
STAT = """cpu  93270 0 20818 54687 628 0 940 1566 0 0
cpu0 44309 0 8921 31441 287 0 164 806 0 0
cpu1 48961 3 11897 23246 341 0 776 760 12 7
intr 983372 0 9 0
ctxt 2044221
btime 1764669600
processes 18475
procs_running 4
procs_blocked 1
"""
PRESSURE_CPU = "some avg10=0.00 avg60=0.12 avg300=0.05 total=123456789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
PRESSURE_MEM = "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n"
DISKSTATS = """ 259       0 nvme0n1 4096 10 819200 1000 2048 20 409600 3000 0 2500 4000 0 0 0 0
 259       1 nvme0n1p1 100 0 800 10 10 0 80 10 0 20 20 0 0 0 0
   7       0 loop0 5 0 10 0 0 0 0 0 0 4 0 0 0 0 0
   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 0 0 0 0
   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11 0 0 0 0
"""
NETDEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 123456789012   1000    0    0    0     0          0         0 123456789012   1000    0    0    0     0       0          0
  eth0: 9876543210    200    1    2    0     0          0         3 1234567    100    0    0    0     0       0          0
"""
MOUNTS = """/dev/nvme0n1p1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
tmpfs /run tmpfs rw,nosuid 0 0
overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0
/dev/sdb1 /mnt/with\\040space xfs ro,relatime 0 0
server:/export /mnt/nfs nfs4 rw 0 0
/dev/nvme0n1p1 / ext4 rw,relatime 0 0
"""


@pytest.mark.parametrize(("value", "text"), [
    (25276123456, "25276123456"),  # never 2.5276e+10: integers stay exact
    (2**62 + 1, "4611686018427387905"),
    (25276123456.0, "25276123456"),
    (0.1, "0.1"),
    (1234.56, "1234.56"),
    (1e-9, "1e-09"),
    (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"),
    (True, "1"),
])
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


@given(st.integers(min_value=-(2**63), max_value=2**64))
def test_integers_round_trip_exactly(n: int) -> None:
    assert int(format_value(n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(x: float) -> None:
    assert float(format_value(x)) == x


def test_nan() -> None:
    assert format_value(math.nan) == "NaN"


def test_render_escapes_labels_and_keeps_names() -> None:
    f = Family("problem_counter", "counter", "Number of times.")
    f.add(3, {"reason": 'a"b\\c\nd'})
    assert render([f]) == ('# HELP problem_counter Number of times.\n# TYPE problem_counter counter\n'
                           'problem_counter{reason="a\\"b\\\\c\\nd"} 3\n')


def test_meminfo_names_as_node_exporter() -> None:
    m = parse_meminfo(MEMINFO)
    assert m["MemTotal_bytes"] == 24683711 * 1024
    assert m["Active_anon_bytes"] == 1668 * 1024
    assert m["Inactive_file_bytes"] == 9000000 * 1024
    assert m["HugePages_Total"] == 0 and "HugePages_Total_bytes" not in m
    assert m["Hugepagesize_bytes"] == 2048 * 1024


def test_stat() -> None:
    s = parse_stat(STAT)
    assert s.cpus["1"][:3] == (48961, 3, 11897)
    assert (s.boot_time, s.context_switches, s.interrupts, s.forks, s.procs_running, s.procs_blocked) == (
        1764669600, 2044221, 983372, 18475, 4, 1)


@pytest.mark.parametrize(("text", "expected"), [
    ("0.52 0.58 0.59 2/389 12345\n", (0.52, 0.58, 0.59)),
    ("", None),
    ("garbage", None),
])
def test_loadavg(text: str, expected: tuple[float, float, float] | None) -> None:
    assert parse_loadavg(text) == expected


def test_pressure_vmstat_disks_net_mounts() -> None:
    assert parse_pressure(PRESSURE_CPU) == {"some": 123456789, "full": 0}
    assert parse_vmstat("oom_kill 7\npgfault 100\nnr_free_pages 5\npswpin 1\n") == {
        "oom_kill": 7, "pgfault": 100, "pswpin": 1}
    disks = {d.device: d for d in parse_diskstats(DISKSTATS)}
    assert set(disks) == {"nvme0n1", "sda"}  # partitions and loop devices excluded, as node-exporter does
    assert disks["nvme0n1"].sectors_read == 819200 and disks["nvme0n1"].io_time_ms == 2500
    net = parse_netdev(NETDEV)
    assert net["lo"][0][0] == 123456789012 and net["eth0"][0][7] == 3 and net["eth0"][1][0] == 1234567
    mounts = parse_mounts(MOUNTS)
    assert [(m.device, m.mountpoint, m.fstype, m.readonly) for m in mounts] == [
        ("/dev/nvme0n1p1", "/", "ext4", False), ("tmpfs", "/run", "tmpfs", False),
        ("/dev/sdb1", "/mnt/with space", "xfs", True)]


def _fake_proc(tmp_path: Path) -> Path:
    """A proc directory with real file formats (the collector only reads files)."""
    proc = tmp_path / "proc"
    for rel, text in {"meminfo": MEMINFO, "stat": STAT, "loadavg": "1.5 0.75 0.25 3/400 999\n",
                      "pressure/cpu": PRESSURE_CPU, "pressure/memory": PRESSURE_MEM,
                      "pressure/io": PRESSURE_MEM, "vmstat": "oom_kill 3\n", "diskstats": DISKSTATS,
                      "net/dev": NETDEV, "1/mounts": f"{tmp_path} / ext4 rw 0 0\n"}.items():
        (proc / rel).parent.mkdir(parents=True, exist_ok=True)
        (proc / rel).write_text(text)
    return proc


def test_collector_families(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    text = render(NodeCollector(proc=proc, host_root=tmp_path).collect())
    ticks = os.sysconf("SC_CLK_TCK")
    lines = set(text.splitlines())
    for expected in [
        f'node_cpu_seconds_total{{cpu="0",mode="user"}} {format_value(44309 / ticks)}',
        f'node_cpu_seconds_total{{cpu="1",mode="steal"}} {format_value(760 / ticks)}',
        f"node_memory_MemTotal_bytes {24683711 * 1024}",
        f"node_memory_MemAvailable_bytes {22123456 * 1024}",
        "node_memory_HugePages_Total 0",
        "node_load1 1.5", "node_load5 0.75", "node_load15 0.25",
        "node_pressure_cpu_waiting_seconds_total 123.456789",
        "node_pressure_memory_waiting_seconds_total 2.5",
        "node_pressure_memory_stalled_seconds_total 1",
        "node_pressure_io_stalled_seconds_total 1",
        "node_vmstat_oom_kill 3",
        "node_boot_time_seconds 1764669600",
        'node_disk_read_bytes_total{device="nvme0n1"} 419430400',
        'node_disk_written_bytes_total{device="nvme0n1"} 209715200',
        'node_network_receive_bytes_total{device="lo"} 123456789012',
        'node_network_transmit_bytes_total{device="eth0"} 1234567',
        "# TYPE node_vmstat_oom_kill untyped",
        "# TYPE node_cpu_seconds_total counter",
    ]:
        assert expected in lines, expected
    fs = [line for line in lines if line.startswith("node_filesystem_avail_bytes{")]
    assert fs and f'device="{tmp_path}",fstype="ext4",mountpoint="/"' in fs[0]
    assert "e+" not in "".join(line for line in lines if line.startswith("node_memory_"))


def test_collector_tolerates_missing_files(tmp_path: Path) -> None:
    # e.g. a kernel without PSI: the families are simply absent, the scrape still works
    text = render(NodeCollector(proc=tmp_path / "none", host_root=tmp_path).collect())
    assert "node_pressure_" not in text and "node_time_seconds" in text


def test_problem_metrics_preinitialised_and_set() -> None:
    m = AgentMetrics(machine="m1", node="n1", version="0.1", mode="local")
    m.init_problems(["OOMKilling", "TaskHung"], [("KernelDeadlock", "KernelHasNoDeadlock"),
                                                  ("KernelDeadlock", "TaskHung")])
    m.record_problem("TaskHung")
    m.set_condition("KernelDeadlock", "TaskHung", True)
    text = render(m.collect())
    assert 'problem_counter{reason="OOMKilling"} 0' in text
    assert 'problem_counter{reason="TaskHung"} 1' in text
    assert 'problem_gauge{type="KernelDeadlock",reason="TaskHung"} 1' in text
    assert 'problem_gauge{type="KernelDeadlock",reason="KernelHasNoDeadlock"} 0' in text
    assert 'kubenode_agent_info{version="0.1",machine="m1",node="n1",mode="local"} 1' in text
    m.set_condition("KernelDeadlock", "KernelHasNoDeadlock", False)
    assert 'problem_gauge{type="KernelDeadlock",reason="TaskHung"} 0' in render(m.collect())


def test_drift_metrics() -> None:
    m = AgentMetrics(machine="m1", node="n1", version="0.1", mode="host")
    m.record_drift_check("demo", drifted=True, newly=True)
    m.record_drift_check("demo", drifted=True, newly=False)
    text = render(m.collect())
    assert 'kubenode_agent_component_drift_total{component="demo"} 1' in text
    assert 'kubenode_agent_component_drifted{component="demo"} 1' in text
    assert 'kubenode_agent_component_verifications_total{component="demo"} 2' in text


def test_log_ring_is_bounded_and_keeps_the_newest() -> None:
    ring = LogRing(capacity=3)
    logger = logging.getLogger("kubenode.test.ring")
    ring.attach("kubenode.test.ring")
    try:
        for i in range(5):
            logger.warning("line %d", i)
    finally:
        ring.detach("kubenode.test.ring")
    tail = ring.tail(10)
    assert len(tail) == 3 and tail[-1].endswith("WARNING kubenode.test.ring: line 4")
    assert ring.tail(1) == tail[-1:] and ring.tail(0) == []


@given(st.text(max_size=400))
def test_proc_parsers_never_crash(text: str) -> None:
    for parse in (parse_meminfo, parse_stat, parse_loadavg, parse_pressure, parse_vmstat, parse_diskstats,
                  parse_netdev, parse_mounts):
        parse(text)


def test_taken_port_is_a_clear_error() -> None:
    import socket

    from kubenode.agent.telemetry import build_telemetry
    from kubenode.client.config import ClientConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        m = AgentMetrics(machine="m", node="n", version="v", mode="local")
        with pytest.raises(OSError, match="choose another --metrics-port"):
            build_telemetry(ClientConfig(server="https://127.0.0.1:1"), m, node_name="n", host="127.0.0.1",
                            port=port)


def test_caller_config_carries_only_the_callers_token() -> None:
    import ssl

    from kubenode.agent.telemetry.access import caller_config
    from kubenode.client.config import ClientConfig

    agent = ClientConfig(server="https://api:6443", ssl_context=ssl.create_default_context(), token="agent-secret",
                         token_file="/var/run/token")
    caller = caller_config(agent, "caller-token")
    assert caller.authorization() == "Bearer caller-token" and caller.token_file is None
    assert caller.ssl_context is not agent.ssl_context  # no client certificate of the agent's on this call
    assert caller.server == agent.server


@pytest.mark.parametrize(("host", "advertise", "shown"), [
    ("127.0.0.1", "", "127.0.0.1"),
    ("0.0.0.0", "10.1.2.3", "10.1.2.3"),  # a host's agent listens everywhere, advertises its InternalIP
    ("0.0.0.0", "", "127.0.0.1"),
])
def test_advertised_url(host: str, advertise: str, shown: str) -> None:
    from kubenode.agent.telemetry import build_telemetry
    from kubenode.client.config import ClientConfig

    m = AgentMetrics(machine="m", node="n", version="v", mode="host")
    t = build_telemetry(ClientConfig(server="https://127.0.0.1:1"), m, node_name="n", host=host, port=0,
                        advertise=advertise)
    try:
        assert t.url == f"http://{shown}:{t.port}/metrics"
    finally:
        t.sock.close()


async def test_default_host_port_taken_falls_back_explicit_port_fails(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    import socket

    from kubenode.agent import extensions
    from kubenode.agent.agent import AgentConfig
    from kubenode.agent.telemetry import TelemetryServer
    from kubenode.client.client import KubeClient
    from kubenode.client.config import ClientConfig

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        monkeypatch.setattr(extensions, "HOST_METRICS_PORT", port)
        async with KubeClient(ClientConfig(server="https://127.0.0.1:1")) as client:
            cfg = AgentConfig(machine="m", node_name="m", metrics_host="127.0.0.1")
            exts = extensions.build_extensions(client, cfg)
            telemetry = next(e for e in exts if isinstance(e, TelemetryServer))
            try:
                assert telemetry.port != port and cfg.metrics_endpoint == telemetry.url
            finally:
                telemetry.sock.close()
            with pytest.raises(OSError, match="choose another --metrics-port"):
                extensions.build_extensions(client, AgentConfig(machine="m", node_name="m", metrics_port=port))
