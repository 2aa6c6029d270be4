"""The Remedy Operator, the detectors and the executor against the embedded API server, in-process.

The reviewer is a stub here (allow, deny with a rule and reason, or hold
for approval) so that these tests pin the remediation side of the contract;
the real Defender has its own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from kubenode.agent.detectors import DetectorService, DetectorSettings
from kubenode.agent.executor import ExecutorSettings, RemedyExecutor
from kubenode.api.defender import ALLOWED, DENIED, PENDING_APPROVAL, Operation, Verdict
from kubenode.apiserver.server import RunningServer, ServerConfig
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, NODES
from kubenode.controlplane.up import install_crds
from kubenode.remedy import RemedySettings, add_remedy_controllers
from kubenode.remedy.resources import NODE_REMEDIERS, REMEDY_JOBS
from kubenode.runtime.manager import Manager

from .polling import eventually

Obj = dict[str, Any]


class StubReviewer:
    """Answers with a fixed verdict (PendingApproval turns into Allowed once the op is approved)."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.reviewed: list[Operation] = []
        self.finished_ids: list[str] = []

    async def review(self, op: Operation) -> Verdict:
        self.reviewed.append(op)
        if self.verdict.decision == PENDING_APPROVAL and op.approved:
            return Verdict(ALLOWED, "approvals", "humans", "Approved", "approved by a human")
        return self.verdict

    def finished(self, op_id: str) -> None:
        self.finished_ids.append(op_id)




@dataclass
class Env:
    client: KubeClient
    kubeconfig: Path
    manager: Manager | None = None
    reviewer: StubReviewer | None = None

    async def start(self, verdict: Verdict | None = None, healthy_delay: float = 0.5) -> None:
        self.reviewer = StubReviewer(verdict or Verdict(ALLOWED, reason="Allowed"))
        self.manager = Manager(self.client)
        add_remedy_controllers(self.manager, self.client, self.reviewer,
                               RemedySettings(healthy_delay_seconds=healthy_delay, denied_retry_seconds=3600))
        await self.manager.start()

    async def node(self, name: str, conditions: list[Obj], labels: dict[str, str] | None = None) -> None:
        await self.client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                         "metadata": {"name": name, "labels": labels or {}}})
        await self.set_conditions(name, conditions)

    async def set_conditions(self, name: str, conditions: list[Obj]) -> None:
        await self.client.patch(NODES, name, {"status": {"conditions": conditions}}, subresource="status",
                                patch_type="strategic")

    async def remedier(self, name: str, actions: list[Obj], rule: Obj | None = None, **spec: Any) -> Obj:
        body = {"apiVersion": "kubenode.io/v1alpha1", "kind": "NodeRemedier", "metadata": {"name": name},
                "spec": {"rules": [{"name": "hung", "conditions": [
                    {"type": "KernelDeadlock", "status": "True", "forSeconds": 0}],
                    "actions": actions, "cooldownSeconds": 0, "maxAttempts": 1, **(rule or {})}], **spec}}
        return await self.client.create(NODE_REMEDIERS, body)

    async def jobs(self, node: str | None = None) -> list[Obj]:
        items, _ = await self.client.list(REMEDY_JOBS, label_selector=f"kubenode.io/node={node}" if node else None)
        return sorted(items, key=lambda j: (j["spec"]["attempt"], j["spec"]["step"], j["metadata"]["name"]))


def deadlock(status: str = "True") -> list[Obj]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    reason = "TaskHung" if status == "True" else "KernelHasNoDeadlock"
    return [{"type": "KernelDeadlock", "status": status, "reason": reason, "message": "x",
             "lastTransitionTime": now}]


@pytest.fixture
def server_config(server_config: ServerConfig) -> ServerConfig:
    """The shared fixture's server with a long node grace: these nodes have no kubelet heartbeat, and the
    lifecycle controller turning their conditions Unknown after 2 s would race the ladders on a loaded machine."""
    return replace(server_config, node_grace_seconds=3600.0)


@pytest.fixture
async def env(server: RunningServer) -> AsyncIterator[Env]:
    client = KubeClient(load_config(server.kubeconfig))
    await install_crds(client)
    e = Env(client, server.kubeconfig)
    try:
        yield e
    finally:
        if e.manager is not None:
            await e.manager.stop()
        await client.close()


