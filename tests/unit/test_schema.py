"""Structural schema: validation messages, pruning, defaulting, structural checks, properties."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubenode.apiserver.schema import StructuralSchema, check_structural, go_value

from .hotpath_objects import small_cr, small_cr_schema

Obj = dict[str, Any]


def _root(spec_props: Obj, required: list[str] | None = None, **spec_extra: Any) -> Obj:
    spec: Obj = {"type": "object", "properties": spec_props, **spec_extra}
    if required:
        spec["required"] = required
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }


def _obj(spec: Any) -> Obj:
    return {"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec}


# --------------------------------------------------------------------------- validation messages

VALIDATION_CASES: list[tuple[str, Obj, Any, list[tuple[str, str, str]]]] = [
    (
        "type integer got string",
        {"replicas": {"type": "integer"}},
        {"replicas": "3"},
        [
            (
                "FieldValueTypeInvalid",
                "spec.replicas",
                'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
            )
        ],
    ),
    ("type integer accepts integral float", {"replicas": {"type": "integer"}}, {"replicas": 3.0}, []),
    (
        "type integer rejects fraction",
        {"replicas": {"type": "integer"}},
        {"replicas": 3.5},
        [
            (
                "FieldValueTypeInvalid",
                "spec.replicas",
                'Invalid value: "number": spec.replicas in body must be of type integer: "number"',
            )
        ],
    ),
    ("type number accepts int", {"r": {"type": "number"}}, {"r": 3}, []),
    (
        "type boolean rejects int",
        {"b": {"type": "boolean"}},
        {"b": 1},
        [
            (
                "FieldValueTypeInvalid",
                "spec.b",
                'Invalid value: "integer": spec.b in body must be of type boolean: "integer"',
            )
        ],
    ),
    (
        "type integer rejects bool",
        {"i": {"type": "integer"}},
        {"i": True},
        [
            (
                "FieldValueTypeInvalid",
                "spec.i",
                'Invalid value: "boolean": spec.i in body must be of type integer: "boolean"',
            )
        ],
    ),
    (
        "type object got array",
        {"o": {"type": "object"}},
        {"o": []},
        [
            (
                "FieldValueTypeInvalid",
                "spec.o",
                'Invalid value: "array": spec.o in body must be of type object: "array"',
            )
        ],
    ),
    (
        "null not nullable",
        {"s": {"type": "string"}},
        {"s": None},
        [
            (
                "FieldValueTypeInvalid",
                "spec.s",
                'Invalid value: "null": spec.s in body must be of type string: "null"',
            )
        ],
    ),
    ("null nullable", {"s": {"type": "string", "nullable": True}}, {"s": None}, []),
    ("int-or-string int", {"m": {"x-kubernetes-int-or-string": True}}, {"m": 3}, []),
    ("int-or-string str", {"m": {"x-kubernetes-int-or-string": True}}, {"m": "30%"}, []),
    (
        "int-or-string bool",
        {"m": {"x-kubernetes-int-or-string": True}},
        {"m": True},
        [
            (
                "FieldValueTypeInvalid",
                "spec.m",
                'Invalid value: "boolean": spec.m in body must be of type integer,string: "boolean"',
            )
        ],
    ),
    (
        "required",
        {
            "o": {
                "type": "object",
                "required": ["a", "b"],
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            }
        },
        {"o": {"a": "x"}},
        [("FieldValueRequired", "spec.o.b", "Required value")],
    ),
    (
        "enum",
        {"p": {"type": "string", "enum": ["a", "b"]}},
        {"p": "x"},
        [("FieldValueNotSupported", "spec.p", 'Unsupported value: "x": supported values: "a", "b"')],
    ),
    (
        "enum numbers",
        {"p": {"type": "integer", "enum": [1, 2]}},
        {"p": 3},
        [("FieldValueNotSupported", "spec.p", 'Unsupported value: 3: supported values: "1", "2"')],
    ),
    ("enum int matches float", {"p": {"type": "number", "enum": [1, 2]}}, {"p": 1.0}, []),
    (
        "minimum",
        {"r": {"type": "integer", "minimum": 1}},
        {"r": 0},
        [
            (
                "FieldValueInvalid",
                "spec.r",
                "Invalid value: 0: spec.r in body should be greater than or equal to 1",
            )
        ],
    ),
    (
        "exclusive minimum",
        {"r": {"type": "integer", "minimum": 1, "exclusiveMinimum": True}},
        {"r": 1},
        [("FieldValueInvalid", "spec.r", "Invalid value: 1: spec.r in body should be greater than 1")],
    ),
    (
        "maximum",
        {"r": {"type": "number", "maximum": 1.5}},
        {"r": 2},
        [
            (
                "FieldValueInvalid",
                "spec.r",
                "Invalid value: 2: spec.r in body should be less than or equal to 1.5",
            )
        ],
    ),
    (
        "exclusive maximum",
        {"r": {"type": "integer", "maximum": 10, "exclusiveMaximum": True}},
        {"r": 10},
        [("FieldValueInvalid", "spec.r", "Invalid value: 10: spec.r in body should be less than 10")],
    ),
    (
        "multipleOf",
        {"r": {"type": "integer", "multipleOf": 5}},
        {"r": 7},
        [("FieldValueInvalid", "spec.r", "Invalid value: 7: spec.r in body should be a multiple of 5")],
    ),
    ("multipleOf float ok", {"r": {"type": "number", "multipleOf": 0.1}}, {"r": 0.3}, []),
    (
        "maxLength",
        {"s": {"type": "string", "maxLength": 3}},
        {"s": "abcd"},
        [("FieldValueTooLong", "spec.s", "Too long: may not be more than 3 bytes")],
    ),
    ("maxLength counts characters", {"s": {"type": "string", "maxLength": 3}}, {"s": "äöü"}, []),
    (
        "minLength",
        {"s": {"type": "string", "minLength": 2}},
        {"s": "a"},
        [
            (
                "FieldValueInvalid",
                "spec.s",
                'Invalid value: "a": spec.s in body should be at least 2 chars long',
            )
        ],
    ),
    (
        "pattern",
        {"s": {"type": "string", "pattern": "^[a-z]+$"}},
        {"s": "A1"},
        [("FieldValueInvalid", "spec.s", "Invalid value: \"A1\": spec.s in body should match '^[a-z]+$'")],
    ),
    (
        "maxItems",
        {"l": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
        {"l": ["a", "b", "c"]},
        [("FieldValueTooMany", "spec.l", "Too many: 3: must have at most 2 items")],
    ),
    (
        "maxItems 1",
        {"l": {"type": "array", "items": {"type": "string"}, "maxItems": 1}},
        {"l": ["a", "b"]},
        [("FieldValueTooMany", "spec.l", "Too many: 2: must have at most 1 item")],
    ),
    (
        "minItems",
        {"l": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        {"l": []},
        [("FieldValueInvalid", "spec.l", "Invalid value: 0: spec.l in body should have at least 1 items")],
    ),
    (
        "uniqueItems",
        {"l": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}},
        {"l": [1, 1]},
        [("FieldValueInvalid", "spec.l", 'Invalid value: "": spec.l in body shouldn\'t contain duplicates')],
    ),
    (
        "maxProperties",
        {"m": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}},
        {"m": {"a": "1", "b": "2"}},
        [("FieldValueTooMany", "spec.m", "Too many: 2: must have at most 1 item")],
    ),
    (
        "minProperties",
        {"m": {"type": "object", "minProperties": 1}},
        {"m": {}},
        [
            (
                "FieldValueInvalid",
                "spec.m",
                "Invalid value: 0: spec.m in body should have at least 1 properties",
            )
        ],
    ),
    (
        "items path",
        {
            "l": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            }
        },
        {"l": [{"name": "a"}, {}]},
        [("FieldValueRequired", "spec.l[1].name", "Required value")],
    ),
    (
        "additionalProperties path",
        {"m": {"type": "object", "additionalProperties": {"type": "string"}}},
        {"m": {"k": 1}},
        [
            (
                "FieldValueTypeInvalid",
                "spec.m.k",
                'Invalid value: "integer": spec.m.k in body must be of type string: "integer"',
            )
        ],
    ),
    (
        "list set duplicate",
        {"l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}},
        {"l": ["a", "b", "a", "a"]},
        [("FieldValueDuplicate", "spec.l[2]", 'Duplicate value: "a"')],
    ),
    (
        "list set int and float differ",
        {"l": {"type": "array", "items": {"type": "number"}, "x-kubernetes-list-type": "set"}},
        {"l": [1, 1.0]},
        [],
    ),
    (
        "list map duplicate",
        {
            "l": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "port"],
                "items": {
                    "type": "object",
                    "required": ["name", "port"],
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            }
        },
        {"l": [{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"name": "a", "port": 1}]},
        [
            (
                "FieldValueDuplicate",
                "spec.l[2]",
                'Duplicate value: map[string]interface {}{"name":"a", "port":1}',
            )
        ],
    ),
    (
        "format date-time",
        {"t": {"type": "string", "format": "date-time"}},
        {"t": "yesterday"},
        [
            (
                "FieldValueTypeInvalid",
                "spec.t",
                'Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday"',
            )
        ],
    ),
    (
        "format date-time ok",
        {"t": {"type": "string", "format": "date-time"}},
        {"t": "2024-01-02T03:04:05Z"},
        [],
    ),
    (
        "format byte",
        {"b": {"type": "string", "format": "byte"}},
        {"b": "not base64!"},
        [
            (
                "FieldValueTypeInvalid",
                "spec.b",
                'Invalid value: "not base64!": spec.b in body must be of type byte: "not base64!"',
            )
        ],
    ),
    (
        "format int32 not checked (stripped by apiextensions)",
        {"i": {"type": "integer", "format": "int32"}},
        {"i": 2**40},
        [],
    ),
    (
        "anyOf none",
        {
            "v": {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            }
        },
        {"v": {}},
        [
            (
                "FieldValueInvalid",
                "<nil>",
                'Invalid value: "": "spec.v" must validate at least one schema (anyOf)',
            ),
            ("FieldValueRequired", "spec.v.a", "Required value"),
        ],
    ),
    (
        "anyOf one",
        {"v": {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}},
        {"v": {"b": 1}},
        [],
    ),
    (
        "oneOf two",
        {"v": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}},
        {"v": {"a": 1, "b": 1}},
        [
            (
                "FieldValueInvalid",
                "<nil>",
                'Invalid value: "": "spec.v" must validate one and only one schema (oneOf). '
                "Found 2 valid alternatives",
            )
        ],
    ),
    (
        "allOf",
        {"v": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]}},
        {"v": 9},
        [
            (
                "FieldValueInvalid",
                "spec.v",
                "Invalid value: 9: spec.v in body should be less than or equal to 5",
            ),
            (
                "FieldValueInvalid",
                "<nil>",
                'Invalid value: "": "spec.v" must validate all the schemas (allOf)',
            ),
        ],
    ),
    (
        "not",
        {"v": {"type": "string", "not": {"enum": ["bad"]}}},
        {"v": "bad"},
        [("FieldValueInvalid", "<nil>", 'Invalid value: "": "spec.v" must not validate the schema (not)')],
    ),
    (
        "embedded resource needs kind/apiVersion",
        {
            "t": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        },
        {"t": {"apiVersion": "v1"}},
        [("FieldValueRequired", "spec.t.kind", "Required value: must not be empty")],
    ),
]


@pytest.mark.parametrize(
    ("name", "props", "spec", "expected"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES]
)
def test_validate_messages(name: str, props: Obj, spec: Any, expected: list[tuple[str, str, str]]) -> None:
    causes = StructuralSchema(_root(props)).validate(_obj(spec))
    assert [(c["type"], c["field"], c["message"]) for c in causes] == expected


def test_required_at_root_and_spec_missing() -> None:
    schema = _root({"a": {"type": "string"}}, required=["a"])
    schema["required"] = ["spec"]
    ss = StructuralSchema(schema)
    assert ss.validate({"apiVersion": "x/v1", "kind": "X", "metadata": {}}) == [
        {"type": "FieldValueRequired", "message": "Required value", "field": "spec"}
    ]
    assert ss.validate(_obj({})) == [
        {"type": "FieldValueRequired", "message": "Required value", "field": "spec.a"}
    ]


def test_nullable_enum_needs_null_in_enum() -> None:
    ss = StructuralSchema(_root({"p": {"type": "string", "nullable": True, "enum": ["a"]}}))
    assert [c["message"] for c in ss.validate(_obj({"p": None}))] == [
        'Unsupported value: "null": supported values: "a"'
    ]


def test_property_count_failure_stops_descent() -> None:
    ss = StructuralSchema(
        _root({"m": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}})
    )
    causes = ss.validate(_obj({"m": {"a": 1, "b": 2}}))
    assert [c["type"] for c in causes] == ["FieldValueTooMany"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, '"null"'),
        ('a"b', '"a\\"b"'),
        ("tab\t", '"tab\\t"'),
        (True, "true"),
        (3, "3"),
        (1.0, "1"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (1e-05, "1e-05"),
        (
            {"b": 1, "a": [None, "x"]},
            'map[string]interface {}{"a":[]interface {}{interface {}(nil), "x"}, "b":1}',
        ),
    ],
)
def test_go_value(value: Any, shown: str) -> None:
    assert go_value(value) == shown


# --------------------------------------------------------------------------- pruning

PRUNE_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}},
                },
                "free": {"type": "object", "additionalProperties": True},
                "raw": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {"x": {"type": "string"}}}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}

PRUNE_CASES: list[tuple[str, Obj, Obj, list[str]]] = [
    ("unknown top-level spec field", {"spec": {"a": "x", "foo": 1}}, {"spec": {"a": "x"}}, ["spec.foo"]),
    ("unknown root field", {"spec": {}, "extra": 1}, {"spec": {}}, ["extra"]),
    (
        "root apiVersion/kind/metadata kept, metadata untouched",
        {"apiVersion": "v", "kind": "K", "metadata": {"name": "a", "bogus": 1}},
        {"apiVersion": "v", "kind": "K", "metadata": {"name": "a", "bogus": 1}},
        [],
    ),
    (
        "array items",
        {"spec": {"items": [{"name": "a", "bar": 1}, {"name": "b"}]}},
        {"spec": {"items": [{"name": "a"}, {"name": "b"}]}},
        ["spec.items[0].bar"],
    ),
    (
        "map values",
        {"spec": {"labels": {"k": {"v": "1", "w": 2}}}},
        {"spec": {"labels": {"k": {"v": "1"}}}},
        ["spec.labels.k.w"],
    ),
    (
        "additionalProperties true keeps",
        {"spec": {"free": {"x": {"y": 1}}}},
        {"spec": {"free": {"x": {"y": 1}}}},
        [],
    ),
    (
        "preserve keeps unknown, prunes known",
        {"spec": {"raw": {"any": {"thing": 1}, "known": {"x": "1", "y": 2}}}},
        {"spec": {"raw": {"any": {"thing": 1}, "known": {"x": "1"}}}},
        ["spec.raw.known.y"],
    ),
    (
        "status preserved",
        {"status": {"anything": [1, {"a": 2}]}},
        {"status": {"anything": [1, {"a": 2}]}},
        [],
    ),
    (
        "embedded keeps apiVersion/kind/metadata, prunes unknown metadata",
        {
            "spec": {
                "template": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "junk": 1},
                    "spec": {"n": 1, "m": 2},
                    "other": 1,
                }
            }
        },
        {
            "spec": {
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"n": 1}}
            }
        },
        ["spec.template.metadata.junk", "spec.template.spec.m", "spec.template.other"],
    ),
    (
        "type mismatch left for validation",
        {"spec": {"items": "x", "labels": 3}},
        {"spec": {"items": "x", "labels": 3}},
        [],
    ),
]


@pytest.mark.parametrize(("name", "obj", "after", "dropped"), PRUNE_CASES, ids=[c[0] for c in PRUNE_CASES])
def test_prune(name: str, obj: Obj, after: Obj, dropped: list[str]) -> None:
    ss = StructuralSchema(PRUNE_SCHEMA)
    assert sorted(ss.prune(obj)) == sorted(dropped)
    assert obj == after


# --------------------------------------------------------------------------- defaulting

DEFAULT_SCHEMA = _root(
    {
        "paused": {"type": "boolean", "default": False},
        "strategy": {
            "type": "object",
            "default": {},
            "properties": {
                "maxUnavailable": {"x-kubernetes-int-or-string": True, "default": 1},
                "batches": {"type": "array", "items": {"type": "integer"}, "default": [1, 5]},
            },
        },
        "probe": {"type": "object", "properties": {"period": {"type": "integer", "default": 5}}},
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string", "default": ""}},
            },
        },
        "ports": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"protocol": {"type": "string", "default": "TCP"}},
            },
        },
        "nullable": {"type": "string", "nullable": True, "default": "d"},
        "plain": {"type": "string"},
    }
)

DEFAULT_CASES: list[tuple[str, Obj, Obj]] = [
    (
        "empty spec gets defaults (nested in defaulted object too)",
        {},
        {"paused": False, "strategy": {"maxUnavailable": 1, "batches": [1, 5]}, "nullable": "d"},
    ),
    (
        "present values untouched",
        {"paused": True, "strategy": {"maxUnavailable": "30%", "batches": []}, "nullable": "x"},
        {"paused": True, "strategy": {"maxUnavailable": "30%", "batches": []}, "nullable": "x"},
    ),
    (
        "parent must exist: probe absent stays absent",
        {"paused": True},
        {"paused": True, "strategy": {"maxUnavailable": 1, "batches": [1, 5]}, "nullable": "d"},
    ),
    (
        "parent exists",
        {"probe": {}},
        {
            "probe": {"period": 5},
            "paused": False,
            "strategy": {"maxUnavailable": 1, "batches": [1, 5]},
            "nullable": "d",
        },
    ),
    (
        "array items",
        {"env": [{"name": "a"}, {"name": "b", "value": "x"}]},
        {
            "env": [{"name": "a", "value": ""}, {"name": "b", "value": "x"}],
            "paused": False,
            "strategy": {"maxUnavailable": 1, "batches": [1, 5]},
            "nullable": "d",
        },
    ),
    (
        "map values",
        {"ports": {"http": {}}},
        {
            "ports": {"http": {"protocol": "TCP"}},
            "paused": False,
            "strategy": {"maxUnavailable": 1, "batches": [1, 5]},
            "nullable": "d",
        },
    ),
    (
        "null non-nullable with default is defaulted, without default dropped",
        {"paused": None, "plain": None},
        {"paused": False, "strategy": {"maxUnavailable": 1, "batches": [1, 5]}, "nullable": "d"},
    ),
    (
        "null in nullable kept",
        {"nullable": None},
        {"nullable": None, "paused": False, "strategy": {"maxUnavailable": 1, "batches": [1, 5]}},
    ),
]


@pytest.mark.parametrize(("name", "spec", "after"), DEFAULT_CASES, ids=[c[0] for c in DEFAULT_CASES])
def test_apply_defaults(name: str, spec: Obj, after: Obj) -> None:
    obj = _obj(spec)
    StructuralSchema(DEFAULT_SCHEMA).apply_defaults(obj)
    assert obj["spec"] == after


def test_defaults_are_deep_copies() -> None:
    ss = StructuralSchema(DEFAULT_SCHEMA)
    a, b = _obj({}), _obj({})
    ss.apply_defaults(a)
    ss.apply_defaults(b)
    a["spec"]["strategy"]["batches"].append(99)
    assert b["spec"]["strategy"]["batches"] == [1, 5]
    assert DEFAULT_SCHEMA["properties"]["spec"]["properties"]["strategy"]["properties"]["batches"][
        "default"
    ] == [1, 5]


# --------------------------------------------------------------------------- structural checks

P = "spec.versions[0].schema.openAPIV3Schema"

STRUCTURAL_CASES: list[tuple[str, Obj, list[tuple[str, str]]]] = [
    ("valid", _root({"a": {"type": "string", "default": "x"}}), []),
    (
        "missing type at field",
        _root({"a": {"description": "no type"}}),
        [("FieldValueRequired", f"{P}.properties[spec].properties[a].type")],
    ),
    ("missing type at root", {"properties": {}}, [("FieldValueRequired", f"{P}.type")]),
    (
        "missing type in items",
        _root({"l": {"type": "array", "items": {}}}),
        [("FieldValueRequired", f"{P}.properties[spec].properties[l].items.type")],
    ),
    ("int-or-string needs no type", _root({"a": {"x-kubernetes-int-or-string": True}}), []),
    ("preserve needs no type", _root({"a": {"x-kubernetes-preserve-unknown-fields": True}}), []),
    (
        "unknown type",
        _root({"a": {"type": "str"}}),
        [("FieldValueNotSupported", f"{P}.properties[spec].properties[a].type")],
    ),
    ("root not object", {"type": "string"}, [("FieldValueInvalid", f"{P}.type")]),
    (
        "properties with additionalProperties",
        _root(
            {
                "m": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                }
            }
        ),
        [("FieldValueForbidden", f"{P}.properties[spec].properties[m].additionalProperties")],
    ),
    (
        "additionalProperties false",
        _root({"m": {"type": "object", "additionalProperties": False}}),
        [("FieldValueForbidden", f"{P}.properties[spec].properties[m].additionalProperties")],
    ),
    (
        "uniqueItems",
        _root({"l": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}),
        [("FieldValueForbidden", f"{P}.properties[spec].properties[l].uniqueItems")],
    ),
    (
        "array without items",
        _root({"l": {"type": "array"}}),
        [("FieldValueRequired", f"{P}.properties[spec].properties[l].items")],
    ),
    (
        "default of wrong type",
        _root({"r": {"type": "integer", "default": "x"}}),
        [("FieldValueTypeInvalid", f"{P}.properties[spec].properties[r].default")],
    ),
    (
        "default violating minimum",
        _root({"r": {"type": "integer", "minimum": 1, "default": 0}}),
        [("FieldValueInvalid", f"{P}.properties[spec].properties[r].default")],
    ),
    (
        "default with unknown fields",
        _root(
            {"o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}}}
        ),
        [("FieldValueInvalid", f"{P}.properties[spec].properties[o].default")],
    ),
    (
        "metadata may restrict name only",
        {
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}
            },
        },
        [],
    ),
    (
        "metadata restricting labels",
        {
            "type": "object",
            "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
        },
        [("FieldValueForbidden", f"{P}.properties[metadata]")],
    ),
    (
        "list map keys must be required or defaulted",
        _root(
            {
                "l": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            }
        ),
        [("FieldValueRequired", f"{P}.properties[spec].properties[l].items.properties[name]")],
    ),
    (
        "list map keys defaulted ok",
        _root(
            {
                "l": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string", "default": "a"}}},
                }
            }
        ),
        [],
    ),
    (
        "list map without keys",
        _root({"l": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}}),
        [("FieldValueRequired", f"{P}.properties[spec].properties[l].x-kubernetes-list-map-keys")],
    ),
    (
        "list map key not a property",
        _root(
            {
                "l": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["id"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            }
        ),
        [("FieldValueInvalid", f"{P}.properties[spec].properties[l].x-kubernetes-list-map-keys")],
    ),
    (
        "bad list type",
        _root({"l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"}}),
        [("FieldValueNotSupported", f"{P}.properties[spec].properties[l].x-kubernetes-list-type")],
    ),
    (
        "value validation sets type",
        _root({"a": {"type": "string", "anyOf": [{"type": "string"}]}}),
        [("FieldValueForbidden", f"{P}.properties[spec].properties[a].anyOf[0].type")],
    ),
    (
        "preserve false",
        _root({"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": False}}),
        [("FieldValueInvalid", f"{P}.properties[spec].properties[a].x-kubernetes-preserve-unknown-fields")],
    ),
    (
        "$ref",
        _root({"a": {"type": "object", "$ref": "#/x"}}),
        [("FieldValueForbidden", f"{P}.properties[spec].properties[a].$ref")],
    ),
]


@pytest.mark.parametrize(
    ("name", "schema", "expected"), STRUCTURAL_CASES, ids=[c[0] for c in STRUCTURAL_CASES]
)
def test_check_structural(name: str, schema: Obj, expected: list[tuple[str, str]]) -> None:
    assert [(c["type"], c["field"]) for c in check_structural(schema)] == expected


def test_check_structural_messages() -> None:
    causes = check_structural(_root({"a": {}}), field_prefix="spec.validation.openAPIV3Schema")
    assert causes == [
        {
            "type": "FieldValueRequired",
            "message": "Required value: must not be empty for specified object fields",
            "field": "spec.validation.openAPIV3Schema.properties[spec].properties[a].type",
        }
    ]
    (cause,) = check_structural(_root({"r": {"type": "integer", "default": "x"}}), field_prefix="s")
    assert cause["message"] == (
        'Invalid value: "string": s.properties[spec].properties[r].default in body must be '
        'of type integer: "string"'
    )


# --------------------------------------------------------------------------- performance


def test_small_cr_validates() -> None:
    schema, obj = small_cr_schema(), small_cr()
    ss = StructuralSchema(schema)
    assert ss.validate(obj) == []
    # How fast: bench/hotpaths.py prints it (timings are not asserted in tests).


# --------------------------------------------------------------------------- property tests

PROPERTY_SCHEMAS: list[Obj] = [
    DEFAULT_SCHEMA,
    _root(
        {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,20}$", "maxLength": 21},
            "replicas": {"type": "integer", "minimum": 0, "maximum": 100},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
            "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
            "tags": {
                "type": "array",
                "items": {"type": "string", "maxLength": 5},
                "maxItems": 4,
                "x-kubernetes-list-type": "set",
            },
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port"],
                "items": {
                    "type": "object",
                    "required": ["port"],
                    "properties": {
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "protocol": {"type": "string", "enum": ["TCP", "UDP"], "default": "TCP"},
                    },
                },
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 3},
            "size": {"x-kubernetes-int-or-string": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        required=["name"],
    ),
]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def _spec_keys(schema: Obj) -> list[str]:
    return list(schema["properties"]["spec"]["properties"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), which=st.integers(0, len(PROPERTY_SCHEMAS) - 1))
def test_random_json_never_raises(data: st.DataObject, which: int) -> None:
    schema = PROPERTY_SCHEMAS[which]
    keys = _spec_keys(schema)
    spec = data.draw(st.dictionaries(st.sampled_from(keys) | st.text(max_size=4), JSON, max_size=6) | JSON)
    obj = _obj(spec)
    ss = StructuralSchema(schema)
    ss.prune(obj)
    ss.apply_defaults(obj)
    causes = ss.validate(obj)
    for c in causes:
        assert set(c) == {"type", "message", "field"}
        assert all(isinstance(v, str) for v in c.values())
    assert isinstance(ss.validate(data.draw(JSON)), list)


def _from_schema(s: Obj) -> st.SearchStrategy[Any]:
    """Instances valid against the subset of keywords PROPERTY_SCHEMAS uses."""
    if "enum" in s:
        return st.sampled_from(s["enum"])
    if s.get("x-kubernetes-int-or-string"):
        return st.integers() | st.text(max_size=5)
    if s.get("x-kubernetes-preserve-unknown-fields") and not s.get("properties"):
        return st.dictionaries(st.text(max_size=4), JSON, max_size=3)
    t = s.get("type")
    base: st.SearchStrategy[Any]
    if t == "string":
        if "pattern" in s:
            base = st.from_regex(s["pattern"], fullmatch=True).filter(
                lambda x: len(x) <= s.get("maxLength", 10**9)
            )
        else:
            base = st.text(max_size=s.get("maxLength", 10))
    elif t == "integer":
        base = st.integers(s.get("minimum", -(10**9)), s.get("maximum", 10**9))
    elif t == "number":
        base = st.floats(s.get("minimum", -1e9), s.get("maximum", 1e9), allow_nan=False)
    elif t == "boolean":
        base = st.booleans()
    elif t == "array":
        items = _from_schema(s["items"])
        lt = s.get("x-kubernetes-list-type")
        key: Any = None
        if lt == "set":
            key = lambda x: x  # noqa: E731
        elif lt == "map":
            key = lambda x: tuple(x.get(k) for k in s["x-kubernetes-list-map-keys"])  # noqa: E731
        base = (
            st.lists(items, max_size=s.get("maxItems", 4), unique_by=key)
            if key
            else st.lists(items, max_size=s.get("maxItems", 4))
        )
    elif t == "object":
        props = s.get("properties", {})
        req = set(s.get("required", []))
        if "additionalProperties" in s:
            base = st.dictionaries(
                st.text(max_size=5),
                _from_schema(s["additionalProperties"]),
                max_size=s.get("maxProperties", 3),
            )
        else:
            base = st.fixed_dictionaries(
                {k: _from_schema(v) for k, v in props.items() if k in req},
                optional={k: _from_schema(v) for k, v in props.items() if k not in req},
            )
    else:
        base = JSON
    return (base | st.none()) if s.get("nullable") else base


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), which=st.integers(0, len(PROPERTY_SCHEMAS) - 1))
def test_valid_instances_validate_clean(data: st.DataObject, which: int) -> None:
    schema = PROPERTY_SCHEMAS[which]
    spec = data.draw(_from_schema(schema["properties"]["spec"]))
    obj = _obj(spec)
    ss = StructuralSchema(schema)
    assert ss.prune(copy.deepcopy(obj)) == []
    assert ss.validate(obj) == []
    ss.apply_defaults(obj)
    assert ss.validate(obj) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), which=st.integers(0, len(PROPERTY_SCHEMAS) - 1))
def test_defaults_then_validate_idempotent(data: st.DataObject, which: int) -> None:
    schema = PROPERTY_SCHEMAS[which]
    keys = _spec_keys(schema)
    spec = data.draw(st.dictionaries(st.sampled_from(keys), JSON, max_size=6))
    ss = StructuralSchema(schema)
    obj = _obj(spec)
    ss.apply_defaults(obj)
    once = copy.deepcopy(obj)
    causes = ss.validate(obj)
    ss.apply_defaults(obj)
    assert obj == once
    assert ss.validate(obj) == causes


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        ("^[a-z/]+$", "bin/x", True),
        ("^[a-z/]+$", "bin/x\n", False),  # Go's RE2 `$` is end of text only
        ("^a\\$b$", "a$b", True),
        ("^[$a]+$", "$a$", True),
    ],
)
def test_pattern_end_anchor_is_strict_like_go(pattern: str, value: str, ok: bool) -> None:
    from kubenode.apiserver.schema import StructuralSchema as _S

    errs = _S({"type": "object", "properties": {"x": {"type": "string", "pattern": pattern}}}).validate({"x": value})
    assert (errs == []) is ok
