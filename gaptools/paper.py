"""The published figures of the Unsupervised-ClipCap paper, as data.

"Simple Unsupervised Image Captioning via CLIP's Multimodal Embeddings" (anonymous
submission; its text, extracted from the PDF, is ``../shared/paper/unsupervised-clipcap.md``
beside the project). Every figure names its table and row as the paper prints them. Scores
are ×100, in the column order of the paper's tables (:data:`METRICS`, the COCOEvalCap keys);
a dash in the paper (``_`` or ``-``) is None here, never an estimate.

- **Table 1** (MS-COCO): MAGIC* and ESPER* ("* indicates reported numbers from paper"),
  Unsupervised-ClipCap, "− matched captions" (the ablation trained to decode the *same*
  caption), ClipCap (supervised).
- **Table 2** (Flickr30k): MAGIC, Unsupervised-ClipCap, ClipCap.
- **§5, "Correcting the Distribution Mismatch"**: "The average performance of
  Unsupervised-ClipCap improves from 40.8 to 42.1 but still does not come close to
  ClipCap's performance of 52.4"; "drops from 40.8 to 15.8 using rotated representations";
  "drops from 40.8 to 0.0" with optimal transport (:data:`ALIGNMENT_AVERAGES`).

What the paper leaves open, checked here rather than assumed: it does not say which
average it means. 40.8 is the mean of Unsupervised-ClipCap's eight Table-1 metrics
(40.7625, rounded); ClipCap's 52.4 is *not* the mean of its Table-1 row (51.675), and the
paper does not say where it comes from. Both are shown wherever the average is
(:func:`average_check`). This toolkit scores seven of the eight metrics (SPICE downloads
Stanford CoreNLP and cannot run offline), so :func:`PaperRow.mean` also gives the paper's
rows' mean of any subset, to put the paper on the scale of our averages.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal

#: The metrics of Tables 1 and 2, in the paper's column order (BLEU@1..4, METEOR, ROUGE-L, CIDEr, SPICE).
METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE")
#: The seven of :data:`METRICS` this toolkit scores offline (no SPICE).
OFFLINE_METRICS = METRICS[:-1]

#: Method names as the tables print them (without the citation).
MAGIC, ESPER, UCLIPCAP, MATCHED_ABLATION, CLIPCAP = (
    "MAGIC", "ESPER", "Unsupervised-ClipCap", "− matched captions", "ClipCap")


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """One row of a results table of the paper.

    Attributes
    ----------
    table : str
        ``"Table 1"`` or ``"Table 2"``.
    method : str
        The method as the table prints it, without its citation.
    cite : str
        The citation printed with it ("" for the paper's own rows).
    scores : tuple of (float or None), length 8
        In :data:`METRICS` order; None where the paper prints a dash.
    reported : bool
        The row carries the table's ``*``: numbers reported from the cited paper, not rerun.
    """

    table: str
    method: str
    cite: str
    scores: tuple
    reported: bool = False

    def score(self, metric: str) -> float | None:
        """The printed score of ``metric`` (a key of :data:`METRICS`), or None for a dash."""
        return self.scores[METRICS.index(metric)]

    def as_dict(self) -> dict[str, float | None]:
        """Metric key -> printed score (None for a dash)."""
        return dict(zip(METRICS, self.scores))

    def mean(self, metrics: tuple[str, ...] = METRICS) -> float | None:
        """Unrounded mean of ``metrics``; None when any of them is a dash."""
        values = [self.score(m) for m in metrics]
        return None if any(v is None for v in values) else sum(values) / len(values)

    @property
    def label(self) -> str:
        """``method (cite)*`` as the table prints it."""
        return self.method + (f" ({self.cite})" if self.cite else "") + ("*" if self.reported else "")


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """A results table of the paper.

    Attributes
    ----------
    key : str
        ``"Table 1"``.
    dataset : str
        As the paper names it (``"MS-COCO"``).
    dataset_id : str
        The ``dataset`` a Karpathy annotations file (and so an embedded set's ``meta``) carries.
    caption : str
        The table's caption, verbatim.
    rows : tuple of PaperRow
        In printed order.
    """

    key: str
    dataset: str
    dataset_id: str
    caption: str
    rows: tuple

    def row(self, method: str) -> PaperRow:
        """The row of ``method`` (as printed, e.g. :data:`UCLIPCAP`)."""
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(f"{self.key} has no row {method!r}; it has {', '.join(r.method for r in self.rows)}")


def printed(value: float, places: int = 2) -> str:
    """``value`` rounded half-up to ``places`` decimals, as a table prints it (51.675 → ``51.68``).

    The paper's means are exact decimals (sums of one-decimal figures over 7 or 8), which a
    binary float can hold only approximately (51.675 is stored just below), so the float's own
    rounding would print 51.67.
    """
    return str(Decimal(repr(round(value, 9))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _row(table: str, method: str, cite: str, *scores, reported: bool = False) -> PaperRow:
    return PaperRow(table, method, cite, tuple(scores), reported)


_1, _2 = "Table 1", "Table 2"
TABLE_1 = PaperTable(_1, "MS-COCO", "coco", (
    "Image captioning results on MS-COCO. ClipCap is trained on supervised data. Unsupervised-ClipCap and MAGIC "
    "train on image captions only. ESPER trains on images only. ZeroCap does not have any training. * indicates "
    "reported numbers from paper."), (
    _row(_1, MAGIC, "Su et al. 2022", 56.8, None, None, 12.9, 17.4, 39.9, 49.3, 11.3, reported=True),
    _row(_1, ESPER, "Yu et al. 2022", None, None, None, 21.9, 21.9, None, 78.2, None, reported=True),
    _row(_1, UCLIPCAP, "", 65.5, 46.7, 32.1, 22.1, 22.2, 48.0, 74.6, 14.9),
    _row(_1, MATCHED_ABLATION, "", 50.3, 30.0, 17.0, 9.6, 15.2, 37.5, 33.7, 8.6),
    _row(_1, CLIPCAP, "Mokady, Hertz, and Bermano 2021", 74.0, 57.2, 42.7, 31.5, 26.8, 54.7, 106.6, 19.9),
))
TABLE_2 = PaperTable(_2, "Flickr30k", "flickr30k", (
    "Image captioning results on Flickr30k. ClipCap is trained on supervised data. Unsupervised-ClipCap and MAGIC "
    "train on image captions only."), (
    _row(_2, MAGIC, "Su et al. 2022", 44.5, None, None, 6.4, 13.1, 31.6, 20.4, 7.1),
    _row(_2, UCLIPCAP, "", 53.2, 35.9, 23.7, 15.7, 19.3, 41.8, 36.5, 12.9),
    _row(_2, CLIPCAP, "Mokady, Hertz, and Bermano 2021", 68.0, 49.6, 35.2, 24.8, 22.2, 48.6, 57.9, 15.8),
))
TABLES = (TABLE_1, TABLE_2)


def table_for(dataset: str | None) -> PaperTable | None:
    """The table whose rows are directly comparable with a reproduction on ``dataset``, else None.

    ``dataset`` is an embedded set's ``meta["dataset"]`` (``coco``, ``flickr30k``, ...).
    """
    return next((t for t in TABLES if t.dataset_id == dataset), None)


@dataclasses.dataclass(frozen=True)
class PaperAverage:
    """One "average performance" figure of §5 (Correcting the Distribution Mismatch).

    Attributes
    ----------
    key : str
        ``image``, ``mean``, ``rotation``, ``ot`` (Unsupervised-ClipCap without and with each
        correction) or ``clipcap``.
    label : str
        What it is the average of, in words.
    value : float
        As printed.
    quote : str
        The sentence that prints it, verbatim.
    """

    key: str
    label: str
    value: float
    quote: str


_MEANS = ("The average performance of Unsupervised-ClipCap improves from 40.8 to 42.1 but still does not come close "
          "to ClipCap's performance of 52.4.")
ALIGNMENT_AVERAGES = (
    PaperAverage("image", "Unsupervised-ClipCap, images", 40.8, _MEANS),
    PaperAverage("mean", "Unsupervised-ClipCap, images + mean alignment", 42.1, _MEANS),
    PaperAverage("rotation", "Unsupervised-ClipCap, images + rotation", 15.8,
                 "The average performance of Unsupervised-ClipCap drops from 40.8 to 15.8 using rotated "
                 "representations."),
    PaperAverage("ot", "Unsupervised-ClipCap, images + optimal transport", 0.0,
                 "The average performance of Unsupervised-ClipCap drops from 40.8 to 0.0, where the model generates "
                 "non-sensible text."),
    PaperAverage("clipcap", "ClipCap", 52.4, _MEANS),
)


def alignment_average(key: str) -> PaperAverage:
    """The §5 average ``key`` (see :class:`PaperAverage`)."""
    for average in ALIGNMENT_AVERAGES:
        if average.key == key:
            return average
    raise KeyError(f"no §5 average {key!r}; there are {', '.join(a.key for a in ALIGNMENT_AVERAGES)}")


def average_check() -> list[dict]:
    """Each §5 average of a Table-1 method beside that row's own means.

    Returns
    -------
    list of dict
        One per method with a Table-1 row (Unsupervised-ClipCap, ClipCap): ``method``,
        ``printed`` (the §5 figure), ``mean_8`` and ``mean_7`` (the row's unrounded means of
        all eight metrics and of the seven without SPICE) and ``matches`` (the printed
        figure is ``mean_8`` rounded to one decimal).
    """
    out = []
    for key, method in (("image", UCLIPCAP), ("clipcap", CLIPCAP)):
        row, printed = TABLE_1.row(method), alignment_average(key).value
        mean_8 = row.mean()
        out.append({"method": method, "printed": printed, "mean_8": mean_8, "mean_7": row.mean(OFFLINE_METRICS),
                    "matches": abs(round(mean_8, 1) - printed) < 1e-9})
    return out
