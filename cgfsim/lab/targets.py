"""Reliability targets: win rates an agent must reliably reach, set from the game itself.

:func:`reliability_targets` is the one place targets come from. It takes every
candidate doctrine's record playing the sweep's side against the evaluation
opponent on held-out worlds, from one of two sources:

- ``calibration``: the scenario's committed calibration
  (:func:`cgfsim.agents.calibration.load_calibration`, ``cgfsim calibrate``): the
  round robin's per-side record of each doctrine against the opponent and the
  opponent's **mirror** match (the opponent playing itself: the side advantage),
  on test-split keys (and the held-out map pool of a random-map scenario). Used
  when the scenario ships one made from its current text and the opponent is one
  of its doctrines;
- ``doctrines``: a live round robin when it does not (a scenario file of one's
  own, a changed scenario, a checkpoint opponent): every candidate doctrine plays
  the agent's side against the opponent on the test worlds of seed 0, with as many
  episodes as each reported agent point (``targets.episodes``; greedy).

``source = "auto"`` (the default) takes the calibration where there is one and
states why not otherwise. The targets (Wilson 95% bounds):

- ``mirror``: the lower bound of the opponent's mirror score from the agent's side
  (how often the opponent doctrine beats itself): an agent that reaches it plays at
  least as well against the opponent as the opponent does, a first competence;
  left out when the mirror is itself the best record (then it is ``parity``);

and, from the best candidate (highest win rate; the opponent's mirror counts when
the opponent is a candidate):

- ``parity``: the best doctrine's lower bound. With equal episode counts an
  agent's lower bound reaches it exactly when the agent won at least as many test
  episodes as the doctrine did: it did as well as the doctrine;
- ``exceed``: the best doctrine's upper bound. An agent whose lower bound reaches
  it is better than the doctrine beyond both results' uncertainty.

Fixed targets from the sweep file are added as given. A target that no agent can
show with the sweep's test episodes (above the Wilson lower bound of N wins in N
episodes, e.g. when the best doctrine already wins every game) is marked
unreachable and reported as such, never silently kept. The best doctrine is also
the demonstrator for the learning-from-demonstration approaches.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.metrics import wilson_interval
from cgfsim.sim.splits import key_base


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    description: str
    reachable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_provable(episodes: int) -> float:
    """The highest lower bound any agent can show with ``episodes`` test episodes."""
    return wilson_interval(episodes, episodes)[0]


def find_calibration(scenario: Any, opponent: str) -> tuple[dict[str, Any] | None, str]:
    """``(calibration, "")`` when ``scenario`` (a Scenario or ScenarioRef: ``name`` and
    ``text``) ships a calibration of its current text whose round robin includes
    ``opponent``; else ``(None, why not)``."""
    from cgfsim.agents.calibration import load_calibration

    try:
        cal = load_calibration(scenario.name)
    except CgfsimError:
        return None, f"scenario {scenario.name} ships no calibration"
    text = getattr(scenario, "text", "") or ""
    if cal.get("scenario_sha256") != hashlib.sha256(text.encode("utf-8")).hexdigest():
        return None, (
            f"the calibration of {scenario.name} was made from another version of its text"
        )
    if opponent not in cal["round_robin"]["players"]:
        return None, f"the opponent {opponent!r} is not one of the calibration's doctrines"
    return cal, ""


def _record(
    doctrine: str, wins: int, draws: int, losses: int, mirror: bool = False
) -> dict[str, Any]:
    n = wins + draws + losses
    lo, hi = wilson_interval(wins, n)
    return {
        "doctrine": doctrine,
        "episodes": n,
        "win_rate": wins / n,
        "ci_low": lo,
        "ci_high": hi,
        "draw_rate": draws / n,
        "loss_rate": losses / n,
        "mirror": mirror,
    }


def calibration_records(
    cal: dict[str, Any], opponent: str, side: str, doctrines: list[str] | tuple[str, ...]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Each candidate doctrine's record as ``side`` against ``opponent`` in a calibration,
    and the opponent's mirror record from ``side`` (``None`` if absent).

    A symmetric scenario's calibration plays blue only; by symmetry that record holds
    for red too.
    """
    rr = cal["round_robin"]
    other = "red" if side == "blue" else "blue"
    both = bool(rr.get("both_sides", True))
    mirror = None
    for m in cal.get("mirror", []):
        if m["player"] == opponent:
            w, d, lo = m["wins"], m["draws"], m["losses"]
            mirror = _record(opponent, *((w, d, lo) if side == "blue" or not both else (lo, d, w)))
            mirror["mirror"] = True
    rows = []
    for doc in doctrines:
        if doc == opponent:
            if mirror is not None:
                rows.append(mirror)
            continue
        rec = None
        for m in rr["matches"]:
            mine = m["player"] == doc and m["opponent"] == opponent
            theirs = m["player"] == opponent and m["opponent"] == doc
            if mine and (m["side"] == side or not both):
                rec = (m["wins"], m["draws"], m["losses"])
            elif theirs and (m["side"] == other or not both):
                rec = (m["losses"], m["draws"], m["wins"])
            if rec is not None:
                break
        if rec is not None:
            rows.append(_record(doc, *rec))
    return rows, mirror


