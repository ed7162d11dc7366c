"""What the top principal directions of each modality encode, on a shapes world's embedding set.

Issue 28's subspace agreement compares the top-10 principal directions of the images with those
of the texts. This bench says what each of those directions carries: for each of the top ``k``
principal directions of the images and of the texts (each image with its first caption, the
issue's pairs), the adjusted R² of the projections on each group of a scene's true factors
(``scenes.json``: the look, the objects, the background, the fills) and of what the caption says
(``gaptools.world.score.read_caption``: the named colours, shapes, sizes and positions; its
length in words). A direction explained by the look and by nothing the caption says is one only
the images carry.

Usage::

    .venv/bin/python bench/principal_anatomy.py                        # the shipped demo's test split
    .venv/bin/python bench/principal_anatomy.py test.npz WORLD_FOLDER  # another set of that world

For the shipped demo's set no world folder is needed: its scenes regenerate in memory from its
recipe (``gaptools.demo.world_scenes``). For another set, give the folder its world was written to
(``gaptools world generate``); only its ``scenes.json`` is read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def adjusted_r2(y: np.ndarray, factors: np.ndarray) -> float:
    """Adjusted R² of the least-squares fit of ``y`` (N,) on ``factors`` (N, P) with an intercept."""
    n, p = factors.shape
    design = np.hstack([factors, np.ones((n, 1))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = 1 - ((y - design @ coef) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return float(1 - (1 - r2) * (n - 1) / (n - p - 1))


def anatomy(embeddings: np.ndarray, groups: dict[str, np.ndarray], k: int = 10) -> tuple[np.ndarray, np.ndarray, dict]:
    """The top-``k`` principal directions of ``embeddings`` (N, D) and what each group explains.

    Returns
    -------
    directions : (D, k) array
        Unit principal directions, largest variance first.
    shares : (k,) array
        Each direction's share of the total variance.
    explained : dict
        ``{group: (k,) array}``: the adjusted R² of each direction's projections on the group's
        factors (N, P_group).
    """
    centred = embeddings - embeddings.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    order = np.argsort(values)[::-1][:k]
    directions = vectors[:, order]
    projections = centred @ directions
    explained = {name: np.array([adjusted_r2(projections[:, j], f) for j in range(k)]) for name, f in groups.items()}
    return directions, values[order] / values.sum(), explained


def _one_hot(values: list) -> np.ndarray:
    """(N, V) indicators of the distinct values, one column dropped (the intercept carries it)."""
    levels = sorted(set(values), key=str)
    return np.array([[v == level for level in levels[1:]] for v in values], dtype=float).reshape(len(values), -1)


def _counts(lists: list[list]) -> np.ndarray:
    """(N, V) how often each distinct value occurs in each list."""
    levels = sorted({v for values in lists for v in values}, key=str)
    return np.array([[values.count(level) for level in levels] for values in lists], dtype=float)


def scene_factors(scenes: list[dict]) -> dict[str, np.ndarray]:
    """The factor groups of a world's scenes (one per pair): look, objects, background, fills."""
    groups = {}
    if all("look" in s for s in scenes):
        groups["look"] = np.hstack([_one_hot([s["look"][a] for s in scenes]) for a in scenes[0]["look"]])
    groups["objects"] = np.hstack([_counts([[o[a] for o in s["objects"]] for s in scenes])
                                   for a in ("shape", "colour", "size", "position")]
                                  + [_one_hot([len(s["objects"]) for s in scenes])])
    groups["background"] = np.hstack([_one_hot([s["background"][a] for s in scenes]) for a in ("tone", "texture")])
    if all("fill" in o for s in scenes for o in s["objects"]):
        groups["fills"] = _counts([[o["fill"] for o in s["objects"]] for s in scenes])
    return groups


def caption_factors(captions: list[str]) -> dict[str, np.ndarray]:
    """The factor groups of what each caption says: its named content and its length in words."""
    from gaptools.world.score import read_caption
    from gaptools.world.vocab import ATTRIBUTES

    said = [read_caption(c) for c in captions]
    named = np.hstack([_counts([sorted(s[a]) for s in said]) for a in ATTRIBUTES])
    return {"named content": named, "caption length": np.array([[len(c.split())] for c in captions], dtype=float)}


def run(eset, scenes: dict[str, dict], k: int = 10) -> dict:
    """The anatomy of both modalities of an embedding set of a shapes world (first caption per image).

    Parameters
    ----------
    eset : gaptools.EmbeddingSet
        With ``image_id`` (the world's file names) and ``caption``.
    scenes : dict
        File name -> the scene of ``scenes.json``.

    Returns
    -------
    dict
        ``{"image": (shares, explained), "text": (shares, explained), "cosines": (k,) array}``.
    """
    from gaptools import metrics as M

    one = eset.first_captions()
    image, text = M.l2_normalize(one.image[one.text_image]), M.l2_normalize(one.text)
    groups = {**scene_factors([scenes[str(name)] for name in one.image_id[one.text_image]]),
              **caption_factors([str(c) for c in one.caption])}
    out = {}
    for name, embeddings in (("image", image), ("text", text)):
        directions, shares, explained = anatomy(embeddings, groups, k)
        out[name], out[f"{name}_directions"] = (shares, explained), directions
    out["cosines"] = np.linalg.svd(out.pop("image_directions").T @ out.pop("text_directions"), compute_uv=False)
    return out


def format_table(result: dict) -> str:
    """A Markdown table: one row per direction and modality, one column per factor group."""
    names = list(result["image"][1])
    lines = ["| direction | variance share | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 2)]
    for modality in ("image", "text"):
        shares, explained = result[modality]
        for j, share in enumerate(shares):
            cells = " | ".join(f"{explained[n][j]:.2f}" for n in names)
            lines.append(f"| {modality} {j + 1} | {share:.3f} | {cells} |")
    cosines = ", ".join(f"{c:.2f}" for c in result["cosines"])
    lines.append(f"\nprincipal cosines between the two top-{len(result['cosines'])} subspaces: {cosines} "
                 f"(mean {result['cosines'].mean():.3f}, the subspace agreement)")
    return "\n".join(lines)


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    import gaptools
    from gaptools.datasets.files import read_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("set", nargs="?", type=Path, help="embedding set (default: the shipped demo's test split)")
    parser.add_argument("world", nargs="?", type=Path, help="its world folder (needs scenes.json; not for the "
                        "shipped demo's set)")
    parser.add_argument("-k", type=int, default=10, help="principal directions per modality (default 10)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    eset = gaptools.load_set(args.set or gaptools.demo.SHAPES_TEST)
    if args.world is not None:
        scenes = read_json(args.world / "scenes.json")["images"]
    else:
        scenes = gaptools.demo.world_scenes(eset)
        if scenes is None:
            parser.error(f"{args.set}: not a set of the shipped demo's world; give its world folder")
    with threadpool_limits(1):
        result = run(eset, {s["filename"]: s for s in scenes}, args.k)
    print(format_table(result))
    print(f"\n{time.perf_counter() - start:.1f} s, one BLAS thread", file=sys.stderr)


if __name__ == "__main__":
    main()
