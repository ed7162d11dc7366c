"""Bootstrap over test images from per-image statistics: equal to rerunning pycocoevalcap on the
resampled images; intervals cover the point estimate and shrink with more images; seeds combined."""

import numpy as np
import pytest

from gaptools.caption.bootstrap import (
    AVERAGE_KEY,
    AVERAGE_OF,
    average_label,
    bootstrap_draws,
    bootstrap_scores,
    caption_average,
    combine_seeds,
    image_stats,
    load_image_stats,
    point_scores,
    resample_counts,
    save_image_stats,
    score_draws,
    seed_mean_draws,
    seed_weights,
)
from gaptools.errors import InputError

WORDS = "a the man woman dog cat red blue ball grass runs sits on in with near small big two of".split()


def random_captions(n_images, seed, n_refs=5):
    """Tokenised captions with per-image topics: hypotheses share some n-grams with their references."""
    rng = np.random.default_rng(seed)
    gts, res = {}, {}
    for i in range(n_images):
        topic = rng.choice(WORDS, size=6, replace=False)
        sentence = lambda: " ".join(rng.choice(topic, size=rng.integers(3, 9)))  # noqa: E731
        gts[f"img{i}"] = [sentence() for _ in range(rng.integers(1, n_refs + 1))]
        res[f"img{i}"] = [sentence()]
    return gts, res


# ------------------------------------------------------------------ equal to pycocoevalcap


HAND_MADE = {  # image id -> (prediction, references): exact, partial, disjoint, short and long hypotheses
    "1": ("A man rides a horse on the beach.", ["a man riding a horse on a beach", "a person on a horse",
                                                "someone rides a brown horse by the sea"]),
    "2": ("two dogs play in the snow", ["two dogs play in the snow", "dogs running", "a dog in snow playing"]),
    "3": ("a cat", ["a cat sleeping on a red sofa in the living room", "a kitten on a couch"]),
    "4": ("zebra umbrella piano", ["a bowl of fruit on a table", "apples and oranges in a bowl"]),
    "5": ("a red bus drives down a busy city street with many people walking around it",
          ["a red double decker bus on a street", "a bus in the city", "people walk past a red bus"]),
    "6": ("a plate of food with broccoli", ["a plate with broccoli and rice", "food on a white plate",
                                           "a plate of food", "broccoli next to chicken on a plate"]),
    "7": ("a man on a horse", ["a man on a horse"]),
}


@pytest.fixture(scope="module")
def hand_made():
    """The scored hand-made set: pycocoevalcap scores, per-image statistics and the tokenised captions."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from gaptools.caption.evaluate import score_captions_per_image

    predictions = {k: v[0] for k, v in HAND_MADE.items()}
    references = {k: v[1] for k, v in HAND_MADE.items()}
    scores, stats = score_captions_per_image(predictions, references)
    both = {("ref", k): [{"caption": c} for c in v] for k, v in references.items()}
    both.update({("pred", k): [{"caption": c}] for k, c in predictions.items()})
    tokens = PTBTokenizer().tokenize(both)
    return scores, stats, tokens


def pycocoevalcap_scores(gts, res):
    """pycocoevalcap's own scorers, x100 (METEOR through its own compute_score)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from gaptools.caption.evaluate import _meteor

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = dict(zip(("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"), bleu))
    out["METEOR"], _ = _meteor().compute_score(gts, res)
    out["ROUGE_L"], _ = Rouge().compute_score(gts, res)
    out["CIDEr"], _ = Cider().compute_score(gts, res)
    return {k: 100.0 * float(v) for k, v in out.items()}


