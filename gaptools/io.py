"""The embedding-set file every command shares, and the other layouts readers accept.

An embedding set is an ``.npz`` written with ``allow_pickle=False`` (the README's "embedding-set file"):

=============  ==========================  ===========================================
array          shape / dtype               meaning
=============  ==========================  ===========================================
``image``      (N_img, D) float32/float16  image embeddings; may have 0 rows
``text``       (N_txt, D) float32/float16  caption embeddings; may have 0 rows
``text_image`` (N_txt,) int64              row of ``image`` caption i belongs to
``image_id``   (N_img,) str, optional      image identifiers
``caption``    (N_txt,) str, optional      caption strings
``meta``       0-d str                     JSON: encoder, model, dataset, split, ...
=============  ==========================  ===========================================

Readers also take a pair of ``.npy`` files (row i of each is a pair) and one ``.npy`` of
shape (2, N, D) (images first, texts second). Loading never unpickles.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from gaptools._version import __version__
from gaptools.atomic import atomic_write
from gaptools.errors import InputError
from gaptools.limits import check_bytes, format_bytes
from gaptools.outputs import SET_FILE, check_output_file, resolved
from gaptools.validation import (
    check_embeddings,
    check_same_dim,
    check_seed,
    check_strings,
    check_text_image,
)


@dataclasses.dataclass(repr=False)
class EmbeddingSet:
    """Image and caption embeddings with the caption-to-image grouping.

    Attributes
    ----------
    image : ndarray, shape (N_img, D), float32
    text : ndarray, shape (N_txt, D), float32
    text_image : ndarray, shape (N_txt,), int64
        Row of ``image`` that caption i describes. Text-only sets keep the grouping
        (captions with the same value describe the same image) with ``image`` empty.
    image_id : ndarray, shape (N_img,) of str, or None
        In a text-only set, one id per caption group (``max(text_image) + 1``).
    caption : ndarray, shape (N_txt,) of str, or None
    meta : dict
        Provenance: encoder, model, pretrained, dataset, split, normalized, created_by.
    source : str
        Where the set was read from (for messages); not saved.
    read_from : tuple of str
        The files the set was read from (symbolic links resolved), set by the loaders and kept
        by :meth:`replace`: :func:`save_set` never writes over them. Not saved.

    Examples
    --------
    >>> import numpy as np, gaptools
    >>> rng = np.random.default_rng(0)
    >>> eset = gaptools.EmbeddingSet(
    ...     image=rng.standard_normal((2, 8)), text=rng.standard_normal((3, 8)),
    ...     text_image=np.array([0, 0, 1]), caption=np.array(["a cat", "a kitten", "a dog"]))
    >>> eset.n_image, eset.n_text, eset.dim
    (2, 3, 8)
    >>> eset.paired_image().shape  # the image of each caption
    (3, 8)
    >>> eset
    EmbeddingSet(2 images, 3 captions, dim=8, float32, source='<memory>')
    """

    image: np.ndarray
    text: np.ndarray
    text_image: np.ndarray
    image_id: np.ndarray | None = None
    caption: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    source: str = "<memory>"
    read_from: tuple = dataclasses.field(default=(), compare=False)

    def __post_init__(self) -> None:
        src = self.source
        self.read_from = tuple(str(p) for p in self.read_from)
        self.image = check_embeddings(self.image, name="image", source=src, allow_empty=True)
        self.text = check_embeddings(self.text, name="text", source=src, allow_empty=True)
        if self.image.shape[0] == 0 and self.text.shape[0] == 0:
            raise InputError(f"{src}: both 'image' and 'text' are empty")
        if self.image.shape[0] and self.text.shape[0]:
            check_same_dim(self.image, self.text, names=("image", "text"), source=src)
        self.text_image = check_text_image(
            self.text_image, n_text=self.text.shape[0], n_image=self.image.shape[0], source=src
        )
        if self.image_id is not None:
            self.image_id = check_strings(self.image_id, name="image_id", length=self.n_groups, source=src, unique=True)
        if self.caption is not None:
            self.caption = check_strings(self.caption, name="caption", length=self.n_text, source=src)

    def __repr__(self) -> str:
        model = self.meta.get("model") if isinstance(self.meta, dict) else None
        return (f"EmbeddingSet({self.n_image:,} images, {self.n_text:,} captions, dim={self.dim}, {self.text.dtype}, "
                f"source={self.source!r}" + ("" if model is None else f", model={model!r}") + ")")

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return (self.image if self.n_image else self.text).shape[1]

    @property
    def n_groups(self) -> int:
        """Images the set describes: its image rows, or for a text-only set the caption groups."""
        if self.n_image or not self.n_text:
            return self.n_image
        return int(self.text_image.max()) + 1

    @property
    def n_image(self) -> int:
        return self.image.shape[0]

    @property
    def n_text(self) -> int:
        return self.text.shape[0]

    @property
    def has_pairs(self) -> bool:
        """True when both modalities are present, so pairs (caption, its image) exist."""
        return self.n_image > 0 and self.n_text > 0

    def one_caption_per_image(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one caption row of each image, uniformly among its captions.

        Returns
        -------
        ndarray, shape (n_groups,), int64
            Caption row of each image; −1 for an image without captions. The draw is the
            last of each image's captions in ``rng.permutation(N_txt)``.
        """
        backwards = rng.permutation(self.n_text)[::-1]
        groups, first = np.unique(self.text_image[backwards], return_index=True)
        chosen = np.full(self.n_groups, -1, dtype=np.int64)
        chosen[groups] = backwards[first]
        return chosen

    def paired_image(self) -> np.ndarray:
        """Image embedding of each caption's image, shape (N_txt, D)."""
        return self.image[self.text_image]

    def replace(self, **changes) -> "EmbeddingSet":
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def subset(self, rows) -> "EmbeddingSet":
        """The images ``rows`` with all their captions.

        Parameters
        ----------
        rows : array-like of int, shape (K,)
            Image rows to keep (caption groups in a text-only set), distinct, in the order
            the subset holds them.

        Returns
        -------
        EmbeddingSet
            K images (their ids with them) and every caption of those images, captions in
            their original order, ``text_image`` renumbered to the new rows; ``meta`` copied.

        Examples
        --------
        >>> import numpy as np, gaptools
        >>> eset = gaptools.EmbeddingSet(image=np.eye(3), text=np.eye(3)[[0, 0, 2]], text_image=np.array([0, 0, 2]))
        >>> part = eset.subset([2, 0])
        >>> part.n_image, part.text_image.tolist()
        (2, [1, 1, 0])
        """
        rows = np.asarray(rows)
        n = self.n_groups
        if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
            raise InputError(f"{self.source}: subset rows must be a non-empty 1-D array of integers, got {rows!r:.80}")
        if rows.min() < 0 or rows.max() >= n:
            raise InputError(f"{self.source}: subset rows must lie in 0..{n - 1} (the set has {n} images)")
        if len(np.unique(rows)) != len(rows):
            raise InputError(f"{self.source}: subset rows repeat an image")
        new_row = np.full(n, -1, dtype=np.int64)
        new_row[rows] = np.arange(len(rows))
        keep = new_row[self.text_image] >= 0
        return EmbeddingSet(
            image=self.image[rows] if self.n_image else self.image,
            text=self.text[keep],
            text_image=new_row[self.text_image[keep]],
            image_id=None if self.image_id is None else self.image_id[rows],
            caption=None if self.caption is None else self.caption[keep],
            meta=dict(self.meta),
            source=f"{self.source} ({len(rows)} of {n} images)",
            read_from=self.read_from,
        )

    def first_captions(self) -> "EmbeddingSet":
        """The images with their first caption only: the pairs issue 28's structure figures read.

        Returns
        -------
        EmbeddingSet
            The images that have a caption (the others dropped), each with the first of its
            captions in the set's order; ``text_image`` renumbered as :meth:`subset` does.

        Examples
        --------
        >>> import numpy as np, gaptools
        >>> eset = gaptools.EmbeddingSet(image=np.eye(3), text=np.eye(3)[[0, 0, 2]], text_image=np.array([0, 0, 2]))
        >>> one = eset.first_captions()
        >>> one.n_image, one.text_image.tolist()
        (2, [0, 1])
        """
        one = self.subset(np.unique(self.text_image))  # captions keep their order: each image's first stays first
        first = np.unique(one.text_image, return_index=True)[1]
        return one.replace(text=one.text[first], text_image=one.text_image[first],
                           caption=None if one.caption is None else one.caption[first])

    def split(self, *, test: float, seed: int = 0) -> tuple["EmbeddingSet", "EmbeddingSet"]:
        """Split by image into a fitting part and a held-out test part; captions follow their image.

        Parameters
        ----------
        test : float
            Share of the images in the test part, in (0, 1); ``round(test * n_groups)``
            images, at least one in each part.
        seed : int
            The split is ``numpy.random.default_rng(seed).permutation(n_groups)``: its first
            images are the test part. The same set and seed always give the same split.

        Returns
        -------
        fit, test : EmbeddingSet
            Each keeps the original image order; ``meta["held_out"]`` records the part,
            the source, ``test`` and ``seed``.

        Examples
        --------
        >>> import gaptools
        >>> fit, test = gaptools.planted_gap(100, 8).split(test=0.3, seed=0)
        >>> fit.n_image, test.n_image
        (70, 30)
        """
        n = self.n_groups
        if not isinstance(test, (int, float)) or isinstance(test, bool) or not 0 < test < 1:
            raise InputError(f"{self.source}: test must be a share of the images in (0, 1), got {test!r}")
        check_seed(seed, "split: seed")
        n_test = int(round(test * n))
        if not 0 < n_test < n:
            raise InputError(f"{self.source}: test={test} leaves {n_test} of its {n} images in the test part; "
                             "each part needs at least one image")
        order = np.random.default_rng(seed).permutation(n)
        parts = []
        for part, rows in (("fit", order[n_test:]), ("test", order[:n_test])):
            subset = self.subset(np.sort(rows))
            subset.meta["held_out"] = {"part": part, "of": self.source, "test": test, "seed": seed}
            subset.source = f"{self.source} ({part} part: {len(rows)} of {n} images)"
            parts.append(subset)
        return parts[0], parts[1]


