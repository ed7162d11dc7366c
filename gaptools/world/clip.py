"""A toy CLIP trained on a shapes world with open_clip's own model class and loss.

The architecture is data: an open_clip model-config dict (``embed_dim``, ``vision_cfg``,
``text_cfg``), written as ``model.json`` beside ``checkpoint.pt`` so the pair loads with
``open_clip.create_model(..., pretrained="checkpoint.pt")`` like any open_clip checkpoint.
Text is tokenised with open_clip's own tokenizer and keeps its ids (the text tower pools at
the end-of-text token, the highest id), so the token table keeps its 49,408 rows; the rows
of tokens the world's training captions never use are zeroed at initialisation and, never
receiving a gradient, stay zero (so the checkpoint compresses well).

Training: ``open_clip.ClipLoss`` on (image, one random caption of it) batches, AdamW, with
``logit_scale`` in its own parameter group (own learning rate, no weight decay, clamped at
ln 100). A feasibility probe on a 2-core CPU (before this module was written) found that the learned temperature
sets the size of the modality gap: with the scale barely moving the gap shrank to ‖Δ‖ ≈ .22,
with its own learning rate it reached scale ≈ 67 and kept ‖Δ‖ ≈ .39.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gaptools.atomic import atomic_write, write_json
from gaptools.datasets.files import read_json
from gaptools.errors import InputError
from gaptools.io import read_torch
from gaptools.resume import check_same_settings
from gaptools.validation import check_number, check_seed
from gaptools.world.generate import load_captions, read_manifest, world_captions, world_params
from gaptools.world.presets import DEFAULT_PRESET, get_preset

CHECKPOINT, MODEL_CONFIG, METRICS = "checkpoint.pt", "model.json", "metrics.json"
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp of the learned logit scale (temperature 0.01)
SCHEDULES = ("constant", "cosine")
# settings added after checkpoints were saved without them: what those trainings did
SETTINGS_BEFORE_THEY_EXISTED = {"fixed_projection": False, "schedule": "constant", "name_looks": None}


@dataclasses.dataclass
class TrainSettings:
    """How the toy CLIP is trained.

    Attributes
    ----------
    batch_size : int
        Images per step (each with one of its captions, drawn at random).
    lr : float
        AdamW learning rate of every weight but ``logit_scale``.
    logit_scale_lr : float
        Learning rate of ``logit_scale`` (no weight decay; clamped at ln 100). The
        temperature it learns sets the size of the modality gap; 0 keeps it at its start.
    init_logit_scale : float
        The logit scale (1/τ) at the start; CLIP's and open_clip's default is 1/0.07.
    weight_decay : float
        AdamW decay of matrices (not of gains, biases, embeddings of position, or the scale).
    warmup_steps : int
        Linear warm-up of both learning rates.
    schedule : {"constant", "cosine"}
        After the warm-up, keep the learning rates (``constant``) or decay them to zero along a
        half cosine ending at ``max_steps`` (``cosine``, CLIP's schedule; needs ``max_steps``).
    minutes : float or None
        Training-time budget (all runs of a resumed training together); None: no limit.
    max_steps : int or None
        Step budget (all runs together); None: no limit. One of the budgets must be set.
    seed : int
        Seed of the initial weights and of the batches.
    fixed_projection : bool
        Hold both towers' output projections at the identity (never trained), so that the
        embedding's coordinates are those of the towers' final LayerNorms; needs
        ``embed_dim`` equal to both tower widths. The checkpoint keeps the identity matrices,
        so it still loads with open_clip. A lever of issue 28: in CLIP a few coordinates carry
        most of the gap, and a trained projection mixes every coordinate.
    name_looks : float or None
        Train on the world's train captions written again with only
        :attr:`gaptools.world.WorldParams.name_looks` set to this (the world needs ``looks``), so
        that they name each image's look with this chance; the world's own captions, which the
        test retrieval and every embedding of the world use, stay as they are. So the toy CLIP
        trains on other captions than the dataset's, as CLIP trains on web captions that name a
        photo's style and is measured on COCO's. None: train on the world's own captions.
    """

    batch_size: int = 256
    lr: float = 1e-3
    logit_scale_lr: float = 2e-2
    init_logit_scale: float = 1 / 0.07
    weight_decay: float = 0.1
    warmup_steps: int = 50
    schedule: str = "constant"
    minutes: float | None = 10.0
    max_steps: int | None = None
    seed: int = 0
    fixed_projection: bool = False
    name_looks: float | None = None

    def __post_init__(self) -> None:
        if self.minutes is None and self.max_steps is None:
            raise InputError("training needs a budget: --minutes or --steps")
        if self.batch_size < 2:
            raise InputError(f"--batch-size {self.batch_size}: a contrastive batch needs at least 2 images")
        if (self.minutes is not None and self.minutes <= 0) or (self.max_steps is not None and self.max_steps < 1):
            raise InputError("--minutes and --steps must be positive")
        if self.minutes is not None:
            check_number(self.minutes, "--minutes", minimum=0, above=True)
        check_number(self.lr, "--lr", minimum=0, above=True)
        check_number(self.logit_scale_lr, "--logit-scale-lr", minimum=0)
        check_number(self.init_logit_scale, "--init-logit-scale", minimum=1)
        if self.init_logit_scale > MAX_LOGIT_SCALE:
            raise InputError(f"--init-logit-scale {self.init_logit_scale}: CLIP clamps the scale at {MAX_LOGIT_SCALE}")
        check_number(self.weight_decay, "--weight-decay", minimum=0)
        check_seed(self.seed)
        if self.schedule not in SCHEDULES:
            raise InputError(f"--schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.schedule == "cosine" and self.max_steps is None:
            raise InputError("--schedule cosine decays to zero at --steps: give --steps")
        if self.name_looks is not None:
            check_number(self.name_looks, "--name-looks", minimum=0, maximum=1)

    def lr_factor(self, step: int) -> float:
        """Multiplier of the peak learning rates at 0-based ``step``: warm-up, then the schedule."""
        warm = min(1.0, (step + 1) / max(1, self.warmup_steps))
        if self.schedule == "constant" or step < self.warmup_steps:
            return warm
        done = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def build_model(config: dict, *, seed: int = 0):
    """An ``open_clip.CLIP`` built from a model-config dict, initialised from ``seed``.

    Parameters
    ----------
    config : dict
        open_clip model config: ``{"embed_dim", "vision_cfg": {...}, "text_cfg": {...}}``.
    seed : int
        Seed of the initial weights (the global torch generator is left as it was).
    """
    import open_clip

    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return open_clip.CLIP(embed_dim=config["embed_dim"], vision_cfg=config["vision_cfg"],
                                  text_cfg=config["text_cfg"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"bad model config ({type(exc).__name__}: {exc})",
                         hint="expected open_clip's format: embed_dim, vision_cfg, text_cfg") from None


def load_model_config(path: str | os.PathLike) -> dict:
    """Read an open_clip model-config JSON."""
    config = read_json(path)
    if not isinstance(config, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(config):
        raise InputError(f"{path}: not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    return config


def _tokenizer(config: dict):
    import open_clip

    return open_clip.get_tokenizer("ViT-B-32", context_length=config["text_cfg"]["context_length"])


def _split_data(world: Path, split: str, config: dict,
                name_looks: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Preprocessed images (N, 3, S, S), tokens (N_txt, L) and caption→image rows (N_txt,) of one split.

    ``name_looks``: the captions written again with that chance of naming looks
    (:attr:`TrainSettings.name_looks`); None: the world's own captions.
    """
    import open_clip
    from PIL import Image

    entries = [e for e in load_captions(world) if e["split"] == split]
    if not entries:
        raise InputError(f"{world}: the world has no '{split}' images")
    transform = open_clip.image_transform(config["vision_cfg"]["image_size"], is_train=False)
    images = []
    for e in entries:
        with Image.open(world / "images" / e["filepath"] / e["filename"]) as im:
            images.append(transform(im.convert("RGB")))
    if name_looks is None:
        sentences = [[s["raw"] for s in e["sentences"]] for e in entries]
    else:
        params = world_params(world)
        if not params.looks:
            raise InputError(f"{world}: --name-looks {name_looks} needs a world with looks (generate it with --looks)")
        params = dataclasses.replace(params, name_looks=name_looks)
        sentences = [world_captions(params, e["imgid"]) for e in entries]
    captions = [c for group in sentences for c in group]
    text_image = torch.tensor([row for row, group in enumerate(sentences) for _ in group])
    return torch.stack(images), _tokenizer(config)(captions), text_image


def _param_groups(model, settings: TrainSettings) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if name == "logit_scale" or not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "embedding" in name else decay).append(p)
    return [
        {"params": decay, "lr": settings.lr, "weight_decay": settings.weight_decay},
        {"params": no_decay, "lr": settings.lr, "weight_decay": 0.0},
        {"params": [model.logit_scale], "lr": settings.logit_scale_lr, "weight_decay": 0.0},
    ]


