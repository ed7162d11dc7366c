"""Training pairs (input embedding -> target caption) from an embedding set.

Three settings, all reading a gaptools embedding set (:func:`gaptools.io.load_set`):

- ``source="text", target="matched"`` (Unsupervised-ClipCap): the input is the CLIP text
  embedding of a caption y', the target a *different* caption y of the same image. Each
  caption is a target once per epoch; its partner is drawn afresh each epoch from the seed.
- ``source="text", target="same"`` (the paper's ablation, CapDec): input and target are one caption.
- ``source="image"`` (ClipCap): the input is the image embedding, the target each of its captions.

Everything is deterministic in ``(seed, epoch, batch)``, so a resumed run sees the same data
and noise as an uninterrupted one, and the global batch is the same for any number of ranks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gaptools.errors import InputError
from gaptools.io import EmbeddingSet
from gaptools.validation import check_captions

SOURCES = ("text", "image")
TARGETS = ("matched", "same")
SINGLE_CAPTION = ("skip", "same")


def prepare_inputs(x: np.ndarray, *, normalize: bool, text_mean=None) -> np.ndarray:
    """The input transform of a run, to apply to every embedding fed to its mapper (training and eval).

    Parameters
    ----------
    x : ndarray, shape (N, D)
    normalize : bool
        Scale rows to unit length first (the run config's ``normalize``).
    text_mean : array-like, shape (D,), or None
        Subtracted after normalising (C3's "collapse": Zhang et al. 2024, "Connect, Collapse,
        Corrupt"); the run config's ``text_mean``.

    Returns
    -------
    ndarray, shape (N, D), float32
    """
    x = np.asarray(x, dtype=np.float32)
    if normalize:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if text_mean is not None:
        x = x - np.asarray(text_mean, dtype=np.float32)
    return x


def text_mean(eset: EmbeddingSet, *, normalize: bool) -> np.ndarray:
    """Mean of the (normalised) caption embeddings, shape (D,), float32."""
    if eset.n_text == 0:
        raise InputError(f"{eset.source}: has no text embeddings to take a mean of (--subtract-text-mean)")
    return prepare_inputs(eset.text, normalize=normalize).mean(axis=0)


def single_caption_rows(text_image: np.ndarray) -> np.ndarray:
    """Captions that are the only caption of their image, shape (K,), int64."""
    _, inverse, counts = np.unique(text_image, return_inverse=True, return_counts=True)
    return np.flatnonzero(counts[inverse] == 1)


def check_set(eset: EmbeddingSet, *, source: str) -> None:
    """Refuse a set that cannot train this source: no captions, or no images for ``source="image"``."""
    if source not in SOURCES:
        raise InputError(f"unknown source '{source}'", hint=f"valid: {', '.join(SOURCES)}")
    if eset.caption is None or eset.n_text == 0:
        raise InputError(f"{eset.source}: has no captions ('caption' strings); training needs target captions",
                         hint="embed the set with its captions (gaptools embed keeps them)")
    if source == "image" and eset.n_image == 0:
        raise InputError(f"{eset.source}: is a text-only set (0 image embeddings); --source image needs images",
                         hint="use --source text, or a set with image embeddings")
    check_captions(eset.caption, source=eset.source)  # an empty target teaches the decoder to stop at once


@dataclasses.dataclass
class PairPlan:
    """Which input row goes with which target caption, epoch by epoch.

    Attributes
    ----------
    groups : ndarray, shape (N_txt,), int64
        Image of each caption (``text_image``).
    source, target, single_caption : str
        The run's settings; ``single_caption`` says what matched targets do with an image that
        has one caption: ``"skip"`` it or fall back to the ``"same"`` caption as input.
    seed : int
    """

    groups: np.ndarray
    source: str
    target: str
    single_caption: str = "skip"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"unknown target '{self.target}'", hint=f"valid: {', '.join(TARGETS)}")
        if self.single_caption not in SINGLE_CAPTION:
            raise InputError(f"unknown --single-caption '{self.single_caption}'", hint=f"valid: {', '.join(SINGLE_CAPTION)}")
        order = np.argsort(self.groups, kind="stable")
        _, start, size = np.unique(self.groups[order], return_index=True, return_counts=True)
        self._order = order  # captions sorted by image
        self._start = np.repeat(start, size)  # (N_txt,) in sorted order: first position of the group
        self._size = np.repeat(size, size)
        self._rank = np.arange(len(order)) - self._start  # position inside the group

    @property
    def matched(self) -> bool:
        return self.source == "text" and self.target == "matched"

    @property
    def n_single(self) -> int:
        """Captions alone with their image."""
        return int((self._size == 1).sum())

    def __len__(self) -> int:
        """Pairs per epoch."""
        return len(self.groups) - (self.n_single if self.matched and self.single_caption == "skip" else 0)

    def pairs(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's pairs, in caption order.

        Returns
        -------
        inputs : ndarray, shape (P,), int64
            Rows of the input matrix (``text`` for the text source, ``image`` for the image source).
        targets : ndarray, shape (P,), int64
            Rows of the captions.
        """
        n = len(self.groups)
        if self.source == "image":
            return self.groups.astype(np.int64), np.arange(n)
        if self.target == "same":
            return np.arange(n), np.arange(n)
        rng = np.random.default_rng([self.seed, epoch, 1])
        draw = (rng.random(n) * np.maximum(self._size - 1, 1)).astype(np.int64)  # among the others
        other = np.where(draw >= self._rank, draw + 1, draw)
        partner = np.where(self._size > 1, self._start + other, self._start + self._rank)
        inputs, targets = np.empty(n, np.int64), np.arange(n)
        inputs[self._order] = self._order[partner]  # caption order[p] gets the input order[partner[p]]
        if self.single_caption == "skip":
            keep = inputs != targets
            return inputs[keep], targets[keep]
        return inputs, targets


def epoch_batches(
    n_pairs: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    world_size: int = 1,
    lengths: np.ndarray | None = None,
    window: int = 0,
) -> list[np.ndarray]:
    """Shuffled global batches of pair positions for one epoch, optionally grouped by caption length.

    Plain (``window`` 0 or 1): the epoch's positions in a random order, cut into batches. Grouped
    (``window`` w > 1, with ``lengths``): the same random order is cut into windows of
    ``w * batch_size`` positions, each window is sorted by length (ties keep the random order)
    and cut into batches, and the batches are shuffled. A batch then holds captions of similar
    length, so padding to its longest caption costs little, while which captions meet in a
    batch and the order of batches stay random. Both are deterministic in ``(seed, epoch)``
    (a resumed run sees the same batches) and give the same number of batches.

    The last batch may be smaller; under ``world_size`` ranks a last batch with fewer pairs
    than ranks is dropped (every rank needs at least one).

    Parameters
    ----------
    n_pairs, batch_size : int
    seed, epoch : int
    world_size : int
    lengths : ndarray, shape (n_pairs,), optional
        Target length of each pair (tokens); needed when ``window`` > 1.
    window : int
        Batches per length-sorted window; 0 or 1: no grouping.

    Returns
    -------
    list of ndarray, each shape (<= batch_size,), int64
    """
    if window < 0:
        raise InputError(f"length window must be >= 0, got {window}")
    order = np.random.default_rng([seed, epoch, 0]).permutation(n_pairs)
    grouped = window > 1
    if grouped:
        if lengths is None or len(lengths) != n_pairs:
            raise InputError(f"grouping by length needs one length per pair ({n_pairs}), got "
                             f"{None if lengths is None else len(lengths)}")
        span = window * batch_size
        key = np.arange(n_pairs) // span * (int(np.max(lengths, initial=0)) + 1) + np.asarray(lengths)[order]
        order = order[np.argsort(key, kind="stable")]  # sorted by length inside each window
    batches = [order[i : i + batch_size] for i in range(0, n_pairs, batch_size)]
    if grouped:
        batches = [batches[i] for i in np.random.default_rng([seed, epoch, 3]).permutation(len(batches))]
    return [b for b in batches if len(b) >= world_size]


def padding_fraction(batches: list[np.ndarray], lengths: np.ndarray) -> float:
    """Share of the token slots that are padding when each batch is padded to its longest length.

    Parameters
    ----------
    batches : list of ndarray
        Positions into ``lengths`` (:func:`epoch_batches`).
    lengths : ndarray, shape (n,)

    Returns
    -------
    float
        ``1 - sum(lengths) / sum(len(batch) * max length in batch)``.
    """
    lengths = np.asarray(lengths)
    slots = sum(len(b) * int(lengths[b].max()) for b in batches if len(b))
    used = sum(int(lengths[b].sum()) for b in batches)
    return 1.0 - used / slots if slots else 0.0


def shard(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's contiguous share of a global batch."""
    return np.array_split(batch, world_size)[rank]


def batch_noise(n: int, dim: int, variance: float, *, seed: int, epoch: int, batch: int) -> np.ndarray:
    """Gaussian noise N(0, variance) for one global batch, shape (n, dim), float32 (CapDec: 0.016)."""
    rng = np.random.default_rng([seed, epoch, batch, 2])
    return (rng.standard_normal((n, dim)) * np.sqrt(variance)).astype(np.float32)
