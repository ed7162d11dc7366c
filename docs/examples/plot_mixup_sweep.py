"""
The mixup sweep
===============

Replace each image by ``normalize(λ·caption + (1 − λ)·image)`` (one of its own captions, drawn
with a seed) and measure the set for λ from 0 (the images) to 1 (the captions): the walk across
the gap along each pair's own chord that the paper's Fig. 3 feeds to its captioners.
"""

# %%
# Measure along λ
# ---------------
import matplotlib.pyplot as plt
import numpy as np

import gaptools

eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)
lambdas = np.linspace(0.0, 1.0, 11)
results = [
    gaptools.measure(gaptools.mixup_set(eset, lam, seed=0), bootstrap=200)
    for lam in lambdas
]
for lam, r in zip(lambdas, results):
    gap, cosine, sep = r["centroid_gap"], r["matched_cosine"], r["linear_separability"]
    print(f"λ = {lam:.1f}   gap {gap:.3f}   matched cosine {cosine:.3f}   separability {sep:.2f}")

# %%
# The gap closes along the chord
# ------------------------------
# The band is the 95% bootstrap interval over images.
gap = np.array([r["centroid_gap"] for r in results])
low, high = np.array([r.ci95("centroid_gap") for r in results]).T
separability = [r["linear_separability"] for r in results]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax1.fill_between(lambdas, low, high, color="#0072B2", alpha=0.25, linewidth=0)
ax1.plot(lambdas, gap, "o-", color="#0072B2")
ax1.set(
    title="centroid gap", xlabel="λ (text share)", ylabel="‖mean(mixed) − mean(text)‖"
)
ax2.plot(lambdas, separability, "o-", color="#D55E00")
ax2.axhline(0.5, color="#999999", linestyle="--", label="chance")
ax2.set(
    title="linear separability of images and captions",
    xlabel="λ (text share)",
    ylabel="5-fold accuracy",
    ylim=(0.3, 1.02),
)
ax2.legend()
plt.show()
