# ruff: noqa: E501  (the feature table reads best one row per line)
"""The observation table: every element of every observation form is a row of :data:`FEATURES`.

Each :class:`Feature` has a name, a group, the entity it describes (own unit,
enemy slot, objective, a pair of them, the whole world, the action mask, or a
grid cell), the forms it appears in, its range and a one-line meaning, and a
function computing its values from :class:`_Ctx`, what one side knows this
tick (computed once per build and shared by the features). The builder in
:mod:`cgfsim.envs.observations` places the values and names them from this
table. ``python -c "from cgfsim.envs.features import describe; print(describe())"``
prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import numpy as np

from cgfsim.sim.rules import any_last
from cgfsim.sim.terrain import Terrain
from cgfsim.sim.units import N_TYPES, UNIT_TYPES

if TYPE_CHECKING:
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.engine import Engine

GROUPS = (
    "slot",
    "terrain",
    "own",
    "enemy_memory",
    "enemy_visible",
    "engagement",
    "objective",
    "score",
    "time",
    "mask",
)
#: Entity a feature belongs to; decides where its values go in each form.
KINDS = ("own", "enemy", "objective", "own_enemy", "own_objective", "global", "mask", "cell")
_F32 = np.float32
_TYPES = tuple(t.name for t in UNIT_TYPES)
_TERRAIN = tuple(t.name.lower() for t in Terrain)


@dataclass(frozen=True)
class Feature:
    """One row of the observation table.

    ``fn(ctx)`` returns the values for every world: ``(n, O)`` for an own
    feature, ``(n, E)`` enemy, ``(n, K)`` objective, ``(n, O, E)`` own_enemy,
    ``(n, O, K)`` own_objective, ``(n,)`` global, with a trailing axis of
    ``len(sub)`` for a multi-column feature (a one-hot). A ``cell`` feature's
    ``fn(ctx, out, channel)`` paints its channels of the grid ``out`` whole.
    """

    name: str
    group: str
    kind: str
    modes: tuple[str, ...]
    low: float
    high: float
    meaning: str
    fn: Callable[..., Any]
    sub: tuple[str, ...] = ()  # column names of a multi-column feature

    @property
    def width(self) -> int:
        return len(self.sub) or 1

    def names(self) -> list[str]:
        return [f"{self.name}_{s}" for s in self.sub] if self.sub else [self.name]


_T = TypeVar("_T")


class _once(Generic[_T]):
    """``functools.cached_property`` without its lock.

    Python 3.11's takes an ``RLock`` on every first access, and a build makes some
    25 of them; the value is stored in the instance, so later reads never come here.
    """

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _once[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object, owner: type | None = None) -> _T | _once[_T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


V, G, EN = ("vector",), ("grid",), ("entities",)
VE = ("vector", "entities")


def _feature(
    name: str,
    group: str,
    kind: str,
    modes: tuple[str, ...],
    low: float,
    high: float,
    meaning: str,
    fn: Callable[..., Any],
    sub: tuple[str, ...] = (),
) -> Feature:
    return Feature(name, group, kind, modes, low, high, meaning, fn, sub)


class _Ctx:
    """What one side knows of the worlds ``w`` this tick; each piece computed once, on use."""

    def __init__(self, ob: ObservationBuilder, w: slice | np.ndarray, n: int) -> None:
        self.ob: ObservationBuilder = ob
        self.e: Engine = ob.e
        self.w: slice | np.ndarray = w
        self.n: int = n

    # -- own units
    @_once
    def alive(self) -> np.ndarray:
        return self.e.alive[self.w, self.ob.own]

    @_once
    def alive_f(self) -> np.ndarray:
        return self.alive.astype(_F32)

    @_once
    def y(self) -> np.ndarray:
        """Own units' engine-frame rows (int64)."""
        return self.e.y[self.w, self.ob.own].astype(np.int64)

    @_once
    def x(self) -> np.ndarray:
        return self.e.x[self.w, self.ob.own].astype(np.int64)

    @_once
    def row(self) -> np.ndarray:
        """Own units' canonical rows (int64)."""
        return self.ob.canon(self.y)

    @_once
    def row_f(self) -> np.ndarray:
        """(n, O) own units' canonical rows, scaled to [0, 1] (float32)."""
        return self.ob.canon_f(self.e.y[self.w, self.ob.own])

    @_once
    def col_f(self) -> np.ndarray:
        return self.e.x[self.w, self.ob.own] * self.ob.inv_w

    @_once
    def mid(self) -> np.ndarray:
        return self.e.map_id[self.w].astype(np.int64)

    @_once
    def map_cell(self) -> np.ndarray:
        """(n, O) map-flat index of each own unit's cell (map * cells + cell), int64."""
        cell = self.y * self.e.W + self.x
        return cell if self.e.n_maps == 1 else self.mid[:, None] * self.e.n_cells + cell

    @_once
    def ready(self) -> np.ndarray:
        e, w, own = self.e, self.w, self.ob.own
        return self.alive & (e.cooldown[w, own] == 0) & (e.ammo[w, own] > 0)

    @_once
    def can_fire(self) -> np.ndarray:
        return self.ready & self.e.has_target[self.w, self.ob.own]

    @_once
    def engage(self) -> np.ndarray:
        """(n, O, E) own i can engage enemy j now (the engine's per-tick table)."""
        return (self.e.engage_b if self.ob.side == 0 else self.e.engage_r)[self.w]

    # -- enemies
    @_once
    def ever(self) -> np.ndarray:
        return self.e.last_tick[self.w, self.ob.en] >= 0

    @_once
    def ever_f(self) -> np.ndarray:
        return self.ever.astype(_F32)

    @_once
    def known(self) -> np.ndarray:
        return self.e.alive[self.w, self.ob.en] & self.ever

    @_once
    def vis(self) -> np.ndarray:
        return self.e.visible[self.w, self.ob.en]

    @_once
    def ly(self) -> np.ndarray:
        """Enemies' last seen engine-frame rows (0 when never seen)."""
        return np.maximum(self.e.last_y[self.w, self.ob.en], 0).astype(np.int64)

    @_once
    def lx(self) -> np.ndarray:
        return np.maximum(self.e.last_x[self.w, self.ob.en], 0).astype(np.int64)

    @_once
    def lrow(self) -> np.ndarray:
        return self.ob.canon(self.ly)

    @_once
    def lrow_f(self) -> np.ndarray:
        """(n, E) enemies' last seen canonical rows, scaled; 0 when never seen."""
        return self.ob.canon_f(self.e.last_y[self.w, self.ob.en]) * self.ever_f

    @_once
    def lcol_f(self) -> np.ndarray:
        return self.e.last_x[self.w, self.ob.en] * self.ob.inv_w * self.ever_f

    @_once
    def pair(self) -> np.ndarray:
        """(n, O, E) live own unit and known enemy: the pairs relations are shown for."""
        return self.alive[:, :, None] & self.known[:, None, :]

    @_once
    def d2_los(self) -> tuple[np.ndarray, np.ndarray]:
        """Squared distance and line of sight from each own unit to each enemy's last seen cell
        (a never-seen enemy's is cell 0; :attr:`pair` masks it out)."""
        e, ob, w = self.e, self.ob, self.w
        it = ob.pair_index_dtype  # every index into the table fits it
        ly: np.ndarray = np.maximum(e.last_y[w, ob.en], 0).astype(it)
        cell_en = ly * e.W + np.maximum(e.last_x[w, ob.en], 0)
        here = self.map_cell.astype(it) * e.n_cells
        v = np.take(e.pair_flat, here[:, :, None] + cell_en[:, None, :])
        return v >> 1, (v & 1).astype(bool)

    @_once
    def threat(self) -> np.ndarray:
        """(n, O, E) known enemy j, from its last seen cell, has own i in weapon range and sight
        (or fires indirectly)."""
        d2, los = self.d2_los
        ob = self.ob
        sight = (los | ob.indirect_en) if ob.any_indirect_en else los
        threat = d2 <= ob.range2_en
        threat &= sight
        threat &= self.pair
        return threat

    # -- objectives
    @_once
    def objective(self) -> tuple[np.ndarray, ...]:
        """(n, K) float32 each: controlled by us, by the enemy (as seen), our/their progress."""
        e, w, ob = self.e, self.w, self.ob
        # one lookup per unit: the bit set of objective zones its cell lies in
        zbits = ob.zone_bits
        mine = np.take(zbits, self.map_cell)
        mine *= self.alive
        en_cell = e.y[w, ob.en].astype(np.int64) * e.W + e.x[w, ob.en]
        if e.n_maps > 1:
            en_cell += self.mid[:, None] * e.n_cells
        seen = np.take(zbits, en_cell)
        seen *= self.vis
        ours, theirs = _zones_held(mine, ob.obj_bit), _zones_held(seen, ob.obj_bit)
        hold = np.minimum(e.hold[w].astype(_F32) * ob.inv_hold[None, :, None], 1)
        ctrl_ours, ctrl_theirs = (ours & ~theirs).astype(_F32), (theirs & ~ours).astype(_F32)
        return ctrl_ours, ctrl_theirs, hold[..., ob.side], hold[..., 1 - ob.side] * ctrl_theirs

    @_once
    def obj_rel(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, O, K) objective centre minus unit cell (rows, cols scaled) and unit inside zone."""
        ob = self.ob
        dy = ob.obj_row[None, None, :] * ob.inv_h - self.row_f[:, :, None]
        dx = ob.obj_col[None, None, :] * ob.inv_w - self.col_f[:, :, None]
        r = ob.obj_rect
        y, x = self.y[:, :, None], self.x[:, :, None]
        ins = (x >= r[:, 0]) & (x <= r[:, 2]) & (y >= r[:, 1]) & (y <= r[:, 3])
        a = self.alive_f[:, :, None]
        return (dy * a).astype(_F32), (dx * a).astype(_F32), ins * a

    # -- score
    @_once
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(n,) own points (the rules'), enemy points as far as the side knows; both scaled."""
        e, ob, w = self.e, self.ob, self.w
        if e.vp is None:
            z = np.zeros(self.n, _F32)
            return z, z
        s = ob.side
        att = e.attrition_points(None if isinstance(w, slice) else w)
        own = att[:, s] + e.vp_tick[w, s]
        enemy = att[:, 1 - s] + e.vp_tick_seen[w, 1 - s]
        if ob.K and e.vp.objective_held:
            own = own + (e.controller[w] == s).sum(1) * e.vp.objective_held
            enemy = enemy + self.objective[1].sum(1) * e.vp.objective_held
        return (own * ob.inv_vp).astype(_F32), (enemy * ob.inv_vp).astype(_F32)

    # -- nearest relations (entity summaries)
    @_once
    def far_d2(self) -> np.ndarray:
        """(n, O, E) :attr:`d2_los` distances where :attr:`pair`, above any distance elsewhere
        (the table's dtype maximum: the packed table holds twice the distance)."""
        d2 = self.d2_los[0]
        return np.where(self.pair, d2, np.iinfo(d2.dtype).max)

    @_once
    def nearest_enemy(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, O) scaled offset to the nearest known enemy's last seen cell (0 if none)."""
        j = self.far_d2.argmin(-1)  # (n, O), the lowest slot on ties
        has = any_last(self.pair)
        at = j + np.arange(0, self.n * self.ob.E, self.ob.E)[:, None]  # flat (world, slot)
        lrow, lcol = np.take(self.lrow_f, at), np.take(self.lcol_f, at)
        return (lrow - self.row_f) * has, (lcol - self.col_f) * has

    @_once
    def nearest_own(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, E) scaled offset from the nearest live own unit to the enemy's last seen cell."""
        i = self.far_d2.argmin(1)  # (n, E)
        has = self.pair.any(1)
        at = i + np.arange(0, self.n * self.ob.O, self.ob.O)[:, None]
        row, col = np.take(self.row_f, at), np.take(self.col_f, at)
        return (self.lrow_f - row) * has, (self.lcol_f - col) * has

    @_once
    def nearest_objective(self) -> tuple[np.ndarray, np.ndarray]:
        dy, dx, _ = self.obj_rel
        if self.ob.K == 0:
            z = np.zeros((self.n, self.ob.O), _F32)
            return z, z
        k = (dy * dy + dx * dx).argmin(-1)[..., None]
        return np.take_along_axis(dy, k, 2)[..., 0], np.take_along_axis(dx, k, 2)[..., 0]


