"""Moved to `kubenode.apimachinery.selectors` (the shared toolkit every layer may use); re-exported here so the
embedded server's modules keep their imports."""

from kubenode.apimachinery.selectors import (
    EVERYTHING,
    NOTHING,
    FieldSelector,
    FieldTerm,
    LabelSelector,
    Requirement,
    escape_field_value,
    field_value,
    label_selector_from_dict,
    label_value_errors,
    new_requirement,
    parse_field_selector,
    parse_label_selector,
    qualified_name_errors,
    unescape_field_value,
)

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Requirement",
    "escape_field_value",
    "field_value",
    "label_selector_from_dict",
    "label_value_errors",
    "new_requirement",
    "parse_field_selector",
    "parse_label_selector",
    "qualified_name_errors",
    "unescape_field_value",
]
