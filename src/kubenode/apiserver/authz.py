"""Authorization: who may do what.

Deliberately small and fail-closed. Members of `system:masters` (the admin
kubeconfig, the operators' identity) may do everything; everyone else is
asked to each registered `Rule` and is denied when none allows. Later layers
register rules for their identities (e.g. an agent may write only its own
node's objects) without this module knowing any KubeNode kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .security import User


@dataclass(frozen=True)
class Attributes:
    """One request, as the authorizer sees it."""

    user: User
    verb: str  # get list watch create update patch delete deletecollection
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str


#: A rule answers True (allow), False (deny, stop asking) or None (no opinion).
Rule = Callable[[Attributes], bool | None]

MASTERS = "system:masters"


class Authorizer:
    """Asks every rule in order; the first True or False wins; nothing → deny."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules: list[Rule] = list(rules or [])

    def add(self, rule: Rule) -> None:
        """Register one more rule (asked after the existing ones)."""
        self.rules.append(rule)

    def allowed(self, attrs: Attributes) -> tuple[bool, str]:
        """Whether the request is allowed, and why not."""
        if MASTERS in attrs.user.groups:
            return True, ""
        for rule in self.rules:
            verdict = rule(attrs)
            if verdict is not None:
                return verdict, "" if verdict else "denied by policy"
        return False, "no rule allows it"
