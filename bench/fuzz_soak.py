"""Soak the embedded API server with the fuzz suite's hostile requests for a while.

    python bench/fuzz_soak.py [--seconds 300] [--seed 0]

Starts a server in-process (its own thread and loop, control loops stopped so only the fuzzed requests
write), draws requests from tests/integration/fuzz_requests.py over every route of the server's own
/openapi/v3, and checks each answer as the CI fuzz test does: never a 5xx, a 4xx stores nothing. Prints
how many requests, the answers by status, the RSS before and after, and every failure (then exits 1).
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.fuzz_requests import requests
from tests.integration.test_fuzz import _serve


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    random.seed(args.seed)
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        gen = _serve(Path(tmp) / "data")
        target = next(gen)
        store = target.server.store
        rss0 = rss_mib()
        end = time.monotonic() + args.seconds

        @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def batch(data: st.DataObject) -> None:
            method, path, headers, body, _ = data.draw(requests(target.routes))
            rv = store.rv
            status, raw = target.conn.request(method, path, headers, body)
            statuses[status] += 1
            if status >= 500 or (400 <= status < 500 and store.rv != rv):
                failures.append(f"{status} {method} {path} {headers} {body[:200] if body else body!r}: {raw[:300]!r}")

        while time.monotonic() < end:
            batch()
        ready = target.conn.request("GET", "/readyz", {}, None)[0]
        rss1 = rss_mib()
        try:
            next(gen)
        except StopIteration:
            pass
    total = sum(statuses.values())
    print(f"fuzz soak: {total} requests in {args.seconds:.0f}s; by status: {dict(sorted(statuses.items()))}")
    print(f"readyz after: {ready}; RSS {rss0:.0f} MiB before, {rss1:.0f} MiB after (client and server in one process)")
    for f in failures[:50]:
        print("FAIL", f)
    return 1 if failures or ready != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
