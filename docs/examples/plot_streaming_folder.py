"""
Streaming a folder
==================

Write the shipped test set as a folder of shards in the clip-retrieval layout (what
``clip-retrieval inference`` writes for LAION-scale dumps), measure it shard by shard on Dask, and
check the streamed figures against the same rows measured in memory.
"""

# %%
# A folder of five shards
# -----------------------
# Row i of ``img_emb/img_emb_K.npy`` and of ``text_emb/text_emb_K.npy`` is a pair: one caption
# per image here.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import gaptools

eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)
caption_of = eset.one_caption_per_image(np.random.default_rng(0))
folder = Path(tempfile.mkdtemp()) / "shards"
for part in ("img_emb", "text_emb"):
    (folder / part).mkdir(parents=True)
for k, rows in enumerate(np.array_split(np.arange(eset.n_image), 5)):
    np.save(folder / "img_emb" / f"img_emb_{k}.npy", eset.image[rows])
    np.save(folder / "text_emb" / f"text_emb_{k}.npy", eset.text[caption_of[rows]])

shards = gaptools.open_folder(folder)  # every header checked before any work
print(f"{shards.layout}: {len(shards.shards)} shards, {shards.n_image} pairs, D = {shards.dim}")

# %%
# Measure it streamed, and in memory
# ----------------------------------
# A folder given to :func:`gaptools.measure` is streamed (Dask's threaded scheduler here; pass
# ``client=`` for a cluster). :func:`gaptools.folder_to_set` loads the same rows in memory.
streamed = gaptools.measure(folder, bootstrap=200)
in_memory = gaptools.measure(gaptools.folder_to_set(folder), bootstrap=200)
table = pd.DataFrame(
    {"streamed": streamed.to_frame()["value"], "in memory": in_memory.to_frame()["value"]}
).dropna()
difference = (table["streamed"] - table["in memory"]).abs() / table["in memory"].abs()
table["relative difference"] = difference
print("largest relative differences:")
print(difference.sort_values().tail(4).to_string(float_format="{:.1e}".format))
table

# %%
# The same figures
# ----------------
# The summed statistics (cosines, centroids, recall) merge exactly across shards; the subsample
# metrics use a sample chosen by a hash of (seed, image id), which here (500 pairs, fewer than
# ``max_points``) holds every image, as the in-memory subsample does. The covariances are
# accumulated in float32 blocks, so the metrics built on their eigenvalues (the Fréchet terms, the
# effective rank, which weighs the smallest eigenvalues most) agree to float32 precision only.
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
values = table[["streamed", "in memory"]]
span = [values.min().min(), values.max().max()]
ax.plot(span, span, color="#999999", linewidth=1)
ax.scatter(table["in memory"], table["streamed"], color="#0072B2")
ax.set(xscale="symlog", yscale="symlog", xlabel="in memory", ylabel="streamed on Dask")
ax.set_title(f"{len(table)} metrics, {shards.n_image} pairs in {len(shards.shards)} shards")
plt.show()
