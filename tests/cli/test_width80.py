"""Result tables at 80 columns, output piped: every number the JSON holds is printed whole, nothing elided.

Each command runs as a user runs it (a subprocess, ``COLUMNS=80``, stdout a pipe), and each value its
table shows is looked up, at the table's precision, among the whole numbers of the printed text: a
number cut (``0.2…``) or folded over two lines (``0.00101`` / ``7``) is not found.
"""

import io
import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from gaptools.align.compare import HEADLINE_METRICS
from gaptools.cli import caption_eval
from gaptools.cli.tables import fit_tables
from gaptools.io import save_set
from gaptools.measure import METRIC_KEYS
from gaptools.synthetic import planted_gap

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def run80(module: str, *args) -> str:
    """Stdout of ``python -m module args`` at 80 columns, piped (not a terminal)."""
    env = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1"}
    env.pop("TERMINAL_WIDTH", None)
    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def check_printed(out: str, values: list[str], width: int = 80) -> None:
    """Each of ``values`` is a whole number of ``out``; no table line is wider than ``width``; no ellipsis."""
    assert "…" not in out
    assert max(len(line) for line in out.splitlines() if set(line) & set("┃│┏┡└")) <= width
    printed = set(NUMBER.findall(out))
    missing = [v for v in values if v not in printed]
    assert not missing, f"not printed whole: {missing[:10]}\n{out}"


def test_measure_three_sets_at_80_columns(tmp_path):
    folder = tmp_path / "a_folder_with_a_rather_long_name_for_an_embedding_set"
    folder.mkdir()
    paths = [save_set(planted_gap(120, 8, shift=0.5, seed=s, captions_per_image=2), folder / f"set_{s}_of_three.npz")
             for s in range(3)]
    out = run80("gaptools.cli.main", "measure", *paths, "--bootstrap", "20", "--max-points", "100",
                "--json", tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    values = []
    for s in doc["sets"]:
        for key in METRIC_KEYS:
            entry = s["metrics"][key]
            if isinstance(entry["value"], float):
                values += [f"{v:.4g}" for v in [entry["value"], *(entry["ci95"] or [])]]
    check_printed(out, values)
    lines = out.replace("\n", "")
    assert all(f"set {i}:" in out and str(path) in lines for i, path in enumerate(paths, 1))  # paths above, whole
    assert "alignment_noise_" in out and "variance" in out  # a long name wraps at its underscore, whole


def test_align_compare_at_80_columns(tmp_path):
    train = save_set(planted_gap(200, 16, shift=0.6, captions_per_image=2), tmp_path / "train.npz")
    test = save_set(planted_gap(120, 16, shift=0.6, captions_per_image=2, seed=1), tmp_path / "test.npz")
    out = run80("gaptools.cli.main", "align", "compare", train, test, "--methods", "mean,pca-rotation-paper,coral",
                "--bootstrap", "20", "--max-points", "100", "--json", tmp_path / "c.json")
    doc = json.loads((tmp_path / "c.json").read_text())
    values = []
    for metrics in [doc["baseline"], *doc["methods"].values()]:
        for key in HEADLINE_METRICS:
            values += [f"{v:.3f}" for v in [metrics[key], *(metrics.get("ci95") or {}).get(key, [])]]
    check_printed(out, values)
    assert all(header in out for header in ("gap", "W2", "apply"))


@pytest.mark.slow  # pycocoevalcap's METEOR starts Java: about 20 s here
def test_caption_score_at_80_columns(tmp_path):
    preds, refs, out_json = tmp_path / "p.json", tmp_path / "r.json", tmp_path / "s.json"
    preds.write_text(json.dumps([{"image_id": 1, "caption": "a dog runs on the grass"},
                                 {"image_id": 2, "caption": "a cat sleeps on a red sofa"}]))
    refs.write_text(json.dumps({"1": ["a dog runs on the grass", "a brown dog running"],
                                "2": ["a cat is sleeping on the sofa"]}))
    out = run80("gaptools.cli.caption", "score", preds, refs, "--json", out_json)
    scores = json.loads(out_json.read_text())
    check_printed(out, [f"{scores[k]:.1f}" for k in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L",
                                                     "CIDEr")])


def test_caption_eval_table_of_a_mixup_sweep_at_80_columns(monkeypatch):
    """The eval table of metrics.json's configurations (five λ and a long-named aligner), CIs included."""
    def entry(i, name, **detail):
        metrics = {"Bleu_1": 70.04 + i, "Bleu_2": 51.55 + i, "Bleu_3": 38.76 + i, "Bleu_4": 29.01 + i,
                   "METEOR": 24.44 + i, "ROUGE_L": 52.26 + i, "CIDEr": 101.26 + 10 * i, "SPICE": 18.8 + i,
                   "caption_average": 48.21 + i, "world_exact_scene": 12.5 + i}
        return {"name": name, "input": "image", "beam": 3, "references": "leave-one-out", "metrics": metrics,
                "ci95": {"CIDEr": [95.44 + i, 108.76 + 10 * i]}, **detail}
    rows = [entry(i, f"mixup-{lam:g}", mixup=lam) for i, lam in enumerate((0, 0.25, 0.5, 0.75, 1))]
    rows.append(entry(5, "aligner-procrustes-fitted-on-train", aligner="runs/procrustes-fitted-on-train.aligner"))
    buffer = io.StringIO()
    monkeypatch.setattr(caption_eval, "console", Console(width=80, file=buffer, color_system=None))
    caption_eval.print_scores(rows, title="run on test.npz (500 images)")
    out = buffer.getvalue()
    values = [f"{v:.1f}" for r in rows for v in [*r["metrics"].values(), *r["ci95"]["CIDEr"]]]
    check_printed(out, values)
    assert "aligner procrustes-fitted-on-train.aligner" in " ".join(out.split())  # what each column is, above


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_tables_split_their_columns_and_never_exceed_the_width(width):
    labels = ["alignment_noise_variance", "pca-rotation-paper", "x"]
    columns = [(f"column-{j}", [f"{j}.{r}123456" for r in range(3)]) for j in range(6)]
    tables = fit_tables(width, "a title", "metric", labels, columns)
    console = Console(width=width, file=io.StringIO(), color_system=None)
    for table in tables:
        console.print(table)
    out = console.file.getvalue()
    check_printed(out, [cell for _, cells in columns for cell in cells], width)
    assert sum(len(t.columns) - 1 for t in tables) == 6 and (len(tables) == 1) == (width >= 120)


def _help_texts(command, path=()):
    """(command path, help text) of every command, argument and option under a click command."""
    for owner in (command, *command.params):
        if getattr(owner, "help", None):
            yield path, owner.help
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_texts(sub, (*path, name))


@pytest.mark.parametrize("module", ["gaptools.cli.main", "gaptools.cli.caption"])
def test_square_brackets_in_help_text_are_printed(module):
    import importlib

    import typer
    from typer.testing import CliRunner

    app = importlib.import_module(module).app
    bracketed = [(path, fragment) for path, text in _help_texts(typer.main.get_command(app))
                 for fragment in re.findall(r"\[[^\]]*\]", text.replace("\\[", "["))]
    assert bracketed  # e.g. {image_id: [captions]} JSON
    for path, fragment in bracketed:
        out = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())
        assert " ".join(fragment.split()) in flat, (path, fragment, out)
