"""``--config FILE`` / ``STREAMER_CONFIG``: option defaults from a TOML file.

The file feeds click's ``default_map``, so the precedence is the usual one:
command line > environment variable > config file > built-in default.

.. code-block:: toml

    verbose = 1                     # options of the group itself
    log-format = "json"

    [defaults]                      # every sub-command that has the option
    concurrency = 8
    sink = "sqlite:///exports.db"

    [urls]                          # one sub-command
    input-format = "csv"

Keys are option names as on the command line (``batch-size``, ``format``,
``sink``) or with underscores; an unknown key or section is an error naming
the file, so a typo never silently does nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

DEFAULTS_SECTION = "defaults"


def _names(command: click.Command) -> dict[str, str]:
    """Every spelling of each option of ``command`` → its parameter name."""
    names: dict[str, str] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        names[param.name] = param.name
        for opt in param.opts + param.secondary_opts:
            if opt.startswith("--"):
                spelled = opt[2:]
                names[spelled] = param.name
                names[spelled.replace("-", "_")] = param.name
    from streamer.cli.options import RenamedOptionsCommand

    if isinstance(command, RenamedOptionsCommand):  # old spellings of renamed options still work here
        for old, new in command.renamed.items():
            names.setdefault(old[2:], names[new[2:]])
            names.setdefault(old[2:].replace("-", "_"), names[new[2:]])
        for old_name, new_name in command.old_env.items():  # and so do old parameter names
            names.setdefault(old_name, new_name)
    return names


def _section(command: click.Command, values: dict[str, Any], where: str, *, strict: bool = True) -> dict[str, Any]:
    names = _names(command)
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = names.get(key)
        if name is None:
            if strict:
                known = ", ".join(sorted(k for k in names if "_" not in k or k == names[k]))
                raise click.BadParameter(f"{where}: unknown option {key!r} (known: {known})", param_hint="--config")
            continue
        out[name] = value
    return out


def default_map(group: click.Group, document: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``default_map`` for ``group`` described by a parsed config document."""
    top = {k: v for k, v in document.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in document.items() if isinstance(v, dict)}
    result: dict[str, Any] = _section(group, top, f"{path} (top level)")
    result.pop("config", None)
    shared = tables.pop(DEFAULTS_SECTION, {})
    for name, values in tables.items():
        if name not in group.commands:
            raise click.BadParameter(
                f"{path}: unknown section [{name}] (commands: {', '.join(sorted(group.commands))}, or [defaults])",
                param_hint="--config",
            )
    for name, command in group.commands.items():
        section = _section(command, shared, f"{path} [defaults]", strict=False)
        section.update(_section(command, tables.get(name, {}), f"{path} [{name}]"))
        if section:
            result[name] = section
    unused = set(shared) - {k for command in group.commands.values() for k in _names(command)}
    if unused:
        raise click.BadParameter(f"{path} [defaults]: no command has option(s) {', '.join(sorted(unused))}",
                                 param_hint="--config")
    return result


def load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Eager callback of the group's ``--config``: install the file's defaults."""
    if not value:
        return value
    path = Path(value)
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        raise click.BadParameter(f"config file {path} does not exist", param_hint="--config") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"config file {path} is not valid TOML: {exc}", param_hint="--config") from None
    assert isinstance(ctx.command, click.Group)
    defaults = default_map(ctx.command, document, str(path))
    merged = dict(ctx.default_map or {})
    for key, val in defaults.items():
        if isinstance(val, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **val}
        else:
            merged[key] = val
    ctx.default_map = merged
    return value
