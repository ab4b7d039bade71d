"""Statistics over seeds: IQM, stratified bootstrap intervals, profiles, improvement, reliability.

The aggregate measures follow Agarwal et al. 2021, "Deep Reinforcement
Learning at the Edge of the Statistical Precipice" (the rliable library),
written here with numpy and scipy only:

- scores are ``(runs, tasks)`` arrays: one row per seed, one column per task
  (scenario); a task's runs are exchangeable, tasks are not;
- **IQM**, the interquartile mean: the mean of the middle 50% of all scores
  (``scipy.stats.trim_mean(..., 0.25)`` over the flattened array);
- **stratified bootstrap**: resample runs with replacement *within* each task,
  recompute the statistic, and take the percentile interval;
- **performance profile**: the fraction of runs scoring above tau, averaged over
  tasks, as a function of tau;
- **probability of improvement** ``P(X > Y)``: per task the Mann-Whitney U of X's
  runs against Y's divided by ``n * m`` (ties count half), averaged over tasks.

**Samples-to-reliability** (this project's measure): a run is *reliable* at
budget b when the lower bound of its test win-rate interval (Wilson 95%) is at
least the target; a run's samples-to-reliability is the smallest evaluated
budget at which that first holds (``inf``: not reached within budget). Over seeds
it is summarised by the median (the budget by which half the seeds were
reliable: order statistic ``ceil(n / 2)``) with a distribution-free order
statistic interval for the median (:func:`median_interval`); an ``inf`` bound
reads "not reached within budget".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

#: A statistic of a batch of score arrays: (reps, runs, tasks) -> (reps,).
BatchStat = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval (``confidence`` is its nominal coverage)."""

    point: float
    low: float
    high: float
    confidence: float = 0.95

    def fmt(self, digits: int = 2) -> str:
        return f"{self.point:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


Scores = np.ndarray | Sequence[float] | Sequence[Sequence[float]]


def as_scores(x: Scores) -> np.ndarray:
    """A float ``(runs, tasks)`` array; a 1-D input is one task."""
    a = np.asarray(x, np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"scores must be (runs, tasks), got shape {a.shape}")
    return a


def iqm(scores: Scores) -> float:
    """Interquartile mean of all scores: ``trim_mean(flat, 0.25)`` (rliable's aggregate_iqm)."""
    return float(sps.trim_mean(np.asarray(scores, np.float64).reshape(-1), 0.25))


def iqm_batch(samples: np.ndarray) -> np.ndarray:
    """IQM of each (runs, tasks) array of a (reps, runs, tasks) batch, in one scipy call."""
    return np.asarray(sps.trim_mean(samples.reshape(len(samples), -1), 0.25, axis=1))


def stratified_indices(
    n_runs: int, n_tasks: int, reps: int, rng: np.random.Generator
) -> np.ndarray:
    """(reps, n_runs, n_tasks) run indices drawn with replacement independently per task."""
    return rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))


def resample(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, runs, tasks) stratified bootstrap resamples of (runs, tasks) scores."""
    n, t = scores.shape
    return scores[stratified_indices(n, t, reps, rng), np.arange(t)]


def stratified_bootstrap(
    scores: Scores,
    stat: BatchStat = iqm_batch,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """``stat`` of the scores with a percentile interval from a stratified bootstrap over runs."""
    s = as_scores(scores)
    boot = stat(resample(s, reps, np.random.default_rng(seed)))
    return _percentile_interval(float(stat(s[None])[0]), boot, confidence)


def _percentile_interval(point: float, boot: np.ndarray, confidence: float) -> Interval:
    a = (1.0 - confidence) / 2
    lo, hi = np.percentile(boot, [100 * a, 100 * (1 - a)])
    return Interval(float(point), float(lo), float(hi), confidence)


def iqm_interval(
    scores: Scores, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """IQM over seeds (and tasks) with its stratified bootstrap percentile interval."""
    return stratified_bootstrap(scores, iqm_batch, reps, confidence, seed)


def performance_profile(
    scores: Scores,
    taus: np.ndarray | Sequence[float],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fraction of runs with score > tau (mean over tasks) and its bootstrap band.

    Returns ``(profile, low, high)``, each shaped like ``taus``.
    """
    s = as_scores(scores)
    tau = np.asarray(taus, np.float64)

    def profile(x: np.ndarray) -> np.ndarray:  # (..., runs, tasks) -> (..., taus)
        above = x[..., None, :, :] > tau[:, None, None]
        return above.mean(axis=-2).mean(axis=-1)

    boot = profile(resample(s, reps, np.random.default_rng(seed)))
    a = (1.0 - confidence) / 2
    lo, hi = np.percentile(boot, [100 * a, 100 * (1 - a)], axis=0)
    return profile(s), lo, hi


