"""`caption eval` (caption a set with a trained run, score, write an eval folder) and `caption score`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from gaptools.atomic import write_json
from gaptools.caption.eval_run import EvalConfig
from gaptools.cli.app import console, overwrite_option
from gaptools.cli.tables import print_tables
from gaptools.errors import InputError
from gaptools.outputs import check_output_file
from gaptools.validation import MAX_SEED

#: The ``kind`` and ``version`` of the document ``caption score --json`` writes (what it may replace).
SCORE_KIND, SCORE_VERSION = "caption.score", 1
METRIC_LABELS = (("Bleu_1", "BLEU-1"), ("Bleu_2", "BLEU-2"), ("Bleu_3", "BLEU-3"), ("Bleu_4", "BLEU-4"),
                 ("METEOR", "METEOR"), ("ROUGE_L", "ROUGE-L"), ("CIDEr", "CIDEr"), ("SPICE", "SPICE"),
                 ("caption_average", "average"), ("world_exact_scene", "exact scene"))
DETAIL_LABELS = {"mixup": "λ"}


def eval_command(
    run: Path = typer.Argument(..., metavar="RUN", help="Run folder written by `caption train` (with final/)."),
    eval_set: Path = typer.Argument(..., metavar="SET", help="Embedding set (.npz) with captions: images to caption, references."),
    out: Path = typer.Option(..., "-o", "--out", help="Eval folder to write (metrics.json, predictions, config.json)."),
    input_: str = typer.Option(EvalConfig.input, "--input", help="image: the image embeddings; text: one seeded caption embedding per image."),
    aligner: Optional[List[Path]] = typer.Option(None, "--aligner", help="Saved aligner applied to the inputs first; repeat for one row each."),
    mixup: Optional[str] = typer.Option(None, "--mixup", help="λ values, e.g. 0,0.25,0.5,0.75,1: mix each image with one seeded caption (λ = text share)."),
    mixup_rule: str = typer.Option(EvalConfig.mixup_rule, "--mixup-rule", help="paper: λ x_t + (1−λ) x_i fed as written (the paper's formula); renormalised: that mix scaled to unit norm (our earlier reading)."),
    beam: int = typer.Option(EvalConfig.beam, "--beam", help="1 = greedy; k = beam search with k beams."),
    max_length: int = typer.Option(EvalConfig.max_length, "--max-length", help="Most new tokens per caption."),
    batch_size: int = typer.Option(EvalConfig.batch_size, "--batch-size", help="Images decoded together."),
    seed: int = typer.Option(EvalConfig.seed, "--seed", min=0, max=MAX_SEED, help="Which caption of each image --input text / --mixup use."),
    limit: Optional[int] = typer.Option(EvalConfig.limit, "--limit", help="Only the first N captioned images."),
    spice: bool = typer.Option(EvalConfig.spice, "--spice", help="Also SPICE (Java 8 + a Stanford CoreNLP download on first use)."),
    device: str = typer.Option(EvalConfig.device, "--device", help="auto (cuda when present), cpu, cuda, ..."),
    references: str = typer.Option(EvalConfig.references, "--references", help="auto: leave out the caption whose embedding goes in (--input text, mixup λ > 0), else all; or all / leave-one-out for every configuration."),
    bootstrap: int = typer.Option(EvalConfig.bootstrap, "--bootstrap", help="Image resamples for 95% intervals of the scores (0: none)."),
    bootstrap_seed: int = typer.Option(EvalConfig.bootstrap_seed, "--bootstrap-seed", min=0, max=MAX_SEED, help="Seed of the image resamples."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing eval folder."),
) -> None:
    """Caption a set with a trained run, score with pycocoevalcap (x100), write an eval folder."""
    from gaptools.caption.eval_run import run_eval

    config = EvalConfig(run=str(run), set=str(eval_set), input=input_, aligners=[str(a) for a in aligner or []],
                        mixup=parse_lambdas(mixup), mixup_rule=mixup_rule, beam=beam, max_length=max_length, batch_size=batch_size,
                        seed=seed, limit=limit, spice=spice, device=device, references=references,
                        bootstrap=bootstrap, bootstrap_seed=bootstrap_seed)
    doc = run_eval(config, out, overwrite=overwrite, say=lambda line: console.print(f"[dim]{escape(line)}[/dim]"))
    print_scores(doc["configurations"], title=f"{run.name} on {eval_set.name} ({doc['n_images']} images)")
    for entry in doc["configurations"]:
        print_diversity(entry["name"], entry["diversity"])
    for entry in doc["configurations"]:
        if entry.get("unscored"):
            console.print(f"{entry['name']}: {len(entry['unscored'])} image(s) had no reference left "
                          f"({entry['references']}) and were not scored; first {entry['unscored'][0]!r}")
    if any(entry.get("ci95") for entry in doc["configurations"]):
        console.print(f"CIDEr 95%: percentile interval over {config.bootstrap} resamples of the test images "
                      f"(intervals of every metric in metrics.json).")
    if any("caption_average" in entry["metrics"] for entry in doc["configurations"]):
        console.print(f"average: {doc['configurations'][0].get('caption_average_of')} of the eight metrics of the paper's tables (the paper's \"average performance\" is undefined: this mean is our reading).")
    console.print(f"Scores x100 (pycocoevalcap). Wrote {out}")


def score_command(
    predictions: Path = typer.Argument(..., help="COCO results JSON: [{\"image_id\": ..., \"caption\": ...}]."),
    references: Path = typer.Argument(..., help="{image_id: [captions]} JSON or a COCO captions annotation file."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the scores (and 'diversity') here as JSON."),
    overwrite: bool = overwrite_option(),
    spice: bool = typer.Option(False, "--spice", help="Also SPICE (Java 8 + a Stanford CoreNLP download on first use)."),
    train_captions: Optional[Path] = typer.Option(
        None, "--train-captions", help="The captioner's training captions (references JSON, an embedding set .npz, "
        "or text, one per line): adds novel_fraction, the share of captions not copied verbatim from them."),
) -> None:
    """Score any captions file against references: BLEU-1..4, METEOR, ROUGE-L, CIDEr (x100), and its diversity."""
    from gaptools.caption.evaluate import (
        read_caption_corpus,
        read_predictions,
        read_references,
        score_with_diversity,
        token_set,
    )

    if json_out is not None:
        check_output_file(json_out, option="--json", inputs=[predictions, references, train_captions], kind=SCORE_KIND,
                          overwrite=overwrite)
    preds, refs = read_predictions(predictions), read_references(references)
    train = None if train_captions is None else token_set(read_caption_corpus(train_captions))
    scores, diversity = score_with_diversity(preds, refs, spice=spice, source=str(predictions), train_tokens=train)
    print_scores([{"name": predictions.name, "metrics": scores}], title=f"{len(preds)} images")
    print_diversity(predictions.name, diversity)
    if json_out is not None:
        write_json(json_out, {"kind": SCORE_KIND, "version": SCORE_VERSION, **scores, "diversity": diversity})
        console.print(f"Wrote {json_out}")


def print_diversity(name: str, diversity: dict) -> None:
    """One dim line of a configuration's :func:`gaptools.caption.evaluate.diversity`, and the yellow collapse warning."""
    from gaptools.caption.evaluate import collapse_warning

    d = diversity
    line = (f"{name}: {d['distinct_captions']} distinct of {d['n_captions']} captions "
            f"({d['distinct_fraction']:.0%}), vocabulary {d['vocabulary']}, mean length {d['mean_length']:.1f} tokens")
    if d.get("reference_mean_length") is not None:
        line += f" (references {d['reference_mean_length']:.1f})"
    if d.get("novel_fraction") is not None:
        line += f", {d['novel_fraction']:.0%} not among the training captions"
    console.print(f"[dim]{escape(line)}[/dim]", soft_wrap=True, highlight=False)
    warning = collapse_warning(name, d)
    if warning is not None:
        console.print(f"[yellow]{escape(warning)}[/yellow]", soft_wrap=True, highlight=False)


