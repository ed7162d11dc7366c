"""Caption scores with pycocoevalcap, the implementation the captioning papers report.

Captions and references are PTB-tokenised (lower case, punctuation removed) by Stanford's
PTBTokenizer, then scored with BLEU-1..4, METEOR 1.5, ROUGE-L and CIDEr-D; SPICE only on
request (it needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads on first use).
Scores are returned x100, as in the papers' tables. The tokenizer, METEOR and SPICE run
in Java. :func:`score_captions_per_image` also returns what each metric needs of each image
(:mod:`gaptools.caption.bootstrap`), from which :func:`score_with_intervals` adds 95% bootstrap
intervals over the test images, and :func:`diversity` what the captions themselves are
(distinct captions, vocabulary, lengths, copies of training captions) from the same tokens,
so a collapsed captioner is seen whatever its scores.

File formats read here:

- predictions: COCO results JSON, ``[{"image_id": ..., "caption": "..."}, ...]``,
  one caption per image;
- references: ``{image_id: [caption, ...]}`` JSON, or an official COCO captions
  annotation file (``{"annotations": [{"image_id": ..., "caption": ...}, ...], ...}``);
- a caption corpus (the training captions of :func:`diversity`'s ``novel_fraction``): either
  references format, an embedding set ``.npz`` (its ``caption`` array) or UTF-8 text, one per line.

Image ids are matched as strings, so ``42`` and ``"42"`` are the same image.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import sys
from pathlib import Path

from gaptools.caption.bootstrap import (
    AVERAGE_KEY,
    ImageStats,
    average_label,
    bootstrap_scores,
    caption_average,
    image_stats,
    point_scores,
)
from gaptools.datasets import read_coco_results
from gaptools.datasets.files import read_json, read_text
from gaptools.errors import GapToolsError, InputError

METRIC_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
#: ``distinct_fraction`` below this is reported as mode collapse (:func:`diversity`).
COLLAPSE_FRACTION = 0.2
JAVA_HINT = "install a Java runtime (Java 8 or newer), e.g. `apt-get install default-jre-headless` or `conda install openjdk`"


def score_captions(
    predictions: dict[str, str], references: dict[str, list[str]], *, spice: bool = False, source: str = "predictions"
) -> dict[str, float]:
    """Score one caption per image against all reference captions of that image.

    Parameters
    ----------
    predictions : dict of str to str
        Image id -> generated caption. Only these images are scored.
    references : dict of str to list of str
        Image id -> its reference captions (may hold more images than ``predictions``).
    spice : bool
        Also compute SPICE (Java 8 and a Stanford CoreNLP download on first use).
    source : str
        Where the predictions came from, for messages.

    Returns
    -------
    dict of str to float
        ``Bleu_1 .. Bleu_4, METEOR, ROUGE_L, CIDEr`` (and ``SPICE``), each x100.
    """
    return _score(*_tokenized(predictions, references, source=source), spice=spice, per_image=False)[0]


def score_with_diversity(predictions: dict[str, str], references: dict[str, list[str]], *, spice: bool = False,
                         source: str = "predictions", train_tokens: set[str] | None = None) -> tuple[dict, dict]:
    """:func:`score_captions` and the :func:`diversity` of the same tokenised captions.

    Parameters
    ----------
    train_tokens : set of str, optional
        The training captions, tokenised (:func:`token_set`): gives ``novel_fraction``.

    Returns
    -------
    scores : dict of str to float
    diversity : dict
    """
    gts, res = _tokenized(predictions, references, source=source)
    scores = _score(gts, res, spice=spice, per_image=False)[0]
    return scores, diversity([res[i][0] for i in res], list(gts.values()), train_tokens)


def score_captions_per_image(
    predictions: dict[str, str], references: dict[str, list[str]], *, spice: bool = False, source: str = "predictions"
) -> tuple[dict[str, float], ImageStats]:
    """:func:`score_captions` and the per-image statistics its bootstrap resamples.

    Returns
    -------
    scores : dict of str to float
        As :func:`score_captions` (pycocoevalcap's own numbers).
    stats : caption.bootstrap.ImageStats
        Per-image statistics of the same tokenised captions; their point scores are checked
        against ``scores`` here, so a pycocoevalcap that scores differently fails loudly.
    """
    return _checked_per_image(*_tokenized(predictions, references, source=source), spice=spice)


def _checked_per_image(gts: dict, res: dict, *, spice: bool) -> tuple[dict[str, float], ImageStats]:
    scores, stats = _score(gts, res, spice=spice, per_image=True)
    again = point_scores(stats)
    off = {k: (v, again[k]) for k, v in scores.items() if abs(v - again[k]) > 1e-6 * max(1.0, abs(v))}
    if off:
        raise RuntimeError(f"per-image statistics do not reproduce pycocoevalcap's scores {off}: "
                           "the bootstrap would resample another statistic")
    return scores, stats


def score_with_intervals(predictions: dict[str, str], references: dict[str, list[str]], *, spice: bool = False,
                         source: str = "predictions", n_boot: int, seed: int,
                         train_tokens: set[str] | None = None) -> tuple[dict, ImageStats]:
    """Score the images that have references, with bootstrap intervals; report the others.

    Parameters
    ----------
    predictions : dict of str to str
        Image id -> generated caption.
    references : dict of str to list of str
        Image id -> references; an image with none (e.g. its only caption was left out) is not
        scored but listed in ``unscored``.
    n_boot, seed : int
        Image resamples of the 95% intervals (0: no intervals) and their seed.
    train_tokens : set of str, optional
        The training captions, tokenised (:func:`token_set`): gives ``novel_fraction``.

    Returns
    -------
    fields : dict
        ``metrics`` (x100, with :data:`gaptools.caption.bootstrap.AVERAGE_KEY`), ``ci95`` (metric -> [lo, hi],
        or None), ``bootstrap`` (n_boot), ``n_scored``, ``unscored`` (image ids), ``reference_counts``
        ({"number of references": images}, over all predicted images), ``caption_average_of``
        (the average's name, e.g. "mean of 7 (no SPICE)"), ``diversity`` (:func:`diversity` of every
        prediction, scored or not).
    stats : caption.bootstrap.ImageStats
    """
    counts = [len(references.get(key) or []) for key in predictions]
    gts, res = _tokenized(predictions, references, source=source, need_references=False)
    scored = [key for key in predictions if references.get(key)]
    if not scored:
        raise InputError(f"{source}: no predicted image has references to score against")
    metrics, stats = _checked_per_image({k: gts[k] for k in scored}, {k: res[k] for k in scored}, spice=spice)
    metrics[AVERAGE_KEY] = caption_average(metrics)
    ci = None
    if n_boot:
        ci = {key: None if iv is None else list(iv) for key, iv in bootstrap_scores(stats, n_boot, seed).items()}
    histogram = {str(n): counts.count(n) for n in sorted(set(counts))}
    return {"metrics": metrics, "ci95": ci, "bootstrap": n_boot, "n_scored": len(scored),
            "unscored": [key for key in predictions if key not in set(scored)], "reference_counts": histogram,
            "caption_average_of": average_label(metrics),
            "diversity": diversity([res[k][0] for k in res], list(gts.values()), train_tokens)}, stats


def _tokenized(predictions: dict[str, str], references: dict[str, list[str]], *, source: str,
               need_references: bool = True) -> tuple[dict, dict]:
    """PTB tokens of each predicted image's references and of its prediction, in one Java start.

    Returns ``gts`` (image id -> tokenised references, [] for an image without any when
    ``need_references`` is False) and ``res`` (image id -> [tokenised prediction]).
    """
    if not predictions:
        raise InputError(f"{source}: no predictions to score")
    missing = [key for key in predictions if not references.get(key)]
    if missing and need_references:
        raise InputError(
            f"{source}: {len(missing)} of {len(predictions)} predicted image id(s) have no references, "
            f"first {missing[0]!r}",
            hint="predictions and references must use the same image ids",
        )
    ids = list(predictions)
    both = {("ref", i): [{"caption": c} for c in references.get(i) or []] for i in ids}
    both.update({("pred", i): [{"caption": predictions[i]}] for i in ids})
    tokens = _ptb(both)  # one Java start for both sides
    return {i: tokens.get(("ref", i), []) for i in ids}, {i: tokens.get(("pred", i), [""]) for i in ids}


def _ptb(captions: dict) -> dict:
    """pycocoevalcap's PTBTokenizer on ``{key: [{"caption": ...}]}``: lower case, punctuation removed."""
    require_java()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    with _quiet_fd2():
        return PTBTokenizer().tokenize(captions)


def tokenize(captions) -> list[str]:
    """PTB-tokenise captions as the scorer does (one Java start): lower case, punctuation removed.

    Parameters
    ----------
    captions : iterable of str

    Returns
    -------
    list of str
        Space-separated tokens of each caption, in order.
    """
    captions = [str(c) for c in captions]
    if not captions:
        return []
    tokens = _ptb({"corpus": [{"caption": c} for c in captions]})["corpus"]
    return tokens + [""] * (len(captions) - len(tokens))  # trailing empty captions give no output line


def token_set(captions) -> set[str]:
    """The PTB tokens (:func:`tokenize`) of a caption corpus as a set: ``novel_fraction``'s training
    captions. Each distinct caption is tokenised once (40k captions: ~2 s, one Java start)."""
    return set(tokenize(sorted({str(c) for c in captions})))


def plain_tokens(caption: str) -> str:
    """A caption lower-cased with punctuation removed, tokens joined by single spaces (no Java).

    Close to the PTB tokens (:func:`tokenize`) for telling captions apart (``"A dog."`` and
    ``"a dog"`` are one caption); for the training log, where Java may be missing. It splits
    contractions differently ("dog's" stays one token), so its counts are not the scorer's.
    """
    return " ".join(re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", caption.lower()))


def diversity(captions: list[str], references=None, train_tokens: set[str] | None = None) -> dict:
    """What a set of generated captions is, beside its scores: repeats, words, lengths, copies.

    Parameters
    ----------
    captions : list of str
        Generated captions, one per image, already tokenised (:func:`tokenize`, or
        :func:`plain_tokens`): tokens separated by spaces.
    references : iterable of list of str, optional
        Each image's references, tokenised the same way: gives ``reference_mean_length``.
    train_tokens : set of str, optional
        The training captions, tokenised the same way: gives ``novel_fraction``.

    Returns
    -------
    dict
        ``n_captions``; ``distinct_captions`` and ``distinct_fraction`` (distinct ÷ generated);
        ``vocabulary`` (distinct tokens used); ``mean_length`` (tokens per caption);
        ``reference_mean_length`` (tokens per reference, None without references);
        ``novel_fraction`` (share of captions not among the training captions, None without
        them); ``mode_collapse`` (``distinct_fraction`` < :data:`COLLAPSE_FRACTION`). With no
        captions the counts are 0, the fractions and means 0.0, and ``mode_collapse`` False.
    """
    n = len(captions)
    lengths = [len(c.split()) for c in captions]
    distinct = len(set(captions))
    refs = [r for group in references for r in group] if references is not None else None
    fraction = distinct / n if n else 0.0
    return {
        "n_captions": n,
        "distinct_captions": distinct,
        "distinct_fraction": fraction,
        "vocabulary": len({t for c in captions for t in c.split()}),
        "mean_length": sum(lengths) / n if n else 0.0,
        "reference_mean_length": None if refs is None else (
            sum(len(r.split()) for r in refs) / len(refs) if refs else 0.0),
        "novel_fraction": None if train_tokens is None else (
            sum(c not in train_tokens for c in captions) / n if n else 0.0),
        "mode_collapse": bool(n) and fraction < COLLAPSE_FRACTION,
    }


def collapse_warning(name: str, stats: dict) -> str | None:
    """``"NAME: mode collapse: 3 distinct captions for 500 images"`` when :func:`diversity` says so, else None."""
    if not stats.get("mode_collapse"):
        return None
    distinct = stats["distinct_captions"]
    return f"{name}: mode collapse: {distinct} distinct caption{'' if distinct == 1 else 's'} for {stats['n_captions']} images"


def _score(gts: dict, res: dict, *, spice: bool, per_image: bool):
    """pycocoevalcap's scores (x100) of tokenised predictions ``res`` against references ``gts``."""
    if spice:
        require_spice()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    scores: dict[str, float] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores.update(zip(METRIC_KEYS[:4], bleu))
    scores["METEOR"], meteor_stats = _meteor_score(gts, res)
    scores["ROUGE_L"], rouge = Rouge().compute_score(gts, res)
    scores["CIDEr"], _ = Cider().compute_score(gts, res)
    spice_scores = None
    if spice:
        from pycocoevalcap.spice.spice import Spice

        scores["SPICE"], per = Spice().compute_score(gts, res)
        spice_scores = [entry["All"]["f"] for entry in per]
    scores = {key: 100.0 * float(value) for key, value in scores.items()}
    if not per_image:
        return scores, None
    return scores, image_stats(gts, res, meteor=meteor_stats, rouge=rouge, spice=spice_scores)


def _meteor_score(gts: dict, res: dict) -> tuple[float, list[str]]:
    """METEOR 1.5's corpus score and each image's sufficient statistics.

    The same exchange with the jar as pycocoevalcap's ``Meteor.compute_score`` (a ``SCORE``
    line per image, then one ``EVAL`` of all their statistics), keeping the statistics that
    it throws away: the bootstrap sums them (:mod:`gaptools.caption.bootstrap`).
    """
    meteor = _meteor()
    with meteor.lock:
        stats = [meteor._stat(res[i][0], gts[i]) for i in res]
        meteor.meteor_p.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode())
        meteor.meteor_p.stdin.flush()
        for _ in stats:  # per-image scores: the bootstrap recomputes what it needs from the statistics
            meteor.meteor_p.stdout.readline()
        score = float(meteor.meteor_p.stdout.readline().strip())
    return score, stats


@functools.lru_cache(maxsize=1)
def _meteor():
    """One METEOR process per Python process: its first call loads the paraphrase tables (~10 s)."""
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


@contextlib.contextmanager
def _quiet_fd2():
    """Silence file descriptor 2 for a block: the Java tokenizer's progress lines and warnings
    (e.g. "Untokenizable" characters) would otherwise bury the results table."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_java() -> None:
    """Raise a one-line error when ``java`` is not on the PATH."""
    if shutil.which("java") is None:
        raise GapToolsError("caption scoring needs Java (PTB tokenizer, METEOR) and `java` is not on the PATH",
                            hint=JAVA_HINT)


def require_spice() -> None:
    """Make sure SPICE's Stanford CoreNLP jars are there (pycocoevalcap downloads them once), else a clear error."""
    from pycocoevalcap.spice import get_stanford_models

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            get_stanford_models.get_stanford_models()
    except OSError as exc:  # URLError, no space, read-only site-packages
        lib = Path(get_stanford_models.SPICEDIR) / get_stanford_models.SPICELIB
        raise GapToolsError(
            f"SPICE needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads from nlp.stanford.edu on first use, "
            f"and the download failed ({exc})",
            hint=f"run once with internet access, or place {get_stanford_models.JAR}.jar and "
                 f"{get_stanford_models.JAR}-models.jar in {lib}; or leave out --spice",
        ) from None


def read_predictions(path: str | os.PathLike) -> dict[str, str]:
    """Read COCO results JSON ``[{"image_id": ..., "caption": ...}]`` as {image id: caption}."""
    predictions: dict[str, str] = {}
    for n, entry in enumerate(read_coco_results(path)):
        key = str(entry["image_id"])
        if key in predictions:
            raise InputError(f"{path}: image_id {key!r} has more than one caption (entry {n})",
                             hint="score one caption per image")
        predictions[key] = entry["caption"]
    return predictions


def read_caption_corpus(path: str | os.PathLike) -> list[str]:
    """Every caption of a corpus file: an embedding set ``.npz`` (its ``caption`` array), references
    JSON (:func:`read_references`: every caption of every image) or UTF-8 text (one per non-blank line)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        from gaptools.io import load_set

        eset = load_set(path)
        if eset.caption is None:
            raise InputError(f"{path}: the embedding set has no caption strings")
        return [str(c) for c in eset.caption]
    if suffix == ".json":
        return [c for captions in read_references(path).values() for c in captions]
    return [line.strip() for line in read_text(path).splitlines() if line.strip()]


def read_references(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read ``{image_id: [captions]}`` JSON or a COCO captions annotation file as {image id: captions}."""
    data = read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        references: dict[str, list[str]] = {}
        for n, ann in enumerate(data["annotations"] if isinstance(data["annotations"], list) else [None]):
            if not (isinstance(ann, dict) and "image_id" in ann and isinstance(ann.get("caption"), str)):
                raise InputError(f"{path}: annotation {n} lacks 'image_id' or a string 'caption' (COCO captions format)")
            references.setdefault(str(ann["image_id"]), []).append(ann["caption"])
        return references
    if isinstance(data, dict) and all(
        isinstance(v, list) and all(isinstance(c, str) for c in v) for v in data.values()
    ):
        return {str(k): v for k, v in data.items()}
    raise InputError(
        f"{path}: references must be {{image_id: [captions]}} JSON or a COCO captions annotation file "
        "(with an 'annotations' list)"
    )


