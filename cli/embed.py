"""`gaptools embed`: CLIP embeddings of image–caption datasets (coco, flickr, csv, json).

Each command reads its annotation format into caption records, finds the images (unless
``--text-only``), loads the encoder and calls :func:`gaptools.embed.embed_dataset`.
The options after the dataset-specific ones are shared by every command.
"""

import functools
import inspect
from pathlib import Path
from typing import Callable, Optional

import typer

from gaptools.cli.app import console
from gaptools.datasets import read_caption_map, read_coco, read_flickr_tokens, read_table, resolve_images
from gaptools.errors import InputError
from gaptools.outputs import SET_FILE, check_output_file

embed_app = typer.Typer(
    help="Embed image–caption datasets with a CLIP (open_clip or Hugging Face) into an embedding set.",
    no_args_is_help=True,
)


def _shared_options(
    out: Path = typer.Option(..., "-o", "--out", help="Embedding set to write (.npz)."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder the image files are relative to (default: the annotation file's folder)."),
    text_only: bool = typer.Option(False, "--text-only", help="Encode captions only (0 image rows; no image files needed)."),
    model: Optional[str] = typer.Option(
        None, "--model", help="open_clip model name (default ViT-B-32; with --model-config: its label, default the "
        "config's file name), or hf:<hub id or folder> for Hugging Face."),
    pretrained: str = typer.Option("openai", "--pretrained", help="open_clip pretrained tag, a checkpoint file, or 'none' (random init)."),
    model_config: Optional[Path] = typer.Option(None, "--model-config", help="open_clip model-config JSON of a custom model (--pretrained is its checkpoint)."),
    backend: str = typer.Option("auto", "--backend", help="auto, open_clip or hf (auto: hf when --model starts with hf:)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... (default: CUDA when present)."),
    precision: str = typer.Option("auto", "--precision", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Captions per forward pass."),
    image_batch_size: int = typer.Option(64, "--image-batch-size", min=1, help="Images per forward pass."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="DataLoader workers decoding images (default: CPUs - 1, at most 8)."),
    shard_size: int = typer.Option(2048, "--shard-size", min=1, help="Images per resumable shard."),
    no_normalize: bool = typer.Option(False, "--no-normalize", help="Keep raw embeddings (default: L2-normalised)."),
    float16: bool = typer.Option(False, "--float16", help="Store embeddings as float16."),
    skip_missing: bool = typer.Option(False, "--skip-missing", help="Go on without missing images (their captions are dropped)."),
    allow_absolute_paths: bool = typer.Option(
        False, "--allow-absolute-paths", help="Accept absolute image paths in the annotation file (default: every "
        "image file must lie inside --images; '..' is always refused)."),
    skip_empty: bool = typer.Option(False, "--skip-empty", help="Drop empty captions instead of stopping."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """The options every `gaptools embed` command takes (their signature only)."""


_SHARED = inspect.signature(_shared_options).parameters


def _with_shared_options(command: Callable) -> Callable:
    """Add the shared options to a command; it receives them as one dict ``opts``."""
    own = [p for name, p in inspect.signature(command).parameters.items() if name != "opts"]

    @functools.wraps(command)
    def wrapper(**kwargs):
        opts = {name: kwargs.pop(name) for name in _SHARED}
        return command(**kwargs, opts=opts)

    wrapper.__signature__ = inspect.Signature(own + list(_SHARED.values()))
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper


def _embed(read: Callable, opts: dict) -> None:
    """Read the records (``read(skip_empty)``), find the images, load the encoder, embed."""
    records = read(opts["skip_empty"])
    pretrained_file = opts["pretrained"] if Path(opts["pretrained"]).is_file() else None
    check_output_file(opts["out"], option="-o", suffixes=(".npz",), kind=SET_FILE, flag=None,
                      inputs=[records.source, opts["images"], opts["model_config"], pretrained_file])
    meta = {}
    if not opts["text_only"]:
        records, n_missing = resolve_images(records, opts["images"], skip_missing=opts["skip_missing"],
                                            allow_absolute=opts["allow_absolute_paths"])
        if n_missing:
            console.print(f"[yellow]Skipping {n_missing} missing image(s) and their captions.[/yellow]")
            meta["missing_images_skipped"] = n_missing
    from gaptools.embed import embed_dataset, load_encoder  # torch: only when embedding

    pretrained = None if opts["pretrained"].lower() == "none" else opts["pretrained"]
    model = opts["model"] or (Path(opts["model_config"]).stem if opts["model_config"] else "ViT-B-32")
    encoder = load_encoder(model, pretrained, model_config=opts["model_config"],
                           device=opts["device"], backend=opts["backend"])
    console.print(
        f"{records.dataset}{'/' + records.split if records.split else ''}: "
        + ("" if opts["text_only"] else f"{records.n_image} images, ")
        + f"{records.n_text} captions; {encoder.backend} {encoder.model_name} on {encoder.device}"
    )
    out = embed_dataset(
        records, encoder, opts["out"], text_only=opts["text_only"], normalize=not opts["no_normalize"],
        precision=opts["precision"], batch_size=opts["batch_size"], image_batch_size=opts["image_batch_size"],
        num_workers=opts["workers"], shard_size=opts["shard_size"], float16=opts["float16"],
        progress=not opts["no_progress"], meta=meta,
    )
    console.print(f"Wrote {out}")


@embed_app.command("coco")
@_with_shared_options
def coco_command(
    annotations: Path = typer.Option(..., "--annotations", help="captions_*.json (official) or dataset_coco.json (Karpathy)."),
    split: Optional[str] = typer.Option(None, "--split", help="Karpathy split: train, restval, val, test, or e.g. train+restval."),
    opts: dict = None,
) -> None:
    """COCO captions: official captions_*.json or a Karpathy split JSON."""
    _embed(lambda skip_empty: read_coco(annotations, split=split, skip_empty=skip_empty), opts)


@embed_app.command("flickr")
@_with_shared_options
def flickr_command(
    captions: Path = typer.Option(..., "--captions", help="Flickr8k.token.txt / results_20130124.token, or dataset_flickr30k.json (Karpathy)."),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="Image list of one split (token files), e.g. Flickr_8k.testImages.txt."),
    split: Optional[str] = typer.Option(None, "--split", help="Karpathy split (JSON files): train, val, test."),
    opts: dict = None,
) -> None:
    """Flickr8k / Flickr30k: token file with split lists, or Karpathy JSON."""
    if captions.suffix.lower() == ".json":
        if split_file is not None:
            raise InputError(f"{captions}: --split-file is for token files; a Karpathy JSON takes --split")

        def read(skip_empty):
            return read_coco(captions, split=split, skip_empty=skip_empty)
    else:
        if split is not None:
            raise InputError(f"{captions}: --split is for Karpathy JSON; a token file takes --split-file")

        def read(skip_empty):
            return read_flickr_tokens(captions, split_file=split_file, skip_empty=skip_empty)
    _embed(read, opts)


@embed_app.command("csv")
@_with_shared_options
def csv_command(
    table: Path = typer.Argument(..., help="CSV, TSV or JSON Lines file, one row per caption."),
    image_column: str = typer.Option("image", "--image-column", help="Column with the image file."),
    caption_column: str = typer.Option("caption", "--caption-column", help="Column with the caption."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Column with the image id (default: the image file)."),
    opts: dict = None,
) -> None:
    """Image/caption pairs from a CSV/TSV/JSON Lines table with chosen columns."""
    _embed(lambda skip_empty: read_table(table, image_column=image_column, caption_column=caption_column,
                                         id_column=id_column, skip_empty=skip_empty), opts)


@embed_app.command("json")
@_with_shared_options
def json_command(
    captions: Path = typer.Argument(..., help="JSON object {image_file: [captions]}."),
    opts: dict = None,
) -> None:
    """Captions from a {image_file: [captions]} JSON."""
    _embed(lambda skip_empty: read_caption_map(captions, skip_empty=skip_empty), opts)
