"""Which event loop the long-running commands run on (kubenode.cli.eventloop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kubenode.cli import eventloop


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("", None, "uvloop"),  # auto: uvloop is a dependency, so it is there
        ("", "", "uvloop"),
        ("", "auto", "uvloop"),
        ("", "asyncio", "asyncio"),
        ("", "ASYNCIO ", "asyncio"),
        ("", "uvloop", "uvloop"),
        ("asyncio", "uvloop", "asyncio"),  # the flag wins over the environment
        ("uvloop", "asyncio", "uvloop"),
        ("auto", "asyncio", "uvloop"),
    ],
)
def test_chosen(monkeypatch: pytest.MonkeyPatch, flag: str, env: str | None, expected: str) -> None:
    if env is None:
        monkeypatch.delenv(eventloop.ENV, raising=False)
    else:
        monkeypatch.setenv(eventloop.ENV, env)
    assert eventloop.chosen(flag) == expected


def test_unknown_choice_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "trio")
    with pytest.raises(ValueError, match="KUBENODE_EVENT_LOOP must be one of auto, uvloop, asyncio"):
        eventloop.chosen()


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.chosen() == "asyncio"
    with pytest.raises(ValueError, match="uvloop is not installed"):
        eventloop.chosen("uvloop")


@pytest.mark.parametrize(("flag", "module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_run_uses_the_chosen_loop(flag: str, module: str) -> None:
    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__.split(".")[0]

    assert eventloop.run(main(), flag) == module


def test_the_cli_refuses_an_unknown_event_loop(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubenode.cli.main import app

    r = CliRunner().invoke(app, ["apiserver", "--data-dir", str(tmp_path), "--port", "0", "--event-loop", "trio"])
    assert r.exit_code == 2
    said = " ".join(r.output.replace("│", " ").split())  # rich draws the error in a box
    assert "--event-loop" in said and "must be one of auto, uvloop, asyncio" in said, said
