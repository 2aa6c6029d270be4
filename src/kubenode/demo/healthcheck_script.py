"""The demo exporter's health check, shipped inside its archive as ``bin/check`` (stdlib only).

Exit 0 when ``/healthz`` on the exporter's port answers 200, 1 otherwise
(with the answer on stdout, which the agent puts in the component status).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe the exporter once."""
    port = os.environ.get("EXPORTER_PORT") or os.environ.get("KUBENODE_COMPONENT_PORT") or "9100"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            print(resp.read(200).decode(errors="replace").strip())
            return 0 if resp.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read(200).decode(errors='replace').strip()}")
        return 1
    except OSError as exc:
        print(f"{url}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