def live_records(
    scenario: Any,
    opponent: str,
    side: str,
    doctrines: list[str] | tuple[str, ...],
    episodes: int,
    n_envs: int | None = None,
) -> list[dict[str, Any]]:
    """Each candidate doctrine's record as ``side`` against ``opponent``, played now on the
    test worlds of seed 0 (held-out maps on a random-map scenario)."""
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.sim.splits import map_pool

    sc: Any = map_pool(scenario, "test")
    rows = []
    for d in doctrines:
        r = evaluate(d, sc, opponent, episodes, side=side, seed=key_base("test", 0), n_envs=n_envs)
        rows.append(_record(d, r.wins, r.draws, r.losses, mirror=d == opponent))
    return rows


def reliability_targets(
    scenario: Any,
    opponent: str,
    side: str,
    doctrines: list[str] | tuple[str, ...],
    episodes: int,
    test_episodes: int,
    fixed: dict[str, float] | None = None,
    n_envs: int | None = None,
    source: str = "auto",
) -> dict[str, Any]:
    """``{"targets": [...], "best_doctrine": name, "doctrines": [...], "source": ...}`` for
    one scenario; ``source`` is ``auto``, ``calibration`` or ``doctrines`` (module doc)."""
    cal, why = None, "targets.source = 'doctrines'"
    if source in ("auto", "calibration"):
        cal, why = find_calibration(scenario, opponent)
        if cal is None and source == "calibration":
            raise CgfsimError(f"targets.source = 'calibration': {why}")
    mirror = None
    if cal is not None:
        rows, mirror = calibration_records(cal, opponent, side, doctrines)
        if not rows:
            raise CgfsimError(
                f"the calibration of {scenario.name} has no record of {', '.join(doctrines)} "
                f"against {opponent}"
            )
        origin = {
            "source": "calibration",
            "source_note": f"the calibration shipped with {scenario.name} (`{cal.get('command')}`)",
            "episodes": int(cal["episodes"]),
            "worlds": str(cal["keys"]) + (f", {cal['maps']}" if cal.get("maps") else ""),
        }
    else:
        rows = live_records(scenario, opponent, side, doctrines, episodes, n_envs)
        mirror = next((r for r in rows if r["mirror"]), None)
        origin = {
            "source": "doctrines",
            "source_note": f"a live round robin ({why})",
            "episodes": episodes,
            "worlds": "test split, seed 0 (the agents' seed-0 test worlds)"
            + (", held-out test maps" if getattr(scenario, "random_map", None) else ""),
        }
    rows.sort(key=lambda x: (-x["win_rate"], x["doctrine"]))
    best = rows[0]
    ceiling = max_provable(test_episodes)
    who = best["doctrine"] + (" (the opponent's mirror)" if best["mirror"] else "")
    targets = [
        Target(
            "parity",
            best["ci_low"],
            f"parity with {who} (its win rate {best['win_rate']:.3f}, "
            f"lower bound {best['ci_low']:.3f})",
        ),
        Target(
            "exceed",
            best["ci_high"],
            f"exceed {who} (its upper bound {best['ci_high']:.3f})",
        ),
    ]
    if mirror is not None and not best["mirror"]:
        targets.insert(
            0,
            Target(
                "mirror",
                mirror["ci_low"],
                f"as good as {opponent} against itself (its mirror win rate "
                f"{mirror['win_rate']:.3f} as {side}, lower bound {mirror['ci_low']:.3f})",
            ),
        )
    targets += [Target(k, float(v), f"fixed target {v:.3f}") for k, v in (fixed or {}).items()]
    targets = [Target(t.name, t.value, t.description, t.value <= ceiling) for t in targets]
    return {
        **origin,
        "opponent": opponent,
        "side": side,
        "max_provable": ceiling,
        "best_doctrine": best["doctrine"],
        "mirror": mirror,
        "doctrines": rows,
        "targets": [t.to_dict() for t in targets],
    }


__all__ = [
    "Target",
    "calibration_records",
    "find_calibration",
    "live_records",
    "max_provable",
    "reliability_targets",
]
