"""Known-answer tests of the engine's rules on tiny hand-made maps.

Coordinates in scenario specs are (x, y) = (column, row). In ``art`` maps the
unit letters (I infantry, A armour, R recon, G artillery; upper case blue,
lower case red) stand on open ground and take slots in row-major order, blue
slots first; a red unit's global slot is ``e.nb + j``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from cgfsim.sim import actions as A
from cgfsim.sim import terrain as T
from cgfsim.sim import units as U
from cgfsim.sim.engine import BLUE_WIN, DRAW, RED_WIN, RUNNING, Engine
from cgfsim.sim.scenario import Scenario
from tests.sim.helpers import UnitSpec, actions, art, engine, make_scenario, pos, snapshot, step

# Values copied from the tables in the units/terrain docstrings, so the tests
# check the code against its documentation rather than against itself.
# name: (hp, speed, sight, range, hit_near, hit_far, dmg_soft, dmg_hard, ammo, reload)
DOC_TYPES = {
    "infantry": (10, 1, 6, 4, 0.60, 0.30, 3, 1, 40, 1),
    "armour": (30, 2, 5, 6, 0.70, 0.35, 5, 10, 24, 2),
    "recon": (8, 2, 9, 3, 0.50, 0.25, 2, 0, 30, 1),
    "artillery": (8, 1, 4, 10, 0.35, 0.25, 8, 5, 12, 3),
}
DOC_COVER_FACTOR = (1.0, 0.7, 0.4)
TYPES = list(DOC_TYPES)


def doc_threshold(shooter: str, d2: int, cover: int) -> int:
    """Hit threshold out of 65536 as the units docstring defines it."""
    _, _, _, rng, near, far, *_ = DOC_TYPES[shooter]
    if d2 > rng * rng:
        return 0
    p = near + (far - near) * min(d2 / (rng * rng), 1.0)
    return round(p * DOC_COVER_FACTOR[cover] * 65536)


def doc_damage(shooter: str, target: str) -> int:
    soft, hard = DOC_TYPES[shooter][6:8]
    return hard if target == "armour" else soft


def test_unit_tables_match_docs() -> None:
    assert tuple(U.COVER_FACTOR) == DOC_COVER_FACTOR
    assert T.CONCEAL_D2 == 4
    table = U.hit_table(200)
    for i, t in enumerate(U.UNIT_TYPES):
        hp, speed, sight, rng, _near, _far, _soft, _hard, ammo, reload = DOC_TYPES[t.name]
        assert (U.HP[i], U.SPEED[i], U.SIGHT2[i], U.RANGE2[i]) == (hp, speed, sight**2, rng**2)
        assert (U.AMMO[i], U.RELOAD[i]) == (ammo, reload)
        for j, u in enumerate(U.UNIT_TYPES):
            assert U.DAMAGE[i, j] == doc_damage(t.name, u.name)
        for c in range(3):
            for d2 in range(200):
                assert table[i, c, d2] == doc_threshold(t.name, d2, c), (t.name, c, d2)


# --------------------------------------------------------------------------- direct fire


@pytest.mark.parametrize("shooter", TYPES)
@pytest.mark.parametrize("target", TYPES)
@pytest.mark.parametrize("fire", [A.FIRE_NEAREST, A.FIRE_AT])
def test_sure_hit_takes_exactly_the_damage(shooter: str, target: str, fire: int) -> None:
    sc = make_scenario("......\n......", [(shooter, 0, 0)], [(target, 2, 0)])  # d2 = 4
    e = engine(sc, sure_hits=True)
    r = step(e, [fire], [A.STAY])
    dmg = doc_damage(shooter, target)
    assert e.hp[0, 1] == DOC_TYPES[target][0] - dmg
    assert e.hp[0, 0] == DOC_TYPES[shooter][0]
    assert e.shot_target[0].tolist() == [1, -1]
    assert e.shot_hit[0].tolist() == [True, False]
    assert e.shot_damage[0, 0] == dmg
    assert e.ammo[0, 0] == DOC_TYPES[shooter][8] - 1
    assert e.stat_shots[0].tolist() == [1, 0]
    assert e.stat_hits[0].tolist() == [1, 0]
    assert e.stat_damage[0].tolist() == [dmg, 0]
    killed = dmg >= DOC_TYPES[target][0]
    assert e.alive[0, 1] != killed and r.done[0] == killed


@pytest.mark.parametrize("shooter", TYPES)
@pytest.mark.parametrize("target", TYPES)
@pytest.mark.parametrize("dx", [0, 1, 2])
def test_expected_damage_is_p_times_damage(shooter: str, target: str, dx: int) -> None:
    # Target one row down and dx columns across: d2 = 1 + dx^2, all within every range.
    sc = make_scenario("......\n......", [(shooter, 0, 0)], [(target, dx, 1)], combat="expected")
    e = engine(sc)
    step(e, [A.FIRE_NEAREST], [A.STAY])
    d2 = 1 + dx * dx
    p = U.hit_table(d2)[U.TYPE_INDEX[shooter], 0, d2]
    assert p == doc_threshold(shooter, d2, 0)
    dmg = doc_damage(shooter, target)
    assert e.hp[0, 1] == DOC_TYPES[target][0] - dmg * p / U.P_ONE  # exact: p / 2^16
    assert e.shot_damage[0, 0] == dmg * p / U.P_ONE
    assert e.shot_hit[0, 0] == (p > 0)


def test_engine_combat_argument_overrides_scenario() -> None:
    sc = art("I..i\n....", combat="stochastic")
    e = engine(sc, combat="expected")
    step(e, [A.FIRE_NEAREST])
    assert e.hp[0, 1] == 10 - 3 * doc_threshold("infantry", 9, 0) / 65536
    with pytest.raises(ValueError):
        engine(sc, combat="lanchester")


def test_stochastic_hits_follow_the_threshold() -> None:
    # 4096 independent worlds, one shot each: the hit rate is p within 5 sigma.
    sc = art("I...i\n.....")  # d2 = 16, infantry at its full range: p = 0.30
    e = engine(sc, batch=4096, seed=123)
    step(e, [A.FIRE_NEAREST])
    p = doc_threshold("infantry", 16, 0) / 65536
    rate = e.shot_hit[:, 0].mean()
    assert e.shot_target[:, 0].tolist() == [1] * 4096
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / 4096)
    assert np.array_equal(e.hp[:, 1], np.where(e.shot_hit[:, 0], 7, 10))


@pytest.mark.parametrize(
    ("picture", "fires"),
    [
        ("I...i", True),  # d2 = 16: exactly at infantry range 4
        ("I....i", False),  # d2 = 25: seen (sight 6) but out of range
        ("I.#.i", False),  # obstacle between
        ("I.T.i", False),  # forest between
        ("I.~.i", True),  # water does not block sight
        ("I.%.i", True),  # nor does rough
    ],
)
def test_range_and_line_of_sight_gate_direct_fire(picture: str, fires: bool) -> None:
    e = engine(art(picture + "\n" + "." * len(picture)), sure_hits=True)
    for a in (A.FIRE_NEAREST, A.FIRE_AT):
        e.reset()
        step(e, [a])
        assert (e.hp[0, 1] == 7) == fires
        assert (e.shot_target[0, 0] == 1) == fires
        assert e.ammo[0, 0] == 40 - fires


def test_obstacle_and_forest_block_line_of_sight() -> None:
    for mid in "#T":
        e = engine(art(f"I.{mid}.i\n....."))
        assert not e.los[0, 0, 0]
        assert not e.visible[0].any()
    e = engine(art("I...i\n....."))
    assert e.los[0, 0, 0] and e.visible[0].all()


def test_direct_fire_needs_the_shooters_own_line_of_sight() -> None:
    # The recon spots i (so blue sees it), but the infantry's own line is blocked.
    e = engine(art("I.#.i\n.....\n..R.."), sure_hits=True)
    assert e.visible[0, 2]  # red slot seen by blue
    assert not e.los[0, 0, 0] and e.los[0, 1, 0]
    step(e, [A.FIRE_NEAREST, A.STAY])
    assert e.hp[0, 2] == 10 and e.shot_target[0, 0] == -1


@pytest.mark.parametrize(
    ("blue_at", "seen"),
    [((3, 0), True), ((4, 1), True), ((2, 0), False), ((3, 1), False), ((3, 2), False)],
)
def test_unit_in_forest_is_concealed_beyond_conceal_d2(
    blue_at: tuple[int, int], seen: bool
) -> None:
    # Red infantry in a forest cell at (5, 0), blue infantry on open ground.
    sc = make_scenario(".....T\n......\n......", [("infantry", *blue_at)], [("infantry", 5, 0)])
    e = engine(sc, sure_hits=True)
    d2 = (blue_at[0] - 5) ** 2 + blue_at[1] ** 2
    assert (d2 <= T.CONCEAL_D2) == seen
    assert e.los[0, 0, 0]  # the line is clear: only concealment hides it
    assert e.visible[0, 1] == seen
    assert e.visible[0, 0]  # the concealed unit sees out
    step(e, [A.FIRE_NEAREST])
    assert (e.hp[0, 1] < 10) == seen


def test_forest_blocks_sight_beyond_it_but_not_into_it() -> None:
    # i stands two forest cells deep: the first forest cell blocks the view.
    sc = make_scenario("..TT..\n......", [("infantry", 1, 0)], [("infantry", 3, 0)])
    e = engine(sc)
    assert not e.los[0, 0, 0] and not e.visible[0].any()
    sc = make_scenario("..TT..\n......", [("infantry", 1, 0)], [("infantry", 2, 0)])
    e = engine(sc)
    assert e.los[0, 0, 0] and e.visible[0].all()


def test_fire_nearest_takes_the_nearest_target_then_the_lower_slot() -> None:
    e = engine(art("I..i\n....\n.i.."), sure_hits=True)  # red 0 at d2 = 9, red 1 at d2 = 5
    step(e, [A.FIRE_NEAREST])
    assert e.shot_target[0, 0] == 2
    e = engine(art("I.i.\n....\ni..."), sure_hits=True)  # both at d2 = 4
    step(e, [A.FIRE_NEAREST])
    assert e.shot_target[0, 0] == 1
    step(e, [A.FIRE_AT + 1])  # an explicit target overrides distance
    assert e.shot_target[0, 0] == 2


def test_fog_of_war_remembers_where_an_enemy_was_last_seen() -> None:
    # Red armour drives east out of the infantry's sight (6 cells).
    e = engine(art("I....a....\n.........."))
    assert e.visible[0, 1] and e.last_tick[0, 1] == 0 and e.last_x[0, 1] == 5
    assert e.visible[0, 0] and e.last_x[0, 0] == 0  # red sees blue too (armour sight 5)
    step(e, [], [A.EAST])  # x = 6: d2 = 36, still seen
    assert e.visible[0, 1] and e.last_tick[0, 1] == 1 and e.last_x[0, 1] == 6
    step(e, [], [A.EAST])  # x = 7: gone
    assert not e.visible[0, 1]
    assert (e.last_y[0, 1], e.last_x[0, 1], e.last_tick[0, 1]) == (0, 6, 1)
    assert e.x[0, 1] == 7
    step(e, [A.FIRE_NEAREST])  # cannot fire at what the side does not see
    assert e.shot_target[0, 0] == -1


# --------------------------------------------------------------------------- indirect fire


def test_artillery_hits_a_target_seen_by_a_spotter() -> None:
    e = engine(art("G...#...i\n.........\n......R.."), sure_hits=True)
    assert not e.los[0, 0, 0] and e.visible[0, 2]
    step(e, [A.FIRE_NEAREST, A.STAY])
    assert e.shot_target[0, 0] == 2
    assert e.hp[0, 2] == 10 - 8


def test_artillery_cannot_fire_at_an_unseen_target() -> None:
    for picture in ("G...#...i\n.........", "G.......i\n........."):  # blocked; beyond sight 4
        e = engine(art(picture), sure_hits=True)
        assert not e.visible[0, 1]
        for a in (A.FIRE_NEAREST, A.FIRE_AT):
            step(e, [a])
            assert e.shot_target[0, 0] == -1 and e.hp[0, 1] == 10 and e.ammo[0, 0] == 12


def test_artillery_respects_its_range() -> None:
    # Spotted at d2 = 121 > 100: out of range even for indirect fire.
    e = engine(art("G..........i\n...........R"), sure_hits=True)
    assert e.visible[0, 2]
    step(e, [A.FIRE_NEAREST])
    assert e.shot_target[0, 0] == -1


# --------------------------------------------------------------------------- cover


@pytest.mark.parametrize(("cell", "terrain_cover"), [(".", 0), ("%", 1), ("T", 2)])
@pytest.mark.parametrize("take_cover", [False, True])
def test_cover_scales_the_hit_threshold(cell: str, terrain_cover: int, take_cover: bool) -> None:
    sc = make_scenario(
        f"..{cell}...\n......", [("armour", 0, 0)], [("infantry", 2, 0)], combat="expected"
    )
    e = engine(sc)
    step(e, [A.STAY], [A.TAKE_COVER if take_cover else A.STAY])
    assert e.covered[0, 1] == take_cover
    step(e, [A.FIRE_NEAREST], [A.STAY])  # the cover taken last tick holds while staying
    cover = min(terrain_cover + take_cover, 2)
    p = doc_threshold("armour", 4, cover)  # round(p_near_far * COVER_FACTOR[cover] * 65536)
    assert p < doc_threshold("armour", 4, 0) or cover == 0
    assert e.hp[0, 1] == 10 - 5 * p / 65536


def test_take_cover_lasts_until_the_unit_moves_or_fires() -> None:
    e = engine(art("I...\n....\n..i."))
    step(e, [A.TAKE_COVER], [A.TAKE_COVER])
    assert e.covered[0].tolist() == [True, True]
    step(e, [A.STAY], [A.STAY])
    assert e.covered[0].tolist() == [True, True]
    step(e, [A.EAST], [A.FIRE_NEAREST])
    assert e.covered[0].tolist() == [False, False]
    assert e.shot_target[0, 1] == 0


def test_take_cover_holds_fire() -> None:
    e = engine(art("I..i\n...."), sure_hits=True)
    step(e, [A.TAKE_COVER], [A.TAKE_COVER])
    assert e.shot_target[0].tolist() == [-1, -1] and e.hp[0].tolist() == [10, 10]


# --------------------------------------------------------------------------- movement


def _moves(picture: str, blue: list[int], red: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Positions after one tick. An extra bottom row is added, with a red infantry at its end
    when none is drawn (that unit is left out of the result)."""
    added = picture == picture.upper()
    width = len(picture.splitlines()[0])
    picture += "\n" + "." * (width - 1) + ("i" if added else ".")
    e = engine(art(picture))
    step(e, blue, list(red))
    return pos(e)[:-1] if added else pos(e)


