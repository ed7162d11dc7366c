"""Sharded embedding folders: find the shards, check them from their headers, read them in blocks.

Two layouts are read:

``clip-retrieval`` (the layout ``clip-retrieval inference`` writes, the usual form of
LAION-scale embedding dumps)::

    FOLDER/img_emb/img_emb_K.npy        (N_K, D) float16/float32, row i = image of pair i
    FOLDER/text_emb/text_emb_K.npy      (N_K, D), row i = caption of pair i
    FOLDER/metadata/metadata_K.parquet  N_K rows (caption, url, ...), optional as a whole

Row i of both embedding files of shard K is a pair; every image has one caption, so each
pair is its own group (an image with its caption). Files are memory-mapped
(``np.load(mmap_mode="r", allow_pickle=False)``) and read ``BLOCK_ROWS`` rows at a time;
float16 stays float16 on disk and is upcast to float32 block by block.

``npz sets``: a folder of gaptools embedding sets (``*.npz``, in natural name order), each
a shard with its own ``text_image`` grouping (several captions per image allowed). A shard
is read whole, with the checks of :func:`gaptools.io.load_npz`.

Global ids: images are numbered across the folder in shard order (the group id of the
hashes in :mod:`gaptools.stream.stats`), captions likewise; they do not depend on how the
shards are later spread over workers.

Every problem a header shows (a missing partner file, mismatched rows or dimensions, a
truncated or corrupt file, a non-float or structured dtype, a FIFO or other non-regular file
named like a shard, which is never opened) is found by :func:`open_folder` before any
work, and all of them are named in one error; problems only the data shows (NaN, zero
vectors, a corrupt compressed member) are raised by the shard that holds them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from gaptools.atomic import atomic_write
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_npz
from gaptools.limits import check_dimension
from gaptools.validation import check_embeddings

CLIP_RETRIEVAL = "clip-retrieval"
NPZ_SETS = "npz sets"
#: Rows read, validated and reduced at once (float32: 16 MB per modality at D = 512).
BLOCK_ROWS = 8192
#: Sub-folders and file prefixes of the clip-retrieval layout: role -> (folder, prefix, suffix).
CLIP_FILES = {
    "image": ("img_emb", "img_emb_", ".npy"),
    "text": ("text_emb", "text_emb_", ".npy"),
    "metadata": ("metadata", "metadata_", ".parquet"),
}
_MAX_NAMED = 5  # problems named in one error message


@dataclasses.dataclass(frozen=True)
class ArrayHeader:
    """What a ``.npy`` header (or an ``.npz`` member's) says about its array."""

    shape: tuple[int, ...]
    dtype: str


@dataclasses.dataclass(frozen=True)
class Shard:
    """One shard of a folder: where its files are and which global rows it holds.

    Attributes
    ----------
    name : str
        The shard key (``K`` of ``img_emb_K.npy``) or the set's file name.
    layout : str
        :data:`CLIP_RETRIEVAL` or :data:`NPZ_SETS`.
    image, text : str
        Embedding files (the same ``.npz`` for a set).
    metadata : str or None
        The parquet file of a clip-retrieval shard.
    n_image, n_text : int
        Rows of each modality.
    image_offset, text_offset : int
        Global id of the shard's first image (group) and first caption.
    dtype : str
        Storage dtype of the embeddings (``float16``, ``float32``, ...).
    """

    name: str
    layout: str
    image: str
    text: str
    metadata: str | None
    n_image: int
    n_text: int
    image_offset: int
    text_offset: int
    dtype: str


@dataclasses.dataclass(frozen=True)
class ShardFolder:
    """A checked folder of shards (see :func:`open_folder`)."""

    path: str
    layout: str
    shards: tuple[Shard, ...]
    dim: int

    @property
    def n_image(self) -> int:
        return sum(s.n_image for s in self.shards)

    @property
    def n_text(self) -> int:
        return sum(s.n_text for s in self.shards)

    def describe(self) -> dict:
        """A JSON-ready summary: layout, shard names and sizes, dimension."""
        return {
            "folder": self.path,
            "layout": self.layout,
            "dim": self.dim,
            "n_image": self.n_image,
            "n_text": self.n_text,
            "shards": [[s.name, s.n_image, s.n_text] for s in self.shards],
        }


@dataclasses.dataclass
class Chunk:
    """Rows of one shard, validated and upcast: what the statistics and the aligners read.

    Attributes
    ----------
    image : ndarray, shape (G, D), float32
        One row per image (group).
    text : ndarray, shape (T, D), float32
    text_image : ndarray, shape (T,), int64
        Row of ``image`` each caption belongs to.
    group_offset, caption_offset : int
        Global ids of ``image[0]`` and ``text[0]``.
    """

    image: np.ndarray
    text: np.ndarray
    text_image: np.ndarray
    group_offset: int
    caption_offset: int

    @property
    def rows_are_pairs(self) -> bool:
        """True when row i of ``image`` and of ``text`` are a pair (the clip-retrieval case)."""
        return len(self.text_image) == len(self.image) and bool(
            np.array_equal(self.text_image, np.arange(len(self.image)))
        )


# --------------------------------------------------------------------------- finding shards


def open_folder(path: str | os.PathLike) -> ShardFolder:
    """Find and check the shards of a folder (or of one ``.npz`` set) from their headers only.

    Parameters
    ----------
    path : path-like
        A clip-retrieval folder, a folder of ``.npz`` sets, or one ``.npz`` set (streamed
        as a folder of one shard).

    Returns
    -------
    ShardFolder

    Raises
    ------
    InputError
        No shards, or shards whose headers show a problem: all of them in one message.

    Examples
    --------
    >>> import os, gaptools
    >>> os.makedirs("shards", exist_ok=True)
    >>> for k in range(3):  # a folder of three .npz sets
    ...     _ = gaptools.save_set(gaptools.planted_gap(200, 16, seed=k), f"shards/part{k}.npz")
    >>> folder = gaptools.open_folder("shards")
    >>> folder.layout, len(folder.shards), folder.n_image, folder.dim
    ('npz sets', 3, 600, 16)
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    why = None if root.is_dir() else _not_regular(root)
    if why:
        raise InputError(f"{root} {why}")
    if root.is_file():
        if root.suffix.lower() != ".npz":
            raise InputError(f"{root}: streaming reads a folder or one .npz set, not a {root.suffix or 'plain'} file")
        entries, layout = [_npz_entry(root)], NPZ_SETS
    elif any((root / CLIP_FILES[role][0]).is_dir() for role in ("image", "text")):
        entries, layout = _clip_entries(root), CLIP_RETRIEVAL
    else:
        files = sorted(root.glob("*.npz"), key=lambda p: _natural_key(p.name))
        if not files:
            raise InputError(
                f"{root}: no shards found",
                hint="expected img_emb/ and text_emb/ (the clip-retrieval layout) or .npz embedding sets",
            )
        entries, layout = [_npz_entry(p) for p in files], NPZ_SETS
    problems = [p for entry in entries for p in entry["problems"]]
    dims = {entry["dim"] for entry in entries if entry["dim"] is not None}
    if not problems and len(dims) > 1:
        first = {}
        for entry in entries:
            first.setdefault(entry["dim"], entry["name"])
        problems.append("shards differ in dimension: " + ", ".join(f"{d} ({n})" for d, n in first.items()))
    if problems:
        named = "; ".join(problems[:_MAX_NAMED])
        more = f"; and {len(problems) - _MAX_NAMED} more" if len(problems) > _MAX_NAMED else ""
        raise InputError(f"{root}: {len(problems)} bad shard problem(s), nothing was read: {named}{more}")
    shards, n_img, n_txt = [], 0, 0
    for entry in entries:
        shards.append(Shard(name=entry["name"], layout=layout, image=entry["image"], text=entry["text"],
                            metadata=entry.get("metadata"), n_image=entry["n_image"], n_text=entry["n_text"],
                            image_offset=n_img, text_offset=n_txt, dtype=entry["dtype"]))
        n_img += entry["n_image"]
        n_txt += entry["n_text"]
    dim = dims.pop()
    check_dimension(dim, source=str(root))  # every task holds a few D x D moments
    return ShardFolder(path=str(root), layout=layout, shards=tuple(shards), dim=dim)


def _not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as a shard file (a FIFO, a folder, a device, ...), or None.

    Opening a FIFO blocks until something writes into it, so this is asked before any open.
    """
    try:
        mode = os.stat(path).st_mode  # follows symbolic links: a link to a regular file is one
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"is {kind}, not a regular file"


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _clip_entries(root: Path) -> list[dict]:
    """One entry per shard key found in any of the three sub-folders."""
    found: dict[str, dict[str, Path]] = {}
    for role, (folder, prefix, suffix) in CLIP_FILES.items():
        pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix))
        for path in (root / folder).glob(f"{prefix}*{suffix}") if (root / folder).is_dir() else ():
            match = pattern.fullmatch(path.name)
            if match:
                found.setdefault(match.group(1), {})[role] = path
    if not found:
        raise InputError(f"{root}: no shards found in img_emb/ or text_emb/",
                         hint="expected img_emb/img_emb_K.npy and text_emb/text_emb_K.npy")
    with_metadata = (root / CLIP_FILES["metadata"][0]).is_dir()
    entries = []
    for key in sorted(found, key=int):
        files, problems = found[key], []
        entry = {"name": key, "problems": problems, "dim": None, "dtype": None, "n_image": 0, "n_text": 0}
        for role in ("image", "text") + (("metadata",) if with_metadata else ()):
            if role not in files:
                folder, prefix, suffix = CLIP_FILES[role]
                present = ", ".join(f"{CLIP_FILES[r][0]}/{p.name}" for r, p in files.items())
                problems.append(f"shard {key}: {present} has no partner {folder}/{prefix}{key}{suffix}")
        for role, path in files.items():
            why = _not_regular(path)
            if why:
                problems.append(f"shard {key}: {path} {why}")
        if problems:
            entries.append(entry)
            continue
        headers = {}
        for role in ("image", "text"):
            try:
                headers[role] = read_npy_header(files[role])
            except InputError as exc:
                problems.append(f"shard {key}: {exc.message}")
        if problems:
            entries.append(entry)
            continue
        img, txt = headers["image"], headers["text"]
        problems.extend(_embedding_problems(f"shard {key}", files, img, txt, paired=True))
        if with_metadata and not problems:
            rows = _parquet_rows(files["metadata"])
            if isinstance(rows, str):
                problems.append(f"shard {key}: {rows}")
            elif rows != img.shape[0]:
                problems.append(f"shard {key}: {files['metadata']} has {rows} rows but the embeddings have "
                                f"{img.shape[0]}")
        entry.update(image=str(files["image"]), text=str(files["text"]),
                     metadata=str(files["metadata"]) if with_metadata else None)
        if not problems:
            entry.update(dim=img.shape[1], dtype=img.dtype, n_image=img.shape[0], n_text=txt.shape[0])
        entries.append(entry)
    return entries


