"""The event loop the long-running server commands run on: uvloop when it is installed, else asyncio's.

`kubenode apiserver` and `kubenode up` spend most of a write's CPU outside KubeNode's own code: in the event
loop, asyncio's pure-Python SSL transport (sslproto) and aiohttp's request handling (docs/scale.md, "Where the
time goes"). uvloop (libuv, Cython; its own SSL transport on the same `ssl` module and OpenSSL) does the loop
and TLS record work in C. `KUBENODE_EVENT_LOOP=asyncio` (or `--event-loop asyncio`) keeps asyncio's loop,
e.g. to compare, or to rule the loop out when chasing a bug; `uvloop` insists on uvloop (an error when it is
missing); `auto`, the default, takes uvloop when it can be imported.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "KUBENODE_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")


def chosen(flag: str = "") -> str:
    """The loop to run on, "uvloop" or "asyncio": `flag` if given, else $KUBENODE_EVENT_LOOP, else auto."""
    want = (flag or os.environ.get(ENV, "") or "auto").strip().lower()
    if want not in CHOICES:
        raise ValueError(f"{ENV} must be one of {', '.join(CHOICES)}, got {want!r}")
    if want == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if want == "uvloop":
            raise ValueError("the uvloop event loop was asked for but uvloop is not installed "
                             "(pip install uvloop)") from None
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T], flag: str = "") -> T:
    """`asyncio.run(main)` on the chosen loop (see the module docstring)."""
    if chosen(flag) == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
