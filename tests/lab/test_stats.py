"""Statistics on hand-made scores and curves with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from cgfsim.lab import stats


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert stats.iqm(np.arange(8)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert stats.iqm([0.0, 0.0, 0.0, 1.0]) == 0.0  # middle two of four: 0, 0
    # (runs, tasks) are pooled: the middle half of all twelve scores
    scores = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14], [5, 15]], float)
    assert stats.iqm(scores) == pytest.approx(np.mean([3, 4, 5, 10, 11, 12]))


def test_bootstrap_interval_matches_the_exact_resampling_distribution() -> None:
    """[0, 0, 0, 1]: a resample's IQM is 0 with k <= 1 ones, 0.5 with k = 2, 1 with k >= 3,
    k ~ Binomial(4, 1/4): P(0) = 0.738, P(0.5) = 0.211, P(1) = 0.051, so the 2.5% and
    97.5% percentiles are 0 and 1."""
    iv = stats.iqm_interval([0.0, 0.0, 0.0, 1.0], reps=4000, seed=1)
    assert (iv.point, iv.low, iv.high) == (0.0, 0.0, 1.0)
    k = np.arange(5)
    p = sps.binom.pmf(k, 4, 0.25)
    assert p[:2].sum() == pytest.approx(0.7383, abs=1e-4) and p[3:].sum() > 0.025
    # all seeds equal: the interval collapses onto the point
    iv = stats.iqm_interval([0.7, 0.7, 0.7], reps=500)
    assert (iv.point, iv.low, iv.high) == pytest.approx((0.7, 0.7, 0.7))


def test_bootstrap_is_stratified_by_task() -> None:
    """Task A's runs all 0, task B's all 1: resampling within tasks always keeps three of
    each, so the IQM of every resample is 0.5; pooled resampling would not."""
    scores = np.array([[0.0, 1.0]] * 3)
    iv = stats.iqm_interval(scores, reps=500)
    assert (iv.point, iv.low, iv.high) == (0.5, 0.5, 0.5)
    pooled = stats.iqm_interval(scores.reshape(-1), reps=500)
    assert pooled.low < 0.5 < pooled.high


def test_performance_profile_and_probability_of_improvement() -> None:
    prof, lo, hi = stats.performance_profile([0.1, 0.5, 0.9], [0.0, 0.5, 0.95], reps=200)
    assert prof == pytest.approx([1.0, 1 / 3, 0.0])
    assert np.all(lo <= prof + 1e-12) and np.all(prof <= hi + 1e-12)
    assert stats.probability_of_improvement([1, 2, 3], [0, 0, 0]) == 1.0
    assert stats.probability_of_improvement([0.4, 0.6], [0.4, 0.6]) == 0.5
    # pairs (1,2) loss, (1,3) loss, (2,2) tie, (2,3) loss: 0.5 of 4
    assert stats.probability_of_improvement([1, 2], [2, 3]) == pytest.approx(0.125)
    # two tasks: 1.0 on the first, 0.0 on the second -> 0.5
    x, y = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    assert stats.probability_of_improvement(x, y) == 0.5
    iv = stats.improvement_interval([1, 2, 3], [0, 0, 0], reps=200)
    assert (iv.point, iv.low, iv.high) == (1.0, 1.0, 1.0)
    # the vectorised count is scipy's Mann-Whitney U over n * m, ties included
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, (7, 2)) / 4, rng.integers(0, 5, (5, 2)) / 4
    u = [sps.mannwhitneyu(x[:, k], y[:, k]).statistic / 35 for k in range(2)]
    assert stats.probability_of_improvement(x, y) == pytest.approx(np.mean(u))


def test_samples_to_reliability_on_hand_made_curves() -> None:
    budgets = [1000, 2000, 4000, 8000]
    lower = np.array(
        [
            [0.50, 0.81, 0.85, 0.90],  # reliable from 2000
            [0.60, 0.70, 0.79, 0.82],  # from 8000
            [0.10, 0.20, 0.30, 0.40],  # never
            [0.85, 0.70, 0.90, 0.95],  # from 1000 (first time counts, dips do not undo it)
        ]
    )
    per_seed = stats.samples_to_reliability(budgets, lower, 0.8)
    assert per_seed.tolist() == [2000, 8000, math.inf, 1000]
    assert stats.first_reliable(budgets, [0.8, 0.8, 0.8, 0.8], 0.8) == 1000  # ">=", not ">"
    iv = stats.median_interval(per_seed[:3])  # [2000, 8000, inf]
    assert (iv.point, iv.low, iv.high) == (8000, 2000, math.inf)
    assert iv.confidence == pytest.approx(0.75)  # [min, max] of 3 covers the median 75%
    iv = stats.median_interval([math.inf, math.inf, 1000])
    assert iv.point == math.inf  # fewer than half the seeds got there: not reached
    # 10 values: [x(2), x(9)] covers 1 - 2 * 11/1024 = 97.9% (x(3), x(8) would be 89%)
    iv = stats.median_interval(np.arange(1, 11) * 1000.0)
    assert (iv.point, iv.low, iv.high) == (5000, 2000, 9000)
    assert iv.confidence == pytest.approx(1 - 2 * 11 / 1024)
    with pytest.raises(ValueError):
        stats.samples_to_reliability(budgets, lower[:, :3], 0.8)
