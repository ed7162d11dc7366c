"""Image decoding for the embedding loop: a Dataset over image files and its DataLoader."""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from PIL import Image

from gaptools.errors import InputError

#: What a broken image file raises while opened, decoded or preprocessed.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class ImageFiles(torch.utils.data.Dataset):
    """Decode image files to RGB and preprocess them (runs in DataLoader workers).

    Items are ``(index, pixels, error)``: pixels (3, H, W), or None with an error message.
    """

    def __init__(self, paths: list[str], preprocess: Callable) -> None:
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            with Image.open(self.paths[i]) as image:
                return i, self.preprocess(image.convert("RGB")), ""
        except DECODE_ERRORS as exc:
            return i, None, f"{type(exc).__name__}: {exc}"


def _collate(items):
    errors = [(i, msg) for i, _, msg in items if msg]
    if errors:
        return None, errors
    return torch.stack([pixels for _, pixels, _ in items]), []  # (B, 3, H, W)


def image_batches(
    paths: list[str], preprocess: Callable, *, batch_size: int, num_workers: int, pin_memory: bool = False
) -> Iterator[torch.Tensor]:
    """Preprocessed image batches, shape (B, 3, H, W), in the order of ``paths``.

    Raises
    ------
    InputError
        An image that cannot be decoded (unreadable, truncated, not an image), naming the file.
    """
    loader = torch.utils.data.DataLoader(
        ImageFiles(paths, preprocess), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=_collate, pin_memory=pin_memory,
    )
    for pixels, errors in loader:
        if errors:
            i, msg = errors[0]
            more = f" (and {len(errors) - 1} more in the same batch)" if len(errors) > 1 else ""
            raise InputError(f"{paths[i]}: unreadable or truncated image ({msg}){more}",
                             hint="replace or remove the file")
        yield pixels
