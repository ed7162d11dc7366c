"""Caption tables: ``{image_file: [captions]}`` JSON, and CSV / JSON Lines with chosen columns."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from gaptools.datasets.files import read_json, read_text
from gaptools.datasets.records import CaptionRecords, group_captions
from gaptools.errors import InputError


def read_caption_map(
    path: str | os.PathLike, *, skip_empty: bool = False, dataset: str | None = None
) -> CaptionRecords:
    """Read ``{image_file: [caption, ...]}`` (a single string value is one caption).

    The image file is also the image id. Keys are kept in file order.
    """
    doc = read_json(path)
    if not isinstance(doc, dict) or not doc:
        raise InputError(f"{path}: expected a non-empty JSON object {{image_file: [captions]}}")
    entries = []
    for image, captions in doc.items():
        captions = [captions] if isinstance(captions, str) else captions
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise InputError(f"{path}: the value of {image!r} must be a list of caption strings")
        entries.extend((image, image, c, f"{image!r} caption #{j}") for j, c in enumerate(captions))
    return group_captions(entries, dataset=dataset or Path(path).stem, source=str(path), skip_empty=skip_empty)


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """(column names, [(line number, row)]) of a CSV/TSV or JSON Lines file."""
    text = read_text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows, columns = [], {}
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}: line {lineno} is not a JSON object")
            columns.update(dict.fromkeys(row))
            rows.append((lineno, row))
        return list(columns), rows
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV at line {reader.line_num} ({exc})") from None
    return list(reader.fieldnames or []), rows


def read_table(
    path: str | os.PathLike,
    *,
    image_column: str = "image",
    caption_column: str = "caption",
    id_column: str | None = None,
    skip_empty: bool = False,
    dataset: str | None = None,
) -> CaptionRecords:
    """Read image/caption pairs from CSV (``.csv``, ``.tsv``) or JSON Lines (``.jsonl``).

    One row per caption; rows naming the same image are grouped. ``id_column`` defaults to the
    image column (the file is the id).
    """
    path = Path(path)
    columns, rows = _rows(path)
    wanted = [c for c in (image_column, caption_column, id_column) if c]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise InputError(f"{path}: no column {', '.join(map(repr, missing))}", hint=f"columns are {', '.join(columns) or 'none'}")
    entries = []
    for lineno, row in rows:
        image = row.get(image_column)
        if image is None or not str(image).strip():
            raise InputError(f"{path}: line {lineno} has no value in column {image_column!r}")
        image = str(image).strip()
        caption = row.get(caption_column)
        image_id = str(row.get(id_column)).strip() if id_column else image
        entries.append((image_id, image, "" if caption is None else str(caption), f"line {lineno}"))
    return group_captions(entries, dataset=dataset or path.stem, source=str(path), skip_empty=skip_empty)
