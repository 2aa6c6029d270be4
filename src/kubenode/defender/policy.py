"""Parse and validate a DefenderPolicy spec into typed rules.

The CRD schema rejects most mistakes at admission with field paths (422).
What it cannot express is checked here: windows of `0s`, cron schedules that
are not cron or never fire, unknown time zones, label selectors with bad
values, rules that set no limit at all (often a typo'd field that the API
server pruned: `maxConcurent: 3` silently becomes nothing), `actions` on a
rule that does not cover Remediation, `selector`/`topologyKey` without
`maxUnhealthy`. Parsing never raises: an invalid policy comes back with
`valid=False` and its errors (each with a field path) so the Defender can
fail closed — deny every operation the policy covers — and say why in the
policy's `Valid` condition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubenode.api.constants import (
    ACTION_REPLACE,
    DEFENDER_DEFAULT_SETTLE_SECONDS,
    OPERATION_MACHINE_DELETION,
    OPERATION_REMEDIATION,
    OPERATIONS,
    REMEDIATION_ACTIONS,
)
from kubenode.apimachinery.selectors import LabelSelector, label_selector_from_dict

from .cron import CronError, FreezeWindow, parse_freeze_window
from .windows import WindowError, parse_window

__all__ = ["Budget", "FieldError", "MaxUnhealthy", "Policy", "Rule", "parse_policy"]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PERCENT = re.compile(r"([0-9]{1,3})%")
_QUALIFIED_NAME = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                             r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
DEFAULT_COOLDOWN_SECONDS = 300


@dataclass(frozen=True)
class FieldError:
    """One problem, at a field path such as `spec.rules[0].budgets[1].window`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Budget:
    """At most `limit` tokens in any sliding window of `seconds`."""

    window: str
    seconds: int
    limit: int


@dataclass(frozen=True)
class MaxUnhealthy:
    """A storm threshold: a count, or a percentage of the counted nodes (rounded up)."""

    count: int | None = None
    percent: int | None = None

    def allowed(self, total: int) -> int:
        """How many unhealthy nodes out of `total` are still tolerated."""
        if self.percent is not None:
            # Rounded up, like every percentage in KubeNode: with few nodes, one unhealthy node is not a storm.
            return math.ceil(total * self.percent / 100)
        return self.count or 0

    def __str__(self) -> str:
        return f"{self.percent}%" if self.percent is not None else str(self.count)


def is_machine_deletion(kind: str, action: str) -> bool:
    """Whether an operation deletes a Machine: a MachineDeletion, or a `Replace` remediation."""
    return kind == OPERATION_MACHINE_DELETION or (kind == OPERATION_REMEDIATION and action == ACTION_REPLACE)


@dataclass(frozen=True)
class Rule:
    """One validated rule of a policy."""

    name: str
    operations: frozenset[str]
    actions: frozenset[str] = frozenset()  # empty: every action
    budgets: tuple[Budget, ...] = ()
    max_concurrent: int | None = None
    max_unhealthy: MaxUnhealthy | None = None
    selector: LabelSelector | None = None  # None: every node
    topology_key: str = ""
    freeze_windows: tuple[FreezeWindow, ...] = ()
    require_approval: bool = False
    #: Storm guard: hold a decision this long after its node turned unhealthy, so a developing storm is seen.
    settle_seconds: float = DEFENDER_DEFAULT_SETTLE_SECONDS

    def matches(self, kind: str, action: str) -> bool:
        """Whether an operation of `kind` (with remediation `action`) falls under this rule.

        `actions` only narrows Remediation operations; other kinds carry no action. A `Replace`
        remediation deletes a Machine, so MachineDeletion rules cover it too.
        """
        if is_machine_deletion(kind, action) and OPERATION_MACHINE_DELETION in self.operations:
            return True
        if kind not in self.operations:
            return False
        if self.actions and kind == OPERATION_REMEDIATION:
            return action in self.actions
        return True


