"""The geometry a world and toy-CLIP setting gives: the research table of the CLIP-like preset.

Generates a world (cached by its params under ``--cache``), trains a toy CLIP on its train split,
embeds the test split and prints one Markdown row of the figures the calibration targets
(centroid gap, matched cosine, image/text cone, relative gap, R@1 both ways, logit scale) and,
with ``--structure``, a second row of the second-order figures of issue 28 on the test split's
first caption per image (centred matched cosine, matched cosine after the mean shift,
participation ratios of images / texts / pair residual, top-10 subspace agreement, the share of
‖Δ‖² in the 2 largest coordinates), so every setting is chosen on geometry alone, never on
captioning scores. ``--json`` appends the row, with every setting (and with ``--structure`` the ten
principal cosines whose mean is the agreement), to a JSON-lines file.

``--eval KEY=VALUE[,KEY=VALUE] ...`` measures the same test images with captions written under
other caption settings (``mention``, ``style``, ``name_looks``), one row each (a world's scenes and
pixels do not depend on them, only its captions do): a toy CLIP trained on one caption
distribution, measured on another, as CLIP is trained on web captions and measured on a dataset's.

    python bench/world_calibrate.py --preset clip-like --images 1500 --steps 300 --batch-size 128
    python bench/world_calibrate.py --preset simple --embed-dim 512 --init-logit-scale 100 --logit-scale-lr 0
    python bench/world_calibrate.py --preset clip-like --images 2000 --test 500 --val 50 --steps 300 \
        --batch-size 128 --palette wide --jitter 0.1 --rotation --style rich --structure
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gaptools.threads import configure  # noqa: E402
from gaptools.world.presets import DEFAULT_PRESET  # noqa: E402


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default=DEFAULT_PRESET, help="starting point: a gaptools.world preset name (default: %(default)s)")
    p.add_argument("--images", type=int, help="world images (default: the preset's)")
    p.add_argument("--seed", type=int, default=1, help="world seed")
    p.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="images per step (default: the preset's)")
    for name in ("mention", "init-logit-scale", "logit-scale-lr", "lr", "jitter", "lighting", "weight-decay",
                 "name-fills"):
        p.add_argument(f"--{name}", type=float)
    p.add_argument("--name-looks", type=float,
                   help="the toy CLIP trains on captions naming looks with this chance (needs --looks); the "
                        "world's own captions, which the row measures, keep the preset's chance")
    for name in ("clutter", "max-objects", "min-objects", "embed-dim", "vision-layers", "vision-width",
                 "text-layers", "text-width", "test", "val", "warmup-steps"):
        p.add_argument(f"--{name}", type=int)
    p.add_argument("--palette", choices=("basic", "wide"))
    p.add_argument("--schedule", choices=("constant", "cosine"))
    p.add_argument("--style", choices=("basic", "rich"))
    p.add_argument("--rotation", action="store_true", default=None, help="turn every shape by a random angle")
    p.add_argument("--looks", action="store_true", default=None, help="give every image a tint, a light and a frame")
    p.add_argument("--extra-looks", action="store_true", default=None,
                   help="looks also blur, darken the corners and pixelate (needs looks)")
    p.add_argument("--fills", action="store_true", default=None,
                   help="give every object a fill: solid, dotted, hatched or lined (name them with --name-fills)")
    p.add_argument("--fixed-projection", action="store_true", default=None,
                   help="hold both output projections at the identity (needs --embed-dim = both tower widths)")
    p.add_argument("--eval", type=_caption_setting, nargs="+", metavar="KEY=VALUE[,KEY=VALUE]",
                   help="measure on the test captions written under each of these caption settings, a row each "
                        f"({', '.join(CAPTION_SETTINGS)}; same images; default: the training world's captions)")
    p.add_argument("--structure", action="store_true", help="also print the second-order figures (issue 28)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "gaptools-calibrate")
    p.add_argument("--stages", default="", help="comma-separated step counts: a row after each (resumed training)")
    p.add_argument("--keep", type=Path, help="keep the training folder here (default: a temporary one)")
    p.add_argument("--json", type=Path, help="append the row as one JSON line here")
    p.add_argument("--label", default="", help="name of the row")
    p.add_argument("--table", type=Path, help="print the settings table of a --json file (rows with --structure) and stop")
    return p.parse_args()


#: the world params that change only a world's captions, never its scenes or pixels
CAPTION_SETTINGS = {"mention": float, "style": str, "name_looks": float, "name_fills": float}


def _caption_setting(text: str) -> dict:
    """``mention=0.4,name_looks=0`` -> {"mention": 0.4, "name_looks": 0.0}."""
    setting = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key not in CAPTION_SETTINGS or not value:
            raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(CAPTION_SETTINGS)}")
        setting[key] = CAPTION_SETTINGS[key](value)
    return setting


def _setting(args) -> tuple[dict, dict, dict]:
    from gaptools.world.presets import get_preset

    preset = get_preset(args.preset)
    world = dict(preset.world, seed=args.seed)
    names = {"images": "n_images", "test": "n_test", "val": "n_val"}
    for key in ("images", "mention", "clutter", "max_objects", "min_objects", "test", "val", "palette", "jitter",
                "rotation", "lighting", "style", "looks", "extra_looks", "fills", "name_fills"):
        value = getattr(args, key)
        if value is not None:
            world[names.get(key, key)] = value
    model = json.loads(json.dumps(preset.model_config))
    if args.embed_dim is not None:
        model["embed_dim"] = args.embed_dim
    for tower, key, field in (("vision_cfg", "vision_layers", "layers"), ("vision_cfg", "vision_width", "width"),
                              ("text_cfg", "text_layers", "layers"), ("text_cfg", "text_width", "width")):
        if getattr(args, key) is not None:
            model[tower][field] = getattr(args, key)
    training = dict(preset.training, minutes=None)
    for key, field in (("steps", "max_steps"), ("batch_size", "batch_size"), ("init_logit_scale", "init_logit_scale"),
                       ("logit_scale_lr", "logit_scale_lr"), ("lr", "lr"), ("weight_decay", "weight_decay"),
                       ("warmup_steps", "warmup_steps"), ("fixed_projection", "fixed_projection"),
                       ("schedule", "schedule"), ("name_looks", "name_looks")):
        if getattr(args, key) is not None:
            training[field] = getattr(args, key)
    return world, model, training


def main() -> None:
    configure()
    from gaptools.world import WorldParams
    from gaptools.world.clip import TrainSettings, load_toy_clip, train_clip

    args = _args()
    if args.table:
        print_table(args.table)
        return
    world_kw, model, training = _setting(args)
    world = _cached_world(args.cache, WorldParams(**world_kw))
    measured = [(world, world_kw)]
    if args.eval:  # captions come from their own random streams: the same scenes and pixels
        measured = [(_cached_world(args.cache, WorldParams(**dict(world_kw, **e))), dict(world_kw, eval=e))
                    for e in args.eval]
    stages = [int(x) for x in args.stages.split(",") if x] or [training["max_steps"]]
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp)
        for k, steps in enumerate(stages):
            metrics = train_clip(world, run, TrainSettings(**dict(training, max_steps=steps)), model_config=model,
                                 resume=k > 0)
            for folder, kw in measured:
                label = args.label + (f" (measured on captions with {_words(kw['eval'])})" if "eval" in kw else "")
                _row(args, label, folder, kw, model, dict(training, max_steps=steps), metrics, load_toy_clip(run))


def _words(setting: dict) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in setting.items())


def _cached_world(cache: Path, params) -> Path:
    """The world of ``params``, generated once under ``cache`` (a folder named by its params)."""
    from gaptools.errors import OutputError
    from gaptools.world import generate_world

    world = cache / "-".join(f"{k}{v}" for k, v in sorted(dataclasses.asdict(params).items()) if v is not None)
    try:
        generate_world(world, params)
    except OutputError:  # a run started beside this one put the same world in place first
        generate_world(world, params)  # finds it complete and rewrites nothing (or says what differs)
    return world


def _row(args, label, world, world_kw, model, training, metrics, clip) -> None:
    import torch

    from gaptools.io import EmbeddingSet
    from gaptools.measure import measure
    from gaptools.world.clip import _split_data, encode

    images, tokens, text_image = _split_data(world, "test", model)
    with torch.no_grad():
        image, text = encode(clip, images, tokens)
    doc = measure(EmbeddingSet(image=image, text=text, text_image=text_image.numpy()), bootstrap=0)
    m = {k: doc["metrics"][k]["value"] for k in ("centroid_gap", "matched_cosine", "image_cone", "text_cone",
                                                 "relative_gap", "recall@1_i2t", "recall@1_t2i")}
    row = {"label": label, "world": world_kw, "model": model, "training": training,
           "logit_scale": metrics["logit_scale"], "train_seconds": metrics["train_seconds"], **m}
    print(f"| {label} | {training['max_steps']} | {m['centroid_gap']:.3f} | {m['matched_cosine']:.3f} | "
          f"{m['image_cone']:.3f} / {m['text_cone']:.3f} | {m['relative_gap']:.3f} | "
          f"{m['recall@1_i2t']:.3f} / {m['recall@1_t2i']:.3f} | {metrics['logit_scale']:.1f} | "
          f"{metrics['train_seconds']:.0f} s |", flush=True)
    if args.structure:
        first = np.searchsorted(text_image.numpy(), np.arange(len(image)))  # captions are grouped by image
        s = structure(image, text[first])
        row.update(s)
        print(f"| {label} (structure) | {training['max_steps']} | {s['centred_matched_cosine']:.3f} | "
              f"{s['shifted_matched_cosine']:.3f} | {s['participation_ratio_image']:.1f} / "
              f"{s['participation_ratio_text']:.1f} / {s['participation_ratio_residual']:.1f} | "
              f"{s['subspace_agreement']:.2f} | {s['gap_top2_share']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def structure(image: np.ndarray, text: np.ndarray, k: int = 10) -> dict:
    """Issue 28's second-order figures of paired unit rows (image i with caption i), from gaptools.metrics.

    Parameters
    ----------
    image, text : ndarray, shape (n, D)
        Paired unit-norm embeddings.
    k : int
        Principal directions compared by the subspace agreement.
    """
    from gaptools import metrics

    cosines = metrics.principal_cosines(metrics.gaussian_fit(image)[1], metrics.gaussian_fit(text)[1], k)
    return {
        "centred_matched_cosine": metrics.centred_matched_cosine(image, text),
        "shifted_matched_cosine": metrics.shifted_matched_cosine(image, text),
        "participation_ratio_image": metrics.participation_ratio(image),
        "participation_ratio_text": metrics.participation_ratio(text),
        "participation_ratio_residual": metrics.residual_participation_ratio(image, text),
        "subspace_agreement": metrics.subspace_agreement(image, text, k),
        "gap_top2_share": metrics.gap_top_share(image, text, 2),
        "principal_cosines": None if cosines is None else [round(float(c), 4) for c in cosines],
    }


def print_table(path: Path) -> None:
    """The settings table (every figure, first and second order) of the rows of a ``--json`` file."""
    print("| setting | steps | centroid gap | matched cos | image / text cone | RMG | R@1 i2t / t2i | centred matched "
          "| after shift | PR image / text / residual | subspace agr. | Δ top-2 share | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if "centred_matched_cosine" not in r:
            continue
        print(f"| {r['label']} | {r['training']['max_steps']} | {r['centroid_gap']:.3f} | {r['matched_cosine']:.3f} | "
              f"{r['image_cone']:.3f} / {r['text_cone']:.3f} | {r['relative_gap']:.3f} | "
              f"{r['recall@1_i2t']:.3f} / {r['recall@1_t2i']:.3f} | {r['centred_matched_cosine']:.3f} | "
              f"{r['shifted_matched_cosine']:.3f} | {r['participation_ratio_image']:.1f} / "
              f"{r['participation_ratio_text']:.1f} / {r['participation_ratio_residual']:.1f} | "
              f"{r['subspace_agreement']:.2f} | {r['gap_top2_share']:.2f} | {r['train_seconds']:.0f} |")

if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