def _embedding_problems(label: str, files: dict, img: ArrayHeader, txt: ArrayHeader, *, paired: bool) -> list[str]:
    """Shape and dtype problems of a shard's image and text headers."""
    problems = []
    for role, header in (("image", img), ("text", txt)):
        if len(header.shape) != 2:
            problems.append(f"{label}: {files[role]} has shape {header.shape}, expected (N, D)")
        elif np.dtype(header.dtype).kind != "f":
            problems.append(f"{label}: {files[role]} has dtype {header.dtype}, expected float16, float32 or float64")
        elif header.shape[0] == 0:
            problems.append(f"{label}: {files[role]} has no rows (streaming needs both modalities)")
    if problems:
        return problems
    if img.shape[1] != txt.shape[1]:
        problems.append(f"{label}: dimension mismatch, {files['image']} is {img.shape} but {files['text']} is {txt.shape}")
    elif paired and img.shape[0] != txt.shape[0]:
        problems.append(f"{label}: {files['image']} has {img.shape[0]} rows but {files['text']} has "
                        f"{txt.shape[0]} (row i of each is a pair)")
    return problems


def _npz_entry(path: Path) -> dict:
    """Header checks of one ``.npz`` set: members present, shapes and dtypes consistent."""
    entry = {"name": path.name, "problems": [], "dim": None, "dtype": None, "n_image": 0, "n_text": 0,
             "image": str(path), "text": str(path)}
    problems = entry["problems"]
    why = _not_regular(path)
    if why:
        problems.append(f"{path} {why}")
        return entry
    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            headers = {}
            for key in ("image", "text", "text_image"):
                if f"{key}.npy" not in members:
                    continue
                with zf.open(f"{key}.npy") as fh:
                    headers[key] = _read_header(fh, f"{path}:{key}.npy")
                expected = int(np.prod(headers[key].shape)) * np.dtype(headers[key].dtype).itemsize
                if zf.getinfo(f"{key}.npy").file_size < expected:
                    problems.append(f"{path}: member {key}.npy is truncated")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        problems.append(f"{path}: corrupt or truncated .npz ({exc})")
        return entry
    except InputError as exc:
        problems.append(exc.message)
        return entry
    missing = [k for k in ("image", "text") if k not in headers]
    if missing:
        problems.append(f"{path}: missing array(s) {missing} (an embedding set holds 'image', 'text', 'text_image')")
        return entry
    img, txt = headers["image"], headers["text"]
    problems.extend(_embedding_problems(str(path), {"image": path, "text": path}, img, txt,
                                        paired="text_image" not in headers))
    if problems:
        return entry
    if "text_image" in headers and headers["text_image"].shape != (txt.shape[0],):
        problems.append(f"{path}: 'text_image' has shape {headers['text_image'].shape}, expected ({txt.shape[0]},)")
        return entry
    entry.update(dim=img.shape[1], dtype=img.dtype, n_image=img.shape[0], n_text=txt.shape[0])
    return entry


