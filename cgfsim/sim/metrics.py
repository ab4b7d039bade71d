"""Outcome tallies and confidence intervals shared by every layer that reports results."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95% for z=1.96).

    Preferred over the normal approximation because it stays inside [0, 1]
    and is honest at 0/n and n/n, which small evaluations hit often.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_rows(rows: list[tuple[str, int]], n: int, width: int = 10) -> list[str]:
    """Header plus one line per (label, count): rate, Wilson 95% interval, count."""
    out = [f"{'result':{width}s} {'rate':>7s}  {'95% CI':>16s}  {'count':>6s}"]
    for label, k in rows:
        lo, hi = wilson_interval(k, n)
        r = k / max(n, 1)
        out.append(f"{label:{width}s} {r:7.1%}  [{lo:6.1%}, {hi:6.1%}]  {k:6d}")
    return out


@dataclass
class MatchSummary:
    """Doctrine-vs-doctrine (or any) results of N episodes, from blue's point of view."""

    episodes: int
    blue_wins: int
    red_wins: int
    draws: int
    mean_length: float
    blue_losses: float  # mean units lost per episode
    red_losses: float

    def rate(self, k: int) -> tuple[float, float, float]:
        lo, hi = wilson_interval(k, self.episodes)
        return (k / max(self.episodes, 1), lo, hi)

    def to_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = dict(asdict(self))
        for name, k in (
            ("blue_win", self.blue_wins),
            ("red_win", self.red_wins),
            ("draw", self.draws),
        ):
            r, lo, hi = self.rate(k)
            d[f"{name}_rate"], d[f"{name}_ci_low"], d[f"{name}_ci_high"] = r, lo, hi
        return d


def summarise(outcome: np.ndarray, length: np.ndarray, losses: np.ndarray) -> MatchSummary:
    """From per-episode outcome codes (1 blue, 2 red, 3 draw), lengths and (N, 2) losses."""
    n = int(outcome.size)
    return MatchSummary(
        episodes=n,
        blue_wins=int((outcome == 1).sum()),
        red_wins=int((outcome == 2).sum()),
        draws=int((outcome == 3).sum()),
        mean_length=float(length.mean()) if n else 0.0,
        blue_losses=float(losses[:, 0].mean()) if n else 0.0,
        red_losses=float(losses[:, 1].mean()) if n else 0.0,
    )
