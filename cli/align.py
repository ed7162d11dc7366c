"""`gaptools align`: fit gap corrections, apply them out of sample, compare them."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from gaptools.align import METHODS, apply_to_set, compare, fit_on_set, load_aligner, save_aligner
from gaptools.align.compare import DEFAULT_BOOTSTRAP, HEADLINE_METRICS
from gaptools.align.compare import RESULT_KIND as COMPARE_KIND
from gaptools.align.persist import FORMAT as ALIGNER_KIND
from gaptools.align.persist import SUFFIX as ALIGNER_SUFFIX
from gaptools.align.registry import params_for, parse_param
from gaptools.align.sets import train_summary
from gaptools.atomic import write_json
from gaptools.cli.app import console, overwrite_option
from gaptools.cli.stream import check_cluster_options, dask_session, scheduler_option, shard_progress, workers_option
from gaptools.cli.tables import print_tables
from gaptools.errors import InputError
from gaptools.io import load_set, save_set
from gaptools.limits import MAX_BOOTSTRAP, check_dimension
from gaptools.mixing import mixup_set
from gaptools.outputs import SET_FILE, check_output_file
from gaptools.validation import MAX_SEED

align_app = typer.Typer(
    help="Fit modality-gap corrections on one set, apply them to another, compare them.",
    no_args_is_help=True,
)


class Direction(str, Enum):
    image_to_text = "image-to-text"
    text_to_image = "text-to-image"


_METHOD_HELP = f"One of: {', '.join(METHODS)}."
_PARAM_HELP = "Hyper-parameter key=value (repeatable), e.g. -p reg=0.1 -p max_fit_points=2000."
_SEED_HELP = "random_state of the methods that subsample (OT), the seed of those that train (diffusion-bridge)."
_MAX_FIT_HELP = "OT: fit on a seeded subsample of at most this many rows per modality."


def _params(param: list[str], no_renormalize: bool, optional: dict) -> dict:
    """-p key=value pairs, --no-renormalize, and the optional flags that were given."""
    params = {k: v for k, v in optional.items() if v is not None}
    params.update(parse_param(p) for p in param)
    if no_renormalize:
        params["renormalize"] = False
    return params


@align_app.command("fit")
def fit_command(
    train: Path = typer.Argument(..., help="Embedding set (.npz or (2, N, D) .npy) to fit on, or a sharded folder "
                                 "(streamed; the moment-based methods)."),
    method: str = typer.Option("mean", "--method", "-m", help=_METHOD_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Aligner file to write (its name ends in .aligner; an .npz inside)."),
    direction: Direction = typer.Option(Direction.image_to_text, help="Default direction of `apply`."),
    param: List[str] = typer.Option([], "--param", "-p", help=_PARAM_HELP),
    seed: Optional[int] = typer.Option(None, min=0, max=MAX_SEED, help=_SEED_HELP),
    max_fit_points: Optional[int] = typer.Option(None, help=_MAX_FIT_HELP),
    no_renormalize: bool = typer.Option(False, "--no-renormalize", help="Do not L2-normalise mapped embeddings."),
    overwrite: bool = overwrite_option(),
    workers: Optional[int] = workers_option(),
    scheduler: Optional[str] = scheduler_option(),
) -> None:
    """Learn one gap correction from a set's images and captions and save it."""
    check_output_file(output, option="-o", inputs=[train], suffixes=(ALIGNER_SUFFIX,), kind=ALIGNER_KIND,
                      overwrite=overwrite)
    check_cluster_options(train.is_dir(), workers, scheduler)
    optional = params_for(method, {"random_state": seed, "seed": seed, "max_fit_points": max_fit_points})
    params = _params(param, no_renormalize, optional)
    start = time.perf_counter()
    if train.is_dir():
        aligner, train_info = _fit_streaming(method, train, params, workers, scheduler)
    else:
        eset = load_set(train)
        check_dimension(eset.dim, source=str(train))
        aligner, train_info = fit_on_set(method, eset, params), train_summary(eset)
    seconds = time.perf_counter() - start
    save_aligner(aligner, output, direction=direction.value, train=train_info, overwrite=overwrite)
    console.print(f"Fitted {aligner!r} on {train_info['source']} ({train_info['n_image']} images, "
                  f"{train_info['n_text']} captions, D={aligner.dim_}) in {seconds:.2f} s.")
    console.print(f"Wrote {output}")


def _fit_streaming(method: str, folder: Path, params: dict, workers: int | None, scheduler: str | None):
    """Fit from one streamed pass over a folder (two for realign)."""
    from gaptools.stream import check_streamable, fit_folder, open_folder

    check_streamable(method)
    shards = open_folder(folder)
    with dask_session(workers, scheduler) as client, shard_progress(f"fitting {method} on {folder.name}") as progress:
        return fit_folder(method, shards, params, client=client, progress=progress)


