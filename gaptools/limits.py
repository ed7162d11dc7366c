"""The size budget: how much memory a command may ask for, checked before it asks.

Rule: before reading an array file, the sizes its headers *declare* (every array of an
``.npz``, the array of an ``.npy``) are added up and compared with the budget; before a
command computes, the largest intermediate it will allocate (a D x D covariance, an n x n
cost matrix, ...) is compared with it too. Both are refused with one line that names the
file or option, the size asked for and the budget, so a zip bomb is never decompressed, a
header claiming hundreds of GiB never reaches ``numpy``, and D = 100,000 never asks for
37 GiB.

The budget is half of the machine's physical memory, or :data:`ENV` when set
(``GAPTOOLS_MEMORY_LIMIT=64G``; suffixes K, M, G, T are powers of 1024; ``0`` or
``none`` turns the check off).

Counts that only cost time are capped where a larger value cannot change the result
(:data:`MAX_BOOTSTRAP`).
"""

from __future__ import annotations

import os
import re

from gaptools.errors import InputError

ENV = "GAPTOOLS_MEMORY_LIMIT"
#: Most bootstrap resamples: the Monte-Carlo error of a 95% percentile bound falls as
#: 1/sqrt(B); at 100,000 it is far below the third significant digit a table prints.
MAX_BOOTSTRAP = 100_000
_FALLBACK = 8 << 30  # when the physical memory cannot be read
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2 * _FALLBACK


def memory_limit() -> int | None:
    """The budget in bytes (None: no limit), from :data:`ENV` or half the physical memory.

    Raises
    ------
    InputError
        :data:`ENV` is set to something that is not a size.
    """
    text = os.environ.get(ENV, "").strip()
    if not text:
        return _physical_memory() // 2
    if text.lower() in ("0", "none", "off"):
        return None
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([KMGT]?)(?:i?B)?", text, flags=re.IGNORECASE)
    if match is None:
        raise InputError(f"{ENV}={text!r} is not a size", hint="e.g. 16G, 512M or a number of bytes; 0 turns it off")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def check_bytes(nbytes: int, *, what: str, source: str) -> None:
    """Refuse an allocation of ``nbytes`` above the budget.

    Parameters
    ----------
    nbytes : int
        What the file declares, or the intermediate the command will allocate.
    what : str
        What needs it (``"'image' (1000000, 100000) float32"``).
    source : str
        The file or option, for the message.
    """
    limit = memory_limit()
    if limit is not None and nbytes > limit:
        raise InputError(f"{source}: {what} needs {format_bytes(nbytes)}, more than the memory budget of "
                         f"{format_bytes(limit)}", hint=f"set {ENV} (e.g. {ENV}=64G) to raise the budget")


def check_needs(needs: dict[str, int], *, source: str) -> None:
    """Refuse the largest of several allocations (``{what: bytes}``) when it is above the budget.

    Aligners and models list what their size-like parameters will allocate (a
    ``memory_needs`` method) and pass it here before allocating any of it.
    """
    if needs:
        what, nbytes = max(needs.items(), key=lambda item: item[1])
        check_bytes(nbytes, what=what, source=source)


def float_matrix_bytes(rows: int, cols: int, itemsize: int = 8) -> int:
    """Bytes of a dense (rows, cols) array (Python ints: no overflow)."""
    return int(rows) * int(cols) * int(itemsize)


def dimension_bytes(dim: int) -> int:
    """What a D x D computation holds at once: a float64 covariance and its decomposition, a few copies."""
    return 4 * float_matrix_bytes(dim, dim)


def check_dimension(dim: int, *, source: str) -> None:
    """Refuse a dimension whose D x D matrices (covariances, rotations) would not fit the budget."""
    check_bytes(dimension_bytes(dim), what=f"the {dim} x {dim} matrices (D = {dim})", source=source)


def check_measure(n_image: int, n_text: int, dim: int, *, max_points: int, max_gallery: int, source: str) -> None:
    """Refuse a ``measure`` whose largest intermediate would not fit the budget.

    The largest ones: the D x D covariance of each modality and its eigendecomposition
    (float64, a few copies), the kernel and cost matrices of the subsample metrics
    (``max_points`` squared, float64, a few), the similarity blocks of the retrieval gallery
    (2,048 captions x gallery, float32, with their comparisons) and the bootstrap's draw
    counts (64 resamples x images, int64 and float32).
    """
    n_sub = min(max_points, max(n_image, 1))
    n_gallery = min(max_gallery, max(n_image, 1))
    needs = {
        f"the {dim} x {dim} covariance (D = {dim})": dimension_bytes(dim),
        f"the {n_sub} x {n_sub} subsample matrices (--max-points {max_points})": 4 * float_matrix_bytes(n_sub, n_sub),
        f"the retrieval gallery of {n_gallery} images (--max-gallery {max_gallery})":
            3 * float_matrix_bytes(min(2048, n_text), n_gallery, 4),
        f"the bootstrap draws over {max(n_image, 1)} images": float_matrix_bytes(64, max(n_image, 1), 24),
    }
    check_needs(needs, source=source)


#: Bytes per pixel while one shapes-world image is drawn: its int16 canvas and texture arrays,
#: the uint8 copy and Pillow's image (tracemalloc measured a peak of 24 for the numpy part).
WORLD_PIXEL_BYTES = 32
#: Bytes of one image's entries in ``captions.json`` and ``scenes.json``, all held until the two
#: files are written (measured ~9.7 KB at 7 captions and 5 objects, the most a world allows).
WORLD_RECORD_BYTES = 10 << 10


def check_world(n_images: int, image_size: int) -> None:
    """Refuse a shapes world whose drawing or whose captions and scenes would not fit the budget.

    Generation draws one image at a time (about :data:`WORLD_PIXEL_BYTES` per pixel) and keeps
    every image's caption and scene entries (up to :data:`WORLD_RECORD_BYTES` each) until it
    writes ``captions.json`` and ``scenes.json``; both are checked before anything is drawn.
    """
    check_bytes(float_matrix_bytes(image_size, image_size, WORLD_PIXEL_BYTES),
                what=f"drawing one {image_size} x {image_size} image", source=f"--image-size {image_size}")
    check_bytes(int(n_images) * WORLD_RECORD_BYTES, what=f"holding the captions and scenes of {n_images} images until "
                "they are written", source=f"--images {n_images}")
