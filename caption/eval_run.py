"""The evaluation driver: a trained run + an embedding set -> captions, scores, an eval folder.

One evaluation runs one or more *configurations* over the images of a set that have
captions (their captions are the references):

- ``input="image"``: each image's embedding (the usual test of an Unsupervised-ClipCap run);
- ``input="text"``: one caption embedding per image, drawn with ``seed`` (the in-modality
  reference point); the captions drawn are recorded in ``config.json``;
- ``aligners``: each saved aligner (``gaptools align``) applied to the inputs first, one
  configuration per aligner; it must map the input modality toward the run's training
  modality (image-to-text for a text-trained run fed images);
- ``mixup``: for each λ, the paper's ``λ x_t + (1−λ) x_i`` with the same seeded caption per
  image (Fig. 3 of the seed paper; λ is the text share, so λ = 0 is the image input and λ = 1
  the text input, and each configuration's ``input`` says so: ``image``, ``mixup``, ``text``).
  ``mixup_rule="paper"`` (the default) feeds that interpolation to the captioner as it is: each
  end normalised as the run normalises its inputs, then mixed, and not normalised again (norm
  ≈ 0.8 at λ = 0.5 on CLIP-like pairs; λ = 0 and 1 are the image and text inputs); ``"renormalised"``, our
  other reading, scales it to unit norm (``gaptools.mixup(..., renormalize=True)``) and keeps
  the run's own normalisation; its configurations are named ``mixup-<λ>-renormalised``.

References: where a configuration's input holds the embedding of one of the image's own
captions (``input="text"``, a mixup sweep with some λ > 0), that caption is left out of the
image's references (``references="auto"``, the default: "leave-one-out"), else a captioner that
reproduces its input would score against itself; a mixup sweep keeps one protocol for all its λ
(λ = 0 included), so its points compare like with like. Image input is otherwise scored against
every reference (``"all"``, the COCO protocol). ``"all"`` or ``"leave-one-out"`` force one rule
for every configuration (leave-one-out with image input removes the same seeded caption, so image
and text rows of one seed are scored against the same references). An image left without
references is not scored and is listed in ``metrics.json`` (``unscored``).

Every input then goes through the run's own input transform (:func:`gaptools.caption.data.prepare_inputs`:
normalisation and the C3 text mean, never the training noise; ``normalize`` overrides the run's
normalisation, as the paper's mixup does), the mapper, and
:func:`gaptools.caption.generate.generate`; captions are scored by :func:`gaptools.caption.evaluate.score_captions`,
and, for a shapes-world set, against the true scenes (:func:`gaptools.world.score_captions`).
Each configuration also gets the :func:`gaptools.caption.evaluate.diversity` of its captions, with
``novel_fraction`` against the run's training captions when its training set is still where the
run recorded it.

The eval folder (written to a temporary folder, then renamed into place)::

    metrics.json                 {"kind": "caption.eval", "version": 1, "run", "set", "n_images",
                                  "configurations": [{"name", "input", "aligner", "mixup",
                                                      "mixup_rule", "normalize", "beam",
                                                      "references", "metrics", "ci95", "n_scored",
                                                      "unscored", "reference_counts",
                                                      "caption_average_of", "diversity",
                                                      "predictions", "image_stats"}]}
    config.json                  every setting, the run's input transform, the captions drawn
    predictions.json             COCO results [{"image_id", "caption"}] (one configuration), or
    predictions_<name>.json      one per configuration
    image_stats.npz              per-image statistics of the scores (:mod:`gaptools.caption.bootstrap`), or
    image_stats_<name>.npz       one per configuration
    checksums.json               the SHA-256 of every file above (:mod:`gaptools.checksums`)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from gaptools import __version__
from gaptools.atomic import write_json
from gaptools.caption.bootstrap import ImageStats, save_image_stats
from gaptools.caption.config import MAX_NEW_TOKENS
from gaptools.checksums import write_manifest
from gaptools.device import resolve_device
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set
from gaptools.limits import MAX_BOOTSTRAP
from gaptools.outputs import EVAL as EVAL_KIND
from gaptools.outputs import building_folder, check_output_folder, run_lock
from gaptools.validation import check_captions

RESULT_KIND = "caption.eval"
RESULT_VERSION = 1
INPUTS = ("image", "text")
MIXUP_RULES = ("paper", "renormalised")
ALL, LEAVE_ONE_OUT = "all", "leave-one-out"
REFERENCES = ("auto", ALL, LEAVE_ONE_OUT)
WORLD_DATASET = "shapes-world"


@dataclasses.dataclass
class EvalConfig:
    """Settings of one ``caption eval`` (every field is recorded in ``config.json``)."""

    run: str  # run folder written by `caption train` (needs final/)
    set: str  # embedding set (.npz) with captions: the images to caption and their references
    input: str = "image"  # "image" or "text" (one seeded caption embedding per image)
    aligners: list[str] = dataclasses.field(default_factory=list)  # saved aligners, one configuration each
    mixup: list[float] | None = None  # λ values (text share) of a mixup sweep; None = no mixup
    beam: int = 1  # 1 = greedy, k = beam search with k beams
    max_length: int = MAX_NEW_TOKENS  # most new tokens per caption
    batch_size: int = 64  # images decoded together
    seed: int = 0  # which caption of each image --input text / --mixup use
    limit: int | None = None  # only the first N captioned images (quick looks)
    spice: bool = False  # also SPICE (needs Java 8 and a Stanford CoreNLP download)
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", ...
    references: str = "auto"  # "auto": leave-one-out where a caption embedding goes in, else all; "all"; "leave-one-out"
    bootstrap: int = 1000  # image resamples for the 95% intervals of the scores (0: none)
    bootstrap_seed: int = 0  # seed of those resamples
    mixup_rule: str = "paper"  # "paper": λ x_t + (1−λ) x_i fed as it is; "renormalised": scaled to unit norm
    normalize: bool | None = None  # the captioner's input normalisation: None = the run's own; False/True override

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise InputError(f"unknown --input '{self.input}'", hint=f"valid: {', '.join(INPUTS)}")
        if self.mixup_rule not in MIXUP_RULES:
            raise InputError(f"unknown mixup rule '{self.mixup_rule}'", hint=f"valid: {', '.join(MIXUP_RULES)}")
        if self.references not in REFERENCES:
            raise InputError(f"unknown --references '{self.references}'", hint=f"valid: {', '.join(REFERENCES)}")
        if not 0 <= self.bootstrap <= MAX_BOOTSTRAP:
            raise InputError(f"--bootstrap must be 0 (no intervals) to {MAX_BOOTSTRAP:,}, got {self.bootstrap}")
        if self.mixup is not None:
            from gaptools.mixing import check_lambda

            if not self.mixup:
                raise InputError("--mixup needs at least one λ in [0, 1]")
            self.mixup = [check_lambda(lam) for lam in self.mixup]
            if self.input != "image" or self.aligners:
                raise InputError("--mixup mixes each image with one of its captions: it goes without --input text "
                                 "and without --aligner")
        for name in ("beam", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be at least 1, got {self.limit}")

    def configurations(self) -> list[dict]:
        """One dict per configuration: ``name, input, aligner, mixup, mixup_rule, normalize, beam, references``.

        ``input`` is what the captioner is fed: ``image``, ``text``, or for a mixup λ ``image``
        (λ = 0), ``text`` (λ = 1) or ``mixup``. ``normalize`` is the captioner's input
        normalisation (None: the run's own).
        """
        if self.mixup is not None:
            tail = "-renormalised" if self.mixup_rule == "renormalised" else ""
            specs = [(f"mixup-{lam:g}{tail}", None, lam) for lam in self.mixup]
        elif self.aligners:
            specs = [(f"aligner-{Path(a).stem}", a, None) for a in self.aligners]
        else:
            specs = [(self.input, None, None)]
        names = [s[0] for s in specs]
        sweep_holds_caption = self.mixup is not None and any(self.mixup)  # one protocol for the whole sweep
        normalize = self.normalize
        if self.mixup is not None and self.mixup_rule == "paper" and normalize is None:
            normalize = False  # the paper's interpolation reaches the captioner as it is
        out = []
        for i, (name, aligner, lam) in enumerate(specs):
            if names.count(name) > 1:
                name = f"{name}-{i + 1}"
            holds_caption = self.input == "text" or sweep_holds_caption  # a caption embedding goes in
            references = self.references if self.references != "auto" else LEAVE_ONE_OUT if holds_caption else ALL
            fed = self.input if lam is None else "image" if lam == 0 else "text" if lam == 1 else "mixup"
            out.append({"name": name, "input": fed, "aligner": aligner, "mixup": lam,
                        "mixup_rule": None if lam is None else self.mixup_rule, "normalize": normalize,
                        "beam": self.beam, "references": references})
        return out


@dataclasses.dataclass
class EvalData:
    """The captioned images of a set, with their references and one seeded caption each.

    Attributes
    ----------
    eset : EmbeddingSet
    groups : ndarray, shape (N,), int64
        Image (``text_image`` value) of each evaluated image.
    keys : list of str, length N
        Image ids as written to predictions (the set's ``image_id``, else the row number).
    ids : list of int or str, length N
        The same ids as the predictions' ``image_id`` values (ints when the set has none).
    chosen : ndarray, shape (N,), int64
        Caption row drawn (with the seed) for each image: ``--input text`` and ``--mixup``.
    references : dict of str to list of str
        All captions of each image.
    caption_rows : list of list of int, length N
        The caption rows of each image, in the order of ``references``.
    """

    eset: EmbeddingSet
    groups: np.ndarray
    keys: list
    ids: list
    chosen: np.ndarray
    references: dict
    caption_rows: list = dataclasses.field(default_factory=list)


def eval_data(eset: EmbeddingSet, *, seed: int, limit: int | None = None) -> EvalData:
    """Select the images that have captions and draw one caption of each with ``seed``."""
    if eset.caption is None or eset.n_text == 0:
        raise InputError(f"{eset.source}: has no caption strings, so there are no references to score against",
                         hint="embed the set with its captions (gaptools embed keeps them)")
    check_captions(eset.caption, source=eset.source)  # an empty reference breaks the scorers' tokenizer
    groups = np.unique(eset.text_image)[:limit]
    chosen = eset.one_caption_per_image(np.random.default_rng(seed))[groups]
    ids = [str(eset.image_id[g]) for g in groups] if eset.image_id is not None else [int(g) for g in groups]
    keys = [str(i) for i in ids]
    by_group: dict[int, list[int]] = {}
    for row, g in enumerate(eset.text_image):
        by_group.setdefault(int(g), []).append(row)
    rows = [by_group[int(g)] for g in groups]
    references = {k: [str(eset.caption[r]) for r in rs] for k, rs in zip(keys, rows)}
    return EvalData(eset=eset, groups=groups, keys=keys, ids=ids, chosen=chosen, references=references,
                    caption_rows=rows)


def scoring_references(data: EvalData, references: str) -> dict[str, list[str]]:
    """Each image's references: all its captions (``"all"``), or all but the one drawn for it
    (``"leave-one-out"``: ``data.chosen``, the caption whose embedding the input holds).
    An image may be left with none (it had one caption)."""
    if references == ALL:
        return data.references
    return {k: [str(data.eset.caption[r]) for r in rows if r != c]
            for k, rows, c in zip(data.keys, data.caption_rows, data.chosen.tolist())}


def raw_inputs(data: EvalData, configuration: dict, run_source: str, *, normalize_ends: bool = False) -> np.ndarray:
    """The embeddings one configuration feeds the run, before the run's input transform.

    Parameters
    ----------
    normalize_ends : bool
        The run normalises its inputs: with the paper's mixup rule each end (image, caption) is
        normalised before mixing, as the run would normalise it alone, so λ = 0 and λ = 1 are
        exactly the image and text inputs and only the interpolation keeps its shorter norm.

    Returns
    -------
    ndarray, shape (N, D), float32
    """
    eset = data.eset
    if configuration["mixup"] is not None:
        from gaptools import mixup
        from gaptools.caption.data import prepare_inputs

        image, text = _images(data), eset.text[data.chosen]
        if configuration["mixup_rule"] == "renormalised":
            return mixup(image, text, configuration["mixup"], renormalize=True)
        if normalize_ends:
            image, text = prepare_inputs(image, normalize=True), prepare_inputs(text, normalize=True)
        return mixup(image, text, configuration["mixup"], renormalize=False)
    x = _images(data) if configuration["input"] == "image" else eset.text[data.chosen]
    if configuration["aligner"] is not None:
        x = _apply_aligner(configuration["aligner"], x, configuration["input"], run_source, eset)
    return x


def _images(data: EvalData) -> np.ndarray:
    if data.eset.n_image == 0:
        raise InputError(f"{data.eset.source}: is a text-only set (0 image embeddings)",
                         hint="use --input text, or a set with image embeddings")
    return data.eset.image[data.groups]


def _apply_aligner(path: str, x: np.ndarray, modality: str, run_source: str, eset: EmbeddingSet) -> np.ndarray:
    from gaptools.align import load_aligner

    saved = load_aligner(path)
    dim = eset.dim
    saved.warn_model_mismatch(eset.meta)
    if modality == run_source:
        raise InputError(f"{path}: the run was trained on {run_source} embeddings and the input is {modality}: "
                         "there is no gap to align", hint="drop --aligner, or use the other --input")
    needed = f"{modality}-to-{run_source}"
    if saved.direction != needed:
        raise InputError(f"{path}: the aligner was saved for {saved.direction}, but feeding {modality} embeddings "
                         f"to a run trained on {run_source} embeddings needs {needed}",
                         hint=f"save the aligner with direction {needed}")
    if saved.aligner.dim_ != dim:
        raise InputError(f"{path}: the aligner was fitted on {saved.aligner.dim_}-dimensional embeddings, "
                         f"the set has {dim}")
    return saved.aligner.transform(x) if modality == "image" else saved.aligner.inverse_transform(x)


def caption_inputs(model, tokenizer, x: np.ndarray, *, beam: int, max_length: int, batch_size: int,
                   device) -> list[str]:
    """Captions of prepared inputs ``x`` (N, D): mapper prefix, batched decoding, detokenisation."""
    import torch

    from gaptools.caption.generate import generate

    captions = []
    step = batch_size * 16  # prefixes held at once: bounded memory for large sets
    with torch.inference_mode():
        for start in range(0, len(x), step):
            prefix = model.embed_prefix(torch.from_numpy(x[start : start + step]).to(device))  # (n, L, H)
            tokens = generate(model.decoder, prefix, eos_token_id=tokenizer.eos_token_id, beam=beam,
                              max_length=max_length, batch_size=batch_size)
            captions.extend(tokenizer.decode(t, skip_special_tokens=True).strip() for t in tokens)
    return captions


def world_folder(eset: EmbeddingSet) -> Path | None:
    """The shapes-world folder a set was embedded from (``meta["annotations"]`` is its captions.json), or None."""
    if eset.meta.get("dataset") != WORLD_DATASET or not eset.meta.get("annotations"):
        return None
    folder = Path(eset.meta["annotations"]).parent
    return folder if folder.is_dir() else None


def world_metrics(scenes: list[dict], predictions: list[dict], source: str) -> dict:
    """Shapes-world figures (x100): exact-scene accuracy and the F1 of each attribute against the true scenes."""
    from gaptools.world import score_captions

    result = score_captions(scenes, predictions, source=source)
    figures = {"world_exact_scene": 100.0 * result["exact_scene"]}
    for attribute, entry in result["attributes"].items():
        figures[f"world_{attribute}_f1"] = None if entry["f1"] is None else 100.0 * entry["f1"]
    return figures


def run_eval(config: EvalConfig, out: str | os.PathLike, *, overwrite: bool = False,
             say: Callable[[str], None] = lambda line: None) -> dict:
    """Caption, score and write the eval folder ``out``; returns the ``metrics.json`` document.

    Raises
    ------
    OutputError
        ``out`` is a file, is or holds an input, holds anything but an earlier eval folder, or an
        earlier eval folder without ``overwrite``; another process is writing it.
    InputError
        The run has no final model; the set
        has no captions or another dimension than the run; an aligner of another dimension
        or direction; a text-only set with image input.
    """
    out = Path(out)
    check_output_folder(out, kind=EVAL_KIND, option="-o", inputs=[config.run, config.set, *config.aligners],
                        overwrite=overwrite)
    with run_lock(out, command="caption eval"):
        return _run_eval(config, out, overwrite, say)


def _run_eval(config: EvalConfig, out: Path, overwrite: bool, say: Callable[[str], None]) -> dict:
    from gaptools.caption.checkpoint import load_run
    from gaptools.caption.data import prepare_inputs
    from gaptools.caption.evaluate import require_java, require_spice, score_with_intervals

    require_java()
    if config.spice:
        require_spice()  # before minutes of decoding, not after
    configurations = config.configurations()
    eset = load_set(config.set)
    device = str(resolve_device(config.device))
    model, tokenizer, run_config = load_run(config.run, device)
    config = dataclasses.replace(config, max_length=model.fit_tokens(config.max_length, option="--max-length", say=say))
    if eset.dim != run_config["clip_dim"]:
        raise InputError(f"{eset.source}: embeddings have dimension {eset.dim} but the run {config.run} was trained "
                         f"on {run_config['clip_dim']}", hint="evaluate on a set embedded with the run's CLIP model")
    data = eval_data(eset, seed=config.seed, limit=config.limit)
    inputs = [raw_inputs(data, c, run_config["source"], normalize_ends=run_config["normalize"])
              for c in configurations]  # all checks before decoding
    references = {c["name"]: scoring_references(data, c["references"]) for c in configurations}
    empty = [name for name, refs in references.items() if not any(refs.values())]
    if empty:
        raise InputError(f"{eset.source}: every image has one caption, so leave-one-out references ({empty[0]}) "
                         "leave nothing to score against", hint="use a set with several captions per image")
    say(f"{len(data.groups)} images, {len(configurations)} configuration(s), beam {config.beam}, on {device}")
    train_captions, train_tokens = _training_tokens(run_config, say)
    scenes = _world_scenes(eset, say)
    files, entries = {}, []
    for configuration, x in zip(configurations, inputs):
        normalize = run_config["normalize"] if configuration["normalize"] is None else configuration["normalize"]
        x = prepare_inputs(x, normalize=normalize, text_mean=run_config.get("text_mean"))
        captions = caption_inputs(model, tokenizer, x, beam=config.beam, max_length=config.max_length,
                                  batch_size=config.batch_size, device=device)
        predictions = [{"image_id": i, "caption": c} for i, c in zip(data.ids, captions)]
        say(f"{configuration['name']}: captioned; scoring")
        scored, stats = score_with_intervals(dict(zip(data.keys, captions)), references[configuration["name"]],
                                             spice=config.spice, source=configuration["name"],
                                             n_boot=config.bootstrap, seed=config.bootstrap_seed,
                                             train_tokens=train_tokens)
        if scenes is not None:
            scored["metrics"].update(world_metrics(scenes, predictions, configuration["name"]))
        suffix = "" if len(configurations) == 1 else f"_{configuration['name']}"
        name, stats_name = f"predictions{suffix}.json", f"image_stats{suffix}.npz"
        files[name], files[stats_name] = predictions, stats
        entries.append({**configuration, **scored, "predictions": name, "image_stats": stats_name})
    doc = {"kind": RESULT_KIND, "version": RESULT_VERSION, "run": str(config.run), "set": str(config.set),
           "n_images": len(data.groups), "configurations": entries}
    files["metrics.json"] = doc
    files["config.json"] = {
        "eval": dataclasses.asdict(config), "device": device, "gaptools_version": __version__,
        "run_input_transform": {k: run_config.get(k) for k in ("source", "target", "normalize", "subtract_text_mean")},
        "set_meta": eset.meta, "image_ids": data.ids, "training_captions": train_captions,
        "caption_of_image": data.chosen.tolist() if (config.input == "text" or config.mixup or any(
            c["references"] == LEAVE_ONE_OUT for c in configurations)) else None,
    }
    _write_folder(out, files, overwrite)
    return doc


def _training_tokens(run_config: dict, say: Callable[[str], None]) -> tuple[str | None, set[str] | None]:
    """The run's training set and its captions, PTB-tokenised (``novel_fraction``); (None, None),
    said, when the set is not where the run recorded it or cannot be read."""
    from gaptools.caption.evaluate import read_caption_corpus, token_set

    data = (run_config.get("train") or {}).get("data")
    if not data or not Path(data).is_file():
        say(f"the run's training set ({data}) is not here: no novel_fraction")
        return None, None
    try:
        return str(data), token_set(read_caption_corpus(data))
    except InputError as exc:
        say(f"the run's training set could not be read ({exc}): no novel_fraction")
        return None, None


def _world_scenes(eset: EmbeddingSet, say: Callable[[str], None]) -> list[dict] | None:
    folder = world_folder(eset)
    if folder is None:
        if eset.meta.get("dataset") != WORLD_DATASET:
            return None
        from gaptools.demo import world_scenes

        scenes = world_scenes(eset)  # the shipped demo's world regenerates from its recipe
        meta = eset.meta
        if scenes is None:
            where = Path(meta.get("annotations") or "world/captions.json").parent
            say(f"a shapes-world set, but its world folder ({meta.get('annotations')}) is not here: no attribute "
                f"figures; make it with `gaptools world generate -o {where} --images {meta.get('world_images')} "
                f"--seed {meta.get('world_seed')}` and the settings the world was made with")
        else:
            say(f"true scenes of the {len(scenes)} images regenerated from the shipped demo's world recipe "
                "(their captions match the set's): attribute figures")
        return scenes
    from gaptools.world import load_scenes

    return load_scenes(folder)


def _write_folder(out: Path, files: dict, overwrite: bool) -> None:
    """Write every file to a temporary folder beside ``out``, then swap it into place."""
    with building_folder(out, kind=EVAL_KIND, replace=overwrite) as tmp:
        for name, obj in files.items():
            save_image_stats(tmp / name, obj) if isinstance(obj, ImageStats) else write_json(tmp / name, obj)
        write_manifest(tmp, {name: tmp / name for name in files})  # verified by readers (reports)