def test_two_units_into_one_cell_both_bounce() -> None:
    assert _moves("I.I\n...", [A.EAST, A.WEST]) == [(0, 0), (2, 0)]
    assert _moves("I.i\n...", [A.EAST], [A.WEST]) == [(0, 0), (2, 0)]
    # three claimants from three sides
    assert _moves("I.I\n.I.", [A.EAST, A.WEST, A.NORTH]) == [(0, 0), (2, 0), (1, 1)]


def test_moving_into_a_cell_a_unit_keeps_fails() -> None:
    assert _moves("II..", [A.EAST, A.STAY]) == [(0, 0), (1, 0)]
    assert _moves("Ii..", [A.EAST], [A.FIRE_NEAREST]) == [(0, 0), (1, 0)]
    # the occupant tries to move off the map: its move fails, so it keeps its cell
    assert _moves("II..\n....", [A.EAST, A.NORTH]) == [(0, 0), (1, 0)]


def test_a_chain_moves_together() -> None:
    assert _moves("II..", [A.EAST, A.EAST]) == [(1, 0), (2, 0)]
    assert _moves("Ii..", [A.EAST], [A.EAST]) == [(1, 0), (2, 0)]
    assert _moves("III.", [A.EAST] * 3) == [(1, 0), (2, 0), (3, 0)]
    # the leader turns away
    assert _moves("II..\n....", [A.EAST, A.SOUTH]) == [(1, 0), (1, 1)]


