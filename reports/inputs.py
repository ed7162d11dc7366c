"""Read and classify report inputs: measure, align-compare and caption-eval results.

Every JSON the project writes for reports carries ``kind`` and ``version``; an input of
another kind or version is refused with a message naming the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gaptools.align.compare import RESULT_KIND as COMPARE_KIND
from gaptools.align.compare import RESULT_VERSION as COMPARE_VERSION
from gaptools.checksums import verify_manifest
from gaptools.datasets.files import read_json
from gaptools.errors import InputError
from gaptools.measure import RESULT_KIND as MEASURE_KIND
from gaptools.measure import RESULT_VERSION as MEASURE_VERSION
from gaptools.validation import is_finite_number

MEASURE, COMPARE = MEASURE_KIND, COMPARE_KIND
# caption.eval_run.RESULT_KIND/VERSION: reports read result files and never import caption (a test holds
# the two in step)
EVAL = "caption.eval"
# reproduce.results.RESULT_KIND/VERSION (the application layer's document; same rule, same test)
RESULTS = "gaptools.reproduce.results"
SUPPORTED = {MEASURE: MEASURE_VERSION, COMPARE: COMPARE_VERSION, EVAL: 1, RESULTS: 3}
EVAL_FILE = "metrics.json"


@dataclasses.dataclass
class ReportInputs:
    """The parsed inputs of one report, each document tagged with its file.

    Attributes
    ----------
    measures, compares, evals, results : list of dict
        Documents of each kind; each has an added ``"_file"`` key (its path).
    """

    measures: list[dict] = dataclasses.field(default_factory=list)
    compares: list[dict] = dataclasses.field(default_factory=list)
    evals: list[dict] = dataclasses.field(default_factory=list)
    results: list[dict] = dataclasses.field(default_factory=list)  # reproductions over seeds

    @property
    def files(self) -> list[str]:
        return [d["_file"] for d in (*self.measures, *self.compares, *self.evals, *self.results)]


@dataclasses.dataclass(frozen=True)
class EvalRow:
    """One configuration of a ``caption.eval`` document, as the report reads it.

    Attributes
    ----------
    run : str
        The evaluated run folder.
    input : str
        ``"image"`` or ``"text"``.
    aligner : str or None
        The saved aligner applied first, if any.
    mixup : float or None
        λ (text share) of a mixup configuration.
    beam : int
    metrics : dict
        Metric name -> score (x100).
    predictions : Path or None
        The predictions file beside the document.
    diversity : dict or None
        The configuration's caption diversity (``distinct_captions``, ``n_captions``,
        ``mode_collapse``, ...), where the eval recorded it.
    """

    run: str
    input: str
    aligner: str | None
    mixup: float | None
    beam: int
    metrics: dict
    predictions: Path | None
    diversity: dict | None = None

    @property
    def on_images(self) -> bool:
        """Test images in, with or without an aligner (no mixup, not the captions' own embeddings)."""
        return self.input == "image" and self.mixup is None

    @property
    def plain(self) -> bool:
        """Test images in, uncorrected."""
        return self.on_images and not self.aligner

    @property
    def method(self) -> str:
        """The aligner's name (its file's stem), or ``"baseline"``."""
        return Path(self.aligner).stem if self.aligner else "baseline"


def eval_rows(doc: dict) -> list[EvalRow]:
    """The configurations of one ``caption.eval`` document as :class:`EvalRow`."""
    folder = Path(doc["_file"]).parent
    return [EvalRow(run=str(doc.get("run", "run")), input=c.get("input", "image"),
                    aligner=str(c["aligner"]) if c.get("aligner") else None, mixup=c.get("mixup"),
                    beam=c.get("beam", 1), metrics=c["metrics"],
                    predictions=folder / c["predictions"] if c.get("predictions") else None,
                    diversity=c.get("diversity"))
            for c in doc["configurations"]]


def read_document(path: Path) -> dict:
    """Read one result JSON and check its kind and version."""
    doc = read_json(path)
    if not isinstance(doc, dict) or "kind" not in doc:
        raise InputError(f"{path}: not a gaptools result (no 'kind' field)",
                         hint=f"expected one of {sorted(SUPPORTED)}")
    kind, version = doc["kind"], doc.get("version")
    if not isinstance(kind, str) or kind not in SUPPORTED:
        raise InputError(f"{path}: unknown kind {kind!r}", hint=f"expected one of {sorted(SUPPORTED)}")
    if version != SUPPORTED[kind]:
        raise InputError(f"{path}: {kind} version {version!r} is not supported (this gaptools reads version {SUPPORTED[kind]})")
    _check_layout(doc, path)
    doc["_file"] = str(path)
    return doc



def _check_layout(doc: dict, path: Path) -> None:
    """Refuse a result document whose fields the report reads have the wrong type (one line naming the field)."""

    def need(ok: bool, where: str, expected: str) -> None:
        if not ok:
            raise InputError(f"{path}: {where} must be {expected}", hint="was this file written by gaptools?")

    if doc["kind"] == MEASURE:
        need(isinstance(doc.get("sets"), list) and doc["sets"], "'sets'", "a non-empty list")
        for i, s in enumerate(doc["sets"]):
            need(isinstance(s, dict), f"sets[{i}]", "an object")
            need(isinstance(s.get("metrics"), dict), f"sets[{i}].metrics", "an object of metrics")
            for key, entry in s["metrics"].items():  # {"value", "ci95", ...}
                where = f"sets[{i}].metrics.{key}"
                need(isinstance(entry, dict), where, "an object")
                v, ci = entry.get("value"), entry.get("ci95")
                need(v is None or is_finite_number(v) or (isinstance(v, list) and all(
                    isinstance(p, list) and all(is_finite_number(x) for x in p) for p in v)),
                    f"{where}.value", "a number, a list of [dim, share] or null")
                need(ci is None or (isinstance(ci, list) and len(ci) == 2 and all(is_finite_number(x) for x in ci)),
                     f"{where}.ci95", "[low, high] or null")
    elif doc["kind"] == COMPARE:
        need(isinstance(doc.get("baseline"), dict), "'baseline'", "an object of metrics")
        need(isinstance(doc.get("methods"), dict), "'methods'", "an object {method: metrics}")
        for name, values in {"baseline": doc["baseline"], **doc["methods"]}.items():
            need(isinstance(values, dict), f"methods.{name}", "an object of metrics")
            for key, v in values.items():
                need(v is None or is_finite_number(v) or isinstance(v, (dict, list, str)), f"methods.{name}.{key}",
                     "a number or null")
    elif doc["kind"] == EVAL:
        need(isinstance(doc.get("configurations"), list), "'configurations'", "a list")
        for i, c in enumerate(doc["configurations"]):
            need(isinstance(c, dict), f"configurations[{i}]", "an object")
            need(isinstance(c.get("metrics"), dict) and all(v is None or is_finite_number(v) for v in c["metrics"].values()),
                 f"configurations[{i}].metrics", "an object of numbers")
            predictions = c.get("predictions")
            need(predictions is None or (isinstance(predictions, str) and predictions not in ("", ".", "..")
                                         and "/" not in predictions and "\\" not in predictions),
                 f"configurations[{i}].predictions", "a file name in the eval folder")
            need(c.get("mixup") is None or is_finite_number(c["mixup"]), f"configurations[{i}].mixup", "a number or null")
            need(c.get("diversity") is None or isinstance(c["diversity"], dict), f"configurations[{i}].diversity",
                 "an object or null")
            for key in ("input", "aligner", "name"):
                need(c.get(key) is None or isinstance(c[key], str), f"configurations[{i}].{key}", "a string")


def load_inputs(paths: list[Path]) -> ReportInputs:
    """Classify every input: a JSON file, or an eval folder holding ``metrics.json``."""
    inputs = ReportInputs()
    for path in paths:
        path = Path(path)
        doc = read_document(path / EVAL_FILE if path.is_dir() else path)
        if doc["kind"] == EVAL:  # every file of the eval folder as it was written (none listed: an older folder)
            verify_manifest(Path(doc["_file"]).parent)
        {MEASURE: inputs.measures, COMPARE: inputs.compares, EVAL: inputs.evals,
         RESULTS: inputs.results}[doc["kind"]].append(doc)
    return inputs
