"""Streaming ``measure`` and linear ``align`` over sharded embedding folders, on Dask.

A folder too large for one process is read shard by shard, never whole: each shard gives
mergeable statistics (counts, sums, centred second moments, cosine sums, bootstrap sums,
seeded samples) and a tree reduction on Dask combines them (:mod:`gaptools.stream.stats`).
The point estimates that are functions of moments equal the in-memory ones; the subsample
metrics run on a sample chosen by a hash of (seed, global row id), so neither depends on
how the folder is split into shards or across workers.

Inputs (:mod:`gaptools.stream.shards`): the clip-retrieval layout (``img_emb/img_emb_K.npy``,
``text_emb/text_emb_K.npy``, ``metadata/metadata_K.parquet``; row i of both embedding files
of shard K is a pair) and folders of gaptools ``.npz`` sets.

Dask, distributed and pyarrow come with the ``scale`` extra (``pip install
'gaptools[scale]'``) and are imported only inside this package, when a function needs
them; importing ``gaptools.stream`` itself needs numpy only.
"""

from __future__ import annotations

from gaptools.stream.align import STREAMABLE_METHODS, apply_folder, check_streamable, fit_folder
from gaptools.stream.engine import check_scheduler_address, dask_client, probe_scheduler, require_scale
from gaptools.stream.measure import measure_folder
from gaptools.stream.shards import ShardFolder, folder_to_set, open_folder

__all__ = [
    "STREAMABLE_METHODS",
    "ShardFolder",
    "apply_folder",
    "check_scheduler_address",
    "check_streamable",
    "dask_client",
    "fit_folder",
    "folder_to_set",
    "measure_folder",
    "open_folder",
    "probe_scheduler",
    "require_scale",
]
