"""The embedding loop: records + encoder -> an embedding-set ``.npz``, batched and resumable.

Each image is encoded once however many captions it has; captions go in large batches
(sorted by length, so Hugging Face tokenizers pad little); a DataLoader with workers decodes
images; float16 autocast on CUDA by default. Work is cut into shards of ``shard_size``
images (with their captions), saved atomically to ``<out>.parts/<key>/`` so that a rerun
with the same arguments resumes; under ``torchrun`` each rank embeds its shards and rank 0
assembles. The final file is written atomically: an interrupted run leaves none.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from gaptools.datasets.records import CaptionRecords
from gaptools.embed.distributed import barrier, process_group
from gaptools.embed.encoders import Encoder
from gaptools.embed.images import image_batches
from gaptools.embed.shards import ShardStore, parts_dir, run_key
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set
from gaptools.outputs import EMBED_PARTS, check_output_folder, remove_if_empty, run_lock, write_marker

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Items per second of a progress task."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f} {task.fields.get('unit', 'items')}/s", style="cyan")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: fp16 on CUDA, fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def _finish(features: torch.Tensor, normalize: bool) -> np.ndarray:
    features = features.float()
    if normalize:
        features = torch.nn.functional.normalize(features, dim=-1)
    return features.cpu().numpy()  # (B, D) float32


def _default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class _Embedder:
    """Embeds one shard at a time with fixed settings."""

    def __init__(self, encoder, *, normalize, precision, batch_size, image_batch_size, num_workers, progress):
        self.encoder, self.normalize, self.precision = encoder, normalize, precision
        self.batch_size, self.image_batch_size, self.num_workers = batch_size, image_batch_size, num_workers
        self.progress = progress

    def texts(self, captions: list[str], task) -> np.ndarray:
        order = np.argsort([len(c) for c in captions], kind="stable")  # similar lengths pad little
        out = [None] * len(captions)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            with torch.inference_mode(), _autocast(self.encoder.device, self.precision):
                feats = _finish(self.encoder.encode_texts([captions[i] for i in idx]), self.normalize)
            for i, row in zip(idx, feats):
                out[i] = row
            self.progress.advance(task, len(idx))
        return np.stack(out)  # (n, D)

    def images(self, paths: list[str], task) -> np.ndarray:
        device = self.encoder.device
        chunks = []
        for pixels in image_batches(paths, self.encoder.preprocess, batch_size=self.image_batch_size,
                                    num_workers=self.num_workers, pin_memory=device.type == "cuda"):
            with torch.inference_mode(), _autocast(device, self.precision):
                chunks.append(_finish(self.encoder.encode_images(pixels.to(device, non_blocking=True)), self.normalize))
            self.progress.advance(task, pixels.shape[0])
        return np.concatenate(chunks)  # (n, D)


def embed_dataset(
    records: CaptionRecords,
    encoder: Encoder,
    out_path: str | os.PathLike,
    *,
    text_only: bool = False,
    normalize: bool = True,
    precision: str = "auto",
    batch_size: int = 256,
    image_batch_size: int = 64,
    num_workers: int | None = None,
    shard_size: int = 2048,
    float16: bool = False,
    compress: bool = False,
    progress: bool = True,
    meta: dict | None = None,
) -> Path:
    """Embed a dataset's images and captions into an embedding-set ``.npz``.

    Parameters
    ----------
    records : CaptionRecords
        From a :mod:`gaptools.datasets` reader; image files resolved with
        :func:`gaptools.datasets.resolve_images` (unless ``text_only``).
    encoder : Encoder
        From :func:`gaptools.embed.load_encoder`, already on its device.
    out_path : path-like
        The ``.npz`` to write. Shards live in ``<out>.parts/`` until it is written.
    text_only : bool
        Encode captions only: 0 image rows, ``text_image`` still groups captions by image.
    normalize : bool
        L2-normalise every embedding (recorded as ``meta["normalized"]``).
    precision : {"auto", "fp32", "fp16", "bf16"}
        Autocast dtype; ``auto`` is fp16 on CUDA, fp32 elsewhere.
    batch_size, image_batch_size : int
        Captions and images per forward pass.
    num_workers : int, optional
        DataLoader workers decoding images (0: in this process); default: CPUs - 1, at most 8.
    shard_size : int
        Images per shard (the unit of resumption and of the torchrun split).
    float16 : bool
        Store the final embeddings as float16.
    compress : bool
        Deflate the ``.npz`` (see :func:`gaptools.save_set`; worth it for the caption strings).
    progress : bool
        Show a rich progress bar (rank 0 only).
    meta : dict, optional
        Extra provenance for ``meta`` (e.g. how many missing images were skipped).

    Returns
    -------
    Path
        ``out_path`` (on every rank; only rank 0 writes it).
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".npz":
        raise InputError(f"{out_path}: an embedding set is written as .npz")
    for name, value in (("batch_size", batch_size), ("image_batch_size", image_batch_size), ("shard_size", shard_size)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    precision = resolve_precision(precision, encoder.device)
    num_workers = _default_workers() if num_workers is None else num_workers
    order = np.argsort(records.text_image, kind="stable")  # captions grouped by image, file order kept
    bounds = list(range(0, records.n_image, shard_size)) + [records.n_image]
    cuts = np.searchsorted(records.text_image[order], bounds)  # caption range of each shard in `order`
    n_shards = len(bounds) - 1
    settings = {"records": records.fingerprint(), "encoder": encoder.identity(), "normalize": normalize,
                "precision": precision, "text_only": text_only, "shard_size": shard_size}
    key = run_key(settings)
    store = ShardStore(parts_dir(out_path) / key)

    with process_group() as (rank, world), _holding(store.folder.parent, rank == 0):
        barrier(world)  # rank 0 holds and marks the work folder before any rank writes in it
        store.start({"out": str(out_path), "key": key, "n_shards": n_shards, **settings})
        mine = [k for k in range(n_shards) if k % world == rank]
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, disable=not progress or rank != 0) as bar:
            image_task = bar.add_task("images", total=0 if text_only else sum(bounds[k + 1] - bounds[k] for k in mine),
                                      unit="images", visible=not text_only)
            text_task = bar.add_task("captions", total=int(sum(cuts[k + 1] - cuts[k] for k in mine)), unit="captions")
            embedder = _Embedder(encoder, normalize=normalize, precision=precision, batch_size=batch_size,
                                 image_batch_size=image_batch_size, num_workers=num_workers, progress=bar)
            try:
                for k in mine:
                    lo, hi = bounds[k], bounds[k + 1]
                    caption_rows = order[cuts[k]:cuts[k + 1]]
                    if store.load(k, 0 if text_only else hi - lo, len(caption_rows)) is not None:
                        bar.advance(image_task, 0 if text_only else hi - lo)
                        bar.advance(text_task, len(caption_rows))
                        continue
                    text = embedder.texts([records.caption[i] for i in caption_rows], text_task)
                    image = (np.zeros((0, text.shape[1]), np.float32) if text_only
                             else embedder.images(records.image_file[lo:hi], image_task))
                    store.save(k, image, text)
            except KeyboardInterrupt:
                console.print(f"[yellow]Stopped; finished shards are kept in {store.folder}: "
                              "rerun the same command to continue.[/yellow]")
                raise
        barrier(world)
        if rank == 0:
            _assemble(records, store, order, bounds, cuts, out_path, text_only=text_only, float16=float16,
                      compress=compress, meta={**encoder.describe(), **(meta or {}), "dataset": records.dataset, "split": records.split,
                            "normalized": normalize, "text_only": text_only, "precision": precision,
                            "annotations": records.source})
            store.remove()
    return out_path


