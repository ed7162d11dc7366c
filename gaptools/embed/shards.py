"""The resumable work folder: one ``.npz`` shard per range of images, written atomically.

A run writes its shards to ``<out>.parts/<key>/shard-000123.npz`` where ``key`` hashes
everything the embeddings depend on (the records, the encoder and its weight files,
normalisation, precision, text-only, shard size). Restarting with the same arguments finds
the finished shards and embeds only the rest; other arguments get another folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from gaptools.atomic import atomic_write, write_json

KEY_VERSION = 1


def run_key(settings: dict) -> str:
    """A short hash of the run's settings (a JSON-serialisable dict)."""
    blob = json.dumps({"version": KEY_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def parts_dir(out_path: str | Path) -> Path:
    """The work folder beside ``out_path``: ``<out>.parts``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".parts")


class ShardStore:
    """Shards of one run.

    Parameters
    ----------
    folder : Path
        ``<out>.parts/<key>``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, k: int) -> Path:
        return self.folder / f"shard-{k:06d}.npz"

    def start(self, description: dict) -> None:
        """Create the folder and describe the run in ``run.json`` (for people)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "run.json").exists():
            write_json(self.folder / "run.json", description)

    def save(self, k: int, image: np.ndarray, text: np.ndarray) -> None:
        """Write shard ``k``: image (n_img, D) and text (n_txt, D) float32."""
        with atomic_write(self.path(k), "wb") as fh:
            np.savez(fh, allow_pickle=False, image=image, text=text)

    def load(self, k: int, n_image: int, n_text: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Shard ``k`` if it exists with the expected row counts, else None (to be redone)."""
        path = self.path(k)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                image, text = npz["image"], npz["text"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None
        if image.shape[0] != n_image or text.shape[0] != n_text:
            return None
        return image, text

    def done(self, k: int) -> bool:
        return self.path(k).is_file()

    def remove(self) -> None:
        """Delete this run's folder, and ``<out>.parts`` when nothing else is left in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
        parent = self.folder.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
