"""A loopback HTTP server for the demo's component archives (what a real fleet gets from its artifact store).

Serves only ``*.tar.gz`` files of one directory, by exact name, on
127.0.0.1. The port is remembered in ``DIR/server-port`` and reused on the
next start, because the URLs are baked into MachineComponentSets; when it is
taken, a free port is chosen and :attr:`ArtifactServer.port_changed` says so.
"""

from __future__ import annotations

import contextlib
import re
import socket
from pathlib import Path

from aiohttp import web

__all__ = ["ArtifactServer"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.tar\.gz$")


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class ArtifactServer:
    """Serves ``directory/*.tar.gz`` at ``http://127.0.0.1:PORT/artifacts/<name>``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.port_changed = False
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/artifacts``."""
        return f"http://127.0.0.1:{self.port}/artifacts"

    def url(self, filename: str) -> str:
        """The URL of one archive."""
        return f"{self.base_url}/{filename}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self.directory / name
        if not _NAME.match(name) or not path.is_file():
            raise web.HTTPNotFound(text=f"no artifact {name!r}\n")
        return web.FileResponse(path, headers={"Content-Type": "application/gzip"})

    async def start(self) -> None:
        """Listen on the remembered port if possible, else on a free one."""
        app = web.Application()
        app.router.add_get("/artifacts/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port_file = self.directory / "server-port"
        remembered = 0
        with contextlib.suppress(OSError, ValueError):
            remembered = int(port_file.read_text().strip())
        sock = None
        if remembered:
            try:
                sock = _bind(remembered)
            except OSError:
                self.port_changed = True
        if sock is None:
            sock = _bind(0)
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self.directory.mkdir(parents=True, exist_ok=True)
        port_file.write_text(f"{self.port}\n")

    async def stop(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
