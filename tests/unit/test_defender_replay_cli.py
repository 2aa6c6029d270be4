"""`kubenode defender replay` on an exported ledger file: table, JSON, exit codes and errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubenode.cli.main import app
from kubenode.defender.records import to_jsonl

from .defender_ledgers import Finish, op, policy, record, rule

CANDIDATE = """apiVersion: kubenode.io/v1alpha1
kind: DefenderPolicy
metadata: {name: candidate}
spec:
  rules:
  - {name: reboots, operations: [Remediation], budgets: [{window: 1m, limit: LIMIT}], maxConcurrent: 5}
  circuitBreaker: {cooldownSeconds: 0}
"""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    current = [policy([rule(budgets=[{"window": "1m", "limit": 2}])])]
    rec = record(current, [(0, op(1)), (10, op(2)), (20, op(3)), (25, Finish("op-1")), (30, op(4))])
    path = tmp_path / "ledger.jsonl"
    path.write_text(to_jsonl(rec.records))
    return path


def _candidate(tmp_path: Path, limit: str) -> Path:
    path = tmp_path / "candidate.yaml"
    path.write_text(CANDIDATE.replace("LIMIT", limit))
    return path


@pytest.mark.parametrize(("limit", "code", "differences"), [("2", 0, 0), ("3", 1, 1), ("1", 1, 1)])
def test_exit_code_says_whether_decisions_differ(ledger: Path, tmp_path: Path, limit: str, code: int,
                                                 differences: int) -> None:
    out = CliRunner().invoke(app, ["defender", "replay", "--policy", str(_candidate(tmp_path, limit)),
                                   "--ledger", str(ledger), "-o", "json"])
    assert out.exit_code == code, out.output
    doc = json.loads(out.stdout)
    assert doc["summary"]["differences"] == differences and doc["summary"]["operations"] == 4
    assert doc["summary"]["finished"] == 1


def test_table_shows_both_sides_and_a_summary(ledger: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["defender", "replay", "--policy", str(_candidate(tmp_path, "3")),
                                   "--ledger", str(ledger)])
    assert out.exit_code == 1
    row = next(line for line in out.stdout.splitlines() if "op-3" in line)
    assert row.startswith("≠") and "Denied BudgetExhausted (p/r)" in row and row.rstrip().endswith("Allowed Allowed")
    assert "  current: 2 allowed, 2 denied, 0 pending approval" in out.stdout
    assert "candidate: 3 allowed, 1 denied, 0 pending approval" in out.stdout
    assert "4 operations replayed (1 finished records), 1 differ: 1 only the candidate allows" in out.stdout


@pytest.mark.parametrize(("mutate", "says"), [
    (lambda c, led: (c.write_text(CANDIDATE.replace("LIMIT", "2").replace("window: 1m", "window: 0s")), led),
     "spec.rules[0].budgets[0].window"),
    (lambda c, led: (c.write_text(CANDIDATE.replace("LIMIT", "2").replace("maxConcurrent", "maxConcurent")), led),
     "spec.rules[0].maxConcurent: unknown field"),
    (lambda c, led: (c.unlink(), led), "cannot read the candidate policy"),
    (lambda c, led: (None, led.unlink()), "cannot read the ledger file"),
    (lambda c, led: (None, led.write_text('{"type": "review"}\n')), "ledger.jsonl:1: time:"),
    (lambda c, led: (None, led.write_text("")), "holds no reviewed operation"),
])
def test_bad_input_exits_2_and_says_what_to_fix(ledger: Path, tmp_path: Path, mutate: object, says: str) -> None:
    candidate = _candidate(tmp_path, "2")
    mutate(candidate, ledger)  # type: ignore[operator]
    out = CliRunner().invoke(app, ["defender", "replay", "--policy", str(candidate), "--ledger", str(ledger)])
    assert out.exit_code == 2, out.output
    assert says in out.stderr


def test_a_bad_since_is_a_usage_error(ledger: Path, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["defender", "replay", "--policy", str(_candidate(tmp_path, "2")),
                                   "--ledger", str(ledger), "--since", "yesterday"])
    assert out.exit_code == 2 and "--since" in out.output
