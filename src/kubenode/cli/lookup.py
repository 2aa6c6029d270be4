"""Getting the one object a command names (or a message that says how to list them), and pausing it."""

from __future__ import annotations

from typing import Any

from kubenode.client.resources import Resource

Obj = dict[str, Any]


async def get_named(client: Any, resource: Resource, name: str, error: type[Exception]) -> Obj:
    """The `resource` called `name`; raises `error` naming it and the kubectl command that lists them."""
    from kubenode.client import errors

    kind = resource.kind.lower()
    try:
        obj: Obj = await client.get(resource, name)
    except errors.NotFound:
        raise error(f'{kind} "{name}" not found (list them with `kubectl get {resource.plural}`)') from None
    return obj


async def pause(client: Any, resource: Resource, name: str, error: type[Exception]) -> str:
    """Set `spec.paused` of the `resource` called `name`; says so, or that it already was."""
    kind = resource.kind.lower()
    obj = await get_named(client, resource, name, error)
    if (obj.get("spec") or {}).get("paused"):
        return f"{kind} {name} is already paused"
    await client.patch(resource, name, {"spec": {"paused": True}})
    return f"{kind} {name} paused"
