"""What every gaptools command line shares: the root group that turns errors into one line.

Known errors (:class:`~gaptools.errors.GapToolsError`) print one red line with a hint and
exit with code 2; Ctrl-C exits with 130; anything else is a bug and prints one line
pointing at ``--debug``, which shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
import warnings

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from gaptools.errors import GapToolsError, GapToolsWarning
from gaptools.threads import configure as configure_threads

# gaptools hands POT numpy arrays only; without this, `import ot` imports torch (seconds, ~600 MB)
# in commands such as `measure` that need no torch. Set before any command imports ot.
os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
# thread counts and wait policies that stay fast on a shared machine; before torch starts its threads
configure_threads()

console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class ErrorHandlingGroup(TyperGroup):
    """Root command group: the one place where exceptions become exit codes (and help text is escaped)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _escape_help(self)

    def invoke(self, ctx: typer.Context):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", GapToolsWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (Exit, Abort, TyperException):  # --help, usage errors: Typer's own handling
            raise
        except GapToolsError as exc:
            if _debug(ctx):
                raise
            hint = f" [dim]({escape(exc.hint)})[/dim]" if exc.hint else ""
            err_console.print(f"[bold red]Error:[/bold red] [red]{escape(exc.message)}[/red]{hint}", soft_wrap=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            err_console.print("[red]Interrupted.[/red] Nothing final was written.")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if _debug(ctx):
                raise
            err_console.print(
                f"[bold red]Unexpected error:[/bold red] [red]{escape(type(exc).__name__)}: {escape(str(exc))}[/red] "
                "[dim](rerun with --debug for the traceback)[/dim]",
                soft_wrap=True,
            )
            sys.exit(1)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """gaptools' own warnings as one yellow line on stderr; any other warning as Python prints it."""
    if issubclass(category, GapToolsWarning):
        err_console.print(f"[bold yellow]Warning:[/bold yellow] {escape(str(message))}", soft_wrap=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _escape_help(command: click.Command) -> None:
    """Show every help text of ``command`` and its subcommands as written.

    Typer reads help as rich markup, which swallows anything in square brackets that looks like
    a tag (``{image_id: [captions]}`` printed as ``{image_id: }``); escaped, it prints literally.
    """
    for owner in (command, *command.params):
        for attr in ("help", "short_help"):
            if getattr(owner, attr, None):
                setattr(owner, attr, escape(getattr(owner, attr)))
    for sub in getattr(command, "commands", {}).values():
        _escape_help(sub)


def overwrite_option():
    """``--overwrite`` of a command that writes a file: replace a file that is not its own earlier output.

    The rule (:func:`gaptools.outputs.check_output_file`): a command replaces its own earlier
    output of the same kind; anything else only with ``--overwrite``; an input never.
    """
    return typer.Option(False, "--overwrite", help="Replace an existing output file that is not this command's "
                        "own earlier output of the same kind (an input is never replaced).")


def _debug(ctx: typer.Context) -> bool:
    root = ctx.find_root()
    return bool((root.obj or {}).get("debug")) or os.environ.get("GAPTOOLS_DEBUG") == "1"


def make_root_app(help_text: str) -> typer.Typer:
    """A root Typer app with the shared error handling and a ``--debug`` flag."""
    app = typer.Typer(
        cls=ErrorHandlingGroup,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    ) -> None:
        ctx.obj = {"debug": debug}

    return app
