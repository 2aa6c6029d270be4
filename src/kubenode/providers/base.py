"""The InfraProvider contract: how machines come into existence and go away.

A provider turns a Machine into a running host with the KubeNode agent on it,
and back into nothing. Every call is idempotent per machine UID, so the
Machine controller may repeat any call after a crash or a conflict without
creating a second host or deleting the wrong one. Providers never write to the
API: they return what they observed and the controller records it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

#: What a provider reports about a machine's infrastructure.
STATE_PENDING = "Pending"  # being created / booting
STATE_RUNNING = "Running"  # host is up (the agent may still be starting)
STATE_STOPPED = "Stopped"  # host exists but is not running
STATE_MISSING = "Missing"  # nothing exists for this machine UID
STATE_FAILED = "Failed"  # the provider gave up; `message` says why


@dataclass(frozen=True)
class Bootstrap:
    """Everything a new host needs to run the agent and join."""

    machine_name: str
    machine_uid: str
    node_name: str
    #: The agent's bootstrap kubeconfig YAML (server URL, CA, the Machine's short-lived bootstrap token), with
    #: which the agent requests its own client certificate.
    kubeconfig: str
    #: Extra `kubenode agent` arguments (e.g. ["--register-node"]).
    agent_args: tuple[str, ...] = ("--register-node",)


@dataclass
class InfraStatus:
    """What the provider observed about one machine."""

    state: str
    provider_id: str = ""
    addresses: list[dict[str, str]] = field(default_factory=list)  # [{"type": "InternalIP", "address": ...}]
    message: str = ""


class ProviderError(Exception):
    """A provider call failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True, reason: str = "ProviderError") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason


def machine_uid(machine: Obj) -> str:
    """The Machine's `metadata.uid`: what providers tag and find its host by (a missing one is permanent)."""
    uid = str((machine.get("metadata") or {}).get("uid") or "")
    if not uid:
        raise ProviderError("machine has no metadata.uid", retryable=False, reason="InvalidMachine")
    return uid


class InfraProvider(abc.ABC):
    """One kind of infrastructure (`InfraProvider.spec.type`)."""

    #: The `spec.type` this class implements.
    type: str = ""
    #: Whether KubeNode built the host (and so deletes the host and its Node with the Machine). False for
    #: adopted Nodes: deleting their Machine cordons and drains, then leaves Node and host in place.
    owns_hosts: bool = True
    #: Whether `Running` waits for the agent's heartbeat as well as a Ready Node (true where the kubelet, not
    #: our agent, makes the Node Ready).
    requires_agent: bool = False

    @abc.abstractmethod
    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Make sure a host exists for `machine` (by UID) and is starting the agent."""

    @abc.abstractmethod
    async def delete(self, machine: Obj) -> InfraStatus:
        """Make sure nothing exists for `machine` any more; returns STATE_MISSING when done."""

    @abc.abstractmethod
    async def state(self, machine: Obj) -> InfraStatus:
        """What exists for `machine` right now (STATE_MISSING when nothing)."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections and background tasks."""
