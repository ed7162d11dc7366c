"""The seed paper's experiments as one cached plan (Unsupervised-ClipCap and its baselines).

1. Embed the training split (text only for the text-trained captioners, with images for
   supervised ClipCap), the fitting split (images and captions, to fit the aligners) and
   the test split.
2. Measure the gap on the test split; fit every aligner on the fitting split and compare
   them on the test split.
3. Train Unsupervised-ClipCap (text, matched captions), the ablation (text, same caption),
   the same with CapDec noise, and supervised ClipCap (images).
4. Evaluate each on the test images without correction and, for the text-trained ones,
   with each aligner; on the test captions' own embeddings; the mixup sweep for the
   supervised and the unsupervised model.
5. Write the report.

Every step is cached in the output folder (:class:`~reproduce.steps.StepRunner`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from caption.config import CAPDEC_NOISE_VARIANCE, TrainConfig
from reproduce.steps import StepRunner

#: name -> caption-train settings of the four captioners (the paper's Table 1 rows).
CAPTIONERS = {
    "uclipcap": {"source": "text", "target": "matched"},
    "same-caption": {"source": "text", "target": "same"},
    "capdec-noise": {"source": "text", "target": "same", "noise": True},
    "clipcap": {"source": "image"},
}
MIXUP_RUNS = ("uclipcap", "clipcap")


@dataclasses.dataclass
class Experiment:
    """Settings of one reproduction (all recorded in ``steps.json``)."""

    annotations: str  # Karpathy-layout captions JSON (dataset_coco.json, or the world's captions.json)
    images: str  # folder the annotations' image paths are relative to
    model: str = "ViT-B-32"  # open_clip model name (ignored with model_config)
    pretrained: str | None = "openai"  # pretrained tag or checkpoint file
    model_config: str | None = None  # open_clip model-config JSON of a custom CLIP
    decoder: str = "gpt2"  # caption decoder: hub id or local folder
    train_split: str = "train"
    fit_split: str = "val"  # aligners are fitted here, never on test
    test_split: str = "test"
    max_train_images: int | None = None  # cap on training images (quick runs)
    max_test_images: int | None = None  # cap on test images captioned
    epochs: int = TrainConfig.epochs  # training defaults: the ClipCap reference code's (caption.config)
    batch_size: int = TrainConfig.batch_size
    lr: float = TrainConfig.lr
    warmup: int = TrainConfig.warmup
    prefix_length: int = TrainConfig.prefix_length
    noise_variance: float = CAPDEC_NOISE_VARIANCE
    aligners: tuple[str, ...] | None = None  # aligners evaluated with the captioners (None: every method)
    mixup: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    beam: int = 1
    max_length: int = 30  # new tokens per generated caption
    seed: int = 0
    device: str = "auto"


def run_experiment(exp: Experiment, out: Path, *, resume: bool = False,
                   on_step: Callable[[str, float | None], None] | None = None,
                   before: Callable[[StepRunner], None] | None = None) -> dict:
    """Run every step not yet done; returns ``{"report": path, "timings": {step: seconds}}``.

    Parameters
    ----------
    exp : Experiment
    out : Path
        The experiment folder: ``sets/``, ``results/``, ``aligners/``, ``runs/``, ``evals/``, ``report/``.
    resume : bool
        Continue an interrupted experiment in ``out`` (finished steps are skipped).
    on_step : callable(name, seconds), optional
        Progress: see :class:`~reproduce.steps.StepRunner`.
    before : callable(StepRunner), optional
        Extra steps to run first (the shapes world makes its world and decoder here).
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one line per step is enough
    out = Path(out)
    runner = StepRunner(out, dataclasses.asdict(exp), resume=resume, on_step=on_step)
    if before is not None:
        before(runner)
    sets = out / "sets"
    paths = {split: sets / f"{name}.npz" for split, name in
             (("train", "train"), ("train_text", "train_text"), ("fit", "fit"), ("test", "test"))}

    runner.run("embed", lambda: _embed_all(exp, paths))
    runner.run("measure", lambda: _measure(paths["test"], out / "results" / "gap.json"))
    runner.run("align", lambda: _align(paths["fit"], paths["test"], out, exp.seed))
    for name, spec in CAPTIONERS.items():
        data = paths["train" if spec["source"] == "image" else "train_text"]
        runner.run(f"train {name}", lambda name=name, spec=spec, data=data: _train(exp, name, spec, data, out))
    evals = eval_plan(exp, out, paths["test"])
    for name, config in evals.items():
        runner.run(f"eval {name}", lambda name=name, config=config: _evaluate(config, out / "evals" / name))
    report = out / "report"
    timings = runner.timings()
    total = time.perf_counter() - runner.started
    footer = [f"Experiment wall time so far: {sum(timings.values()):.0f} s over {len(timings)} steps "
              f"(this invocation {total:.0f} s)."]
    footer += [f"Step {name}: {seconds:.1f} s" for name, seconds in timings.items()]
    _report(out, paths["test"], evals, report, footer)
    return {"report": report / "index.html", "timings": runner.timings()}


