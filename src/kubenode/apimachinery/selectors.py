"""Label and field selectors, parsed and matched like apimachinery does.

Label selectors follow `k8s.io/apimachinery/pkg/labels` (lexer, parser, key
and value validation, error messages, canonical `String()` form); field
selectors follow `k8s.io/apimachinery/pkg/fields` (`=`, `==`, `!=`, backslash
escapes). Both are compiled once per request into plain tuples so that
`matches` costs a few dict lookups per object on a LIST of thousands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from .validation import label_value_errors, qualified_name_errors

Obj = dict[str, Any]

_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _go_quote(s: str) -> str:
    """Go's %q for the strings that appear in validation messages."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else (f"\\u{code:04x}" if code <= 0xFFFF
                                                             else f"\\U{code:08x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_slice(values: Sequence[str]) -> str:
    """Go's %#v of a []string, as field.Invalid prints a bad value list."""
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _invalid(path: str, bad: str, detail: str) -> str:
    """field.Invalid(path, bad, detail).Error()."""
    return f"{path}: Invalid value: {bad}: {detail}"


def _aggregate(errs: list[str]) -> str:
    """utilerrors.Aggregate.Error(): deduplicated, bracketed when more than one."""
    uniq = list(dict.fromkeys(errs))
    return uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"


def _is_int64(s: str) -> bool:
    return bool(_INT64_RE.fullmatch(s)) and _INT64_MIN <= int(s) <= _INT64_MAX


# --- label selectors ---------------------------------------------------------------------------

