"""Candidate policies from a YAML file, for `kubenode defender replay`.

The file holds one or more DefenderPolicy documents (or a `List` of them):
the complete set of policies to replay in place of the recorded ones. A file
never passes through the API server, so what admission would refuse is
checked here too, with field paths: the document's kind and name, fields the
CRD schema does not know (the server would silently prune `maxConcurent`),
and everything `parse_policy` validates. Any error refuses the whole file:
replaying a policy that would fail closed tells nobody anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kubenode.api.constants import KIND_DEFENDER_POLICY
from kubenode.api.kinds import DEFENDER_POLICY

from .policy import Policy, parse_policy

__all__ = ["CandidateError", "load_candidate"]


class CandidateError(ValueError):
    """The candidate file cannot be replayed; `errors` are "where: field path: problem" lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _unknown_fields(value: object, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
    props = schema.get("properties")
    if isinstance(value, Mapping) and isinstance(props, Mapping):
        for key, sub in value.items():
            if key not in props:
                out.append(f"{path}.{key}: unknown field (known: {', '.join(sorted(props))})")
            else:
                _unknown_fields(sub, props[key], f"{path}.{key}", out)
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        for i, sub in enumerate(value):
            _unknown_fields(sub, items, f"{path}[{i}]", out)


def load_candidate(text: str, source: str = "candidate") -> list[Policy]:
    """The policies of a YAML file; CandidateError lists every problem with its document and field path."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise CandidateError([f"{where}: not YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    flat: list[tuple[str, object]] = []
    for i, doc in enumerate(docs):
        where = f"{source}: document {i + 1}"
        if isinstance(doc, Mapping) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            flat.extend((f"{where}: items[{j}]", item) for j, item in enumerate(doc["items"]))
        else:
            flat.append((where, doc))
    if not flat:
        raise CandidateError([f"{source}: no DefenderPolicy in the file"])
    errors: list[str] = []
    policies: list[Policy] = []
    seen: set[str] = set()
    for where, doc in flat:
        if not isinstance(doc, Mapping):
            errors.append(f"{where}: must be a DefenderPolicy object, not {type(doc).__name__}")
            continue
        if doc.get("kind") != KIND_DEFENDER_POLICY:
            errors.append(f"{where}: kind: must be {KIND_DEFENDER_POLICY}, not {doc.get('kind')!r}")
            continue
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), Mapping) else None
        if not isinstance(name, str) or not name:
            errors.append(f"{where}: metadata.name: required")
            continue
        if name in seen:
            errors.append(f"{where}: metadata.name: duplicate policy {name!r}")
            continue
        seen.add(name)
        where = f"{where} ({name})"
        unknown: list[str] = []
        _unknown_fields(doc.get("spec"), DEFENDER_POLICY.spec, "spec", unknown)
        errors.extend(f"{where}: {u}" for u in unknown)
        policy = parse_policy(name, doc.get("spec"))
        errors.extend(f"{where}: {e}" for e in policy.errors)
        policies.append(policy)
    if errors:
        raise CandidateError(errors)
    return policies
