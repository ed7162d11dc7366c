"""Result documents: the kinds and versions a reader accepts are those their writers write."""

from __future__ import annotations

import importlib

from gaptools.align.compare import RESULT_KIND as COMPARE_KIND
from gaptools.align.compare import RESULT_VERSION as COMPARE_VERSION
from gaptools.caption import eval_run
from gaptools.reports import inputs
from gaptools.reproduce import results

measure = importlib.import_module("gaptools.measure")  # the module: `gaptools.measure` is the API function


def test_the_report_reads_what_each_writer_writes():
    assert inputs.SUPPORTED == {measure.RESULT_KIND: measure.RESULT_VERSION, COMPARE_KIND: COMPARE_VERSION,
                                eval_run.RESULT_KIND: eval_run.RESULT_VERSION,
                                results.RESULT_KIND: results.RESULT_VERSION}


def test_measure_document_is_the_one_measure_writes():
    doc = measure.measure_document([{"source": "x"}])
    assert (doc["kind"], doc["version"], doc["sets"]) == (measure.RESULT_KIND, measure.RESULT_VERSION, [{"source": "x"}])
