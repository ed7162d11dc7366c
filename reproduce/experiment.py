"""The seed paper's experiments as one cached plan (Unsupervised-ClipCap and its baselines).

1. Embed the training split (text only for the text-trained captioners, with images for
   supervised ClipCap), the fitting split (images and captions, to fit the aligners) and
   the test split.
2. Measure the gap on the test split; fit every aligner on the fitting split and compare
   them on the test split.
3. For each training seed: train Unsupervised-ClipCap (text, matched captions), the ablation
   (text, same caption), the ablation with CapDec noise, matched captions with CapDec noise
   (a combination none of the papers ran), and supervised ClipCap (images).
4. For each seed: evaluate each captioner on the test images without correction and, for the
   text-trained ones, with each aligner (``memory-projection``, DeCap's training-free
   projection, among them); on the test captions' own embeddings; the mixup sweep for the
   supervised and the unsupervised model, in the paper's reading (λ x_t + (1−λ) x_i fed as
   written) and ours (renormalised); and the paper's OT in a grid (:data:`OT_GRID`). Rows fed
   images are scored against every reference of their image (the COCO protocol the paper
   cites); rows whose input holds a test caption (text, a mixup sweep) against the other
   references of their image (leave-one-out), and so is the mean-aligned image row that the
   claims compare with text (``uclipcap-loo``).
5. Combine the seeds (mean ± sd, a hierarchical bootstrap interval over seeds and test images
   of the seed-mean beside the image-only one) and judge the paper's claims
   (:mod:`gaptools.reproduce.claims`); write the report.

The OT grid (issue 29): the paper fits T* on "N ... image/caption pairs" and multiplies them
by it, with no out-of-sample step. For ``ot-paper`` and ``ot-plan-images`` the grid crosses
where T* is fitted (the val split, applied to test images out of sample; or the test split
itself, in sample), whether the aligner renormalises its output, and whether the captioner
normalises its input, 2 × 2 × 2 cells, plus the control normalise(x − x_nn)
(``ot-paper.val.control``: the out-of-sample residual alone). The paper's cell, as we read
it, is ``ot-paper.test.raw`` fed unnormalised (:data:`gaptools.reproduce.claims.PAPER_OT_CELL`).
A renormalised in-sample plan hands the captioner a weighting of the test captions it is
scored against: a leak of the references, not a correction.

Every step is cached in the output folder (:class:`~gaptools.reproduce.steps.StepRunner`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from gaptools.caption.config import CAPDEC_NOISE_VARIANCE, TrainConfig
from gaptools.reproduce.steps import StepRunner

# settings added after experiment folders were written without them: what those experiments did
SETTINGS_BEFORE_THEY_EXISTED = {"quick": False}


@dataclasses.dataclass(frozen=True)
class Captioner:
    """How one captioner of the plan is trained (``caption train`` settings)."""

    source: str  # "text" or "image"
    target: str | None = None  # text source: "matched" or "same"
    noise: bool = False  # CapDec's input noise while training
    label: str = ""  # what the report calls it (the paper's row names where it has the row)


#: name -> the captioners of our Table 1.
CAPTIONERS = {
    "uclipcap": Captioner("text", "matched", label="Unsupervised-ClipCap"),
    "same-caption": Captioner("text", "same", label="− matched captions (decodes the same caption)"),
    "capdec-noise": Captioner("text", "same", noise=True, label="− matched captions + CapDec noise"),
    "matched-noise": Captioner("text", "matched", noise=True, label="Unsupervised-ClipCap + CapDec noise"),
    "clipcap": Captioner("image", label="ClipCap (supervised)"),
}
MIXUP_RUNS = ("uclipcap", "clipcap")
#: The OT grid: method -> (fitted on, aligner output) cells; each is fed to Unsupervised-ClipCap with and
#: without its input normalisation. Aligner files are ``aligners/ot-grid/<method>.<fit>.<output>.aligner``.
OT_GRID_METHODS = ("ot-paper", "ot-plan-images")
OT_GRID = tuple((fit, output) for fit in ("val", "test") for output in ("renorm", "raw"))
OT_CONTROL = "ot-paper.val.control"  # normalise(x − x_nn): the out-of-sample residual alone
#: Unsupervised-ClipCap is evaluated with every aligner; the other text-trained captioners with these
#: (the paper's correction and the strongest training-free one), to keep the plan's time in bounds.
SIDE_ALIGNERS = ("mean", "memory-projection")
RESULTS_FILE = "captioning.json"  # under results/: the seeds combined and the claims judged


@dataclasses.dataclass
class Experiment:
    """Settings of one reproduction (all recorded in ``steps.json``)."""

    annotations: str  # Karpathy-layout captions JSON (dataset_coco.json, or the world's captions.json)
    images: str  # folder the annotations' image paths are relative to
    model: str = "ViT-B-32"  # open_clip model name (ignored with model_config)
    pretrained: str | None = "openai"  # pretrained tag or checkpoint file
    model_config: str | None = None  # open_clip model-config JSON of a custom CLIP
    decoder: str = "gpt2"  # caption decoder: hub id or local folder
    train_split: str = "train"  # Karpathy split(s) the captioners train on ("train+restval": COCO's 113k images)
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
    max_length: int = 30  # new tokens per generated caption (our choice: captions here are short)
    seed: int = 0  # first training seed; also which test caption feeds --input text and mixup
    seeds: int = 1  # captioners are trained with seeds seed, seed+1, ..., on the same data
    bootstrap: int = 1000  # image resamples of the intervals
    device: str = "auto"
    quick: bool = False  # a --quick plan: toy sizes that check the plumbing and decide nothing

    def training_seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.seeds)]

    def methods(self) -> tuple[str, ...]:
        from gaptools.align import METHODS

        return tuple(METHODS) if self.aligners is None else tuple(self.aligners)


def run_experiment(exp: Experiment, out: Path, *, resume: bool = False,
                   on_step: Callable[[str, float | None], None] | None = None,
                   before: Callable[[StepRunner], None] | None = None) -> dict:
    """Run every step not yet done; returns ``{"report": path, "timings": {step: seconds}}``.

    Parameters
    ----------
    exp : Experiment
    out : Path
        The experiment folder: ``sets/``, ``results/``, ``aligners/``, ``runs/s<seed>/``,
        ``evals/s<seed>/``, ``report/``.
    resume : bool
        Continue an interrupted experiment in ``out`` (finished steps are skipped).
    on_step : callable(name, seconds), optional
        Progress: see :class:`~gaptools.reproduce.steps.StepRunner`.
    before : callable(StepRunner), optional
        Extra steps to run first (the shapes world makes its world and decoder here).
    """
    from transformers.utils import logging as hf_logging

    if exp.seeds < 1:
        from gaptools.errors import InputError

        raise InputError(f"--seeds must be at least 1, got {exp.seeds}")
    hf_logging.disable_progress_bar()  # one line per step is enough
    out = Path(out)
    runner = StepRunner(out, dataclasses.asdict(exp), resume=resume, on_step=on_step, added=SETTINGS_BEFORE_THEY_EXISTED)
    if before is not None:
        before(runner)
    sets = out / "sets"
    paths = {split: sets / f"{name}.npz" for split, name in
             (("train", "train"), ("train_text", "train_text"), ("fit", "fit"), ("test", "test"))}

    runner.run("embed", lambda: _embed_all(exp, paths))
    runner.run("measure", lambda: _measure(paths["test"], out / "results" / "gap.json"))
    runner.run("align", lambda: _align(paths["fit"], paths["test"], out, exp.seed))
    if ot_grid_methods(exp):
        runner.run("ot grid", lambda: _ot_grid(exp, paths["fit"], paths["test"], out))
    for seed in exp.training_seeds():
        for name, captioner in CAPTIONERS.items():
            data = paths["train" if captioner.source == "image" else "train_text"]
            runner.run(f"train {name} s{seed}",
                       lambda name=name, captioner=captioner, data=data, seed=seed:
                       _train(exp, captioner, data, run_folder(out, name, seed), seed))
    plans = {seed: eval_plan(exp, out, paths["test"], seed) for seed in exp.training_seeds()}
    for seed, plan in plans.items():
        for name, config in plan.items():
            runner.run(f"eval {name} s{seed}",
                       lambda config=config, folder=eval_folder(out, name, seed): _evaluate(config, folder))
    results = out / "results" / RESULTS_FILE
    runner.run("combine seeds", lambda: _combine(exp, out, plans, paths, results))
    report = out / "report"
    timings = runner.timings()
    total = time.perf_counter() - runner.started
    footer = [f"Experiment wall time so far: {sum(timings.values()):.0f} s over {len(timings)} steps "
              f"(this invocation {total:.0f} s)."]
    footer += [f"Step {name}: {seconds:.1f} s" for name, seconds in timings.items()]
    first = exp.training_seeds()[0]
    _report(out, paths["test"], [eval_folder(out, name, first) for name in plans[first]], results, report, footer)
    return {"report": report / "index.html", "timings": runner.timings(), "results": results}


def run_folder(out: Path, name: str, seed: int) -> Path:
    """The run folder of captioner ``name`` trained with ``seed``."""
    return out / "runs" / f"s{seed}" / name


def eval_folder(out: Path, name: str, seed: int) -> Path:
    """The eval folder ``name`` (``<captioner>-<input>``) of the captioners trained with ``seed``."""
    return out / "evals" / f"s{seed}" / name


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

    write_json(out, measure_document([measure(load_set(test), dim_ablation=True)]))


def _align(fit: Path, test: Path, out: Path, seed: int) -> None:
    from gaptools.align import METHODS, compare, fit_on_set, save_aligner
    from gaptools.align.sets import train_summary
    from gaptools.atomic import write_json
    from gaptools.io import load_set

    fit_set, test_set = load_set(fit), load_set(test)
    write_json(out / "results" / "compare.json", dict(compare(fit_set, test_set, seed=seed)))  # its JSON document
    for method in METHODS:
        save_aligner(fit_on_set(method, fit_set), out / "aligners" / f"{method}.aligner", train=train_summary(fit_set))


def ot_grid_methods(exp: Experiment) -> tuple[str, ...]:
    """The OT readings of the paper the plan runs in the grid (those among its aligners)."""
    return tuple(m for m in OT_GRID_METHODS if m in exp.methods())


def ot_grid_files(exp: Experiment, out: Path) -> list[Path]:
    """The grid's aligner files, in report order (every cell of each method, then the control)."""
    folder = out / "aligners" / "ot-grid"
    files = [folder / f"{m}.{fit}.{output}.aligner" for m in ot_grid_methods(exp) for fit, output in OT_GRID]
    return files + ([folder / f"{OT_CONTROL}.aligner"] if "ot-paper" in ot_grid_methods(exp) else [])


