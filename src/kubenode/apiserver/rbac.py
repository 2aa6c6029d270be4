"""RBAC: `rbac.authorization.k8s.io/v1` Roles and bindings decide what every non-admin may do.

The same semantics as kube-apiserver's RBAC authorizer
(plugin/pkg/auth/authorizer/rbac), so the objects KubeNode ships mean the
same on a real cluster:

* a rule allows a resource request when its verbs, apiGroups, resources
  (`*`, `pods/status`, `*/scale`) and resourceNames match, and a
  non-resource request (`/version`, `/apis/*`) when its verbs and
  nonResourceURLs (exact, `*`, or a prefix ending in `*`) match;
* ClusterRoleBindings grant everywhere; RoleBindings grant in their
  namespace, whether they reference a Role or a ClusterRole;
* subjects are Users, Groups and ServiceAccounts (the user
  `system:serviceaccount:<ns>:<name>`);
* RBAC only allows: when nothing matches it has no opinion and the chain
  (authz.Authorizer) denies.

Per-request cost: the objects are parsed once and indexed by subject; the
rules of one (user, groups, namespace) are cached until the next RBAC write,
so a request costs a dictionary lookup and a scan of that user's few rules.
The index follows the store's commits (listeners run before a write is
acknowledged, so a client that created a binding is authorized by it on its
next request).

Escalation prevention (`covers`, `check_escalation`) is kube's too: nobody
writes a role granting more than they hold, nor binds a role whose
permissions they do not hold, unless RBAC gives them `escalate` / `bind`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .authz import MASTERS, Attributes
from .builtins_rbac import default_subjects, validate
from .resources import ResourceInfo
from .rest import WriteCheck, WriteOptions
from .security import User
from .storage import Change, Store

Obj = dict[str, Any]

GROUP = "rbac.authorization.k8s.io"
#: Storage resources (`group/plural`) of the four kinds.
ROLES, CLUSTER_ROLES = f"{GROUP}/roles", f"{GROUP}/clusterroles"
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = f"{GROUP}/rolebindings", f"{GROUP}/clusterrolebindings"
RBAC_RESOURCES = frozenset({ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS})
SA_USER_PREFIX = "system:serviceaccount:"
#: More distinct (user, groups, namespace) keys than this and the cache starts over.
CACHE_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One `rules[]` entry, as tuples (order kept for listing)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_obj(cls, raw: Any) -> PolicyRule:
        """A rule from its JSON form (fields that are not lists of strings count as empty)."""
        if not isinstance(raw, dict):
            return cls(())

        def strs(key: str) -> tuple[str, ...]:
            v = raw.get(key)
            return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()

        return cls(strs("verbs"), strs("apiGroups"), strs("resources"), strs("resourceNames"),
                   strs("nonResourceURLs"))

    def to_obj(self) -> Obj:
        """The JSON form (empty lists left out, as kube serialises PolicyRule)."""
        out: Obj = {"verbs": list(self.verbs)}
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
            return out
        out["apiGroups"] = list(self.api_groups)
        out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out

    def compact(self) -> str:
        """kube's compact rendering in escalation errors: {APIGroups:["x"], Resources:["y"], Verbs:["get"]}."""
        def q(items: Sequence[str]) -> str:
            return "[" + " ".join(f'"{i}"' for i in items) + "]"

        parts = []
        if self.api_groups:
            parts.append(f"APIGroups:{q(self.api_groups)}")
        if self.resources:
            parts.append(f"Resources:{q(self.resources)}")
        if self.resource_names:
            parts.append(f"ResourceNames:{q(self.resource_names)}")
        if self.non_resource_urls:
            parts.append(f"NonResourceURLs:{q(self.non_resource_urls)}")
        parts.append(f"Verbs:{q(self.verbs)}")
        return "{" + ", ".join(parts) + "}"


# --------------------------------------------------------------------------- matching (pure)


def _url_matches(rule_url: str, url: str) -> bool:
    return rule_url == "*" or rule_url == url or (rule_url.endswith("*") and url.startswith(rule_url.rstrip("*")))


