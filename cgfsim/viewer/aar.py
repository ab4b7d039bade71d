"""The after-action review of one recorded episode, as plain data for the viewer page.

Everything here is computed from the replay's arrays (ground truth), once, in
Python, so the page only displays it and tests can check it against the
replay without a browser:

- the outcome and how it came about (annihilation, an objective held, the
  time limit);
- per side and unit type: units fielded and lost, kills, shots, hits, damage
  dealt and taken; the exchange ratio (enemy losses per own loss);
- time to first contact (the first tick a side sees an enemy) and first shot;
- each objective's control timeline;
- a timeline of events (first sighting per side, first shot, each kill,
  objective control gained and captured, the end), each with the frame the
  page jumps to when it is clicked.

A kill is credited to the unit whose shot in the fatal tick did the most
damage (the lowest slot on a tie), so each side's kills add up to the other
side's losses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgfsim.sim.render import OUTCOME_TEXT, SIDE_NAMES
from cgfsim.sim.replay import Replay
from cgfsim.sim.units import UNIT_TYPES


def unit_tag(rep: Replay, slot: int) -> str:
    """``B0`` / ``R3``: side letter and slot within the side."""
    nb = rep.scenario.n_slots[0]
    return f"B{slot}" if slot < nb else f"R{slot - nb}"


def _ratio(kills: int, losses: int) -> tuple[float | None, str]:
    """Exchange ratio as (number or None, text): enemy losses per own loss."""
    if losses:
        return kills / losses, f"{kills / losses:.2f}"
    return (None, "inf") if kills else (None, "n/a")


def _how(rep: Replay, tr: dict[str, np.ndarray]) -> str:
    """One line: who won, how and when."""
    sc = rep.scenario
    last, tick = -1, int(tr["tick"][-1])
    if not tr["done"][last]:
        return f"incomplete: the recording ended at tick {tick} while the battle ran"
    outcome = int(tr["outcome"][last])
    alive = tr["alive"][last] & sc.present
    left = [int(alive[rep.side_of_slot == s].sum()) for s in (0, 1)]
    text = OUTCOME_TEXT[outcome]
    if sc.annihilation and min(left) == 0:
        return f"{text} by annihilation at tick {tick}"
    for k, obj in enumerate(sc.objectives):
        for s in (0, 1):
            if outcome == 1 + s and int(tr["hold"][last, k, s]) >= obj.hold_ticks:
                return f"{text}: held objective {obj.name} for {obj.hold_ticks} ticks (tick {tick})"
    if tick >= sc.max_ticks:
        return f"{text} at the time limit ({sc.max_ticks} ticks)"
    return f"{text} at tick {tick}"


def _kill_rows(rep: Replay, w: int, tr: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each kill: frame, tick, victim, credited killer and every unit that hit it that tick."""
    ticks = tr["tick"]
    rows = []
    for tick, killers, victim in rep.kills(w):
        f = int(np.flatnonzero(ticks == tick)[0])
        dmg = [float(tr["shot_damage"][f, k]) for k in killers]
        credited = killers[int(np.argmax(dmg))] if killers else -1
        rows.append({"f": f, "t": int(tick), "victim": int(victim), "by": credited, "all": killers})
    return rows


