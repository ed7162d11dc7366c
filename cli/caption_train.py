"""`caption train`: ClipCap (image source) and Unsupervised-ClipCap (text source) training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaptools.caption.config import CAPDEC_NOISE_VARIANCE, DECODER, TrainConfig, parse_noise_variance
from gaptools.caption.shapes import NAME
from gaptools.cli.app import console


def train_command(
    data: Path = typer.Argument(..., help="Training embedding set (.npz) with captions."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder to write."),
    val: Optional[Path] = typer.Option(TrainConfig.val, "--val", help="Held-out embedding set: validation loss each epoch."),
    source: str = typer.Option(TrainConfig.source, help="Input: 'text' (CLIP text embedding, no images) or 'image' (ClipCap)."),
    target: Optional[str] = typer.Option(
        TrainConfig.target, help="Text source: 'matched' (another caption of the same image; default) or 'same'."),
    single_caption: str = typer.Option(
        TrainConfig.single_caption, help="Matched targets, images with one caption: 'skip' them or use the 'same' caption."),
    noise_variance: Optional[str] = typer.Option(
        None, "--noise-variance", show_default=f"{TrainConfig.noise_variance}",
        help=f"Add N(0, v) noise to training inputs (CapDec: {CAPDEC_NOISE_VARIANCE}); 'auto': v is the gap's noise "
        "over the true pairs of --noise-pairs (recorded in config.json with its 95% CI)."),
    noise_pairs: Optional[Path] = typer.Option(
        TrainConfig.noise_pairs, "--noise-pairs", help="Paired calibration set (.npz or (2, N, D) .npy: images and "
        "captions of the same images, a handful is enough) for --noise-variance auto."),
    subtract_text_mean: bool = typer.Option(TrainConfig.subtract_text_mean, help="C3: subtract the training text mean (kept for eval)."),
    normalize: bool = typer.Option(TrainConfig.normalize, help="L2-normalise inputs first."),
    decoder: Optional[str] = typer.Option(
        TrainConfig.decoder, show_default=f"{NAME} on a shapes-world set, else {DECODER}",
        help=f"Causal LM: Hugging Face hub id or local folder; '{NAME}': the shapes world's tiny GPT-2, built here "
        "with no download."),
    mapper: str = typer.Option(TrainConfig.mapper, help="Prefix mapper: 'mlp' or 'transformer'."),
    prefix_length: int = typer.Option(TrainConfig.prefix_length, help="Prefix embeddings L (ClipCap reference code: 10)."),
    freeze_decoder: bool = typer.Option(TrainConfig.freeze_decoder, help="Train the mapper only."),
    mapper_layers: int = typer.Option(TrainConfig.mapper_layers, help="Transformer mapper layers."),
    mapper_heads: int = typer.Option(TrainConfig.mapper_heads, help="Transformer mapper heads."),
    clip_length: int = typer.Option(TrainConfig.clip_length, help="Transformer mapper: tokens made from the CLIP vector."),
    lr: float = typer.Option(TrainConfig.lr, help="AdamW peak learning rate (ClipCap reference code)."),
    warmup: int = typer.Option(TrainConfig.warmup, help="Linear warm-up steps, then linear decay to 0 (ClipCap reference code)."),
    weight_decay: float = typer.Option(TrainConfig.weight_decay, help="AdamW weight decay."),
    batch_size: int = typer.Option(TrainConfig.batch_size, help="Global batch size, split over torchrun ranks (ClipCap reference code)."),
    epochs: int = typer.Option(TrainConfig.epochs, help="Epochs (ClipCap reference code)."),
    max_tokens: int = typer.Option(TrainConfig.max_tokens, help="Longest target in tokens (EOS included); longer ones are cut."),
    seed: int = typer.Option(TrainConfig.seed, help="Seed of initialisation, data order, partners, noise, dropout."),
    length_window: int = typer.Option(
        TrainConfig.length_window, help="Batches per window sorted by caption length (less padding, order still random); 0: plain shuffle."),
    save_every: int = typer.Option(TrainConfig.save_every, help="Also checkpoint every N steps (0: each epoch only)."),
    log_every: int = typer.Option(TrainConfig.log_every, help="Steps between log.jsonl records."),
    log_captions: int = typer.Option(
        TrainConfig.log_captions, help="Held-out --val inputs captioned at each validation; their captions and "
        "distinct fraction go to log.jsonl (0: none)."),
    device: str = typer.Option(TrainConfig.device, help="'auto' (cuda when present), 'cpu', 'cuda', ..."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --output."),
) -> None:
    """Train a CLIP-prefix captioner; writes config.json, log.jsonl, checkpoints and final/."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gaptools.caption.train import train

    config = TrainConfig(
        data=str(data), output=str(output), val=None if val is None else str(val), source=source, target=target,
        single_caption=single_caption, noise_variance=parse_noise_variance(noise_variance),
        noise_pairs=None if noise_pairs is None else str(noise_pairs), subtract_text_mean=subtract_text_mean,
        normalize=normalize, decoder=decoder, mapper=mapper, prefix_length=prefix_length,
        freeze_decoder=freeze_decoder, mapper_layers=mapper_layers, mapper_heads=mapper_heads, clip_length=clip_length,
        lr=lr, warmup=warmup, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, max_tokens=max_tokens,
        seed=seed, length_window=length_window, save_every=save_every, log_every=log_every,
        log_captions=log_captions, device=device,
    )
    columns = (TextColumn("[bold]train[/bold] epoch {task.fields[epoch]}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]}  {task.fields[speed]}"),
               TimeRemainingColumn())
    bar = Progress(*columns, console=console, transient=False)  # shown from the first step, not while loading

    def on_step(event: dict) -> None:
        if not bar.task_ids:
            bar.start()
            bar.add_task("train", total=event["total_steps"], epoch="-", loss="-", speed="")
        fields = {"epoch": event["epoch"]}
        if "loss" in event:
            fields.update(loss=f"{event['loss']:.4f}", speed=f"{event['samples_per_s']:.0f} samples/s")
        bar.update(bar.task_ids[0], completed=event["step"], total=event["total_steps"], **fields)

    def say(message: str) -> None:
        bar.console.print(message, soft_wrap=True, markup=False, highlight=False)

    try:
        train(config, resume=resume, overwrite=overwrite, say=say, on_step=on_step)
    finally:
        if bar.task_ids:
            bar.stop()
