"""Observations of one side, built for all B worlds of an engine at once.

Every form is a float32 array with values in [0, 1], built from the engine's
state and the acting side's fog of war only, in the side's *canonical* frame:
own units first, and for red the map's rows are flipped (row ``r`` becomes
``H - 1 - r``) so that red, like blue, starts at the bottom and advances
upward. The same policy can thus play either side; the envs swap red's
north/south actions back (see :func:`to_engine_actions`).

Positions are ``row / (H - 1)`` and ``col / (W - 1)``. ``O``/``E`` are the own
and enemy side's slot counts, ``K`` the number of objectives, ``T`` the
scenario's ``max_ticks``.

**vector** ``(12 O + 11 E + 8 K + 1,)``, for MLPs:

- per own slot (all zero for a dead or absent unit): alive, row, col,
  type one-hot (infantry, armour, recon, artillery), hp fraction, ammunition
  fraction, reloading, movement points / cap, covered;
- per enemy slot: known alive (seen at least once and not destroyed), last
  seen row, col, type one-hot (known once seen), hp fraction (only while
  visible), visible now, age of the last sighting (ticks / T; 1 if never
  seen), seen ever;
- per objective: centre row, col, controlled by us, controlled by the enemy
  (judged from our live units and the enemies we see in the zone), our hold
  progress, the enemy's hold progress (hold ticks / needed; shown only while
  we see the enemy controlling it), capturable by us, by the enemy;
- tick / T.

**grid** ``(18, H, W)``, for CNNs: 0-5 terrain one-hot (open, obstacle,
forest, water, road, rough); 6-9 own units by type, value = hp fraction;
10-13 enemies visible now by type; 14 remembered enemies (known alive, not
visible) at their last seen cell, value ``1 - age / T``; 15 objective zones;
16 zones we control; 17 zones the enemy controls.

**entities** ``(O + E + K, 24)``, for attention: one row per own slot, enemy
slot and objective. Column 0 is the validity flag (own: alive; enemy: known
alive; objective: 1); invalid rows are all zero. Columns: 0 valid, 1 own,
2 enemy, 3 objective, 4 row, 5 col, 6-9 type one-hot, 10 hp fraction,
11 ammunition, 12 reloading, 13 movement points, 14 covered, 15 visible now,
16 age of sighting, 17 controlled by us, 18 controlled by the enemy, 19 our
hold progress, 20 enemy hold progress, 21 capturable by us, 22 capturable by
the enemy, 23 tick / T.

What fog of war hides never enters: an enemy's position is its last seen
cell, its hp is shown only while it is visible, its type only once seen, and
the enemy's capture timer only while we see it capturing. Our own capture
timer is the rules' (it stalls while any enemy, seen or not, stands in the
zone): the side's own score, which it would be told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from gymnasium import spaces

from cgfsim.sim import actions as A
from cgfsim.sim.terrain import MP_CAP, N_TERRAIN
from cgfsim.sim.units import AMMO, HP, N_TYPES, UNIT_TYPES

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

OBS_MODES = ("vector", "grid", "entities")
F_OWN, F_ENEMY, F_OBJ = 12, 11, 8
GRID_CHANNELS = 18
ENTITY_FEATURES = 24
_F32 = np.float32

#: Canonical action -> engine action for red (north and south swapped); an involution.
_RED_SWAP = np.array([A.STAY, A.SOUTH, A.EAST, A.NORTH, A.WEST], np.int64)


def to_engine_actions(actions: np.ndarray | np.integer | int, side: int) -> np.ndarray:
    """Map canonical-frame actions of ``side`` to the engine's absolute directions.

    Red sees its map with rows flipped, so its canonical north is the map's
    south. The mapping is its own inverse, so it also converts engine actions
    (e.g. a doctrine's) into red's canonical frame.
    """
    a = np.asarray(actions, dtype=np.int64)
    if side == 0:
        return a
    return np.where(a <= A.WEST, _RED_SWAP[np.minimum(a, A.WEST)], a)


def _names_types() -> list[str]:
    return [t.name for t in UNIT_TYPES]


class ObservationBuilder:
    """Builds one side's observation (and its static parts) for every world of an engine."""

    def __init__(self, engine: Engine, side: int, mode: str = "vector") -> None:
        if mode not in OBS_MODES:
            raise ValueError(f"unknown observation mode {mode!r}; expected one of {OBS_MODES}")
        e = self.e = engine
        self.side, self.mode = side, mode
        nb = e.nb
        self.own = slice(0, nb) if side == 0 else slice(nb, e.U)
        self.en = slice(nb, e.U) if side == 0 else slice(0, nb)
        self.O = self.own.stop - self.own.start
        self.E = self.en.stop - self.en.start
        self.K = e.n_obj
        self.H, self.W = e.H, e.W
        self.flip = side == 1
        self.inv_h, self.inv_w = _F32(1 / (e.H - 1)), _F32(1 / (e.W - 1))
        self.inv_t = _F32(1 / e.scenario.max_ticks)
        t_own, t_en = e.utype[self.own], e.utype[self.en]
        eye = np.eye(N_TYPES, dtype=_F32)
        self.onehot_own, self.onehot_en = eye[t_own], eye[t_en]
        self.t_own, self.t_en = t_own, t_en
        self.inv_hp_own, self.inv_hp_en = (1 / HP[t_own]).astype(_F32), (1 / HP[t_en]).astype(_F32)
        self.inv_ammo = (1 / AMMO[t_own]).astype(_F32)
        # Objectives: canonical centres, hold targets, who may capture, zone masks.
        k = self.K
        rect = e.obj_rect.astype(np.int64)
        cy = (rect[:, 1] + rect[:, 3]) / 2
        self.obj_rect = rect
        self.obj_yx = np.stack(
            [(e.H - 1 - cy) if self.flip else cy, (rect[:, 0] + rect[:, 2]) / 2], 1
        ).astype(_F32) * np.array([self.inv_h, self.inv_w], _F32)
        self.inv_hold = (1 / np.maximum(e.obj_hold, 1)).astype(_F32)
        self.obj_cap = np.stack([e.obj_cap[:, side], e.obj_cap[:, 1 - side]], 1).astype(_F32)
        zone = np.zeros((k, e.H, e.W), _F32)
        for o, (x0, y0, x1, y1) in enumerate(rect.tolist()):
            zone[o, y0 : y1 + 1, x0 : x1 + 1] = 1
        self.zone = zone[:, ::-1] if self.flip else zone  # (K, H, W) canonical
        self.shape = self._shape()
        self.space = spaces.Box(0.0, 1.0, self.shape, _F32)
        self._static: np.ndarray | None = None

    def _shape(self) -> tuple[int, ...]:
        if self.mode == "vector":
            return (F_OWN * self.O + F_ENEMY * self.E + F_OBJ * self.K + 1,)
        if self.mode == "grid":
            return (GRID_CHANNELS, self.H, self.W)
        return (self.O + self.E + self.K, ENTITY_FEATURES)

    # ------------------------------------------------------------------ state
    def _rows(self, y: np.ndarray) -> np.ndarray:
        """Canonical rows (int64) of engine rows."""
        y = y.astype(np.int64)
        return (self.H - 1) - y if self.flip else y

    def _objective_state(self, w: slice | np.ndarray) -> tuple[np.ndarray, ...]:
        """(n, K) float32 each: controlled by us, by the enemy (as seen), our/their progress."""
        e = self.e
        x0, y0, x1, y1 = (self.obj_rect[:, c][None, None, :] for c in range(4))

        def inside(y: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
            y, x = y[..., None], x[..., None]
            return ((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & m[..., None]).any(1)

        ours = inside(e.y[w, self.own], e.x[w, self.own], e.alive[w, self.own])
        theirs = inside(e.y[w, self.en], e.x[w, self.en], e.visible[w, self.en])
        hold = np.minimum(e.hold[w].astype(_F32) * self.inv_hold[None, :, None], 1)
        ctrl_ours, ctrl_theirs = (ours & ~theirs).astype(_F32), (theirs & ~ours).astype(_F32)
        return ctrl_ours, ctrl_theirs, hold[..., self.side], hold[..., 1 - self.side] * ctrl_theirs

    # ------------------------------------------------------------------ build
    def build(self, idx: np.ndarray | None = None) -> np.ndarray:
        """A fresh (n, *shape) float32 array for all worlds, or the worlds in ``idx``."""
        w: slice | np.ndarray = slice(None) if idx is None else idx
        if self.mode == "vector":
            return self._vector(w)
        if self.mode == "grid":
            return self._grid(w)
        return self._entities(w)

    def _vector(self, w: slice | np.ndarray) -> np.ndarray:
        e, no, ne, nk = self.e, self.O, self.E, self.K
        n = e.B if isinstance(w, slice) else len(w)
        out = np.empty((n, self.shape[0]), _F32)
        own = out[:, : F_OWN * no].reshape(n, no, F_OWN)
        self._own_cols(own, w, (0, 1, 2, 3, 7, 8, 9, 10, 11))
        en = out[:, F_OWN * no : F_OWN * no + F_ENEMY * ne].reshape(n, ne, F_ENEMY)
        self._enemy_cols(en, w, (0, 1, 2, 3, 7, 8, 9, 10))
        if nk:
            ob = out[:, F_OWN * no + F_ENEMY * ne : -1].reshape(n, nk, F_OBJ)
            ob[..., 0:2] = self.obj_yx
            ob[..., 6:8] = self.obj_cap
            for c, v in enumerate(self._objective_state(w), start=2):
                ob[..., c] = v
        out[:, -1] = e.tick[w] * self.inv_t
        return out

    def _own_cols(self, f: np.ndarray, w: slice | np.ndarray, c: tuple[int, ...]) -> None:
        """Write own-unit features into columns ``c`` (alive, row, col, type0, hp, ammo,
        reloading, mp, covered) of ``f`` (n, O, F); zero the row of a dead unit."""
        e, own = self.e, self.own
        alive = e.alive[w, own]
        f[..., c[0]] = alive
        f[..., c[1]] = self._rows(e.y[w, own]) * self.inv_h
        f[..., c[2]] = e.x[w, own] * self.inv_w
        f[..., c[3] : c[3] + N_TYPES] = self.onehot_own
        f[..., c[4]] = e.hp[w, own] * self.inv_hp_own
        f[..., c[5]] = e.ammo[w, own] * self.inv_ammo
        f[..., c[6]] = e.cooldown[w, own] > 0
        f[..., c[7]] = e.mp[w, own] * _F32(1 / MP_CAP)
        f[..., c[8]] = e.covered[w, own]
        f *= alive.astype(_F32)[..., None]

    def _enemy_cols(self, f: np.ndarray, w: slice | np.ndarray, c: tuple[int, ...]) -> None:
        """Write enemy features into columns ``c`` (known alive, row, col, type0, hp, visible,
        age, seen ever; seen ever may be -1 for none) of ``f`` (n, E, F)."""
        e, en = self.e, self.en
        lt = e.last_tick[w, en]
        ever = lt >= 0
        vis = e.visible[w, en]
        f[..., c[0]] = e.alive[w, en] & ever
        ever_f = ever.astype(_F32)
        f[..., c[1]] = self._rows(e.last_y[w, en]) * self.inv_h * ever_f
        f[..., c[2]] = e.last_x[w, en] * self.inv_w * ever_f
        f[..., c[3] : c[3] + N_TYPES] = self.onehot_en * ever_f[..., None]
        f[..., c[4]] = e.hp[w, en] * self.inv_hp_en * vis
        f[..., c[5]] = vis
        age = (e.tick[w][:, None] - lt) * self.inv_t
        f[..., c[6]] = np.where(ever, np.minimum(age, 1), 1)
        if c[7] >= 0:
            f[..., c[7]] = ever_f

    def _entities(self, w: slice | np.ndarray) -> np.ndarray:
        e, no, ne, nk = self.e, self.O, self.E, self.K
        n = e.B if isinstance(w, slice) else len(w)
        out = np.zeros((n, no + ne + nk, ENTITY_FEATURES), _F32)
        own, en = out[:, :no], out[:, no : no + ne]
        own[..., 1] = 1
        self._own_cols(own, w, (0, 4, 5, 6, 10, 11, 12, 13, 14))
        en[..., 2] = 1
        self._enemy_cols(en, w, (0, 4, 5, 6, 10, 15, 16, -1))
        en *= en[..., :1]  # an enemy not known alive is a padding row
        if nk:
            ob = out[:, no + ne :]
            ob[..., 0] = 1
            ob[..., 3] = 1
            ob[..., 4:6] = self.obj_yx
            ob[..., 21:23] = self.obj_cap
            for c, v in enumerate(self._objective_state(w), start=17):
                ob[..., c] = v
        out[..., 23] = (e.tick[w] * self.inv_t)[:, None] * out[..., 0]
        return out

    def static_grid(self) -> np.ndarray:
        """(M, 18, H, W) per-map channels that never change: terrain one-hot and zones."""
        if self._static is None:
            e = self.e
            maps = e.maps[:, ::-1] if self.flip else e.maps
            st = np.zeros((e.n_maps, GRID_CHANNELS, e.H, e.W), _F32)
            st[:, :N_TERRAIN] = maps[:, None] == np.arange(N_TERRAIN)[None, :, None, None]
            if self.K:
                st[:, 15] = self.zone.max(0)
            self._static = st
        return self._static

    def _grid(self, w: slice | np.ndarray) -> np.ndarray:
        e, H, W = self.e, self.H, self.W
        n = e.B if isinstance(w, slice) else len(w)
        out = self.static_grid()[e.map_id[w]]  # fancy index: a fresh copy
        flat = out.reshape(-1)
        plane = H * W
        base = np.arange(n, dtype=np.int64)[:, None] * (GRID_CHANNELS * plane)
        # own units by type, valued by health
        alive = e.alive[w, self.own]
        cell = self._rows(e.y[w, self.own]) * W + e.x[w, self.own]
        pos = base + (6 + self.t_own)[None, :] * plane + cell
        flat[pos[alive]] = (e.hp[w, self.own] * self.inv_hp_own)[alive]
        # enemies visible now, by type
        vis = e.visible[w, self.en]
        cell = self._rows(e.y[w, self.en]) * W + e.x[w, self.en]
        flat[(base + (10 + self.t_en)[None, :] * plane + cell)[vis]] = 1
        # remembered enemies: known alive but not visible, at the last seen cell
        lt = e.last_tick[w, self.en]
        mem = e.alive[w, self.en] & (lt >= 0) & ~vis
        if mem.any():
            cell = self._rows(e.last_y[w, self.en]) * W + e.last_x[w, self.en]
            val = 1 - np.minimum((e.tick[w][:, None] - lt) * self.inv_t, 1)
            np.maximum.at(flat, (base + 14 * plane + cell)[mem], val[mem].astype(_F32))
        if self.K:
            ours, theirs = self._objective_state(w)[:2]
            z = self.zone.reshape(self.K, plane)
            out[:, 16] = np.minimum(ours @ z, 1).reshape(n, H, W)
            out[:, 17] = np.minimum(theirs @ z, 1).reshape(n, H, W)
        return out

    # ------------------------------------------------------------------ names
    def feature_names(self) -> list[str]:
        """Names of the vector elements, grid channels or entity columns (for explanations)."""
        types = _names_types()
        if self.mode == "grid":
            return (
                [f"terrain_{t}" for t in ("open", "obstacle", "forest", "water", "road", "rough")]
                + [f"own_{t}" for t in types]
                + [f"enemy_{t}" for t in types]
                + ["enemy_remembered", "objective_zone", "objective_ours", "objective_theirs"]
            )
        if self.mode == "entities":
            return (
                ["valid", "is_own", "is_enemy", "is_objective", "row", "col"]
                + [f"type_{t}" for t in types]
                + [
                    "hp",
                    "ammo",
                    "reloading",
                    "mp",
                    "covered",
                    "visible",
                    "age",
                    "ctrl_ours",
                    "ctrl_theirs",
                    "hold_ours",
                    "hold_theirs",
                    "cap_ours",
                    "cap_theirs",
                    "tick",
                ]
            )
        own = [
            "alive",
            "row",
            "col",
            *(f"type_{t}" for t in types),
            "hp",
            "ammo",
            "reloading",
            "mp",
            "covered",
        ]
        en = [
            "known_alive",
            "row",
            "col",
            *(f"type_{t}" for t in types),
            "hp",
            "visible",
            "age",
            "seen",
        ]
        ob = [
            "row",
            "col",
            "ctrl_ours",
            "ctrl_theirs",
            "hold_ours",
            "hold_theirs",
            "cap_ours",
            "cap_theirs",
        ]
        return (
            [f"own{i}_{f}" for i in range(self.O) for f in own]
            + [f"enemy{j}_{f}" for j in range(self.E) for f in en]
            + [f"obj{k}_{f}" for k in range(self.K) for f in ob]
            + ["tick"]
        )