def test_a_swap_fails() -> None:
    assert _moves("II..", [A.EAST, A.WEST]) == [(0, 0), (1, 0)]
    assert _moves("Ii..", [A.EAST], [A.WEST]) == [(0, 0), (1, 0)]
    assert _moves("I...\ni...", [A.SOUTH], [A.NORTH]) == [(0, 0), (0, 1)]
    assert _moves("I...\nI...", [A.SOUTH, A.NORTH]) == [(0, 0), (0, 1)]


def test_a_blocked_mover_blocks_the_unit_behind_it() -> None:
    assert _moves("III.", [A.EAST, A.EAST, A.STAY]) == [(0, 0), (1, 0), (2, 0)]
    assert _moves("IIII#", [A.EAST] * 4) == [(0, 0), (1, 0), (2, 0), (3, 0)]  # wall ahead
    # the middle unit bounces off a contested cell, which stops the one behind it
    assert _moves("II.i", [A.EAST, A.EAST], [A.WEST]) == [(0, 0), (1, 0), (3, 0)]
    # a swap at the head of a column stops the whole column
    assert _moves("IIi.", [A.EAST, A.EAST], [A.WEST]) == [(0, 0), (1, 0), (2, 0)]


def test_a_rotation_without_swaps_succeeds() -> None:
    # Four units turning around a 2x2 square: no shared target, no pairwise swap.
    got = _moves("II\nII", [A.EAST, A.SOUTH, A.NORTH, A.WEST])
    assert got == [(1, 0), (1, 1), (0, 0), (0, 1)]


