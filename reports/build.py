"""Assemble a report from measure, align-compare and caption-eval results.

The report folder holds ``index.html`` (self-contained), ``report.md``, ``tables/*.csv``,
``figures/*.png`` and ``report.json`` (what it was built from). It is built in a
temporary sibling folder and swapped into place (:func:`gaptools.outputs.building_folder`),
so a failure leaves the previous report (or nothing) behind; a folder that holds anything
else, or any of the report's inputs, is refused.
"""

from __future__ import annotations

import datetime
import io
import json
import time
from pathlib import Path

import numpy as np

from gaptools import __version__
from gaptools.align.compare import overlap_warning
from gaptools.atomic import write_json, write_text
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set
from gaptools.outputs import REPORT, building_folder, check_output_folder
from gaptools.reports import figures, reproduction, tables
from gaptools.reports.inputs import ReportInputs, eval_rows
from gaptools.reports.render import Figure, Section, page_html, page_markdown
from gaptools.validation import contained_path

REPORT_KIND = REPORT  # the marker kind is also report.json's kind


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
        Parsed result documents (:func:`gaptools.reports.inputs.load_inputs`).
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
        Folder of the sets' images for the gallery (no gallery without it). Every ``image_id``
        of the sets must name a file inside it: one that leaves it (``..``, an absolute path)
        is refused. A set's own ``meta["images"]`` is never used to choose a folder.

    Raises
    ------
    OutputError
        ``out_dir`` is a file, is or holds an input, or holds something other than a report.
    InputError
        Nothing to report, an unreadable input, an ``image_id`` that leaves ``images``.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_output_folder(out_dir, kind=REPORT_KIND, option="-o", overwrite=True,
                        inputs=[*inputs.files, *sets, aligner, images])
    loaded = [load_set(p) for p in sets]
    if not (inputs.files or loaded):
        raise InputError("nothing to report: give result JSON files, eval folders or --sets")
    if images is not None:
        _check_image_ids(loaded, Path(images))
    cache = out_dir.parent / ".gaptools-umap-cache" if umap else None
    sections = []
    for doc in inputs.results:  # a reproduction opens with its answer: the claims and the paper's tables
        sections += reproduction.sections(doc)
    if inputs.measures:
        overview = tables.gap_overview(inputs.measures)
        sections.append(Section("Gap overview", "Each metric with its 95% bootstrap interval; one column per embedding set.",
                                tables=[("Gap metrics", overview, {})]))
        ablations = [(s.get("source", "set"), s["dim_ablation"]) for doc in inputs.measures for s in doc["sets"]
                     if s.get("dim_ablation")]
        if ablations:
            sections.append(Section("Gap dimensions removed", "Schrodi et al. 2025: zeroing the k coordinates that "
                                    "carry most of the centroid gap (solid) against k seeded random ones (dashed), "
                                    "re-normalised.", figures=[
                                        Figure(f"dim_ablation_{i}.png", figures.dimension_ablation(a),
                                               f"R@1 and centroid gap against k ({Path(str(name)).name})")
                                        for i, (name, a) in enumerate(ablations)]))
    for i, eset in enumerate(loaded):
        sections.append(_geometry_section(eset, i, aligner, "umap" if umap else "pca", seed, cache))
    for doc in inputs.compares:
        sections.append(_alignment_section(doc, inputs.evals))
    if inputs.evals:
        cap = tables.captioning_table(inputs.evals)
        sections.append(Section("Captioning", "Scores ×100 (pycocoevalcap). A value is marked best where its 95% "
                                "interval over the test images (caption eval --bootstrap) lies clear of every other "
                                "row's; a column where a row has no interval has none.",
                                tables=[("Captioning metrics (Table 1 layout)", cap,
                                         tables.best_per_column(cap, tables.captioning_intervals(inputs.evals)))]))
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


def _check_image_ids(sets: list[EmbeddingSet], images: Path) -> None:
    """Every image id of the sets names a path inside ``images`` (checked before any work)."""
    if not images.is_dir():
        raise InputError(f"--images {images}: no such folder")
    for s in sets:
        for row, image_id in enumerate(s.image_id if s.image_id is not None else ()):
            contained_path(images, str(image_id), what=f"image_id of image {row}", source=s.source, option="--images")