def phases(jobs: list[Obj]) -> list[tuple[int, str, str]]:
    return [(j["spec"]["step"], j["spec"]["action"]["type"], (j.get("status") or {}).get("phase", "")) for j in jobs]


async def test_one_job_per_node_escalates_on_timeout(env: Env) -> None:
    await env.start()
    await env.node("n1", deadlock())
    await env.node("n2", deadlock())
    await env.node("n3", deadlock("False"))
    # Reboot is agent-side and no agent runs: it times out, and the ladder climbs to Cordon.
    await env.remedier("kernel", [{"type": "Reboot", "timeoutSeconds": 1}, {"type": "Cordon"}])

    async def both_done() -> bool:
        for n in ("n1", "n2"):
            jobs = await env.jobs(n)
            if len(jobs) != 2 or (jobs[1].get("status") or {}).get("phase") != "Succeeded":
                return False
        return True

    await eventually(both_done, 20, "two steps on n1 and n2")
    for n in ("n1", "n2"):
        jobs = await env.jobs(n)
        assert phases(jobs) == [(0, "Reboot", "TimedOut"), (1, "Cordon", "Succeeded")]
        assert [j["metadata"]["name"] for j in jobs] == [f"kernel-{n}-hung-1-0", f"kernel-{n}-hung-1-1"]
        first, second = jobs
        # one active job at a time: the second step was created after the first ended
        assert second["metadata"]["creationTimestamp"] >= first["status"]["completionTime"]
        assert first["status"]["defender"]["decision"] == "Allowed"
        assert first["metadata"]["ownerReferences"][0]["kind"] == "NodeRemedier"
        assert (await env.client.get(NODES, n))["spec"]["unschedulable"] is True
    assert await env.jobs("n3") == []
    nr = await eventually(lambda: _status(env, "kernel", "matchedNodes", 3), what="remedier status")
    assert nr["status"]["unhealthyNodes"] == 2
    assert env.reviewer is not None and "kernel-n1-hung-1-0" in env.reviewer.finished_ids


async def _event(env: Env, reason: str, involved: str) -> bool:
    """Whether an Event with `reason` about `involved` was recorded (Events follow the writes they describe)."""
    events, _ = await env.client.list(EVENTS, "default")
    return any(e["reason"] == reason and e["involvedObject"]["name"] == involved for e in events)


async def _status(env: Env, name: str, key: str, value: Any) -> Obj | None:
    nr = await env.client.get(NODE_REMEDIERS, name)
    return nr if (nr.get("status") or {}).get(key) == value else None


async def test_dry_run_executes_nothing(env: Env) -> None:
    await env.start()
    await env.node("n1", deadlock())
    await env.remedier("dry", [{"type": "Cordon"}], dryRun=True)
    job = await eventually(lambda: _job_in(env, "dry-n1-hung-1-0", "Succeeded"), what="dry-run job")
    assert job["spec"]["dryRun"] is True
    assert job["status"]["defender"]["decision"] == "Allowed"
    assert "dry run: would Cordon" in job["status"]["message"]
    complete = next(c for c in job["status"]["conditions"] if c["type"] == "Complete")
    assert complete["reason"] == "DryRun"
    assert not (await env.client.get(NODES, "n1")).get("spec", {}).get("unschedulable")


async def _job_in(env: Env, name: str, phase: str) -> Obj | None:
    try:
        job = await env.client.get(REMEDY_JOBS, name)
    except errors.NotFound:
        return None
    return job if (job.get("status") or {}).get("phase") == phase else None


async def test_denied_verdict_is_recorded_with_rule_and_reason(env: Env) -> None:
    await env.start(Verdict(DENIED, policy="fleet", rule="reboots", reason="BudgetExhausted",
                            message="1 per 1m used", retry_after_seconds=42))
    await env.node("n1", deadlock())
    await env.remedier("kernel", [{"type": "Cordon"}])
    job = await eventually(lambda: _job_in(env, "kernel-n1-hung-1-0", "Denied"), what="denied job")
    d = job["status"]["defender"]
    assert (d["decision"], d["policy"], d["rule"], d["reason"]) == ("Denied", "fleet", "reboots", "BudgetExhausted")
    assert "1 per 1m used" in d["message"] and d["decisionTime"]
    assert not (await env.client.get(NODES, "n1")).get("spec", {}).get("unschedulable")
    await eventually(lambda: _event(env, "DeniedByDefender", "kernel-n1-hung-1-0"), what="the DeniedByDefender Event")
    assert env.reviewer is not None
    op = env.reviewer.reviewed[0]
    assert (op.kind, op.action, op.nodes, op.source) == ("Remediation", "Cordon", ("n1",), "NodeRemedier/kernel")
    assert len(await env.jobs("n1")) == 1  # no retry before denied_retry_seconds


