"""`caption train`: ClipCap (image source) and Unsupervised-ClipCap (text source) training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.app import console


def train_command(
    data: Path = typer.Argument(..., help="Training embedding set (.npz) with captions."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder to write."),
    val: Optional[Path] = typer.Option(None, "--val", help="Held-out embedding set: validation loss each epoch."),
    source: str = typer.Option("text", help="Input: 'text' (CLIP text embedding, no images) or 'image' (ClipCap)."),
    target: Optional[str] = typer.Option(
        None, help="Text source: 'matched' (another caption of the same image; default) or 'same'."),
    single_caption: str = typer.Option(
        "skip", help="Matched targets, images with one caption: 'skip' them or use the 'same' caption."),
    noise_variance: float = typer.Option(0.0, help="Add N(0, v) noise to training inputs (CapDec: 0.016)."),
    subtract_text_mean: bool = typer.Option(False, help="C3: subtract the training text mean (kept for eval)."),
    normalize: bool = typer.Option(True, help="L2-normalise inputs first."),
    decoder: str = typer.Option("gpt2", help="Causal LM: Hugging Face hub id or local folder."),
    mapper: str = typer.Option("mlp", help="Prefix mapper: 'mlp' or 'transformer'."),
    prefix_length: int = typer.Option(10, help="Prefix embeddings L."),
    freeze_decoder: bool = typer.Option(False, help="Train the mapper only."),
    mapper_layers: int = typer.Option(8, help="Transformer mapper layers."),
    mapper_heads: int = typer.Option(8, help="Transformer mapper heads."),
    clip_length: int = typer.Option(10, help="Transformer mapper: tokens made from the CLIP vector."),
    lr: float = typer.Option(2e-5, help="AdamW peak learning rate."),
    warmup: int = typer.Option(5000, help="Linear warm-up steps (then linear decay to 0)."),
    weight_decay: float = typer.Option(0.0, help="AdamW weight decay."),
    batch_size: int = typer.Option(40, help="Global batch size (split over torchrun ranks)."),
    epochs: int = typer.Option(10, help="Epochs."),
    max_tokens: int = typer.Option(64, help="Longest target in tokens (EOS included); longer ones are cut."),
    seed: int = typer.Option(0, help="Seed of initialisation, data order, partners, noise, dropout."),
    save_every: int = typer.Option(0, help="Also checkpoint every N steps (0: each epoch only)."),
    log_every: int = typer.Option(50, help="Steps between log.jsonl records."),
    device: str = typer.Option("auto", help="'auto' (cuda when present), 'cpu', 'cuda', ..."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --output."),
) -> None:
    """Train a CLIP-prefix captioner; writes config.json, log.jsonl, checkpoints and final/."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from caption.train import TrainConfig, train

    config = TrainConfig(
        data=str(data), output=str(output), val=None if val is None else str(val), source=source, target=target,
        single_caption=single_caption, noise_variance=noise_variance, subtract_text_mean=subtract_text_mean,
        normalize=normalize, decoder=decoder, mapper=mapper, prefix_length=prefix_length,
        freeze_decoder=freeze_decoder, mapper_layers=mapper_layers, mapper_heads=mapper_heads, clip_length=clip_length,
        lr=lr, warmup=warmup, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, max_tokens=max_tokens,
        seed=seed, save_every=save_every, log_every=log_every, device=device,
    )
    columns = (TextColumn("[bold]train[/bold] epoch {task.fields[epoch]}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]}  {task.fields[speed]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=None, epoch="-", loss="-", speed="")

        def on_step(event: dict) -> None:
            fields = {"epoch": event["epoch"] + 1}
            if "loss" in event:
                fields.update(loss=f"{event['loss']:.4f}", speed=f"{event['samples_per_s']:.0f} samples/s")
            bar.update(task, completed=event["step"], total=event["total_steps"], **fields)

        def say(message: str) -> None:
            bar.console.print(message, soft_wrap=True, markup=False, highlight=False)

        train(config, resume=resume, overwrite=overwrite, say=say, on_step=on_step)
