"""The demo data that ships inside the package, so commands run with no arguments."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
SYNTHETIC_DEMO = DATA_DIR / "synthetic_demo.npz"
SYNTHETIC_RECIPE = dict(n_images=400, dim=64, shift=0.8, captions_per_image=5, seed=0)


def default_set() -> Path:
    """Path of the embedding set `gaptools measure` uses when given none."""
    return SYNTHETIC_DEMO


def describe() -> str:
    """Where the default set came from, for the console."""
    return ("SYNTHETIC planted gap, not CLIP output: gaptools.synthetic.planted_gap("
            + ", ".join(f"{k}={v}" for k, v in SYNTHETIC_RECIPE.items()) + ")")


def build_synthetic_demo() -> Path:
    """Regenerate the shipped synthetic demo set from its recipe (float16)."""
    from gaptools.io import save_set
    from gaptools.synthetic import planted_gap

    return save_set(planted_gap(**SYNTHETIC_RECIPE), SYNTHETIC_DEMO, float16=True)
