"""A click group whose sub-commands are imported when they run, not at start-up.

Each sub-command module pulls in what it runs (aiohttp, a provider, sinks,
the simulator); importing them all to print ``streamer --help`` would make
every invocation pay for all of them.  The group lists its commands from a
table of names and short help; a command's module is imported the first time
click asks for the command itself.  Any exception a command raises becomes
one line on stderr and an exit code (:func:`streamer.cli.execute.fail`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import click


class LazyCommands(MutableMapping[str, click.Command]):
    """Name → command, importing ``streamer.cli.<name>`` on first access."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._pending = dict(names)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            if name not in self._pending:
                raise KeyError(name)
            self._loaded[name] = importlib.import_module(f"streamer.cli.{name}").command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._pending.pop(name, None)
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._pending, **self._loaded})

    def __len__(self) -> int:
        return len(self._pending.keys() | self._loaded.keys())

    def short_help(self, name: str) -> str | None:
        """The short help of ``name`` without importing it (``None`` for a command added later)."""
        return self._pending.get(name) if name not in self._loaded else None


class LazyGroup(click.Group):
    """``@click.group(cls=LazyGroup, lazy_commands={"urls": "short help", ...})``."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: LazyCommands = LazyCommands(lazy_commands)  # type: ignore[assignment]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            text = self.commands.short_help(name)
            command = click.Command(name, short_help=text) if text is not None else self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        from streamer.cli.execute import fail

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a sub-command's bad option, an unknown command
            raise one_line(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            fail(exc)
        except KeyboardInterrupt as exc:
            fail(exc)


def one_line(exc: click.UsageError) -> click.UsageError:
    """``exc`` as the one-line ``streamer: error: ...`` our own usage errors print (exit 2).

    click prints its usage errors as usage, blank line, hint and message:
    four lines where every other error of this CLI is one.  Bare ``streamer``
    (click's "no arguments is help") still shows the help.
    """
    from streamer.cli.execute import BadUsage

    if isinstance(exc, (BadUsage, click.exceptions.NoArgsIsHelpError)):
        return exc
    hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    return BadUsage(f"{exc.format_message()}{hint}", ctx=exc.ctx)