def _zones_held(bits: np.ndarray, obj_bit: np.ndarray) -> np.ndarray:
    """(n, K) whether any unit's zone bit set (n, units) has objective k's bit."""
    if obj_bit.shape[1] == 1:  # one objective: the bits are 0 or 1
        return any_last(bits != 0)[:, None]
    return (np.bitwise_or.reduce(bits, axis=1)[:, None] & obj_bit) != 0


# -- grid painters: each writes its channel(s) of ``out`` (n, C, H, W) whole


def _paint_static(name: str) -> Callable[[_Ctx, np.ndarray, int], None]:
    def paint(c: _Ctx, out: np.ndarray, ch: int) -> None:
        st = c.ob.static_planes(name)  # (M, w, H, W)
        # one map: broadcast it (indexing by map would build a (n, w, H, W) copy first)
        out[:, ch : ch + st.shape[1]] = st[0] if len(st) == 1 else st[c.mid]

    return paint


def _scatter(
    c: _Ctx,
    out: np.ndarray,
    ch: np.ndarray | int,
    cell: np.ndarray,
    val: Any,
    where: np.ndarray,
    overlap: bool = False,
) -> None:
    """Write ``val`` at channel ``ch`` and canonical cell ``cell`` (per element) where ``where``.

    Live units never share a cell; remembered enemies may (``overlap``: keep the largest).
    """
    e = c.e
    plane = e.H * e.W
    base = np.arange(c.n, dtype=np.int64)[:, None] * (out.shape[1] * plane)
    pos = (base + np.asarray(ch, np.int64) * plane + cell)[where]
    v = np.broadcast_to(np.asarray(val, _F32), where.shape)[where]
    flat = out.reshape(-1)  # a view: ``out`` is C-contiguous
    if overlap:
        np.maximum.at(flat, pos, v)
    else:
        flat[pos] = v


