"""Environment variables that change how a program is loaded or what code it runs first.

A component's `run.env` may not set them: with one of these a MachineComponent could make any
verified binary (or the interpreter behind a script) load code that is not part of its verified
archive. The CRD schema rejects them with a field path (a CEL rule, so a real cluster rejects them
too) and the agent refuses them again before it starts anything (defence in depth).
"""

from __future__ import annotations

from typing import Final

#: Exact names (dynamic loader, shells, interpreters and runtimes that read code or options from the
#: environment, glibc's tunables and charset/locale loaders).
LOADER_ENV_NAMES: Final = (
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH",
    "HOSTALIASES", "RESOLV_HOST_CONF", "MALLOC_CHECK_", "MALLOC_PERTURB_",
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONINSPECT", "PYTHONBREAKPOINT",
    "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYLIB", "RUBYOPT",
    "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    "LUA_PATH", "LUA_CPATH", "LUA_INIT", "TCLLIBPATH", "PHPRC", "PHP_INI_SCAN_DIR", "GIT_EXEC_PATH",
)
#: Prefixes: every variable of the dynamic loaders (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...),
#: macOS's dyld, and exported bash functions.
LOADER_ENV_PREFIXES: Final = ("LD_", "DYLD_", "BASH_FUNC_")


def is_loader_env(name: str) -> bool:
    """Whether setting `name` could change what code a process loads."""
    return name in LOADER_ENV_NAMES or name.startswith(LOADER_ENV_PREFIXES)


def cel_rule() -> str:
    """The same check as a CEL rule on the variable's name (`self`), for the CRD schema."""
    names = ", ".join(f"'{n}'" for n in LOADER_ENV_NAMES)
    prefixes = " || ".join(f"self.startsWith('{p}')" for p in LOADER_ENV_PREFIXES)
    return f"!(self in [{names}] || {prefixes})"
