"""`gaptools measure`: every gap metric of one or more embedding sets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gaptools import demo
from gaptools.atomic import write_json
from gaptools.cli.app import console, overwrite_option
from gaptools.cli.stream import check_cluster_options, dask_session, scheduler_option, shard_progress, workers_option
from gaptools.cli.tables import print_tables
from gaptools.errors import InputError
from gaptools.io import load_pair, load_set
from gaptools.limits import MAX_BOOTSTRAP
from gaptools.measure import METRIC_KEYS, RESULT_KIND, measure, measure_document
from gaptools.outputs import check_output_file
from gaptools.validation import MAX_SEED


def measure_command(
    paths: Optional[List[Path]] = typer.Argument(
        None, help="Embedding sets (.npz), (2, N, D) .npy stacks, or sharded folders (clip-retrieval img_emb/ "
        "text_emb/ metadata/, or .npz sets), which are streamed. None: the shipped demo set."
    ),
    image: Optional[Path] = typer.Option(None, "--image", help="Image embeddings .npy (row i pairs with --text row i)."),
    text: Optional[Path] = typer.Option(None, "--text", help="Text embeddings .npy."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    overwrite: bool = overwrite_option(),
    no_normalize: bool = typer.Option(False, "--no-normalize", help="Measure raw vectors (cosines still use unit vectors)."),
    bootstrap: int = typer.Option(1000, min=0, max=MAX_BOOTSTRAP,
                                  help="Bootstrap resamples (over images) for the 95% CIs; 0 = none."),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="Seed of the bootstrap and subsamples."),
    max_points: int = typer.Option(2000, min=10, help="Subsample size for separability, MMD, W2, uniformity."),
    max_gallery: int = typer.Option(5000, min=10, help="Images in the retrieval gallery."),
    mixup: Optional[float] = typer.Option(
        None, help="Measure with each image replaced by normalize(λ·caption + (1−λ)·image), one seeded caption each."),
    dim_ablation: bool = typer.Option(
        False, "--dim-ablation", help="Also R@1 and centroid gap after removing the top-k gap dimensions "
        "(k = 1, 2, 4, 8, 16) beside k seeded random ones, on the retrieval gallery (one more retrieval pass per k)."),
    stream: bool = typer.Option(False, "--stream", help="Stream .npz sets shard by shard as folders are (Dask)."),
    workers: Optional[int] = workers_option(),
    scheduler: Optional[str] = scheduler_option(),
) -> None:
    """Measure the modality gap: centroid gap, cosines, separability, OT, recall, ... with 95% CIs."""
    if json_out is not None:
        check_output_file(json_out, option="--json", inputs=[*(paths or []), image, text], kind=RESULT_KIND,
                          overwrite=overwrite)
    streamed = [p for p in paths or [] if stream or p.is_dir()]
    check_cluster_options(bool(streamed), workers, scheduler)
    if streamed and mixup is not None:
        raise InputError("--mixup needs the rows in memory: it is not available on the streaming path (folders, --stream)")
    if stream and image is not None:
        raise InputError("--stream reads folders and .npz sets; --image/--text pairs are measured in memory")
    rest = [p for p in paths or [] if p not in streamed]
    sets = _load_inputs(rest, image, text) if rest or image is not None or not streamed else []
    if mixup is not None:
        from gaptools.mixing import mixup_set

        sets = [mixup_set(s, mixup, seed=seed) for s in sets]
    options = dict(normalize=not no_normalize, bootstrap=bootstrap, seed=seed, max_points=max_points,
                   max_gallery=max_gallery, dim_ablation=dim_ablation)
    results = [measure(s, **options) for s in sets]
    if streamed:
        by_path = _measure_streaming(streamed, options, workers, scheduler)
        in_memory = iter(results)  # keep the order of the command line; --image/--text last
        results = [by_path[p] if p in by_path else next(in_memory) for p in paths or []] + list(in_memory)
    print_results(results)
    if dim_ablation:
        print_ablation(results)
    poisson = " (Poisson weights per image on the streaming path)" if streamed else ""
    console.print(
        ("Embeddings were L2-normalised before measuring. " if not no_normalize else "Raw (unnormalised) embeddings. ")
        + (f"95% CIs: cluster bootstrap over images{poisson}, {bootstrap} resamples, seed {seed}." if bootstrap else "")
    )
    if json_out is not None:
        write_json(json_out, measure_document(results))
        console.print(f"Wrote {json_out}")


def _measure_streaming(paths: list[Path], options: dict, workers: int | None, scheduler: str | None) -> dict:
    """Stream each folder (or set) on Dask, a progress bar per input: {path: result}."""
    from gaptools.stream import measure_folder, open_folder

    folders = {p: open_folder(p) for p in paths}  # every header checked before any work
    out = {}
    with dask_session(workers, scheduler) as client:
        for path, folder in folders.items():
            with shard_progress(f"measuring {path.name}") as progress:
                out[path] = measure_folder(folder, client=client, progress=progress, **options)
    return out


def _load_inputs(paths: list[Path], image: Path | None, text: Path | None):
    if (image is None) != (text is None):
        raise InputError("--image and --text go together (two aligned .npy files)")
    sets = [load_set(p) for p in paths]
    if image is not None:
        sets.append(load_pair(image, text))
    if not sets:
        path = demo.default_set()
        console.print(f"[dim]No input given: measuring the shipped demo set {path} ({demo.describe()}).[/dim]")
        sets = [load_set(path)]
    return sets


def format_metric(entry: dict) -> str:
    """One table cell: value with its CI, or why it is unavailable."""
    value = entry["value"]
    if value is None:
        return "[dim]—[/dim]"
    if isinstance(value, list):  # top_gap_dims: [[dim, share], ...]
        return ", ".join(f"{d}: {share:.0%}" for d, share in value[:3])
    text = f"{value:.4g}"
    if entry.get("ci95"):
        lo, hi = entry["ci95"]
        text += f" [dim][{lo:.4g}, {hi:.4g}][/dim]"
    if entry.get("n"):
        text += f" [dim](n={entry['n']})[/dim]"
    return text


def print_results(results: list[dict]) -> None:
    """Metrics as rows, one column per set (named on a line above the table, paths never cut)."""
    print_tables(
        console, "Modality gap", "metric", list(METRIC_KEYS),
        [(f"set {i}", [format_metric(r["metrics"][key]) for key in METRIC_KEYS]) for i, r in enumerate(results, 1)],
        before=[f"set {i}: {r['source']} ({r['n_image']:,} images, {r['n_text']:,} captions, D={r['dim']})"
                for i, r in enumerate(results, 1)])


def print_ablation(results: list[dict]) -> None:
    """R@1 (image→text, text→image) and centroid gap against k removed dimensions: top gap dims | random ones."""
    labels, cells = [], {key: [] for key in ("recall@1_i2t", "recall@1_t2i", "centroid_gap")}
    for i, r in enumerate(results, 1):
        a = r["dim_ablation"]
        if a is None:
            continue
        for j, k in enumerate(a["ks"]):
            labels.append(f"set {i}, k={k}" if len(results) > 1 else f"k={k}")
            for key, column in cells.items():
                column.append(f"{a['top'][key][j]:.3f} | {a['random'][key][j]:.3f}")
    print_tables(console, "Gap dimension ablation: top-k gap dimensions | k random ones", "removed", labels,
                 [(head, cells[key]) for head, key in
                  (("R@1 i→t", "recall@1_i2t"), ("R@1 t→i", "recall@1_t2i"), ("centroid gap", "centroid_gap"))])
