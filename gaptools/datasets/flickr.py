"""Flickr8k / Flickr30k token files (``image.jpg#n<TAB>caption``) and their split lists.

The official Flickr8k file has one quirk: caption 0 of ``2258277193_586949ec62.jpg`` is filed
under ``2258277193_586949ec62.jpg.1``. A numeric suffix after an image extension is dropped, so
that image gets its 5 captions and the file reads as 40,460 captions of 8,092 images.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gaptools.datasets.files import read_text
from gaptools.datasets.records import SHOW, CaptionRecords, check_unique, group_captions
from gaptools.errors import InputError

_COPY_SUFFIX = re.compile(r"^(.+\.(?:jpe?g|png))\.\d+$", re.IGNORECASE)


def image_name(raw: str) -> str:
    """An image name from a token file, with the ``.jpg.1`` copy suffix dropped."""
    match = _COPY_SUFFIX.match(raw)
    return match.group(1) if match else raw


def split_name(path: str | os.PathLike) -> str:
    """``Flickr_8k.testImages.txt`` -> ``test``; other names: the file name without suffix."""
    match = re.search(r"(train|dev|val|test)", Path(path).name, re.IGNORECASE)
    return match.group(1).lower() if match else Path(path).stem


def read_split_list(path: str | os.PathLike) -> list[str]:
    """Image names of a split list (one per line, blank lines ignored), unique."""
    names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    check_unique(names, what="image", source=str(path))
    if not names:
        raise InputError(f"{path}: the split list is empty")
    return names


def read_flickr_tokens(
    path: str | os.PathLike,
    *,
    split_file: str | os.PathLike | None = None,
    skip_empty: bool = False,
    dataset: str = "flickr",
) -> CaptionRecords:
    """Read a Flickr token file, optionally keeping the images of one split list.

    Parameters
    ----------
    path : path-like
        ``Flickr8k.token.txt`` or ``results_20130124.token``: ``image#n<TAB>caption`` per line.
    split_file : path-like, optional
        ``Flickr_8k.testImages.txt`` etc. The images are returned in the split list's order.
    skip_empty : bool
        Drop empty captions instead of raising.
    dataset : str
        Name for ``meta``.

    Raises
    ------
    InputError
        A line without a tab or ``#n`` caption number, a repeated ``image#n``, empty captions,
        or split-list images the token file does not have.
    """
    entries = []
    keys = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        raw, hash_, number = key.strip().rpartition("#")
        if not tab or not hash_ or not number.isdigit() or not raw:
            raise InputError(f"{path}: line {lineno} is not 'image#n<TAB>caption': {line[:80]!r}")
        name = image_name(raw)
        keys.append(f"{name}#{number}")
        entries.append((name, name, caption, f"line {lineno}"))
    check_unique(keys, what="caption id", source=str(path))
    split = None
    if split_file is not None:
        names = read_split_list(split_file)
        split = split_name(split_file)
        order = {n: i for i, n in enumerate(names)}
        known = {e[0] for e in entries}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(
                f"{split_file}: {len(unknown)} image(s) have no captions in {path}, first: {', '.join(unknown[:SHOW])}"
            )
        entries = sorted((e for e in entries if e[0] in order), key=lambda e: order[e[0]])
    return group_captions(entries, dataset=dataset, source=str(path), split=split, skip_empty=skip_empty)