def test_dead_units_occupy_no_cell_and_do_not_move() -> None:
    # Two blue armour kill red infantry (5 + 5 = 10 hp) while it tries to move;
    # it still fires this tick, does not move, and its cell is free the next tick.
    e = engine(art("A...\n..i.\nA..."), sure_hits=True)
    step(e, [A.FIRE_NEAREST, A.FIRE_NEAREST], [A.FIRE_NEAREST])
    assert e.alive[0].tolist() == [True, True, False]
    assert e.shot_target[0, 2] == 0  # killed this tick, fired this tick
    assert e.hp[0, 0] == 30 - 1
    assert pos(e)[2] == (2, 1)
    e.reset()
    step(e, [A.FIRE_NEAREST, A.FIRE_NEAREST], [A.WEST])
    assert pos(e)[2] == (2, 1)  # killed units do not move in the tick they die


def test_a_live_unit_can_enter_a_dead_units_cell() -> None:
    sc = make_scenario(
        "....\n....\n....",
        [("armour", 0, 0), ("armour", 0, 2), ("armour", 1, 1)],
        [("infantry", 2, 1), ("infantry", 3, 2)],
    )
    e = engine(sc, sure_hits=True)
    step(e, [A.FIRE_AT, A.FIRE_AT, A.STAY], [A.STAY, A.STAY])
    assert e.alive[0].tolist() == [True, True, True, False, True]
    step(e, [A.STAY, A.STAY, A.EAST], [A.STAY, A.STAY])
    assert pos(e)[2] == (2, 1) == pos(e)[3]


def test_infantry_on_open_ground_moves_every_second_tick_after_initial_mp() -> None:
    e = engine(art("I.........\n.........i"))
    xs = []
    for _ in range(8):
        step(e, [A.EAST])
        xs.append(pos(e)[0][0])
    # MP starts at the cap (4); open costs 2, infantry regains 1 per tick.
    assert xs == [1, 2, 3, 3, 4, 4, 5, 5]


def test_infantry_on_road_moves_every_tick() -> None:
    sc = make_scenario("==========\n..........", [("infantry", 0, 0)], [("infantry", 9, 1)])
    e = engine(sc)
    xs = []
    for _ in range(8):
        step(e, [A.EAST])
        xs.append(pos(e)[0][0])
    assert xs == list(range(1, 9))