def _cells(c: _Ctx) -> np.ndarray:
    return c.row * c.e.W + c.x


def _paint_units(value: Callable[[_Ctx], np.ndarray], by_type: bool) -> Callable[..., None]:
    """Own units' cells (by type, or one channel), valued ``value(ctx)`` (n, O)."""

    def paint(c: _Ctx, out: np.ndarray, ch: int) -> None:
        out[:, ch : ch + (N_TYPES if by_type else 1)] = 0
        chans = ch + c.ob.t_own[None, :] if by_type else ch
        _scatter(c, out, chans, _cells(c), value(c), c.alive)

    return paint


def _paint_enemies(c: _Ctx, out: np.ndarray, ch: int) -> None:
    out[:, ch : ch + N_TYPES] = 0
    e, w, en = c.e, c.w, c.ob.en
    cell = c.ob.canon(e.y[w, en].astype(np.int64)) * e.W + e.x[w, en]
    _scatter(c, out, ch + c.ob.t_en[None, :], cell, e.hp[w, en] * c.ob.inv_hp_en, c.vis)


def _paint_memory(c: _Ctx, out: np.ndarray, ch: int) -> None:
    out[:, ch] = 0
    mem = c.known & ~c.vis
    if mem.any():
        age = (c.e.tick[c.w][:, None] - c.e.last_tick[c.w, c.ob.en]) * c.ob.inv_t
        _scatter(c, out, ch, c.lrow * c.e.W + c.lx, 1 - np.minimum(age, 1), mem, overlap=True)