@pytest.mark.slow
def test_point_scores_equal_pycocoevalcap(hand_made):
    scores, stats, _ = hand_made
    again = point_scores(stats)
    for key, value in scores.items():
        assert again[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    assert 0 < scores["CIDEr"] and scores["Bleu_4"] < 100


@pytest.mark.slow
def test_resampled_statistic_equals_rescoring_the_resampled_images(hand_made):
    """Each resample, rescored by pycocoevalcap with every copy of an image renamed as a new image id,
    gives what score_draws computes from the per-image statistics (CIDEr's df and log N included)."""
    _, stats, tokens = hand_made
    ids = stats.ids.tolist()
    counts = np.concatenate(list(resample_counts(len(ids), 4, seed=5)))
    assert counts.max() >= 2 and (counts == 0).any()  # duplicates and left-out images both occur
    fast = score_draws(stats, counts)
    for r, row in enumerate(counts):
        gts, res = {}, {}
        for key, times in zip(ids, row.astype(int)):
            for copy in range(times):
                gts[f"{key}#{copy}"] = tokens[("ref", key)]
                res[f"{key}#{copy}"] = tokens[("pred", key)]
        slow = pycocoevalcap_scores(gts, res)
        for key, value in slow.items():
            assert fast[key][r] == pytest.approx(value, rel=1e-9, abs=1e-9), (r, key)


@pytest.mark.slow
def test_meteor_perfect_segment_adds_no_chunks(hand_made):
    """Image 7 matches its only reference exactly (one chunk): METEOR 1.5 leaves its chunk out of the sums."""
    from gaptools.caption.bootstrap import _meteor_summands

    _, stats, _ = hand_made
    row = stats.ids.tolist().index("7")
    assert stats.meteor[row, 20] == 1 and _meteor_summands(stats.meteor)[row, 20] == 0


# ------------------------------------------------------------------ intervals


def test_intervals_cover_the_point_estimate_and_shrink_with_more_images():
    widths = []
    for n in (40, 640):
        stats = image_stats(*random_captions(n, seed=n))
        point = point_scores(stats)
        intervals = bootstrap_scores(stats, 400, seed=1)
        assert set(intervals) == {*point} == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "CIDEr", AVERAGE_KEY}
        for key, (lo, hi) in intervals.items():
            assert lo < point[key] < hi, (n, key)
        widths.append({key: hi - lo for key, (lo, hi) in intervals.items()})
    for key in widths[0]:  # 16x the images: about a quarter of the width
        assert widths[1][key] < 0.5 * widths[0][key], key


def test_draws_depend_on_the_seed_only():
    stats = image_stats(*random_captions(30, seed=0))
    a = bootstrap_scores(stats, 250, seed=3)
    assert a == bootstrap_scores(stats, 250, seed=3)
    assert a != bootstrap_scores(stats, 250, seed=4)
    first = np.concatenate(list(resample_counts(30, 250, seed=3)))
    assert first.shape == (250, 30) and np.all(first.sum(axis=1) == 30)
    assert np.array_equal(first[:100], np.concatenate(list(resample_counts(30, 100, seed=3))))


def test_rouge_and_spice_are_weighted_means():
    gts, res = random_captions(5, seed=2)
    rouge, spice = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([0.5, 0.0, 0.0, 0.0, 0.1])
    stats = image_stats(gts, res, rouge=rouge, spice=spice)
    draws = score_draws(stats, np.array([[2, 0, 0, 3, 0], [1, 1, 1, 1, 1]]))
    assert draws["ROUGE_L"] == pytest.approx([100 * (0.2 + 1.2) / 5, 30.0])
    assert draws["SPICE"] == pytest.approx([100 * 1.0 / 5, 12.0])


# ------------------------------------------------------------------ seeds, files, the average


def test_combine_seeds():
    gts, res = random_captions(60, seed=7)
    other = {k: [v[0] + " dog"] for k, v in res.items()}
    one, two = image_stats(gts, res), image_stats(gts, other)
    combined = combine_seeds([one, two], 300, seed=2)
    p1, p2 = point_scores(one), point_scores(two)
    for key in p1:
        entry = combined[key]
        assert entry["per_seed"] == [p1[key], p2[key]]
        assert entry["mean"] == pytest.approx((p1[key] + p2[key]) / 2)
        assert entry["sd"] == pytest.approx(abs(p1[key] - p2[key]) / np.sqrt(2))
        assert entry["ci95"][0] < entry["mean"] < entry["ci95"][1]
        assert entry["ci95_images"][0] < entry["mean"] < entry["ci95_images"][1]
    alone = combine_seeds([one], 300, seed=2)  # one seed: the plain bootstrap interval, no sd
    assert alone["CIDEr"]["sd"] is None
    assert alone["CIDEr"]["ci95"] == alone["CIDEr"]["ci95_images"] == list(bootstrap_scores(one, 300, seed=2)["CIDEr"])


def _width(interval):
    return interval[1] - interval[0]


