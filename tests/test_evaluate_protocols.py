"""Protocol math on constructed scores with known answers."""

import numpy as np
import pytest

from metric.evaluate.common_area import common_area, histograms
from metric.evaluate.monotonicity import monotonicity, paired_monotonicity_difference
from metric.evaluate.mos import mos_spearman, read_mos_csv
from metric.evaluate.retrieval import mean_precision_at_k
from metric.data.triplets import read_triplets
from metric.evaluate.two_afc import two_afc_accuracy, two_afc_ceiling


# ---------------------------------------------------------------- monotonicity


def test_a_metric_equal_to_the_level_is_perfectly_monotonic():
    levels = np.repeat([0.1, 0.3, 0.5, 0.9], 3)
    result = monotonicity(levels, levels, ["noise"] * 6 + ["noise+reverb"] * 6)
    assert result["mono"] == pytest.approx(1.0)
    assert result["per_family"] == {"noise": pytest.approx(1.0), "noise+reverb": pytest.approx(1.0)}


def test_monotonicity_is_the_mean_over_families_of_their_spearman():
    levels = np.array([0.2, 0.4, 0.6, 0.8] * 2)
    distances = np.concatenate([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])  # +1 and -1
    families = ["a"] * 4 + ["b"] * 4
    result = monotonicity(distances, levels, families)
    assert result["per_family"]["a"] == pytest.approx(1.0)
    assert result["per_family"]["b"] == pytest.approx(-1.0)
    assert result["mono"] == pytest.approx(0.0)
    # one swapped pair in 4 levels: Spearman = 1 - 6*2/(4*15) = 0.8
    assert monotonicity([1, 3, 2, 4], [0.2, 0.4, 0.6, 0.8])["mono"] == pytest.approx(0.8)


def _monotonicity_set(recordings: int, seed: int = 0):
    """Pairs of a monotonicity set: every recording x 2 families x 4 levels, and a noisy metric's distances."""
    rng = np.random.default_rng(seed)
    units = np.repeat([f"clip{i}" for i in range(recordings)], 8)
    families = np.tile(np.repeat(["noise", "mp3"], 4), recordings)
    levels = np.tile([0.2, 0.4, 0.6, 0.8], 2 * recordings)
    return units, families, levels, levels * rng.uniform(0.5, 2.0, len(levels))  # a per-recording scale spread


def test_paired_monotonicity_difference_of_a_metric_with_itself_is_exactly_zero():
    units, families, levels, noisy = _monotonicity_set(10)
    result = paired_monotonicity_difference(noisy, noisy.copy(), levels, families, units)
    assert result["first"] == result["second"] < 1.0  # the noisy metric is imperfect, on every draw alike
    assert result["difference"] == 0.0 and result["ci"] == (0.0, 0.0)  # paired: both computed on the same draw
    assert result["units"] == 10


def test_paired_monotonicity_difference_resamples_whole_recordings():
    units, families, levels, noisy = _monotonicity_set(10)
    changed = noisy.copy()
    one = units == "clip0"
    changed[one] = levels[one] * 1e-3  # differs from the noisy metric on one recording only (below every other)
    result = paired_monotonicity_difference(changed, noisy, levels, families, units, rounds=2000)
    assert result["difference"] != 0.0
    low, high = result["ci"]
    # A third of the draws (0.9 ** 10) leave clip0 out, and with it every difference: one end of the interval is 0.
    # Resampling single pairs instead would almost never leave out all 8 of its pairs.
    assert 0.0 in (low, high) and low <= result["difference"] <= high


def test_paired_monotonicity_difference_narrows_with_more_recordings():
    def width(recordings):
        units, families, levels, noisy = _monotonicity_set(recordings, seed=recordings)
        low, high = paired_monotonicity_difference(levels, noisy, levels, families, units)["ci"]
        assert low > 0.0  # a perfectly monotonic metric beats the noisy one on every draw
        return high - low

    assert width(40) < width(8)


# ---------------------------------------------------------------- common area


def test_identical_distributions_have_common_area_one_and_disjoint_ones_zero():
    rng = np.random.default_rng(0)
    same = rng.normal(size=300)
    assert common_area(same, same.copy()) == pytest.approx(1.0)
    assert common_area(rng.uniform(0, 1, 100), rng.uniform(10, 11, 100)) == pytest.approx(0.0)


def test_common_area_by_hand_and_scale_invariance():
    # normalised jointly to [0, 1]; 2 bins [0, .5), [.5, 1]: same -> [.5, .5], different -> [0, 1]
    assert common_area([0.0, 0.5], [0.5, 1.0], bins=2) == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 200), rng.normal(1, 1, 200)
    assert common_area(a, b) == pytest.approx(common_area(7 * a + 3, 7 * b + 3))
    edges, p_a, p_b = histograms(a, b)
    assert p_a.sum() == pytest.approx(1.0) and p_b.sum() == pytest.approx(1.0) and len(edges) == 21


def test_more_separated_groups_have_less_common_area():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, 500)
    areas = [common_area(base, rng.normal(shift, 1, 500)) for shift in (0.5, 1.5, 3.0)]
    assert areas[0] > areas[1] > areas[2]


# ---------------------------------------------------------------- retrieval


def _points_distance(points):
    points = np.asarray(points, dtype=float)
    return np.abs(points[:, None] - points[None, :])