@pytest.mark.parametrize("unit", ["armour", "recon"])
def test_speed_two_units_move_every_tick_on_open_ground(unit: str) -> None:
    sc = make_scenario("..........\n..........", [(unit, 0, 0)], [("infantry", 9, 1)])
    e = engine(sc)
    xs = []
    for _ in range(8):
        step(e, [A.EAST])
        xs.append(pos(e)[0][0])
    assert xs == list(range(1, 9))


def test_rough_and_forest_cost_four_movement_points() -> None:
    for cell in "%T":
        sc = make_scenario(f".{cell * 4}\n.....", [("infantry", 0, 0)], [("infantry", 4, 1)])
        e = engine(sc)
        xs, mps = [], []
        for _ in range(6):
            step(e, [A.EAST])
            xs.append(pos(e)[0][0])
            mps.append(int(e.mp[0, 0]))
        assert xs == [1, 1, 1, 1, 2, 2]
        assert mps == [1, 2, 3, 4, 1, 2]


@pytest.mark.parametrize(
    ("picture", "action"),
    [
        ("I~..\n...i", A.EAST),
        ("I#..\n...i", A.EAST),
        ("IB..\n...i", A.EAST),
        ("I...\n...i", A.WEST),
        ("I...\n...i", A.NORTH),
        ("...I\ni...", A.EAST),
        ("...i\nI...", A.SOUTH),
    ],
)
def test_moves_into_water_obstacles_or_off_the_map_are_no_ops(picture: str, action: int) -> None:
    e = engine(art(picture))
    before = snapshot(e)
    step(e, [action])
    assert pos(e) == [(int(x), int(y)) for x, y in zip(before["x"][0], before["y"][0], strict=True)]
    assert e.mp[0, 0] == T.MP_CAP  # no movement points spent


# --------------------------------------------------------------------------- objectives


def _objective_scenario(
    blue: list[UnitSpec],
    red: list[UnitSpec],
    hold: int = 3,
    cap: tuple[str, ...] = ("blue", "red"),
    max_ticks: int = 50,
) -> Scenario:
    # A 3-cell objective in the middle of the top row of a wide map; forces far apart.
    return make_scenario(
        "..............\n..............\n..............",
        blue,
        red,
        zones={"obj": [5, 0, 7, 0]},
        objectives=[{"zone": "obj", "hold_ticks": hold, "capturable_by": list(cap)}],
        max_ticks=max_ticks,
    )


def test_objective_is_captured_after_exactly_hold_ticks() -> None:
    sc = _objective_scenario([("infantry", 6, 0)], [("infantry", 13, 2)], hold=3)
    e = engine(sc)
    for t in (1, 2):
        r = step(e)
        assert not r.done[0] and e.hold[0, 0, 0] == t and e.controller[0, 0] == 0
    r = step(e)
    assert r.done[0] and r.terminated[0] and not r.truncated[0]
    assert r.outcome[0] == BLUE_WIN and e.tick[0] == 3


def test_red_captures_for_red() -> None:
    sc = _objective_scenario([("infantry", 0, 2)], [("infantry", 5, 0)], hold=2)
    e = engine(sc)
    step(e)
    r = step(e)
    assert r.done[0] and r.outcome[0] == RED_WIN and e.tick[0] == 2


def test_contested_objective_resets_the_count() -> None:
    # Red armour (moves every tick) steps in and out next to blue's held objective.
    sc = _objective_scenario([("infantry", 6, 0)], [("armour", 7, 1)], hold=3)
    e = engine(sc)
    step(e)
    assert e.hold[0, 0, 0] == 1
    step(e, [], [A.NORTH])  # red enters: contested
    assert e.controller[0, 0] == -1 and e.hold[0, 0].tolist() == [0, 0]
    for _ in range(4):
        r = step(e)
        assert not r.done[0] and e.hold[0, 0].tolist() == [0, 0]
    step(e, [], [A.SOUTH])  # red leaves: blue holds again, from zero
    assert e.hold[0, 0, 0] == 1
    r = step(e)
    assert not r.done[0]
    r = step(e)
    assert r.done[0] and r.outcome[0] == BLUE_WIN and e.tick[0] == 9


def test_capturable_by_is_honoured() -> None:
    sc = _objective_scenario(
        [("infantry", 6, 0)], [("infantry", 13, 2)], hold=2, cap=("red",), max_ticks=20
    )
    e = engine(sc)
    for _ in range(19):
        r = step(e)
        assert not r.done[0]
        assert e.controller[0, 0] == 0 and e.hold[0, 0, 0] == 0
    r = step(e)
    assert r.done[0] and r.truncated[0] and r.outcome[0] == DRAW


def test_objective_victory_off_does_not_end_the_episode() -> None:
    sc = make_scenario(
        "......\n......",
        [("infantry", 0, 0)],
        [("infantry", 5, 1)],
        zones={"obj": [0, 0, 0, 0]},
        objectives=[{"zone": "obj", "hold_ticks": 1}],
        objective=False,
        max_ticks=5,
    )
    e = engine(sc)
    for _ in range(4):
        assert not step(e).done[0]
    r = step(e)
    assert r.truncated[0] and not r.terminated[0]