def _paint_engageable(c: _Ctx, out: np.ndarray, ch: int) -> None:
    out[:, ch] = 0
    e, w, en = c.e, c.w, c.ob.en
    cell = c.ob.canon(e.y[w, en].astype(np.int64)) * e.W + e.x[w, en]
    _scatter(c, out, ch, cell, 1.0, np.asarray(c.engage.any(1)))


def _paint_plane(value: Callable[[_Ctx], np.ndarray]) -> Callable[..., None]:
    def paint(c: _Ctx, out: np.ndarray, ch: int) -> None:
        out[:, ch] = value(c)[:, None, None]

    return paint


def _paint_control(k: int) -> Callable[..., None]:
    def paint(c: _Ctx, out: np.ndarray, ch: int) -> None:
        ob = c.ob
        if ob.K == 0:
            out[:, ch] = 0
            return
        ctrl = c.objective[k]
        if ob.K == 1:  # the same 0/1 values without the (n, H * W) temporaries
            np.multiply(ctrl[:, :, None, None], ob.zone, out=out[:, ch : ch + 1])
            return
        out[:, ch] = np.minimum(ctrl @ ob.zone.reshape(ob.K, -1), 1).reshape(c.n, ob.H, ob.W)

    return paint


def _en_type(c: _Ctx) -> tuple[np.ndarray, ...]:
    # one (n, E) array per type: written as they are, no axis to move
    return tuple(c.ever_f * c.ob.onehot_en[:, k] for k in range(N_TYPES))


