"""Report figures (matplotlib, Agg), returned as PNG bytes.

Colours are the Okabe–Ito palette, safe for the common colour-vision deficiencies.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gaptools import metrics as M  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
IMAGE, TEXT, ALIGNED = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2]
WIDTH = 9.0  # inches; the page is ~900 px wide at 100 dpi
NO_ALIGNER = "as embedded (no aligner)"  # the title of the one panel of a figure drawn without an aligner


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x[np.sort(rng.choice(len(x), size=n, replace=False))] if len(x) > n else x


def projection_scatter(image, text, after=None, *, method: str = "pca", max_points: int = 2000,
                       seed: int = 0, cache_dir: Path | None = None, after_label: str = "after alignment") -> bytes:
    """2-D projection of image and text embeddings, fitted on everything drawn.

    Parameters
    ----------
    image : ndarray, shape (N_img, D)
    text : ndarray, shape (N_txt, D)
    after : (ndarray, ndarray), optional
        The same images and texts after an aligner: drawn in a second panel, same axes, titled
        ``after_label``; the first panel is then "before". Without it the one panel is titled
        "as embedded (no aligner)".
    method : {"pca", "umap"}
        UMAP results are cached in ``cache_dir`` by a hash of the points.
    """
    rng = np.random.default_rng(seed)
    idx_i = np.sort(rng.choice(len(image), size=min(max_points, len(image)), replace=False))
    idx_t = np.sort(rng.choice(len(text), size=min(max_points, len(text)), replace=False))
    panels = [(NO_ALIGNER if after is None else "before", image[idx_i], text[idx_t])]
    if after is not None:
        panels.append((after_label, after[0][idx_i], after[1][idx_t]))
    coords = _project(M.l2_normalize(np.concatenate([x for _, i, t in panels for x in (i, t)])), method, seed, cache_dir)
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 4.2 if len(panels) > 1 else 5), squeeze=False,
                             sharex=True, sharey=True)
    start = 0
    for k, (title, img, txt) in enumerate(panels):
        ci, ct = coords[start:start + len(img)], coords[start + len(img):start + len(img) + len(txt)]
        start += len(img) + len(txt)
        ax = axes[0, k]
        ax.scatter(ct[:, 0], ct[:, 1], s=4, alpha=0.5, color=TEXT, label="text", linewidths=0)
        ax.scatter(ci[:, 0], ci[:, 1], s=4, alpha=0.5, color=IMAGE if k == 0 else ALIGNED,
                   label="image" if k == 0 else "image (after)", linewidths=0)
        ax.set_title(title)
        ax.set_xlabel(f"{method.upper()} 1 (unitless)")
        ax.legend(markerscale=3, loc="best", fontsize=8)
    axes[0, 0].set_ylabel(f"{method.upper()} 2 (unitless)")
    fig.suptitle(f"Image and text embeddings, 2-D {method.upper()} of all points drawn (unit vectors)")
    return _png(fig)


def _project(x: np.ndarray, method: str, seed: int, cache_dir: Path | None) -> np.ndarray:
    if method == "pca":
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return centred @ vt[:2].T
    key = hashlib.sha256(x.tobytes() + str(seed).encode()).hexdigest()[:20]
    cached = cache_dir / f"umap-{key}.npy" if cache_dir else None
    if cached is not None and cached.exists():
        return np.load(cached, allow_pickle=False)
    import umap

    coords = umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    if cached is not None:
        from gaptools.atomic import atomic_write

        with atomic_write(cached) as fh:
            np.save(fh, coords, allow_pickle=False)
    return coords


def cosine_histograms(image, text, text_image, *, seed: int = 0) -> bytes:
    """Histograms of the cosine of true pairs and of random mismatched pairs.

    Parameters
    ----------
    image : ndarray, shape (N_img, D)
    text : ndarray, shape (N_txt, D)
    text_image : ndarray, shape (N_txt,)
    """
    rng = np.random.default_rng(seed)
    img, txt = M.l2_normalize(image), M.l2_normalize(text)
    matched = np.einsum("nd,nd->n", img[text_image], txt)
    other = rng.integers(0, len(img), size=len(txt))
    keep = other != text_image
    random = np.einsum("nd,nd->n", img[other[keep]], txt[keep])
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    bins = np.linspace(min(matched.min(), random.min()), max(matched.max(), random.max()), 60)
    ax.hist(random, bins=bins, alpha=0.6, color=OKABE_ITO[3], label="random (mismatched) pairs", density=True)
    ax.hist(matched, bins=bins, alpha=0.6, color=OKABE_ITO[2], label="true pairs", density=True)
    ax.set_xlabel("cosine similarity (image, caption)")
    ax.set_ylabel("density")
    ax.legend()
    return _png(fig)


def conformity_histograms(image, text, text_image, *, after: dict | None = None) -> bytes:
    """Histograms of every image's and caption's conformity, before and after each aligner.

    Conformity (Levi & Gilboa 2025) is an embedding's mean cosine to the other embeddings of
    its modality, a caption's to the captions of other images (:func:`gaptools.metrics.conformity`).
    One panel per set of embeddings, on shared axes.

    Parameters
    ----------
    image : ndarray, shape (N_img, D)
    text : ndarray, shape (N_txt, D)
    text_image : ndarray, shape (N_txt,)
    after : dict of str to (ndarray, ndarray), optional
        Panel title (e.g. ``"after procrustes"``) -> the same images and captions after an aligner.
    """
    panels = [("before" if after else NO_ALIGNER, image, text), *[(title, i, t) for title, (i, t) in (after or {}).items()]]
    values = [(title, M.conformity(i), M.conformity(t, text_image)) for title, i, t in panels]
    finite = np.concatenate([v[np.isfinite(v)] for _, ci, ct in values for v in (ci, ct)])
    bins = np.linspace(finite.min(), finite.max(), 60) if finite.size else 60
    fig, axes = plt.subplots(1, len(values), figsize=(WIDTH, 3.6), squeeze=False, sharex=True, sharey=True)
    for ax, (title, ci, ct) in zip(axes[0], values):
        ax.hist(ci[np.isfinite(ci)], bins=bins, alpha=0.6, color=IMAGE, label="images", density=True)
        ax.hist(ct[np.isfinite(ct)], bins=bins, alpha=0.6, color=TEXT, label="captions", density=True)
        ax.set_title(title)
        ax.set_xlabel("conformity (mean cosine to the others)")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("density")
    return _png(fig)


def gap_dimensions(image, text, k: int = 10) -> bytes:
    """Bar chart of the coordinates carrying most of ‖mean(image) − mean(text)‖²."""
    dims = M.top_gap_dims(M.l2_normalize(image), M.l2_normalize(text), k=k)
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    ax.bar([str(d) for d, _ in dims], [100 * s for _, s in dims], color=IMAGE)
    ax.set_xlabel("embedding dimension")
    ax.set_ylabel("share of squared gap (%)")
    ax.set_title(f"Top {len(dims)} dimensions of the centroid gap")
    return _png(fig)


def mixup_curve(table: pd.DataFrame, metric: str, *, low: pd.DataFrame | None = None,
                high: pd.DataFrame | None = None) -> bytes:
    """The paper's Fig. 3: a captioning metric against the mixup text share λ, one line per run.

    ``low``/``high`` (same shape as ``table``), when given, are drawn as an interval band.
    """
    fig, ax = plt.subplots(figsize=(WIDTH, 4))
    markers = "osD^v<>p"
    for i, run in enumerate(table.columns):
        series = table[run].dropna()
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax.plot(series.index, series.values, marker=markers[i % len(markers)], color=colour, label=run)
        if low is not None and high is not None and run in low:
            ax.fill_between(series.index, low[run].reindex(series.index), high[run].reindex(series.index),
                            color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("λ, text share of the input (0 = image, 1 = caption)")
    ax.set_ylabel(f"{metric} (×100)")
    ax.set_xlim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def dimension_ablation(ablation: dict) -> bytes:
    """R@1 both ways and the centroid gap against k, removing the top-k gap dimensions or k random ones.

    ``ablation`` is the ``dim_ablation`` entry of a measured set (:func:`gaptools.metrics.gap_dimension_ablation`).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.5))
    ks = ablation["ks"]
    for curve, style in (("top", "-"), ("random", "--")):
        for key, colour in (("recall@1_i2t", IMAGE), ("recall@1_t2i", TEXT)):
            left.plot(ks, ablation[curve][key], style, marker="o", color=colour, label=f"{key}, {curve} dims")
        right.plot(ks, ablation[curve]["centroid_gap"], style, marker="o", color=ALIGNED, label=f"{curve} dims")
    left.set_xlabel("dimensions removed (k)")
    left.set_ylabel("R@1")
    right.set_xlabel("dimensions removed (k)")
    right.set_ylabel("centroid gap")
    for ax in (left, right):
        ax.set_xscale("symlog", base=2, linthresh=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _png(fig)

