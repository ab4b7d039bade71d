"""Calibration of a scenario: how strong its doctrines are, and how much room they leave.

A calibration answers, for one scenario, on held-out worlds (test-split keys of
:mod:`cgfsim.sim.splits`, and the held-out map pool of a random-map scenario):

- the doctrine **round robin**: win/draw/loss of every pair, per side, and a
  Bradley-Terry Elo rating (:func:`cgfsim.agents.tournament.round_robin`);
- the **mirror** score: each doctrine against itself, from blue's side (on a
  symmetric scenario about even; otherwise the side advantage);
- the **best-known score against each doctrine**: which player (doctrine,
  checkpoint or any extra player given) wins most often against it, with the
  Wilson 95% interval and the number of episodes.

Experiments set their thresholds from it (``load_calibration(name)``), never
from a number the game cannot reach. Everything is a pure function of the
scenario, the players, the episode count and the seed, so the JSON is
reproducible bit for bit (no wall times in it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.metrics import wilson_interval

if TYPE_CHECKING:
    from cgfsim.sim.scenario import Scenario

#: Engine/observation generation the calibration was produced with; bump when rules change.
CALIBRATION_FORMAT = 1


@dataclass
class Calibration:
    """A scenario's calibration table (see the module docstring)."""

    scenario: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_json(self) -> str:
        return json.dumps(self.data, indent=1, sort_keys=False) + "\n"

    def table(self) -> str:
        return format_table(self.data)


def _pct(x: float) -> str:
    return f"{x:6.1%}"


def format_table(d: dict[str, Any]) -> str:
    """The text ``cgfsim calibrate`` prints, from a calibration dict."""
    rr = d["round_robin"]
    sides = "both sides" if rr["both_sides"] else "blue side (symmetric scenario)"
    maps = f", {d['maps']}" if d.get("maps") else ""
    lines = [
        f"{d['scenario']} calibration: {len(rr['players'])} players, {d['episodes']} episodes "
        f"per pair and side ({sides}), {d['keys']} keys{maps}, actions: {rr['action_mode']}",
        f"time limit: {d['time_limit']}",
        "",
        "round robin (Bradley-Terry Elo; W/D/L over all games):",
        f"{'rank':>4s}  {'player':12s} {'elo':>6s} {'games':>6s} {'W':>6s} {'D':>6s} {'L':>6s}",
    ]
    for k, r in enumerate(rr["ranking"], 1):
        lines.append(
            f"{k:4d}  {r['player']:12s} {r['elo']:6.0f} {r['games']:6d} {r['wins']:6d} "
            f"{r['draws']:6d} {r['losses']:6d}"
        )
    players = rr["players"]
    lines += ["", "win rate of row vs column (both sides pooled):"]
    lines.append(f"{'':12s}" + "".join(f"{p[:7]:>8s}" for p in players))
    for i, p in enumerate(players):
        cells = []
        for j in range(len(players)):
            g = rr["wins"][i][j] + rr["wins"][j][i] + rr["draws"][i][j]
            cells.append("       -" if i == j or not g else f"{rr['wins'][i][j] / g:8.1%}")
        lines.append(f"{p[:12]:12s}" + "".join(cells))
    lines += ["", "mirror (both sides the same doctrine), blue's W/D/L:"]
    for m in d["mirror"]:
        n = m["episodes"]
        lines.append(
            f"  {m['player']:12s} win {_pct(m['wins'] / n)}  draw {_pct(m['draws'] / n)}  "
            f"loss {_pct(m['losses'] / n)}  ({n} episodes)"
        )
    lines += [
        "",
        "best known against each doctrine (win rate, Wilson 95% CI, episodes):",
        f"  {'opponent':12s} {'best player':16s} {'win':>7s}  {'95% CI':>17s} {'episodes':>8s}",
    ]
    for b in d["best_known"]:
        lines.append(
            f"  {b['opponent']:12s} {b['player'][:16]:16s} {_pct(b['win_rate'])}  "
            f"[{b['ci_low']:6.1%}, {b['ci_high']:6.1%}] {b['episodes']:8d}"
        )
    h = d["headroom"]
    lines += [
        "",
        f"best doctrine: {h['best_doctrine']} (Elo {h['best_elo']:.0f}); its lowest win rate "
        f"against another doctrine: {h['weakest_win_rate']:.1%} (95% lower bound "
        f"{h['weakest_ci_low']:.1%}) vs {h['weakest_opponent']}; beats random "
        f"{h['vs_random']:.1%}"
        if h.get("vs_random") is not None
        else "",
    ]
    return "\n".join(s for s in lines if s is not None)