def read_npy_header(path: str | os.PathLike) -> ArrayHeader:
    """The header of a ``.npy`` file, checked against the file's size (truncation).

    Raises
    ------
    InputError
        Not a ``.npy`` file, an object (pickled) array, or fewer bytes than the header promises.
    """
    path = Path(path)
    why = _not_regular(path)
    if why:
        raise InputError(f"{path} {why}")
    try:
        with open(path, "rb") as fh:
            header = _read_header(fh, str(path))
            offset = fh.tell()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    expected = offset + int(np.prod(header.shape)) * np.dtype(header.dtype).itemsize
    size = path.stat().st_size
    if size < expected:
        raise InputError(f"{path}: truncated, its header promises shape {header.shape} {header.dtype} "
                         f"({expected} bytes) but the file has {size}")
    return header


def _read_header(fh, label: str) -> ArrayHeader:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, OSError) as exc:
        raise InputError(f"{label}: not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{label}: holds pickled objects, which gaptools never loads")
    if dtype.names is not None or dtype.subdtype is not None:
        raise InputError(f"{label}: has the structured dtype {dtype.descr}, expected a plain array of numbers")
    return ArrayHeader(shape=tuple(int(n) for n in shape), dtype=str(dtype))


def _parquet_rows(path: Path) -> int | str:
    """Row count from a parquet footer, or a problem description."""
    from gaptools.stream.engine import require_scale

    require_scale("reading parquet metadata")
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return f"{path}: corrupt parquet file ({exc})"


