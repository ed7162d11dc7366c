"""
Compare aligners held out
=========================

Fit eleven of the registered aligners on one half of the shipped test set's images and measure the other
half after alignment: how much of the gap each correction closes on images it has not seen, and
what it costs in retrieval.
"""

# %%
# Two halves, split by image
# --------------------------
# An image goes to one half with all its captions, so no caption of a test image is seen in fit
# (:meth:`gaptools.EmbeddingSet.split`; ``gaptools split`` on the command line).
import matplotlib.pyplot as plt

import gaptools

eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)
fit_half, test_half = eset.split(test=0.5, seed=0)
print(fit_half.n_image, fit_half.n_text, "|", test_half.n_image, test_half.n_text)

# %%
# Fit on one half, measure the other
# ----------------------------------
# :func:`gaptools.compare_aligners` is what ``gaptools align compare`` runs; without ``methods`` it
# runs every name in ``gaptools.ALIGNERS``. It warns when the two sets share an image, and its
# result reads like the JSON document (``result.to_frame()`` makes a DataFrame of every metric
# with its 95% interval).
methods = ["mean", "center", "moment", "realign", "pca-rotation", "procrustes", "coral",
           "ot-exact", "ot-paper", "ot-sinkhorn", "memory-projection"]
doc = gaptools.compare_aligners(fit_half, test_half, methods=methods)
rows = {"none": doc["baseline"], **doc["methods"]}
for name, m in rows.items():
    gap, recall, cov = m["centroid_gap"], m["recall@1_i2t"], m["frechet_cov_term"]
    print(f"{name:18s} gap {gap:.3f}   R@1 i2t {recall:.3f}   Fréchet cov term {cov:.3f}")

# %%
# The held-out gap and retrieval after each correction
# ----------------------------------------------------
names = sorted(rows, key=lambda n: rows[n]["centroid_gap"])
gap = [rows[n]["centroid_gap"] for n in names]
recall = [rows[n]["recall@1_i2t"] for n in names]
colours = ["#999999" if n == "none" else "#0072B2" for n in names]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 5), sharey=True, layout="constrained")
ax1.barh(names, gap, color=colours)
ax1.set(title="centroid gap on the held-out half", xlabel="‖mean(image) − mean(text)‖")
ax2.barh(names, recall, color=colours)
ax2.set(title="recall@1, image → text", xlabel="R@1", xlim=(0, 1))
ax1.invert_yaxis()
plt.show()