def _time_limit_text(sc: Any) -> str:
    vp = sc.points
    if vp is None:
        return f"{sc.max_ticks} ticks, then a draw"
    from cgfsim.sim.units import UNIT_TYPES

    vals = ", ".join(f"{t.name} {v:g}" for t, v in zip(UNIT_TYPES, vp.unit_values, strict=True))
    extra = []
    if vp.objective_held:
        extra.append(f"objective held {vp.objective_held:g}")
    if vp.objective_tick:
        extra.append(f"objective tick {vp.objective_tick:g}")
    more = f"; {', '.join(extra)}" if extra else ""
    return (
        f"{sc.max_ticks} ticks, then victory points ({vp.attrition}: {vals}{more}; "
        f"draw margin {vp.draw_margin:g})"
    )


def play_scripts(
    scenario: Scenario,
    blue: Callable[..., Any],
    red: Callable[..., Any],
    episodes: int,
    seed: int,
    max_worlds: int = 1024,
) -> tuple[int, int, int]:
    """(blue wins, draws, red wins) of two engine-level scripts over ``episodes`` episodes.

    The counting rule and world keys of :func:`cgfsim.agents.evaluation.evaluate`
    (world i has key ``seed + i`` and counts its first episodes, an equal share
    each), so the results equal ``evaluate(blue_doctrine, ..., red_doctrine)``; but
    no observation is built, which scripts do not need (several times faster).
    """
    from cgfsim.agents.evaluation import _quotas
    from cgfsim.sim.engine import BLUE_WIN, DRAW, RED_WIN, Engine

    n = min(episodes, max_worlds)
    e = Engine(scenario, n, seed=seed)
    quota = _quotas(episodes, n)
    count = np.zeros(n, np.int64)
    tally = np.zeros(4, np.int64)  # by outcome code
    while (count < quota).any():
        res = e.step(np.concatenate([blue(e, 0), red(e, 1)], 1))
        if not res.done.any():
            continue
        idx = np.flatnonzero(res.done)
        take = idx[count[idx] < quota[idx]]
        tally += np.bincount(e.outcome[take], minlength=4)
        count[idx] += 1
        again = idx[count[idx] < quota[idx]]
        if again.size:
            m = np.zeros(n, bool)
            m[again] = True
            e.reset(m)
    return int(tally[BLUE_WIN]), int(tally[DRAW]), int(tally[RED_WIN])


