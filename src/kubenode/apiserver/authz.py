"""Authorization: who may do what.

Deliberately small and fail-closed. Members of `system:masters` (the admin
kubeconfig, the operators' identity) may do everything; everyone else is
asked to each registered `Rule` and is denied when none allows. The embedded
server registers RBAC (`rbac.RBACIndex.rule`, which only allows); a layer
above may chain rules before it for identities RBAC cannot describe, as kube
chains its Node authorizer before RBAC, without this module knowing any
KubeNode kind.
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
    #: A non-resource request (`/version`, `/apis`): its URL path; "" for resource requests.
    path: str = ""


#: A rule answers True (allow), False (deny, stop asking) or None (no opinion).
Rule = Callable[[Attributes], bool | None]

MASTERS = "system:masters"


class Authorizer:
    """Asks every rule in order; the first True or False wins; nothing → deny."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules: list[Rule] = list(rules or [])
        # Rules that are code, not RBAC objects, and whom each may decide for: `can-i --list` says its answer
        # is incomplete for those users. A rule registered without saying whom it concerns concerns anyone.
        self._opaque: list[Callable[[User], bool]] = [_anyone for _ in self.rules]

    def add(self, rule: Rule, *, concerns: Callable[[User], bool] | None = None, listable: bool = False) -> None:
        """Register one more rule, asked after the existing ones.

        `listable`: its grants can be listed (RBAC); otherwise `concerns` says for whom it may decide
        (default: anyone).
        """
        self.rules.append(rule)
        if not listable:
            self._opaque.append(concerns or _anyone)

    def chain_first(self, rule: Rule, concerns: Callable[[User], bool]) -> None:
        """Register a rule that is code, asked before the others, deciding only for users `concerns` accepts."""
        self.rules.insert(0, rule)
        self._opaque.append(concerns)

    def opaque_for(self, user: User) -> bool:
        """Whether a rule that is code may decide for `user` (so their rights cannot all be listed)."""
        return any(c(user) for c in self._opaque)

    def allowed(self, attrs: Attributes) -> tuple[bool, str]:
        """Whether the request is allowed, and why not."""
        if MASTERS in attrs.user.groups:
            return True, ""
        for rule in self.rules:
            verdict = rule(attrs)
            if verdict is not None:
                return verdict, "" if verdict else "denied by policy"
        return False, "no rule allows it"


def _anyone(_user: User) -> bool:
    return True