def _ot_grid(exp: Experiment, fit: Path, test: Path, out: Path) -> None:
    """Fit each cell's aligner: on the val split, or in sample on the test split; renormalised or not."""
    from gaptools.align import fit_on_set, save_aligner
    from gaptools.align.sets import train_summary
    from gaptools.io import load_set

    sets = {"val": load_set(fit), "test": load_set(test)}
    for path in ot_grid_files(exp, out):
        method, where, output = path.name[: -len(".aligner")].split(".")
        params = {"renormalize": output != "raw", "random_state": exp.seed}
        if output == "control":
            params["rescale"] = "residual"
        aligner = fit_on_set(method, sets[where], params)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_aligner(aligner, path, train=train_summary(sets[where]))


def _train(exp: Experiment, captioner: Captioner, data: Path, folder: Path, seed: int) -> None:
    from gaptools.caption.train import train

    config = TrainConfig(
        data=str(data), output=str(folder), source=captioner.source, target=captioner.target,
        noise_variance=exp.noise_variance if captioner.noise else 0.0, decoder=exp.decoder,
        prefix_length=exp.prefix_length, lr=exp.lr, warmup=exp.warmup, batch_size=exp.batch_size,
        epochs=exp.epochs, seed=seed, device=exp.device,
    )
    train(config, overwrite=True)


