"""`gaptools reproduce`: the seed paper's experiments in one command (shapes world or MS-COCO)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.app import console
from reproduce.experiment import Experiment

reproduce_app = typer.Typer(help="Run the Unsupervised-ClipCap experiments end to end and write the report.",
                            no_args_is_help=True)

OUT = typer.Option(..., "-o", "--out", help="Experiment folder (every step is cached there).")
RESUME = typer.Option(False, "--resume", help="Continue an interrupted experiment; finished steps are skipped.")
QUICK = typer.Option(False, "--quick", help="Toy-size plan that runs in a few minutes (a plumbing check).")
DEVICE = typer.Option("auto", help="cpu, cuda, ... (auto: cuda when present).")


def _show_step(name: str, seconds: float | None) -> None:
    if seconds is None:
        console.print(f"[bold]→ {name}[/bold]", markup=True)
    else:
        console.print(f"[dim]✓ {name} (done earlier, {seconds:.1f} s)[/dim]", markup=True)


def _finish(result: dict) -> None:
    timings = result["timings"]
    console.print(f"Done: {result['report']}  (steps: {sum(timings.values()):.0f} s in all)")


@reproduce_app.command("shapes")
def shapes_command(out: Path = OUT, resume: bool = RESUME, quick: bool = QUICK, seed: int = typer.Option(0),
                   device: str = DEVICE) -> None:
    """On the shapes world with the shipped toy CLIP and a small GPT-2 trained from scratch (CPU)."""
    from reproduce import run_experiment
    from reproduce.shapes import shapes_experiment

    exp, before = shapes_experiment(out, quick=quick, seed=seed, device=device)
    _finish(run_experiment(exp, out, resume=resume, on_step=_show_step, before=before))


@reproduce_app.command("coco")
def coco_command(
    annotations: Path = typer.Option(..., help="Karpathy split JSON (dataset_coco.json) or any COCO-format Karpathy layout."),
    images: Path = typer.Option(..., help="Folder the annotations' image paths are relative to."),
    model: str = typer.Option(Experiment.model, help="open_clip model name (or hf:<id>)."),
    pretrained: Optional[str] = typer.Option(Experiment.pretrained, help="Pretrained tag or checkpoint file."),
    model_config: Optional[Path] = typer.Option(None, help="open_clip model-config JSON of a custom CLIP."),
    decoder: str = typer.Option(Experiment.decoder, help="Caption decoder: hub id or local folder."),
    out: Path = OUT, resume: bool = RESUME, quick: bool = QUICK, device: str = DEVICE,
    epochs: int = typer.Option(Experiment.epochs), batch_size: int = typer.Option(Experiment.batch_size),
    lr: float = typer.Option(Experiment.lr), warmup: int = typer.Option(Experiment.warmup),
    seed: int = typer.Option(Experiment.seed),
) -> None:
    """On MS-COCO (Karpathy splits) with a pretrained CLIP and GPT-2, the paper's settings (one GPU)."""
    from gaptools.errors import InputError
    from reproduce import run_experiment

    if not annotations.is_file():
        raise InputError(f"{annotations}: no such annotations file")
    if not images.is_dir():
        raise InputError(f"{images}: no such image folder")
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup)
    if quick:
        settings = dict(epochs=1, batch_size=16, lr=1e-3, warmup=10, max_train_images=200, max_test_images=20,
                        aligners=("mean",), mixup=(0.0, 1.0))
    exp = Experiment(annotations=str(annotations), images=str(images), model=model, pretrained=pretrained,
                     model_config=str(model_config) if model_config else None, decoder=decoder, seed=seed,
                     device=device, **settings)
    _finish(run_experiment(exp, out, resume=resume, on_step=_show_step))
