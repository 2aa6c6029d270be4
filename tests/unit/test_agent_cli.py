"""`kubenode agent` parsed without typer (the light entry) and through the typer app: the same options, the same
settings, and typer for everything the light parser leaves to it (help, bad values, bad combinations)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kubenode.cli import agent_cmd, main
from kubenode.cli.agent_cmd import AgentArgs, light_parser, parse_light
from kubenode.cli.commands import app


def typer_agent_options() -> dict[str, tuple[tuple[str, ...], object, bool, bool]]:
    """dest -> (option strings, default, is a flag, repeatable) of the typer command."""
    command = typer.main.get_command(app)
    agent = command.commands["agent"]  # type: ignore[attr-defined]
    return {p.name: (tuple(sorted(p.opts)), p.default, bool(p.is_flag), bool(p.multiple))
            for p in agent.params if p.name != "help"}


def light_options() -> dict[str, tuple[tuple[str, ...], object, bool, bool]]:
    out = {}
    for action in light_parser()._actions:
        flag = action.nargs == 0
        out[action.dest] = (tuple(sorted(action.option_strings)), action.default, flag,
                            type(action).__name__ == "_AppendAction")
    return out


def test_the_light_parser_has_exactly_the_typer_commands_options() -> None:
    typed, light = typer_agent_options(), light_options()
    assert set(typed) == set(light) == {f for f in AgentArgs.__dataclass_fields__}
    for dest, (opts, default, flag, multiple) in typed.items():
        l_opts, l_default, l_flag, l_multiple = light[dest]
        assert opts == l_opts, dest
        assert flag == l_flag and multiple == l_multiple, dest
        assert (default in (None, ()) and l_default is None) or default == l_default, dest
        assert getattr(AgentArgs(), dest) == l_default, dest


ARGV = ["--machine", "m1", "--kubeconfig", "k.yaml", "--root", "r", "--register-node", "--metrics-port", "0",
        "--config.system-log-monitor", "a.json,b.json", "--trust-file-dir", "d1", "--trust-file-dir=d2",
        "--heartbeat-seconds", "2.5", "-v"]


def test_light_and_typer_paths_give_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[AgentArgs] = []
    monkeypatch.setattr(agent_cmd, "run_agent", seen.append)
    monkeypatch.setattr(sys, "argv", ["kubenode", "agent", *ARGV])
    main.main()  # the light path: no typer app built
    result = CliRunner().invoke(app, ["agent", *ARGV])
    assert result.exit_code == 0, result.output
    light, typed = seen
    assert light == typed
    assert light.trust_file_dir == [Path("d1"), Path("d2")] and light.heartbeat_seconds == 2.5
    assert light.metrics_port == 0 and light.register_node and light.verbose and light.kubeconfig == Path("k.yaml")


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--machine", "m", "-h"],
    [],                                              # neither --machine nor --node-name
    ["--machine", "m", "--metrics-port", "70000"],   # out of range: typer says so
    ["--machine", "m", "--metrics-port", "x"],
    ["--machine", "m", "--no-such-flag"],
    ["--mach", "m"],                                 # no abbreviations (click has none)
    ["--machine", "m", "--bootstrap-kubeconfig", "b"],
    ["--node-name", "n", "--host-root", "/h", "--register-node"],
    ["--machine", "m", "stray"],
])
def test_the_light_parser_leaves_help_and_usage_errors_to_typer(argv: list[str]) -> None:
    assert parse_light(argv) is None


def test_help_and_usage_errors_come_from_typer(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["kubenode", "agent", "--help"])
    with pytest.raises(SystemExit) as exc:
        main.main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Run the KubeNode agent for one machine." in out and "--metrics-port" in out
    monkeypatch.setattr(sys, "argv", ["kubenode", "agent"])
    with pytest.raises(SystemExit) as exc:
        main.main()
    assert exc.value.code == 2
    assert "give --machine NAME, --node-name NAME or both" in capsys.readouterr().err


def test_kubenode_cli_main_still_exports_the_app() -> None:
    assert main.app is app and callable(main.client_config)
