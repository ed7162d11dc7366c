"""Time `gaptools report` at the size the issue names: 10 sets x 8 methods x 5 mixup values.

    python bench/report.py

Builds the inputs from planted sets (measure results are real; compare and eval documents
carry synthetic numbers) and prints the build time next to the time of measuring one set,
as a same-run baseline.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from gaptools.io import save_set
from gaptools.measure import RESULT_KIND, measure
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.synthetic import planted_gap

METHODS = ["mean", "center", "pca-rotation", "procrustes", "coral", "ot-exact", "ot-sinkhorn", "mixup"]
LAMBDAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = [planted_gap(2000, 128, shift=0.2 + 0.1 * i, captions_per_image=5, seed=i) for i in range(10)]
        t = time.perf_counter()
        results = [measure(s, bootstrap=200) for s in sets]
        measure_s = (time.perf_counter() - t) / len(sets)
        (root / "gap.json").write_text(json.dumps({"kind": RESULT_KIND, "version": 1, "sets": results}))
        base = {k: v["value"] for k, v in results[0]["metrics"].items() if isinstance(v["value"], float)}
        (root / "compare.json").write_text(json.dumps({"kind": "gaptools.align.compare", "version": 1,
                                                       "baseline": base, "methods": {m: base for m in METHODS}}))
        evals = []
        for run in range(10):
            folder = root / f"eval{run}"
            folder.mkdir()
            confs = [{"input": "image", "aligner": None, "mixup": lam, "beam": 1,
                      "metrics": {"Bleu_4": 10.0 + lam, "METEOR": 15.0, "ROUGE_L": 40.0, "CIDEr": 30.0 + 10 * lam}}
                     for lam in LAMBDAS]
            confs += [{"input": "image", "aligner": f"{m}.aligner", "mixup": None, "beam": 1,
                       "metrics": {"Bleu_4": 11.0, "METEOR": 15.0, "ROUGE_L": 40.0, "CIDEr": 33.0}} for m in METHODS]
            (folder / "metrics.json").write_text(json.dumps({"kind": "caption.eval", "version": 1,
                                                             "run": f"run{run}", "configurations": confs}))
            evals.append(folder)
        set_paths = [save_set(s, root / f"set{i}.npz") for i, s in enumerate(sets)]
        t = time.perf_counter()
        build_report(load_inputs([root / "gap.json", root / "compare.json", *evals]), root / "report", sets=set_paths)
        build_s = time.perf_counter() - t
    print(f"report for 10 sets x 8 methods x 5 lambdas (30 figures): {build_s:.1f} s "
          f"(measuring one 2,000-image set: {measure_s:.1f} s, ratio {build_s / measure_s:.1f}x)")


if __name__ == "__main__":
    main()