def _geometry_section(eset: EmbeddingSet, index: int, aligner: Path | None, method: str, seed: int, cache) -> Section:
    name = Path(eset.source).name
    section = Section(f"Geometry: {name}", f"{eset.n_image} images, {eset.n_text} captions, D = {eset.dim}.")
    if not eset.has_pairs:
        section.note += " One modality only: no cross-modal figures."
        return section
    after, label = None, ""
    if aligner is None:
        section.note += " Embeddings as they are: no aligner was given (report --aligner adds a panel after one)."
    else:
        from gaptools.align import apply_to_set, load_aligner

        saved = load_aligner(aligner)
        moved = apply_to_set(saved.aligner, eset, direction=saved.direction)
        after, label = (moved.image, moved.text), f"after {aligner.stem}"
        section.note += f" Second panel: after the aligner {aligner.name} ({saved.direction})."
    section.figures = [
        Figure(f"set{index}_{method}.png",
               figures.projection_scatter(eset.image, eset.text, after, method=method, seed=seed, cache_dir=cache,
                                          after_label=label),
               f"{method.upper()} of image and text embeddings ({name})"),
        Figure(f"set{index}_cosines.png", figures.cosine_histograms(eset.image, eset.text, eset.text_image, seed=seed),
               f"Cosine of true vs random pairs ({name})"),
        Figure(f"set{index}_conformity.png",
               figures.conformity_histograms(eset.image, eset.text, eset.text_image,
                                             after=None if after is None else {label: after}),
               f"Conformity of images and captions: mean cosine to the others of their modality ({name})"),
        Figure(f"set{index}_gap_dims.png", figures.gap_dimensions(eset.image, eset.text),
               f"Dimensions carrying the centroid gap ({name})"),
    ]
    return section


def _alignment_section(compare: dict, evals: list[dict]) -> Section:
    """The compare table (best only where the intervals decide), and the captioning of the first
    run evaluated with aligners, after each of them."""
    run, caption_by_method = None, {}
    rows = [row for doc in evals for row in eval_rows(doc) if row.on_images]
    run = next((row.run for row in rows if row.aligner), None)
    for row in rows:
        if row.run == run:
            caption_by_method.setdefault(row.method, row.metrics)
    settings = compare.get("settings") or {}
    boot = settings.get("bootstrap")
    note = (f"Fitted on {compare.get('train')}, measured on {compare.get('test')} "
            f"(direction {compare.get('direction', 'image-to-text')}). ")
    note += (f"A value is marked best where its 95% interval ({boot} bootstrap resamples of the test images) lies "
             "clear of every other row's; a column without intervals (the subsample metrics, the timings) has none."
             if boot else "No value is marked best: this comparison has no intervals (align compare --bootstrap 0).")
    shared = compare.get("shared_images") or {}
    section = Section("Alignment comparison", note, tables=[
        ("Gap after each correction", tables.alignment_table(compare), tables.alignment_best(compare))])
    if shared.get("n"):
        warning = overlap_warning(shared, str(compare.get("train")), str(compare.get("test")))
        section.notice = warning[0].upper() + warning[1:]
    captioning = tables.alignment_captioning_table(compare, caption_by_method)
    if not captioning.empty:
        section.note += (f" Captioning after each correction: the run {Path(str(run)).name} on the test images "
                         "(evals whose aligner file is named after the method; scores ×100, no intervals, so "
                         "no best).")
        section.tables.append(("Captioning after each correction", captioning, {}))
    return section


def _gallery(evals: list[dict], sets: list[EmbeddingSet], images: Path | None, size: int, seed: int) -> list[dict]:
    """Thumbnails with generated captions, for eval sets whose image files are at hand."""
    from PIL import Image

    if images is None:
        return []
    refs = {}
    for s in sets:
        if s.image_id is None or s.caption is None:
            continue
        for row, image_id in enumerate(s.image_id):
            refs[str(image_id)] = [str(c) for c in s.caption[s.text_image == row]]
    items = []
    for doc in evals:
        row = next((r for r in eval_rows(doc) if r.plain), None)
        if row is None or row.predictions is None:
            continue
        predictions = json.loads(row.predictions.read_text(encoding="utf-8"))
        rng = np.random.default_rng(seed)
        for k in rng.permutation(len(predictions))[:size]:
            p = predictions[int(k)]
            image_id = str(p["image_id"])
            if image_id not in refs:  # only ids of the sets, all checked to lie inside `images`
                continue
            path = contained_path(images, image_id, what="image_id", source=str(row.predictions), option="--images")
            if not path.is_file():
                continue
            with Image.open(path) as im:
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
    with building_folder(out_dir, kind=REPORT_KIND, replace=True) as tmp:
        (tmp / "figures").mkdir()
        (tmp / "tables").mkdir()
        for s in sections:
            for fig in s.figures:
                (tmp / "figures" / fig.name).write_bytes(fig.png)
        for name, table in table_files(sections).items():
            table.to_csv(tmp / "tables" / name)
        write_text(tmp / "index.html", page_html(title, sections, footer))
        write_text(tmp / "report.md", page_markdown(title, sections, footer))
        write_json(tmp / "report.json", {"kind": REPORT_KIND, "version": 1, "inputs": inputs.files,
                                         "gaptools": __version__})


def table_files(sections: list[Section]) -> dict:
    """File name under tables/ -> table, one file per table of the report, in page order.

    A name is ``<section>--<table caption>.csv`` (slugs); a name already taken (two alignment
    comparisons, two long captions cut to the same slug) gets ``-2``, ``-3``, ... before ``.csv``.
    """
    files = {}
    for s in sections:
        for caption, table, _ in s.tables:
            stem = f"{_slug(s.title)}--{_slug(caption)}"
            name, k = f"{stem}.csv", 1
            while name in files:
                k += 1
                name = f"{stem}-{k}.csv"
            files[name] = table
    return files


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60]
