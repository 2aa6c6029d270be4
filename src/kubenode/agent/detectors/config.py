"""node-problem-detector's monitor configuration format, parsed strictly.

Operators already have NPD configs (kernel-monitor.json, custom plugin
monitors); reading the same JSON lets them bring those files unchanged. What
NPD does not validate up front — a bad regex, an unknown rule type, a
permanent rule whose condition has no healthy default — we reject when the
agent starts, with the field path, instead of failing at the first matching
line.

Our extensions are optional fields NPD ignores (Go's JSON decoder skips
unknown fields), so a config stays valid for both:

* on a condition: ``ttlSeconds`` (return to the healthy default after this
  long without a new match) and ``recoveryPattern`` (a line that clears it);
* on a log monitor: ``maxLinesPerSecond`` (flood budget; lines beyond it are
  counted and dropped unread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .re2 import RE2Error, compile_re2, translate

__all__ = [
    "PLUGIN_CUSTOM",
    "PLUGIN_FILELOG",
    "PLUGIN_JOURNALD",
    "PLUGIN_KMSG",
    "ConditionDefault",
    "ConfigError",
    "LogMonitorConfig",
    "LogRule",
    "PluginMonitorConfig",
    "PluginRule",
    "parse_duration",
    "parse_monitor",
]

PLUGIN_KMSG = "kmsg"
PLUGIN_FILELOG = "filelog"
PLUGIN_CUSTOM = "custom"
PLUGIN_JOURNALD = "journald"
TEMPORARY = "temporary"
PERMANENT = "permanent"

# NPD's defaults (pkg/custompluginmonitor/types/config.go, pkg/systemlogmonitor/config.go).
DEFAULT_INVOKE_INTERVAL = 30.0
DEFAULT_PLUGIN_TIMEOUT = 5.0
DEFAULT_MAX_OUTPUT_LENGTH = 80
DEFAULT_CONCURRENCY = 3
DEFAULT_BUFFER_SIZE = 10
DEFAULT_MAX_LINES_PER_SECOND = 1000

_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_COND_TYPE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ConfigError(ValueError):
    """A monitor config is invalid; the message starts with the field path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string ("30s", "5m", "1h30m", "500ms", "0"); ValueError otherwise.

    Negative durations are rejected: every duration in a monitor config is a
    length of time.
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, not {type(text).__name__}")
    s = text.strip()
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 5m, 1h30m)")
    return total


@dataclass(frozen=True)
class ConditionDefault:
    """A condition's healthy default, plus how it clears again (our extensions)."""

    type: str
    reason: str
    message: str
    ttl_seconds: float | None = None
    recovery_pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class LogRule:
    """One log rule: a pattern that raises an Event (temporary) or sets a condition (permanent)."""

    type: str
    reason: str
    pattern: re.Pattern[str]
    condition: str = ""
    multiline: bool = False  # the pattern can span lines: match it against the whole buffer
    end_pattern: re.Pattern[str] | None = None  # anchored at the end of the buffer, as NPD anchors it


@dataclass(frozen=True)
class PluginRule:
    """One custom plugin check: an executable and its arguments (both from the node-local config)."""

    type: str
    reason: str
    path: str
    args: tuple[str, ...] = ()
    timeout: float = DEFAULT_PLUGIN_TIMEOUT
    condition: str = ""


@dataclass(frozen=True)
class LogMonitorConfig:
    """A system log monitor (`plugin` kmsg or filelog)."""

    source: str
    plugin: str
    log_path: str
    lookback: float = 0.0
    buffer_size: int = DEFAULT_BUFFER_SIZE
    conditions: tuple[ConditionDefault, ...] = ()
    rules: tuple[LogRule, ...] = ()
    message_pattern: re.Pattern[str] | None = None  # filelog pluginConfig.message
    max_lines_per_second: int = DEFAULT_MAX_LINES_PER_SECOND
    journal_source: str = ""  # journald pluginConfig.source: the SYSLOG_IDENTIFIER to follow
    skip_list: tuple[str, ...] = ()  # filelog: lines containing any of these are ignored (NPD's skipList)


