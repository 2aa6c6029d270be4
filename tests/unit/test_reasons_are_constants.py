"""Every reason and condition type a controller writes is a constant in `kubenode.api`, and the CRD schemas
say which condition types each kind has — exactly the ones the controllers write.

A scan of the product code's syntax trees (no import, no run): a string literal (or f-string) where a
condition type, a condition reason, a failure reason or an Event reason is written fails, naming the file
and line. Where a value is written:

- an argument named `type_` or `reason` (or `failure_reason`) of a function defined in the same module,
  of `set_condition`, of an Event callback (`on_event`/`event`), of `ProviderError(reason=...)`;
- a condition dict literal (`{"type": ..., "status": ..., "reason": ...}`) and `failureReason`;
- a condition triple or quadruple (`(status, reason, message)` or `(type, status, reason, message)`, as
  `machineset_planner` and `release_planner` return them).

The condition types found in those positions, by the constant they name (`MACHINE_CONDITION_*` is a
Machine's, ...), must be the ones the kind's `status.conditions` schema description lists, which
`kubectl explain` shows.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubenode.api import constants
from kubenode.api.kinds import KINDS

SRC = Path(__file__).resolve().parents[2] / "src" / "kubenode"
#: The operators and the agent's installer (it writes MachineComponent status).
SCANNED = ["machine", "componentset", "remedy", "defender", "release", "agent/installer"]
#: Kubernetes' own API values, not KubeNode's: the CSR approver writes certificates.k8s.io's condition types
#: (Approved, Denied) as kube-controller-manager's approver does.
NOT_OURS = {"machine/csr_approver.py", "machine/csr_approval.py"}
CHECKED_PARAMS = {"type_", "reason", "failure_reason"}
#: Event types (core/v1 Event.type), which share the `type_` parameter name with condition types.
EVENT_TYPES = {"Normal", "Warning"}
CONDITION_STATUS_NAMES = {"CONDITION_TRUE", "CONDITION_FALSE", "CONDITION_UNKNOWN"}
KNOWN_SIGNATURES = {
    "set_condition": ["conditions", "type_", "status", "reason", "message"],
    "on_event": ["obj", "type_", "reason", "message"],
    "event": ["obj", "type_", "reason", "message"],
}
#: Constant name prefix of a condition type → the kind whose condition it is (longest prefix first).
KIND_OF_PREFIX = [
    ("MACHINE_SET_CONDITION_", "MachineSet"),
    ("MACHINE_CONDITION_", "Machine"),
    ("COMPONENT_SET_CONDITION_", "MachineComponentSet"),
    ("COMPONENT_CONDITION_", "MachineComponent"),
    ("REMEDIER_CONDITION_", "NodeRemedier"),
    ("JOB_CONDITION_", "RemedyOperationJob"),
    ("DEFENDER_CONDITION_", "DefenderPolicy"),
    ("CLUSTER_CONDITION_", "Cluster"),
    ("RELEASE_CONDITION_", "ComponentRelease"),
    ("INFRA_PROVIDER_CONDITION_", "InfraProvider"),
]


def product_files() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((SRC / d).rglob("*.py"))]
    return [p for p in files if str(p.relative_to(SRC)) not in NOT_OURS]


def literal_values(e: ast.expr, local: dict[str, ast.expr]) -> Iterator[ast.expr]:
    """The literals `e` may evaluate to (through `x if c else y`, `a or b` and module-level names bound to a
    literal in `local`; not inside calls)."""
    if ((isinstance(e, ast.Constant) and isinstance(e.value, str)) or isinstance(e, ast.JoinedStr)
            or (isinstance(e, ast.Name) and e.id in local)):
        yield e
    elif isinstance(e, ast.IfExp):
        yield from literal_values(e.body, local)
        yield from literal_values(e.orelse, local)
    elif isinstance(e, ast.BoolOp):
        for v in e.values:
            yield from literal_values(v, local)


def constant_names(e: ast.expr, aliases: dict[str, str]) -> Iterator[str]:
    """The `kubenode.api.constants` names `e` may evaluate to (`c.X`, `X` imported, module aliases of them)."""
    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and hasattr(constants, e.attr):
        yield e.attr
    elif isinstance(e, ast.Name) and e.id in aliases:
        yield aliases[e.id]
    elif isinstance(e, ast.IfExp):
        yield from constant_names(e.body, aliases)
        yield from constant_names(e.orelse, aliases)
    elif isinstance(e, ast.BoolOp):
        for v in e.values:
            yield from constant_names(v, aliases)


class Scan:
    """What the scan of one module found: literals where reasons/types are written, condition types written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text())
        self.literals: list[tuple[int, str, str]] = []  # (line, where, source)
        self.types: set[str] = set()  # constant names written as condition types
        self.aliases = self._aliases()
        self.signatures = dict(KNOWN_SIGNATURES)
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in node.args.posonlyargs + node.args.args]
                self.signatures[node.name] = params[1:] if params[:1] in (["self"], ["cls"]) else params
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                self._call(node)
            elif isinstance(node, ast.Dict):
                self._dict(node)
            elif isinstance(node, ast.Tuple):
                self._tuple(node)

    def _aliases(self) -> dict[str, str]:
        """Module names bound to constants of `kubenode.api.constants`; those bound to a literal are recorded
        in `self.local_literals` (a reason defined outside `api/` is a literal under another name)."""
        self.local_literals: dict[str, ast.expr] = {}
        out: dict[str, str] = {}
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "kubenode.api.constants":
                out.update({a.asname or a.name: a.name for a in node.names})
            elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                  and isinstance(node.value, ast.Attribute) and hasattr(constants, node.value.attr)):
                out[node.targets[0].id] = node.value.attr
            elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                  and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                self.local_literals[node.targets[0].id] = node.value
        return out

    def _check(self, e: ast.expr, where: str, *, condition_type: bool = False, event_type: bool = False) -> None:
        for lit in literal_values(e, self.local_literals):
            if event_type and isinstance(lit, ast.Constant) and lit.value in EVENT_TYPES:
                continue
            self.literals.append((lit.lineno, where, ast.unparse(lit)))
        if condition_type:
            self.types.update(n for n in constant_names(e, self.aliases) if "_CONDITION_" in n
                              and n not in CONDITION_STATUS_NAMES)

    def _call(self, call: ast.Call) -> None:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        params = self.signatures.get(name) or []
        event_like = "event" in name
        for i, arg in enumerate(call.args):
            if i < len(params) and params[i] in CHECKED_PARAMS:
                self._check(arg, f"{name}({params[i]})", condition_type=params[i] == "type_" and not event_like,
                            event_type=params[i] == "type_")
        for kw in call.keywords:
            if kw.arg in CHECKED_PARAMS:
                self._check(kw.value, f"{name}({kw.arg}=)", condition_type=kw.arg == "type_" and not event_like,
                            event_type=kw.arg == "type_")

    def _dict(self, d: ast.Dict) -> None:
        keys = {k.value: v for k, v in zip(d.keys, d.values, strict=True) if isinstance(k, ast.Constant)}
        if "failureReason" in keys:
            self._check(keys["failureReason"], "failureReason")
        if {"type", "status", "reason"} <= keys.keys():
            self._check(keys["type"], "condition type", condition_type=True)
            self._check(keys["reason"], "condition reason")

    def _tuple(self, t: ast.Tuple) -> None:
        elts = t.elts

        def is_status(e: ast.expr) -> bool:
            return (isinstance(e, ast.Attribute) and e.attr in CONDITION_STATUS_NAMES) or (
                isinstance(e, ast.Constant) and e.value in constants.CONDITION_STATUSES)

        if len(elts) in (3, 4) and is_status(elts[0]):
            self._check(elts[1], "(status, reason, ...)")
        elif len(elts) == 4 and is_status(elts[1]):
            self._check(elts[0], "(type, status, reason, message)", condition_type=True)
            self._check(elts[2], "(type, status, reason, message)")


