"""Fog of war never leaks into observations; red's canonical frame mirrors blue's."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.masks import MaskBuilder
from cgfsim.envs.observations import OBS_MODES, ObservationBuilder
from cgfsim.sim import actions as A
from cgfsim.sim.engine import Engine
from cgfsim.sim.scenario import Scenario, load_scenario_text


def _scenario(
    name: str, rows: list[str], blue: str, red: str, objective: str, combat: str = "stochastic"
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
    # The worlds do differ: red's own view and the capture timers see the change.
    assert not np.array_equal(_observe(e1, 1)[0], _observe(e2, 1)[0])
    assert not np.array_equal(e1.hold, e2.hold)


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


def test_last_seen_cell_not_current_position(fog_engine: Engine) -> None:
    e = fog_engine
    ob = ObservationBuilder(e, 0, "entities")
    rows = ob.build()[0]
    r0 = rows[ob.O + 0]  # enemy slot 0 = red 0, seen at row 3 col 1, now hidden at row 1
    assert r0[0] == 1 and r0[15] == 0  # known alive, not visible
    assert r0[4] == pytest.approx(3 / 7) and r0[5] == pytest.approx(1 / 7)
    assert r0[10] == 0  # no hp while unseen
    assert not rows[ob.O + 2].any()  # the never-seen armour is a padding row
    vec = ObservationBuilder(e, 0, "vector").build()[0]
    armour = vec[12 * ob.O + 11 * 2 : 12 * ob.O + 11 * 3]
    assert armour.tolist() == [0] * 9 + [1, 0]  # only "age = 1 (never seen)"


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
    assert ObservationBuilder(e, 1, "vector").build()[0, 1] == pytest.approx((h - 3) / (h - 1))
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
