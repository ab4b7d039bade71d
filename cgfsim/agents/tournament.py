"""Round-robin tournaments between checkpoints and doctrines, rated on the Elo scale.

Every pair plays ``episodes`` episodes with the first player as blue and, unless the
scenario is symmetric (see :func:`is_symmetric`) or ``both_sides=False``, as many
again with the sides swapped, so a side or map advantage cancels out. All pairs
play on the same world seeds (common random numbers).

Ratings are a Bradley-Terry maximum-likelihood fit (a draw counts half a win for
each player) converted to the Elo scale, ``elo = 1500 + 400 log10(strength)`` with
the mean rating pinned at 1500; a 200-point gap then means the stronger player
is expected to score 76%. Unlike iterated Elo updates the fit does not depend on
the order of the games. One virtual draw is added to every pair that met, so
ratings stay finite when a player wins every game (it shrinks gaps slightly; it
matters little with many episodes per pair).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.evaluation import EvalResult, evaluate, load_player
from cgfsim.sim.errors import CgfsimError

ELO_BASE, ELO_SCALE = 1500.0, 400.0


def is_symmetric(scenario: Any) -> bool:
    """True when the red side's view equals the blue side's (map, zones, forces, objectives,
    rewards, doctrine-free), so one side per pair is enough.

    Red's canonical frame flips the map's rows (see :mod:`cgfsim.envs.observations`); the
    scenario is symmetric when that flip maps everything blue has onto what red has.
    """
    from cgfsim.envs._common import get_scenario

    sc = get_scenario(scenario)
    H = sc.height
    if not np.array_equal(sc.maps, sc.maps[:, ::-1]):
        return False
    nb, nr = sc.n_slots
    if nb != nr:
        return False
    b, r = sc.side_slice(0), sc.side_slice(1)
    if not (
        np.array_equal(sc.unit_type[b], sc.unit_type[r])
        and np.array_equal(sc.present[b], sc.present[r])
    ):
        return False

    def flip(rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = rect
        return (x0, H - 1 - y1, x1, H - 1 - y0)

    def starts(side: slice, flipped: bool) -> list[Any]:
        out: list[Any] = []
        for z, at in zip(sc.start_zone[side], sc.start_at[side], strict=True):
            if z >= 0:
                rect = sc.zones[sc.zone_names[int(z)]]
                out.append(("zone", flip(rect) if flipped else rect))
            else:
                y, x = int(at[0]), int(at[1])
                out.append(("at", (H - 1 - y if flipped else y, x)))
        return out

    if starts(b, False) != starts(r, True):
        return False
    for o in sc.objectives:
        if o.capturable_by[0] != o.capturable_by[1] or flip(o.rect) != o.rect:
            return False
    return sc.rewards[0] == sc.rewards[1]


@dataclass
class Tournament:
    """Results of a round robin: per-pair scores, totals and Elo ratings."""

    scenario: str
    players: list[str]
    episodes: int  # per pair and side
    both_sides: bool
    seed: int
    action_mode: str
    wins: np.ndarray  # (n, n) games row player won against column player
    draws: np.ndarray  # (n, n)
    elo: np.ndarray  # (n,)
    matches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def games(self) -> np.ndarray:
        return self.wins + self.wins.T + self.draws

    def score(self) -> np.ndarray:
        """(n, n) score share of the row player against the column player (nan if unplayed)."""
        g = self.games
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.wins + 0.5 * self.draws) / g

    def to_dict(self) -> dict[str, Any]:
        order = np.argsort(-self.elo, kind="stable")
        rows = []
        for i in order:
            w, d = int(self.wins[i].sum()), int(self.draws[i].sum())
            g = int(self.games[i].sum())
            rows.append(
                {
                    "player": self.players[i],
                    "elo": round(float(self.elo[i]), 1),
                    "games": g,
                    "wins": w,
                    "draws": d,
                    "losses": g - w - d,
                }
            )
        sc = self.score()
        return {
            "scenario": self.scenario,
            "players": self.players,
            "episodes": self.episodes,
            "both_sides": self.both_sides,
            "seed": self.seed,
            "action_mode": self.action_mode,
            "rating": "Bradley-Terry MLE on the Elo scale (mean 1500, one virtual draw per pair)",
            "ranking": rows,
            "wins": self.wins.tolist(),
            "draws": self.draws.tolist(),
            "score": [[None if math.isnan(v) else round(float(v), 4) for v in r] for r in sc],
            "matches": self.matches,
        }

    def table(self) -> str:
        """Ranking with Elo and W/D/L, then the pairwise score matrix (row vs column)."""
        n = len(self.players)
        names = [_short(p) for p in self.players]
        wname = max(6, *(len(s) for s in names))
        sides = "both sides" if self.both_sides else "blue side (symmetric scenario)"
        lines = [
            f"{self.scenario}: round robin of {n} players, {self.episodes} episodes per pair "
            f"and side ({sides}), seed {self.seed}, actions: {self.action_mode}",
            f"{'rank':>4s}  {'player':{wname}s}  {'elo':>6s}  {'games':>5s}  {'W':>5s}  "
            f"{'D':>5s}  {'L':>5s}  {'score':>6s}",
        ]
        order = np.argsort(-self.elo, kind="stable")
        for rank, i in enumerate(order, 1):
            w, d = int(self.wins[i].sum()), int(self.draws[i].sum())
            g = int(self.games[i].sum())
            s = (w + 0.5 * d) / g if g else float("nan")
            lines.append(
                f"{rank:4d}  {names[i]:{wname}s}  {self.elo[i]:6.0f}  {g:5d}  {w:5d}  "
                f"{d:5d}  {g - w - d:5d}  {s:6.1%}"
            )
        lines.append("")
        lines.append("score of row vs column:")
        cols = [f"{k + 1:>6d}" for k in range(n)]
        lines.append(f"{'':{wname + 4}s}" + "".join(cols))
        sc = self.score()
        for r, i in enumerate(range(n)):
            cells = "".join("     -" if i == j else f"{sc[i, j]:6.0%}" for j in range(n))
            lines.append(f"{r + 1:2d}  {names[i]:{wname}s}" + cells)
        return "\n".join(lines)


def _short(name: str) -> str:
    p = Path(name)
    if len(name) <= 28 or not p.exists():
        return name
    return str(Path(*p.parts[-2:]))


def bradley_terry_elo(
    wins: np.ndarray, draws: np.ndarray, prior_draws: float = 1.0, iters: int = 10_000
) -> np.ndarray:
    """Elo-scale ratings (mean 1500) from (n, n) win and draw counts by the MM algorithm.

    Strength p maximises prod (p_i / (p_i + p_j))^s_ij with s_ij = wins + draws / 2
    (+ ``prior_draws`` / 2 for each pair that played). Players with no games get 1500.
    """
    wins = np.asarray(wins, np.float64)
    draws = np.asarray(draws, np.float64)
    n = len(wins)
    games = wins + wins.T + draws
    met = (games > 0) & ~np.eye(n, dtype=bool)
    g = games + prior_draws * met
    s = wins + 0.5 * draws + 0.5 * prior_draws * met
    active = met.any(1)
    p = np.ones(n)
    score = s.sum(1)
    for _ in range(iters):
        den = (g / (p[:, None] + p[None, :])).sum(1)
        new = np.where(active, score / np.where(den > 0, den, 1), 1.0)
        new = np.where(active, new / np.exp(np.log(new[active]).mean()), 1.0)
        if np.max(np.abs(np.log(new) - np.log(p))) < 1e-10:
            p = new
            break
        p = new
    r = ELO_SCALE * np.log10(p)
    if active.any():
        r = np.where(active, r - r[active].mean(), 0.0)
    return ELO_BASE + r


def round_robin(
    players: Sequence[str],
    scenario: Any,
    episodes: int,
    seed: int = 0,
    both_sides: bool | None = None,
    deterministic: bool = True,
    progress: Any = None,
    masked: bool | None = None,
) -> Tournament:
    """Play every pair of ``players`` (doctrine names or checkpoint folders) and rate them."""
    from cgfsim.envs._common import get_scenario

    names = [str(p) for p in players]
    if len(names) < 2:
        raise CgfsimError("a tournament needs at least two players")
    if len(set(names)) != len(names):
        raise CgfsimError(f"players must be distinct, got {names}")
    if episodes < 1:
        raise CgfsimError(f"episodes must be >= 1, got {episodes}")
    sc = get_scenario(scenario)  # bad input raises ScenarioError, a CgfsimError
    loaded = {n: load_player(n) for n in names}  # fail early on a bad name or checkpoint
    if both_sides is None:
        both_sides = not is_symmetric(sc)
    n = len(names)
    wins = np.zeros((n, n), np.int64)
    draws = np.zeros((n, n), np.int64)
    matches: list[dict[str, Any]] = []
    mode = "greedy" if deterministic else "sampled"

    def player(name: str) -> Any:
        kind, what = loaded[name]
        return what if kind == "doctrine" else name

    pairs = list(itertools.combinations(range(n), 2))
    for i, j in pairs:
        for side in ("blue", "red") if both_sides else ("blue",):
            res: EvalResult = evaluate(
                player(names[i]),
                sc,
                player(names[j]),
                episodes,
                side=side,
                seed=seed,
                deterministic=deterministic,
                masked=masked,
            )
            wins[i, j] += res.wins
            wins[j, i] += res.losses
            draws[i, j] += res.draws
            draws[j, i] += res.draws
            matches.append(
                {
                    "player": names[i],
                    "opponent": names[j],
                    "side": side,
                    "wins": res.wins,
                    "draws": res.draws,
                    "losses": res.losses,
                }
            )
            if progress is not None:
                progress(f"{names[i]} ({side}) vs {names[j]}: {res.wins}-{res.draws}-{res.losses}")
    elo = bradley_terry_elo(wins, draws)
    return Tournament(
        sc.name, names, episodes, bool(both_sides), seed, mode, wins, draws, elo, matches
    )
