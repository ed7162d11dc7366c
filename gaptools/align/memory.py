"""DeCap's training-free memory projection: a query becomes a softmax-weighted mean of a memory.

Reference: Li, Zhu, Wen & Yang 2023, "DeCap: Decoding CLIP Latents for Zero-Shot
Captioning via Text-Only Training", ICLR (official code: github.com/dhg-wei/DeCap).
"""

from __future__ import annotations

import numpy as np

from gaptools.align.base import Aligner
from gaptools.align.transport import seeded_rows
from gaptools.errors import InputError
from gaptools.metrics import l2_normalize

#: Similarities held at once (32 MB float32: ~840 queries against 10,000 memory rows). Small
#: enough that the softmax's passes over them stay in cache: measured on this 2-core machine,
#: one BLAS thread, 20,000 queries × 10,000 × 512, ~1,000-row chunks took 0.88× the CPU time
#: of 6,710-row (256 MB) chunks; 64-row chunks 1.7× (the GEMMs lose efficiency).
CHUNK_ELEMENTS = 1 << 23


def soft_projection(queries: np.ndarray, memory: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(q̂ · Mᵀ / τ) · M`` for every query row, in chunks.

    Parameters
    ----------
    queries : ndarray, shape (N, D)
        Compared by cosine: each row is L2-normalised first (q̂).
    memory : ndarray, shape (m, D), float32
        Unit-norm rows.
    temperature : float
        τ > 0. As τ → 0 each row tends to its nearest memory item (largest cosine); as
        τ → ∞ to the memory mean.

    Returns
    -------
    ndarray, shape (N, D), float32
        Convex combinations of memory rows (not renormalised).

    Notes
    -----
    Float32 throughout; the softmax subtracts each row's largest similarity before the
    exponential, so no τ over- or underflows the maximum's weight (it is exactly 1). At
    most :data:`CHUNK_ELEMENTS` similarities (32 MB) are held at once; the work is two GEMMs
    of N × m × D each plus one exponential per similarity.
    """
    memory = np.asarray(memory, dtype=np.float32)
    # 1/τ goes on the (chunk, D) queries rather than the (chunk, m) similarities (m > D: one
    # pass fewer over the large array); capped so that |logits| <= 1e30 (unit rows) stays finite.
    scale = np.float32(min(1.0 / temperature, 1e30))
    out = np.empty((len(queries), memory.shape[1]), dtype=np.float32)
    step = max(1, CHUNK_ELEMENTS // len(memory))
    for start in range(0, len(queries), step):
        logits = (l2_normalize(queries[start:start + step]) * scale) @ memory.T  # (chunk, m): cos / τ
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits, out=logits)  # in place; the row maximum's weight is exactly 1
        block = out[start:start + step]
        np.matmul(weights, memory, out=block)
        block /= weights.sum(axis=1, keepdims=True)
    return out


class MemoryProjection(Aligner):
    """DeCap's projection: ``q ↦ softmax(q̂ · Mᵀ / τ) · M``, re-normalised, M a memory of texts.

    DeCap decodes a text-only-trained captioner from an image by replacing the image
    embedding with a similarity-weighted combination of text embeddings from a memory; its
    official code uses cosine similarities and ``softmax(100 · sim)``, i.e. τ = 1/100, and
    normalises the result. This is that projection as an estimator: ``fit`` draws the
    memory from the fit set's captions (a seeded sample of ``memory_size`` rows without
    replacement, or all of them when fewer), L2-normalised. It maps images into the text
    region by construction: every output is a combination of real caption embeddings.

    ``inverse_transform`` (texts toward images) is our extension, symmetric by design: a
    second memory drawn the same way from the fit set's images, so text-to-image
    application is defined rather than refused. Both memories are saved with the aligner
    (memory_size × D float32 each: 20 MB each at 10,000 × 512).

    Learned state: ``memory_txt_`` (m_t, D) and ``memory_img_`` (m_i, D), float32 unit rows.

    Parameters
    ----------
    memory_size : int
        Rows of each memory (default 10,000, or all the fit set has if fewer).
    temperature : float
        Softmax temperature τ > 0 (default 0.01, DeCap's 1/100).
    random_state : int
        Seed of the memory samples.
    renormalize : bool
    """

    name = "memory-projection"
    state = ("memory_txt_", "memory_img_")
    # Outputs are combinations of the captions nearest each image, which lean toward the image
    # side wherever captions vary along the gap: the centroid gap shrinks, it is not removed.
    closes_gap = False

    def __init__(self, *, memory_size: int = 10000, temperature: float = 0.01, random_state: int = 0,
                 renormalize: bool = True) -> None:
        self.memory_size = memory_size
        self.temperature = temperature
        self.random_state = random_state
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        if isinstance(self.memory_size, bool) or not isinstance(self.memory_size, int) or self.memory_size < 1:
            raise InputError(f"memory-projection: memory_size must be a positive integer, got {self.memory_size!r}")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t < np.inf):
            raise InputError(f"memory-projection: temperature must be a positive finite number, got {t!r}")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise InputError(f"memory-projection: random_state must be an integer, got {self.random_state!r}")

    def _fit(self, X_img, X_txt, pairs):
        rng = np.random.default_rng(self.random_state)
        self.memory_txt_ = l2_normalize(seeded_rows(X_txt, self.memory_size, rng)).copy()
        self.memory_img_ = l2_normalize(seeded_rows(X_img, self.memory_size, rng)).copy()

    def _forward(self, X):
        return soft_projection(X, self.memory_txt_, self.temperature)

    def _backward(self, X):
        return soft_projection(X, self.memory_img_, self.temperature)
