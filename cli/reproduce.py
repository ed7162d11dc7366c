"""`gaptools reproduce`: the seed paper's experiments in one command (shapes world, MS-COCO, Flickr30k)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaptools.cli.app import console
from gaptools.reproduce.experiment import Experiment
from gaptools.validation import MAX_SEED

reproduce_app = typer.Typer(help="Run the Unsupervised-ClipCap experiments end to end and write the report.",
                            no_args_is_help=True)

OUT = typer.Option(..., "-o", "--out", help="Experiment folder (every step is cached there).")
RESUME = typer.Option(False, "--resume", help="Continue an interrupted experiment; finished steps are skipped.")
QUICK = typer.Option(False, "--quick", help="Toy-size plan that runs in a few minutes (a plumbing check).")
DEVICE = typer.Option(Experiment.device, help="cpu, cuda, ... (auto: cuda when present).")
SEED = typer.Option(Experiment.seed, min=0, max=MAX_SEED, help="First training seed (seeds are seed, seed+1, ...); also which test "
                                          "caption feeds the text and mixup inputs.")
BOOTSTRAP = typer.Option(Experiment.bootstrap, help="Image resamples of the 95% intervals.")
#: Settings of the --quick plan on real datasets (a plumbing check on tiny subsets).
QUICK_REAL = dict(epochs=1, batch_size=16, lr=1e-3, warmup=10, max_train_images=200, max_test_images=20,
                  aligners=("mean",), mixup=(0.0, 1.0), bootstrap=100, quick=True)


def _show_step(name: str, seconds: float | None) -> None:
    if seconds is None:
        console.print(f"[bold]→ {name}[/bold]", markup=True)
    else:
        console.print(f"[dim]✓ {name} (done earlier, {seconds:.1f} s)[/dim]", markup=True)


def _finish(result: dict) -> None:
    timings = result["timings"]
    console.print(f"Done: {result['report']}  (steps: {sum(timings.values()):.0f} s in all)")


@reproduce_app.command("shapes")
def shapes_command(out: Path = OUT, resume: bool = RESUME, quick: bool = QUICK, seed: int = SEED,
                   seeds: int = typer.Option(3, help="Training seeds per captioner (the same data each time)."),
                   bootstrap: int = BOOTSTRAP, device: str = DEVICE) -> None:
    """On the shapes world with the shipped toy CLIP and a small GPT-2 trained from scratch (CPU)."""
    from gaptools.reproduce import run_experiment
    from gaptools.reproduce.shapes import shapes_experiment

    exp, before = shapes_experiment(out, quick=quick, seed=seed, seeds=seeds, bootstrap=bootstrap, device=device)
    _finish(run_experiment(exp, out, resume=resume, on_step=_show_step, before=before))


def _real_dataset(annotations: Path, images: Path, out: Path, *, quick: bool, resume: bool, **settings) -> None:
    from gaptools.errors import InputError
    from gaptools.reproduce import run_experiment

    if not annotations.is_file():
        raise InputError(f"{annotations}: no such annotations file")
    if not images.is_dir():
        raise InputError(f"{images}: no such image folder")
    if quick:
        settings.update(QUICK_REAL)
    exp = Experiment(annotations=str(annotations), images=str(images), **settings)
    _finish(run_experiment(exp, out, resume=resume, on_step=_show_step))


ANNOTATIONS = typer.Option(..., help="Karpathy split JSON (dataset_coco.json / dataset_flickr30k.json).")
IMAGES = typer.Option(..., help="Folder the annotations' image paths are relative to.")
MODEL = typer.Option(Experiment.model, help="open_clip model name (or hf:<id>).")
PRETRAINED = typer.Option(Experiment.pretrained, help="Pretrained tag or checkpoint file.")
MODEL_CONFIG = typer.Option(None, help="open_clip model-config JSON of a custom CLIP.")
DECODER = typer.Option(Experiment.decoder, help="Caption decoder: hub id or local folder.")
SEEDS = typer.Option(Experiment.seeds, help="Training seeds per captioner (the same data each time).")
EPOCHS = typer.Option(Experiment.epochs, help="Epochs (ClipCap reference code).")
BATCH = typer.Option(Experiment.batch_size, help="Batch size (ClipCap reference code).")
LR = typer.Option(Experiment.lr, help="Learning rate (ClipCap reference code).")
WARMUP = typer.Option(Experiment.warmup, help="Warm-up steps (ClipCap reference code).")


def _dataset_command(train_split_default: str, split_help: str, doc: str):
    """A ``reproduce <dataset>`` command for a Karpathy-layout dataset (COCO and Flickr30k differ in their splits)."""

    def command(
        annotations: Path = ANNOTATIONS, images: Path = IMAGES, model: str = MODEL,
        pretrained: Optional[str] = PRETRAINED, model_config: Optional[Path] = MODEL_CONFIG, decoder: str = DECODER,
        train_split: str = typer.Option(train_split_default, help=split_help),
        out: Path = OUT, resume: bool = RESUME, quick: bool = QUICK, device: str = DEVICE, seeds: int = SEEDS,
        epochs: int = EPOCHS, batch_size: int = BATCH, lr: float = LR, warmup: int = WARMUP, seed: int = SEED,
        bootstrap: int = BOOTSTRAP,
    ) -> None:
        _real_dataset(annotations, images, out, quick=quick, resume=resume, model=model, pretrained=pretrained,
                      model_config=str(model_config) if model_config else None, decoder=decoder,
                      train_split=train_split, seed=seed, seeds=seeds, device=device, epochs=epochs,
                      batch_size=batch_size, lr=lr, warmup=warmup, bootstrap=bootstrap)

    command.__doc__ = doc
    return command


reproduce_app.command("coco")(_dataset_command(
    "train+restval", "Karpathy split(s) to train on: train+restval is the usual 113k-image set; 'train' alone is 82k.",
    "On MS-COCO (Karpathy splits) with a pretrained CLIP and GPT-2, the ClipCap settings (one GPU): Table 1."))
reproduce_app.command("flickr30k")(_dataset_command(
    "train", "Karpathy split(s) to train on (Flickr30k: 29k train images).",
    "On Flickr30k (Karpathy dataset_flickr30k.json + its images folder), the same plan: Table 2."))
