"""The shapes world: a synthetic image–caption world whose ground truth is known.

Scenes of one to three flat shapes (7 shapes, 10 colours, 2 sizes, 5 positions) on a
plain, noisy or striped background, drawn with Pillow; five captions per image in varied
wording; written in the Karpathy JSON layout so ``gaptools embed coco`` reads it like COCO.
Generated captions are scored against the true scenes (:func:`score_captions`), and a toy
CLIP is trained on the world with open_clip's own classes and loss
(:mod:`gaptools.world.clip`, imports torch).

Importing this package does not import torch.
"""

from gaptools.world.generate import generate_world, load_captions, load_scenes, world_items, world_params
from gaptools.world.scene import WorldParams
from gaptools.world.score import load_predictions, score_captions

__all__ = [
    "WorldParams",
    "generate_world",
    "load_captions",
    "load_predictions",
    "load_scenes",
    "score_captions",
    "world_items",
    "world_params",
]
