"""TokenRequest (`serviceaccounts/token`): who a new ServiceAccount token names and what it dies with.

As kube-apiserver ≥ 1.30: the token carries the ServiceAccount's UID (so a
deleted and re-created account of the same name never revives it) and, with
``spec.boundObjectRef``, is bound to a Pod, Secret or Node. A Pod-bound token
names the pod in ``userInfo.extra`` (``authentication.kubernetes.io/pod-name``,
``pod-uid``) and, when the pod is scheduled, its node (``node-name``,
``node-uid``) — which is how a DaemonSet pod's identity names its node. The
token is then valid only while each bound object exists with its UID.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .objects import Obj
from .security import BoundObject, User
from .storage import Store

EXTRA_PREFIX = "authentication.kubernetes.io/"
POD_NAME = EXTRA_PREFIX + "pod-name"
POD_UID = EXTRA_PREFIX + "pod-uid"
NODE_NAME = EXTRA_PREFIX + "node-name"
NODE_UID = EXTRA_PREFIX + "node-uid"
#: kube's default for TokenRequest.spec.expirationSeconds.
DEFAULT_SECONDS = 3600

_BINDABLE = {"Pod": ("/pods", True), "Secret": ("/secrets", True), "Node": ("/nodes", False)}


def _invalid(name: str, field: str, message: str) -> errors.StatusError:
    return errors.invalid("TokenRequest", "authentication.k8s.io", name, [
        errors.field_cause("FieldValueInvalid", field, message)])


def token_identity(store: Store, sa: Obj, spec: dict[str, Any]) -> tuple[User, tuple[BoundObject, ...]]:
    """The user a token for ServiceAccount `sa` authenticates as, and the objects it is bound to.

    Raises a `StatusError` for a bad `spec.boundObjectRef` (unknown kind, missing object, UID mismatch, a
    pod of another ServiceAccount), with the same messages kube-apiserver gives.
    """
    meta = sa["metadata"]
    ns, name = meta["namespace"], meta["name"]
    user_name = f"system:serviceaccount:{ns}:{name}"
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated")
    ref = spec.get("boundObjectRef")
    bound: list[BoundObject] = [BoundObject(f"/serviceaccounts/{ns}/{name}", str(meta.get("uid", "")))]
    extra: dict[str, list[str]] = {}
    if ref is None:
        return User(user_name, groups, str(meta.get("uid", ""))), tuple(bound)
    if not isinstance(ref, dict):
        raise _invalid(name, "spec.boundObjectRef", "Invalid value: must be an object")
    kind = ref.get("kind")
    if kind not in _BINDABLE:
        raise _invalid(name, "spec.boundObjectRef.kind",
                       f'Unsupported value: "{kind}": supported values: "Node", "Pod", "Secret"')
    if ref.get("apiVersion", "v1") != "v1":
        raise _invalid(name, "spec.boundObjectRef.apiVersion",
                       f"Unsupported value: {ref.get('apiVersion')!r}: supported values: \"v1\"")
    obj_name = ref.get("name")
    if not isinstance(obj_name, str) or not obj_name:
        raise errors.invalid("TokenRequest", "authentication.k8s.io", name, [
            errors.field_cause("FieldValueRequired", "spec.boundObjectRef.name", "Required value")])
    prefix, namespaced = _BINDABLE[kind]
    key = f"{prefix}/{ns if namespaced else ''}/{obj_name}"
    obj = store.get(key)
    if obj is None:
        raise errors.not_found(prefix.strip("/"), "", obj_name)
    uid = str(obj["metadata"].get("uid", ""))
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.conflict(prefix.strip("/"), "", obj_name,
                              f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
                              f"record. The object might have been deleted and then recreated")
    bound.append(BoundObject(key, uid))
    node_name = ""
    if kind == "Pod":
        pod_sa = (obj.get("spec") or {}).get("serviceAccountName") or "default"
        if pod_sa != name:
            raise errors.bad_request(f"cannot bind token for serviceaccount {name!r} to pod running with "
                                     f"different serviceaccount name.")
        extra[POD_NAME], extra[POD_UID] = [obj_name], [uid]
        node_name = str((obj.get("spec") or {}).get("nodeName") or "")
    elif kind == "Node":
        node_name = obj_name
    if node_name:
        extra[NODE_NAME] = [node_name]
        node = store.get(f"/nodes//{node_name}")
        if node is not None:
            node_uid = str(node["metadata"].get("uid", ""))
            extra[NODE_UID] = [node_uid]
            if kind == "Pod":
                bound.append(BoundObject(f"/nodes//{node_name}", node_uid))
    pairs = tuple(sorted((k, tuple(v)) for k, v in extra.items()))
    return User(user_name, groups, str(meta.get("uid", "")), pairs), tuple(bound)
