"""Train ClipCap / Unsupervised-ClipCap; one process, or DistributedDataParallel under torchrun.

``python -m caption.train DATA -o RUN [flags]`` is ``caption train`` (same flags), and works under
``torchrun --nproc-per-node N -m caption.train ...``: each rank takes its share of every global
batch of ``--batch-size`` pairs, rank 0 writes the run folder. The loss is the mean over the
global batch's tokens whatever the number of ranks, so the loss curve does not depend on it.

Determinism: data order, matched partners and noise derive from ``(seed, epoch, batch)``; dropout
is reseeded from ``(seed, step, rank)`` before every step. A run killed and resumed from its
last checkpoint therefore ends with the same weights as an uninterrupted one (on CPU).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from caption import checkpoint
from caption.data import (
    PairPlan,
    batch_noise,
    check_set,
    epoch_batches,
    prepare_inputs,
    shard,
    text_mean,
)
from caption.model import ClipCapConfig, ClipCapModel, load_decoder
from caption.tokenizer import encode_captions, load_tokenizer
from gaptools import __version__
from gaptools.errors import GapToolsError, InputError
from gaptools.io import EmbeddingSet, load_set

# settings that may change between an interrupted run and its --resume
RESUMABLE_CHANGES = ("save_every", "log_every", "device")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run (all recorded in the run's ``config.json``)."""

    data: str  # training embedding set (.npz)
    output: str  # run folder
    val: str | None = None  # held-out embedding set: loss after each epoch
    source: str = "text"  # "text" (Unsupervised-ClipCap, CapDec) or "image" (ClipCap)
    target: str | None = None  # text source: "matched" (another caption of the image) or "same"; None -> matched
    single_caption: str = "skip"  # matched targets, image with one caption: "skip" it or use the "same" caption
    noise_variance: float = 0.0  # Gaussian noise N(0, v) added to inputs while training (CapDec: 0.016)
    subtract_text_mean: bool = False  # C3: subtract the training text mean (stored in the run for eval)
    normalize: bool = True  # L2-normalise inputs before mean subtraction and noise
    decoder: str = "gpt2"  # causal LM: hub id or local folder
    mapper: str = "mlp"  # "mlp" or "transformer"
    prefix_length: int = 10  # L
    freeze_decoder: bool = False  # train the mapper only
    mapper_layers: int = 8  # transformer mapper depth
    mapper_heads: int = 8  # transformer mapper heads
    clip_length: int = 10  # transformer mapper: tokens made from the CLIP vector
    lr: float = 2e-5  # AdamW peak learning rate
    warmup: int = 5000  # linear warm-up steps, then linear decay to 0
    weight_decay: float = 0.0  # AdamW weight decay
    batch_size: int = 40  # global batch (split over ranks)
    epochs: int = 10
    max_tokens: int = 64  # longest target, EOS included; longer captions are cut
    seed: int = 0
    save_every: int = 0  # also checkpoint every N steps (0: at epoch ends only)
    log_every: int = 50  # steps between log.jsonl records
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", ...

    def __post_init__(self) -> None:
        if self.target is None and self.source == "text":
            self.target = "matched"
        if self.source == "image" and self.target is not None:
            raise InputError("--target applies to --source text only (the image source targets each caption)")
        if self.source == "image" and self.subtract_text_mean:
            raise InputError("--subtract-text-mean applies to --source text only")
        for name in ("batch_size", "epochs", "log_every", "prefix_length"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup", "save_every", "seed"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.noise_variance < 0 or self.lr <= 0:
            raise InputError("--noise-variance must be >= 0 and --lr > 0")

    def model_config(self, clip_dim: int) -> ClipCapConfig:
        return ClipCapConfig(clip_dim=clip_dim, prefix_length=self.prefix_length, mapper=self.mapper,
                             decoder=self.decoder, freeze_decoder=self.freeze_decoder, mapper_layers=self.mapper_layers,
                             mapper_heads=self.mapper_heads, clip_length=self.clip_length)


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
    if world == 1:
        return _Dist()
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns, device)


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


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
        x = self.inputs[torch.from_numpy(input_rows).to(device)]  # (b, D)
        if noise is not None:
            x = x + torch.from_numpy(noise).to(device)
        rows = torch.from_numpy(target_rows).to(device)
        width = int(self.lengths_np[target_rows].max())
        ids = self.ids[rows, :width]  # (b, T) padded to this batch's longest
        mask = (torch.arange(width, device=device) < self.lengths[rows, None]).long()  # (b, T)
        return x, ids, mask


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