def eval_plan(exp: Experiment, out: Path, test: Path, seed: int) -> dict:
    """Eval folder name -> :class:`gaptools.caption.eval_run.EvalConfig` for the captioners trained with ``seed``.

    Every training seed is evaluated on the same inputs: the test caption that feeds ``--input
    text`` and mixup is drawn with ``exp.seed``, so rows of different seeds pair image by image.
    References (``caption eval``'s ``auto``): rows fed images are scored against all references
    of their image, rows whose input holds that caption (text; a mixup sweep, every λ of it)
    against the others (leave-one-out); ``uclipcap-loo`` scores the mean-aligned images against
    leave-one-out references too, for the claims that compare them with text.
    """
    from gaptools.caption.eval_run import LEAVE_ONE_OUT, EvalConfig

    common = dict(set=str(test), beam=exp.beam, max_length=exp.max_length, seed=exp.seed, device=exp.device,
                  bootstrap=0)  # intervals come from combining the seeds
    plan = {}
    for name, captioner in CAPTIONERS.items():
        run = str(run_folder(out, name, seed))
        plan[f"{name}-image"] = EvalConfig(run=run, **common)
        plan[f"{name}-text"] = EvalConfig(run=run, input="text", **common)
        methods = [m for m in exp.methods() if name == "uclipcap" or m in SIDE_ALIGNERS]
        if captioner.source == "text" and methods:
            plan[f"{name}-aligned"] = EvalConfig(
                run=run, aligners=[str(out / "aligners" / f"{m}.aligner") for m in methods], **common)
        if name in MIXUP_RUNS:
            plan[f"{name}-mixup"] = EvalConfig(run=run, mixup=list(exp.mixup), **common)
            plan[f"{name}-mixup-renormalised"] = EvalConfig(run=run, mixup=list(exp.mixup), mixup_rule="renormalised",
                                                            **common)
    uclipcap = str(run_folder(out, "uclipcap", seed))
    if "mean" in exp.methods():
        plan["uclipcap-loo"] = EvalConfig(run=uclipcap, aligners=[str(out / "aligners" / "mean.aligner")],
                                          references=LEAVE_ONE_OUT, **common)
    grid = [str(p) for p in ot_grid_files(exp, out)]
    if grid:
        plan["uclipcap-otgrid"] = EvalConfig(run=uclipcap, aligners=grid, **common)
        plan["uclipcap-otgrid-unnormalised"] = EvalConfig(run=uclipcap, aligners=grid, normalize=False, **common)
    return plan