def _resource_matches(rule: PolicyRule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule.resources:
        if r == "*" or r == combined:
            return True
        if subresource and r.startswith("*/") and r[2:] == subresource:
            return True
    return False


def rule_allows(rule: PolicyRule, a: Attributes) -> bool:
    """Whether `rule` allows the request `a` (kube's RuleAllows)."""
    if "*" not in rule.verbs and a.verb not in rule.verbs:
        return False
    if a.path:
        return any(_url_matches(u, a.path) for u in rule.non_resource_urls)
    if "*" not in rule.api_groups and a.group not in rule.api_groups:
        return False
    if not _resource_matches(rule, a.resource, a.subresource):
        return False
    if not rule.resource_names:
        return True
    # A create names no object in kube's request attributes (the name is in the body), so a rule limited to
    # names never allows it; subresource creates (pods/eviction, serviceaccounts/token) do carry the name.
    name = "" if a.verb == "create" and not a.subresource else a.name
    return bool(name) and name in rule.resource_names


def breakdown(rule: PolicyRule) -> list[PolicyRule]:
    """`rule` as single-verb, single-resource (single-name, single-URL) rules (kube's BreakdownRule)."""
    out: list[PolicyRule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    out.extend(PolicyRule((verb,), (group,), (resource,), (n,)) for n in rule.resource_names)
                else:
                    out.append(PolicyRule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        for verb in rule.verbs:
            out.append(PolicyRule((verb,), non_resource_urls=(url,)))
    return out


def _has_all(have: Sequence[str], want: Sequence[str]) -> bool:
    return all(w in have for w in want)


def _rule_covers(owner: PolicyRule, want: PolicyRule) -> bool:
    if not ("*" in owner.verbs or _has_all(owner.verbs, want.verbs)):
        return False
    if not ("*" in owner.api_groups or _has_all(owner.api_groups, want.api_groups)):
        return False
    if not ("*" in owner.resources or _has_all(owner.resources, want.resources)):
        for r in want.resources:
            if r in owner.resources:
                continue
            if "/" in r and f"*/{r.split('/', 1)[1]}" in owner.resources:
                continue
            return False
    if not all(any(o == u or (o.endswith("*") and u.startswith(o.rstrip("*"))) for o in owner.non_resource_urls)
               for u in want.non_resource_urls):
        return False
    if not want.resource_names:
        return not owner.resource_names
    return not owner.resource_names or _has_all(owner.resource_names, want.resource_names)


def covers(owner: Sequence[PolicyRule], wanted: Iterable[PolicyRule]) -> list[PolicyRule]:
    """The parts of `wanted` that `owner` does not cover (empty: fully covered), as kube's Covers."""
    missing = []
    for rule in wanted:
        for part in breakdown(rule):
            if not any(_rule_covers(o, part) for o in owner):
                missing.append(part)
    return missing


# --------------------------------------------------------------------------- the index


SubjectKey = tuple[str, str]  # ("User" | "Group", name)


def subject_keys(subject: Any, binding_namespace: str) -> SubjectKey | None:
    """Who a binding subject is, as the key the index uses (ServiceAccounts become their user name)."""
    if not isinstance(subject, dict):
        return None
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return ("User", f"{SA_USER_PREFIX}{ns}:{name}") if ns else None
    if kind in ("User", "Group"):
        return (kind, name)
    return None


@dataclass(frozen=True, slots=True)
class _Binding:
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str  # Role | ClusterRole
    role_name: str


class RBACIndex:
    """The RBAC objects of a store, indexed by subject and kept current from its commits.

    Updates are incremental: a changed role is parsed again, a changed binding moves its own subjects'
    entries; nothing else is touched, so an RBAC write costs the same with ten objects or ten thousand.
    """

    def __init__(self, store: Store | None = None, objects: Iterable[Obj] = ()) -> None:
        """Index the RBAC objects of `store` and follow its commits; or index just `objects` (unit tests)."""
        self._lock = threading.Lock()
        self._roles: dict[tuple[str, str], tuple[PolicyRule, ...]] = {}  # (kind, "ns/name") -> rules
        self._by_subject: dict[SubjectKey, dict[str, _Binding]] = {}  # subject -> binding key -> binding
        self._subjects_of: dict[str, list[SubjectKey]] = {}  # binding key -> its subjects' keys
        self._cache: dict[tuple[str, tuple[str, ...], str], tuple[PolicyRule, ...]] = {}
        #: Bumped on every RBAC change (callers can see that the index moved).
        self.generation = 0
        for obj in objects:
            plural = obj["kind"].lower() + "s"
            meta = obj["metadata"]
            self._apply(f"{GROUP}/{plural}/{meta.get('namespace', '')}/{meta['name']}", obj)
        if store is not None:
            for resource in RBAC_RESOURCES:
                for key, obj in store.items(resource):
                    self._apply(key, obj)
            store.add_listener(self._on_commit)

    def __len__(self) -> int:
        """How many roles and bindings are indexed."""
        return len(self._roles) + len(self._subjects_of)

    def _on_commit(self, changes: list[Change]) -> None:
        touched = False
        with self._lock:
            for c in changes:
                if c.key.rsplit("/", 2)[0] in RBAC_RESOURCES:
                    self._apply(c.key, None if c.type == "DELETED" else c.obj)
                    touched = True
            if touched:
                self._cache = {}
                self.generation += 1

    def _apply(self, key: str, obj: Obj | None) -> None:
        """Index `obj` (None: its deletion) at storage key `key`."""
        resource, ns, name = key.rsplit("/", 2)
        if resource in (ROLES, CLUSTER_ROLES):
            role_key = ("Role" if resource == ROLES else "ClusterRole", f"{ns}/{name}")
            rules = (obj or {}).get("rules")
            if obj is None:
                self._roles.pop(role_key, None)
            else:
                self._roles[role_key] = tuple(PolicyRule.from_obj(r) for r in rules) if isinstance(rules, list) \
                    else ()
            return
        for sk in self._subjects_of.pop(key, ()):
            entries = self._by_subject.get(sk)
            if entries is not None:
                entries.pop(key, None)
                if not entries:
                    del self._by_subject[sk]
        if obj is None:
            return
        ref = obj.get("roleRef")
        ref = ref if isinstance(ref, dict) else {}
        kind = ref.get("kind") if resource == ROLE_BINDINGS else "ClusterRole"
        if kind not in ("Role", "ClusterRole") or not isinstance(ref.get("name"), str):
            return
        binding = _Binding(ns, kind, ref["name"])
        keys: list[SubjectKey] = []
        subjects = obj.get("subjects")
        for subject in subjects if isinstance(subjects, list) else []:
            who = subject_keys(subject, ns)
            if who is not None:
                self._by_subject.setdefault(who, {})[key] = binding
                keys.append(who)
        self._subjects_of[key] = keys

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[PolicyRule, ...] | None:
        """The rules of one Role (kind "Role", its namespace) or ClusterRole; None when it does not exist."""
        with self._lock:
            return self._roles.get((kind, f"{namespace if kind == 'Role' else ''}/{name}"))

    def rules_for(self, user: User, namespace: str) -> tuple[PolicyRule, ...]:
        """Every rule granted to `user` in `namespace` ("" = cluster-wide grants only), kube's RulesFor."""
        cache_key = (user.name, user.groups, namespace)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                return hit
            out: list[PolicyRule] = []
            keys: list[SubjectKey] = [("User", user.name), *(("Group", g) for g in user.groups)]
            seen: set[_Binding] = set()
            for sk in keys:
                for b in self._by_subject.get(sk, {}).values():
                    if b in seen or (b.namespace and b.namespace != namespace):
                        continue
                    seen.add(b)
                    role_ns = b.namespace if b.role_kind == "Role" else ""
                    out.extend(self._roles.get((b.role_kind, f"{role_ns}/{b.role_name}"), ()))
            rules = tuple(out)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache = {}
            self._cache[cache_key] = rules
            return rules

    def rule(self, a: Attributes) -> bool | None:
        """The authorizer rule: True when a rule allows `a`, otherwise no opinion (the chain denies)."""
        rules = self.rules_for(a.user, "" if a.path else a.namespace)
        return True if any(rule_allows(r, a) for r in rules) else None


# --------------------------------------------------------------------------- escalation


Allowed = Callable[[Attributes], tuple[bool, str]]


def _groups_q(groups: Sequence[str]) -> str:
    return "[" + " ".join(f'"{g}"' for g in groups) + "]"


def _not_held(user: User, resource: str, name: str, missing: list[PolicyRule]) -> errors.StatusError:
    detail = "\n".join(r.compact() for r in missing)
    return errors.StatusError(
        403, "Forbidden",
        f'{resource}.{GROUP} "{name}" is forbidden: user "{user.name}" (groups={_groups_q(user.groups)}) is '
        f"attempting to grant RBAC permissions not currently held:\n{detail}",
        name=name, group=GROUP, kind=resource)


def only_gc_fields_change(obj: Obj, old: Obj | None) -> bool:
    """Whether an update changes nothing but ownerReferences and finalizers (kube lets those through)."""
    if old is None:
        return False
    ignored = ("ownerReferences", "finalizers", "managedFields", "resourceVersion")

    def rest(o: Obj) -> Obj:
        meta = {k: v for k, v in (o.get("metadata") or {}).items() if k not in ignored}
        return {**{k: v for k, v in o.items() if k != "metadata"}, "metadata": meta}

    return rest(obj) == rest(old)


def check_escalation(index: RBACIndex, allowed: Allowed, user: User | None, plural: str, obj: Obj) -> None:
    """Refuse (403) writing `obj` — a role or binding — when it would grant `user` more than they hold.

    kube's rules: a role may hold only rules the writer holds (in its namespace; cluster-wide for a
    ClusterRole) unless the writer may `escalate` it; a binding may reference only a role whose rules the
    writer holds in the binding's scope unless the writer may `bind` that role. `user` None is the server
    itself (its own control loops), as are members of system:masters.
    """
    if user is None or MASTERS in user.groups:
        return
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if plural in ("roles", "clusterroles"):
        if allowed(Attributes(user, "escalate", GROUP, plural, "", namespace, name))[0]:
            return
        rules = obj.get("rules")
        wanted = [PolicyRule.from_obj(r) for r in rules] if isinstance(rules, list) else []
        missing = covers(index.rules_for(user, namespace), wanted)
        if missing:
            raise _not_held(user, plural, name, missing)
        return
    ref = obj.get("roleRef")
    ref = ref if isinstance(ref, dict) else {}
    kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    role_plural = "roles" if kind == "Role" else "clusterroles"
    # kube asks in the binding's namespace (cluster-wide for a ClusterRoleBinding), so `bind` may be delegated
    # for particular ClusterRoles in particular namespaces.
    if allowed(Attributes(user, "bind", GROUP, role_plural, "", namespace, role_name))[0]:
        return
    role = index.role_rules(kind, namespace, role_name)
    if role is None:
        raise errors.not_found(role_plural, GROUP, role_name)
    missing = covers(index.rules_for(user, namespace), role)
    if missing:
        raise _not_held(user, plural, name, missing)


def write_check(index: RBACIndex, allowed: Allowed) -> WriteCheck:
    """The ObjectAPI write check of the four RBAC kinds: kube's validation (422), then escalation (403)."""

    def check(info: ResourceInfo, obj: Obj, old: Obj | None, opts: WriteOptions) -> None:
        if info.group != GROUP:
            return
        default_subjects(obj)
        causes = validate(info.plural, obj, old)
        if causes:
            raise errors.invalid(info.kind, info.group, str((obj.get("metadata") or {}).get("name") or ""), causes)
        if not only_gc_fields_change(obj, old):  # as kube: the garbage collector's edits need no rights
            check_escalation(index, allowed, opts.user, info.plural, obj)

    return check
