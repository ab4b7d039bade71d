"""Observations of one side, built for all B worlds of an engine at once, from ONE table.

Every element of every form (``vector``, ``grid``, ``entities``) comes from an
entry of :data:`FEATURES`: its name, its **group** (what kind of knowledge it
carries), the entity it belongs to, its value range and a one-line meaning.
The builder looks the columns and channels up in that table, and
:meth:`ObservationBuilder.layout` names every element of the observation
exactly once from the same table, so the description cannot drift from the
array. ``python -c "from cgfsim.envs.observations import describe; print(describe())"``
prints the table.

Everything is built from the acting side's fog of war only, in the side's
*canonical* frame: own units first, and for red the map's rows are flipped
(row ``r`` becomes ``H - 1 - r``) so that red, like blue, starts at the bottom
and advances upward. The same policy can play either side; the envs swap
red's north/south actions back (see :func:`to_engine_actions`). Positions are
``row / (H - 1)`` and ``col / (W - 1)``; relative positions are differences of
those (signed, in [-1, 1]); ``T`` is the scenario's ``max_ticks``.

Forms (``O``/``E`` own and enemy slots, ``K`` objectives, ``A = 7 + E`` actions):

- **vector** (flat, for MLPs): blocks in the order ``own``, ``enemy``,
  ``objective``, ``own_enemy`` and ``own_objective`` relations, ``global``,
  then the action mask (``O x A``, 1 = the action can have an effect now).
  Inside a block, feature-major: a feature's value for every slot (or pair,
  own slot major) is contiguous, then the next feature's (fast to write).
  :meth:`ObservationBuilder.layout` names each element (``own3_hp``,
  ``own0_enemy2_threat``, ``own1_mask_fire_at_0`` ...).
- **grid** ``(C, H, W)`` (for CNNs): one channel per ``cell`` feature.
- **entities** ``(O + E + K, C)`` (for attention): one row per own slot, enemy
  slot and objective. Column 0 is the validity flag (own: alive; enemy: known
  alive; objective: 1); columns 1-3 say the row's kind; then a column per
  own, enemy and objective feature (zero in rows of the other kinds), the
  per-row summaries of the relations, and the global features. Invalid rows
  are all zero.

Groups: ``slot`` (which rows are valid, of which kind), ``terrain`` (the map,
cover and concealment), ``own`` (own units' state), ``enemy_memory`` (what
the side remembers of enemies: last seen cell, type, age), ``enemy_visible``
(what it knows only while it sees them: health, visibility), ``engagement``
(line of sight and who can fire at whom), ``objective``, ``score`` (victory
points), ``time`` and ``mask`` (the action mask).

Fog of war never leaks: an enemy's position is its last seen cell, its hp is
shown only while visible, its type only once seen, the enemy's capture timer
only while we see it capturing, and the enemy's threat (who can engage us) is
judged from where it was last seen. Our own capture timer and victory points
are the rules' (a hidden enemy in a zone stalls our timer): the side's own
score, which it would be told. The enemy's victory points count what the side
knows: its own losses, objectives it sees the enemy control and objective
ticks it saw the enemy hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from cgfsim.envs.features import (
    FEATURES,
    GROUPS,
    KINDS,
    Feature,
    _Ctx,
    describe,
    features,
)
from cgfsim.sim import actions as A
from cgfsim.sim.terrain import CONCEALS, COVER, MAX_COVER, MP_CAP, N_TERRAIN
from cgfsim.sim.units import AMMO, HP, INDIRECT, N_TYPES, RANGE2

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

__all__ = [
    "ENTITY_SLOT_COLUMNS",
    "FEATURES",
    "GROUPS",
    "OBS_MODES",
    "LayoutEntry",
    "ObservationBuilder",
    "describe",
    "observation_shape",
    "to_engine_actions",
]

OBS_MODES = ("vector", "grid", "entities")
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


@dataclass(frozen=True)
class LayoutEntry:
    """One element (vector), channel (grid) or column (entities) of an observation.

    ``index`` is the position along the observation's feature axis: the flat
    element of a vector observation, the channel of a grid, the column of an
    entity table (all rows). ``slot`` is the own/enemy slot or objective the
    element describes (vector), ``None`` otherwise; ``feature`` is the table
    entry it comes from.
    """

    name: str
    group: str
    index: int
    low: float
    high: float
    meaning: str
    feature: str
    slot: int | None = None
    other: int | None = None  # the enemy slot / objective of a pair element

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: Entity columns 0-3: the row's validity and kind.
ENTITY_SLOT_COLUMNS = (
    ("valid", "row is valid: own unit alive, enemy known alive, objective"),
    ("is_own", "row is an own unit slot"),
    ("is_enemy", "row is an enemy slot"),
    ("is_objective", "row is an objective"),
)


def observation_shape(
    scenario: Any, mode: str = "vector", side: str | int = "blue"
) -> tuple[int, ...]:
    """Shape of one world's observation of ``scenario`` (a name, path or Scenario)."""
    from cgfsim.envs._common import get_scenario, side_index
    from cgfsim.sim.engine import Engine

    return ObservationBuilder(Engine(get_scenario(scenario), 1), side_index(side), mode).shape