@dataclass(frozen=True)
class PluginMonitorConfig:
    """A custom plugin monitor (`plugin: custom`)."""

    source: str
    invoke_interval: float = DEFAULT_INVOKE_INTERVAL
    timeout: float = DEFAULT_PLUGIN_TIMEOUT
    max_output_length: int = DEFAULT_MAX_OUTPUT_LENGTH
    concurrency: int = DEFAULT_CONCURRENCY
    conditions: tuple[ConditionDefault, ...] = ()
    rules: tuple[PluginRule, ...] = field(default_factory=tuple)


MonitorConfig = LogMonitorConfig | PluginMonitorConfig


# --------------------------------------------------------------------------- field readers


def _obj(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(path, f"must be an object, not {type(raw).__name__}")
    return raw


def _str(raw: dict[str, Any], key: str, path: str, *, required: bool = True, default: str = "") -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{path}.{key}", "Required value")
        return default
    if not isinstance(value, str):
        raise ConfigError(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
    return value


def _int(raw: dict[str, Any], key: str, path: str, default: int, minimum: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}.{key}", f"must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ConfigError(f"{path}.{key}", f"must be at least {minimum}")
    return value


def _duration(raw: dict[str, Any], key: str, path: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{path}.{key}", str(exc)) from None


def _regex(text: str, path: str, *, anchor_end: bool = False) -> re.Pattern[str]:
    # Patterns are Go RE2 syntax (NPD's configs unchanged), translated faithfully (see re2.py).
    try:
        return compile_re2(text, anchor_end=anchor_end)
    except RE2Error as exc:
        raise ConfigError(path, f"invalid regular expression: {exc}") from None


def _reason(raw: dict[str, Any], path: str) -> str:
    reason = _str(raw, "reason", path)
    if not _REASON.match(reason):
        raise ConfigError(f"{path}.reason", f"{reason!r} must be CamelCase (letters, digits, _ , :)")
    return reason


def _conditions(raw: Any, path: str) -> tuple[ConditionDefault, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(path, "must be a list")
    out: list[ConditionDefault] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        c = _obj(item, p)
        type_ = _str(c, "type", p)
        if not _COND_TYPE.match(type_) or type_ == "Ready":
            raise ConfigError(f"{p}.type", f"{type_!r} is not a valid condition type (and Ready is the kubelet's)")
        if type_ in seen:
            raise ConfigError(f"{p}.type", f"duplicate condition {type_!r}")
        seen.add(type_)
        ttl = c.get("ttlSeconds")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0):
            raise ConfigError(f"{p}.ttlSeconds", "must be a positive number")
        recovery = c.get("recoveryPattern")
        out.append(ConditionDefault(
            type=type_, reason=_reason(c, p), message=_str(c, "message", p, required=False),
            ttl_seconds=float(ttl) if ttl is not None else None,
            recovery_pattern=_regex(_str(c, "recoveryPattern", p), f"{p}.recoveryPattern") if recovery else None))
    return tuple(out)


def _rule_head(r: dict[str, Any], p: str, conditions: tuple[ConditionDefault, ...]) -> tuple[str, str, str]:
    type_ = _str(r, "type", p)
    if type_ not in (TEMPORARY, PERMANENT):
        raise ConfigError(f"{p}.type", f"Unsupported value: {type_!r}: supported values: \"temporary\", "
                                       "\"permanent\"")
    condition = _str(r, "condition", p, required=type_ == PERMANENT)
    if type_ == PERMANENT and condition not in {c.type for c in conditions}:
        raise ConfigError(f"{p}.condition", f"{condition!r} has no healthy default in conditions[]")
    return type_, _reason(r, p), condition


def _rules_list(raw: Any, path: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(path, "must be a list")
    return raw


def parse_monitor(raw: Any, where: str = "config") -> MonitorConfig:
    """Parse one NPD monitor config (already JSON-decoded); ConfigError with a field path when invalid."""
    d = _obj(raw, where)
    plugin = _str(d, "plugin", where)
    source = _str(d, "source", where)
    if not source:
        raise ConfigError(f"{where}.source", "must not be empty")
    conditions = _conditions(d.get("conditions"), f"{where}.conditions")
    pc = _obj(d.get("pluginConfig") or {}, f"{where}.pluginConfig")
    if plugin == PLUGIN_CUSTOM:
        timeout = _duration(pc, "timeout", f"{where}.pluginConfig", DEFAULT_PLUGIN_TIMEOUT)
        rules: list[PluginRule] = []
        for i, item in enumerate(_rules_list(d.get("rules"), f"{where}.rules")):
            p = f"{where}.rules[{i}]"
            r = _obj(item, p)
            type_, reason, condition = _rule_head(r, p, conditions)
            args = r.get("args") or []
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ConfigError(f"{p}.args", "must be a list of strings")
            rules.append(PluginRule(type=type_, reason=reason, condition=condition, path=_str(r, "path", p),
                                    args=tuple(args), timeout=_duration(r, "timeout", p, timeout)))
        return PluginMonitorConfig(
            source=source, conditions=conditions, rules=tuple(rules), timeout=timeout,
            invoke_interval=_duration(pc, "invoke_interval", f"{where}.pluginConfig", DEFAULT_INVOKE_INTERVAL),
            max_output_length=_int(pc, "max_output_length", f"{where}.pluginConfig", DEFAULT_MAX_OUTPUT_LENGTH, 1),
            concurrency=_int(pc, "concurrency", f"{where}.pluginConfig", DEFAULT_CONCURRENCY, 1))
    if plugin not in (PLUGIN_KMSG, PLUGIN_FILELOG, PLUGIN_JOURNALD):
        raise ConfigError(f"{where}.plugin", f"Unsupported value: {plugin!r}: supported values: \"kmsg\", "
                                             "\"filelog\", \"journald\", \"custom\"")
    journal_source = ""
    if plugin == PLUGIN_JOURNALD:
        # NPD refuses an empty source: it would follow the whole journal.
        journal_source = _str(pc, "source", f"{where}.pluginConfig")
        if not journal_source:
            raise ConfigError(f"{where}.pluginConfig.source", "must not be empty (the SYSLOG_IDENTIFIER to follow)")
    skip = d.get("skipList") or []
    if not isinstance(skip, list) or not all(isinstance(x, str) for x in skip):
        raise ConfigError(f"{where}.skipList", "must be a list of strings")
    log_path = _str(d, "logPath", where, required=plugin == PLUGIN_FILELOG,
                    default="/dev/kmsg" if plugin == PLUGIN_KMSG else "")
    log_rules: list[LogRule] = []
    for i, item in enumerate(_rules_list(d.get("rules"), f"{where}.rules")):
        p = f"{where}.rules[{i}]"
        r = _obj(item, p)
        type_, reason, condition = _rule_head(r, p, conditions)
        text = _str(r, "pattern", p)
        pattern = _regex(text, f"{p}.pattern")
        log_rules.append(LogRule(type=type_, reason=reason, condition=condition, pattern=pattern,
                                 multiline=not translate(text).single_line,
                                 end_pattern=_regex(text, f"{p}.pattern", anchor_end=True)))
    message = pc.get("message")
    return LogMonitorConfig(
        source=source, plugin=plugin, log_path=log_path, conditions=conditions, rules=tuple(log_rules),
        lookback=_duration(d, "lookback", where, 0.0),
        buffer_size=_int(d, "bufferSize", where, DEFAULT_BUFFER_SIZE, 1),
        message_pattern=_regex(message, f"{where}.pluginConfig.message") if isinstance(message, str) else None,
        max_lines_per_second=_int(d, "maxLinesPerSecond", where, DEFAULT_MAX_LINES_PER_SECOND, 1),
        journal_source=journal_source, skip_list=tuple(skip))
