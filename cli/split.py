"""`gaptools split`: a fitting part and a held-out test part of one set, split by image."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import typer

from gaptools.cli.app import console, overwrite_option
from gaptools.errors import InputError
from gaptools.io import load_set, save_set
from gaptools.outputs import SET_FILE, check_output_file, resolved
from gaptools.validation import MAX_SEED


def split_command(
    data: Path = typer.Argument(..., metavar="SET", help="Embedding set to split (.npz or (2, N, D) .npy)."),
    test: float = typer.Option(..., "--test", help="Share of the images in the test part, in (0, 1)."),
    seed: int = typer.Option(0, min=0, max=MAX_SEED, help="Seed of the permutation that chooses the test images."),
    output: Tuple[Path, Path] = typer.Option(..., "--output", "-o", metavar="FIT TEST",
                                             help="The two sets to write (.npz): the fitting part, then the test part."),
    float16: bool = typer.Option(False, "--float16", help="Store the output embeddings as float16."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Split SET by image into a fitting part and a test part: every caption goes with its image.

    The same set and seed always give the same split (see EmbeddingSet.split).
    """
    fit_path, test_path = output
    if resolved(fit_path) == resolved(test_path):
        raise InputError(f"-o: the fitting part and the test part are the same file ({fit_path})")
    for path in output:
        check_output_file(path, option="-o", inputs=[data], suffixes=(".npz",), kind=SET_FILE, overwrite=overwrite)
    eset = load_set(data)
    fit, held_out = eset.split(test=test, seed=seed)
    save_set(fit, fit_path, float16=float16, overwrite=overwrite)
    save_set(held_out, test_path, float16=float16, overwrite=overwrite)
    for label, part, path in (("fit", fit, fit_path), ("test", held_out, test_path)):
        console.print(f"Wrote {path}: {label} part, {part.n_groups} images, {part.n_text} captions", soft_wrap=True)