def from_pairs(image: np.ndarray, text: np.ndarray, *, source: str = "<memory>", meta: dict | None = None) -> EmbeddingSet:
    """Build a set where row i of ``image`` and row i of ``text`` are a pair.

    Parameters
    ----------
    image, text : ndarray, shape (N, D)
    source : str
        Where the arrays came from, for messages.
    meta : dict, optional
        Provenance (JSON-ready).

    Returns
    -------
    EmbeddingSet
        One caption per image: ``text_image`` is ``0 .. N-1``.

    Examples
    --------
    >>> import numpy as np, gaptools
    >>> rng = np.random.default_rng(0)
    >>> eset = gaptools.from_pairs(rng.standard_normal((4, 8)), rng.standard_normal((4, 8)))
    >>> eset.text_image
    array([0, 1, 2, 3])
    """
    image, text = np.asarray(image), np.asarray(text)
    if image.ndim == 2 and text.ndim == 2 and image.shape[0] != text.shape[0]:
        raise InputError(
            f"{source}: paired arrays need the same number of rows, got image {image.shape} and text {text.shape}"
        )
    n = image.shape[0] if image.ndim else 0
    return EmbeddingSet(image=image, text=text, text_image=np.arange(n), meta=dict(meta or {}), source=source)


_ZIP_MAGIC, _NPY_MAGIC = b"PK\x03\x04", b"\x93NUMPY"
_PICKLE_MAGIC = b"\x80"  # protocol 2 and later
_MAX_HEADER = 10_000  # bytes of an .npy header (numpy's own default limit)