# --------------------------------------------------------------------------- reading


def iter_chunks(shard: Shard, block_rows: int = BLOCK_ROWS) -> Iterator[Chunk]:
    """The validated rows of a shard, float32: blocks of a clip-retrieval shard, a set whole.

    Raises
    ------
    InputError
        A corrupt file, NaN/Inf or all-zero rows, naming the file and rows.
    """
    if shard.layout == NPZ_SETS:
        eset = load_npz(shard.image)
        if not eset.has_pairs:
            raise InputError(f"{shard.image}: streaming needs both images and captions")
        yield Chunk(eset.image, eset.text, eset.text_image, shard.image_offset, shard.text_offset)
        return
    for start in range(0, shard.n_image, block_rows):
        stop = min(start + block_rows, shard.n_image)
        image = _read_block(shard.image, start, stop, "image")
        text = _read_block(shard.text, start, stop, "text")
        yield Chunk(image, text, np.arange(stop - start), shard.image_offset + start, shard.text_offset + start)


def _read_block(path: str, start: int, stop: int, name: str) -> np.ndarray:
    """Rows ``start:stop`` of a ``.npy`` file through a memory map, validated, float32.

    The map is opened for the block and closed after it, so the pages a long shard
    touches are not all held at once.
    """
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        block = np.array(mapped[start:stop])
        del mapped
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: corrupt or unreadable .npy file ({exc})") from None
    return check_embeddings(block, name=name, source=f"{path} (rows {start}..{stop - 1}, counted from {start})")


def read_metadata(shard: Shard):
    """The metadata table of a clip-retrieval shard (``pyarrow.Table``), or None."""
    if shard.metadata is None:
        return None
    from gaptools.stream.engine import require_scale

    require_scale("reading parquet metadata")
    import pyarrow.parquet as pq

    try:
        return pq.read_table(shard.metadata)
    except (OSError, ValueError) as exc:
        raise InputError(f"{shard.metadata}: corrupt parquet file ({exc})") from None