def _evaluate(config, folder: Path) -> None:
    from gaptools.caption.eval_run import run_eval

    run_eval(config, folder, overwrite=True)


def _combine(exp: Experiment, out: Path, plans: dict, paths: dict, path: Path) -> None:
    from gaptools.atomic import write_json
    from gaptools.reproduce.results import combine

    folders = {seed: [eval_folder(out, name, seed) for name in plan] for seed, plan in plans.items()}
    write_json(path, combine(exp, folders, sets=paths, compare=out / "results" / "compare.json"))


def _report(out: Path, test: Path, evals: list[Path], results: Path, report: Path, footer: list[str]) -> None:
    from gaptools.reports.build import build_report
    from gaptools.reports.inputs import load_inputs

    inputs = load_inputs([out / "results" / "gap.json", out / "results" / "compare.json", results, *evals])
    build_report(inputs, report, sets=[test], aligner=out / "aligners" / "mean.aligner", images=_gallery_folder(test),
                 title="Unsupervised-ClipCap reproduction", extra_footer=footer)


def _gallery_folder(test: Path) -> Path | None:
    """The test images' folder when the set's image ids are its file names (the shapes world), else None."""
    from gaptools.io import load_set

    eset = load_set(test)
    folder = eset.meta.get("images")
    if not folder or eset.image_id is None:
        return None
    folder = Path(folder)
    return folder if all((folder / str(i)).is_file() for i in eset.image_id) else None
