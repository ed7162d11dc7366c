"""`gaptools report`: one self-contained HTML page (plus Markdown and CSVs) from result files."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from gaptools.cli.app import console


def report_command(
    inputs: Optional[List[Path]] = typer.Argument(
        None, help="measure/compare JSON files and caption eval folders (or their metrics.json)."),
    out: Path = typer.Option(..., "-o", "--out", help="Report folder (new, empty, or an earlier report)."),
    sets: Optional[List[Path]] = typer.Option(None, "--sets", help="Embedding sets for the geometry figures and gallery (repeatable)."),
    aligner: Optional[Path] = typer.Option(None, "--aligner", help="Show the sets' images after this aligner too."),
    umap: bool = typer.Option(False, "--umap", help="UMAP instead of PCA for the scatter (cached)."),
    mixup_metric: str = typer.Option("CIDEr", help="Captioning metric of the mixup curve."),
    images: Optional[Path] = typer.Option(None, "--images", help="Image folder for the sample gallery."),
    gallery: int = typer.Option(12, min=0, help="Images in the sample gallery."),
    title: str = typer.Option("Modality gap report", help="Page title."),
) -> None:
    """Build a comparison report: gap overview, geometry, alignment, captioning, mixup, samples."""
    from gaptools.reports.build import build_report
    from gaptools.reports.inputs import load_inputs

    page = build_report(load_inputs(inputs or []), out, sets=sets or [], aligner=aligner, umap=umap,
                        mixup_metric=mixup_metric, images=images, gallery_size=gallery, title=title)
    console.print(f"Wrote {page} (also report.md, tables/*.csv, figures/*.png)")