def test_perfectly_separated_groups_give_mp_at_k_one():
    labels = np.repeat(np.arange(10), 21)
    points = labels * 100.0 + np.random.default_rng(3).uniform(0, 1, len(labels))
    distances = _points_distance(points)
    assert mean_precision_at_k(distances, labels, 10) == pytest.approx(1.0)
    assert mean_precision_at_k(distances, labels, 20) == pytest.approx(1.0)


def test_mp_at_k_by_hand():
    # files on a line at 0, 1, 1.5, 2.5 with groups a, a, b, b; nearest neighbours: 1(a), 2(b), 1(a), 2(b)
    distances = _points_distance([0.0, 1.0, 1.5, 2.5])
    labels = ["a", "a", "b", "b"]
    assert mean_precision_at_k(distances, labels, 1) == pytest.approx(0.5)
    assert mean_precision_at_k(distances, labels, 2) == pytest.approx(0.5)
    # the same queries as rows of a rectangular matrix
    assert mean_precision_at_k(distances[[0, 3]], labels, 1, query_indices=[0, 3]) == pytest.approx(1.0)


def test_a_metric_that_cannot_tell_files_apart_scores_chance():
    labels = np.repeat(np.arange(2), 21)
    constant = np.ones((42, 42))
    assert mean_precision_at_k(constant, labels, 10) == pytest.approx(20 / 41, abs=0.08)


def test_mp_at_k_rejects_a_k_it_cannot_fill():
    with pytest.raises(ValueError, match="k must be"):
        mean_precision_at_k(np.zeros((3, 3)), [0, 0, 1], 3)


# ---------------------------------------------------------------- 2AFC


def test_2afc_by_hand_with_ties():
    # metric prefers A, A, B, tie -> credit .8, .3, 1-.5, .5
    accuracy = two_afc_accuracy([0.1, 0.1, 0.9, 0.4], [0.2, 0.2, 0.1, 0.4], [0.8, 0.3, 0.5, 0.9])
    assert accuracy == pytest.approx((0.8 + 0.3 + 0.5 + 0.5) / 4)


def test_2afc_of_a_metric_agreeing_with_every_majority_is_the_human_ceiling():
    p_a = np.random.default_rng(4).uniform(0, 1, 200)
    distance_a = 1 - p_a  # A is closer exactly when most listeners chose A
    distance_b = np.full(200, 0.5)
    assert two_afc_accuracy(distance_a, distance_b, p_a) == pytest.approx(two_afc_ceiling(p_a))
    assert two_afc_accuracy(distance_b, distance_a, p_a) == pytest.approx(1 - two_afc_ceiling(p_a))


def test_2afc_csv_is_read_by_the_training_reader_in_either_spelling(tmp_path):
    (tmp_path / "t.csv").write_text("reference,a,b,p_a\nr.wav,a.wav,b.wav,0.7\n")
    (tmp_path / "p.csv").write_text("reference,a,b,preference\nr.wav,a.wav,b.wav,0.7\n")
    (tmp_path / "v.csv").write_text("reference,a,b,votes_a,votes_b\nr.wav,a.wav,b.wav,3,1\n")
    (tmp_path / "bad.csv").write_text("ref,x,y\n1,2,3\n")
    [triplet] = read_triplets(tmp_path / "t.csv")
    assert triplet.preference == 0.7 and triplet.a == (tmp_path / "a.wav").resolve()
    assert read_triplets(tmp_path / "p.csv") == [triplet]
    assert read_triplets(tmp_path / "v.csv")[0].preference == 0.75
    with pytest.raises(ValueError, match="reference,a,b,preference .or p_a"):
        read_triplets(tmp_path / "bad.csv")


# ---------------------------------------------------------------- MOS


def test_mos_spearman_averages_per_speaker_and_condition_before_correlating():
    # 2 speakers x 3 conditions x 2 files. Within a cell the files disagree with their MOS,
    # but the cell means of distance fall exactly as the cell means of MOS rise.
    speakers, conditions, mos, distances = [], [], [], []
    for s_index, speaker in enumerate(["s1", "s2"]):
        for c_index, condition in enumerate(["bad", "mid", "good"]):
            cell_mos = 1 + 1.5 * c_index + 0.2 * s_index
            cell_distance = 1.0 - 0.3 * c_index - 0.05 * s_index
            for offset in (-0.1, 0.1):
                speakers.append(speaker)
                conditions.append(condition)
                mos.append(cell_mos + offset)
                distances.append(cell_distance + offset)  # per file: higher MOS, higher distance
    assert mos_spearman(distances, mos, speakers, conditions) == pytest.approx(1.0)
    assert mos_spearman(-np.array(distances), mos, speakers, conditions) == pytest.approx(-1.0)


def test_mos_csv(tmp_path):
    (tmp_path / "m.csv").write_text("reference,degraded,mos,speaker,condition\nc/1.wav,x/1.wav,3.5,p1,x\n")
    [rating] = read_mos_csv(tmp_path / "m.csv")
    assert (rating.mos, rating.speaker, rating.condition) == (3.5, "p1", "x")
    (tmp_path / "bad.csv").write_text("reference,degraded,mos\na,b,3\n")
    with pytest.raises(ValueError, match="condition"):
        read_mos_csv(tmp_path / "bad.csv")


def test_within_content_monotonicity_ignores_scale_differences_between_recordings():
    # each recording's distance grows with the level, but on scales that overlap
    levels = np.array([0.2, 0.4, 0.6, 0.8] * 2)
    distances = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 5.0, 6.0, 7.0])
    result = monotonicity(distances, levels, ["noise"] * 8, ["a"] * 4 + ["b"] * 4)
    assert result["within_content"] == pytest.approx(1.0)
    assert result["mono"] < 1.0