def _sniff(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(8)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _not_this_format(path: Path, head: bytes, expected: str) -> InputError:
    """The error for a file whose first bytes are not ``expected`` (named after what they are)."""
    if not head:
        return InputError(f"{path}: is empty, not {expected}")
    if head.startswith(_NPY_MAGIC):
        return InputError(f"{path}: is a .npy array file, not {expected}", hint="check the file name and extension")
    if head.startswith(_ZIP_MAGIC):
        return InputError(f"{path}: is a zip archive (.npz), not {expected}", hint="check the file name and extension")
    if head.startswith(_PICKLE_MAGIC):
        return InputError(f"{path}: holds a Python pickle, which gaptools never loads")
    kind = "text" if all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "binary data"
    return InputError(f"{path}: is not {expected} (it starts with {kind} {head[:8]!r})")


def _npy_header(fh, *, name: str, available: int, source: str) -> tuple[tuple, np.dtype]:
    """Read an .npy header from ``fh`` and check what it declares before any data is read.

    ``available`` is the size of the whole .npy (file or zip member); the data the header
    declares must fill it exactly, and pickled (object) arrays are refused.
    """
    try:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh, max_header_size=_MAX_HEADER)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise InputError(f"{source}: array {name!r} has a corrupt .npy header ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{source}: holds pickled objects, which gaptools never loads")
    nbytes = math.prod(shape) * dtype.itemsize
    if fh.tell() + nbytes != available:
        raise InputError(f"{source}: corrupt or truncated: array {name!r} declares shape {shape} {dtype} "
                         f"({format_bytes(nbytes)}) but holds {format_bytes(max(available - fh.tell(), 0))}")
    return shape, dtype