def _sightings(rep: Replay, tr: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """First contact events: the first frame each side sees an enemy, and whom."""
    out = []
    for s in (0, 1):
        enemy = rep.side_of_slot != s
        seen = tr["visible"][:, enemy] & tr["alive"][:, enemy]
        frames = np.flatnonzero(seen.any(1))
        if frames.size:
            f = int(frames[0])
            who = np.flatnonzero(enemy)[seen[f]].tolist()
            names = ", ".join(rep.unit_name(u) for u in who[:3]) + (", ..." if len(who) > 3 else "")
            out.append(
                {
                    "f": f,
                    "t": int(tr["tick"][f]),
                    "kind": "contact",
                    "side": s,
                    "units": who,
                    "text": f"{SIDE_NAMES[s]} first sees {names}",
                }
            )
    return out


def _objective_runs(
    rep: Replay, tr: dict[str, np.ndarray], k: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Control runs of objective ``k`` and its events (control gained, captured)."""
    obj = rep.scenario.objectives[k]
    ctrl, ticks, hold = tr["controller"][:, k], tr["tick"], tr["hold"][:, k]
    starts = np.flatnonzero(np.r_[True, ctrl[1:] != ctrl[:-1]])
    ends = np.r_[starts[1:] - 1, ctrl.size - 1]
    runs, events = [], []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        c = int(ctrl[a])
        held = int(hold[a : b + 1, c].max()) if c >= 0 else 0
        runs.append({"f0": a, "f1": b, "t0": int(ticks[a]), "t1": int(ticks[b]), "who": c})
        runs[-1]["held"] = held
        if c >= 0:
            events.append(
                {
                    "f": a,
                    "t": int(ticks[a]),
                    "kind": "objective",
                    "side": c,
                    "text": f"{SIDE_NAMES[c]} takes control of {obj.name}",
                }
            )
            full = np.flatnonzero(hold[a : b + 1, c] >= obj.hold_ticks)
            if obj.capturable_by[c] and full.size:
                f = a + int(full[0])
                events.append(
                    {
                        "f": f,
                        "t": int(ticks[f]),
                        "kind": "objective",
                        "side": c,
                        "text": f"{SIDE_NAMES[c]} captures {obj.name} "
                        f"(held {obj.hold_ticks} ticks)",
                    }
                )
    return runs, events


def after_action(rep: Replay, w: int) -> dict[str, Any]:
    """The after-action review of track ``w`` (see the module doc); JSON-safe."""
    sc, tr = rep.scenario, rep.track(w)
    side, utype = rep.side_of_slot, rep.unit_type
    present, alive_end = sc.present, tr["alive"][-1]
    kills = _kill_rows(rep, w, tr)
    shots = tr["shot_target"][1:] >= 0
    hits = tr["shot_hit"][1:]
    dealt = tr["shot_damage"][1:]
    taken = np.zeros(sc.n_units, np.float64)
    tgt = tr["shot_target"][1:]
    np.add.at(taken, tgt[shots], dealt[shots])
    credit = np.zeros(sc.n_units, np.int64)
    for k in kills:
        if k["by"] >= 0:
            credit[k["by"]] += 1

    rows, per_side = [], []
    for s in (0, 1):
        mine = present & (side == s)
        for t, ut in enumerate(UNIT_TYPES):
            m = mine & (utype == t)
            if not m.any():
                continue
            rows.append(
                {
                    "side": s,
                    "type": ut.name,
                    "fielded": int(m.sum()),
                    "lost": int((m & ~alive_end).sum()),
                    "kills": int(credit[m].sum()),
                    "shots": int(shots[:, m].sum()),
                    "hits": int(hits[:, m].sum()),
                    "dealt": round(float(dealt[:, m].sum()), 2),
                    "taken": round(float(taken[m].sum()), 2),
                }
            )
        lost = int((mine & ~alive_end).sum())
        enemy_lost = int((present & (side != s) & ~alive_end).sum())
        ratio, ratio_text = _ratio(enemy_lost, lost)
        per_side.append(
            {
                "side": s,
                "fielded": int(mine.sum()),
                "lost": lost,
                "kills": int(credit[side == s].sum()),
                "exchange": ratio,
                "exchange_text": ratio_text,
            }
        )

    events = _sightings(rep, tr)
    contact = min((e["t"] for e in events), default=None)
    fired = np.flatnonzero(shots.any(1))
    first_shot = None
    if fired.size:
        f = int(fired[0]) + 1
        by = [s for s in (0, 1) if shots[f - 1, side == s].any()]
        first_shot = int(tr["tick"][f])
        who = " and ".join(SIDE_NAMES[s] for s in by)
        events.append(
            {"f": f, "t": first_shot, "kind": "shot", "side": by[0], "text": f"first shot ({who})"}
        )
    for k in kills:
        v, by = k["victim"], k["by"]
        killer = rep.unit_name(by) if by >= 0 else "unknown"
        more = len(k["all"]) - 1
        text = f"{rep.unit_name(v)} destroyed by {killer}" + (f" (+{more})" if more > 0 else "")
        events.append(
            {"f": k["f"], "t": k["t"], "kind": "kill", "side": int(side[v]), "text": text}
        )
    objectives = []
    for j, obj in enumerate(sc.objectives):
        runs, obj_events = _objective_runs(rep, tr, j)
        objectives.append({"name": obj.name, "hold": obj.hold_ticks, "runs": runs})
        events += obj_events
    how = _how(rep, tr)
    last = len(tr["tick"]) - 1
    events.append({"f": last, "t": int(tr["tick"][-1]), "kind": "end", "side": -1, "text": how})
    order = {"contact": 0, "shot": 1, "kill": 2, "objective": 3, "end": 4}
    events.sort(key=lambda e: (e["f"], order[e["kind"]]))
    return {
        "outcome": int(tr["outcome"][-1]),
        "how": how,
        "ticks": int(tr["tick"][-1]),
        "complete": bool(tr["done"][-1]),
        "sides": per_side,
        "types": rows,
        "first_contact": contact,
        "first_shot": first_shot,
        "kills": kills,
        "objectives": objectives,
        "events": events,
    }