def folder_to_set(folder: ShardFolder | str | os.PathLike) -> EmbeddingSet:
    """The whole folder as one in-memory set (the in-memory path on the same data).

    Shards are concatenated in order; captions of a clip-retrieval folder come from the
    ``caption`` column of its metadata when there is one.

    Parameters
    ----------
    folder : ShardFolder or path-like
        As :func:`open_folder` takes it.

    Returns
    -------
    EmbeddingSet

    Examples
    --------
    >>> import os, gaptools
    >>> os.makedirs("shards", exist_ok=True)
    >>> for k in range(3):  # a folder of three .npz sets
    ...     _ = gaptools.save_set(gaptools.planted_gap(200, 16, seed=k), f"shards/part{k}.npz")
    >>> gaptools.folder_to_set("shards").n_text
    600
    """
    folder = folder if isinstance(folder, ShardFolder) else open_folder(folder)
    images, texts, groups, captions = [], [], [], []
    for shard in folder.shards:
        for chunk in iter_chunks(shard):
            images.append(chunk.image)
            texts.append(chunk.text)
            groups.append(chunk.text_image + chunk.group_offset)
        table = read_metadata(shard) if folder.layout == CLIP_RETRIEVAL else None
        if table is not None and "caption" in table.column_names:
            captions.append(np.asarray(table.column("caption").to_pylist(), dtype=str))
    caption = np.concatenate(captions) if captions and len(captions) == len(folder.shards) else None
    meta = {"layout": folder.layout, "shards": len(folder.shards)}
    return EmbeddingSet(image=np.concatenate(images), text=np.concatenate(texts), text_image=np.concatenate(groups),
                        caption=caption, meta=meta, source=folder.path)


# --------------------------------------------------------------------------- writing


class NpyWriter:
    """Write a ``.npy`` atomically block by block; the bytes equal ``np.save`` of the whole array.

    Use as a context manager: the file appears (``os.replace``) only when the block ends
    without error and every row was written.

    Parameters
    ----------
    path : path-like
    shape : (int, int)
        Shape of the whole array.
    dtype : dtype
        Storage dtype; each block is cast to it.

    Attributes
    ----------
    sha256 : str
        SHA-256 of the bytes written, once the block has ended.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int], dtype) -> None:
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self._digest = hashlib.sha256()
        self._rows = 0
        self.sha256 = None

    def __enter__(self) -> "NpyWriter":
        self._context = atomic_write(self.path, "wb")
        self._fh = self._context.__enter__()
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        )
        self._put(header.getvalue())
        return self

    def _put(self, data: bytes) -> None:
        self._fh.write(data)
        self._digest.update(data)

    def write(self, block: np.ndarray) -> None:
        """Append rows (n, D), cast to the storage dtype."""
        self._put(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self._rows += len(block)

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None and self._rows != self.shape[0]:
            error = ValueError(f"{self.path}: {self._rows} rows written, the header says {self.shape[0]}")
            self._context.__exit__(ValueError, error, None)  # removes the temporary file
            raise error
        self._context.__exit__(kind, value, traceback)
        if kind is None:
            self.sha256 = self._digest.hexdigest()
        return False


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, read in 4 MB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(chunk), b""):
            digest.update(piece)
    return digest.hexdigest()


def copy_file(source: str | os.PathLike, target: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Copy a file atomically; returns the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, atomic_write(target, "wb") as dst:
        for piece in iter(lambda: src.read(chunk), b""):
            dst.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def write_clip_shard(root: str | os.PathLike, key: str, image: np.ndarray, text: np.ndarray, *,
                     metadata: dict | None = None, dtype=None) -> None:
    """Write one shard in the clip-retrieval layout, each file atomically.

    Parameters
    ----------
    root : path-like
        The folder (``img_emb/``, ``text_emb/``, ``metadata/`` are created in it).
    key : str
        The shard key K (``img_emb_K.npy``), e.g. ``"0"`` or ``"007"``.
    image, text : ndarray, shape (N, D)
        Row i of each is a pair.
    metadata : dict of str to sequence, optional
        Columns of ``metadata_K.parquet`` (N values each), written with pyarrow.
    dtype : dtype, optional
        Storage dtype (default: the arrays' own).
    """
    root = Path(root)
    for role, rows in (("image", image), ("text", text)):
        folder, prefix, suffix = CLIP_FILES[role]
        with NpyWriter(root / folder / f"{prefix}{key}{suffix}", rows.shape, dtype or rows.dtype) as out:
            out.write(rows)
    if metadata is not None:
        from gaptools.stream.engine import require_scale

        require_scale("writing parquet metadata")
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder, prefix, suffix = CLIP_FILES["metadata"]
        with atomic_write(root / folder / f"{prefix}{key}{suffix}", "wb") as fh:
            pq.write_table(pa.table(metadata), fh)


def output_paths(shard: Shard, root: str | os.PathLike) -> dict[str, Path]:
    """Where the aligned files of ``shard`` go under ``root``, in the shard's own layout."""
    root = Path(root)
    if shard.layout == NPZ_SETS:
        return {"set": root / Path(shard.image).name}
    out = {role: root / CLIP_FILES[role][0] / Path(getattr(shard, role)).name for role in ("image", "text")}
    if shard.metadata is not None:
        out["metadata"] = root / CLIP_FILES["metadata"][0] / Path(shard.metadata).name
    return out