def _load_array_file(path: Path) -> np.ndarray:
    """One ``.npy`` array, its header checked (format, size, budget) before the data is read."""
    head = _sniff(path)
    if not head.startswith(_NPY_MAGIC):
        raise _not_this_format(path, head, "a .npy array file")
    with open(path, "rb") as fh:
        shape, dtype = _npy_header(fh, name=path.name, available=path.stat().st_size, source=str(path))
    check_bytes(math.prod(shape) * dtype.itemsize, what=f"array {shape} {dtype}", source=str(path))
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from None


def _require_file(path: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a file ({' or '.join(suffixes)})")
    if not path.is_file():  # opening a FIFO would wait for a writer
        raise InputError(f"{path}: is not a regular file (a FIFO, socket or device is never opened)")
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"{path}: unsupported extension '{path.suffix}'", hint=f"expected {' or '.join(suffixes)}"
        )
    return path


def read_npz(path: str | os.PathLike, what: str = ".npz") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, never unpickling.

    Parameters
    ----------
    path : path-like
    what : str
        What the file should be, for messages (``"aligner file"``).

    Every array's header is read and checked first: the data it declares must fill its zip
    member exactly, and all of them together must fit the memory budget
    (:mod:`gaptools.limits`), so nothing is decompressed before the sizes are known.

    Raises
    ------
    InputError
        The file is missing, not a file, not a zip archive (a renamed ``.npy``, text, a pickle:
        the message says which), corrupt or truncated, holds pickled objects, or declares
        more than the memory budget.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: is not a file")
    head = _sniff(path)
    if not head.startswith(_ZIP_MAGIC):
        raise _not_this_format(path, head, "an .npz archive" if what == ".npz" else f"an .npz archive ({what})")
    try:
        with zipfile.ZipFile(path) as archive:
            total = 0
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise InputError(f"{path}: corrupt {what}: member {info.filename!r} is not a .npy array")
                with archive.open(info) as fh:
                    shape, dtype = _npy_header(fh, name=info.filename[:-4], available=info.file_size, source=str(path))
                total += math.prod(shape) * dtype.itemsize
            check_bytes(total, what=f"its {len(archive.infolist())} arrays (uncompressed)", source=str(path))
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        if "pickle" in str(exc).lower():
            raise InputError(f"{path}: holds pickled objects, which gaptools never loads") from None
        raise InputError(f"{path}: corrupt or truncated {what} ({exc})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, KeyError) as exc:
        raise InputError(f"{path}: corrupt or truncated {what} ({type(exc).__name__}: {exc})") from None


def read_torch(path: str | os.PathLike, map_location="cpu"):
    """A torch file (checkpoint or state dict) loaded with ``weights_only=True``: never unpickles code.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device
        Where tensors go (a GPU checkpoint loads on the CPU and vice versa).

    Raises
    ------
    InputError
        The file is missing, truncated, corrupt, or holds anything but tensors and plain values.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated zip, a foreign pickle, ...: torch raises many kinds
        raise InputError(f"{path}: corrupt, or not a weights-only checkpoint ({type(exc).__name__})") from None


def load_npz(path: str | os.PathLike) -> EmbeddingSet:
    """Read an embedding-set ``.npz`` (never unpickling)."""
    path = _require_file(path, (".npz",))
    src = str(path)
    arrays = read_npz(path)
    missing = [k for k in ("image", "text") if k not in arrays]
    if missing:
        raise InputError(
            f"{src}: missing array(s) {missing}; an embedding set holds 'image', 'text' and 'text_image'",
            hint=f"found {sorted(arrays)}",
        )
    image, text = arrays["image"], arrays["text"]
    if "text_image" in arrays:
        text_image = arrays["text_image"]
    elif image.ndim == 2 and text.ndim == 2 and image.shape[0] == text.shape[0]:
        text_image = np.arange(text.shape[0])  # row i of each is a pair
    else:
        raise InputError(f"{src}: missing 'text_image' (which image each caption belongs to)")
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise InputError(f"{src}: 'meta' is not valid JSON ({exc})") from None
        except RecursionError:
            raise InputError(f"{src}: 'meta' is nested too deeply to be provenance JSON") from None
        if not isinstance(meta, dict):
            raise InputError(f"{src}: 'meta' must be a JSON object")
    return EmbeddingSet(
        image=image,
        text=text,
        text_image=text_image,
        image_id=arrays.get("image_id"),
        caption=arrays.get("caption"),
        meta=meta,
        source=src,
        read_from=(resolved(path),),
    )


def load_stack(path: str | os.PathLike) -> EmbeddingSet:
    """Read one ``.npy`` of shape (2, N, D): ``[0]`` images, ``[1]`` texts, row i a pair."""
    path = _require_file(path, (".npy",))
    stack = _load_array_file(path)
    if stack.ndim != 3 or stack.shape[0] != 2:
        raise InputError(
            f"{path}: expected a (2, N, D) stack (images first, texts second), got shape {stack.shape}"
        )
    eset = from_pairs(stack[0], stack[1], source=str(path), meta={"source_layout": "stack"})
    eset.read_from = (str(resolved(path)),)
    return eset


def load_pair(image_path: str | os.PathLike, text_path: str | os.PathLike) -> EmbeddingSet:
    """Read two aligned ``.npy`` files: row i of each is a pair.

    Parameters
    ----------
    image_path, text_path : path-like
        ``.npy`` files of shape (N, D) each.

    Returns
    -------
    EmbeddingSet

    Examples
    --------
    >>> import numpy as np, gaptools
    >>> rng = np.random.default_rng(0)
    >>> np.save("image.npy", rng.standard_normal((5, 8)))
    >>> np.save("text.npy", rng.standard_normal((5, 8)))
    >>> gaptools.load_pair("image.npy", "text.npy").n_text
    5
    """
    image = _load_array_file(_require_file(image_path, (".npy",)))
    text = _load_array_file(_require_file(text_path, (".npy",)))
    eset = from_pairs(image, text, source=f"{image_path} + {text_path}", meta={"source_layout": "pair"})
    eset.read_from = (str(resolved(image_path)), str(resolved(text_path)))
    return eset


def load_set(path: str | os.PathLike) -> EmbeddingSet:
    """Read an embedding set from ``.npz`` or a (2, N, D) ``.npy`` stack, by extension.

    Parameters
    ----------
    path : path-like
        An embedding-set ``.npz`` (see :class:`EmbeddingSet`) or a ``.npy`` of shape
        (2, N, D): images first, texts second, row i a pair.

    Returns
    -------
    EmbeddingSet

    Raises
    ------
    InputError
        A missing, truncated or pickled file, NaN/Inf, zero vectors, mismatched
        dimensions, out-of-range ``text_image``: the message names the file and the problem.

    Examples
    --------
    >>> import gaptools
    >>> eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)  # the shipped shapes-world test set
    >>> eset.n_image, eset.n_text, eset.dim
    (500, 2500, 512)
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return load_stack(path)
    return load_npz(_require_file(path, (".npz", ".npy")))