# Operators: their selection.Operator names, used in String() and error messages.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True)
class Requirement:
    """One label requirement: `key op values` (values sorted, as the canonical form prints them)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        vals = ",".join(self.values)
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({vals})"
        sym = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{sym}{vals}"


def new_requirement(key: str, operator: str, values: Iterable[str], path: str = "") -> Requirement:
    """labels.NewRequirement: validate and build; ValueError with kube's aggregated message.

    `path` is the field path prefix of error messages: "" for a parsed selector
    (kube prints its nil path as "<nil>" for keys), "" also for metav1.LabelSelector.
    """
    vals = list(values)
    errs: list[str] = []
    key_path = f"{path}.key" if path else "key"
    values_path = f"{path}.values" if path else "values"
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(_invalid(key_path, _go_quote(key), "; ".join(key_errs)))
    if operator in (IN, NOT_IN):
        if not vals:
            errs.append(_invalid(values_path, _go_slice(vals),
                                 "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errs.append(_invalid(values_path, _go_slice(vals),
                                 "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errs.append(_invalid(values_path, _go_slice(vals),
                                 "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errs.append(_invalid(values_path, _go_slice(vals),
                                 "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals):
            if not _is_int64(v):
                errs.append(_invalid(f"{values_path}[{i}]", _go_quote(v),
                                     "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        supported = ", ".join(_go_quote(o) for o in (DOES_NOT_EXIST, EQUALS, DOUBLE_EQUALS, EXISTS,
                                                      GREATER_THAN, IN, LESS_THAN, NOT_EQUALS, NOT_IN))
        errs.append(f"{path + '.' if path else ''}operator: Unsupported value: {_go_quote(operator)}: "
                    f"supported values: {supported}")
    for i, v in enumerate(vals):
        v_errs = label_value_errors(v)
        if v_errs:
            errs.append(_invalid(f"{values_path}[{i}][{key}]", _go_quote(v), "; ".join(v_errs)))
    if errs:
        raise ValueError(_aggregate(errs))
    return Requirement(key, operator, tuple(sorted(vals)))


# Compiled opcodes: one int comparison per requirement in the hot loop.
_OP_IN, _OP_NOT_IN, _OP_EXISTS, _OP_NOT_EXISTS, _OP_GT, _OP_LT = range(6)
_OPCODES = {
    IN: _OP_IN, EQUALS: _OP_IN, DOUBLE_EQUALS: _OP_IN, NOT_IN: _OP_NOT_IN, NOT_EQUALS: _OP_NOT_IN,
    EXISTS: _OP_EXISTS, DOES_NOT_EXIST: _OP_NOT_EXISTS, GREATER_THAN: _OP_GT, LESS_THAN: _OP_LT,
}

_Compiled = tuple[str, int, Any]  # (key, opcode, frozenset of values | int bound)


@dataclass(frozen=True)
class LabelSelector:
    """A parsed, validated label selector. Immutable; `matches` is the hot path.

    Requirements are sorted by key (stable), so equal selectors compare equal and
    print the same canonical string. `nothing` is kube's `labels.Nothing()`
    (a nil metav1.LabelSelector): it matches no object.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False
    _compiled: tuple[_Compiled, ...] = field(default=(), init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        compiled: list[_Compiled] = []
        for r in self.requirements:
            code = _OPCODES[r.operator]
            arg: Any = int(r.values[0]) if code in (_OP_GT, _OP_LT) else frozenset(r.values)
            compiled.append((r.key, code, arg))
        object.__setattr__(self, "_compiled", tuple(compiled))

    @property
    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a label map (None = no labels) satisfies every requirement."""
        if self.nothing:
            return False
        if labels is None:
            labels = {}
        for key, code, arg in self._compiled:
            value = labels.get(key)
            if code == _OP_IN:
                if value is None or value not in arg:
                    return False
            elif code == _OP_NOT_IN:
                if value is not None and value in arg:
                    return False
            elif code == _OP_EXISTS:
                if value is None:
                    return False
            elif code == _OP_NOT_EXISTS:
                if value is not None:
                    return False
            else:
                # Gt/Lt: the label must hold a base-10 int64 (Go strconv.ParseInt).
                if value is None or not _is_int64(value):
                    return False
                n = int(value)
                if (code == _OP_GT and not n > arg) or (code == _OP_LT and not n < arg):
                    return False
        return True

    def __str__(self) -> str:
        """The canonical form (kube's internalSelector.String()); "" for everything and nothing."""
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


class _Tok:
    """Token kinds of the label selector lexer."""

    ERROR, END, CLOSED_PAR, COMMA, NOT, DOUBLE_EQUALS, EQUALS, GT, IDENT, IN, LT, NOT_EQUALS, NOT_IN, \
        OPEN_PAR = range(14)


_SYMBOLS = {
    "!": _Tok.NOT, "!=": _Tok.NOT_EQUALS, "(": _Tok.OPEN_PAR, ")": _Tok.CLOSED_PAR, ",": _Tok.COMMA,
    "<": _Tok.LT, "=": _Tok.EQUALS, "==": _Tok.DOUBLE_EQUALS, ">": _Tok.GT,
}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOT_IN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    """Tokenize like labels.Lexer (longest special-symbol match; NUL ends the input as in Go)."""
    toks: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n or s[i] == "\0":
            toks.append((_Tok.END, ""))
            return toks
        if s[i] in _SPECIAL:
            buf = ""
            last: tuple[int, str] | None = None
            while i < n and s[i] in _SPECIAL:
                buf += s[i]
                tok = _SYMBOLS.get(buf)
                if tok is not None:
                    last = (tok, buf)
                elif last is not None:
                    break
                i += 1
            if last is None:
                toks.append((_Tok.ERROR, f"error expected: keyword found '{buf}'"))
                toks.append((_Tok.END, ""))
                return toks
            toks.append(last)
            continue
        j = i
        while j < n and s[j] not in _WHITESPACE and s[j] not in _SPECIAL and s[j] != "\0":
            j += 1
        word = s[i:j]
        toks.append((_KEYWORDS.get(word, _Tok.IDENT), word))
        i = j


class _Parser:
    """labels.Parser: recursive descent over the token list, kube's messages verbatim."""

    def __init__(self, s: str) -> None:
        self.toks = _lex(s)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.toks[min(self.pos, len(self.toks) - 1)]
        # In a values context "in"/"notin" are ordinary identifiers.
        if values and tok in (_Tok.IN, _Tok.NOT_IN):
            tok = _Tok.IDENT
        return tok, lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_Tok.IDENT, _Tok.NOT):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == _Tok.END:
                    return reqs
                if t == _Tok.COMMA:
                    t2, lit3 = self.lookahead()
                    if t2 not in (_Tok.IDENT, _Tok.NOT):
                        raise ValueError(f"found '{lit3}', expected: identifier after ','")
                else:
                    raise ValueError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _Tok.END:
                return reqs
            else:
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.consume()
        if tok == _Tok.NOT:
            operator = DOES_NOT_EXIST
            tok, key = self.consume()
        if tok != _Tok.IDENT:
            raise ValueError(f"found '{key}', expected: identifier")
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise ValueError(_invalid("<nil>", _go_quote(key), "; ".join(key_errs)))
        if self.lookahead()[0] in (_Tok.END, _Tok.COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, operator, ())
        tok, lit = self.consume(values=False)
        op = {
            _Tok.IN: IN, _Tok.EQUALS: EQUALS, _Tok.DOUBLE_EQUALS: DOUBLE_EQUALS, _Tok.GT: GREATER_THAN,
            _Tok.LT: LESS_THAN, _Tok.NOT_IN: NOT_IN, _Tok.NOT_EQUALS: NOT_EQUALS,
        }.get(tok)
        if op is None:
            raise ValueError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        vals = self.set_values() if op in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, op, sorted(vals))

    def set_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _Tok.OPEN_PAR:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_Tok.IDENT, _Tok.COMMA):
            vals = self.identifiers()
            if self.consume()[0] != _Tok.CLOSED_PAR:
                raise ValueError(f"found '{lit}', expected: ')'")  # sic: kube reports the first token
            return vals
        if tok == _Tok.CLOSED_PAR:
            self.consume()
            return {""}
        raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        vals: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _Tok.IDENT:
                vals.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _Tok.COMMA:
                    continue
                if tok2 == _Tok.CLOSED_PAR:
                    return vals
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _Tok.COMMA:
                # "(,", ",)" and ",," all stand for the empty value.
                if not vals:
                    vals.add("")
                tok2, _ = self.lookahead()
                if tok2 == _Tok.CLOSED_PAR:
                    vals.add("")
                    return vals
                if tok2 == _Tok.COMMA:
                    self.consume()
                    vals.add("")
                continue
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_Tok.END, _Tok.COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _Tok.IDENT:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