@dataclass(frozen=True)
class Policy:
    """A parsed DefenderPolicy. When `valid` is False the rules are unusable and the policy denies
    every operation in `covered`."""

    name: str
    rules: tuple[Rule, ...]
    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    errors: tuple[FieldError, ...] = ()
    covered: frozenset[str] = field(default_factory=frozenset)

    @property
    def valid(self) -> bool:
        """No errors."""
        return not self.errors

    def covers(self, kind: str, action: str) -> bool:
        """Whether any rule of the policy (or, when invalid, its declared operations) covers the operation."""
        if not self.valid:
            return kind in self.covered or (is_machine_deletion(kind, action)
                                            and OPERATION_MACHINE_DELETION in self.covered)
        return any(r.matches(kind, action) for r in self.rules)

    @property
    def longest_window(self) -> int:
        """Seconds of the longest budget window (0 without budgets)."""
        return max((b.seconds for r in self.rules for b in r.budgets), default=0)

    def error_message(self) -> str:
        """All errors, one per line segment, for conditions and verdicts."""
        return "; ".join(str(e) for e in self.errors)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Parser:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def non_negative(self, value: object, path: str) -> int | None:
        if value is None:
            return None
        if not _is_int(value) or int(value) < 0:  # type: ignore[call-overload]
            self.err(path, f"must be a non-negative integer, not {value!r}")
            return None
        return int(value)  # type: ignore[call-overload]

    def string_list(self, value: object, path: str, allowed: tuple[str, ...]) -> frozenset[str]:
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.err(path, "must be a list")
            return frozenset()
        out: set[str] = set()
        for i, v in enumerate(value):
            if v not in allowed:
                self.err(f"{path}[{i}]", f"unsupported value {v!r}: supported values: {', '.join(allowed)}")
            elif v in out:
                self.err(f"{path}[{i}]", f"duplicate value {v!r}")
            else:
                out.add(v)
        return frozenset(out)

    def budgets(self, value: object, path: str) -> tuple[Budget, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.err(path, "must be a list")
            return ()
        out: list[Budget] = []
        for i, b in enumerate(value):
            bp = f"{path}[{i}]"
            if not isinstance(b, Mapping):
                self.err(bp, "must be an object with window and limit")
                continue
            try:
                seconds = parse_window(b.get("window"))  # type: ignore[arg-type]
            except WindowError as exc:
                self.err(f"{bp}.window", str(exc))
                continue
            if "limit" not in b:
                self.err(f"{bp}.limit", "required")
                continue
            limit = self.non_negative(b.get("limit"), f"{bp}.limit")
            if limit is not None:
                out.append(Budget(str(b["window"]), seconds, limit))
        return tuple(out)

    def max_unhealthy(self, value: object, path: str) -> MaxUnhealthy | None:
        if value is None:
            return None
        if _is_int(value):
            if int(value) < 0:  # type: ignore[call-overload]
                self.err(path, "must not be negative")
                return None
            return MaxUnhealthy(count=int(value))  # type: ignore[call-overload]
        if isinstance(value, str):
            m = _PERCENT.fullmatch(value)
            if m and int(m.group(1)) <= 100:
                return MaxUnhealthy(percent=int(m.group(1)))
        self.err(path, f"must be a count or a percentage between 0% and 100%, not {value!r}")
        return None

    def selector(self, value: object, path: str) -> LabelSelector | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.err(path, "must be a label selector object")
            return None
        try:
            return label_selector_from_dict(value)
        except ValueError as exc:
            self.err(path, str(exc))
            return None

    def freeze_windows(self, value: object, path: str) -> tuple[FreezeWindow, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.err(path, "must be a list")
            return ()
        out: list[FreezeWindow] = []
        for i, w in enumerate(value):
            wp = f"{path}[{i}]"
            if not isinstance(w, Mapping):
                self.err(wp, "must be an object with schedule and durationSeconds")
                continue
            try:
                out.append(parse_freeze_window(w.get("schedule"), w.get("durationSeconds"),  # type: ignore[arg-type]
                                               w.get("timeZone", "UTC")))
            except CronError as exc:
                sub = ("durationSeconds" if "durationSeconds" in str(exc) else
                       "timeZone" if "time zone" in str(exc) or "timeZone" in str(exc) else "schedule")
                self.err(f"{wp}.{sub}", str(exc))
        return tuple(out)

    def rule(self, raw: object, path: str, seen: set[str]) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.err(path, "must be an object")
            return None
        name = raw.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name) or len(name) > 63:
            self.err(f"{path}.name", f"must be a DNS label (lower-case letters, digits, '-'), not {name!r}")
            name = f"rule-{len(seen)}"
        elif name in seen:
            self.err(f"{path}.name", f"duplicate rule name {name!r}")
        seen.add(name)
        operations = self.string_list(raw.get("operations"), f"{path}.operations", OPERATIONS)
        if not operations:
            self.err(f"{path}.operations", "must name at least one operation")
        actions = self.string_list(raw.get("actions"), f"{path}.actions", REMEDIATION_ACTIONS)
        if actions and OPERATION_REMEDIATION not in operations:
            self.err(f"{path}.actions", "actions only narrow Remediation operations, which this rule does not cover")
        budgets = self.budgets(raw.get("budgets"), f"{path}.budgets")
        max_concurrent = self.non_negative(raw.get("maxConcurrent"), f"{path}.maxConcurrent")
        max_unhealthy = self.max_unhealthy(raw.get("maxUnhealthy"), f"{path}.maxUnhealthy")
        selector = self.selector(raw.get("selector"), f"{path}.selector")
        topology_key = raw.get("topologyKey") or ""
        if topology_key and (not isinstance(topology_key, str) or not _QUALIFIED_NAME.fullmatch(topology_key)):
            self.err(f"{path}.topologyKey", f"must be a label key, not {topology_key!r}")
            topology_key = ""
        if max_unhealthy is None and raw.get("maxUnhealthy") is None:
            for key in ("selector", "topologyKey"):
                if raw.get(key) is not None:
                    self.err(f"{path}.{key}", "only applies with maxUnhealthy, which this rule does not set")
        settle = raw.get("settleSeconds", DEFENDER_DEFAULT_SETTLE_SECONDS)
        if isinstance(settle, bool) or not isinstance(settle, int | float) or settle < 0:
            self.err(f"{path}.settleSeconds", f"must be a number of seconds >= 0, not {settle!r}")
            settle = DEFENDER_DEFAULT_SETTLE_SECONDS
        elif raw.get("settleSeconds") is not None and raw.get("maxUnhealthy") is None:
            self.err(f"{path}.settleSeconds", "only applies with maxUnhealthy, which this rule does not set")
        freeze = self.freeze_windows(raw.get("freezeWindows"), f"{path}.freezeWindows")
        approval = raw.get("requireApproval", False)
        if not isinstance(approval, bool):
            self.err(f"{path}.requireApproval", "must be true or false")
            approval = False
        if not (raw.get("budgets") or raw.get("maxConcurrent") is not None or raw.get("maxUnhealthy") is not None
                or raw.get("freezeWindows") or approval):
            self.err(path, "the rule sets no limit (budgets, maxConcurrent, maxUnhealthy, freezeWindows or "
                           "requireApproval): a misspelled field is dropped by the API server, so this is "
                           "refused rather than allowing everything")
        return Rule(name=name, operations=operations, actions=actions, budgets=budgets,
                    max_concurrent=max_concurrent, max_unhealthy=max_unhealthy,
                    selector=selector if max_unhealthy is not None else None,
                    topology_key=str(topology_key), freeze_windows=freeze, require_approval=approval,
                    settle_seconds=float(settle))


def _declared_operations(rules: object) -> frozenset[str]:
    # What an invalid policy still denies: the operations its rules name. When even those cannot be
    # read, assume it meant to cover everything (failing closed beats guessing open).
    found: set[str] = set()
    if isinstance(rules, list):
        for r in rules:
            ops = r.get("operations") if isinstance(r, Mapping) else None
            if isinstance(ops, list):
                found.update(o for o in ops if o in OPERATIONS)
    return frozenset(found) or frozenset(OPERATIONS)


def parse_policy(name: str, spec: Mapping[str, Any] | None) -> Policy:
    """A `Policy` for `spec`; never raises (an invalid spec gives `valid=False` with field errors)."""
    p = _Parser()
    spec = spec if isinstance(spec, Mapping) else {}
    raw_rules = spec.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        p.err("spec.rules", "must list at least one rule")
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            rule = p.rule(raw, f"spec.rules[{i}]", seen)
            if rule is not None:
                rules.append(rule)
    cooldown = DEFAULT_COOLDOWN_SECONDS
    breaker = spec.get("circuitBreaker")
    if breaker is not None:
        if not isinstance(breaker, Mapping):
            p.err("spec.circuitBreaker", "must be an object")
        elif breaker.get("cooldownSeconds") is not None:
            value = p.non_negative(breaker.get("cooldownSeconds"), "spec.circuitBreaker.cooldownSeconds")
            cooldown = value if value is not None else cooldown
    return Policy(name=name, rules=tuple(rules), cooldown_seconds=cooldown, errors=tuple(p.errors),
                  covered=_declared_operations(raw_rules))