def test_the_hierarchical_interval_carries_the_between_seed_variance():
    """Planted: three seeds of the same images, one writing good captions, two writing poor ones.

    Between seeds CIDEr differs by far more than the image resampling moves it, so the interval
    that resamples seeds is wider than the one that holds them fixed; with three copies of the
    same captions (no seed variance) the two are the same, and with three seeds that each draw
    captions from one distribution they agree roughly.
    """
    gts, res = random_captions(80, seed=11)
    good = image_stats(gts, {k: [gts[k][0]] for k in gts})  # each hypothesis is one of its references
    poor = [image_stats(gts, {k: [" ".join(v[0].split()[:2])] for k, v in res.items()}),
            image_stats(gts, {k: [v[0].split()[0]] for k, v in res.items()})]
    spread = combine_seeds([good, *poor], 400, seed=0)["CIDEr"]
    assert spread["sd"] > 30
    assert _width(spread["ci95"]) > 2 * _width(spread["ci95_images"])
    same = combine_seeds([poor[0]] * 3, 400, seed=0)["CIDEr"]  # no seed variance at all
    assert same["ci95"] == pytest.approx(same["ci95_images"])
    similar = []  # each seed: every hypothesis the words of one of its references, shuffled by that seed
    for s in (21, 22, 23):
        rng = np.random.default_rng(s)
        similar.append(image_stats(gts, {k: [" ".join(rng.permutation(v[-1].split()))] for k, v in gts.items()}))
    near = combine_seeds(similar, 400, seed=0)["CIDEr"]
    assert 0.5 < _width(near["ci95"]) / _width(near["ci95_images"]) < 2.0


def test_seed_weights_draw_seeds_with_replacement():
    w = seed_weights(3, 2000, seed=4)
    assert w.shape == (2000, 3) and np.allclose(w.sum(axis=1), 1.0)
    assert set(np.unique(np.round(w * 3)).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert abs(w.mean() - 1 / 3) < 0.01 and (w == 1.0).any()  # a resample of one seed thrice happens
    assert np.array_equal(seed_weights(1, 5, seed=0), np.ones((5, 1)))
    assert np.array_equal(seed_weights(3, 50, seed=4), seed_weights(3, 50, seed=4))
    per_seed = [{"m": np.array([1.0, 2.0])}, {"m": np.array([3.0, np.nan])}]
    hier, images = seed_mean_draws(per_seed, np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert hier["m"].tolist() == [2.0, 2.0]  # a seed not drawn adds nothing, not even its NaN
    assert images["m"][0] == 2.0 and np.isnan(images["m"][1])


def test_combine_seeds_matches_images_by_id_and_refuses_other_images():
    gts, res = random_captions(20, seed=8)
    stats = image_stats(gts, res)
    reversed_ids = list(res)[::-1]
    shuffled = image_stats(gts, {k: res[k] for k in reversed_ids})
    a, b = bootstrap_draws([stats, shuffled], 50, seed=0)
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-12)  # the same images in each resample
    fewer = image_stats({k: gts[k] for k in list(gts)[:19]}, {k: res[k] for k in list(res)[:19]})
    with pytest.raises(InputError, match="different images"):
        combine_seeds([stats, fewer], 10, seed=0)


@pytest.mark.slow
def test_image_stats_file_round_trip(tmp_path, hand_made):
    _, stats, _ = hand_made
    path = save_image_stats(tmp_path / "s.npz", stats)
    back = load_image_stats(path)
    assert back.ids.tolist() == stats.ids.tolist()
    assert bootstrap_scores(back, 60, seed=1) == bootstrap_scores(stats, 60, seed=1)
    (tmp_path / "bad.npz").write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image_stats(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(InputError, match="not a per-image statistics file"):
        load_image_stats(tmp_path / "other.npz")


def test_caption_average_and_its_name():
    seven = {k: float(i) for i, k in enumerate(AVERAGE_OF[:7])}  # 0..6
    assert caption_average({**seven, "world_exact_scene": 100.0}) == pytest.approx(3.0)
    assert average_label(seven) == "mean of 7 (no SPICE)"
    assert caption_average({**seven, "SPICE": 7.0}) == pytest.approx(3.5)
    assert average_label([*seven, "SPICE"]) == "mean of 8"
    with pytest.raises(InputError, match="no caption metric"):
        caption_average({"world_exact_scene": 1.0})
    stats = image_stats(*random_captions(25, seed=3))
    draws = score_draws(stats, np.concatenate(list(resample_counts(25, 20, seed=0))))
    assert draws[AVERAGE_KEY] == pytest.approx(np.mean([draws[k] for k in draws if k != AVERAGE_KEY], axis=0))
