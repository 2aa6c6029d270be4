"""Client resources of the kinds the Defender reads and writes (defined once, in `client/kinds.py`)."""

from __future__ import annotations

from kubenode.client.kinds import DEFENDER_POLICIES

__all__ = ["DEFENDER_POLICIES"]