def calibrate(
    scenario: Any,
    episodes: int = 1000,
    seed: int = 0,
    players: Sequence[str] | None = None,
    extra: Sequence[str] = (),
    probes: dict[str, Callable[..., Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Round robin, mirror and best-known scores of ``players`` (default: every doctrine).

    ``extra``: checkpoint folders that join the round robin. ``probes``: named
    engine-level scripts ``fn(engine, side) -> actions`` that play every doctrine
    (both sides) and count toward the best-known scores only. Worlds use the
    test-split keys of ``seed`` and, for random-map scenarios, the test map pool.
    """
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.tournament import bradley_terry_elo, is_symmetric
    from cgfsim.envs._common import get_scenario
    from cgfsim.sim.doctrines import DOCTRINES, get_doctrine
    from cgfsim.sim.splits import key_base, map_pool

    if episodes < 1:
        raise CgfsimError(f"episodes must be >= 1, got {episodes}")
    base = get_scenario(scenario)
    doctrines = list(players) if players is not None else list(DOCTRINES)
    for p in doctrines:
        if p not in DOCTRINES:
            raise CgfsimError(f"unknown doctrine {p!r}; expected one of {', '.join(DOCTRINES)}")
    ckpts = [str(x) for x in extra]
    for c in ckpts:
        if not Path(c).is_dir():
            raise CgfsimError(f"{c!r} is not a checkpoint folder")
    key = key_base("test", seed)
    sc: Scenario = map_pool(base, "test")  # type: ignore[assignment]
    say = progress or (lambda s: None)
    names = [*doctrines, *ckpts]
    both = not is_symmetric(sc)
    sides = ("blue", "red") if both else ("blue",)
    scripts: dict[str, Callable[..., Any]] = {d: get_doctrine(d) for d in doctrines}
    scripts.update(probes or {})

    def match(a: str, b: str, side: str) -> tuple[int, int, int]:
        """(wins, draws, losses) of ``a`` playing ``side`` against ``b``."""
        if a in scripts and b in scripts:
            fa, fb = scripts[a], scripts[b]
            bw, dr, rw = play_scripts(
                sc, *((fa, fb) if side == "blue" else (fb, fa)), episodes, key
            )
            return (bw, dr, rw) if side == "blue" else (rw, dr, bw)
        r = evaluate(a, sc, b, episodes, side=side, seed=key)
        return r.wins, r.draws, r.losses

    n = len(names)
    wins = np.zeros((n, n), np.int64)
    draws = np.zeros((n, n), np.int64)
    matches: list[dict[str, Any]] = []
    for i in range(n):
        for j in range(i + 1, n):
            for side in sides:
                w, dr, lo = match(names[i], names[j], side)
                wins[i, j] += w
                wins[j, i] += lo
                draws[i, j] += dr
                draws[j, i] += dr
                matches.append(
                    {"player": names[i], "opponent": names[j], "side": side,
                     "wins": w, "draws": dr, "losses": lo}
                )  # fmt: skip
                say(f"{names[i]} ({side}) vs {names[j]}: {w}-{dr}-{lo}")
    elo = bradley_terry_elo(wins, draws)
    t = _round_robin_dict(names, wins, draws, elo, episodes, both, matches)
    mirror = []
    for p in doctrines:
        w, dr, lo = match(p, p, "blue")
        mirror.append({"player": p, "episodes": episodes, "wins": w, "draws": dr, "losses": lo})
        say(f"mirror {p}: {w}-{dr}-{lo}")
    # Per ordered pair (player, opponent doctrine): wins, draws, games, pooled over sides.
    tally: dict[tuple[str, str], list[int]] = {}
    for m in matches:
        p_, o_, mw, md, ml = (
            str(m["player"]), str(m["opponent"]), int(m["wins"]), int(m["draws"]), int(m["losses"])
        )  # fmt: skip
        for me, other, w, l_ in ((p_, o_, mw, ml), (o_, p_, ml, mw)):
            a = tally.setdefault((me, other), [0, 0, 0])
            a[0] += w
            a[1] += md
            a[2] += w + md + l_
    probe_rows = []
    for pname in probes or {}:
        for d in doctrines:
            a = tally.setdefault((pname, d), [0, 0, 0])
            for side in ("blue", "red") if both else ("blue",):
                w, dr, lo = match(pname, d, side)
                a[0] += w
                a[1] += dr
                a[2] += w + dr + lo
                probe_rows.append(
                    {"player": pname, "opponent": d, "side": side,
                     "wins": w, "draws": dr, "losses": lo}
                )  # fmt: skip
            say(f"probe {pname} vs {d}: {a[0]}-{a[1]}-{a[2] - a[0] - a[1]}")
    best = []
    for d in doctrines:
        cands = [(w / g, me, w, dr, g) for (me, o), (w, dr, g) in tally.items() if o == d and g]
        cands.sort(key=lambda c: (-c[0], c[1]))
        rate, me, w, dr, g = cands[0]
        ci_lo, ci_hi = wilson_interval(int(w), int(g))
        best.append(
            {
                "opponent": d,
                "player": me,
                "win_rate": rate,
                "ci_low": ci_lo,
                "ci_high": ci_hi,
                "wins": w,
                "draws": dr,
                "episodes": g,
            }
        )
    headroom = _headroom(t, doctrines, tally)
    data = {
        "format": CALIBRATION_FORMAT,
        "scenario": sc.name,
        "scenario_sha256": hashlib.sha256(base.text.encode()).hexdigest() if base.text else None,
        "episodes": episodes,
        "seed": seed,
        "keys": f"test split (splits.key_base('test', {seed}) = {key})",
        "maps": "held-out test map pool" if base.random_map is not None else None,
        "time_limit": _time_limit_text(sc),
        "command": f"cgfsim calibrate {_stem(base)} --episodes {episodes} --seed {seed}"
        + (f" --probes {','.join(probes)}" if probes else ""),
        "round_robin": t,
        "mirror": mirror,
        "probes": probe_rows,
        "best_known": best,
        "headroom": headroom,
    }
    return Calibration(sc.name, data)


def _stem(sc: Any) -> str:
    """The name ``cgfsim calibrate`` takes for a scenario: its file stem or path."""
    src = Path(str(sc.source))
    from cgfsim.sim.scenario import builtin_dir

    try:
        if src.resolve().parent == builtin_dir().resolve():
            return src.stem
    except OSError:
        pass
    return str(src)


def _round_robin_dict(
    names: list[str],
    wins: np.ndarray,
    draws: np.ndarray,
    elo: np.ndarray,
    episodes: int,
    both: bool,
    matches: list[dict[str, Any]],
) -> dict[str, Any]:
    """The round robin in :meth:`cgfsim.agents.tournament.Tournament.to_dict`'s shape."""
    from cgfsim.agents.tournament import Tournament

    t = Tournament("", names, episodes, both, 0, "scripted", wins, draws, elo, matches)
    d = t.to_dict()
    d.pop("seed", None)
    d.pop("scenario", None)
    return d


def _headroom(
    t: dict[str, Any], doctrines: list[str], tally: dict[tuple[str, str], list[int]]
) -> dict[str, Any]:
    """The best doctrine by Elo and its weakest result against another doctrine."""
    elo = {r["player"]: r["elo"] for r in t["ranking"]}
    best = max(doctrines, key=lambda p: (elo[p], p))
    worst = None
    for d in doctrines:
        if d == best:
            continue
        w, _, g = tally[(best, d)]
        lo, _ = wilson_interval(w, g)
        row = (w / g, lo, d)
        if worst is None or row < worst:
            worst = row
    out: dict[str, Any] = {"best_doctrine": best, "best_elo": elo[best]}
    if worst is not None:
        out.update(weakest_win_rate=worst[0], weakest_ci_low=worst[1], weakest_opponent=worst[2])
    if "random" in doctrines and best != "random":
        w, _, g = tally[(best, "random")]
        out["vs_random"] = w / g
    else:
        out["vs_random"] = None
    return out


def calibration_path(name: str) -> Path:
    """Where a built-in scenario's calibration JSON lives (package data)."""
    stem = name.lower().replace("-", "_")
    from cgfsim.sim.scenario import builtin_names

    for b in builtin_names():
        if b.lower() == stem or b.replace("_", "") == stem.replace("_", ""):
            stem = b
    return Path(str(resources.files("cgfsim") / "scenarios" / "calibration" / f"{stem}.json"))


def load_calibration(scenario_name: str) -> dict[str, Any]:
    """The committed calibration of a built-in scenario (a dict as :meth:`Calibration.to_dict`)."""
    p = calibration_path(scenario_name)
    if not p.is_file():
        raise CgfsimError(
            f"no calibration for scenario {scenario_name!r} (looked for {p}); "
            f"produce one with: cgfsim calibrate {scenario_name} --json {p.name}"
        )
    data: dict[str, Any] = json.loads(p.read_text())
    return data
