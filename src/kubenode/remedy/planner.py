"""The escalation planner: one node, one rule, its jobs so far → what to do next. Pure.

The ladder (DESIGN.md): when the node matches the rule (for `forSeconds`),
run step 0; when a step failed or timed out, run the next step at once; when
it succeeded but the node is still unhealthy after the step's verification
window (`verifySeconds`, by default `cooldownSeconds` capped at
`DEFAULT_VERIFY_SECONDS`), run the next step; after the last step wait
`cooldownSeconds` and start the ladder again (a new attempt) — at most `maxAttempts` climbs
without a recovery in between, then give up (a human must look: this is what
stops Cluster API's endless replace loop, #7353). A node counts as recovered
only after it has stayed healthy for `healthyDelay` seconds (medik8s), and
only then does the next fault start again from step 0. A Denied step is
tried again after `denied_retry_seconds` (the Defender's budget may have
refilled). Only one job per node may be active at a time, across rules and
remediers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kubenode.api import constants as c

from .rules import Match, RuleSpec

WAIT: Final = "Wait"
CREATE: Final = "Create"
RECOVERED: Final = "Recovered"
GIVE_UP: Final = "GiveUp"
HEALTHY: Final = "Healthy"

ACTIVE_PHASES: Final = (c.JOB_PHASE_PENDING, c.JOB_PHASE_APPROVED, c.JOB_PHASE_RUNNING)
#: A step's verification window when its action sets no `verifySeconds` (and the cooldown is longer).
DEFAULT_VERIFY_SECONDS: Final = 30.0


@dataclass(frozen=True)
class JobView:
    """What the planner needs to know about one existing job of this node and rule."""

    name: str
    attempt: int
    step: int
    phase: str
    created: float
    completed: float | None = None
    recovered: bool = False  # the node stayed healthy for healthyDelay after it

    @property
    def active(self) -> bool:
        """Not finished yet."""
        return self.phase in ACTIVE_PHASES

    @property
    def finished_at(self) -> float:
        """When it finished (its creation time when the completion time is unknown)."""
        return self.completed if self.completed is not None else self.created


@dataclass(frozen=True)
class Decision:
    """The planner's answer."""

    kind: str  # Wait | Create | Recovered | GiveUp | Healthy
    reason: str = ""
    requeue_after: float | None = None
    attempt: int = 0
    step: int = 0
    retry: int = 0
    job: str = ""  # Recovered: the job whose outcome was a recovery


@dataclass(frozen=True)
class PlanInput:
    """Everything the planner reads."""

    rule: RuleSpec
    match: Match | None  # None: the node is healthy for this rule
    jobs: tuple[JobView, ...]  # this node's jobs of this rule
    now: float
    healthy_since: float | None = None  # when the rule's conditions last changed (see rules.healthy_since)
    node_busy: bool = False  # another rule or remedier has an active job on the node
    paused: bool = False
    healthy_delay: float = 60.0
    denied_retry_seconds: float = 60.0


def verify_window(rule: RuleSpec, step: int) -> float:
    """How long the node may stay unhealthy after step `step` succeeded before the ladder escalates."""
    action = rule.actions[step] if 0 <= step < len(rule.actions) else None
    if action is not None and action.verify_seconds is not None:
        return action.verify_seconds
    return min(rule.cooldown_seconds, DEFAULT_VERIFY_SECONDS)


def _order(j: JobView) -> tuple[int, int, float, str]:
    return (j.attempt, j.step, j.created, j.name)


def settled(jobs: tuple[JobView, ...]) -> bool:
    """Whether a node's jobs of one rule need no planning until the node changes again.

    True when the last one is final and the node was marked recovered after it (or it was denied): a
    healthy node with such a history plans `HEALTHY`. Anything else (active, or awaiting its recovery
    mark) is planned on every reconcile.
    """
    if not jobs:
        return True
    last = max(jobs, key=_order)
    return not last.active and (last.recovered or last.phase == c.JOB_PHASE_DENIED)


def plan(inp: PlanInput) -> Decision:
    """What to do next for one node and one rule."""
    rule, now = inp.rule, inp.now
    last = max(inp.jobs, key=_order) if inp.jobs else None
    if last is not None and last.active:
        return Decision(WAIT, "JobActive")

    if inp.match is None:
        if last is None or last.recovered or last.phase == c.JOB_PHASE_DENIED:
            return Decision(HEALTHY)
        since = max(inp.healthy_since or last.finished_at, last.finished_at)
        delay = rule.healthy_delay_seconds if rule.healthy_delay_seconds is not None else inp.healthy_delay
        left = since + delay - now
        if left <= 0:
            return Decision(RECOVERED, "HealthyAgain", job=last.name)
        return Decision(WAIT, "HealthyDelay", requeue_after=left)

    if inp.match.ready_at > now:
        return Decision(WAIT, "Observing", requeue_after=inp.match.ready_at - now)
    if inp.paused:
        return Decision(WAIT, c.REMEDIER_REASON_PAUSED_BY_USER)
    if inp.node_busy:
        return Decision(WAIT, "NodeBusy")

    if last is None or last.recovered:
        return Decision(CREATE, "Unhealthy", attempt=(last.attempt + 1) if last else 1, step=0)

    if last.phase == c.JOB_PHASE_DENIED:
        left = last.finished_at + inp.denied_retry_seconds - now
        if left > 0:
            return Decision(WAIT, "DeniedRetry", requeue_after=left)
        retry = sum(1 for j in inp.jobs if j.attempt == last.attempt and j.step == last.step)
        return Decision(CREATE, "RetryAfterDenial", attempt=last.attempt, step=last.step, retry=retry)

    # Succeeded, Failed or TimedOut, and the node is still unhealthy: the next step, once a success had its
    # verification window to take effect.
    if last.step + 1 < len(rule.actions):
        window = verify_window(rule, last.step) if last.phase == c.JOB_PHASE_SUCCEEDED else 0.0
        left = last.finished_at + window - now
        if left > 0:
            return Decision(WAIT, "Verifying", requeue_after=left)
        return Decision(CREATE, "Escalate", attempt=last.attempt, step=last.step + 1)
    left = last.finished_at + rule.cooldown_seconds - now
    if left > 0:
        return Decision(WAIT, "Cooldown", requeue_after=left)
    last_recovery = max((j.attempt for j in inp.jobs if j.recovered), default=0)
    climbs = len({j.attempt for j in inp.jobs if j.attempt > last_recovery})
    if climbs >= rule.max_attempts:
        return Decision(GIVE_UP, c.REMEDIER_REASON_MAX_ATTEMPTS)
    return Decision(CREATE, "LadderRestart", attempt=last.attempt + 1, step=0)