@contextlib.contextmanager
def _holding(parts: Path, main: bool):
    """On rank 0: check the work folder is gaptools', hold its lock and mark it while the run lasts."""
    if not main:
        yield
        return
    check_output_folder(parts, kind=EMBED_PARTS, option="-o (its work folder)", reuse=True)
    with run_lock(parts, command="gaptools embed"):
        write_marker(parts, EMBED_PARTS)
        yield
    remove_if_empty(parts)


def _assemble(records, store, order, bounds, cuts, out_path, *, text_only, float16, compress, meta) -> None:
    """Read every shard back in order and write the final set atomically."""
    images, texts_by_shard = [], []
    for k in range(len(bounds) - 1):
        shard = store.load(k, 0 if text_only else bounds[k + 1] - bounds[k], int(cuts[k + 1] - cuts[k]))
        if shard is None:
            raise InputError(f"{store.path(k)}: shard missing or incomplete; rerun the same command to redo it")
        images.append(shard[0])
        texts_by_shard.append(shard[1])
    text = np.empty((records.n_text, texts_by_shard[0].shape[1]), np.float32)  # (N_txt, D)
    text[order] = np.concatenate(texts_by_shard)
    eset = EmbeddingSet(
        image=np.concatenate(images),
        text=text,
        text_image=records.text_image,
        image_id=np.asarray(records.image_id, dtype=str),
        caption=np.asarray(records.caption, dtype=str),
        meta=meta,
        source=str(out_path),
    )
    save_set(eset, out_path, float16=float16, compress=compress)