@align_app.command("apply")
def apply_command(
    aligner_path: Path = typer.Argument(..., metavar="ALIGNER", help="A file written by `gaptools align fit`."),
    data: Path = typer.Argument(..., metavar="SET", help="Embedding set to align, or a sharded folder (streamed)."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Aligned embedding set to write (.npz); for a folder, the output folder."),
    direction: Optional[Direction] = typer.Option(None, help="Override the direction saved with the aligner."),
    mixup: Optional[float] = typer.Option(
        None, "--mixup", help="After aligning, replace each image by normalize(λ·caption + (1−λ)·image), "
        "λ in [0, 1] the text share, with one of its captions drawn by --mixup-seed."),
    mixup_seed: int = typer.Option(0, min=0, max=MAX_SEED, help="Seed of the caption drawn per image for --mixup."),
    float16: bool = typer.Option(False, "--float16", help="Store the output embeddings as float16."),
    overwrite: bool = overwrite_option(),
    workers: Optional[int] = workers_option(),
    scheduler: Optional[str] = scheduler_option(),
) -> None:
    """Apply a saved aligner to a (held-out) embedding set and write the aligned set."""
    check_cluster_options(data.is_dir(), workers, scheduler)
    if data.is_dir():
        if mixup is not None:
            raise InputError("--mixup needs the rows in memory: it is not available when aligning a folder")
        if overwrite:
            raise InputError(f"--overwrite: aligning a folder resumes into {output} (finished shards are checked and "
                             "kept)", hint=f"to start over, remove {output} first")
        _apply_streaming(aligner_path, data, output, direction, float16, workers, scheduler)
        return
    check_output_file(output, option="-o", inputs=[aligner_path, data], suffixes=(".npz",), kind=SET_FILE,
                      overwrite=overwrite)
    saved = load_aligner(aligner_path)
    eset = load_set(data)
    dir_value = direction.value if direction is not None else saved.direction
    aligned = apply_to_set(saved, eset, direction=dir_value)  # warns (one line) on another embedding model
    if mixup is not None:
        aligned = mixup_set(aligned, mixup, seed=mixup_seed)
    save_set(aligned, output, float16=float16, overwrite=overwrite)
    note = f", then mixup λ={mixup} (seed {mixup_seed})" if mixup is not None else ""
    console.print(f"Aligned {eset.source} with {saved.header['method']} ({dir_value}){note}.")
    console.print(f"Wrote {output}")


def _apply_streaming(aligner_path: Path, data: Path, output: Path, direction: Direction | None, float16: bool,
                     workers: int | None, scheduler: str | None) -> None:
    """Align a folder shard by shard into ``output``, resumably (a rerun skips finished shards)."""
    from gaptools.stream import apply_folder, open_folder

    saved = load_aligner(aligner_path)
    shards = open_folder(data)
    with dask_session(workers, scheduler) as client, shard_progress(f"aligning {data.name}") as progress:
        done = apply_folder(saved, shards, output, direction=direction.value if direction else None, float16=float16,
                            client=client, progress=progress)
    console.print(f"Aligned {data} with {saved.header['method']}: {done['written']} shard(s) written, "
                  f"{done['skipped']} already done (checked against {done['manifest']}).")
    console.print(f"Wrote {output}")


@align_app.command("compare")
def compare_command(
    train: Path = typer.Argument(..., help="Embedding set every method is fitted on."),
    test: Path = typer.Argument(..., help="Embedding set every method is applied to and measured on."),
    methods: List[str] = typer.Option([], "--methods", help="Methods to run (comma-separated or repeated); default all."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    overwrite: bool = overwrite_option(),
    direction: Direction = typer.Option(Direction.image_to_text),
    param: List[str] = typer.Option([], "--param", "-p", help=_PARAM_HELP + " Given to every method that takes it."),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="random_state of the OT subsamples, and the seed of measure's subsamples."),
    max_fit_points: Optional[int] = typer.Option(None, help=_MAX_FIT_HELP),
    no_renormalize: bool = typer.Option(False, "--no-renormalize", help="Do not L2-normalise mapped embeddings."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, min=0, max=MAX_BOOTSTRAP,
                                  help="Bootstrap resamples for 95% CIs (0: none, and no method can be called best)."),
    max_points: int = typer.Option(2000, min=10, help="Subsample size for separability and W2 (see measure)."),
    max_gallery: int = typer.Option(5000, min=10, help="Images in the retrieval gallery."),
) -> None:
    """Fit each method on TRAIN, apply it to TEST, and measure TEST before and after."""
    if json_out is not None:
        check_output_file(json_out, option="--json", inputs=[train, test], kind=COMPARE_KIND, overwrite=overwrite)
    train_set, test_set = load_set(train), load_set(test)
    names = [n.strip() for item in methods for n in item.split(",") if n.strip()] or None
    params = _params(param, no_renormalize, {"max_fit_points": max_fit_points})
    result = compare(train_set, test_set, methods=names, direction=direction.value, params=params,
                     bootstrap=bootstrap, seed=seed, max_points=max_points, max_gallery=max_gallery,
                     progress=lambda name: console.print(f"[dim]fitting {name} ...[/dim]"))
    print_compare(result)
    if json_out is not None:
        write_json(json_out, result.to_dict())
        console.print(f"Wrote {json_out}")


def print_compare(result) -> None:
    """Methods as rows, the headline metrics and timings as columns, intervals under the values (all in the JSON)."""
    rows = {"(none)": result["baseline"], **result["methods"]}

    def cell(metrics: dict, key: str) -> str:
        value, interval = metrics.get(key), (metrics.get("ci95") or {}).get(key)
        text = "—" if value is None else f"{value:.3f}"
        return text + (f"\n[dim]{interval[0]:.3f}–{interval[1]:.3f}[/dim]" if interval else "")

    columns = [(label, [cell(m, key) for m in rows.values()]) for key, label in HEADLINE_METRICS.items()]
    columns += [(label, [f"{m[key]:.2f}" if key in m else "" for m in rows.values()])
                for key, label in (("fit_seconds", "fit s"), ("apply_seconds", "apply s"))]
    with_ci = any(m.get("ci95") for m in rows.values())
    notes = "gap: centroid gap; pair cos: matched cosine; sep.: linear separability; W2: Wasserstein-2"
    print_tables(console, f"Gap after alignment ({result['direction']})", "method", list(rows), columns,
                 before=[f"fit on: {result['train']}", f"measured on: {result['test']}"],
                 after=[notes + ("; under each value its 95% interval (bootstrap over test images)" if with_ci else "")])
