"""gaptools: measure and correct the modality gap of CLIP-like models.

What a researcher uses from Python, by task (each name is the library function itself):

- embedding sets: :class:`EmbeddingSet`, :func:`load_set`, :func:`load_pair`,
  :func:`from_pairs`, :func:`save_set`, :func:`planted_gap` (a set with a known gap);
  :mod:`gaptools.demo` holds the paths of the shipped shapes-world sets;
- measuring: :func:`measure` (arrays, a set, a file or a folder in; a
  :class:`MeasureResult` out), :data:`METRIC_KEYS`;
- aligning: :data:`ALIGNERS` (the registry: name -> class), :func:`make_aligner`,
  :func:`fit_on_set`, :func:`apply_to_set`, :func:`save_aligner`, :func:`load_aligner`,
  :func:`compare_aligners` (a :class:`CompareResult` out); :func:`mixup`, :func:`mixup_set`;
- streaming sharded folders on Dask: :func:`open_folder`, :func:`measure_folder`,
  :func:`fit_folder`, :func:`apply_folder`, :func:`folder_to_set`;
- errors: :class:`InputError` (bad input; its message names the file and the problem).

``gaptools.measure`` is the function above; the module of the same name stays importable
as ``from gaptools.measure import ...``.
"""

from gaptools import demo
from gaptools._version import __version__
from gaptools.align import METHODS as ALIGNERS
from gaptools.align import Aligner, SavedAligner, apply_to_set, fit_on_set, load_aligner, make_aligner, save_aligner
from gaptools.align import compare as compare_aligners
from gaptools.align.compare import CompareResult
from gaptools.api import measure
from gaptools.errors import GapToolsWarning, InputError
from gaptools.io import EmbeddingSet, from_pairs, load_pair, load_set, save_set
from gaptools.measure import METRIC_KEYS, MeasureResult
from gaptools.mixing import mixup, mixup_set
from gaptools.stream import apply_folder, fit_folder, folder_to_set, measure_folder, open_folder
from gaptools.synthetic import planted_gap

__all__ = [
    "ALIGNERS",
    "METRIC_KEYS",
    "Aligner",
    "CompareResult",
    "EmbeddingSet",
    "GapToolsWarning",
    "InputError",
    "MeasureResult",
    "SavedAligner",
    "__version__",
    "apply_folder",
    "apply_to_set",
    "compare_aligners",
    "demo",
    "fit_folder",
    "fit_on_set",
    "folder_to_set",
    "from_pairs",
    "load_aligner",
    "load_pair",
    "load_set",
    "make_aligner",
    "measure",
    "measure_folder",
    "mixup",
    "mixup_set",
    "open_folder",
    "planted_gap",
    "save_aligner",
    "save_set",
]
