"""Assemble a report from measure, align-compare and caption-eval results.

The report folder holds ``index.html`` (self-contained), ``report.md``, ``tables/*.csv``,
``figures/*.png`` and ``report.json`` (what it was built from). It is built in a
temporary sibling folder and swapped into place, so a failure leaves the previous
report (or nothing) behind; a folder that holds anything else is refused.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from gaptools import __version__
from gaptools.atomic import write_json, write_text
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set
from reports import figures, tables
from reports.inputs import ReportInputs
from reports.render import Figure, Section, page_html, page_markdown

REPORT_KIND = "gaptools.report"


def build_report(
    inputs: ReportInputs,
    out_dir: Path,
    *,
    sets: list[Path] = (),
    aligner: Path | None = None,
    umap: bool = False,
    mixup_metric: str = "CIDEr",
    images: Path | None = None,
    gallery_size: int = 12,
    seed: int = 0,
    title: str = "Modality gap report",
    extra_footer: list[str] = (),
) -> Path:
    """Build the report folder; returns the path of ``index.html``.

    Parameters
    ----------
    inputs : ReportInputs
        Parsed result documents (:func:`reports.inputs.load_inputs`).
    out_dir : Path
        The report folder: created, or replaced if it holds an earlier report.
    sets : list of Path
        Embedding sets for the geometry figures and the gallery's references.
    aligner : Path, optional
        An aligner file; the projection figure then shows images after it too.
    umap : bool
        Use UMAP (cached under ``<out_dir>/../.gaptools-umap-cache``) instead of PCA.
    mixup_metric : str
        Captioning metric of the mixup curve.
    images : Path, optional
        Folder of the sets' images (default: each set's ``meta["images"]``) for the gallery.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_output(out_dir)
    loaded = [load_set(p) for p in sets]
    if not (inputs.files or loaded):
        raise InputError("nothing to report: give result JSON files, eval folders or --sets")
    cache = out_dir.parent / ".gaptools-umap-cache" if umap else None
    sections = []
    if inputs.measures:
        overview = tables.gap_overview(inputs.measures)
        sections.append(Section("Gap overview", "Each metric with its 95% bootstrap interval; one column per embedding set.",
                                tables=[("Gap metrics", overview, {})]))
    for i, eset in enumerate(loaded):
        sections.append(_geometry_section(eset, i, aligner, "umap" if umap else "pca", seed, cache))
    for doc in inputs.compares:
        sections.append(_alignment_section(doc, inputs.evals))
    if inputs.evals:
        cap = tables.captioning_table(inputs.evals)
        sections.append(Section("Captioning", "Scores ×100 (pycocoevalcap); best value per column marked.",
                                tables=[("Captioning metrics (Table 1 layout)", cap, tables.best_per_column(cap))]))
        mix = tables.mixup_table(inputs.evals, mixup_metric)
        if not mix.empty:
            sections.append(Section("Mixup", f"{mixup_metric} against λ, the text share of the input (the paper's Fig. 3).",
                                    tables=[(f"{mixup_metric} by λ", mix, {})],
                                    figures=[Figure("mixup.png", figures.mixup_curve(mix, mixup_metric),
                                                    f"{mixup_metric} against mixup λ")]))
        gallery = _gallery(inputs.evals, loaded, images, gallery_size, seed)
        if gallery:
            sections.append(Section("Samples", "Generated caption (bold) and the references.", gallery=gallery))
    footer = _footer(inputs, loaded, aligner, started) + list(extra_footer)
    _write(out_dir, title, sections, footer, inputs)
    return out_dir / "index.html"


