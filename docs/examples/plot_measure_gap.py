"""
Measure a set and draw its gap
==============================

Measure the shipped shapes-world test set and draw what the numbers say: the two modalities
on either side of the gap, and the cosine of true (image, caption) pairs beside that of
mismatched ones.
"""

# %%
# Measure
# -------
# :func:`gaptools.measure` runs every gap metric; the intervals come from a bootstrap over images
# (each image brings all its captions).
import matplotlib.pyplot as plt
import numpy as np

import gaptools

eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)
result = gaptools.measure(eset, bootstrap=200)
print(result)

# %%
# The result converts to a pandas DataFrame.
frame = result.to_frame()
frame.loc[["centroid_gap", "matched_cosine", "random_cosine", "linear_separability"]]

# %%
# Draw the gap
# ------------
# Every embedding projected on the gap direction (from the caption centroid to the image
# centroid) and on the main axis of what is left; the arrow joins the two centroids, and its
# length is ``centroid_gap``.
image = eset.image / np.linalg.norm(eset.image, axis=1, keepdims=True)
text = eset.text / np.linalg.norm(eset.text, axis=1, keepdims=True)
gap = image.mean(axis=0) - text.mean(axis=0)
u = gap / np.linalg.norm(gap)
pooled = np.concatenate([image, text])
# the pooled embeddings with the gap direction removed
rest = pooled - np.outer(pooled @ u, u)
v = np.linalg.svd(rest - rest.mean(axis=0), full_matrices=False)[2][0]
img2, txt2 = image @ np.stack([u, v], axis=1), text @ np.stack([u, v], axis=1)

matched = np.sum(text * image[eset.text_image], axis=1)  # each caption with its own image
rng = np.random.default_rng(0)
other = (eset.text_image + rng.integers(1, eset.n_image, eset.n_text)) % eset.n_image
mismatched = np.sum(text * image[other], axis=1)  # each caption with another image

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
ax1.scatter(*txt2.T, s=4, alpha=0.35, color="#E69F00", label="captions")
ax1.scatter(*img2.T, s=6, alpha=0.6, color="#0072B2", label="images")
arrow = {"arrowstyle": "->", "lw": 2, "color": "black"}
ax1.annotate("", xy=img2.mean(axis=0), xytext=txt2.mean(axis=0), arrowprops=arrow)
ax1.set(title=f"centroid gap {result['centroid_gap']:.3f}", xlabel="along the gap direction",
        ylabel="main axis of the rest")
ax1.legend(loc="best", markerscale=3)
bins = np.linspace(-0.4, 1.0, 57)
ax2.hist(mismatched, bins=bins, alpha=0.7, color="#999999", label="mismatched pairs")
ax2.hist(matched, bins=bins, alpha=0.7, color="#009E73", label="true pairs")
ax2.set(title="cosine of (image, caption)", xlabel="cosine", ylabel="captions")
ax2.legend(loc="upper left")
plt.show()
