"""Scripted, vectorised doctrine behaviours: opponents and demonstrators.

A doctrine is a stateless function ``(engine, side) -> actions`` returning
(B, n_slots_of_side) int64 actions for every world at once. Doctrines see
only what their side may know: enemies it sees now (fog of war) and where it
last saw them; enemy deaths are known because every kill happens in sight.

| name     | behaviour                                                                     |
|----------|-------------------------------------------------------------------------------|
| hold     | stay put; fire at the nearest engageable enemy, else take cover               |
| advance  | fire when possible, else move to the objective (enemy start zone if none)     |
| assault  | fire when possible, else close on the nearest known enemy, else advance       |
| defend   | fire when possible, else move into the objective zone and take cover there    |
| flank    | fire when possible, else swing wide (even slots left, odd right), then assault|
| retreat  | assault while healthy; a unit below half hp, or all when the side is below    |
|          | 40% strength, falls back to its start zone and takes cover                    |
| ambush   | take cover and hold fire until an enemy is within 4 cells or the unit is hit  |
| random   | uniform random actions from the world's own counter-based stream              |

Movement follows precomputed shortest paths (:func:`cgfsim.sim.geometry.path_tables`),
so doctrines route around obstacles and water.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim.doctrine_names import ALIASES, NAMES
from cgfsim.sim.rng import STREAM_DOCTRINE, draw
from cgfsim.sim.rules import any_last

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

Doctrine = Callable[["Engine", int], np.ndarray]


class _View:
    """What one side knows this tick, computed once and shared by the doctrine's rules."""

    def __init__(self, e: Engine, side: int) -> None:
        self.e, self.side = e, side
        nb = e.nb
        own = slice(0, nb) if side == 0 else slice(nb, e.U)
        en = slice(nb, e.U) if side == 0 else slice(0, nb)
        self.own, self.en = own, en
        self.d2 = e.d2 if side == 0 else e.d2_r
        self.alive = e.alive[:, own]
        self.y, self.x = e.y[:, own].astype(np.int64), e.x[:, own].astype(np.int64)
        self.cell = self.y * e.W + self.x
        ready = e.ready()[:, own]
        self.engage = e.engage_b if side == 0 else e.engage_r
        self.can_fire = ready & e.has_target[:, own]
        self.mover = self.alive & ~self.can_fire  # units whose action is a movement decision
        # Known enemies: alive and seen at least once this episode, at their last seen cell.
        self.known = e.alive[:, en] & (e.last_tick[:, en] >= 0)
        self.enemy_cell = e.last_y[:, en].astype(np.int64) * e.W + e.last_x[:, en]
        self.hp_frac = e.hp[:, own] / e.max_hp[own][None]
        self.n = own.stop - own.start

    def fill(self, a: np.ndarray) -> np.ndarray:
        """Fire wherever possible, whatever else the rule chose."""
        return np.where(self.can_fire, A.FIRE_NEAREST, a)

    def goal_objective(self) -> np.ndarray:
        """(B, n) goal cell: the objective, or the enemy's start zone when there is none."""
        return self._per_map_goal("objective")

    def goal_home(self) -> np.ndarray:
        return self._per_map_goal("home")

    def _per_map_goal(self, which: str) -> np.ndarray:
        e = self.e
        key = ("doctrine_goal", which, self.side)
        if key not in e.derived:
            if which == "objective":
                rect = (
                    tuple(int(v) for v in e.obj_rect[0]) if e.n_obj else _enemy_zone(e, self.side)
                )
            else:
                rect = _enemy_zone(e, 1 - self.side)
            e.derived[key] = _zone_goal(e, rect)
        per_map: np.ndarray = e.derived[key]  # type: ignore[assignment]
        goal = per_map[0] if e.n_maps == 1 else per_map[e.map_id][:, None]
        return np.broadcast_to(goal, (e.B, self.n))

    def goal_enemy(self, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) cell of the nearest known enemy by path, and whether there is one.

        Searched only for the units in ``where`` (default: those that will move);
        the others get their own cell.
        """
        e = self.e
        f = np.flatnonzero(self.mover if where is None else where)
        goal = self.cell.copy()
        has = np.zeros(self.alive.shape, bool)
        if f.size:
            wb = f // self.n
            known = self.known[wb]
            ecell = self.enemy_cell[wb]
            start = e.map_id.astype(np.int64)[wb] * e.n_cells + goal.ravel()[f]
            dist = e.path.reshape(-1)[start[:, None] * e.n_cells + ecell]
            dist = np.where(known, dist.astype(np.int32), np.int32(1 << 20))
            goal.ravel()[f] = np.take_along_axis(ecell, dist.argmin(-1)[:, None], 1)[:, 0]
            has.ravel()[f] = any_last(known) if known.shape[1] % 8 == 0 else known.any(-1)
        return goal, has

    def move_to(self, goal: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """One step along a shortest path to ``goal`` (B, n); stay when there or unreachable.

        Only the units in ``where`` (default: live units that cannot fire) are
        routed; the rest get stay. Ties go to north, east, south, west in turn.
        """
        e = self.e
        act = np.full(self.cell.shape, A.STAY, np.int64)
        f = np.flatnonzero(self.mover if where is None else where)
        if f.size == 0:
            return act
        table = e.path.reshape(-1)
        mcell = e.map_id.astype(np.int64)[f // self.n] * e.n_cells
        g = np.ascontiguousarray(goal).ravel()[f]
        here = mcell + self.cell.ravel()[f]
        best = table[here * e.n_cells + g]
        nbr = _neighbours(e)[here]  # (k, 4) map-flat cells, or a sentinel row of UNREACHABLE
        d = table[(nbr * e.n_cells) + g[:, None]]
        k = d.argmin(-1)
        move = np.take_along_axis(d, k[:, None], 1)[:, 0] < best
        act.ravel()[f] = np.where(move, k + A.NORTH, A.STAY)
        return act


def _neighbours(e: Engine) -> np.ndarray:
    """(M*C, 4) map-flat neighbour cells N, E, S, W of every cell of every map.

    An off-map neighbour is the cell itself, whose distance to the goal is
    never strictly better than staying, so it needs no branch.
    """
    cache = e.derived
    key = "doctrine_neighbours"
    if key not in cache:
        m, h, w = e.maps.shape
        rr, cc = np.divmod(np.arange(h * w), w)
        out = np.empty((m, h * w, 4), np.int64)
        for k, a in enumerate((A.NORTH, A.EAST, A.SOUTH, A.WEST)):
            ny, nx = rr + A.DY[a], cc + A.DX[a]
            ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            nc = np.where(ok, np.clip(ny, 0, h - 1) * w + np.clip(nx, 0, w - 1), np.arange(h * w))
            out[:, :, k] = np.arange(m)[:, None] * (h * w) + nc[None, :]
        cache[key] = out.reshape(m * h * w, 4)
    table: np.ndarray = cache[key]  # type: ignore[assignment]
    return table


def _zone_goal(e: Engine, rect: tuple[int, ...]) -> np.ndarray:
    """(M,) per map: the passable cell of the zone nearest its centre."""
    key = ("doctrine_zone_goal", rect)
    if key not in e.derived:
        x0, y0, x1, y1 = rect
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        rr, cc = np.mgrid[0 : e.H, 0 : e.W]
        d = (rr - cy) ** 2 + (cc - cx) ** 2
        out = np.empty(e.n_maps, np.int64)
        from cgfsim.sim.terrain import PASSABLE

        for m in range(e.n_maps):
            dm = np.where(PASSABLE[e.maps[m]], d, np.inf)
            out[m] = int(np.argmin(dm))
        e.derived[key] = out
    goal: np.ndarray = e.derived[key]  # type: ignore[assignment]
    return goal


def _enemy_zone(e: Engine, side: int) -> tuple[int, int, int, int]:
    """Start zone of the side opposite to ``side`` (its first used zone), else the map centre."""
    sc = e.scenario
    sl = sc.side_slice(1 - side)
    z = sc.start_zone[sl][sc.present[sl]]
    z = z[z >= 0]
    if z.size:
        return sc.zones[sc.zone_names[int(z[0])]]
    at = sc.start_at[sl][sc.present[sl]]
    r, c = int(at[0, 0]), int(at[0, 1])
    return (c, r, c, r)


# ------------------------------------------------------------------------ doctrines


def hold(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    return v.fill(np.full((e.B, v.n), A.TAKE_COVER, np.int64))


def advance(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    return v.fill(v.move_to(v.goal_objective()))


def assault(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    cell, any_known = v.goal_enemy()
    goal = np.where(any_known, cell, v.goal_objective())
    return v.fill(v.move_to(goal))


def defend(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    if e.n_obj:
        x0, y0, x1, y1 = (int(c) for c in e.obj_rect[0])
    else:
        x0, y0, x1, y1 = _enemy_zone(e, 1 - side)
    inside = (v.x >= x0) & (v.x <= x1) & (v.y >= y0) & (v.y <= y1)
    goal = v.goal_objective() if e.n_obj else v.goal_home()
    return v.fill(np.where(inside, A.TAKE_COVER, v.move_to(goal)))


def flank(e: Engine, side: int, offset: int = 6) -> np.ndarray:
    v = _View(e, side)
    target = v.goal_objective()
    ty, tx = target // e.W, target % e.W
    # Lateral direction: perpendicular to the line from the side's mean position to the target.
    my = np.where(v.alive, v.y, 0).sum(1) / np.maximum(v.alive.sum(1), 1)
    mx = np.where(v.alive, v.x, 0).sum(1) / np.maximum(v.alive.sum(1), 1)
    dy, dx = ty[:, 0] - my, tx[:, 0] - mx
    norm = np.maximum(np.hypot(dy, dx), 1e-6)
    px, py = -dy / norm, dx / norm  # perpendicular unit vector
    sign = np.where(np.arange(v.n) % 2 == 0, 1.0, -1.0)[None, :]
    wy = np.clip(np.round(ty + sign * py[:, None] * offset), 0, e.H - 1).astype(np.int64)
    wx = np.clip(np.round(tx + sign * px[:, None] * offset), 0, e.W - 1).astype(np.int64)
    waypoint = _nearest_passable(e, wy, wx)
    d_unit = (v.y - ty) ** 2 + (v.x - tx) ** 2
    d_way = (wy - ty) ** 2 + (wx - tx) ** 2
    cell, any_known = v.goal_enemy()
    final = np.where(any_known, cell, target)
    goal = np.where(d_unit > d_way + 2, waypoint, final)
    return v.fill(v.move_to(goal))


def _nearest_passable(e: Engine, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    from cgfsim.sim.terrain import PASSABLE

    cell = y * e.W + x
    ok = PASSABLE[e.maps.reshape(e.n_maps, -1)[e.map_id[:, None], cell]]
    if ok.all():
        return cell
    # fall back to the objective goal for impassable waypoints
    return np.where(
        ok,
        cell,
        _zone_goal(
            e, tuple(int(c) for c in (e.obj_rect[0] if e.n_obj else (0, 0, e.W - 1, e.H - 1)))
        )[e.map_id][:, None],
    )


def retreat(e: Engine, side: int) -> np.ndarray:
    v = _View(e, side)
    own = e.present[v.own]
    strength = (e.hp[:, v.own] * own).sum(1) / max(float((e.max_hp[v.own] * own).sum()), 1e-6)
    weak = v.alive & ((v.hp_frac < 0.5) | (strength < 0.4)[:, None])
    cell, any_known = v.goal_enemy()
    attack = v.move_to(np.where(any_known, cell, v.goal_objective()))
    home = v.goal_home()
    back = np.where(v.cell == home, A.TAKE_COVER, v.move_to(home, where=weak))
    return np.where(weak, back, v.fill(attack))


def ambush(e: Engine, side: int, trigger_d2: int = 16) -> np.ndarray:
    v = _View(e, side)
    close = (v.engage & (v.d2 <= trigger_d2)).any(-1)
    hurt = v.hp_frac < 1.0
    spring = close | hurt | (e.stat_shots[:, side] > 0)[:, None]
    return np.where(spring & v.can_fire, A.FIRE_NEAREST, A.TAKE_COVER).astype(np.int64)


def random(e: Engine, side: int) -> np.ndarray:
    sl = slice(0, e.nb) if side == 0 else slice(e.nb, e.U)
    slots = np.arange(e.U)[sl]
    r = draw(e.key[:, None], e.episode[:, None], e.tick[:, None], slots[None, :], STREAM_DOCTRINE)
    return (r % e.n_act[sl].astype(np.uint64)[None, :]).astype(np.int64)


DOCTRINES: dict[str, Doctrine] = {
    "hold": hold,
    "advance": advance,
    "assault": assault,
    "defend": defend,
    "flank": flank,
    "retreat": retreat,
    "ambush": ambush,
    "random": random,
}
assert tuple(DOCTRINES) == NAMES, "cgfsim.sim.doctrine_names.NAMES must list the registry"


def get_doctrine(name: str) -> Doctrine:
    """Look a doctrine up by name (aliases like ``assault-nearest`` accepted)."""
    key = ALIASES.get(name, name)
    if key not in DOCTRINES:
        raise ValueError(f"unknown doctrine {name!r}; expected one of {', '.join(DOCTRINES)}")
    return DOCTRINES[key]


def joint_actions(e: Engine, blue: Doctrine, red: Doctrine) -> np.ndarray:
    """(B, U) actions with both sides driven by doctrines."""
    return np.concatenate([blue(e, 0), red(e, 1)], 1)
