"""The `gaptools` command: wires the command groups together, nothing else."""

from __future__ import annotations

import inspect

import typer

from gaptools import __version__
from gaptools.cli.align import align_app
from gaptools.cli.app import make_root_app
from gaptools.cli.embed import embed_app
from gaptools.cli.measure import measure_command
from gaptools.cli.report import report_command
from gaptools.cli.reproduce import reproduce_app
from gaptools.cli.split import split_command
from gaptools.cli.world import world_app

app = make_root_app("Measure and correct the modality gap of CLIP-like models.")
app.command("measure")(measure_command)
app.add_typer(embed_app, name="embed")
app.add_typer(align_app, name="align")
app.command("report")(report_command)
app.command("split")(split_command)
app.add_typer(world_app, name="world")
app.add_typer(reproduce_app, name="reproduce")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gaptools {__version__}")
        raise typer.Exit()


_shared_root = app.registered_callback.callback  # make_root_app's root: --debug, kept as it is


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = inspect.signature(_shared_root).parameters["debug"].default,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Show the gaptools version and exit."),
) -> None:
    _shared_root(ctx, debug)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