@torch.no_grad()
def encode(model, images: torch.Tensor, tokens: torch.Tensor, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm image (N, D) and text (N_txt, D) embeddings."""
    model.eval()
    img = torch.cat([model.encode_image(images[i:i + batch], normalize=True) for i in range(0, len(images), batch)])
    txt = torch.cat([model.encode_text(tokens[i:i + batch], normalize=True) for i in range(0, len(tokens), batch)])
    return img.numpy(), txt.numpy()


def retrieval_recall(image: np.ndarray, text: np.ndarray, text_image: np.ndarray) -> dict:
    """Recall@1 both ways on unit vectors, with chance levels.

    Parameters
    ----------
    image : ndarray, shape (N, D)
    text : ndarray, shape (N_txt, D)
    text_image : ndarray, shape (N_txt,)
        Row of ``image`` each caption describes.
    """
    from gaptools.metrics import recall_at_k

    recall = recall_at_k(image, text, text_image, ks=(1,))
    per_image = np.bincount(text_image, minlength=len(image))
    return {"r1_image_to_text": recall["recall@1_i2t"], "r1_text_to_image": recall["recall@1_t2i"],
            "chance_image_to_text": float(per_image.mean() / len(text)), "chance_text_to_image": 1 / len(image)}


def _world_id(world: Path) -> dict:
    return read_manifest(world)["params"]


def train_clip(
    world: str | os.PathLike,
    out: str | os.PathLike,
    settings: TrainSettings | None = None,
    *,
    model_config: dict | None = None,
    resume: bool = False,
    on_step: Callable[[dict], None] | None = None,
) -> dict:
    """Train a toy CLIP on a world's train split; evaluate retrieval on its test split.

    Parameters
    ----------
    world : path-like
        A folder written by :func:`gaptools.world.generate_world`.
    out : path-like
        Receives ``model.json`` (open_clip config), ``checkpoint.pt`` (after every epoch and at
        the end; ``{"state_dict", "optimizer", "model_config", "settings", "world", "step",
        "epoch", "elapsed_s", "losses"}``, loadable by open_clip) and ``metrics.json``.
    settings : TrainSettings, optional
    model_config : dict, optional
        open_clip model config; default: that of the default preset (:mod:`gaptools.world.presets`).
    resume : bool
        Continue the checkpoint in ``out`` (same world, config and settings but the budgets) at
        the start of the next epoch. Without it, a folder that already holds a checkpoint is refused.
    on_step : callable, optional
        Called after each step with ``{"step", "epoch", "loss", "logit_scale", "elapsed_s", "budget_s",
        "max_steps"}``.

    Returns
    -------
    dict
        The content of ``metrics.json``: settings, steps, loss per epoch, final logit scale and
        test-split retrieval recall@1 both ways with chance levels.
    """
    world, out = Path(world), Path(out)
    settings = settings or TrainSettings()
    config = copy.deepcopy(model_config) if model_config else get_preset(DEFAULT_PRESET).model_config
    world_id = _world_id(world)
    progress = _open_checkpoint(out / CHECKPOINT, config, settings, world_id, resume)
    job = _prepare_clip(world, config, settings)
    if progress.state is not None:
        job.model.load_state_dict(progress.state["state_dict"])
        job.optimizer.load_state_dict(progress.state["optimizer"])
    write_json(out / MODEL_CONFIG, config)
    while not progress.done(settings):
        _train_clip_epoch(job, progress, settings, on_step)
        _save(out / CHECKPOINT, {"state_dict": job.model.state_dict(), "optimizer": job.optimizer.state_dict(),
                                 "model_config": config, "settings": dataclasses.asdict(settings),
                                 "world": world_id, "step": progress.step, "epoch": progress.epoch,
                                 "elapsed_s": progress.elapsed, "losses": progress.losses})
    return _evaluate(job.model, world, out, config, settings, progress.step, progress.epoch, progress.elapsed,
                     progress.losses)


@dataclasses.dataclass
class _ClipJob:
    """The training split on tensors, the model, its optimizer and loss: built before any step."""

    images: torch.Tensor  # (N, 3, S, S) preprocessed
    tokens: torch.Tensor  # (N_txt, L) open_clip token ids
    first_caption: torch.Tensor  # (N,) row of each image's first caption (captions are grouped by image)
    per_image: torch.Tensor  # (N,) captions per image
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    base_lrs: list[float]  # peak learning rate of each parameter group
    loss_fn: object  # open_clip.ClipLoss


@dataclasses.dataclass
class _ClipProgress:
    """Where training stands (all runs of a resumed training together)."""

    step: int = 0
    epoch: int = 0
    elapsed: float = 0.0  # seconds spent in training steps
    losses: list = dataclasses.field(default_factory=list)  # mean loss of each epoch
    state: dict | None = None  # the checkpoint resumed from

    def done(self, settings: TrainSettings) -> bool:
        return ((settings.max_steps is not None and self.step >= settings.max_steps)
                or (settings.minutes is not None and self.elapsed >= settings.minutes * 60))


def _open_checkpoint(path: Path, config: dict, settings: TrainSettings, world_id: dict, resume: bool) -> _ClipProgress:
    """The progress to continue from: a checked checkpoint with ``resume``, else a fresh start."""
    if not path.exists():
        return _ClipProgress()
    if not resume:
        raise InputError(f"{path}: a checkpoint is already there", hint="pass --resume, or choose a new folder")
    state = _check_resumable(read_torch(path), path, config, settings, world_id)
    return _ClipProgress(state["step"], state["epoch"], state["elapsed_s"], list(state["losses"]), state)


def _prepare_clip(world: Path, config: dict, settings: TrainSettings) -> _ClipJob:
    import open_clip

    images, tokens, text_image = _split_data(world, "train", config, settings.name_looks)
    vision = config["vision_cfg"]["image_size"]
    if images.shape[-1] != vision:
        raise InputError(f"{world}: images are {images.shape[-1]} px but the model takes {vision} px")
    model = build_model(config, seed=settings.seed)
    if settings.fixed_projection:
        _fix_projections(model, config)
    unused = torch.ones(config["text_cfg"]["vocab_size"], dtype=torch.bool)
    unused[tokens.unique()] = False
    with torch.no_grad():
        model.token_embedding.weight[unused] = 0.0
        model.logit_scale.fill_(math.log(settings.init_logit_scale))
    optimizer = torch.optim.AdamW(_param_groups(model, settings), betas=(0.9, 0.98), eps=1e-6)
    n = len(images)
    return _ClipJob(images, tokens, torch.searchsorted(text_image, torch.arange(n)), torch.bincount(text_image, minlength=n),
                    model, optimizer, [g["lr"] for g in optimizer.param_groups], open_clip.ClipLoss())


def _fix_projections(model, config: dict) -> None:
    """Set both output projections to the identity and freeze them (``TrainSettings.fixed_projection``)."""
    dim, widths = config["embed_dim"], (config["vision_cfg"]["width"], config["text_cfg"]["width"])
    if any(w != dim for w in widths):
        raise InputError(f"a fixed projection needs embed_dim ({dim}) equal to both tower widths {widths}")
    with torch.no_grad():
        for proj in (model.visual.proj, model.text_projection):
            proj.copy_(torch.eye(dim))
            proj.requires_grad_(False)


def _train_clip_epoch(job: _ClipJob, progress: _ClipProgress, settings: TrainSettings,
                      on_step: Callable[[dict], None] | None) -> None:
    """One pass over the images in a seeded order (stopping early when a budget runs out)."""
    budget_s = None if settings.minutes is None else settings.minutes * 60
    n = len(job.images)
    gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + progress.epoch)
    order = torch.randperm(n, generator=gen)
    epoch_loss, epoch_steps = 0.0, 0
    job.model.train()
    for start in range(0, n - settings.batch_size + 1 if n >= settings.batch_size else 1, settings.batch_size):
        if progress.done(settings):
            break
        t0 = time.perf_counter()
        rows = order[start:start + settings.batch_size]
        pick = job.first_caption[rows] + (torch.rand(len(rows), generator=gen) * job.per_image[rows]).long()
        factor = settings.lr_factor(progress.step)
        for group, lr in zip(job.optimizer.param_groups, job.base_lrs):
            group["lr"] = lr * factor
        image_features, text_features, scale = job.model(job.images[rows], job.tokens[pick])
        loss = job.loss_fn(image_features, text_features, scale)
        job.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        job.optimizer.step()
        with torch.no_grad():
            job.model.logit_scale.clamp_(0, math.log(MAX_LOGIT_SCALE))
        progress.step += 1
        progress.elapsed += time.perf_counter() - t0
        epoch_loss += loss.item()
        epoch_steps += 1
        if on_step is not None:
            on_step({"step": progress.step, "epoch": progress.epoch, "loss": loss.item(), "logit_scale": scale.item(),
                     "elapsed_s": progress.elapsed, "budget_s": budget_s, "max_steps": settings.max_steps})
    if epoch_steps:
        progress.losses.append(epoch_loss / epoch_steps)
    progress.epoch += 1


def _check_resumable(state: dict, path: Path, config: dict, settings: TrainSettings, world_id: dict) -> dict:
    if not isinstance(state, dict) or "state_dict" not in state or "optimizer" not in state:
        raise InputError(f"{path}: not a gaptools toy-CLIP training checkpoint (nothing to resume)")
    if state.get("model_config") != config:
        raise InputError(f"{path}: checkpoint from another model config", hint="resume with the same --model-config")
    if state.get("world") != world_id:
        raise InputError(f"{path}: checkpoint was trained on a different world")
    check_same_settings(state.get("settings", {}), dataclasses.asdict(settings), may_change=("minutes", "max_steps"),
                        added=SETTINGS_BEFORE_THEY_EXISTED,
                        where=str(path), problem="checkpoint was trained with other settings",
                        hint="resume with the same settings; only --minutes/--steps may change")
    return state


#: The time stamp of every member of a deflated checkpoint, fixed as torch.save's own are (zipfile
#: would stamp the current time), so that the same weights give the same bytes whenever written.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _save(path: Path, obj: dict, *, compress: bool = False) -> None:
    """``torch.save`` atomically; ``compress`` deflates the zip members (``torch.load`` reads them).

    Both give the same bytes for the same ``obj`` every time (the members keep a fixed time stamp).
    """
    with atomic_write(path, "wb") as fh:
        if not compress:
            torch.save(obj, fh)
            return
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(fh, "w") as dst:
            for info in src.infolist():
                member = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
                member.external_attr = 0o600 << 16
                dst.writestr(member, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def _evaluate(model, world: Path, out: Path, config: dict, settings: TrainSettings,
              step: int, epoch: int, elapsed: float, losses: list) -> dict:
    images, tokens, text_image = _split_data(world, "test", config)
    image, text = encode(model, images, tokens)
    metrics = {
        "world": str(world),
        "steps": step,
        "epochs": epoch,
        "train_seconds": round(elapsed, 1),
        "settings": dataclasses.asdict(settings),
        "logit_scale": model.logit_scale.exp().item(),
        "loss_per_epoch": losses,
        "test_retrieval": retrieval_recall(image, text, text_image.numpy()),
        "test_centroid_gap": float(np.linalg.norm(image.mean(0) - text.mean(0))),
    }
    write_json(out / METRICS, metrics)
    return metrics


def load_toy_clip(folder: str | os.PathLike):
    """The toy CLIP of a training folder (``model.json`` + ``checkpoint.pt``), in eval mode.

    Raises
    ------
    InputError
        The checkpoint does not fit the config (a checkpoint from another config).
    """
    folder = Path(folder)
    config = load_model_config(folder / MODEL_CONFIG)
    state = read_torch(folder / CHECKPOINT)
    weights = state.get("state_dict", state) if isinstance(state, dict) else state
    model = build_model(config)
    try:
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    except (RuntimeError, AttributeError) as exc:
        raise InputError(f"{folder / CHECKPOINT}: does not fit {folder / MODEL_CONFIG} (a checkpoint from another config?)",
                         hint=str(exc).splitlines()[0][:200]) from None
    return model.eval()


def export_float16(folder: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Write ``model.json`` and a weights-only float16 ``checkpoint.pt`` of a training folder into ``dest``."""
    folder, dest = Path(folder), Path(dest)
    model = load_toy_clip(folder)
    write_json(dest / MODEL_CONFIG, load_model_config(folder / MODEL_CONFIG))
    # deflated: the rows of the token table that the world never uses are zeros (8.5 MB -> 2 MB)
    _save(dest / CHECKPOINT, {"state_dict": {k: v.half() for k, v in model.state_dict().items()}}, compress=True)
    return dest / CHECKPOINT
