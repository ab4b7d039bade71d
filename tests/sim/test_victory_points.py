"""Victory points decide the time limit: hand-made end states with known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cgfsim.sim.engine import BLUE_WIN, DRAW, RED_WIN, Engine
from cgfsim.sim.errors import ScenarioError
from cgfsim.sim.scenario import load_scenario_text

from .helpers import make_scenario, scenario_text, step

# Blue west, red east, a wall between: nobody sees anybody, so only our edits change the state.
MAP = """
......#......
......#......
......#......
......#......
"""
BLUE = [("infantry", 0, 0), ("armour", 1, 0), ("infantry", 0, 3)]
RED = [("infantry", 12, 0), ("armour", 11, 0), ("artillery", 12, 3)]
ZONES = {"west": [0, 1, 1, 2], "east": [11, 1, 12, 2]}


def _engine(points: dict[str, Any] | None, max_ticks: int = 4, **kw: Any) -> Engine:
    sc = make_scenario(
        MAP, BLUE, RED, combat="expected", max_ticks=max_ticks, points=points, zones=ZONES, **kw
    )
    return Engine(sc, 1, seed=0)


def _kill(e: Engine, slot: int, frac: float = 1.0) -> None:
    """Take ``frac`` of a unit's hit points; all of them destroys it."""
    e.hp[0, slot] = e.max_hp[slot] * (1 - frac)
    e.alive[0, slot] = frac < 1


def _play_out(e: Engine) -> Any:
    res = None
    while not e.done[0]:
        res = step(e)
    return res


def test_time_limit_draw_ignores_attrition() -> None:
    e = _engine(None)
    _kill(e, e.nb + 1)  # red's armour
    res = _play_out(e)
    assert e.outcome[0] == DRAW and res.truncated[0] and not res.terminated[0]
    assert e.victory_points().tolist() == [[0.0, 0.0]]


def test_attrition_by_unit_value_decides_the_time_limit() -> None:
    e = _engine({"draw_margin": 1.5})  # default values: infantry 1, armour 3, artillery 2
    _kill(e, e.nb + 1)  # blue destroyed red's armour: 3
    _kill(e, 0)  # red destroyed a blue infantry: 1
    assert e.attrition_points().tolist() == [[3.0, 1.0]]
    res = _play_out(e)
    assert res.truncated[0] and not res.terminated[0]  # still the time limit
    assert e.outcome[0] == BLUE_WIN  # lead 2 > margin 1.5


@pytest.mark.parametrize(("margin", "outcome"), [(1.99, BLUE_WIN), (2.0, DRAW), (2.5, DRAW)])
def test_the_lead_must_exceed_the_margin(margin: float, outcome: int) -> None:
    e = _engine({"draw_margin": margin})
    _kill(e, e.nb + 1)
    _kill(e, 0)
    _play_out(e)
    assert e.outcome[0] == outcome


def test_red_wins_on_points_too_and_gets_the_win_reward() -> None:
    e = _engine({"artillery": 5, "armour": 0}, rewards={"win": 7.0, "defeat": -4.0})
    _kill(e, 1)  # red destroyed blue's armour, worth 0 here
    _kill(e, 2)  # and an infantry: 1
    _kill(e, e.nb + 2, 0.5)  # blue only damaged the artillery: destroyed counts, damage not
    res = _play_out(e)
    assert e.outcome[0] == RED_WIN
    assert res.rewards[0].tolist() == [-4.0, 7.0]


def test_damage_attrition_counts_fractions() -> None:
    e = _engine({"attrition": "damage", "draw_margin": 0.2})
    _kill(e, e.nb + 1, 0.5)  # half of red's armour: 1.5
    _kill(e, 1, 0.4)  # 40% of blue's armour: 1.2
    np.testing.assert_allclose(e.attrition_points(), [[1.5, 1.2]])
    _play_out(e)
    assert e.outcome[0] == BLUE_WIN  # lead 0.3 > 0.2


def test_objectives_held_at_the_end_and_per_tick() -> None:
    obj = [{"zone": "east", "hold_ticks": 99}, {"zone": "west", "hold_ticks": 99}]
    e = _engine({"objective_held": 4, "objective_tick": 0.5}, max_ticks=6, objectives=obj)
    # blue's infantry 2 steps north into the west zone and controls it from tick 1 on;
    # nobody stands in the east zone.
    step(e, blue=[0, 0, 1])
    assert e.controller[0].tolist() == [-1, 0]
    _play_out(e)
    ticks_held = 6  # ticks 1..6
    assert e.vp_tick[0].tolist() == [0.5 * ticks_held, 0.0]
    assert e.victory_points()[0].tolist() == [4 + 0.5 * ticks_held, 0.0]
    assert e.outcome[0] == BLUE_WIN
    assert e.vp_tick_seen[0].tolist() == [0.0, 0.0]  # red never saw blue in the zone


def test_annihilation_still_ends_the_game_first() -> None:
    e = _engine({"draw_margin": 0})
    for s in range(e.nb, e.U):
        _kill(e, s)
    res = step(e)
    assert res.terminated[0] and not res.truncated[0] and e.outcome[0] == BLUE_WIN


def test_max_points_and_defaults() -> None:
    e = _engine({})
    sc = e.scenario
    assert sc.time_limit == "points" and sc.points is not None
    assert sc.points.unit_values == (1.0, 3.0, 1.0, 2.0)
    assert sc.max_points(0) == 1 + 3 + 2 and sc.max_points(1) == 1 + 3 + 1


BAD = [
    ({"infantry": -1}, "victory.points.infantry", "0..1000"),
    ({"armour": 1e9}, "victory.points.armour", "0..1000"),
    ({"armour": "many"}, "victory.points.armour", "integer or float"),
    ({"tank": 1}, "victory.points.tank", "unknown field"),
    ({"attrition": "hits"}, "victory.points.attrition", "'destroyed' or 'damage'"),
    ({"draw_margin": 6}, "victory.points.draw_margin", "every time-out would be a draw"),
    ({"draw_margin": -1}, "victory.points.draw_margin", "0..1000"),
    ({"objective_held": 1}, "victory.points.objective_held", "the scenario has none"),
]


@pytest.mark.parametrize(("points", "field", "message"), BAD)
def test_bad_victory_points_give_one_clear_message(
    points: dict[str, Any], field: str, message: str
) -> None:
    text = scenario_text(MAP, BLUE, RED, points=points)
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "vp.toml")
    msg = str(info.value)
    assert msg.startswith("vp.toml:") and field in msg and message in msg
    assert "\n" not in msg


def test_time_limit_values_are_checked() -> None:
    text = scenario_text(MAP, BLUE, RED).replace("[victory]", '[victory]\ntime_limit = "score"')
    with pytest.raises(ScenarioError, match=r"victory.time_limit: expected 'draw' or 'points'"):
        load_scenario_text(text, "vp.toml")
    text = scenario_text(MAP, BLUE, RED) + "[victory.points]\ninfantry = 2\n"
    with pytest.raises(ScenarioError, match=r"victory.points: given, but .* is 'draw'"):
        load_scenario_text(text, "vp.toml")