async def test_approval_required_then_approved(env: Env) -> None:
    await env.start(Verdict(PENDING_APPROVAL, policy="fleet", rule="humans", reason="ApprovalRequired"))
    await env.node("n1", deadlock())
    await env.remedier("kernel", [{"type": "Cordon"}])

    async def held() -> Obj | None:
        job = await _job_in(env, "kernel-n1-hung-1-0", "Pending")
        return job if job and (job["status"].get("defender") or {}).get("decision") == "PendingApproval" else None

    await eventually(held, what="job held for approval")
    from typer.testing import CliRunner

    from kubenode.cli.main import app

    # The CLI is a sync facade (asyncio.run): run it on a thread, as a user's shell would beside the operator.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["remedy", "approve", "kernel-n1-hung-1-0",
                                                               "--kubeconfig", str(env.kubeconfig)])
    assert result.exit_code == 0, result.output
    assert "approved" in result.output
    job = await eventually(lambda: _job_in(env, "kernel-n1-hung-1-0", "Succeeded"), what="approved job done")
    assert job["status"]["defender"]["decision"] == "Allowed"
    history = await asyncio.to_thread(CliRunner().invoke, app, ["remedy", "history", "--node", "n1",
                                                                "--kubeconfig", str(env.kubeconfig)])
    assert history.exit_code == 0, history.output
    assert "kernel-n1-hung-1-0" in history.output and "Succeeded" in history.output
    assert (await env.client.get(NODES, "n1"))["spec"]["unschedulable"] is True


async def test_recovery_after_healthy_delay_is_recorded(env: Env) -> None:
    await env.start(healthy_delay=0.5)
    await env.node("n1", deadlock())
    await env.remedier("kernel", [{"type": "Cordon"}])
    await eventually(lambda: _job_in(env, "kernel-n1-hung-1-0", "Succeeded"), what="cordon done")
    await env.set_conditions("n1", deadlock("False"))

    async def recovered() -> Obj | None:
        job = await env.client.get(REMEDY_JOBS, "kernel-n1-hung-1-0")
        return job if any(c["reason"] == "NodeHealthyAgain" for c in job["status"].get("conditions", [])) else None

    await eventually(recovered, what="NodeHealthyAgain")
    assert env.manager is not None
    registry = env.manager.registry

    async def observed() -> bool:
        # the controller observes the histogram right after its status write returns: poll, do not race it
        return registry.get_sample_value("kubenode_remedy_detection_to_recovery_seconds_count") == 1

    await eventually(observed, what="the detection-to-recovery observation")
    assert env.manager.registry.get_sample_value(
        "kubenode_remedy_decisions_total", {"decision": "Allowed", "action": "Cordon"}) == 1
    assert env.manager.registry.get_sample_value(
        "kubenode_remedy_jobs", {"phase": "Succeeded", "action": "Cordon"}) == 1


async def test_the_rules_healthy_delay_overrides_the_operators(env: Env) -> None:
    await env.start(healthy_delay=3600)  # the operator's default would keep the ladder open for an hour
    await env.node("n1", deadlock())
    await env.remedier("kernel", [{"type": "Cordon"}], rule={"healthyDelaySeconds": 1})
    await eventually(lambda: _job_in(env, "kernel-n1-hung-1-0", "Succeeded"), what="cordon done")
    await env.set_conditions("n1", deadlock("False"))

    async def recovered() -> bool:
        job = await env.client.get(REMEDY_JOBS, "kernel-n1-hung-1-0")
        return any(c["reason"] == "NodeHealthyAgain" for c in job["status"].get("conditions", []))

    await eventually(recovered, 10.0, what="NodeHealthyAgain after the rule's 1 s, not the operator's hour")
    with pytest.raises(errors.Invalid) as info:
        await env.remedier("bad", [{"type": "Cordon"}], rule={"healthyDelaySeconds": -1})
    assert "spec.rules[0].healthyDelaySeconds" in str(info.value)


