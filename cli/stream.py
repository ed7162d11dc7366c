"""What the streaming commands share: where Dask runs (--workers, --scheduler) and a progress bar over shards."""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Callable, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gaptools.cli.app import console
from gaptools.errors import InputError


def workers_option():
    return typer.Option(None, "--workers", min=1,
                        help="Stream on a local Dask cluster of N worker processes, one thread each (folders).")


def scheduler_option():
    return typer.Option(None, "--scheduler",
                        help="Stream on the Dask cluster at this address, e.g. tcp://head:8786; its workers must "
                             "see the same files (a shared file system).")


def check_cluster_options(streaming: bool, workers: Optional[int], scheduler: Optional[str]) -> None:
    """--workers and --scheduler only mean something when a folder is streamed; the address's form is
    checked here, before any work (whether a scheduler answers there, when the client starts)."""
    if not streaming and (workers is not None or scheduler is not None):
        raise InputError("--workers and --scheduler run the streaming path: give a folder (or --stream)")
    if workers is not None and scheduler is not None:
        raise InputError("--workers starts a local cluster and --scheduler joins an existing one: give one of them")
    if scheduler is not None:
        from gaptools.stream import check_scheduler_address

        check_scheduler_address(scheduler)


@contextlib.contextmanager
def dask_session(workers: Optional[int], scheduler: Optional[str]) -> Iterator:
    """The Dask client of the run (None: Dask's threaded scheduler here); prints the dashboard address."""
    from gaptools.stream import dask_client, require_scale

    require_scale()
    with dask_client(workers=workers, scheduler=scheduler) as client:
        if client is not None:
            local = workers is not None
            note = " (its pages need bokeh: pip install 'bokeh>=3.1')" if local and not importlib.util.find_spec(
                "bokeh") else ""
            where = f"a local cluster of {workers} worker processes" if local else f"the cluster at {scheduler}"
            console.print(f"Dask: {where}; dashboard {client.dashboard_link}{note}", soft_wrap=True)
        yield client


@contextlib.contextmanager
def shard_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over shards; yields the ``progress(done, total)`` callback the library calls."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("shards"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