def test_two_objectives_captured_by_both_sides_on_one_tick_is_a_draw() -> None:
    sc = make_scenario(
        "........\n........",
        [("infantry", 0, 0)],
        [("infantry", 7, 1)],
        zones={"west": [0, 0, 0, 0], "east": [7, 1, 7, 1]},
        objectives=[{"zone": "west", "hold_ticks": 2}, {"zone": "east", "hold_ticks": 2}],
    )
    e = engine(sc)
    step(e)
    r = step(e)
    assert e.controller[0].tolist() == [0, 1]
    assert r.done[0] and r.terminated[0] and r.outcome[0] == DRAW


# --------------------------------------------------------------------------- victory


@pytest.mark.parametrize("winner", ["blue", "red"])
def test_annihilation_ends_the_episode(winner: str) -> None:
    picture = "A...\n..i.\nA..." if winner == "blue" else "a...\n..I.\na..."
    e = engine(art(picture), sure_hits=True)
    r = e.step(np.full((1, 3), A.FIRE_NEAREST))
    assert r.done[0] and r.terminated[0] and not r.truncated[0]
    assert r.outcome[0] == (BLUE_WIN if winner == "blue" else RED_WIN)
    assert e.outcome[0] == r.outcome[0]
    assert e.stat_kills[0].tolist() == ([1, 0] if winner == "blue" else [0, 1])


def test_both_sides_dying_in_one_tick_is_a_draw() -> None:
    e = engine(art("G.g\n..."), sure_hits=True)  # 8 damage kills 8 hp
    r = step(e, [A.FIRE_NEAREST], [A.FIRE_NEAREST])
    assert not e.alive[0].any()
    assert r.done[0] and r.terminated[0] and r.outcome[0] == DRAW


def test_time_limit_is_a_truncated_draw() -> None:
    e = engine(art("I.......\n.......i", max_ticks=5))
    for _ in range(4):
        r = step(e)
        assert not r.done[0] and r.outcome[0] == RUNNING
    r = step(e)
    assert r.done[0] and r.truncated[0] and not r.terminated[0] and r.outcome[0] == DRAW
    assert e.tick[0] == 5


def test_annihilation_on_the_last_tick_is_terminated_not_truncated() -> None:
    e = engine(art("A.i\n...", max_ticks=3), sure_hits=True)
    step(e)
    step(e)
    r = step(e, [A.FIRE_NEAREST])
    assert e.hp[0, 1] == 5 and r.truncated[0] and not r.terminated[0]
    e.reset()  # armour reloads 2 ticks: it hits on ticks 1 and 3, 5 + 5 = 10
    step(e, [A.FIRE_NEAREST])
    step(e)
    r = step(e, [A.FIRE_NEAREST])
    assert r.done[0] and r.terminated[0] and not r.truncated[0] and r.outcome[0] == BLUE_WIN


# --------------------------------------------------------------------------- impossible actions


NOOP_FIELDS = ("y", "x", "hp", "alive", "ammo", "covered", "stat_shots", "stat_hits")


