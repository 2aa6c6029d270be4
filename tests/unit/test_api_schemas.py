"""KubeNode CRD schemas: structural, documented, and rejecting bad input with the right field paths.

Each manifest goes through what the API server does on create: prune,
default, validate (`StructuralSchema`), so a case here behaves exactly as a
POST to the embedded server would.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from kubenode import api
from kubenode.api import constants as c
from kubenode.api.schema_parts import RELATIVE_PATH, SAFE_COMMAND_ELEMENT
from kubenode.apiserver.schema import StructuralSchema, check_structural

from ..api_examples import GOOD, SHA, manifest

Obj = dict[str, Any]


def _schema(kind: str) -> Obj:
    return api.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _admit(kind: str, obj: Obj) -> tuple[Obj, list[str], list[Any]]:
    """Prune, default, validate a copy of `obj` like the API server; (object, pruned paths, causes)."""
    ss = StructuralSchema(_schema(kind))
    out = copy.deepcopy(obj)
    pruned = ss.prune(out)
    ss.apply_defaults(out)
    return out, pruned, ss.validate(out)


@pytest.mark.parametrize(("kind", "obj"), GOOD, ids=[f"{k}/{o['metadata']['name']}" for k, o in GOOD])
def test_good_manifests_are_accepted_and_nothing_is_pruned(kind: str, obj: Obj) -> None:
    _, pruned, causes = _admit(kind, obj)
    assert causes == []
    assert pruned == []


def test_every_kind_has_a_good_example() -> None:
    assert {k for k, _ in GOOD} == {k.kind for k in api.KINDS}


# --------------------------------------------------------------------------- bad manifests

Mutate = Callable[[Obj], None]


def _set(path: str, value: Any) -> Mutate:
    """Set a dotted path ("spec.template.source") in the manifest; a value of ... deletes it."""
    def f(o: Obj) -> None:
        parts = path.split(".")
        cur: Any = o
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        last = parts[-1]
        if value is ...:
            del cur[last]
        elif isinstance(cur, list):
            cur[int(last)] = value
        else:
            cur[last] = value
    return f


def _good(kind: str, index: int = 0) -> Obj:
    return copy.deepcopy([o for k, o in GOOD if k == kind][index])


# (id, kind, good example index, mutation, expected field path, expected cause type)
BAD: list[tuple[str, str, int, Mutate, str, str]] = [
    ("provider type required", "InfraProvider", 0, _set("spec.type", ...), "spec.type", "FieldValueRequired"),
    ("provider type is a name", "InfraProvider", 0, _set("spec.type", "Local Cloud"), "spec.type",
     "FieldValueInvalid"),
    ("spec required", "Machine", 0, _set("spec", ...), "spec", "FieldValueRequired"),
    ("machine needs provider or import", "Machine", 0, _set("spec.providerRef", ...), "spec.providerRef",
     "FieldValueRequired"),
    ("providerRef name required", "Machine", 0, _set("spec.providerRef", {}), "spec.providerRef.name",
     "FieldValueRequired"),
    ("taint effect enum", "Machine", 1, _set("spec.nodeTaints.0.effect", "Sometimes"), "spec.nodeTaints[0].effect",
     "FieldValueNotSupported"),
    ("import port range", "Machine", 1, _set("spec.import.port", 70000), "spec.import.port", "FieldValueInvalid"),
    ("node name syntax", "Machine", 1, _set("spec.nodeName", "Node_1"), "spec.nodeName", "FieldValueInvalid"),
    ("machine phase enum", "Machine", 1, _set("status.phase", "Happy"), "status.phase", "FieldValueNotSupported"),
    ("condition status enum", "Machine", 1, _set("status.conditions.0.status", "Yes"),
     "status.conditions[0].status", "FieldValueNotSupported"),
    ("condition reason required", "Machine", 1, _set("status.conditions.0.reason", ...),
     "status.conditions[0].reason", "FieldValueRequired"),
    ("condition time format", "Machine", 1, _set("status.conditions.0.lastTransitionTime", "yesterday"),
     "status.conditions[0].lastTransitionTime", "FieldValueTypeInvalid"),
    ("replicas not negative", "MachineSet", 0, _set("spec.replicas", -1), "spec.replicas", "FieldValueInvalid"),
    ("deletePolicy enum", "MachineSet", 0, _set("spec.deletePolicy", "Youngest"), "spec.deletePolicy",
     "FieldValueNotSupported"),
    ("selector required", "MachineSet", 0, _set("spec.selector", ...), "spec.selector", "FieldValueRequired"),
    ("selector operator enum", "MachineSet", 0,
     _set("spec.selector", {"matchExpressions": [{"key": "a", "operator": "Like"}]}),
     "spec.selector.matchExpressions[0].operator", "FieldValueNotSupported"),
    ("template spec checked", "MachineSet", 0, _set("spec.template.spec.providerRef", {}),
     "spec.template.spec.providerRef.name", "FieldValueRequired"),
    ("sha256 mandatory with url", "MachineComponentSet", 0, _set("spec.template.source.sha256", ...),
     "spec.template.source.sha256", "FieldValueRequired"),
    ("sha256 is 64 lower-case hex", "MachineComponentSet", 0, _set("spec.template.source.sha256", "A" * 64),
     "spec.template.source.sha256", "FieldValueInvalid"),
    ("url and package exclusive", "MachineComponentSet", 0,
     _set("spec.template.source.package", {"name": "x"}), "<nil>", "FieldValueInvalid"),
    ("source needs url or package", "MachineComponentSet", 0, _set("spec.template.source", {}),
     "spec.template.source.package", "FieldValueRequired"),
    ("url scheme", "MachineComponentSet", 0, _set("spec.template.source.url", "ftp://x/y.tgz"),
     "spec.template.source.url", "FieldValueInvalid"),
    ("absolute command path", "MachineComponentSet", 0, _set("spec.template.run.command.0", "/bin/sh"),
     "spec.template.run.command[0]", "FieldValueInvalid"),
    ("command path escapes", "MachineComponentSet", 0, _set("spec.template.run.command.0", "bin/../../sh"),
     "spec.template.run.command[0]", "FieldValueInvalid"),
    ("command not empty", "MachineComponentSet", 0, _set("spec.template.run.command", []),
     "spec.template.run.command", "FieldValueInvalid"),
    ("health exec absolute", "MachineComponentSet", 0,
     _set("spec.template.healthCheck.exec.command", ["/usr/bin/curl"]),
     "spec.template.healthCheck.exec.command[0]", "FieldValueInvalid"),
    ("health check exactly one probe", "MachineComponentSet", 0,
     _set("spec.template.healthCheck.tcp", {"port": 80}), "<nil>", "FieldValueInvalid"),
    ("health period minimum", "MachineComponentSet", 0, _set("spec.template.healthCheck.periodSeconds", 0),
     "spec.template.healthCheck.periodSeconds", "FieldValueInvalid"),
    ("file path absolute", "MachineComponentSet", 0, _set("spec.template.files.0.path", "/etc/passwd"),
     "spec.template.files[0].path", "FieldValueInvalid"),
    ("file path dotdot", "MachineComponentSet", 0, _set("spec.template.files.0.path", "../x.conf"),
     "spec.template.files[0].path", "FieldValueInvalid"),
    ("disruption enum", "MachineComponentSet", 0, _set("spec.template.disruption", "Explode"),
     "spec.template.disruption", "FieldValueNotSupported"),
    ("version is a path segment", "MachineComponentSet", 0, _set("spec.template.version", "../1"),
     "spec.template.version", "FieldValueInvalid"),
    ("component is a DNS label", "MachineComponentSet", 0, _set("spec.component", "x/y"), "spec.component",
     "FieldValueInvalid"),
    ("batch percentage", "MachineComponentSet", 0, _set("spec.updateStrategy.rollingUpdate.batches", ["0%"]),
     "spec.updateStrategy.rollingUpdate.batches[0]", "FieldValueInvalid"),
    ("batch count", "MachineComponentSet", 0, _set("spec.updateStrategy.rollingUpdate.batches", [0]),
     "spec.updateStrategy.rollingUpdate.batches[0]", "FieldValueInvalid"),
    ("batch type", "MachineComponentSet", 0, _set("spec.updateStrategy.rollingUpdate.batches", [True]),
     "spec.updateStrategy.rollingUpdate.batches[0]", "FieldValueTypeInvalid"),
    ("maxFailures percentage", "MachineComponentSet", 0,
     _set("spec.updateStrategy.rollingUpdate.maxFailures", "101%"),
     "spec.updateStrategy.rollingUpdate.maxFailures", "FieldValueInvalid"),
    ("env name", "MachineComponentSet", 0, _set("spec.template.run.env.0.name", "1 X"),
     "spec.template.run.env[0].name", "FieldValueInvalid"),
    ("duplicate file path", "MachineComponentSet", 0,
     _set("spec.template.files", [{"path": "a", "content": ""}, {"path": "a", "content": "x"}]),
     "spec.template.files[1]", "FieldValueDuplicate"),
    ("rollout phase enum", "MachineComponentSet", 0, _set("status", {"phase": "Done"}), "status.phase",
     "FieldValueNotSupported"),
    ("component machine required", "MachineComponent", 0, _set("spec.machineName", ...), "spec.machineName",
     "FieldValueRequired"),
    ("component phase enum", "MachineComponent", 0, _set("status.phase", "Sleeping"), "status.phase",
     "FieldValueNotSupported"),
    ("remedier rules required", "NodeRemedier", 0, _set("spec.rules", ...), "spec.rules", "FieldValueRequired"),
    ("action type enum", "NodeRemedier", 0, _set("spec.rules.0.actions.0.type", "Pray"),
     "spec.rules[0].actions[0].type", "FieldValueNotSupported"),
    ("RestartComponent needs component", "NodeRemedier", 0, _set("spec.rules.0.actions.0.component", ...),
     "spec.rules[0].actions[0].component", "FieldValueRequired"),
    ("RunScript needs script", "NodeRemedier", 0, _set("spec.rules.0.actions.1.script", ...),
     "spec.rules[0].actions[1].script", "FieldValueRequired"),
    ("script is a bare name", "NodeRemedier", 0, _set("spec.rules.0.actions.1.script", "../../bin/rm"),
     "spec.rules[0].actions[1].script", "FieldValueInvalid"),
    ("forSeconds minimum", "NodeRemedier", 0, _set("spec.rules.0.conditions.0.forSeconds", -5),
     "spec.rules[0].conditions[0].forSeconds", "FieldValueInvalid"),
    ("timeoutSeconds minimum", "NodeRemedier", 0, _set("spec.rules.0.actions.0.timeoutSeconds", 0),
     "spec.rules[0].actions[0].timeoutSeconds", "FieldValueInvalid"),
    ("remedier condition status", "NodeRemedier", 0, _set("spec.rules.0.conditions.0.status", "Bad"),
     "spec.rules[0].conditions[0].status", "FieldValueNotSupported"),
    ("actions not empty", "NodeRemedier", 0, _set("spec.rules.0.actions", []), "spec.rules[0].actions",
     "FieldValueInvalid"),
    ("job node required", "RemedyOperationJob", 0, _set("spec.nodeName", ...), "spec.nodeName",
     "FieldValueRequired"),
    ("job action enum", "RemedyOperationJob", 0, _set("spec.action.type", "Format"), "spec.action.type",
     "FieldValueNotSupported"),
    ("job phase enum", "RemedyOperationJob", 0, _set("status.phase", "Maybe"), "status.phase",
     "FieldValueNotSupported"),
    ("decision enum", "RemedyOperationJob", 0, _set("status.defender.decision", "Perhaps"),
     "status.defender.decision", "FieldValueNotSupported"),
    ("operations enum", "DefenderPolicy", 0, _set("spec.rules.0.operations", ["Everything"]),
     "spec.rules[0].operations[0]", "FieldValueNotSupported"),
    ("operations required", "DefenderPolicy", 0, _set("spec.rules.0.operations", ...),
     "spec.rules[0].operations", "FieldValueRequired"),
    ("policy action enum", "DefenderPolicy", 0, _set("spec.rules.0.actions", ["Nuke"]),
     "spec.rules[0].actions[0]", "FieldValueNotSupported"),
    ("window pattern", "DefenderPolicy", 0, _set("spec.rules.0.budgets.0.window", "1 minute"),
     "spec.rules[0].budgets[0].window", "FieldValueInvalid"),
    ("budget limit minimum", "DefenderPolicy", 0, _set("spec.rules.0.budgets.0.limit", -1),
     "spec.rules[0].budgets[0].limit", "FieldValueInvalid"),
    ("duplicate window", "DefenderPolicy", 0,
     _set("spec.rules.0.budgets", [{"window": "1m", "limit": 1}, {"window": "1m", "limit": 2}]),
     "spec.rules[0].budgets[1]", "FieldValueDuplicate"),
    ("maxUnhealthy percentage", "DefenderPolicy", 0, _set("spec.rules.1.maxUnhealthy", "30"),
     "spec.rules[1].maxUnhealthy", "FieldValueInvalid"),
    ("maxUnhealthy count", "DefenderPolicy", 0, _set("spec.rules.1.maxUnhealthy", -1),
     "spec.rules[1].maxUnhealthy", "FieldValueInvalid"),
    ("freeze schedule", "DefenderPolicy", 0, _set("spec.rules.3.freezeWindows.0.schedule", "fridays"),
     "spec.rules[3].freezeWindows[0].schedule", "FieldValueInvalid"),
    ("freeze duration", "DefenderPolicy", 0, _set("spec.rules.3.freezeWindows.0.durationSeconds", 0),
     "spec.rules[3].freezeWindows[0].durationSeconds", "FieldValueInvalid"),
    ("duplicate rule name", "DefenderPolicy", 0, _set("spec.rules.1.name", "reboots"), "spec.rules[1]",
     "FieldValueDuplicate"),
    ("circuit state enum", "DefenderPolicy", 0, _set("status.circuit.state", "Broken"), "status.circuit.state",
     "FieldValueNotSupported"),
    ("kubeconfig secret required", "Cluster", 0, _set("spec.kubeconfigSecretRef", ...), "spec.kubeconfigSecretRef",
     "FieldValueRequired"),
    ("kubeconfig secret namespace", "Cluster", 0, _set("spec.kubeconfigSecretRef.namespace", ...),
     "spec.kubeconfigSecretRef.namespace", "FieldValueRequired"),
    ("probe interval minimum", "Cluster", 0, _set("spec.probeIntervalSeconds", 0), "spec.probeIntervalSeconds",
     "FieldValueInvalid"),
    ("cluster machine phase enum", "Cluster", 0, _set("status.machines.byPhase.0.phase", "Sleeping"),
     "status.machines.byPhase[0].phase", "FieldValueNotSupported"),
    ("cluster circuit enum", "Cluster", 0, _set("status.defenderCircuits.0.state", "Broken"),
     "status.defenderCircuits[0].state", "FieldValueNotSupported"),
    ("cluster node counts", "Cluster", 0, _set("status.nodes.ready", -1), "status.nodes.ready",
     "FieldValueInvalid"),
    ("release stages required", "ComponentRelease", 0, _set("spec.stages", ...), "spec.stages",
     "FieldValueRequired"),
    ("release stages not empty", "ComponentRelease", 0, _set("spec.stages", []), "spec.stages",
     "FieldValueInvalid"),
    ("stage name is a DNS label", "ComponentRelease", 0, _set("spec.stages.0.name", "Test Stage"),
     "spec.stages[0].name", "FieldValueInvalid"),
    ("stage selector required", "ComponentRelease", 0, _set("spec.stages.0.clusterSelector", ...),
     "spec.stages[0].clusterSelector", "FieldValueRequired"),
    ("duplicate stage", "ComponentRelease", 0, _set("spec.stages.1.name", "test"), "spec.stages[1]",
     "FieldValueDuplicate"),
    ("cluster batch percentage", "ComponentRelease", 0, _set("spec.stages.1.clusterBatches", ["0%"]),
     "spec.stages[1].clusterBatches[0]", "FieldValueInvalid"),
    ("cluster batch count", "ComponentRelease", 0, _set("spec.stages.1.clusterBatches", [0]),
     "spec.stages[1].clusterBatches[0]", "FieldValueInvalid"),
    ("soak not negative", "ComponentRelease", 0, _set("spec.stages.1.soakSeconds", -1),
     "spec.stages[1].soakSeconds", "FieldValueInvalid"),
    ("max failed clusters not negative", "ComponentRelease", 0, _set("spec.stages.1.maxFailedClusters", -1),
     "spec.stages[1].maxFailedClusters", "FieldValueInvalid"),
    ("release template checked", "ComponentRelease", 0, _set("spec.template.run.command.0", "/bin/sh"),
     "spec.template.run.command[0]", "FieldValueInvalid"),
    ("release machine batches checked", "ComponentRelease", 0,
     _set("spec.updateStrategy.rollingUpdate.batches", ["0%"]), "spec.updateStrategy.rollingUpdate.batches[0]",
     "FieldValueInvalid"),
    ("release phase enum", "ComponentRelease", 0, _set("status.phase", "Done"), "status.phase",
     "FieldValueNotSupported"),
    ("cluster step phase enum", "ComponentRelease", 0, _set("status.stages.0.clusters.0.phase", "Done"),
     "status.stages[0].clusters[0].phase", "FieldValueNotSupported"),
]


@pytest.mark.parametrize(("kind", "index", "mutate", "field", "cause_type"),
                         [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_manifests_name_the_field(kind: str, index: int, mutate: Mutate, field: str, cause_type: str) -> None:
    obj = _good(kind, index)
    mutate(obj)
    _, _, causes = _admit(kind, obj)
    assert (cause_type, field) in {(x["type"], x["field"]) for x in causes}, causes


def test_url_without_sha256_and_both_sources_are_both_reported() -> None:
    obj = _good("MachineComponentSet")
    obj["spec"]["template"]["source"] = {"url": "https://x/y.tgz", "package": {"name": "y"}}
    _, _, causes = _admit("MachineComponentSet", obj)
    messages = " ".join(x["message"] for x in causes)
    assert "must not validate the schema (not)" in messages


# --------------------------------------------------------------------------- defaults and pruning


def test_defaults_follow_the_design() -> None:
    mcs, _, causes = _admit("MachineComponentSet", manifest("MachineComponentSet", "x", {
        "component": "x", "selector": {}, "template": {
            "version": "1", "source": {"url": "file:///tmp/x.tgz", "sha256": SHA},
            "healthCheck": {"http": {"port": 8080}}, "files": [{"path": "a", "content": ""}]}}))
    assert causes == []
    spec = mcs["spec"]
    assert spec["paused"] is False
    assert spec["template"]["disruption"] == "None"
    assert spec["template"]["healthCheck"] == {
        "http": {"port": 8080, "host": "127.0.0.1", "path": "/", "scheme": "HTTP"},
        "initialDelaySeconds": 0, "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 3}
    assert spec["template"]["files"][0]["mode"] == 0o644
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "batches": [1, "10%"], "batchSoakSeconds": 0, "maxFailures": 0, "rollbackOnFailure": False}}

    ms, _, _ = _admit("MachineSet", manifest("MachineSet", "s", {
        "selector": {}, "template": {"spec": {"providerRef": {"name": "p"}}}}))
    assert ms["spec"]["deletePolicy"] == "Random"
    assert ms["spec"]["replicas"] == 1
    assert "unschedulable" not in ms["spec"]["template"]["spec"]  # unset: the Machine leaves cordons to others

    nr, _, _ = _admit("NodeRemedier", _good("NodeRemedier"))
    assert nr["spec"]["paused"] is False and nr["spec"]["dryRun"] is False
    rule = nr["spec"]["rules"][0]
    assert rule["conditions"][1]["forSeconds"] == 300
    assert rule["actions"][2]["timeoutSeconds"] == 300

    dp, _, _ = _admit("DefenderPolicy", manifest("DefenderPolicy", "p", {
        "rules": [{"name": "r", "operations": ["Remediation"], "maxConcurrent": 1}]}))
    assert dp["spec"]["circuitBreaker"] == {"cooldownSeconds": 300}
    assert dp["spec"]["rules"][0]["requireApproval"] is False

    kc, _, _ = _admit("Cluster", manifest("Cluster", "c", {"kubeconfigSecretRef": {"name": "s", "namespace": "n"}}))
    assert kc["spec"]["probeIntervalSeconds"] == 15

    cr, _, causes = _admit("ComponentRelease", manifest("ComponentRelease", "r", {
        "component": "x", "selector": {}, "template": {"version": "1", "source": {"package": {"name": "x"}}},
        "stages": [{"name": "test", "clusterSelector": {}}]}))
    assert causes == []
    assert cr["spec"]["paused"] is False
    assert cr["spec"]["stages"][0] == {"name": "test", "clusterSelector": {}, "clusterBatches": ["100%"],
                                       "soakSeconds": 0, "requireApproval": False, "maxFailedClusters": 0}
    assert cr["spec"]["updateStrategy"]["rollingUpdate"]["batches"] == [1, "10%"]


def test_unknown_fields_are_pruned_but_free_form_ones_kept() -> None:
    obj = _good("InfraProvider", 1)
    obj["spec"]["typo"] = 1
    obj["status"] = {"made": "up"}
    out, pruned, causes = _admit("InfraProvider", obj)
    assert causes == []
    assert sorted(pruned) == ["spec.typo", "status.made"]
    assert out["spec"]["parameters"]["nested"] == {"a": [1]}


# --------------------------------------------------------------------------- the CRDs themselves


@pytest.mark.parametrize("kind", [k.kind for k in api.KINDS])
def test_crd_is_structural_and_cluster_scoped(kind: str) -> None:
    crd = api.crd(kind)
    assert check_structural(_schema(kind)) == []
    spec = crd["spec"]
    assert spec["group"] == "kubenode.io" and spec["scope"] == "Cluster"
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.kubenode.io" == api.crd_name(kind)
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert "status" in version["subresources"]
    assert api.RESOURCES[kind] == ("kubenode.io", "v1alpha1", spec["names"]["plural"])
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"


def test_short_names_and_scale() -> None:
    short = {k.kind: api.crd(k.kind)["spec"]["names"]["shortNames"] for k in api.KINDS}
    assert short == {"InfraProvider": ["ip"], "Machine": ["ma"], "MachineSet": ["ms"],
                     "MachineComponentSet": ["mcs"], "MachineComponent": ["mc"], "NodeRemedier": ["nr"],
                     "RemedyOperationJob": ["roj"], "DefenderPolicy": ["dp"], "Cluster": ["kc"],
                     "ComponentRelease": ["cr"]}
    scaled = {k.kind for k in api.KINDS if "scale" in api.crd(k.kind)["spec"]["versions"][0]["subresources"]}
    assert scaled == {"MachineSet"}
    assert api.crd("MachineSet")["spec"]["versions"][0]["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector"}


def _walk(s: Obj, path: str) -> Iterator[tuple[str, Obj]]:
    for name, sub in (s.get("properties") or {}).items():
        yield f"{path}.{name}", sub
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(s.get("items"), dict):
        yield from _walk(s["items"], f"{path}[]")


@pytest.mark.parametrize("kind", [k.kind for k in api.KINDS])
def test_every_field_is_described(kind: str) -> None:
    schema = _schema(kind)
    assert schema.get("description")
    missing = [p for p, s in _walk(schema, kind) if not s.get("description") and not p.endswith(".metadata")]
    assert missing == []


@pytest.mark.parametrize("kind", [k.kind for k in api.KINDS])
def test_printer_columns_point_at_declared_fields(kind: str) -> None:
    schema = _schema(kind)
    declared = {p.split(".", 1)[1] for p, _ in _walk(schema, "")}
    for col in api.crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        path = col["jsonPath"].lstrip(".")
        assert path.startswith("metadata.") or path in declared, col


def test_patterns_compile_and_paths_are_confined() -> None:
    for p in (RELATIVE_PATH, SAFE_COMMAND_ELEMENT):
        rx = re.compile(p)
        for ok in ("bin/x", "./bin/x", "etc/x.conf", "...", "..hidden", ".x/y"):
            assert rx.search(ok), (p, ok)
        for bad in ("/bin/x", "..", "../x", "a/..", "a/../b", "", "a/..\n"):
            assert not rx.search(bad), (p, bad)
    assert re.search(SAFE_COMMAND_ELEMENT, "--root=/")
    assert not re.search(RELATIVE_PATH, "etc/")


def test_crds_yaml_round_trips_without_anchors() -> None:
    text = api.crds_yaml()
    docs = list(yaml.safe_load_all(text))
    assert docs == api.all_crds()
    assert "&id" not in text and "*id" not in text
    assert [d["spec"]["names"]["kind"] for d in docs] == [k.kind for k in api.KINDS]


def test_crds_command_prints_the_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    from kubenode.cli.crds_cmd import crds_command

    crds_command()
    assert capsys.readouterr().out == api.crds_yaml()


def test_enums_come_from_the_constants() -> None:
    mcs = _schema("MachineComponentSet")["properties"]
    assert mcs["status"]["properties"]["phase"]["enum"] == list(c.ROLLOUT_PHASES)
    assert mcs["spec"]["properties"]["template"]["properties"]["disruption"]["enum"] == list(c.DISRUPTIONS)
    cr = _schema("ComponentRelease")["properties"]
    assert cr["status"]["properties"]["phase"]["enum"] == list(c.RELEASE_PHASES)
    stage = cr["status"]["properties"]["stages"]["items"]["properties"]
    assert stage["phase"]["enum"] == stage["clusters"]["items"]["properties"]["phase"]["enum"] == list(c.STEP_PHASES)
    job = _schema("RemedyOperationJob")["properties"]
    assert job["spec"]["properties"]["action"]["properties"]["type"]["enum"] == list(c.REMEDIATION_ACTIONS)


def test_public_api() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name
