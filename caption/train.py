"""Train ClipCap / Unsupervised-ClipCap; one process, or DistributedDataParallel under torchrun.

The torchrun entry point is the application's: ``torchrun --nproc-per-node N -m gaptools.cli.caption train
DATA -o RUN [flags]`` (the same flags as ``caption train``). Each rank takes its share of every
global batch of ``--batch-size`` pairs, rank 0 writes the run folder. The loss is the mean over the
global batch's tokens whatever the number of ranks, so the loss curve does not depend on it.

Noise: ``--noise-variance v`` adds N(0, v) to every input coordinate while training (CapDec);
``--noise-variance auto --noise-pairs PAIRS`` takes v from a small paired calibration set, the gap's
noise over its true pairs (:func:`gaptools.measure.noise_variance_estimate`, unit vectors), and records
the estimate, its 95% interval and the pair count in the run's ``config.json`` (``noise_estimate``).

At each validation (``--val``) a fixed, seeded handful of held-out inputs (``--log-captions``) is
captioned greedily; the captions and their distinct fraction go to the validation record of
``log.jsonl`` (``val_captions``, ``val_distinct_fraction``), so a collapse to one caption shows while
the run trains.

Determinism: data order, matched partners and noise derive from ``(seed, epoch, batch)``; dropout
is reseeded from ``(seed, step, rank)`` before every step. A run killed and resumed from its
last checkpoint therefore ends with the same weights as an uninterrupted one (on CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from gaptools import __version__
from gaptools.caption import checkpoint, shapes
from gaptools.caption.config import NOISE_AUTO, TrainConfig
from gaptools.caption.data import (
    PairPlan,
    batch_noise,
    check_set,
    epoch_batches,
    prepare_inputs,
    shard,
    text_mean,
)
from gaptools.caption.model import ClipCapModel, load_decoder
from gaptools.caption.tokenizer import encode_captions, load_tokenizer
from gaptools.device import resolve_device
from gaptools.errors import GapToolsError, InputError
from gaptools.io import EmbeddingSet, load_set
from gaptools.measure import noise_variance_estimate
from gaptools.outputs import run_lock
from gaptools.resume import check_same_settings

# settings that may change between an interrupted run and its --resume
RESUMABLE_CHANGES = ("save_every", "log_every", "log_captions", "device", "output")  # output: the run is where it is (moved runs resume)
RESUME_PATHS = ("data", "val", "decoder", "noise_pairs")  # compared resolved: a relative and an absolute spelling are one file
# settings added after runs were recorded without them: what those runs did
SETTINGS_BEFORE_THEY_EXISTED = {"length_window": 0, "noise_pairs": None}

__all__ = ["TrainConfig", "lr_factor", "train"]


def lr_factor(step: int, *, warmup: int, total: int) -> float:
    """Linear warm-up then linear decay to 0 (``transformers.get_linear_schedule_with_warmup``, as ClipCap)."""
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


@dataclasses.dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (NCCL needs cuda)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 and "TORCHELASTIC_RUN_ID" not in os.environ:  # torchrun with one process still takes the DDP path
        return _Dist()
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns, device)


def _all_ok(ok: bool, ctx: _Dist) -> bool:
    """True when every rank reports ``ok`` (a failing rank must not leave the others waiting)."""
    if ctx.world == 1:
        return ok
    flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=ctx.device)
    dist.all_reduce(flag)
    return flag.item() == 0


def _on_main(fn: Callable[[], object], ctx: _Dist) -> None:
    """Run ``fn`` on rank 0; its error stops every rank (rank 0 raises it, the others a short note)."""
    error = None
    if ctx.main:
        try:
            fn()
        except GapToolsError as exc:
            error = exc
    if not _all_ok(error is None, ctx):
        raise error if error is not None else GapToolsError(f"rank {ctx.rank}: stopped because rank 0 failed")


@dataclasses.dataclass
class _Tensors:
    """A set's training tensors, on the device: tokenised once, padded per batch when gathered."""

    inputs: torch.Tensor  # (N_in, D) float32, transformed
    ids: torch.Tensor  # (N_txt, T_max) int64
    lengths: torch.Tensor  # (N_txt,) int64
    lengths_np: np.ndarray  # (N_txt,) host copy for token counts

    def batch(self, input_rows: np.ndarray, target_rows: np.ndarray, noise: np.ndarray | None):
        device = self.inputs.device
        x = self.inputs[_to_device(input_rows, device)]  # (b, D)
        if noise is not None:
            x = x + _to_device(noise, device)
        rows = _to_device(target_rows, device)
        width = int(self.lengths_np[target_rows].max())
        ids = self.ids[rows, :width]  # (b, T) padded to this batch's longest
        mask = (torch.arange(width, device=device) < self.lengths[rows, None]).long()  # (b, T)
        return x, ids, mask


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on ``device`` without making the host wait: on cuda through pinned memory,
    copied asynchronously (a plain copy from pageable memory synchronises the stream)."""
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _tensors(eset: EmbeddingSet, config: TrainConfig, tokenizer, mean, device) -> _Tensors:
    ids, lengths = encode_captions(tokenizer, eset.caption, max_tokens=config.max_tokens)
    raw = eset.text if config.source == "text" else eset.image
    inputs = prepare_inputs(raw, normalize=config.normalize, text_mean=mean)
    return _Tensors(torch.from_numpy(inputs).to(device), torch.from_numpy(ids).long().to(device),
                    torch.from_numpy(lengths).to(device), lengths)


def _load(path: str, config: TrainConfig) -> EmbeddingSet:
    eset = load_set(path)
    check_set(eset, source=config.source)
    return eset


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    say: Callable[[str], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> Path:
    """Train a captioner and write its run folder (see :mod:`gaptools.caption.checkpoint`).

    Parameters
    ----------
    config : TrainConfig
    resume : bool
        Continue the run in ``config.output`` from its last checkpoint (same settings required).
    overwrite : bool
        Replace a run already in ``config.output``.
    say : callable(str), optional
        Messages for the user (rank 0 only); library code prints nothing itself.
    on_step : callable(dict), optional
        Called on rank 0 after every step with ``step``, ``total_steps``, ``epoch`` (1-based, as in
        ``log.jsonl`` and the console's ``epoch 2/2``) and, on
        logged steps, the log record (``loss``, ``lr``, ``samples_per_s``, ``tokens_per_s``).

    Returns
    -------
    Path
        The run folder.
    """
    device = resolve_device(config.device)
    precision = torch.get_float32_matmul_precision()
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for the float32 matmuls outside bf16 autocast
    ctx = _init_distributed(device)
    try:
        say = say if say is not None and ctx.main else (lambda _: None)
        job = _prepare(config, ctx, device, say)
        run_dir = Path(config.output)
        with contextlib.ExitStack() as held:  # rank 0 holds the run folder's lock until the run ends
            _on_main(lambda: held.enter_context(run_lock(run_dir, command="caption train")), ctx)
            step = _open_run(job, run_dir, ctx, resume=resume, overwrite=overwrite, say=say)
            if step is None:
                return run_dir
            state = _TrainState(job, run_dir, ctx, step, on_step if ctx.main else None)
            for epoch in range(step // job.steps_per_epoch, config.epochs):
                _train_epoch(state, epoch, say)
            if ctx.main:
                checkpoint.save_final(run_dir, job.model)
        say(f"Wrote {run_dir / checkpoint.FINAL}")
        return run_dir
    finally:
        torch.set_float32_matmul_precision(precision)
        if ctx.owns_group:
            dist.destroy_process_group()


@dataclasses.dataclass
class _Job:
    """Everything a run needs, built and checked before its folder is touched."""

    config: TrainConfig
    device: torch.device
    eset: EmbeddingSet  # training set
    val: EmbeddingSet | None  # validation set
    tokenizer: object  # the decoder's tokenizer
    plan: PairPlan  # (input, target) pairs of each epoch
    val_plan: PairPlan | None
    mean: np.ndarray | None  # (D,) C3 text mean, or None
    steps_per_epoch: int
    model: ClipCapModel
    optimizer: torch.optim.Optimizer
    noise_variance: float  # the variance of the training noise (config's, or estimated with NOISE_AUTO)
    noise_estimate: dict | None  # gaptools.measure.noise_variance_estimate of --noise-pairs, or None
    sample_rows: np.ndarray  # validation input rows captioned at each validation (--log-captions)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs


def _prepare(config: TrainConfig, ctx: _Dist, device: torch.device, say: Callable[[str], None]) -> _Job:
    """Load and check the data, tokenizer and decoder; build the model and optimizer (nothing written)."""
    if config.batch_size < ctx.world:
        raise InputError(f"--batch-size {config.batch_size} is smaller than the {ctx.world} ranks")
    eset = _load(config.data, config)
    val = _load(config.val, config) if config.val else None
    if val is not None and val.dim != eset.dim:
        raise InputError(f"{val.source}: dimension {val.dim} differs from the training set's {eset.dim}")
    config, builtin = _choose_decoder(config, eset, say)
    tokenizer = builtin[0] if builtin else load_tokenizer(config.decoder)
    plan = PairPlan(eset.text_image, config.source, config.target or "matched", config.single_caption, config.seed)
    if plan.matched and plan.n_single:
        action = "skipped" if config.single_caption == "skip" else "used as their own input (--single-caption same)"
        say(f"{plan.n_single} of {eset.n_text} captions are the only caption of their image: {action}")
    if len(plan) == 0:
        raise InputError(f"{eset.source}: no training pairs (every image has a single caption)",
                         hint="use --single-caption same or --target same")
    val_plan = None if val is None else PairPlan(val.text_image, config.source, config.target or "matched",
                                                 config.single_caption, config.seed)
    if val_plan is not None and len(val_plan) == 0:
        raise InputError(f"{val.source}: no validation pairs (every image has a single caption)")
    mean = text_mean(eset, normalize=config.normalize) if config.subtract_text_mean else None
    estimate = _noise_estimate(config, eset, say) if config.noise_variance == NOISE_AUTO else None
    noise_variance = estimate["value"] if estimate is not None else float(config.noise_variance)
    sample_rows = np.zeros(0, dtype=np.int64)
    if val_plan is not None and config.log_captions:
        inputs = np.unique(val_plan.pairs(0)[0])
        sample_rows = np.sort(np.random.default_rng(config.seed).choice(
            inputs, size=min(config.log_captions, len(inputs)), replace=False))
    steps_per_epoch = len(epoch_batches(len(plan), config.batch_size, seed=config.seed, epoch=0, world_size=ctx.world))
    torch.manual_seed(config.seed)  # mapper initialisation
    model = ClipCapModel(config.model_config(eset.dim), builtin[1] if builtin else load_decoder(config.decoder)).to(device)
    config = _fit_targets(config, model, eset, tokenizer, say)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    return _Job(config, device, eset, val, tokenizer, plan, val_plan, mean, steps_per_epoch, model, optimizer,
                noise_variance, estimate, sample_rows)


def _choose_decoder(config: TrainConfig, eset: EmbeddingSet, say: Callable[[str], None]) -> tuple[TrainConfig, tuple]:
    """``config`` with its decoder named (:func:`gaptools.caption.shapes.default_decoder` when left out),
    and the shapes world's (tokenizer, decoder) when that is the one (:func:`gaptools.caption.shapes.builtin_decoder`),
    else ``()``: hub ids and folders are loaded by the caller."""
    if config.decoder is None:
        config = dataclasses.replace(config, decoder=shapes.default_decoder(eset.meta))
    if config.decoder != shapes.NAME:
        return config, ()
    say(shapes.describe(config.seed))
    return config, shapes.builtin_decoder(config.seed)


def _noise_estimate(config: TrainConfig, eset: EmbeddingSet, say: Callable[[str], None]) -> dict:
    """The gap's noise over the true pairs of ``--noise-pairs`` (:func:`gaptools.measure.noise_variance_estimate`)."""
    pairs = load_set(config.noise_pairs)
    if pairs.dim != eset.dim:
        raise InputError(f"{pairs.source}: --noise-pairs embeddings have dimension {pairs.dim}, "
                         f"the training set {eset.dim}", hint="calibrate with the training set's CLIP model")
    estimate = noise_variance_estimate(pairs, seed=config.seed)
    interval = "" if estimate["ci95"] is None else " (95% CI {:.3g} to {:.3g})".format(*estimate["ci95"])
    say(f"--noise-variance auto: {estimate['value']:.3g}{interval} from {estimate['n_pairs']} pairs of "
        f"{estimate['n_images']} images in {pairs.source}" + (f"; {estimate['note']}" if estimate["note"] else ""))
    return estimate


def _fit_targets(config: TrainConfig, model: ClipCapModel, eset: EmbeddingSet, tokenizer,
                 say: Callable[[str], None]) -> TrainConfig:
    """``config`` with ``max_tokens`` cut to the decoder's positions after the prefix, saying how many
    captions that shortens (:meth:`gaptools.caption.model.ClipCapModel.fit_tokens`)."""
    messages = []
    max_tokens = model.fit_tokens(config.max_tokens, option="--max-tokens", say=messages.append)
    if max_tokens == config.max_tokens:
        return config
    lengths = [len(ids) + 1 for ids in tokenizer([str(c) for c in eset.caption], add_special_tokens=False)["input_ids"]]
    cut = sum(n > max_tokens for n in lengths)
    if cut:
        say(f"{messages[0]} ({cut} of {len(lengths)} captions are longer)")
    return dataclasses.replace(config, max_tokens=max_tokens)


def _open_run(job: _Job, run_dir: Path, ctx: _Dist, *, resume: bool, overwrite: bool,
              say: Callable[[str], None]) -> int | None:
    """Create the run folder, or reopen it with ``resume``: the step to start at (None: already finished)."""
    config = job.config
    folder = config.decoder if config.decoder != shapes.NAME and Path(config.decoder).exists() else None
    inputs = [config.data, config.val, config.noise_pairs, folder]
    _on_main(lambda: checkpoint.prepare_run_dir(run_dir, resume=resume, overwrite=overwrite, inputs=inputs), ctx)
    if not resume:  # prepare_run_dir refuses --resume without a run
        run_config = {
            "train": dataclasses.asdict(config), "source": config.source, "target": config.target,
            "noise_variance": job.noise_variance, "noise_estimate": job.noise_estimate, "normalize": config.normalize,
            "subtract_text_mean": config.subtract_text_mean,
            "text_mean": None if job.mean is None else [float(v) for v in job.mean],
            "clip_dim": job.eset.dim, "data_meta": job.eset.meta,
            "val_meta": None if job.val is None else job.val.meta, "n_pairs": len(job.plan),
            "n_single_caption": job.plan.n_single, "steps_per_epoch": job.steps_per_epoch,
            "total_steps": job.total_steps, "world_size": ctx.world, "created_by": f"gaptools {__version__}",
        }

        def _start() -> None:
            checkpoint.write_config(run_dir, run_config)
            job.tokenizer.save_pretrained(str(run_dir / checkpoint.TOKENIZER))

        _on_main(_start, ctx)
        return 0
    _on_main(lambda: check_same_settings(checkpoint.read_config(run_dir).get("train", {}), dataclasses.asdict(config),
                                         may_change=RESUMABLE_CHANGES, paths=RESUME_PATHS,
                                         added=SETTINGS_BEFORE_THEY_EXISTED, where=str(run_dir)), ctx)
    if (run_dir / checkpoint.FINAL).is_dir():
        say(f"{run_dir}: already finished; nothing to do")
        return None
    step = 0
    state = checkpoint.load_checkpoint(run_dir, job.device)
    if state is not None:
        try:
            job.model.load_state_dict(state["model"])
            job.optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise InputError(f"{run_dir / checkpoint.CHECKPOINT}: does not fit this run ({exc})") from None
    if ctx.main:
        checkpoint.truncate_log(run_dir, step)
    say(f"Resuming {run_dir} at step {step} of {job.total_steps}")
    return step


class _TrainState:
    """A run in progress: the (DDP-wrapped) model, the data on the device, the step, the loss accumulators."""

    def __init__(self, job: _Job, run_dir: Path, ctx: _Dist, step: int,
                 on_step: Callable[[dict], None] | None) -> None:
        config, device = job.config, job.device
        self.job, self.run_dir, self.ctx, self.step, self.on_step = job, run_dir, ctx, step, on_step
        self.ddp = job.model
        if dist.is_initialized():
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                job.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.data = _tensors(job.eset, config, job.tokenizer, job.mean, device)
        self.val_data = _tensors(job.val, config, job.tokenizer, job.mean, device) if job.val is not None else None
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        self.acc = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, tokens since the last record
        self.samples, self.clock = 0, time.perf_counter()
        job.model.train()

    def save(self) -> None:
        checkpoint.save_checkpoint(self.run_dir, {"model": self.job.model.state_dict(),
                                                  "optimizer": self.job.optimizer.state_dict(), "step": self.step})


def _train_epoch(state: _TrainState, epoch: int, say: Callable[[str], None]) -> None:
    """One epoch from ``state.step`` (mid-epoch after a resume); validation and checkpoint at its end.

    ``epoch`` counts from 0 here (data order, partners and noise derive from it); the records in
    ``log.jsonl`` and ``on_step`` carry it 1-based, as the console prints it.
    """
    job, ctx, data = state.job, state.ctx, state.data
    config, optimizer = job.config, job.optimizer
    input_rows, target_rows = job.plan.pairs(epoch)
    batches = epoch_batches(len(input_rows), config.batch_size, seed=config.seed, epoch=epoch, world_size=ctx.world,
                            lengths=data.lengths_np[target_rows], window=config.length_window)
    for b in range(state.step - epoch * job.steps_per_epoch, len(batches)):
        mine = shard(batches[b], ctx.rank, ctx.world)
        tokens = int(data.lengths_np[target_rows[batches[b]]].sum())  # global batch
        noise = None
        if job.noise_variance > 0:
            noise = shard(batch_noise(len(batches[b]), job.eset.dim, job.noise_variance, seed=config.seed,
                                      epoch=epoch, batch=b), ctx.rank, ctx.world)
        x, ids, mask = data.batch(input_rows[mine], target_rows[mine], noise)
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(state.step, warmup=config.warmup, total=job.total_steps)
        torch.manual_seed(int(np.random.SeedSequence([config.seed, state.step, ctx.rank]).generate_state(1)[0]))
        with state.autocast:
            _, loss_sum = state.ddp(x, ids, mask, reduction="sum")
        (loss_sum * (ctx.world / tokens)).backward()  # DDP averages over ranks: the global token mean
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.acc[0] += loss_sum.detach().double()  # no host sync: the token count is known on the host
        state.acc[1] += float(data.lengths_np[target_rows[mine]].sum())
        state.samples += len(batches[b])
        state.step += 1
        record = None
        if state.step % config.log_every == 0 or b == len(batches) - 1:
            record = _record(state.acc, ctx, state.run_dir, step=state.step, epoch=epoch + 1,
                             lr=optimizer.param_groups[0]["lr"], samples=state.samples,
                             seconds=time.perf_counter() - state.clock)
            state.acc.zero_()
            state.samples, state.clock = 0, time.perf_counter()
        if config.save_every and state.step % config.save_every == 0 and b != len(batches) - 1 and ctx.main:
            state.save()
        if state.on_step is not None:
            state.on_step({"step": state.step, "total_steps": job.total_steps, "epoch": epoch + 1, **(record or {})})
    if state.val_data is not None:
        val_loss = _validate(state.ddp, state.val_data, job.val_plan, config, ctx, state.autocast)
        record = {"step": state.step, "epoch": epoch + 1, "val_loss": val_loss}
        line = f"epoch {epoch + 1}/{config.epochs}: validation loss {val_loss:.4f}"
        if ctx.main and len(job.sample_rows):
            record.update(_held_out_captions(job, state.val_data))
            first = record["val_captions"][0]["caption"]
            line += (f"; {len(job.sample_rows)} held-out captions, {record['val_distinct_fraction']:.0%} distinct, "
                     f"e.g. {first[:60] + '…' if len(first) > 60 else first!r}")
        if ctx.main:
            checkpoint.append_log(state.run_dir, record)
        say(line)
    if ctx.main:
        state.save()


def _held_out_captions(job: _Job, data: _Tensors) -> dict:
    """Greedy captions of the fixed held-out inputs and their distinct fraction (rank 0, eval mode).

    Captions are told apart after :func:`gaptools.caption.evaluate.plain_tokens` (lower case, no
    punctuation; the scorer's PTB tokens need Java, which training does not).
    """
    from gaptools.caption.eval_run import caption_inputs
    from gaptools.caption.evaluate import diversity, plain_tokens

    model = job.model
    model.eval()
    x = data.inputs[_to_device(job.sample_rows, data.inputs.device)].cpu().numpy()
    captions = caption_inputs(model, job.tokenizer, x, beam=1, max_length=job.config.max_tokens,
                              batch_size=len(x), device=data.inputs.device)
    model.train()
    return {"val_captions": [{"input": int(r), "caption": c} for r, c in zip(job.sample_rows, captions)],
            "val_distinct_fraction": diversity([plain_tokens(c) for c in captions])["distinct_fraction"]}


def _record(acc: torch.Tensor, ctx: _Dist, run_dir: Path, **fields) -> dict:
    """Token-weighted mean loss and speed since the last record (over all ranks), appended to log.jsonl by rank 0.

    Speeds count the global batch: samples (captions) and target tokens (EOS included) per second.
    """
    total = acc.clone()
    if ctx.world > 1:
        dist.all_reduce(total)
    seconds = fields.pop("seconds")
    record = {"step": fields.pop("step"), "epoch": fields.pop("epoch"), "loss": float(total[0] / total[1]),
              "lr": fields.pop("lr"), "samples_per_s": fields.pop("samples") / seconds,
              "tokens_per_s": float(total[1]) / seconds}
    if ctx.main:
        checkpoint.append_log(run_dir, record)
    return record


@torch.no_grad()
def _validate(model, data: _Tensors, plan: PairPlan, config: TrainConfig, ctx: _Dist, autocast) -> float:
    """Mean token loss on the validation pairs (epoch-0 pairing, no noise), over all ranks."""
    model.eval()
    input_rows, target_rows = plan.pairs(0)
    acc = torch.zeros(2, dtype=torch.float64, device=data.inputs.device)
    for start in range(0, len(input_rows), config.batch_size):
        mine = shard(np.arange(start, min(start + config.batch_size, len(input_rows))), ctx.rank, ctx.world)
        if len(mine) == 0:
            continue
        x, ids, mask = data.batch(input_rows[mine], target_rows[mine], None)
        with autocast:
            _, loss_sum = model(x, ids, mask, reduction="sum")
        acc[0] += loss_sum.double()
        acc[1] += float(data.lengths_np[target_rows[mine]].sum())
    if ctx.world > 1:
        dist.all_reduce(acc)
    model.train()
    return float(acc[0] / acc[1])