def _assert_noop(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> None:
    """Nothing but the upkeep changed: no unit moved, fired, was hit or changed cover."""
    for k in NOOP_FIELDS:
        assert np.array_equal(before[k], after[k]), k
    assert (after["shot_target"] == -1).all() and not after["shot_hit"].any()


def test_fire_with_no_target_is_a_no_op() -> None:
    e = engine(art("I.#.i\n....."), sure_hits=True)
    for a in (A.FIRE_NEAREST, A.FIRE_AT):
        before = snapshot(e)
        step(e, [a], [A.FIRE_NEAREST])
        _assert_noop(before, snapshot(e))
        assert e.cooldown[0].tolist() == [0, 0]


def test_firing_while_reloading_is_a_no_op() -> None:
    # Armour reloads 2 ticks, artillery 3: they fire on ticks 0, 2, 4 and 0, 3, 6.
    e = engine(art("A....a\nG....."), combat="expected")
    fired = []
    for _ in range(7):
        step(e, [A.FIRE_NEAREST, A.FIRE_NEAREST])
        fired.append(e.shot_target[0, :2].tolist())
    assert [f[0] >= 0 for f in fired] == [True, False, True, False, True, False, True]
    assert [f[1] >= 0 for f in fired] == [True, False, False, True, False, False, True]
    assert e.ammo[0, :2].tolist() == [24 - 4, 12 - 3]
    assert e.alive[0].all()


def test_infantry_fires_every_tick() -> None:
    e = engine(art("I..a\n...."))
    for _ in range(5):
        step(e, [A.FIRE_NEAREST])
        assert e.shot_target[0, 0] == 1
    assert e.ammo[0, 0] == 35


def test_firing_without_ammo_is_a_no_op() -> None:
    # Recon has 30 rounds and does no damage to armour: it can shoot them all.
    e = engine(art("R.a\n...", max_ticks=100), sure_hits=True)
    for _ in range(30):
        step(e, [A.FIRE_NEAREST])
        assert e.shot_target[0, 0] == 1
    assert e.ammo[0, 0] == 0 and e.hp[0, 1] == 30 and e.stat_shots[0, 0] == 30
    for _ in range(3):
        step(e, [A.FIRE_NEAREST])
        assert e.shot_target[0, 0] == -1
    assert e.ammo[0, 0] == 0 and e.stat_shots[0, 0] == 30


def test_actions_of_a_dead_unit_are_no_ops() -> None:
    # Both blue armour kill red infantry 0; red infantry 1 keeps the episode running.
    e = engine(art("A...\n..i.\nA...\n...i"), sure_hits=True)
    step(e, [A.FIRE_AT, A.FIRE_AT])
    assert e.alive[0].tolist() == [True, True, False, True]
    for a in (
        A.NORTH,
        A.EAST,
        A.SOUTH,
        A.WEST,
        A.FIRE_NEAREST,
        A.TAKE_COVER,
        A.FIRE_AT,
        A.FIRE_AT + 1,
    ):
        before = snapshot(e)
        r = step(e, [], [a, A.STAY])
        assert not r.done[0]
        assert pos(e)[2] == (2, 1) and not e.alive[0, 2] and e.hp[0, 2] == 0
        assert e.shot_target[0, 2] == -1 and e.ammo[0, 2] == before["ammo"][0, 2] == 40
        assert not e.covered[0, 2] and e.hp[0, :2].tolist() == [30, 30]
        assert e.stat_shots[0, 1] == 0


def test_fire_at_an_absent_or_dead_slot_is_a_no_op() -> None:
    sc = make_scenario(
        "....\n....\n....", [("armour", 0, 0), ("armour", 0, 2)], [("infantry", 2, 1)], slots=(2, 3)
    )
    e = engine(sc, sure_hits=True)
    assert e.n_act.tolist() == [10, 10, 9, 9, 9]
    step(e, [A.FIRE_AT + 1, A.FIRE_AT + 2])  # absent slots
    assert e.shot_target[0].tolist() == [-1] * 5 and e.hp[0, 2] == 10
    sc = make_scenario(
        "....\n....\n....",
        [("armour", 0, 0), ("armour", 0, 2)],
        [("infantry", 2, 1), ("infantry", 3, 2)],
    )
    e = engine(sc, sure_hits=True)
    step(e, [A.FIRE_AT, A.FIRE_AT])
    assert not e.alive[0, 2]
    step(e)
    step(e, [A.FIRE_AT, A.STAY])  # slot 0 is dead
    assert e.shot_target[0, 0] == -1
    step(e, [A.FIRE_AT + 1, A.STAY])
    assert e.shot_target[0, 0] == 3


def test_out_of_range_actions_and_bad_shapes_raise() -> None:
    sc = make_scenario("....\n....", [("infantry", 0, 0)], [("infantry", 3, 0)], slots=(1, 3))
    e = engine(sc, batch=2)
    before = snapshot(e)
    n_blue, n_red = A.n_actions(3), A.n_actions(1)
    assert e.n_act.tolist() == [n_blue, n_red, n_red, n_red]
    ok = actions(e, [n_blue - 1], [n_red - 1] * 3)
    e.check_actions(ok)
    for bad in ([n_blue], [-1]):
        with pytest.raises(ValueError, match="out of range"):
            e.step(actions(e, bad))
    with pytest.raises(ValueError, match="out of range"):
        e.step(actions(e, [0], [0, n_red, 0]))
    with pytest.raises(ValueError, match="shape"):
        e.step(np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="shape"):
        e.step(np.zeros((4,), np.int64))
    with pytest.raises(ValueError, match="shape"):
        e.step(np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="integer"):
        e.step(np.zeros((2, 4), np.float32))
    after = snapshot(e)
    for k, v in before.items():
        assert np.array_equal(v, after[k]), k  # a rejected step changes nothing


# --------------------------------------------------------------------------- rewards

WEIGHTS = {
    "damage_dealt": 1.5,
    "damage_taken": -0.25,
    "kill": 3.0,
    "loss": -2.0,
    "objective_tick": 0.125,
    "win": 10.0,
    "defeat": -7.0,
    "draw": 0.5,
    "step": -0.0625,
    "red": {"defeat": -4.0},
}


def test_rewards_follow_the_weights_on_a_decisive_tick() -> None:
    # Blue armour 0 stands on the objective; both armour hit red infantry for 5 each.
    sc = make_scenario(
        "....\n....\n....",
        [("armour", 0, 0), ("armour", 0, 2)],
        [("infantry", 2, 1)],
        zones={"obj": [0, 0, 0, 0]},
        objectives=[{"zone": "obj", "hold_ticks": 5}],
        rewards=WEIGHTS,
    )
    e = engine(sc, sure_hits=True)
    r = step(e, [A.FIRE_NEAREST, A.FIRE_NEAREST])
    assert r.done[0] and r.outcome[0] == BLUE_WIN
    blue = 1.5 * (5 / 10 + 5 / 10) + 3.0 * 1 + 0.125 * 1 + 10.0 - 0.0625
    red = -0.25 * 1.0 - 2.0 * 1 - 4.0 - 0.0625
    assert r.rewards[0].tolist() == [blue, red]
    assert r.rewards.dtype == np.float32


def test_rewards_count_damage_in_fractions_of_max_hp() -> None:
    sc = make_scenario("......\n......", [("infantry", 0, 0)], [("armour", 3, 0)], rewards=WEIGHTS)
    e = engine(sc, sure_hits=True)
    r = step(e, [A.FIRE_NEAREST], [A.FIRE_NEAREST])  # 1/30 to the armour, 5/10 to the infantry
    assert not r.done[0]
    blue = 1.5 * (1 / 30) - 0.25 * (5 / 10) - 0.0625
    red = 1.5 * (5 / 10) - 0.25 * (1 / 30) - 0.0625
    assert r.rewards[0].tolist() == pytest.approx([blue, red], rel=1e-6)


def test_overkill_earns_no_damage_reward() -> None:
    # Two sure-hit armour shots (10 + 10) on one 10-hp infantry: 1.0 of its hp, not 2.0.
    weights = {"damage_dealt": 1.0, "damage_taken": -1.0, "win": 0.0, "defeat": 0.0}
    sc = make_scenario(
        "......\n......",
        [("armour", 0, 0), ("armour", 0, 1)],
        [("infantry", 3, 0), ("infantry", 5, 1)],
        rewards=weights,
    )
    e = engine(sc, sure_hits=True)
    r = step(e, [A.FIRE_AT + 0, A.FIRE_AT + 0], [A.STAY, A.STAY])
    assert not e.alive[0, 2] and e.alive[0, 3]
    assert e.stat_damage[0, 0] == 2 * doc_damage("armour", "infantry")  # raw shot log
    assert r.rewards[0].tolist() == [1.0, -1.0]


def test_draw_reward_on_time_limit() -> None:
    e = engine(art("I.......\n.......i", max_ticks=2, rewards=WEIGHTS))
    assert step(e).rewards[0].tolist() == [-0.0625, -0.0625]
    assert step(e).rewards[0].tolist() == [0.5 - 0.0625, 0.5 - 0.0625]


def test_default_rewards_are_the_documented_ones() -> None:
    e = engine(art("A...\n..i.\nA..."), sure_hits=True)
    r = step(e, [A.FIRE_NEAREST, A.FIRE_NEAREST])
    assert r.rewards[0].tolist() == [1.0 + 10.0, -1.0 - 10.0]


# --------------------------------------------------------------------------- frozen worlds


def _finish_world_zero() -> Engine:
    # World 0: blue armour kill the red infantry on tick 1; world 1 keeps running.
    e = engine(art("A...\n..i.\nA...\n...."), batch=2, sure_hits=True)
    a = actions(e)
    a[0, :2] = A.FIRE_NEAREST
    r = e.step(a)
    assert r.done.tolist() == [True, False]
    return e


def _world(s: dict[str, np.ndarray], w: int, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    return {k: v[w] for k, v in s.items() if k not in skip}


SHOT_FIELDS = ("shot_target", "shot_hit", "shot_damage")


def test_a_finished_world_is_frozen_while_others_run() -> None:
    e = _finish_world_zero()
    frozen = snapshot(e)
    for t in range(5):
        a = actions(e, [A.FIRE_NEAREST, A.STAY], [A.FIRE_NEAREST])
        a[1] = [A.EAST, A.EAST, A.STAY]
        r = e.step(a)
        assert r.rewards[0].tolist() == [0.0, 0.0]
        assert not r.done[0]  # "ended this tick" only once
        now = snapshot(e)
        for k, v in _world(frozen, 0, SHOT_FIELDS).items():
            assert np.array_equal(v, now[k][0]), k
        assert e.tick[1] == t + 2
    assert pos(e, 1)[0] != (0, 0)  # world 1 moved on
    assert e.outcome[0] == BLUE_WIN and e.done[0]


def test_a_finished_world_ignores_moves_and_take_cover() -> None:
    e = _finish_world_zero()
    frozen = snapshot(e)
    for a0 in (A.EAST, A.SOUTH, A.TAKE_COVER):
        a = actions(e, [a0, a0])
        e.step(a)
        now = snapshot(e)
        for k, v in _world(frozen, 0, SHOT_FIELDS).items():
            assert np.array_equal(v, now[k][0]), k


def test_a_finished_world_keeps_its_last_shots() -> None:
    e = _finish_world_zero()
    frozen = snapshot(e)
    e.step(actions(e))
    for k in SHOT_FIELDS:
        assert np.array_equal(frozen[k][0], getattr(e, k)[0]), k


def test_reset_mask_restarts_only_the_masked_worlds() -> None:
    e = _finish_world_zero()
    e.step(actions(e))
    other = _world(snapshot(e), 1)
    e.reset(np.array([True, False]))
    assert e.done.tolist() == [False, False] and e.tick.tolist() == [0, 2]
    assert e.episode.tolist() == [1, 0]
    assert e.alive[0].all() and e.hp[0].tolist() == [30, 30, 10]
    assert pos(e, 0) == [(0, 0), (0, 2), (2, 1)]
    assert e.outcome[0] == RUNNING and (e.shot_target[0] == -1).all()
    assert e.stat_shots[0].tolist() == [0, 0] and e.stat_kills[0].tolist() == [0, 0]
    for k, v in _world(snapshot(e), 1).items():
        assert np.array_equal(v, other[k]), k
    a = actions(e)
    a[0, :2] = A.FIRE_NEAREST
    assert e.step(a).done.tolist() == [True, False]