@pytest.fixture(scope="module")
def scans() -> list[Scan]:
    return [Scan(p) for p in product_files()]


def test_the_scan_sees_the_controllers(scans: list[Scan]) -> None:
    names = {str(s.path.relative_to(SRC)) for s in scans}
    assert {"machine/controller.py", "machine/phases.py", "remedy/controller.py", "remedy/status.py",
            "componentset/status.py", "defender/status.py", "release/controller.py"} <= names
    assert sum(len(s.types) for s in scans) > 20


def test_no_literal_reason_or_condition_type_is_written(scans: list[Scan]) -> None:
    found = [f"{s.path.relative_to(SRC)}:{line}: {where} = {src} (use a constant from kubenode.api.constants)"
             for s in scans for line, where, src in s.literals]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("source", "expected"), [
    ('set_condition(conds, "Ready", "True", c.R, "m")', 1),
    ('set_condition(conds, c.T, c.CONDITION_TRUE, "Made" + "Up", "m")', 0),  # not a literal: no way to tell
    ('set_condition(conds, c.T, "True", "MadeUp" if x else c.R, "m")', 1),
    ('set_condition(conds, c.T, "True", reason=f"{x}Failed")', 1),
    ('await self.on_event(obj, "Warning", "Oops", "message")', 1),
    ('await self.on_event(obj, "Warning", c.R, "message")', 0),
    ('status = {"type": c.T, "status": "True", "reason": "Literal", "message": ""}', 1),
    ('status = {"failureReason": "Boom"}', 1),
    ('ready = (c.CONDITION_FALSE, "NoNodes", "the cluster has no nodes")', 1),
    ('created = (c.MACHINE_SET_CONDITION_X, c.CONDITION_TRUE, "Created", "m")', 1),
    ('raise ProviderError("m", reason="Literal")', 1),
    ('REASON_X = "Local"\nset_condition(conds, c.T, "True", REASON_X, "m")', 1),
    ('REASON_X = c.X\nset_condition(conds, c.T, "True", REASON_X, "m")', 0),
    ('def cond(type_, st, reason, message=""):\n    pass\ncond(c.T, "True", "Literal")', 1),
])
def test_the_scan_catches_literals(tmp_path: Path, source: str, expected: int) -> None:
    (tmp_path / "m.py").write_text("def ProviderError(message, reason=''):\n    pass\n" + source + "\n")
    assert len(Scan(tmp_path / "m.py").literals) == expected


def kind_of(constant_name: str) -> str:
    for prefix, kind in KIND_OF_PREFIX:
        if constant_name.startswith(prefix):
            return kind
    raise AssertionError(f"{constant_name}: a condition type constant of no known kind")


def schema_condition_types(description: str) -> set[str]:
    """`"InfrastructureReady, ..., Ready."` (parenthesised remarks aside) → the listed types."""
    text = re.sub(r"\([^)]*\)", "", description).strip().rstrip(".")
    return {w.strip() for w in re.split(r",|\band\b", text) if w.strip()}


def test_schema_descriptions_list_exactly_the_condition_types_written(scans: list[Scan]) -> None:
    written: dict[str, set[str]] = defaultdict(set)
    for s in scans:
        for name in s.types:
            written[kind_of(name)].add(getattr(constants, name))
    described = {k.kind: schema_condition_types(k.status["properties"]["conditions"]["description"])
                 for k in KINDS if "conditions" in (k.status.get("properties") or {})}
    assert described == dict(written)