def _poi_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(X > Y) for batches a (reps, n, tasks), b (reps, m, tasks): the Mann-Whitney U of
    each task over n * m (ties count half), averaged over tasks."""
    gt = (a[:, :, None, :] > b[:, None, :, :]).mean(axis=(1, 2))
    eq = (a[:, :, None, :] == b[:, None, :, :]).mean(axis=(1, 2))
    return np.asarray((gt + 0.5 * eq).mean(axis=-1))


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y): a random run of X beats a random run of Y on the same task (ties: half).

    Per task this is ``scipy.stats.mannwhitneyu(x, y).statistic / (n * m)``, computed for
    all pairs at once (the tests check it against scipy).
    """
    a, b = as_scores(x), as_scores(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y need the same tasks, got {a.shape[1]} and {b.shape[1]}")
    return float(_poi_batch(a[None], b[None])[0])


def improvement_interval(
    x: Scores,
    y: Scores,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """P(X > Y) with an interval from resampling X's and Y's runs independently per task."""
    a, b = as_scores(x), as_scores(y)
    rng = np.random.default_rng(seed)
    boot = _poi_batch(resample(a, reps, rng), resample(b, reps, rng))
    return _percentile_interval(probability_of_improvement(a, b), boot, confidence)


# --------------------------------------------------------------------------- reliability


def first_reliable(
    budgets: Sequence[float], lower_bounds: np.ndarray | Sequence[float], target: float
) -> float:
    """The smallest budget whose lower bound reaches ``target`` (``inf`` when none does)."""
    lb = np.asarray(lower_bounds, np.float64)
    if lb.shape != (len(budgets),):
        raise ValueError(f"expected {len(budgets)} lower bounds, got shape {lb.shape}")
    hit = np.flatnonzero(lb >= target)
    return float(budgets[int(hit[0])]) if hit.size else math.inf


def samples_to_reliability(
    budgets: Sequence[float], lower_bounds: np.ndarray | Sequence[Sequence[float]], target: float
) -> np.ndarray:
    """Per seed (rows of ``lower_bounds``, one column per budget): :func:`first_reliable`."""
    lb = np.asarray(lower_bounds, np.float64)
    if lb.ndim != 2:
        raise ValueError(f"lower_bounds must be (seeds, budgets), got shape {lb.shape}")
    return np.array([first_reliable(budgets, row, target) for row in lb])


def median_interval(values: np.ndarray | Sequence[float], confidence: float = 0.95) -> Interval:
    """Median of ``values`` (``inf`` allowed) with a distribution-free interval.

    The point is order statistic ``ceil(n / 2)`` (with ``inf`` for "never", the
    value by which half the seeds got there). The interval is ``[x_(j), x_(n+1-j)]``
    with the largest j whose coverage of the population median,
    ``1 - 2 * BinomCDF(j - 1; n, 1/2)``, is at least ``confidence``; with too few
    values for that, ``[min, max]``, whose smaller coverage is returned.
    """
    v = np.sort(np.asarray(values, np.float64).reshape(-1))
    n = v.size
    if n == 0:
        raise ValueError("median_interval needs at least one value")
    point = float(v[math.ceil(n / 2) - 1])

    def coverage(j: int) -> float:
        return float(1.0 - 2.0 * sps.binom.cdf(j - 1, n, 0.5))

    j = 1
    while j + 1 <= (n + 1) // 2 and coverage(j + 1) >= confidence:
        j += 1
    return Interval(point, float(v[j - 1]), float(v[n - j]), coverage(j))


__all__ = [
    "Interval",
    "as_scores",
    "first_reliable",
    "improvement_interval",
    "iqm",
    "iqm_batch",
    "iqm_interval",
    "median_interval",
    "performance_profile",
    "probability_of_improvement",
    "samples_to_reliability",
    "stratified_bootstrap",
]
