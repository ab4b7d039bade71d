"""Fog of war never leaks into observations; red's canonical frame mirrors blue's."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.masks import MaskBuilder
from cgfsim.envs.observations import GROUPS, OBS_MODES, ObservationBuilder
from cgfsim.sim import actions as A
from cgfsim.sim.engine import Engine
from cgfsim.sim.scenario import Scenario, load_scenario_text


def _scenario(
    name: str,
    rows: list[str],
    blue: str,
    red: str,
    objective: str,
    combat: str = "stochastic",
    victory: str = "",
) -> Scenario:
    ascii_ = "\n".join(rows)
    text = f'''
[scenario]
name = "{name}"
combat = "{combat}"
[map]
ascii = """
{ascii_}
"""
[zones]
obj = {objective}
[forces.blue]
slots = 4
units = {blue}
[forces.red]
slots = 4
units = {red}
[[objectives]]
zone = "obj"
hold_ticks = 50
[victory]
max_ticks = 100
{victory}
'''
    return load_scenario_text(text, f"<{name}>")


def _observe(e: Engine, side: int) -> list[np.ndarray]:
    return [ObservationBuilder(e, side, m).build() for m in OBS_MODES] + [
        MaskBuilder(e, side).build()
    ]


def _stay(e: Engine) -> None:
    e.step(np.zeros((e.B, e.U), np.int64))


FOG_MAP = [
    "........",
    "........",
    "########",
    "........",
    "........",
    "........",
    "........",
    "........",
]


@pytest.fixture
def fog_engine() -> Engine:
    # Blue below a wall; red 0 and the red armour hidden above it, red 1 in plain view.
    sc = _scenario(
        "Fog",
        FOG_MAP,
        '[{ type = "infantry", at = [[3, 6], [5, 7]] }]',
        '[{ type = "infantry", at = [[1, 1], [6, 4]] }, { type = "armour", at = [[6, 0]] }]',
        "[0, 0, 3, 1]",
        # victory points for holding ground: red 0, hidden in the zone, scores them unseen
        victory='time_limit = "points"\n[victory.points]\nobjective_tick = 1\nobjective_held = 2',
    )
    e = Engine(sc, 1, seed=5)
    nb = e.nb
    r0, r1, ra = nb, nb + 1, nb + 2
    # Let blue see red 0 once (so it has a last-seen cell), then hide it again.
    e.y[0, r0], e.x[0, r0] = 3, 1
    _stay(e)
    e.y[0, r0], e.x[0, r0] = 1, 1
    _stay(e)
    assert e.visible[0, [r0, r1, ra]].tolist() == [False, True, False]
    assert e.last_y[0, r0] == 3 and e.last_tick[0, ra] == -1
    return e


def test_hidden_enemies_change_nothing_in_blues_observation(fog_engine: Engine) -> None:
    e1, e2 = fog_engine, copy.deepcopy(fog_engine)
    nb = e1.nb
    r0, ra = nb, nb + 2
    # Everything about the hidden enemies changes in world 2: place, health, ammunition,
    # readiness, cover; red 0 leaves the objective zone, so red's capture timer stops.
    e2.y[0, r0], e2.x[0, r0] = 0, 6
    e2.y[0, ra], e2.x[0, ra] = 0, 5
    e2.hp[0, [r0, ra]] = [2.0, 7.0]
    e2.ammo[0, [r0, ra]] = 1
    e2.cooldown[0, [r0, ra]] = 2
    e2.mp[0, [r0, ra]] = 0
    e2.covered[0, [r0, ra]] = True
    for _ in range(3):
        _stay(e1)
        _stay(e2)
        assert not e2.visible[0, [r0, ra]].any()
        for a, b in zip(_observe(e1, 0), _observe(e2, 0), strict=True):
            np.testing.assert_array_equal(a, b)
    # The worlds do differ: red's own view, the capture timers and red's points see the change.
    assert not np.array_equal(_observe(e1, 1)[0], _observe(e2, 1)[0])
    assert not np.array_equal(e1.hold, e2.hold)
    assert (
        e1.vp_tick[0, 1] > e2.vp_tick[0, 1] and e1.vp_tick_seen[0, 1] == 0 == e2.vp_tick_seen[0, 1]
    )


def test_a_visible_enemy_does_show(fog_engine: Engine) -> None:
    """Control for the test above: the same edits to a visible enemy change the observation."""
    e2 = copy.deepcopy(fog_engine)
    r1 = fog_engine.nb + 1
    e2.hp[0, r1] = 2.0
    before, after = _observe(fog_engine, 0), _observe(e2, 0)
    for k in (0, 2):  # vector and entities show a visible enemy's health
        assert not np.array_equal(before[k], after[k])
    e2.x[0, r1] = 5
    _stay(e2)
    assert not np.array_equal(before[1], _observe(e2, 0)[1])  # grid: it moved


def _at(ob: ObservationBuilder) -> dict[str, int]:
    """Feature-axis position of every layout name."""
    return {x.name: x.index for x in ob.layout()}


def test_last_seen_cell_not_current_position(fog_engine: Engine) -> None:
    e = fog_engine
    ob = ObservationBuilder(e, 0, "entities")
    c = _at(ob)
    rows = ob.build()[0]
    r0 = rows[ob.O + 0]  # enemy slot 0 = red 0, seen at row 3 col 1, now hidden at row 1
    assert r0[c["valid"]] == 1 and r0[c["enemy_visible"]] == 0  # known alive, not visible
    assert r0[c["enemy_row"]] == pytest.approx(3 / 7)
    assert r0[c["enemy_col"]] == pytest.approx(1 / 7)
    assert r0[c["enemy_hp"]] == 0  # no hp while unseen
    assert not rows[ob.O + 2].any()  # the never-seen armour is a padding row
    vec_ob = ObservationBuilder(e, 0, "vector")
    v, vc = vec_ob.build()[0], _at(vec_ob)
    armour = {x.name: v[x.index] for x in vec_ob.layout() if x.name.startswith("enemy2_")}
    assert armour == {k: (1.0 if k == "enemy2_age" else 0.0) for k in armour}  # age 1: never seen
    assert v[vc["enemy0_row"]] == pytest.approx(3 / 7) and v[vc["enemy0_known"]] == 1
    # relations to a never-seen enemy are all zero; to red 0 they use its last seen cell
    assert not any(v[i] for n, i in vc.items() if "_enemy2_" in n)
    blue0_row = v[vc["own0_row"]]  # blue 0 at [x=3, y=6]
    assert v[vc["own0_enemy0_offset_dy"]] == pytest.approx(3 / 7 - blue0_row)
    assert v[vc["own0_enemy0_offset_dx"]] == pytest.approx((1 - 3) / 7)


# ---------------------------------------------------------------------- canonical frame

MIRROR_MAP = [
    "........",
    "..%%....",
    "........",
    "~~~..~~~",
    "........",
    "....==..",
    ".%......",
    "........",
    "........",
    "........",
]
BLUE = [("infantry", [[1, 8], [5, 9]]), ("armour", [[3, 7]])]
RED = [("infantry", [[2, 0], [6, 1]]), ("recon", [[4, 2]])]


def _units(spec: list[tuple[str, list[list[int]]]], flip: int | None = None) -> str:
    parts = []
    for t, cells in spec:
        cells = [[x, flip - y] for x, y in cells] if flip is not None else cells
        parts.append(f'{{ type = "{t}", at = {cells} }}')
    return "[" + ", ".join(parts) + "]"


def test_mirrored_situation_gives_red_the_same_observation_as_blue() -> None:
    h = len(MIRROR_MAP)
    x0, y0, x1, y1 = 2, 3, 5, 4
    sc = _scenario(
        "Fwd", MIRROR_MAP, _units(BLUE), _units(RED), f"[{x0}, {y0}, {x1}, {y1}]", combat="expected"
    )
    mirror = _scenario(
        "Mir",
        MIRROR_MAP[::-1],
        _units(RED, h - 1),
        _units(BLUE, h - 1),
        f"[{x0}, {h - 1 - y1}, {x1}, {h - 1 - y0}]",
        combat="expected",
    )
    blue = BatchedCommanderEnv(sc, side="blue", opponent="hold", obs="entities", dict_obs=True)
    red = BatchedCommanderEnv(mirror, side="red", opponent="hold", obs="entities", dict_obs=True)
    ob, orr = blue.reset(seed=1), red.reset(seed=1)
    rng = np.random.default_rng(0)
    moved = False
    for t in range(40):
        for k, (a, b) in enumerate(
            zip(_observe(blue.engine, 0), _observe(red.engine, 1), strict=True)
        ):
            np.testing.assert_array_equal(a, b, err_msg=f"tick {t}, form {k}")
        np.testing.assert_array_equal(ob["observation"], orr["observation"])
        np.testing.assert_array_equal(ob["action_mask"], orr["action_mask"])
        act = rng.integers(0, 11, size=(1, 4))
        ob, rb, tb, _, _ = blue.step(act)
        orr, rr, tr, _, _ = red.step(act)
        assert rb[0] == rr[0] and tb[0] == tr[0]
        moved |= bool((blue.engine.y[0, :3] != np.array([8, 9, 7])).any())
        if tb[0]:
            break
    assert moved


def test_red_north_is_the_maps_south() -> None:
    h = len(MIRROR_MAP)
    mirror = _scenario(
        "Mir", MIRROR_MAP[::-1], _units(RED, h - 1), _units(BLUE, h - 1), "[0, 0, 1, 1]"
    )
    env = BatchedCommanderEnv(mirror, side="red", opponent="hold")
    env.reset(seed=0)
    e = env.engine
    nb = e.nb
    assert (int(e.y[0, nb]), int(e.x[0, nb])) == (1, 1)  # red infantry 0: canonical row 8

    def order(a: int) -> None:
        env.step(np.array([[a, A.STAY, A.STAY, A.STAY]]))

    order(A.NORTH)
    assert (int(e.y[0, nb]), int(e.x[0, nb])) == (2, 1)
    ob = ObservationBuilder(e, 1, "vector")
    assert ob.build()[0, _at(ob)["own0_row"]] == pytest.approx((h - 3) / (h - 1))
    order(A.SOUTH)
    order(A.SOUTH)
    assert (int(e.y[0, nb]), int(e.x[0, nb])) == (0, 1)  # the map's top row: canonical bottom
    order(A.STAY)
    order(A.STAY)
    mask = env.action_masks().reshape(4, 11)
    assert mask[0, A.NORTH] and not mask[0, A.SOUTH]  # off the map is canonical south


def test_feature_names_match_shapes() -> None:
    sc = _scenario(
        "Fog",
        FOG_MAP,
        '[{ type = "infantry", at = [[3, 6]] }]',
        '[{ type = "infantry", at = [[1, 1]] }]',
        "[0, 0, 3, 1]",
    )
    e = Engine(sc, 2)
    for mode in OBS_MODES:
        ob = ObservationBuilder(e, 0, mode)
        names = ob.feature_names()
        assert len(names) == ob.shape[-1 if mode == "entities" else 0]
        assert len(set(names)) == len(names)


# ---------------------------------------------------------------------- the layout


def _midgame(scenario: str, side: int, ticks: int = 25, n: int = 6) -> Engine:
    """An engine after some doctrine play: enemies seen, hidden, destroyed; units hurt."""
    from cgfsim.sim.doctrines import DOCTRINES, joint_actions
    from cgfsim.sim.scenario import load_scenario

    e = Engine(load_scenario(scenario), n, seed=11)
    for _ in range(ticks):
        e.step(joint_actions(e, DOCTRINES["flank"], DOCTRINES["assault"]))
    return e


@pytest.mark.parametrize("scenario", ["urban", "duel"])
@pytest.mark.parametrize("mode", OBS_MODES)
def test_layout_names_every_element_exactly_once(scenario: str, mode: str) -> None:
    e = _midgame(scenario, 0, ticks=3, n=2)
    for side in (0, 1):
        ob = ObservationBuilder(e, side, mode)
        lay = ob.layout()
        axis = ob.shape[1] if mode == "entities" else ob.shape[0]
        assert [x.index for x in lay] == list(range(axis))  # each position once, in order
        assert len({x.name for x in lay}) == len(lay)
        assert ob.feature_names() == [x.name for x in lay]
        assert {x.group for x in lay} <= set(GROUPS)
        assert all(x.low < x.high and x.meaning for x in lay)
        # the space's bounds are the layout's
        low, high = [x.low for x in lay], [x.high for x in lay]
        if mode == "vector":
            np.testing.assert_array_equal(ob.space.low, low)
            np.testing.assert_array_equal(ob.space.high, high)
        elif mode == "grid":
            np.testing.assert_array_equal(ob.space.low[:, -1, -1], low)
            np.testing.assert_array_equal(ob.space.high[:, 0, 0], high)
        else:
            np.testing.assert_array_equal(ob.space.low[-1], low)
            np.testing.assert_array_equal(ob.space.high[0], high)
        groups = ob.group_indices()
        assert sorted(i for v in groups.values() for i in v) == list(range(axis))


def test_vector_layout_counts() -> None:
    """15 per own slot, 11 per enemy, 8 per objective, 5 per pair, 3 per own-objective pair,
    3 global, the mask: the documented arithmetic."""
    e = _midgame("urban", 0, ticks=1, n=1)
    ob = ObservationBuilder(e, 0, "vector")
    no, ne, nk = ob.O, ob.E, ob.K
    assert ob.shape == (15 * no + 11 * ne + 8 * nk + 5 * no * ne + 3 * no * nk + 3 + no * (7 + ne),)
    lay = ob.layout()
    assert sum(x.group == "mask" for x in lay) == no * (7 + ne)
    for g in ("terrain", "own", "enemy_memory", "enemy_visible", "engagement", "objective"):
        assert any(x.group == g for x in lay), g
    assert [x.name for x in lay if x.group in ("time", "score")] == ["tick", "vp_own", "vp_enemy"]


@pytest.mark.parametrize("scenario", ["urban", "ambush", "defend"])
@pytest.mark.parametrize("mode", OBS_MODES)
def test_building_into_a_nan_buffer_writes_every_element(scenario: str, mode: str) -> None:
    e = _midgame(scenario, 0)
    for side in (0, 1):
        ob = ObservationBuilder(e, side, mode)
        ref = ob.build()
        out = np.full_like(ref, np.nan)
        assert ob.build(out=out) is out
        assert not np.isnan(out).any()
        np.testing.assert_array_equal(out, ref)
        assert all(ob.space.contains(o) for o in out)
        idx = np.array([4, 1])
        part = ob.build(idx, out=np.full((2, *ob.shape), np.nan, np.float32))
        np.testing.assert_array_equal(part, ref[idx])
    with pytest.raises(ValueError, match="C-contiguous float32"):
        ob.build(out=np.zeros((e.B, *ob.shape), np.float64))


def test_mask_block_is_the_action_mask() -> None:
    e = _midgame("urban", 1)
    for side in (0, 1):
        ob = ObservationBuilder(e, side, "vector")
        obs = ob.build()
        cols = [x.index for x in ob.layout() if x.group == "mask"]
        want = MaskBuilder(e, side).build().reshape(e.B, -1)
        np.testing.assert_array_equal(obs[:, cols], want)


TACTIC_MAP = [
    "..........",
    "....T.....",
    "..........",
    "..#.......",
    "..........",
    "%.........",
    "..........",
    "..........",
]


def test_tactical_features_on_a_hand_made_state() -> None:
    # Blue: infantry in the rough cell (cover 1), recon in the forest (concealed, cover 2).
    # Red: armour in plain view (weapon range 6), artillery far away (indirect, range 10).
    sc = _scenario(
        "Tac",
        TACTIC_MAP,
        '[{ type = "infantry", at = [[0, 5]] }, { type = "recon", at = [[4, 1]] }]',
        '[{ type = "armour", at = [[3, 5]] }, { type = "artillery", at = [[9, 0]] }]',
        "[6, 6, 7, 7]",
        combat="expected",
    )
    e = Engine(sc, 1, seed=0)
    ob = ObservationBuilder(e, 0, "vector")
    v, at = ob.build()[0], _at(ob)
    assert v[at["own0_cover"]] == 0.5 and v[at["own0_concealed"]] == 0
    assert v[at["own1_cover"]] == 1.0 and v[at["own1_concealed"]] == 1
    # infantry (range 4) vs armour 3 cells east: it can engage and is threatened (range 6)
    assert v[at["own0_enemy0_engage"]] == 1 and v[at["own0_enemy0_threat"]] == 1
    assert v[at["own0_enemy0_los"]] == 1
    assert v[at["own0_enemy0_offset_dx"]] == pytest.approx(3 / 9)
    assert v[at["own0_enemy0_offset_dy"]] == 0
    assert v[at["own0_can_fire"]] == 1
    # the artillery was seen by the recon (sight 9): known, out of the infantry's range
    seen_art = bool(e.visible[0, e.nb + 1])
    assert v[at["enemy1_known"]] == float(seen_art)
    assert v[at["own0_enemy1_engage"]] == 0
    # objective relation: the zone [6..7, 6..7] has its centre at (6.5, 6.5)
    assert v[at["own0_obj0_dx"]] == pytest.approx((6.5 - 0) / 9)
    assert v[at["own0_obj0_dy"]] == pytest.approx((6.5 - 5) / 7)
    assert v[at["own0_obj0_inside"]] == 0
    # entities carry the same facts per row
    ent = ObservationBuilder(e, 0, "entities")
    rows, c = ent.build()[0], _at(ent)
    # the artillery (range 10) is sqrt(106) cells away: only the armour threatens
    assert rows[0, c["own_threatened"]] == pytest.approx(1 / ent.E)
    assert rows[0, c["own_targets"]] == pytest.approx(1 / ent.E)
    assert rows[ent.O, c["enemy_engageable"]] == 1
    assert rows[0, c["own_enemy_dx"]] == pytest.approx(3 / 9)
    # grid: the infantry's cell is marked as able to fire and threatened
    grid = ObservationBuilder(e, 0, "grid")
    g, gc = grid.build()[0], _at(grid)
    assert g[gc["own_can_fire"], 5, 0] == 1 and g[gc["own_threatened"], 5, 0] > 0
    assert g[gc["enemy_engageable"], 5, 3] == 1


def test_victory_point_features() -> None:
    sc = _scenario(
        "Vp",
        FOG_MAP,
        '[{ type = "infantry", at = [[3, 6], [5, 7]] }]',
        '[{ type = "infantry", at = [[1, 5]] }, { type = "armour", at = [[6, 4]] }]',
        "[0, 6, 2, 7]",
        victory='time_limit = "points"\n[victory.points]\nobjective_held = 2',
    )
    e = Engine(sc, 1, seed=0)
    best = max(sc.max_points(0), sc.max_points(1))  # blue: 1 + 3 + 2 = 6
    assert best == 6
    e.alive[0, e.nb + 1] = False  # blue destroyed the armour (3 points)
    e.hp[0, e.nb + 1] = 0
    e.step(np.zeros((1, e.U), np.int64))
    ob = ObservationBuilder(e, 0, "vector")
    v, at = ob.build()[0], _at(ob)
    held = 2 * float(e.controller[0, 0] == 0)
    assert v[at["vp_own"]] == pytest.approx((3 + held) / best)
    assert e.victory_points()[0, 0] == 3 + held
    red = ObservationBuilder(e, 1, "vector")
    rv, rat = red.build()[0], _at(red)
    assert rv[rat["vp_enemy"]] == pytest.approx(v[at["vp_own"]])