def parse_lambdas(text: str | None) -> list[float] | None:
    """``"0,0.25,1"`` -> ``[0.0, 0.25, 1.0]`` (range checks happen in EvalConfig)."""
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--mixup {text!r}: expected comma-separated numbers, e.g. 0,0.25,0.5,0.75,1") from None


def print_scores(rows: list[dict], *, title: str) -> None:
    """Metrics as rows, one column per configuration (Table 1 of the seed paper, transposed to fit).

    What each configuration is (input, aligner, λ, beam, references) goes on a line of its own above.
    """
    detail = [key for key in ("input", "aligner", "mixup", "beam", "references")
              if any(r.get(key) is not None for r in rows)]
    before = [f"{r['name']}: " + ", ".join(f"{DETAIL_LABELS.get(k, k)} {_detail(k, r[k])}"
                                           for k in detail if r.get(k) is not None)
              for r in rows if any(r.get(k) is not None for k in detail)]
    metrics = [(key, label) for key, label in METRIC_LABELS if any(key in r["metrics"] for r in rows)]
    labels = [label for _, label in metrics]
    columns = [(r["name"], ["—" if r["metrics"].get(key) is None else f"{r['metrics'][key]:.1f}" for key, _ in metrics])
               for r in rows]
    if any((r.get("ci95") or {}).get("CIDEr") for r in rows):
        labels.append("CIDEr 95%")
        for r, (_, cells) in zip(rows, columns):
            cells.append(_interval((r.get("ci95") or {}).get("CIDEr")))
    print_tables(console, title, "metric", labels, columns, before=before)


def _detail(key: str, value) -> str:
    return Path(value).name if key == "aligner" else f"{value:g}" if key == "mixup" else str(value)


def _interval(interval) -> str:
    return "—" if not interval else f"{interval[0]:.1f}–{interval[1]:.1f}"