def parse_label_selector(s: str) -> LabelSelector:
    """Parse the `labelSelector` query syntax (labels.Parse); ValueError carries kube's message.

    Grammar: comma-separated `key`, `!key`, `key=v`, `key==v`, `key!=v`,
    `key in (a,b)`, `key notin (a)`, `key>1`, `key<1`; whitespace-tolerant.
    """
    if not s.strip():
        return EVERYTHING
    reqs = _Parser(s).parse()
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None matches nothing, {} matches everything.

    `{matchLabels: {k: v}, matchExpressions: [{key, operator, values}]}`;
    ValueError on an unknown operator or invalid keys/values, with kube's message.
    """
    if sel is None:
        return NOTHING
    match_labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
        raise ValueError("invalid label selector: matchLabels must be a map, matchExpressions a list")
    if not match_labels and not exprs:
        return EVERYTHING
    reqs: list[Requirement] = []
    for k, v in match_labels.items():
        reqs.append(new_requirement(str(k), EQUALS, [v if isinstance(v, str) else str(v)]))
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise ValueError("invalid label selector: matchExpressions items must be objects")
        raw_op = expr.get("operator", "")
        op = _SELECTOR_OPERATORS.get(raw_op) if isinstance(raw_op, str) else None
        if op is None:
            raise ValueError(f"{_go_quote(str(raw_op))} is not a valid label selector operator")
        values = expr.get("values") or []
        if not isinstance(values, list):
            raise ValueError("invalid label selector: values must be a list")
        reqs.append(new_requirement(str(expr.get("key", "")), op, [str(v) for v in values]))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


# --- field selectors ---------------------------------------------------------------------------

#: Always selectable on every resource.
DEFAULT_FIELDS: frozenset[str] = frozenset({"metadata.name", "metadata.namespace"})

#: Field labels whose value is not at their dotted path (events: `source` is source.component).
_FIELD_PATHS: dict[str, tuple[str, ...]] = {"source": ("source", "component")}


def escape_field_value(v: str) -> str:
    """fields.EscapeValue: backslash-escape `\\`, `,` and `=`."""
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(s: str) -> str:
    """fields.UnescapeValue; ValueError on a bad escape or an unescaped `,`/`=` (kube's messages)."""
    if "\\" not in s and "," not in s and "=" not in s:
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Go formats the rune with %v: its code point.
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    """Split on unescaped commas, keeping escapes for UnescapeValue."""
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator (`!=`, `==`, `=` tried in that order at each position)."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def field_value(obj: Obj, path: tuple[str, ...]) -> str:
    """The string form of a field as kube's field sets hold it ("" when missing, "true"/"false")."""
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, str):
        return cur
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, int | float):
        return str(cur)
    return ""


@dataclass(frozen=True)
class FieldTerm:
    """One `field=value` (or `field!=value`) term."""

    field: str
    value: str
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: an AND of terms."""

    terms: tuple[FieldTerm, ...] = ()
    _compiled: tuple[tuple[tuple[str, ...], str, bool], ...] = field(
        default=(), init=False, repr=False, compare=False, hash=False,
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(
            (_FIELD_PATHS.get(t.field) or tuple(t.field.split(".")), t.value, t.negated) for t in self.terms
        ))

    @property
    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self.terms

    def matches(self, obj: Obj) -> bool:
        """Whether the object satisfies every term."""
        # A plain loop: all() over a generator costs more per object on a big LIST.
        for path, value, negated in self._compiled:  # noqa: SIM110
            if (field_value(obj, path) == value) == negated:
                return False
        return True

    def exact(self, field: str) -> str | None:
        """The value this selector pins `field` to (`field=value`), or None (fast-path lookups)."""
        for t in self.terms:
            if t.field == field and not t.negated:
                return t.value
        return None

    def __str__(self) -> str:
        """The canonical form: terms in parse order (sorted), values escaped."""
        return ",".join(str(t) for t in self.terms)


def parse_field_selector(s: str, supported: AbstractSet[str] = frozenset()) -> FieldSelector:
    """Parse a `fieldSelector` (fields.ParseSelector + the resource's field label conversion).

    `metadata.name` and `metadata.namespace` are always allowed besides `supported`;
    ValueError('field label not supported: x') for others, kube's parse messages otherwise.
    """
    if not s:
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(s)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{s}'; can't understand '{part}'")
        lhs, op, rhs = split
        terms.append(FieldTerm(lhs, unescape_field_value(rhs), op == "!="))
    for t in terms:
        if t.field not in DEFAULT_FIELDS and t.field not in supported:
            raise ValueError(f"field label not supported: {t.field}")
    return FieldSelector(tuple(terms))