def _age(c: _Ctx) -> np.ndarray:
    age = (c.e.tick[c.w][:, None] - c.e.last_tick[c.w, c.ob.en]) * c.ob.inv_t
    return np.where(c.ever, np.minimum(age, 1), 1)


def _own(attr: str, scale: str | None = None) -> Callable[[_Ctx], np.ndarray]:
    def fn(c: _Ctx) -> np.ndarray:
        v = getattr(c.e, attr)[c.w, c.ob.own]
        return v * getattr(c.ob, scale) if scale else v

    return fn


#: The observation table: every element of every form comes from one of these rows.
FEATURES: tuple[Feature, ...] = (
    # ---- own units (zero for a dead or absent slot)
    _feature("alive", "own", "own", VE, 0, 1, "the unit is alive", lambda c: c.alive),
    _feature("row", "own", "own", VE, 0, 1, "row, 0 = far edge, 1 = own edge", lambda c: c.row_f),
    _feature("col", "own", "own", VE, 0, 1, "column, 0 = west edge", lambda c: c.col_f),
    _feature("type", "own", "own", VE, 0, 1, "unit type, one-hot", lambda c: c.ob.onehot_own[None], _TYPES),
    _feature("hp", "own", "own", VE, 0, 1, "hit points / maximum", _own("hp", "inv_hp_own")),
    _feature("ammo", "own", "own", VE, 0, 1, "ammunition / initial", _own("ammo", "inv_ammo")),
    _feature("reloading", "own", "own", VE, 0, 1, "reloading: cannot fire this tick", lambda c: c.e.cooldown[c.w, c.ob.own] > 0),
    _feature("mp", "own", "own", VE, 0, 1, "movement points / cap", _own("mp", "inv_mp")),
    _feature("covered", "own", "own", VE, 0, 1, "took cover: +1 cover until it moves or fires", _own("covered")),
    _feature("cover", "terrain", "own", VE, 0, 1, "terrain cover at its cell / 2 (rough 0.5, forest 1)", lambda c: np.take(c.ob.cover_flat, c.map_cell)),
    _feature("concealed", "terrain", "own", VE, 0, 1, "its cell conceals it (forest: seen only from 2 cells)", lambda c: np.take(c.ob.conceal_flat, c.map_cell)),
    _feature("can_fire", "engagement", "own", VE, 0, 1, "can fire now: reloaded, ammunition, an enemy it can engage", lambda c: c.can_fire),
    _feature("targets", "engagement", "own", EN, 0, 1, "enemies it can engage now / E", lambda c: c.engage.sum(-1) * c.ob.inv_e),
    _feature("threatened", "engagement", "own", EN, 0, 1, "known enemies that can engage it from where last seen / E", lambda c: c.threat.sum(-1) * c.ob.inv_e),
    _feature("enemy_dy", "enemy_memory", "own", EN, -1, 1, "rows to the nearest known enemy's last seen cell", lambda c: c.nearest_enemy[0]),
    _feature("enemy_dx", "enemy_memory", "own", EN, -1, 1, "columns to the nearest known enemy's last seen cell", lambda c: c.nearest_enemy[1]),
    _feature("objective_dy", "objective", "own", EN, -1, 1, "rows to the nearest objective's centre", lambda c: c.nearest_objective[0]),
    _feature("objective_dx", "objective", "own", EN, -1, 1, "columns to the nearest objective's centre", lambda c: c.nearest_objective[1]),
    # ---- enemy slots (what the side knows)
    _feature("known", "enemy_memory", "enemy", VE, 0, 1, "alive and seen at least once", lambda c: c.known),
    _feature("row", "enemy_memory", "enemy", VE, 0, 1, "row where last seen (0 if never)", lambda c: c.lrow_f),
    _feature("col", "enemy_memory", "enemy", VE, 0, 1, "column where last seen (0 if never)", lambda c: c.lcol_f),
    _feature("type", "enemy_memory", "enemy", VE, 0, 1, "unit type, one-hot, once seen", _en_type, _TYPES),
    _feature("age", "enemy_memory", "enemy", VE, 0, 1, "ticks since last seen / T (1 if never seen)", _age),
    _feature("seen", "enemy_memory", "enemy", VE, 0, 1, "seen at least once (also if destroyed since)", lambda c: c.ever),
    _feature("visible", "enemy_visible", "enemy", VE, 0, 1, "some own unit sees it now", lambda c: c.vis),
    _feature("hp", "enemy_visible", "enemy", VE, 0, 1, "hit points / maximum, only while visible", lambda c: c.e.hp[c.w, c.ob.en] * c.ob.inv_hp_en * c.vis),
    _feature("engageable", "engagement", "enemy", EN, 0, 1, "some own unit can engage it now", lambda c: c.engage.any(1)),
    _feature("threat", "engagement", "enemy", EN, 0, 1, "own units it can engage from where last seen / O", lambda c: c.threat.sum(1) * c.ob.inv_o),
    _feature("own_dy", "enemy_memory", "enemy", EN, -1, 1, "rows from the nearest own unit to where it was last seen", lambda c: c.nearest_own[0]),
    _feature("own_dx", "enemy_memory", "enemy", EN, -1, 1, "columns from the nearest own unit to where it was last seen", lambda c: c.nearest_own[1]),
    # ---- objectives
    _feature("row", "objective", "objective", VE, 0, 1, "zone centre row", lambda c: c.ob.obj_row * c.ob.inv_h),
    _feature("col", "objective", "objective", VE, 0, 1, "zone centre column", lambda c: c.ob.obj_col * c.ob.inv_w),
    _feature("ctrl_ours", "objective", "objective", VE, 0, 1, "we control it (own units in it, no enemy seen in it)", lambda c: c.objective[0]),
    _feature("ctrl_theirs", "objective", "objective", VE, 0, 1, "the enemy controls it, as far as we see", lambda c: c.objective[1]),
    _feature("hold_ours", "objective", "objective", VE, 0, 1, "our hold ticks / needed to capture", lambda c: c.objective[2]),
    _feature("hold_theirs", "objective", "objective", VE, 0, 1, "the enemy's hold ticks / needed, while seen capturing", lambda c: c.objective[3]),
    _feature("cap_ours", "objective", "objective", VE, 0, 1, "we may capture it", lambda c: c.ob.obj_cap[:, 0]),
    _feature("cap_theirs", "objective", "objective", VE, 0, 1, "the enemy may capture it", lambda c: c.ob.obj_cap[:, 1]),
    # ---- (own unit, enemy slot) relations
    _feature("offset", "enemy_memory", "own_enemy", V, -1, 1, "rows, columns from the unit to the enemy's last seen cell", lambda c: ((c.lrow_f[:, None, :] - c.row_f[:, :, None]) * c.pair, (c.lcol_f[:, None, :] - c.col_f[:, :, None]) * c.pair), ("dy", "dx")),
    _feature("los", "engagement", "own_enemy", V, 0, 1, "line of sight from the unit to the enemy's last seen cell", lambda c: c.d2_los[1] & c.pair),
    _feature("engage", "engagement", "own_enemy", V, 0, 1, "the unit can engage the enemy now (seen, in range, sight unless indirect)", lambda c: c.engage),
    _feature("threat", "engagement", "own_enemy", V, 0, 1, "the enemy, from its last seen cell, has the unit in range and sight", lambda c: c.threat),
    # ---- (own unit, objective) relations
    _feature("dy", "objective", "own_objective", V, -1, 1, "rows from the unit to the zone centre", lambda c: c.obj_rel[0]),
    _feature("dx", "objective", "own_objective", V, -1, 1, "columns from the unit to the zone centre", lambda c: c.obj_rel[1]),
    _feature("inside", "objective", "own_objective", V, 0, 1, "the unit stands in the zone", lambda c: c.obj_rel[2]),
    # ---- global
    _feature("tick", "time", "global", VE, 0, 1, "tick / T", lambda c: c.e.tick[c.w] * c.ob.inv_t),
    _feature("vp_own", "score", "global", VE, 0, 1, "our victory points / most a side can score (0 without points)", lambda c: c.points[0]),
    _feature("vp_enemy", "score", "global", VE, 0, 1, "the enemy's victory points as far as we know, same scale", lambda c: c.points[1]),
    # ---- the action mask (vector): 1 where the action can have an effect now
    _feature("mask", "mask", "mask", V, 0, 1, "the action can have an effect now (MaskablePPO's mask)", lambda c: c.ob.masker.build(c.ob.idx_of(c.w), alive=c.alive, ready=c.ready)),
    # ---- grid channels
    _feature("terrain", "terrain", "cell", G, 0, 1, "terrain type, one-hot", _paint_static("terrain"), _TERRAIN),
    _feature("own", "own", "cell", G, 0, 1, "own units by type, valued hit points / maximum", _paint_units(_own("hp", "inv_hp_own"), True), _TYPES),
    _feature("own_covered", "own", "cell", G, 0, 1, "own units that took cover", _paint_units(_own("covered"), False)),
    _feature("own_can_fire", "engagement", "cell", G, 0, 1, "own units that can fire now", _paint_units(lambda c: c.can_fire, False)),
    _feature("own_threatened", "engagement", "cell", G, 0, 1, "own units known enemies can engage, count / E", _paint_units(lambda c: c.threat.sum(-1) * c.ob.inv_e, False)),
    _feature("enemy", "enemy_visible", "cell", G, 0, 1, "enemies visible now by type, valued hit points / maximum", _paint_enemies, _TYPES),
    _feature("enemy_engageable", "engagement", "cell", G, 0, 1, "visible enemies some own unit can engage now", _paint_engageable),
    _feature("enemy_remembered", "enemy_memory", "cell", G, 0, 1, "known enemies not visible, at the last seen cell, valued 1 - age / T", _paint_memory),
    _feature("objective_zone", "objective", "cell", G, 0, 1, "objective zones", _paint_static("zone")),
    _feature("objective_ours", "objective", "cell", G, 0, 1, "zones we control", _paint_control(0)),
    _feature("objective_theirs", "objective", "cell", G, 0, 1, "zones the enemy controls, as far as we see", _paint_control(1)),
    _feature("tick", "time", "cell", G, 0, 1, "tick / T, every cell", _paint_plane(lambda c: c.e.tick[c.w] * c.ob.inv_t)),
    _feature("vp_own", "score", "cell", G, 0, 1, "our victory points, scaled, every cell", _paint_plane(lambda c: c.points[0])),
    _feature("vp_enemy", "score", "cell", G, 0, 1, "the enemy's known victory points, scaled, every cell", _paint_plane(lambda c: c.points[1])),
)  # fmt: skip


def features(mode: str, kind: str | None = None) -> list[Feature]:
    """Table rows that appear in ``mode`` (of ``kind``), in table order."""
    return [f for f in FEATURES if mode in f.modes and (kind is None or f.kind == kind)]


def describe() -> str:
    """The table as text: one line per feature with its form(s), group, range and meaning."""
    lines = [f"{'kind':14s} {'name':18s} {'group':14s} {'forms':24s} {'range':9s} meaning"]
    for f in FEATURES:
        names = f"{f.name}[{','.join(f.sub)}]" if f.sub else f.name
        lines.append(
            f"{f.kind:14s} {names:18s} {f.group:14s} {','.join(f.modes):24s} "
            f"{f'{f.low:g}..{f.high:g}':9s} {f.meaning}"
        )
    return "\n".join(lines)