def _embed_all(exp: Experiment, paths: dict[str, Path]) -> None:
    import numpy as np

    from gaptools.datasets import read_coco, resolve_images
    from gaptools.embed import embed_dataset, load_encoder
    from gaptools.io import load_set, save_set

    encoder = load_encoder(exp.model, exp.pretrained, model_config=exp.model_config,
                           device=None if exp.device == "auto" else exp.device)
    limits = {"train": exp.max_train_images, "fit": exp.max_test_images, "test": exp.max_test_images}
    for key, split in (("train", exp.train_split), ("fit", exp.fit_split), ("test", exp.test_split)):
        records = read_coco(exp.annotations, split=split)
        if limits[key] is not None and records.n_image > limits[key]:
            records = records.select_images(np.arange(records.n_image) < limits[key])
        records, _ = resolve_images(records, exp.images)
        embed_dataset(records, encoder, paths[key], progress=False, meta={"images": str(Path(exp.images).resolve())})
    train = load_set(paths["train"])
    save_set(train.replace(image=train.image[:0], meta={**train.meta, "text_only": True}), paths["train_text"])


def _measure(test: Path, out: Path) -> None:
    from gaptools.atomic import write_json
    from gaptools.io import load_set
    from gaptools.measure import measure, measure_document

    write_json(out, measure_document([measure(load_set(test))]))


def _align(fit: Path, test: Path, out: Path, seed: int) -> None:
    from gaptools.align import METHODS, compare, fit_on_set, save_aligner
    from gaptools.align.sets import train_summary
    from gaptools.atomic import write_json
    from gaptools.io import load_set

    fit_set, test_set = load_set(fit), load_set(test)
    write_json(out / "results" / "compare.json", compare(fit_set, test_set, seed=seed))
    for method in METHODS:
        save_aligner(fit_on_set(method, fit_set), out / "aligners" / f"{method}.aligner", train=train_summary(fit_set))


def _train(exp: Experiment, name: str, spec: dict, data: Path, out: Path) -> None:
    from caption.train import TrainConfig, train

    config = TrainConfig(
        data=str(data), output=str(out / "runs" / name), source=spec["source"], target=spec.get("target"),
        noise_variance=exp.noise_variance if spec.get("noise") else 0.0, decoder=exp.decoder,
        prefix_length=exp.prefix_length, lr=exp.lr, warmup=exp.warmup, batch_size=exp.batch_size,
        epochs=exp.epochs, seed=exp.seed, device=exp.device,
    )
    train(config, overwrite=True, say=lambda line: None)


def eval_plan(exp: Experiment, out: Path, test: Path) -> dict:
    """Eval folder name -> :class:`caption.eval_run.EvalConfig` keyword arguments."""
    from gaptools.align import METHODS

    methods = METHODS if exp.aligners is None else exp.aligners
    common = dict(set=str(test), beam=exp.beam, max_length=exp.max_length, seed=exp.seed, device=exp.device)
    plan = {}
    for name, spec in CAPTIONERS.items():
        run = str(out / "runs" / name)
        plan[f"{name}-image"] = dict(run=run, **common)
        plan[f"{name}-text"] = dict(run=run, input="text", **common)
        if spec["source"] == "text":
            plan[f"{name}-aligned"] = dict(run=run, aligners=[str(out / "aligners" / f"{m}.aligner") for m in methods],
                                           **common)
        if name in MIXUP_RUNS:
            plan[f"{name}-mixup"] = dict(run=run, mixup=list(exp.mixup), **common)
    return plan


def _evaluate(config: dict, folder: Path) -> None:
    from caption.eval_run import EvalConfig, run_eval

    run_eval(EvalConfig(**config), folder, overwrite=True)


def _report(out: Path, test: Path, evals: dict, report: Path, footer: list[str]) -> None:
    from reports.build import build_report
    from reports.inputs import load_inputs

    inputs = load_inputs([out / "results" / "gap.json", out / "results" / "compare.json",
                          *[out / "evals" / name for name in evals]])
    build_report(inputs, report, sets=[test], aligner=out / "aligners" / "mean.aligner",
                 title="Unsupervised-ClipCap reproduction", extra_footer=footer)