def save_set(eset: EmbeddingSet, path: str | os.PathLike, *, float16: bool = False, compress: bool = False,
             overwrite: bool = False) -> Path:
    """Write an embedding set atomically as ``.npz`` (no pickles).

    The command line's rule for outputs (:func:`gaptools.outputs.check_output_file`): never
    over a file the set was read from (:attr:`EmbeddingSet.read_from`, its ``source``), nor
    through a symbolic link; an existing ``path`` is replaced only when it is an embedding
    set gaptools wrote, anything else only with ``overwrite=True``.

    Parameters
    ----------
    eset : EmbeddingSet
    path : path-like
        Must end in ``.npz``.
    float16 : bool
        Store embeddings as float16 (half the size; ~3 significant digits).
    compress : bool
        Deflate the arrays (``np.savez_compressed``): small for caption strings, slow and of
        little use for large float arrays.
    overwrite : bool
        Replace an existing file that is not an embedding set gaptools wrote (never one the
        set was read from).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        ``eset`` is not an :class:`EmbeddingSet`, ``path`` does not end in ``.npz``, is a file
        the set was read from (or a link to one), or holds something else and ``overwrite``
        is not given (:class:`gaptools.errors.OutputError`, an ``InputError``).

    Examples
    --------
    >>> import gaptools
    >>> path = gaptools.save_set(gaptools.planted_gap(100, 16), "planted.npz")
    >>> gaptools.load_set(path).n_image
    100
    """
    if not isinstance(eset, EmbeddingSet):
        raise InputError(f"save_set: expected an EmbeddingSet, got {type(eset).__name__}",
                         hint="build one with gaptools.from_pairs(image, text) or gaptools.EmbeddingSet(...)")
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"save_set: path must be a file name ending in .npz, got {type(path).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise InputError(f"{path}: an embedding set is written as .npz")
    source = [eset.source] if isinstance(eset.source, str) and os.path.isfile(eset.source) else []
    check_output_file(path, inputs=[*eset.read_from, *source], kind=SET_FILE, overwrite=overwrite)
    dtype = np.float16 if float16 else np.float32
    meta = dict(eset.meta)
    meta.setdefault("created_by", f"gaptools {__version__}")
    arrays = {
        "image": eset.image.astype(dtype),
        "text": eset.text.astype(dtype),
        "text_image": eset.text_image.astype(np.int64),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    if eset.image_id is not None:
        arrays["image_id"] = eset.image_id.astype(str)
    if eset.caption is not None:
        arrays["caption"] = eset.caption.astype(str)
    with atomic_write(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, allow_pickle=False, **arrays)
    return path
