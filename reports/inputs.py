"""Read and classify report inputs: measure, align-compare and caption-eval results.

Every JSON the project writes for reports carries ``kind`` and ``version``; an input of
another kind or version is refused with a message naming the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gaptools.datasets.files import read_json
from gaptools.errors import InputError

MEASURE, COMPARE, EVAL = "gaptools.measure", "gaptools.align.compare", "caption.eval"
SUPPORTED = {MEASURE: 1, COMPARE: 1, EVAL: 1}
EVAL_FILE = "metrics.json"


@dataclasses.dataclass
class ReportInputs:
    """The parsed inputs of one report, each document tagged with its file.

    Attributes
    ----------
    measures, compares, evals : list of dict
        Documents of each kind; each has an added ``"_file"`` key (its path).
    """

    measures: list[dict] = dataclasses.field(default_factory=list)
    compares: list[dict] = dataclasses.field(default_factory=list)
    evals: list[dict] = dataclasses.field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [d["_file"] for d in (*self.measures, *self.compares, *self.evals)]


def read_document(path: Path) -> dict:
    """Read one result JSON and check its kind and version."""
    doc = read_json(path)
    if not isinstance(doc, dict) or "kind" not in doc:
        raise InputError(f"{path}: not a gaptools result (no 'kind' field)",
                         hint=f"expected one of {sorted(SUPPORTED)}")
    kind, version = doc["kind"], doc.get("version")
    if kind not in SUPPORTED:
        raise InputError(f"{path}: unknown kind {kind!r}", hint=f"expected one of {sorted(SUPPORTED)}")
    if version != SUPPORTED[kind]:
        raise InputError(f"{path}: {kind} version {version!r} is not supported (this gaptools reads version {SUPPORTED[kind]})")
    doc["_file"] = str(path)
    return doc


def load_inputs(paths: list[Path]) -> ReportInputs:
    """Classify every input: a JSON file, or an eval folder holding ``metrics.json``."""
    inputs = ReportInputs()
    for path in paths:
        path = Path(path)
        doc = read_document(path / EVAL_FILE if path.is_dir() else path)
        {MEASURE: inputs.measures, COMPARE: inputs.compares, EVAL: inputs.evals}[doc["kind"]].append(doc)
    return inputs
