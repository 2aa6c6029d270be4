"""The agent's component installer against the embedded API server, as a real agent identity.

Each test runs the installer extension in-process with an agent's token (so
the agent authorization rule applies: status of its own MachineComponents,
finalizer patches, nothing else), installs the demo exporter from real
archives and checks the node's files and processes as well as the reported
status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from kubenode.agent.installer import ComponentAgent, ComponentAgentConfig
from kubenode.agent.installer.component_agent import MACHINE_COMPONENTS
from kubenode.agent.installer.journal import recover
from kubenode.agent.installer.layout import ComponentLayout
from kubenode.api.constants import FINALIZER_MACHINE_COMPONENT
from kubenode.client import errors
from kubenode.client.resources import EVENTS
from kubenode.demo.artifact_server import ArtifactServer

from .installer_env import (
    COMPONENT,
    MACHINE,
    agent_env,
    eventually,
    has_finalizer,
    raw_archive,
    spec_for,
)
from .installer_env import AgentEnv as Env

Obj = dict[str, Any]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with agent_env(tmp_path) as e:
        yield e


@contextlib.asynccontextmanager
async def running_agent(env: Env, **config: Any) -> AsyncIterator[ComponentAgent]:
    # The tests' hand-made archives live in the test directory: the agent trusts it for file:// sources
    # (as `--trust-file-dir` would); a test that passes trusted_file_dirs=None gets the local-mode default.
    config.setdefault("trusted_file_dirs", (env.tmp,))
    ext = ComponentAgent(env.agent, ComponentAgentConfig(machine=MACHINE, root=env.root, **config))
    stop = asyncio.Event()
    task = asyncio.create_task(ext.run(stop), name="component-agent")
    try:
        yield ext
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def exporter_pid(env: Env) -> int | None:
    try:
        return int((env.layout().state_dir / "service.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def exporter_port(env: Env) -> int:
    return int(json.loads((env.layout().state_dir / "state.json").read_text())["port"])


async def _serves(port: int, version: str) -> bool:
    try:
        return f'version="{version}"' in await scrape(port)
    except aiohttp.ClientError:
        return False


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def nothing_installed(layout: ComponentLayout) -> None:
    assert layout.current_version() is None
    assert not layout.current.is_symlink()
    assert layout.installed_versions() == []
    leftovers = [p.name for p in layout.home.iterdir()] if layout.home.exists() else []
    assert leftovers == [], leftovers
    assert not list(layout.state_dir.glob("download-*")) if layout.state_dir.exists() else True


# --------------------------------------------------------------------------- install and remove


async def test_install_from_file_url_then_remove_on_delete(env: Env) -> None:
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT,
                                                                 spec_for(env.artifacts["1.0.0"])))
    async with running_agent(env):
        st = await env.status_where("mc1", "1.0.0 running", phase="Running", installedVersion="1.0.0", healthy=True)
        assert st["observedGeneration"] == 1
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        assert conds == {"Installed": "True", "Healthy": "True", "Drifted": "False"}
        assert has_finalizer(await env.mc())
        layout = env.layout()
        assert layout.current_version() == "1.0.0"
        assert os.readlink(layout.current) == "1.0.0"  # relative link, switched by rename
        assert 'node_exporter_build_info{version="1.0.0"}' in await scrape(exporter_port(env))
        pid = exporter_pid(env)
        assert pid is not None and psutil.pid_exists(pid)
        assert (env.root / "var" / "log" / "components" / f"{COMPONENT}.log").exists()

        await env.admin.delete(MACHINE_COMPONENTS, "mc1")

        async def gone() -> bool:
            try:
                await env.mc()
            except errors.NotFound:
                return True
            return False

        await eventually(gone, 30, "the agent to drop its finalizer")
        assert not layout.home.exists() and not layout.state_dir.exists()
        await eventually(lambda: _dead(pid), 10, "the exporter to stop")


async def _dead(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_install_from_http_url(env: Env) -> None:
    server = ArtifactServer(env.artifacts["1.0.0"].path.parent)
    await server.start()
    try:
        a = env.artifacts["1.0.0"]
        await env.admin.create(MACHINE_COMPONENTS, env.machine_component(
            "mc1", MACHINE, COMPONENT, spec_for(a, url=server.url(a.filename))))
        async with running_agent(env):
            await env.status_where("mc1", "1.0.0 running over http", phase="Running", installedVersion="1.0.0",
                                   healthy=True)
    finally:
        await server.stop()


async def test_checksum_mismatch_installs_nothing(env: Env) -> None:
    tmpl = spec_for(env.artifacts["1.0.0"])
    tmpl["source"]["sha256"] = "0" * 64
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    async with running_agent(env):
        st = await env.status_where("mc1", "Failed", phase="Failed")
        assert "checksum mismatch" in st["message"] and "nothing was installed" in st["message"]
        installed = next(c for c in st["conditions"] if c["type"] == "Installed")
        assert (installed["status"], installed["reason"]) == ("False", "ChecksumMismatch")
        assert "installedVersion" not in st
        nothing_installed(env.layout())


async def test_upgrade_switches_atomically_then_unhealthy_upgrade_rolls_back(env: Env) -> None:
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT,
                                                                 spec_for(env.artifacts["1.0.0"])))
    async with running_agent(env):
        await env.status_where("mc1", "1.0.0 running", phase="Running", installedVersion="1.0.0", healthy=True)
        pid_100 = exporter_pid(env)
        port = exporter_port(env)

        await env.admin.patch(MACHINE_COMPONENTS, "mc1", {"spec": spec_for(env.artifacts["1.1.0"])})
        st = await env.status_where("mc1", "1.1.0 running", phase="Running", installedVersion="1.1.0",
                                    healthy=True)
        assert st["observedGeneration"] == 2
        assert env.layout().current_version() == "1.1.0"
        assert env.layout().installed_versions() == ["1.0.0", "1.1.0"]  # 1.0.0 kept for a local rollback
        pid_110 = exporter_pid(env)
        assert pid_110 != pid_100, "the upgrade must restart the service"
        await eventually(lambda: _dead(pid_100 or 0), 10, "the 1.0.0 process to be gone")
        assert exporter_port(env) == port  # the node's port is stable across versions
        assert 'version="1.1.0"' in await scrape(port)

        await env.admin.patch(MACHINE_COMPONENTS, "mc1", {"spec": spec_for(env.artifacts["1.2.0"])})
        st = await env.status_where("mc1", "1.2.0 rolled back", phase="Failed", installedVersion="1.1.0",
                                    observedGeneration=3)
        assert "1.2.0 failed its health check" in st["message"] and "rolled back to 1.1.0" in st["message"]
        assert "regression in 1.2.0" in st["message"]
        installed = next(c for c in st["conditions"] if c["type"] == "Installed")
        assert (installed["status"], installed["reason"]) == ("False", "HealthCheckFailed")
        assert env.layout().current_version() == "1.1.0"
        await eventually(lambda: _serves(port, "1.1.0"), 10, "1.1.0 serving again after the rollback")
        st = await env.status_where("mc1", "1.1.0 healthy again", healthy=True, phase="Failed")
        # Not retried: the failed spec is held until the spec changes.
        await asyncio.sleep(0)
        assert env.layout().current_version() == "1.1.0"

        events = await env.admin.list(EVENTS, "default")
        # a failure is a Warning Event; successes live in the Installed condition only (one Event per machine
        # per upgrade would be 10,000 Events per rollout of a large fleet)
        assert [(e["type"], e["reason"]) for e in events[0]] == [("Warning", "HealthCheckFailed")]


async def _phases_of(env: Env, name: str, mc: Obj, seen: list[str]) -> None:
    """Append each new status phase the agent writes for the spec of `mc` (until cancelled)."""
    rv, gen = mc["metadata"]["resourceVersion"], mc["metadata"]["generation"]
    async for ev in env.admin.watch(MACHINE_COMPONENTS, resource_version=rv, field_selector=f"metadata.name={name}"):
        st = ev.object.get("status") or {}
        if st.get("observedGeneration") == gen and (not seen or seen[-1] != st.get("phase")):
            seen.append(str(st.get("phase")))


@pytest.mark.parametrize(("report_after", "phases"), [
    (2.0, ["Running"]),  # a quick upgrade: straight to its final status, one write
    (0.0, ["Installing", "Running"]),  # a slow one (here: every one) shows Installing while it lasts
])
async def test_installing_is_reported_only_for_slow_installs(env: Env, report_after: float,
                                                             phases: list[str]) -> None:
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT,
                                                                 spec_for(env.artifacts["1.0.0"])))
    async with running_agent(env, installing_report_after=report_after):
        await env.status_where("mc1", "1.0.0 running", phase="Running", installedVersion="1.0.0", healthy=True)
        mc = await env.admin.patch(MACHINE_COMPONENTS, "mc1", {"spec": spec_for(env.artifacts["1.1.0"])})
        seen: list[str] = []
        watcher = asyncio.create_task(_phases_of(env, "mc1", mc, seen))
        try:
            st = await env.status_where("mc1", "1.1.0 running", phase="Running", installedVersion="1.1.0",
                                        healthy=True)
            await eventually(lambda: _true(bool(seen) and seen[-1] == "Running"), 10, "the watch to catch up")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert seen == phases
        installed = next(c for c in st["conditions"] if c["type"] == "Installed")
        assert (installed["status"], installed["message"]) == ("True", "version 1.1.0 installed")


async def _true(x: bool) -> bool:
    return x


# --------------------------------------------------------------------------- refusals


async def test_absolute_command_path_rejected_by_the_api(env: Env) -> None:
    tmpl = spec_for(env.artifacts["1.0.0"], run={"command": ["/bin/sh", "-c", "id"]})
    with pytest.raises(errors.Invalid) as exc:
        await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    assert "spec.run.command[0]" in str(exc.value)


async def test_command_outside_the_artifact_refused(env: Env) -> None:
    # Passes the schema, but the program is a file written from the custom resource, not from the artifact.
    tmpl = spec_for(env.artifacts["1.0.0"], run={"command": ["etc/run.sh"]},
                    files=[{"path": "etc/run.sh", "content": "#!/bin/sh\nid\n", "mode": 493}])
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    async with running_agent(env):
        st = await env.status_where("mc1", "Failed", phase="Failed")
        assert "spec.run.command[0]" in st["message"] and "not a file of the verified artifact" in st["message"]
        nothing_installed(env.layout())


async def test_link_escaping_the_artifact_refused(env: Env) -> None:
    data = raw_archive([("bin", None, ""), ("bin/tool", None, "../../../../../../bin/true")])
    path = env.tmp / "evil-link.tar.gz"
    path.write_bytes(data)
    tmpl = {"version": "1.0.0", "source": {"url": path.as_uri(), "sha256": hashlib.sha256(data).hexdigest()},
            "run": {"command": ["bin/tool"]}}
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    async with running_agent(env):
        st = await env.status_where("mc1", "Failed", phase="Failed")
        assert "escapes the directory" in st["message"]
        nothing_installed(env.layout())


async def test_tar_with_dotdot_member_refused(env: Env) -> None:
    data = raw_archive([("bin", None, ""), ("bin/../../../../escaped", b"pwned\n", "")])
    path = env.tmp / "evil.tar.gz"
    path.write_bytes(data)
    tmpl = {"version": "1.0.0", "source": {"url": path.as_uri(), "sha256": hashlib.sha256(data).hexdigest()}}
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    async with running_agent(env):
        st = await env.status_where("mc1", "Failed", phase="Failed")
        assert "'..' in path" in st["message"]
        reasons = {c["type"]: c["reason"] for c in st["conditions"]}
        assert reasons["Installed"] == "UnpackFailed"
        nothing_installed(env.layout())
    assert not list(env.tmp.rglob("escaped"))


async def test_agent_may_patch_only_its_own_machine_components(env: Env) -> None:
    a = env.artifacts["1.0.0"]
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mine", MACHINE, COMPONENT, spec_for(a)))
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("theirs", "m2", COMPONENT, spec_for(a)))
    body = {"metadata": {"finalizers": [FINALIZER_MACHINE_COMPONENT]}}
    await env.agent.patch(MACHINE_COMPONENTS, "mine", body)
    with pytest.raises(errors.Forbidden):
        await env.agent.patch(MACHINE_COMPONENTS, "theirs", body)
    with pytest.raises(errors.Forbidden):
        await env.agent.delete(MACHINE_COMPONENTS, "mine")
    mine = await env.admin.get(MACHINE_COMPONENTS, "mine")
    mine["spec"]["version"] = "9.9.9"
    with pytest.raises(errors.Forbidden):
        await env.agent.replace(MACHINE_COMPONENTS, mine)


async def _ignored_events(env: Env, name: str) -> list[str] | None:
    events, _ = await env.admin.list(EVENTS, "default")
    msgs = [e["message"] for e in events if e["involvedObject"]["name"] == name and e["reason"] == "NotForThisNode"
            and e["type"] == "Warning"]
    return msgs or None


@pytest.mark.parametrize(("case", "why"), [
    ("relabelled", "names machine 'm2' in spec.machineName"),
    ("no controller", "has no MachineComponentSet as its controller"),
])
async def test_agent_ignores_components_that_are_not_its_own(env: Env, case: str, why: str) -> None:
    """A MachineComponent labelled for this machine but whose spec names another one (what the relabel attack
    produces on a server that lacks the admission policy), or that no MachineComponentSet controls, runs nothing."""
    mc = env.machine_component("mc1", "m2", COMPONENT, spec_for(env.artifacts["1.0.0"]))
    if case == "relabelled":
        mc["metadata"]["labels"]["kubenode.io/machine"] = MACHINE  # label says m1, spec says m2
    else:
        mc = env.machine_component("mc1", MACHINE, COMPONENT, spec_for(env.artifacts["1.0.0"]))
        del mc["metadata"]["ownerReferences"]
    await env.admin.create(MACHINE_COMPONENTS, mc)
    async with running_agent(env):
        msgs = await eventually(lambda: _ignored_events(env, "mc1"), 20, "a NotForThisNode Warning Event")
        assert why in msgs[0]
        nothing_installed(env.layout())
        assert not (await env.mc()).get("status")  # not a single write about it
        assert FINALIZER_MACHINE_COMPONENT not in ((await env.mc())["metadata"].get("finalizers") or [])


async def test_file_source_outside_the_trusted_directory_installs_nothing(env: Env) -> None:
    a = env.artifacts["1.0.0"]
    elsewhere = env.tmp / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / a.path.name
    copy.write_bytes(a.path.read_bytes())
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT,
                                                                     spec_for(a, copy.as_uri())))
    async with running_agent(env, trusted_file_dirs=None):  # local mode's default: DATA/artifacts only
        st = await env.status_where("mc1", "Failed", phase="Failed")
        assert "file:// sources must be inside a trusted directory" in st["message"], st
        assert {c["type"]: c["reason"] for c in st["conditions"]}["Installed"] == "DownloadFailed"
        nothing_installed(env.layout())


async def test_a_file_may_not_replace_an_artifact_member_by_another_spelling(env: Env) -> None:
    a = env.artifacts["1.0.0"]
    tmpl = spec_for(a, files=[{"path": "bin//node-exporter", "content": "#!/bin/sh\necho pwned\n", "mode": 0o755}])
    with pytest.raises(errors.Invalid):  # the CRD rule wants the normal form
        await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))


async def test_loader_environment_is_refused_at_admission(env: Env) -> None:
    a = env.artifacts["1.0.0"]
    tmpl = spec_for(a)
    tmpl["run"] = dict(tmpl["run"], env=[{"name": "LD_PRELOAD", "value": "/tmp/evil.so"}])
    with pytest.raises(errors.Invalid) as exc:
        await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, tmpl))
    assert [c["field"] for c in exc.value.causes] == ["spec.run.env[0].name"]


# --------------------------------------------------------------------------- crash consistency


def _component_processes(root: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(root) in cmd and "bin/node-exporter" in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


async def _none_left(root: Path) -> bool:
    return not _component_processes(root)


@pytest.mark.parametrize("step", ["begin", "downloaded", "unpacked", "switched", "started"])
async def test_agent_killed_mid_upgrade_is_consistent_after_restart(env: Env, step: str) -> None:
    a1, a2 = env.artifacts["1.0.0"], env.artifacts["1.1.0"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.installer_crash", str(env.root), step,
        a1.path.as_uri(), a1.sha256, a2.path.as_uri(), a2.sha256, cwd=str(Path(__file__).parents[2]))
    assert await asyncio.wait_for(proc.wait(), 60) == 137, "the stand-in agent must die at the failpoint"
    # A local machine's processes die with its agent (PR_SET_PDEATHSIG): nothing is left holding the port.
    await eventually(lambda: _none_left(env.root), 10, "the killed agent's exporter to stop")
    layout = env.layout()
    # The crash really happened mid-way: a journal is left behind.
    assert (layout.state_dir / "journal.json").exists()
    if step in ("switched", "started"):
        assert layout.current_version() == "1.1.0"  # switched, but never verified healthy

    # What the restarted agent does first: recover from the journal.
    recovery = recover(layout)
    assert recovery.record is not None and recovery.record.step == step
    assert layout.current_version() == "1.0.0"
    assert not (layout.state_dir / "journal.json").exists()
    assert not [p.name for p in layout.home.iterdir() if p.name.startswith(".")]
    for v in layout.installed_versions():
        assert layout.is_complete(v)

    # Then it converges on the desired version, and no orphan of the killed agent survives.
    await env.admin.create(MACHINE_COMPONENTS, env.machine_component("mc1", MACHINE, COMPONENT, spec_for(a2)))
    try:
        async with running_agent(env):
            await env.status_where("mc1", "1.1.0 running after the restart", phase="Running",
                                   installedVersion="1.1.0", healthy=True)
            procs = _component_processes(env.root)
            assert len(procs) == 1, [p.info["cmdline"] for p in procs]
    finally:
        for p in _component_processes(env.root):
            p.kill()


# --------------------------------------------------------------------------- disruption Reboot


async def test_disruption_reboot_reboots_after_install_and_reports_running_only_after_boot(env: Env) -> None:
    """Installed -> Installing/Rebooting + Event -> one reboot -> (new boot) health checked -> Running."""
    (env.root / "run").mkdir(parents=True, exist_ok=True)
    boot = env.root / "run" / "boot_id"
    boot.write_text("boot-1\n")
    gate = asyncio.Event()
    reboots: list[str] = []
    agents: list[ComponentAgent] = []

    async def rebooter() -> None:
        # As a reboot would: the node's processes go, a new boot ID; the test decides when the node comes back.
        reboots.append(boot.read_text().strip())
        await gate.wait()
        await agents[0].handles[COMPONENT].service.stop()
        boot.write_text("boot-2\n")

    await env.admin.create(MACHINE_COMPONENTS, env.machine_component(
        "mc1", MACHINE, COMPONENT, spec_for(env.artifacts["1.0.0"], disruption="Reboot")))
    async with running_agent(env, rebooter=rebooter) as agent:
        agents.append(agent)
        st = await env.status_where("mc1", "installed, rebooting", phase="Installing", installedVersion="1.0.0")
        await eventually(lambda: asyncio.sleep(0, reboots), 30, "the reboot")
        installed = next(x for x in st["conditions"] if x["type"] == "Installed")
        assert (installed["status"], installed["reason"]) == ("False", "Rebooting")
        assert "rebooting the node (disruption Reboot)" in st["message"]
        # The node is down: however long it takes, the component does not claim Running for the rollout.
        assert (await env.mc())["status"]["phase"] == "Installing"
        # Every status the agent writes from here on (the after-boot report is soon replaced by the steady one).
        seen: list[Obj] = []

        async def record() -> None:
            async with contextlib.aclosing(env.admin.watch(
                    MACHINE_COMPONENTS, field_selector="metadata.name=mc1",
                    resource_version=(await env.mc())["metadata"]["resourceVersion"])) as events:
                async for ev in events:
                    seen.append(ev.object.get("status") or {})

        recorder = asyncio.create_task(record())
        try:
            await asyncio.sleep(0)
            gate.set()
            await env.status_where("mc1", "Running after the boot", phase="Running", healthy=True)

            async def after_boot_report() -> Obj | None:
                return next((x for x in seen if x.get("phase") == "Running"
                             and "boot ID boot-1 -> boot-2" in str(x.get("message"))), None)

            first_running = await eventually(after_boot_report, 30, "the after-boot report")
            assert first_running is next(x for x in seen if x.get("phase") == "Running"), seen
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
        assert reboots == ["boot-1"]  # once: the new boot does not reboot again
        events = await env.admin.list(EVENTS, "default")
        assert any(e["reason"] == "Rebooting" and e["involvedObject"]["name"] == "mc1" for e in events[0])
        assert json.loads((env.layout().state_dir / "state.json").read_text())["reboot_from"] == ""