def _check_output(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    manifest = out_dir / "report.json"
    if any(out_dir.iterdir()):
        try:
            ok = json.loads(manifest.read_text()).get("kind") == REPORT_KIND
        except (OSError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise InputError(f"{out_dir}: folder holds something other than a gaptools report",
                             hint="choose an empty or new folder")


def _geometry_section(eset: EmbeddingSet, index: int, aligner: Path | None, method: str, seed: int, cache) -> Section:
    name = Path(eset.source).name
    section = Section(f"Geometry: {name}", f"{eset.n_image} images, {eset.n_text} captions, D = {eset.dim}.")
    if not eset.has_pairs:
        section.note += " One modality only: no cross-modal figures."
        return section
    after = None
    if aligner is not None:
        from gaptools.align import apply_to_set, load_aligner

        saved = load_aligner(aligner)
        moved = apply_to_set(saved.aligner, eset, direction=saved.direction)
        after = (moved.image, moved.text)
        section.note += f" Second panel: after the aligner {aligner.name} ({saved.direction})."
    section.figures = [
        Figure(f"set{index}_{method}.png",
               figures.projection_scatter(eset.image, eset.text, after, method=method, seed=seed, cache_dir=cache),
               f"{method.upper()} of image and text embeddings ({name})"),
        Figure(f"set{index}_cosines.png", figures.cosine_histograms(eset.image, eset.text, eset.text_image, seed=seed),
               f"Cosine of true vs random pairs ({name})"),
        Figure(f"set{index}_gap_dims.png", figures.gap_dimensions(eset.image, eset.text),
               f"Dimensions carrying the centroid gap ({name})"),
    ]
    return section


def _alignment_section(compare: dict, evals: list[dict]) -> Section:
    """The compare table, with captioning metrics of the first run evaluated with aligners."""
    run, caption_by_method = None, {}
    for doc in evals:
        confs = [c for c in doc["configurations"] if c.get("input", "image") == "image" and c.get("mixup") is None]
        if any(c.get("aligner") for c in confs):
            run = doc.get("run")
            break
    for doc in evals:
        if doc.get("run") != run:
            continue
        for conf in doc["configurations"]:
            if conf.get("input", "image") == "image" and conf.get("mixup") is None:
                method = Path(str(conf["aligner"])).stem if conf.get("aligner") else "baseline"
                caption_by_method.setdefault(method, conf["metrics"])
    table = tables.alignment_table(compare, caption_by_method)
    lower = tables.LOWER_IS_CLOSER | {c for c in table.columns if c.endswith("_seconds")}
    note = (f"Fitted on {compare.get('train')}, measured on {compare.get('test')} "
            f"(direction {compare.get('direction', 'image-to-text')}). Best value per column marked.")
    if run is not None:
        note += (f" Captioning columns: the run {Path(str(run)).name} on test images after each aligner "
                 "(evals whose aligner file is named after the method).")
    return Section("Alignment comparison", note, tables=[("Gap after each correction", table,
                                                          tables.best_per_column(table, lower))])


def _gallery(evals: list[dict], sets: list[EmbeddingSet], images: Path | None, size: int, seed: int) -> list[dict]:
    """Thumbnails with generated captions, for eval sets whose image files are at hand."""
    from PIL import Image

    refs = {}
    folders = {}
    for s in sets:
        if s.image_id is None or s.caption is None:
            continue
        root = images or (Path(s.meta["images"]) if s.meta.get("images") else None)
        for row, image_id in enumerate(s.image_id):
            refs[str(image_id)] = [str(c) for c in s.caption[s.text_image == row]]
            folders[str(image_id)] = root
    items = []
    for doc in evals:
        conf = next((c for c in doc["configurations"] if c.get("input", "image") == "image"
                     and not c.get("aligner") and c.get("mixup") is None), None)
        if conf is None or not conf.get("predictions"):
            continue
        predictions = json.loads((Path(doc["_file"]).parent / conf["predictions"]).read_text(encoding="utf-8"))
        rng = np.random.default_rng(seed)
        for k in rng.permutation(len(predictions))[:size]:
            p = predictions[int(k)]
            image_id = str(p["image_id"])
            root = folders.get(image_id)
            if root is None or not (root / image_id).is_file():
                continue
            with Image.open(root / image_id) as im:
                im = im.convert("RGB")
                im.thumbnail((192, 192))
                buf = io.BytesIO()
                im.save(buf, format="PNG")
            items.append({"image_id": image_id, "caption": str(p["caption"]), "references": refs[image_id],
                          "png": buf.getvalue()})
        break  # one run's samples are enough to read
    return items


def _footer(inputs: ReportInputs, sets: list[EmbeddingSet], aligner, started: float) -> list[str]:
    lines = [f"Built by gaptools {__version__} on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} "
             f"in {time.perf_counter() - started:.1f} s."]
    lines += [f"Input: {f}" for f in inputs.files]
    for doc in inputs.measures:
        lines += [f"Measured set {s['source']}: {json.dumps(s.get('meta') or {}, sort_keys=True)}" for s in doc["sets"]]
    lines += [f"Set {s.source}: {json.dumps(s.meta, sort_keys=True)}" for s in sets]
    if aligner is not None:
        lines.append(f"Aligner: {aligner}")
    return lines


def _write(out_dir: Path, title: str, sections: list[Section], footer: list[str], inputs: ReportInputs) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        (tmp / "figures").mkdir()
        (tmp / "tables").mkdir()
        for s in sections:
            for fig in s.figures:
                (tmp / "figures" / fig.name).write_bytes(fig.png)
            for caption, table, _ in s.tables:
                table.to_csv(tmp / "tables" / f"{_slug(s.title)}--{_slug(caption)}.csv")
        write_text(tmp / "index.html", page_html(title, sections, footer))
        write_text(tmp / "report.md", page_markdown(title, sections, footer))
        write_json(tmp / "report.json", {"kind": REPORT_KIND, "version": 1, "inputs": inputs.files,
                                         "gaptools": __version__})
        os.chmod(tmp, 0o755)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60]