async def test_unknown_action_rejected_with_field_path(env: Env) -> None:
    with pytest.raises(errors.Invalid) as info:
        await env.remedier("bad", [{"type": "FormatDisk"}])
    causes = info.value.details.get("causes") or []
    assert any(c.get("field") == "spec.rules[0].actions[0].type" for c in causes), causes


# --------------------------------------------------------------------------- agent side, in-process


@contextlib.asynccontextmanager
async def running(ext: Any) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(ext.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _node_condition(env: Env, node: str, type_: str) -> Obj | None:
    n = await env.client.get(NODES, node)
    return next((c for c in (n.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


async def test_detectors_condition_survives_restart_and_clears_on_reboot(env: Env, tmp_path: Path) -> None:
    root = tmp_path / "m1"
    (root / "dev").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    kmsg = root / "dev" / "kmsg"
    kmsg.write_text("")
    await env.node("m1", [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "",
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    settings = DetectorSettings(node_name="m1", root=root, poll_seconds=0.05)

    async def cond_is(status: str) -> Obj | None:
        c = await _node_condition(env, "m1", "KernelDeadlock")
        return c if c and c["status"] == status else None

    async with running(DetectorService(env.client, settings)):
        await eventually(lambda: cond_is("False"), what="healthy default")
        with kmsg.open("a") as f:
            f.write("INFO: task java:4242 blocked for more than 120 seconds.\n")
        c = await eventually(lambda: cond_is("True"), what="KernelDeadlock=True")
        assert c["reason"] == "TaskHung" and "task java:4242" in c["message"]
        ready = await _node_condition(env, "m1", "Ready")
        assert ready is not None and ready["status"] == "True"  # never touched
    # Another writer wipes the condition while the agent is away; a restart puts it back (same boot).
    await env.set_conditions("m1", deadlock("False"))
    async with running(DetectorService(env.client, settings)):
        await eventually(lambda: cond_is("True"), what="condition restored after restart")
    # A reboot (new boot ID) starts from the healthy default; the old kmsg lines belong to the old boot.
    (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
    async with running(DetectorService(env.client, settings)):
        await eventually(lambda: cond_is("False"), what="cleared after reboot")
    await eventually(lambda: _event(env, "TaskHung", "m1"), what="the TaskHung Event")


async def _agent_job(env: Env, name: str, action: Obj, phase: str = "Approved") -> None:
    await env.client.create(REMEDY_JOBS, {
        "apiVersion": "kubenode.io/v1alpha1", "kind": "RemedyOperationJob",
        "metadata": {"name": name, "labels": {"kubenode.io/machine": "m1", "kubenode.io/node": "m1"}},
        "spec": {"nodeName": "m1", "machineName": "m1", "remedier": "r", "rule": "x", "action": action}})
    await env.client.patch(REMEDY_JOBS, name, {"status": {"phase": phase}}, subresource="status")


async def test_executor_runs_agent_actions(env: Env, tmp_path: Path) -> None:
    root = tmp_path / "m1"
    scripts = root / "etc" / "kubenode" / "remedy.d"
    scripts.mkdir(parents=True)
    (root / "run").mkdir()
    (root / "run" / "boot_id").write_text("boot-1")
    ok = scripts / "fix.sh"
    ok.write_text("#!/bin/sh\necho fixed it\n")
    ok.chmod(0o755)
    restarted: list[str] = []

    async def restart(name: str) -> str:
        restarted.append(name)
        return f"{name} restarted"

    async def fake_reboot() -> None:
        (root / "run" / "boot_id").write_text("boot-2")
        raise asyncio.CancelledError  # like the process going away mid-action

    settings = ExecutorSettings(machine="m1", node_name="m1", root=root, restarters={"node-problem-detector": restart})
    await _agent_job(env, "script", {"type": "RunScript", "script": "fix.sh", "timeoutSeconds": 5})
    await _agent_job(env, "missing", {"type": "RunScript", "script": "nope.sh"})
    await _agent_job(env, "restart", {"type": "RestartComponent", "component": "node-problem-detector"})
    await _agent_job(env, "unknown", {"type": "RestartComponent", "component": "kubelet"})
    await _agent_job(env, "not-approved", {"type": "RunScript", "script": "fix.sh"}, phase="Pending")
    async with running(RemedyExecutor(env.client, settings)):
        done = {"script": ("Succeeded", "fixed it"), "missing": ("Failed", "not installed"),
                "restart": ("Succeeded", "restarted"), "unknown": ("Failed", "not installed on this node")}
        for name, (phase, text) in done.items():
            job = await eventually(lambda n=name, p=phase: _job_in(env, n, p), what=f"{name} {phase}")
            assert text in job["status"]["message"] and job["status"]["startTime"]
    assert restarted == ["node-problem-detector"]
    assert (await env.client.get(REMEDY_JOBS, "not-approved"))["status"]["phase"] == "Pending"

    # Reboot: the executor leaves a marker, the "process" dies; the next one sees a new boot ID.
    await _agent_job(env, "reboot", {"type": "Reboot"})
    ex = RemedyExecutor(env.client, settings, rebooter=fake_reboot)
    stop = asyncio.Event()
    task = asyncio.create_task(ex.run(stop))
    await eventually(lambda: _job_in(env, "reboot", "Running"), what="reboot running")
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    await ex.informer.stop()
    async with running(RemedyExecutor(env.client, settings)):
        job = await eventually(lambda: _job_in(env, "reboot", "Succeeded"), what="reboot succeeded")
        assert "boot-1 -> boot-2" in job["status"]["message"]


async def test_a_node_change_plans_that_node_not_the_fleet(env: Env) -> None:
    """Remedy reconciles in proportion to what changed (issue 11): one Node event plans one node."""
    fleet = 100
    await env.start()
    for i in range(fleet):
        await env.node(f"n{i}", deadlock("False"), labels={"pool": "a"})
    await env.remedier("kernel", [{"type": "Cordon"}], selector={"matchLabels": {"pool": "a"}})
    await eventually(lambda: _status(env, "kernel", "matchedNodes", fleet), what="every node matched")
    assert env.manager is not None
    registry = env.manager.registry

    def planned(kind: str) -> float:
        return registry.get_sample_value("kubenode_remedy_nodes_planned_total", {"pass": kind}) or 0.0

    full, incremental = planned("full"), planned("incremental")
    assert full >= fleet  # the first look is a full pass over the selected nodes
    # A healthy node's status update (a heartbeat) plans that one node: +1, not +fleet.
    await env.set_conditions("n3", deadlock("False"))
    await eventually(lambda: asyncio.sleep(0, planned("incremental") > incremental), what="the incremental pass")
    assert planned("incremental") == incremental + 1
    # A node that turns sick is remediated; one relabelled out of the selector leaves the counts.
    await env.set_conditions("n7", deadlock())
    await eventually(lambda: env.jobs("n7"), what="a job for n7")
    await env.client.patch(NODES, "n9", {"metadata": {"labels": {"pool": "b"}}})
    nr = await eventually(lambda: _status(env, "kernel", "matchedNodes", fleet - 1), what="n9 left the selector")
    assert nr is not None and nr["status"]["unhealthyNodes"] == 1
    assert planned("full") == full  # none of it needed a pass over the fleet
    assert planned("incremental") - incremental < fleet


async def test_a_remediated_and_recovered_node_is_not_planned_on_every_event(env: Env) -> None:
    """A settled history (the job done and the node marked healthy again) is not re-planned per event."""
    await env.start(healthy_delay=0.5)
    for i in range(5):
        await env.node(f"n{i}", deadlock("False"))
    await env.node("sick", deadlock())
    await env.remedier("kernel", [{"type": "Cordon"}])
    await eventually(lambda: _job_in(env, "kernel-sick-hung-1-0", "Succeeded"), what="cordon done")
    await env.set_conditions("sick", deadlock("False"))

    async def recovered() -> bool:
        job = await env.client.get(REMEDY_JOBS, "kernel-sick-hung-1-0")
        return any(c["reason"] == "NodeHealthyAgain" for c in job["status"].get("conditions", []))

    await eventually(recovered, what="NodeHealthyAgain")
    assert env.manager is not None
    registry = env.manager.registry

    def planned() -> float:
        return registry.get_sample_value("kubenode_remedy_nodes_planned_total", {"pass": "incremental"}) or 0.0

    async def quiet() -> bool:  # the passes the recovery itself caused are over
        before = planned()
        await asyncio.sleep(1.0)
        return planned() == before

    await eventually(quiet, what="no more passes after the recovery")
    before = planned()
    await env.set_conditions("n3", deadlock("False"))  # a healthy node's heartbeat
    await eventually(lambda: asyncio.sleep(0, planned() > before), what="the incremental pass")
    assert planned() == before + 1  # n3 alone; "sick" has a job, but a settled one