def _check_resume(run_dir: Path, config: TrainConfig) -> None:
    stored = checkpoint.read_config(run_dir).get("train", {})
    given = dataclasses.asdict(config)
    diff = [k for k in given if k not in RESUMABLE_CHANGES and stored.get(k) != given[k]]
    if diff:
        changes = ", ".join(f"{k}: {stored.get(k)!r} -> {given[k]!r}" for k in diff)
        raise InputError(f"{run_dir}: --resume needs the run's own settings; changed: {changes}",
                         hint="repeat the original command with --resume")


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
    on_step: Callable[[dict], None] | None = None,
) -> Path:
    """Train a captioner and write its run folder (see :mod:`caption.checkpoint`).

    Parameters
    ----------
    config : TrainConfig
    resume : bool
        Continue the run in ``config.output`` from its last checkpoint (same settings required).
    overwrite : bool
        Replace a run already in ``config.output``.
    say : callable(str)
        Messages for the user (rank 0 only).
    on_step : callable(dict), optional
        Called on rank 0 after every step with ``step``, ``total_steps``, ``epoch`` and, on
        logged steps, the log record (``loss``, ``lr``, ``samples_per_s``, ``tokens_per_s``).

    Returns
    -------
    Path
        The run folder.
    """
    device = _device(config.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    ctx = _init_distributed(device)
    try:
        return _train(config, ctx, device, resume, overwrite, say if ctx.main else (lambda _: None),
                      on_step if ctx.main else None)
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


def _train(config, ctx, device, resume, overwrite, say, on_step) -> Path:
    run_dir = Path(config.output)
    if config.batch_size < ctx.world:
        raise InputError(f"--batch-size {config.batch_size} is smaller than the {ctx.world} ranks")
    eset = _load(config.data, config)
    val = _load(config.val, config) if config.val else None
    if val is not None and val.dim != eset.dim:
        raise InputError(f"{val.source}: dimension {val.dim} differs from the training set's {eset.dim}")
    tokenizer = load_tokenizer(config.decoder)
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
    steps_per_epoch = len(epoch_batches(len(plan), config.batch_size, seed=config.seed, epoch=0, world_size=ctx.world))
    total = steps_per_epoch * config.epochs

    torch.manual_seed(config.seed)  # mapper initialisation; every check comes before the run folder is touched
    model = ClipCapModel(config.model_config(eset.dim), load_decoder(config.decoder)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    _on_main(lambda: checkpoint.prepare_run_dir(run_dir, resume=resume, overwrite=overwrite), ctx)
    resuming = resume  # prepare_run_dir refuses --resume without a run
    if resuming:
        _on_main(lambda: _check_resume(run_dir, config), ctx)
        if (run_dir / checkpoint.FINAL).is_dir():
            say(f"{run_dir}: already finished; nothing to do")
            return run_dir
    else:
        run_config = {
            "train": dataclasses.asdict(config), "source": config.source, "target": config.target,
            "noise_variance": config.noise_variance, "normalize": config.normalize,
            "subtract_text_mean": config.subtract_text_mean,
            "text_mean": None if mean is None else [float(v) for v in mean],
            "clip_dim": eset.dim, "data_meta": eset.meta, "val_meta": None if val is None else val.meta,
            "n_pairs": len(plan), "n_single_caption": plan.n_single, "steps_per_epoch": steps_per_epoch,
            "total_steps": total, "world_size": ctx.world, "created_by": f"gaptools {__version__}",
        }

        def _start() -> None:
            checkpoint.write_config(run_dir, run_config)
            tokenizer.save_pretrained(str(run_dir / checkpoint.TOKENIZER))

        _on_main(_start, ctx)

    step = 0
    if resuming:
        state = checkpoint.load_checkpoint(run_dir, device)
        if state is not None:
            try:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                step = int(state["step"])
            except (KeyError, RuntimeError, ValueError) as exc:
                raise InputError(f"{run_dir / checkpoint.CHECKPOINT}: does not fit this run ({exc})") from None
        if ctx.main:
            checkpoint.truncate_log(run_dir, step)
        say(f"Resuming {run_dir} at step {step} of {total}")
    ddp = model
    if ctx.world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    data = _tensors(eset, config, tokenizer, mean, device)
    val_data = _tensors(val, config, tokenizer, mean, device) if val is not None else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def _save() -> None:
        checkpoint.save_checkpoint(run_dir, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                             "step": step})

    acc = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, tokens since the last record
    samples, clock = 0, time.perf_counter()
    model.train()
    for epoch in range(step // steps_per_epoch, config.epochs):
        input_rows, target_rows = plan.pairs(epoch)
        batches = epoch_batches(len(input_rows), config.batch_size, seed=config.seed, epoch=epoch, world_size=ctx.world)
        for b in range(step - epoch * steps_per_epoch, len(batches)):
            mine = shard(batches[b], ctx.rank, ctx.world)
            tokens = int(data.lengths_np[target_rows[batches[b]]].sum())  # global batch
            noise = None
            if config.noise_variance > 0:
                noise = shard(batch_noise(len(batches[b]), eset.dim, config.noise_variance, seed=config.seed,
                                          epoch=epoch, batch=b), ctx.rank, ctx.world)
            x, ids, mask = data.batch(input_rows[mine], target_rows[mine], noise)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * lr_factor(step, warmup=config.warmup, total=total)
            torch.manual_seed(int(np.random.SeedSequence([config.seed, step, ctx.rank]).generate_state(1)[0]))
            with autocast:
                _, loss_sum = ddp(x, ids, mask, reduction="sum")
            (loss_sum * (ctx.world / tokens)).backward()  # DDP averages over ranks: the global token mean
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            acc[0] += loss_sum.detach().double()  # no host sync: the token count is known on the host
            acc[1] += float(data.lengths_np[target_rows[mine]].sum())
            samples += len(batches[b])
            step += 1
            record = None
            if step % config.log_every == 0 or b == len(batches) - 1:
                record = _record(acc, ctx, run_dir, step=step, epoch=epoch, lr=optimizer.param_groups[0]["lr"],
                                 samples=samples, seconds=time.perf_counter() - clock)
                acc.zero_()
                samples, clock = 0, time.perf_counter()
            if config.save_every and step % config.save_every == 0 and b != len(batches) - 1 and ctx.main:
                _save()
            if on_step is not None:
                on_step({"step": step, "total_steps": total, "epoch": epoch, **(record or {})})
        if val_data is not None:
            val_loss = _validate(ddp, val_data, val_plan, config, ctx, autocast)
            if ctx.main:
                checkpoint.append_log(run_dir, {"step": step, "epoch": epoch, "val_loss": val_loss})
            say(f"epoch {epoch + 1}/{config.epochs}: validation loss {val_loss:.4f}")
        if ctx.main:
            _save()
    if ctx.main:
        checkpoint.save_final(run_dir, model)
    say(f"Wrote {run_dir / checkpoint.FINAL}")
    return run_dir


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


def main(argv: list[str] | None = None) -> None:
    """``python -m caption.train ...``: the ``caption train`` command (also under torchrun)."""
    from cli.caption import app

    app(args=["train", *(sys.argv[1:] if argv is None else argv)], prog_name="python -m caption.train")


if __name__ == "__main__":
    main()
