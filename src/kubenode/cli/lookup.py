"""Getting the one object a command names, or a message that says how to list them."""

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