# --------------------------------------------------------------------------- the builder


def _put_major(blk: np.ndarray, c: int, f: Feature, v: Any, scale: np.ndarray | None) -> None:
    """:func:`_put` into a feature-major block (n, columns, ...), times ``scale`` (n, ...) if
    given: one pass that multiplies and writes (the same values as writing, then scaling)."""
    if isinstance(v, tuple):
        for i, vi in enumerate(v):
            _write(blk[:, c + i], vi, scale)
    elif f.sub:
        v = np.moveaxis(np.asarray(v), -1, -1 - (blk.ndim - 2))
        _write(blk[:, c : c + f.width], v, None if scale is None else scale[:, None])
    else:
        _write(blk[:, c], v, scale)


def _write(dst: np.ndarray, v: Any, scale: np.ndarray | None) -> None:
    if scale is None:
        dst[...] = v
    else:
        np.multiply(v, scale, out=dst)


def _put(blk: np.ndarray, c: int, f: Feature, v: Any, scale: np.ndarray) -> None:
    """Write feature ``f``'s values ``v`` times ``scale`` (n, rows) at column ``c`` of ``blk``
    (n, rows, columns), in one pass per column (the values of writing, then scaling).

    A multi-column feature gives one array with a trailing axis, or a tuple of one
    array per column (cheaper than stacking them).
    """
    if isinstance(v, tuple):
        for i, vi in enumerate(v):
            np.multiply(vi, scale, out=blk[..., c + i])
    elif f.sub:
        np.multiply(v, scale[..., None], out=blk[..., c : c + f.width])
    else:
        np.multiply(v, scale, out=blk[..., c])


