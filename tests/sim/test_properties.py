"""Property tests: engine invariants over random small scenarios and random actions.

Each example is a random map (every terrain type), random forces placed at
fixed cells or in start zones, padded slots, an optional objective, either
combat mode, and a random action sequence. After every tick the state is
checked against brute-force recomputations from the documented rules.
Finished worlds are reset only some of the time, so frozen worlds are
exercised too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgfsim.sim import actions as A
from cgfsim.sim import units as U
from cgfsim.sim.engine import Engine
from cgfsim.sim.geometry import los_tables
from cgfsim.sim.scenario import Scenario
from cgfsim.sim.terrain import BLOCKS_SIGHT, CONCEAL_D2, CONCEALS, LEGEND, PASSABLE
from tests.sim.helpers import make_scenario, snapshot

TERRAIN_CHARS = "......#T~=%"
TYPE_NAMES = [t.name for t in U.UNIT_TYPES]
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def examples(n: int) -> int:
    """``n`` under the default profile (100 examples), scaled by the loaded profile's count."""
    current = settings.default
    return max(1, n * (current.max_examples if current else 100) // 100)


@st.composite
def scenarios(draw: st.DrawFn, max_side: int = 8, max_units: int = 3) -> Scenario:
    h = draw(st.integers(4, max_side))
    w = draw(st.integers(3, max_side))
    grid = [list(draw(st.text(TERRAIN_CHARS, min_size=w, max_size=w))) for _ in range(h)]
    zones: dict[str, list[int]] = {}
    forces: list[list[dict[str, Any] | tuple[str, int, int]]] = [[], []]
    taken: set[tuple[int, int]] = set()
    for side, rows in ((0, (0, 1)), (1, (h - 2, h - 1))):
        n = draw(st.integers(1, min(max_units, 2 * w)))
        types = draw(st.lists(st.sampled_from(TYPE_NAMES), min_size=n, max_size=n))
        if draw(st.booleans()):  # a start zone: its two rows, made passable
            name = ("blue_start", "red_start")[side]
            zones[name] = [0, rows[0], w - 1, rows[1]]
            for r in rows:
                grid[r] = [c if PASSABLE[LEGEND[c]] else "." for c in grid[r]]
            for t in sorted(set(types)):
                forces[side].append({"type": t, "count": types.count(t), "zone": name})
        else:  # fixed cells anywhere in the side's half, made passable
            half = range(0, h // 2) if side == 0 else range(h // 2, h)
            cells = [(x, y) for y in half for x in range(w) if (x, y) not in taken]
            picks = draw(st.lists(st.sampled_from(cells), min_size=n, max_size=n, unique=True))
            for t, (x, y) in zip(types, picks, strict=True):
                taken.add((x, y))
                if not PASSABLE[LEGEND[grid[y][x]]]:
                    grid[y][x] = draw(st.sampled_from(".T=%"))
                forces[side].append((t, x, y))
    slots: tuple[int, int] = tuple(  # type: ignore[assignment]
        sum(u["count"] if isinstance(u, dict) else 1 for u in f) + draw(st.integers(0, 2))
        for f in forces
    )
    objectives = []
    if draw(st.booleans()):
        x0, y0 = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
        zones["obj"] = [x0, y0, draw(st.integers(x0, w - 1)), draw(st.integers(y0, h - 1))]
        if not PASSABLE[LEGEND[grid[y0][x0]]]:  # an objective nobody can enter is refused
            grid[y0][x0] = "."
        cap = draw(st.sampled_from([["blue", "red"], ["blue"], ["red"]]))
        objectives.append(
            {"zone": "obj", "hold_ticks": draw(st.integers(1, 6)), "capturable_by": cap}
        )
    return make_scenario(
        "\n".join("".join(r) for r in grid),
        forces[0],
        forces[1],
        combat=draw(st.sampled_from(["stochastic", "expected"])),
        slots=slots,
        zones=zones,
        objectives=objectives,
        max_ticks=draw(st.integers(3, 30)),
    )


def random_actions(rng: np.random.Generator, e: Engine) -> np.ndarray:
    """Actions biased towards moving and firing so that things happen."""
    kind = rng.random((e.B, e.U))
    move = rng.integers(A.NORTH, A.WEST + 1, (e.B, e.U))
    fire_at = A.FIRE_AT + (rng.random((e.B, e.U)) * (e.n_act - A.FIRE_AT)).astype(np.int64)
    a = np.where(kind < 0.45, move, A.FIRE_NEAREST)
    a = np.where(kind > 0.75, fire_at, a)
    a = np.where(kind > 0.88, A.TAKE_COVER, a)
    return np.where(kind > 0.95, A.STAY, a).astype(np.int64)


# --------------------------------------------------------------------------- brute force


def brute_los(grid: np.ndarray) -> np.ndarray:
    """Line of sight as documented in geometry.py, one ray at a time."""
    h, w = grid.shape
    block = BLOCKS_SIGHT[grid]
    n = h * w
    out = np.zeros((n, n), bool)

    def ray_clear(r0: int, c0: int, r1: int, c1: int) -> bool:
        dr, dc = r1 - r0, c1 - c0
        k = 2 * max(abs(dr), abs(dc))
        for i in range(1, k):
            r = r0 + math.floor(i * dr / k + 0.5)
            c = c0 + math.floor(i * dc / k + 0.5)
            if (r, c) not in ((r0, c0), (r1, c1)) and block[r, c]:
                return False
        return True

    for a in range(n):
        for b in range(n):
            r0, c0 = divmod(a, w)
            r1, c1 = divmod(b, w)
            if a == b:
                out[a, b] = True
            elif (r0 - r1) ** 2 + (c0 - c1) ** 2 <= U.MAX_RANGE**2:
                out[a, b] = ray_clear(r0, c0, r1, c1) and ray_clear(r1, c1, r0, c0)
    return out


def expected_visible(e: Engine, los: np.ndarray) -> np.ndarray:
    """(B, U): whether the opposing side sees each unit, from positions and the rules."""
    vis = np.zeros((e.B, e.U), bool)
    for b in range(e.B):
        grid = e.maps[e.map_id[b]]
        for u in range(e.U):
            if not e.alive[b, u]:
                continue
            cu = int(e.y[b, u]) * e.W + int(e.x[b, u])
            concealed = CONCEALS[grid[e.y[b, u], e.x[b, u]]]
            for o in range(e.U):
                if e.side[o] == e.side[u] or not e.alive[b, o]:
                    continue
                co = int(e.y[b, o]) * e.W + int(e.x[b, o])
                d2 = int(e.y[b, u] - e.y[b, o]) ** 2 + int(e.x[b, u] - e.x[b, o]) ** 2
                if (
                    los[e.map_id[b], co, cu]
                    and d2 <= U.SIGHT2[e.utype[o]]
                    and (not concealed or d2 <= CONCEAL_D2)
                ):
                    vis[b, u] = True
    return vis


def expected_targets(e: Engine, s: dict[str, np.ndarray], act: np.ndarray) -> np.ndarray:
    """(B, U) global target slot of every shot the rules allow this tick, -1 for none."""
    out = np.full((e.B, e.U), -1)
    for b in range(e.B):
        if s["done"][b]:
            continue
        for u in range(e.U):
            a = int(act[b, u])
            if not (s["alive"][b, u] and s["cooldown"][b, u] == 0 and s["ammo"][b, u] > 0):
                continue
            if a != A.FIRE_NEAREST and a < A.FIRE_AT:
                continue
            enemies = range(e.nb, e.U) if u < e.nb else range(e.nb)
            ok = []
            for j in enemies:
                i_b, i_r = (u, j - e.nb) if u < e.nb else (j, u - e.nb)
                d2 = int(s["d2"][b, i_b, i_r])
                los = bool(s["los"][b, i_b, i_r])
                if (
                    s["visible"][b, j]
                    and d2 <= U.RANGE2[e.utype[u]]
                    and (los or U.INDIRECT[e.utype[u]])
                ):
                    ok.append((d2, j))
            if a == A.FIRE_NEAREST and ok:
                out[b, u] = min(ok)[1]
            elif a >= A.FIRE_AT:
                j = (a - A.FIRE_AT) + (e.nb if u < e.nb else 0)
                if any(j == k for _, k in ok):
                    out[b, u] = j
    return out


def check_state(e: Engine, los: np.ndarray) -> None:
    """Invariants of any state: hit points, cells, pair geometry and fog of war."""
    assert ((e.hp >= 0) & (e.hp <= e.max_hp[None, :])).all()
    assert (e.hp[:, ~e.present] == 0).all()
    assert np.array_equal(e.alive, e.present[None, :] & (e.hp > 0))
    assert (e.ammo >= 0).all()
    for b in range(e.B):
        grid = e.maps[e.map_id[b]]
        live = np.flatnonzero(e.alive[b])
        cells = [(int(e.y[b, u]), int(e.x[b, u])) for u in live]
        assert len(set(cells)) == len(cells), f"two live units share a cell in world {b}"
        assert all(PASSABLE[grid[r, c]] for r, c in cells)
    cell = e.y.astype(np.int64) * e.W + e.x
    bi, ri = cell[:, : e.nb, None], cell[:, None, e.nb :]
    d2 = (e.y[:, : e.nb, None] - e.y[:, None, e.nb :]).astype(int) ** 2 + (
        e.x[:, : e.nb, None] - e.x[:, None, e.nb :]
    ).astype(int) ** 2
    assert np.array_equal(e.d2, d2)
    assert np.array_equal(e.los, los[e.map_id[:, None, None], bi, ri])
    assert np.array_equal(e.visible, expected_visible(e, los))


def check_tick(e: Engine, los: np.ndarray, s: dict[str, np.ndarray], act: np.ndarray) -> None:
    """Invariants of one step; ``s`` is the state before it."""
    check_state(e, los)
    run = ~s["done"]
    assert (e.hp <= s["hp"]).all() and (e.ammo <= s["ammo"]).all()
    # finished worlds are frozen (apart from last-tick shot records, see test_rules)
    for k, v in s.items():
        if not k.startswith("shot_"):
            assert np.array_equal(v[~run], getattr(e, k)[~run]), k
    # dead units neither move nor fire
    dead = ~s["alive"]
    assert np.array_equal(e.y[dead], s["y"][dead]) and np.array_equal(e.x[dead], s["x"][dead])
    assert (e.shot_target[dead & run[:, None]] == -1).all()
    # shots are exactly the ones the rules allow, and each costs one round
    want = expected_targets(e, s, act)
    assert np.array_equal(e.shot_target[run], want[run])
    assert np.array_equal(s["ammo"] - e.ammo, (want >= 0).astype(s["ammo"].dtype))
    nohit = (want < 0) & run[:, None]
    assert (e.shot_damage[nohit] == 0).all() and not e.shot_hit[nohit].any()
    # moves: at most one cell, in the chosen direction (passability is checked above)
    dy, dx = e.y - s["y"], e.x - s["x"]
    moved = (dy != 0) | (dx != 0)
    a = np.minimum(act, A.TAKE_COVER)
    assert np.array_equal(dy[moved], A.DY[a][moved]) and np.array_equal(dx[moved], A.DX[a][moved])
    assert (e.mp[moved] < s["mp"][moved] + e.speed[None, :].repeat(e.B, 0)[moved]).all()


# --------------------------------------------------------------------------- properties


@settings(max_examples=examples(60), **SETTINGS)
@given(
    sc=scenarios(max_units=5),
    seed=st.integers(0, 2**32 - 1),
    ticks=st.integers(5, 40),
    reset_p=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_invariants_hold_under_random_play(
    sc: Scenario, seed: int, ticks: int, reset_p: float
) -> None:
    e = Engine(sc, 3, seed)
    los = los_tables(sc.maps)
    rng = np.random.default_rng(seed)
    check_state(e, los)
    for _ in range(ticks):
        act = random_actions(rng, e)
        before = snapshot(e)
        r = e.step(act)
        check_tick(e, los, before, act)
        assert np.array_equal(r.done, e.done & ~before["done"])
        assert not (r.terminated & r.truncated).any()
        assert (r.rewards[before["done"]] == 0).all()
        again = e.done & (rng.random(e.B) < reset_p)
        if again.any():
            e.reset(again)
            check_state(e, los)


@settings(max_examples=examples(30), **SETTINGS)
@given(sc=scenarios())
def test_line_of_sight_table_is_symmetric_and_matches_the_rule(sc: Scenario) -> None:
    table = los_tables(sc.maps)
    for m, grid in enumerate(sc.maps):
        assert np.array_equal(table[m], table[m].T)
        assert table[m].diagonal().all()
        assert np.array_equal(table[m], brute_los(grid))


@settings(max_examples=examples(30), **SETTINGS)
@given(sc=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_units_start_on_distinct_passable_cells(sc: Scenario, seed: int) -> None:
    e = Engine(sc, 4, seed)
    for b in range(e.B):
        for u in np.flatnonzero(sc.present):
            z = sc.start_zone[u]
            if z < 0:
                assert (e.y[b, u], e.x[b, u]) == tuple(sc.start_at[u])
            else:
                x0, y0, x1, y1 = sc.zones[sc.zone_names[z]]
                assert x0 <= e.x[b, u] <= x1 and y0 <= e.y[b, u] <= y1
    check_state(e, los_tables(sc.maps))