class ObservationBuilder:
    """Builds one side's observation for every world of an engine, laid out by :data:`FEATURES`."""

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
        self.A = A.n_actions(self.E)
        self.H, self.W = e.H, e.W
        self.flip = side == 1
        self.inv_h, self.inv_w = _F32(1 / (e.H - 1)), _F32(1 / (e.W - 1))
        self.inv_t: np.float32 = _F32(1 / e.scenario.max_ticks)
        self.inv_o: np.float32 = _F32(1 / self.O)
        self.inv_e: np.float32 = _F32(1 / self.E)
        self.inv_mp = _F32(1 / MP_CAP)
        best = max(e.scenario.max_points(0), e.scenario.max_points(1))
        self.inv_vp = 1 / best if best > 0 else 0.0
        t_own, t_en = e.utype[self.own], e.utype[self.en]
        eye = np.eye(N_TYPES, dtype=_F32)
        self.onehot_own, self.onehot_en = eye[t_own], eye[t_en]
        self.t_own, self.t_en = t_own, t_en
        self.inv_hp_own, self.inv_hp_en = (1 / HP[t_own]).astype(_F32), (1 / HP[t_en]).astype(_F32)
        self.inv_ammo = (1 / AMMO[t_own]).astype(_F32)
        # index type of pair-table lookups: int32 is faster and fits every table but huge pools
        self.pair_index_dtype = np.int32 if e.pair_flat.size < 2**31 else np.int64
        # in the pair table's dtype: comparisons then need no conversion (same results)
        self.range2_en = RANGE2[t_en].astype(e.pair_flat.dtype)[None, None, :]
        self.indirect_en = INDIRECT[t_en][None, None, :]
        self.any_indirect_en = bool(self.indirect_en.any())
        flat_maps = e.maps.reshape(-1)
        self.cover_flat = (COVER[flat_maps] / MAX_COVER).astype(_F32)
        self.conceal_flat = CONCEALS[flat_maps]
        # Objectives: canonical centres, hold targets, who may capture, zone masks.
        rect = e.obj_rect.astype(np.int64)
        self.obj_rect = rect
        cy = (rect[:, 1] + rect[:, 3]) / 2
        self.obj_row = ((e.H - 1 - cy) if self.flip else cy).astype(_F32)
        self.obj_col = ((rect[:, 0] + rect[:, 2]) / 2).astype(_F32)
        self.inv_hold = (1 / np.maximum(e.obj_hold, 1)).astype(_F32)
        self.obj_cap = np.stack([e.obj_cap[:, side], e.obj_cap[:, 1 - side]], 1).astype(_F32)
        zone = np.zeros((self.K, e.H, e.W), _F32)
        for o, (x0, y0, x1, y1) in enumerate(rect.tolist()):
            zone[o, y0 : y1 + 1, x0 : x1 + 1] = 1
        self.zone = zone[:, ::-1] if self.flip else zone  # (K, H, W) canonical
        # per map-flat cell: bit k set when the cell lies in objective k's zone (engine frame)
        bits = np.zeros(e.n_cells, np.int64)
        for o in range(self.K):
            bits |= (zone[o].reshape(-1) > 0).astype(np.int64) << o
        self.zone_bits = np.tile(bits, e.n_maps)
        self.obj_bit = (np.int64(1) << np.arange(self.K, dtype=np.int64))[None, :]
        self._static: dict[str, np.ndarray] = {}
        self._plan()
        self._layout = self._make_layout()
        low = np.array([x.low for x in self._layout], _F32)
        high = np.array([x.high for x in self._layout], _F32)
        if mode == "grid":
            low = np.broadcast_to(low[:, None, None], self.shape).copy()
            high = np.broadcast_to(high[:, None, None], self.shape).copy()
        elif mode == "entities":
            low = np.broadcast_to(low, self.shape).copy()
            high = np.broadcast_to(high, self.shape).copy()
        self.space = spaces.Box(low, high, self.shape, _F32)

    @cached_property
    def masker(self) -> Any:
        from cgfsim.envs.masks import MaskBuilder

        return MaskBuilder(self.e, self.side)

    def canon(self, y: np.ndarray) -> np.ndarray:
        """Canonical rows of engine rows (int64 in, int64 out)."""
        return (self.H - 1) - y if self.flip else y

    def canon_f(self, y: np.ndarray) -> np.ndarray:
        """Canonical rows of engine rows, scaled to [0, 1] (float32)."""
        return ((self.H - 1) - y if self.flip else y) * self.inv_h

    @staticmethod
    def idx_of(w: slice | np.ndarray) -> np.ndarray | None:
        return None if isinstance(w, slice) else w

    # ------------------------------------------------------------------ plan and layout
    def _count(self, kind: str) -> tuple[int, ...]:
        """Leading shape of a feature of ``kind`` in the vector form (per world)."""
        no, ne, nk = self.O, self.E, self.K
        return {
            "own": (no,),
            "enemy": (ne,),
            "objective": (nk,),
            "own_enemy": (no, ne),
            "own_objective": (no, nk),
            "global": (),
            "mask": (no, self.A),
        }[kind]

    def _plan(self) -> None:
        """Where each feature's values go: per kind a block of the flat vector, or columns
        of the entity table, or channels of the grid."""
        mode = self.mode
        self._cols: dict[str, list[tuple[Feature, int]]] = {}
        self._block: dict[str, tuple[int, int, int]] = {}  # kind -> (start, stop, width)
        pos = 0
        if mode == "vector":
            for kind in KINDS[:-1]:
                fs = features(mode, kind)
                width = sum(f.width for f in fs) if kind != "mask" else self.A
                cols, c = [], 0
                for f in fs:
                    cols.append((f, c))
                    c += f.width
                self._cols[kind] = cols
                n = int(np.prod(self._count(kind))) * (1 if kind == "mask" else width)
                self._block[kind] = (pos, pos + n, width)
                pos += n
            self.shape: tuple[int, ...] = (pos,)
            # what _vector walks: the non-empty blocks with their (width, *count) shapes
            self._vplan = [
                (k, a, b, (w, *self._count(k)), self._cols[k])
                for k, (a, b, w) in self._block.items()
                if a != b
            ]
        elif mode == "entities":
            pos = len(ENTITY_SLOT_COLUMNS)
            for kind in ("own", "enemy", "objective", "global"):
                cols = []
                start = pos
                for f in features(mode, kind):
                    cols.append((f, pos))
                    pos += f.width
                self._cols[kind] = cols
                self._block[kind] = (start, pos, pos - start)
            self.shape = (self.O + self.E + self.K, pos)
        else:
            cols = []
            for f in features(mode, "cell"):
                cols.append((f, pos))
                pos += f.width
            self._cols["cell"] = cols
            self.shape = (pos, self.H, self.W)

    def _make_layout(self) -> list[LayoutEntry]:
        out: list[LayoutEntry] = []

        def add(name: str, f: Feature, idx: int, **kw: Any) -> None:
            out.append(
                LayoutEntry(
                    name, f.group, idx, float(f.low), float(f.high), f.meaning, f.name, **kw
                )
            )

        if self.mode == "grid":
            for f, ch in self._cols["cell"]:
                for i, nm in enumerate(f.names()):
                    add(nm, f, ch + i)
            return out
        if self.mode == "entities":
            for c, (nm, meaning) in enumerate(ENTITY_SLOT_COLUMNS):
                out.append(LayoutEntry(nm, "slot", c, 0.0, 1.0, meaning, nm))
            prefix = {"own": "own_", "enemy": "enemy_", "objective": "obj_", "global": ""}
            for kind in ("own", "enemy", "objective", "global"):
                for f, c in self._cols[kind]:
                    for i, nm in enumerate(f.names()):
                        add(prefix[kind] + nm, f, c + i)
            return out
        for kind in KINDS[:-1]:
            start = self._block[kind][0]
            lead = self._count(kind)
            per = int(np.prod(lead))  # elements of one feature column: one per slot (pair)
            if kind == "mask":
                f = self._cols[kind][0][0]
                for i in range(self.O):
                    for a in range(self.A):
                        add(f"own{i}_mask_{A.action_name(a)}", f, start + i * self.A + a, slot=i)
                continue
            pre = {"own": "own", "enemy": "enemy", "objective": "obj"}.get(kind, "")
            for f, c in self._cols[kind]:
                for i, nm in enumerate(f.names()):
                    for k, idx in enumerate(np.ndindex(*lead)):
                        at = start + (c + i) * per + k
                        if kind == "global":
                            add(nm, f, at)
                        elif kind == "own_enemy":
                            add(f"own{idx[0]}_enemy{idx[1]}_{nm}", f, at, slot=idx[0], other=idx[1])
                        elif kind == "own_objective":
                            add(f"own{idx[0]}_obj{idx[1]}_{nm}", f, at, slot=idx[0], other=idx[1])
                        else:
                            add(f"{pre}{idx[0]}_{nm}", f, at, slot=idx[0])
        out.sort(key=lambda x: x.index)
        return out

    def layout(self) -> list[LayoutEntry]:
        """Every element (vector), channel (grid) or column (entities), in index order.

        Each entry names one position of the observation's feature axis exactly
        once, with its group, value range and meaning (see :class:`LayoutEntry`).
        """
        return list(self._layout)

    def feature_names(self) -> list[str]:
        """Names of the vector elements, grid channels or entity columns (from :meth:`layout`)."""
        return [x.name for x in self._layout]

    def group_indices(self) -> dict[str, list[int]]:
        """Positions on the feature axis of each group present in this form."""
        out: dict[str, list[int]] = {}
        for x in self._layout:
            out.setdefault(x.group, []).append(x.index)
        return out

    # ------------------------------------------------------------------ static planes
    def static_planes(self, name: str) -> np.ndarray:
        """(M, w, H, W) per-map channels that never change: terrain one-hot, objective zones."""
        if name not in self._static:
            e = self.e
            maps = e.maps[:, ::-1] if self.flip else e.maps
            if name == "terrain":
                st = (maps[:, None] == np.arange(N_TERRAIN)[None, :, None, None]).astype(_F32)
            else:
                z = self.zone.max(0) if self.K else np.zeros((e.H, e.W), _F32)
                st = np.broadcast_to(z, (e.n_maps, 1, e.H, e.W)).astype(_F32)
            self._static[name] = np.ascontiguousarray(st)
        return self._static[name]

    # ------------------------------------------------------------------ build
    def build(self, idx: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """An (n, *shape) float32 array for all worlds, or the worlds in ``idx``.

        ``out`` (n, *shape) float32 C-contiguous is written whole and returned instead of a
        fresh array.
        """
        w: slice | np.ndarray = slice(None) if idx is None else np.asarray(idx)
        n = self.e.B if idx is None else len(w)  # type: ignore[arg-type]
        if out is None:
            out = np.empty((n, *self.shape), _F32)
        elif out.shape != (n, *self.shape) or out.dtype != _F32 or not out.flags.c_contiguous:
            raise ValueError(
                f"out must be a C-contiguous float32 array of shape {(n, *self.shape)}"
            )
        ctx = _Ctx(self, w, n)
        if self.mode == "vector":
            self._vector(ctx, out)
        elif self.mode == "grid":
            for f, ch in self._cols["cell"]:
                f.fn(ctx, out, ch)
        else:
            self._entities(ctx, out)
        return out

    def _vector(self, ctx: _Ctx, out: np.ndarray) -> None:
        n = ctx.n
        for kind, start, stop, shape, cols in self._vplan:
            if kind == "mask":
                out[:, start:stop] = cols[0][0].fn(ctx).reshape(n, -1)
                continue
            # feature-major: each feature's values for all slots (pairs) are contiguous, so
            # every write is one run per world (slot-major writes were strided and slow)
            blk = out[:, start:stop].reshape(n, *shape)
            scale = ctx.alive_f if kind == "own" else None  # a dead unit's row is all zero
            for f, c in cols:
                _put_major(blk, c, f, f.fn(ctx), scale)

    def _entities(self, ctx: _Ctx, out: np.ndarray) -> None:
        no, ne = self.O, self.E
        rows = {"own": slice(0, no), "enemy": slice(no, no + ne), "objective": slice(no + ne, None)}
        valid = {
            "own": ctx.alive_f,
            "enemy": ctx.known.astype(_F32),
            "objective": np.ones((ctx.n, self.K), _F32),
        }
        glob = [(f.fn(ctx)[:, None], c) for f, c in self._cols["global"]]
        # Every value is written times its row's validity, so an invalid row is all zero.
        for kind, r in rows.items():
            blk, v = out[:, r], valid[kind]
            blk[..., 0] = v  # valid
            blk[..., 1:4] = 0.0
            blk[..., 1 + ("own", "enemy", "objective").index(kind)] = v  # the row's kind
            for other in ("own", "enemy", "objective"):
                if other != kind:
                    lo, hi, _ = self._block[other]
                    blk[..., lo:hi] = 0
            for f, c in self._cols[kind]:
                _put(blk, c, f, f.fn(ctx), v)
            for g, c in glob:
                np.multiply(g, v, out=blk[..., c])
