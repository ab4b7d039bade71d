"""The batched combat engine: B independent worlds stepped by one set of numpy operations.

State is a structure of arrays over (world, unit slot). Slots ``0..nb-1`` are
blue and ``nb..nb+nr-1`` red; absent and dead units keep their slots. The
engine never resets a world by itself: :meth:`Engine.reset` takes a mask, so
the env layer can read terminal observations first. Finished worlds are
frozen (their state does not change and their rewards are zero) until reset.

Randomness is counter-based (:mod:`cgfsim.sim.rng`): world i's draws depend on
its key, its episode counter, the tick and the unit slot only. A reset with a
seed sets the key and restarts the episode counter at 0; a reset without one
increments the counter.

Outcome codes: 0 running, 1 blue won, 2 red won, 3 draw. The time limit
ends an episode with ``truncated`` set: a draw, or with ``[victory]
time_limit = "points"`` won by the side whose victory points lead by more
than the scenario's draw margin (:meth:`Engine.victory_points`).
Annihilation and objective captures set ``terminated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cgfsim.sim import actions as A
from cgfsim.sim import rules
from cgfsim.sim import units as U
from cgfsim.sim.geometry import pair_tables, path_tables
from cgfsim.sim.rng import STREAM_FIRE, STREAM_MAP, STREAM_PLACE, draw, draw_tick, episode_key, u16
from cgfsim.sim.scenario import RewardWeights, Scenario
from cgfsim.sim.terrain import CONCEALS, COVER, MAX_COVER, MOVE_COST, MP_CAP, PASSABLE

RUNNING, BLUE_WIN, RED_WIN, DRAW = 0, 1, 2, 3
OUTCOME_NAMES = ("running", "blue", "red", "draw")
REWARD_TERMS = tuple(RewardWeights.__dataclass_fields__)


@dataclass
class StepResult:
    """What one tick produced, for every world. Arrays are the engine's own: copy to keep."""

    rewards: np.ndarray  # (B, 2) float32, per side (blue, red)
    done: np.ndarray  # (B,) bool, episode ended this tick
    terminated: np.ndarray  # (B,) bool, by annihilation or objective
    truncated: np.ndarray  # (B,) bool, by the time limit
    outcome: np.ndarray  # (B,) int8 outcome code (see module doc)


class Engine:
    """B worlds of one scenario. ``combat`` overrides the scenario's fire mode."""

    def __init__(
        self,
        scenario: Scenario,
        batch_size: int,
        seed: int | Sequence[int] = 0,
        combat: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        combat = combat or scenario.combat
        if combat not in ("stochastic", "expected"):
            raise ValueError(f"combat must be 'stochastic' or 'expected', got {combat!r}")
        self.scenario = sc = scenario
        self.stochastic = combat == "stochastic"
        self.B = B = batch_size
        self.nb, self.nr = sc.n_slots
        self.U = Un = sc.n_units
        self.H, self.W = sc.height, sc.width
        self.n_cells = self.H * self.W
        self.maps = sc.maps
        self.n_maps = len(sc.maps)
        self.pair_flat = pair_tables(sc.maps).reshape(-1)
        self._path: np.ndarray | None = None
        # Tables derived from the scenario by higher layers (doctrines, observation builders).
        self.derived: dict[object, object] = {}
        flat_maps = sc.maps.reshape(self.n_maps, -1)
        self.passable_flat = PASSABLE[flat_maps].reshape(-1)
        self.cost_flat = MOVE_COST[flat_maps].reshape(-1)
        self.cover_flat = COVER[flat_maps].reshape(-1)
        self.conceal_flat = CONCEALS[flat_maps].reshape(-1)
        self.hit = U.hit_table(2 * max(self.H, self.W) ** 2)

        # Per-slot constants.
        t = sc.unit_type.astype(np.int64)
        self.utype = t
        self.side = np.r_[np.zeros(self.nb, np.int8), np.ones(self.nr, np.int8)]
        self.max_hp = U.HP[t]
        self.speed = U.SPEED[t]
        self.sight2 = U.SIGHT2[t]
        self.range2 = U.RANGE2[t]
        self.reload = U.RELOAD[t]
        self.indirect = U.INDIRECT[t]
        self.n_act = np.where(self.side == 0, A.n_actions(self.nr), A.n_actions(self.nb))
        self.present = sc.present
        self._w_rewards = np.array(
            [[getattr(r, k) for k in REWARD_TERMS] for r in sc.rewards], dtype=np.float32
        )  # (2, T)
        self.obj_rect = np.array([o.rect for o in sc.objectives], dtype=np.int16).reshape(-1, 4)
        self.obj_hold = np.array([o.hold_ticks for o in sc.objectives], dtype=np.int32)
        self.obj_cap = np.array([o.capturable_by for o in sc.objectives], dtype=bool).reshape(-1, 2)
        self.n_obj = len(sc.objectives)
        # Victory points (scenario option): per-slot value of destroying the unit, and settings.
        vp = sc.points if sc.time_limit == "points" else None
        self.vp = vp
        self._vp_value = (
            np.where(sc.present, np.asarray(vp.unit_values, np.float64)[t], 0.0)
            if vp is not None
            else np.zeros(Un)
        )

        # World state.
        self.key = np.zeros(B, np.uint64)
        self.episode = np.zeros(B, np.int64)
        self._fire_key = np.zeros(B, np.uint64)  # rng.episode_key of the fire stream
        self.tick = np.zeros(B, np.int32)
        self.map_id = np.zeros(B, np.int32)
        self.done = np.zeros(B, bool)
        self.outcome = np.zeros(B, np.int8)
        self.terminated = np.zeros(B, bool)
        self.truncated = np.zeros(B, bool)
        self.hold = np.zeros((B, self.n_obj, 2), np.int32)
        self.controller = np.full((B, self.n_obj), -1, np.int8)
        # Objective-tick victory points per side (B, 2), and those the other side witnessed.
        self.vp_tick = np.zeros((B, 2), np.float64)
        self.vp_tick_seen = np.zeros((B, 2), np.float64)
        # Unit state.
        self.y = np.zeros((B, Un), np.int16)
        self.x = np.zeros((B, Un), np.int16)
        self.hp = np.zeros((B, Un), np.float32)
        self.alive = np.zeros((B, Un), bool)
        self.ammo = np.zeros((B, Un), np.int16)
        self.cooldown = np.zeros((B, Un), np.int8)
        self.mp = np.zeros((B, Un), np.int8)
        self.covered = np.zeros((B, Un), bool)
        # Fog of war: whether the *opposing* side sees each unit now, and where it last did.
        self.visible = np.zeros((B, Un), bool)
        self.last_y = np.full((B, Un), -1, np.int16)
        self.last_x = np.full((B, Un), -1, np.int16)
        self.last_tick = np.full((B, Un), -1, np.int32)
        # Last tick's shots, for replays and metrics: target slot (global), hit, damage.
        self.shot_target = np.full((B, Un), -1, np.int16)
        self.shot_hit = np.zeros((B, Un), bool)
        self.shot_damage = np.zeros((B, Un), np.float32)
        # Episode tallies (B, 2): shots fired, hits, damage dealt (in hp), kills.
        self.stat_shots = np.zeros((B, 2), np.int32)
        self.stat_hits = np.zeros((B, 2), np.int32)
        self.stat_damage = np.zeros((B, 2), np.float32)
        self.stat_kills = np.zeros((B, 2), np.int32)
        # Per-tick pair tables (see _update_sight): blue-major and red-major copies.
        self.d2 = np.zeros((B, self.nb, self.nr), np.int16)
        self.los = np.zeros((B, self.nb, self.nr), bool)
        self.d2_r = np.zeros((B, self.nr, self.nb), np.int16)
        self.los_r = np.zeros((B, self.nr, self.nb), bool)
        self.engage_b = np.zeros((B, self.nb, self.nr), bool)  # blue i can engage red j
        self.engage_r = np.zeros((B, self.nr, self.nb), bool)  # red j can engage blue i
        self.has_target = np.zeros((B, Un), bool)
        self._rewards = np.zeros((B, 2), np.float32)
        self._occ = np.full(B * self.n_cells + 1, -1, np.int16)  # scratch grids for moves
        self._claim = np.full(B * self.n_cells + 1, -1, np.int16)
        self._side_starts = np.array([0, self.nb])
        self._zeros_b = np.zeros((B, Un), bool)  # read-only results of a tick without shots
        self._zeros_f = np.zeros((B, Un), np.float32)
        fixed = np.flatnonzero(sc.present & (sc.start_zone < 0))
        self._fixed = (fixed, sc.start_at[fixed, 0], sc.start_at[fixed, 1])
        taken = np.zeros((self.H, self.W), bool)
        taken[sc.start_at[fixed, 0], sc.start_at[fixed, 1]] = True
        passable = PASSABLE[sc.maps]  # (M, H, W)
        # Per zone: its slots, its cells and which cells are free on each map (M, cells).
        self._zone_cells = []
        for z, name in enumerate(sc.zone_names):
            slots = np.flatnonzero(sc.present & (sc.start_zone == z))
            if slots.size:
                x0, y0, x1, y1 = sc.zones[name]
                rr, cc = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
                rr, cc = rr.ravel(), cc.ravel()
                free = passable[:, rr, cc] & ~taken[rr, cc]
                self._zone_cells.append((slots, rr, cc, free))
        self.reset(seeds=seed)

    # ------------------------------------------------------------------ helpers
    @property
    def path(self) -> np.ndarray:
        """(M, C, C) path distances, built on first use."""
        if self._path is None:
            self._path = path_tables(self.maps)
        return self._path

    def ready(self) -> np.ndarray:
        """(B, U) units that can fire now: alive, reloaded, with ammunition left.

        The one definition shared by fire resolution, doctrines and action masks.
        """
        return self.alive & (self.cooldown == 0) & (self.ammo > 0)

    def terrain(self, world: int) -> np.ndarray:
        return self.maps[self.map_id[world]]

    def losses(self) -> np.ndarray:
        """(B, 2) units lost so far per side."""
        dead = self.present[None] & ~self.alive
        return np.stack([dead[:, : self.nb].sum(1), dead[:, self.nb :].sum(1)], 1)

    def attrition_points(self, idx: np.ndarray | None = None) -> np.ndarray:
        """(B, 2) victory points each side has scored by attrition (0 without points);
        (len(idx), 2) for the worlds in ``idx``.

        A side scores the value of every enemy unit it destroyed, or with
        ``attrition = "damage"`` that value times the fraction of hit points
        the unit lost. Both sides know these: every loss happens in sight.
        """
        w: slice | np.ndarray = slice(None) if idx is None else idx
        if self.vp is None:
            return np.zeros((self.B if idx is None else len(idx), 2))
        if self.vp.attrition == "damage":
            lost = 1.0 - self.hp[w].astype(np.float64) / np.where(self.present, self.max_hp, 1.0)
        else:
            lost = (~self.alive[w]).astype(np.float64)
        val = lost * self._vp_value  # (B, U): value each side lost
        lost_by_side = np.add.reduceat(val, self._side_starts, axis=1)
        return np.ascontiguousarray(lost_by_side[:, ::-1])  # scored BY each side

    def victory_points(self) -> np.ndarray:
        """(B, 2) victory points per side if time ran out now: attrition, objectives
        controlled now (``objective_held`` each) and objective ticks so far."""
        pts = self.attrition_points()
        if self.vp is not None and self.n_obj:
            held = np.stack([(self.controller == s).sum(1) for s in (0, 1)], 1)
            pts += held * self.vp.objective_held + self.vp_tick
        return pts

    def time_limit_outcome(self) -> np.ndarray:
        """(B,) outcome code were the time limit reached now: a draw, or by victory points
        (the side leading by more than the draw margin wins)."""
        if self.vp is None:
            return np.full(self.B, DRAW, np.int8)
        pts = self.victory_points()
        lead = pts[:, 0] - pts[:, 1]
        m = self.vp.draw_margin
        return np.where(lead > m, BLUE_WIN, np.where(lead < -m, RED_WIN, DRAW)).astype(np.int8)

    def _seeds_array(
        self, seeds: int | Sequence[int] | np.ndarray | None, n: int
    ) -> np.ndarray | None:
        if seeds is None:
            return None
        if isinstance(seeds, (int, np.integer)):
            s = int(seeds)
            if not 0 <= s <= 2**63 - n:
                raise ValueError(f"seed must be an integer in 0..2**63-{n}, got {s}")
            return (np.uint64(s) + np.arange(n, dtype=np.uint64)).astype(np.uint64)
        vals = [int(v) for v in np.asarray(seeds).ravel()]
        if np.asarray(seeds).shape != (n,):
            raise ValueError(f"expected {n} seeds, got shape {np.asarray(seeds).shape}")
        bad = [v for v in vals if not 0 <= v < 2**63]
        if bad:
            raise ValueError(f"seeds must be integers in 0..2**63-1, got {bad[0]}")
        arr = np.array(vals, dtype=np.int64)
        return arr.astype(np.uint64)

    # ------------------------------------------------------------------ reset
    def reset(
        self, mask: np.ndarray | None = None, seeds: int | Sequence[int] | np.ndarray | None = None
    ) -> None:
        """Start a new episode in the masked worlds (all when ``mask`` is None).

        ``seeds``: an int s gives the reset worlds keys s, s+1, ...; a sequence one key each.
        """
        idx = np.arange(self.B) if mask is None else np.flatnonzero(mask)
        if idx.size == 0:
            return
        s = self._seeds_array(seeds, idx.size)
        if s is not None:
            self.key[idx] = s
            self.episode[idx] = 0
        else:
            self.episode[idx] += 1
        key, ep = self.key[idx], self.episode[idx]
        self._fire_key[idx] = episode_key(key, ep, STREAM_FIRE)
        if self.n_maps > 1:
            mid = (draw(key, ep, 0, 0, STREAM_MAP) % np.uint64(self.n_maps)).astype(np.int32)
        else:
            mid = np.zeros(idx.size, np.int32)
        self.map_id[idx] = mid
        self.tick[idx] = 0
        self.done[idx] = False
        self.outcome[idx] = RUNNING
        self.terminated[idx] = False
        self.truncated[idx] = False
        self.hold[idx] = 0
        self.controller[idx] = -1
        self.vp_tick[idx] = 0
        self.vp_tick_seen[idx] = 0
        t = self.utype
        self.hp[idx] = np.where(self.present, self.max_hp, 0.0)
        self.alive[idx] = self.present
        self.ammo[idx] = U.AMMO[t]
        self.cooldown[idx] = 0
        self.mp[idx] = MP_CAP
        self.covered[idx] = False
        self.last_y[idx] = -1
        self.last_x[idx] = -1
        self.last_tick[idx] = -1
        self.shot_target[idx] = -1
        self.shot_hit[idx] = False
        self.shot_damage[idx] = 0
        for a in (self.stat_shots, self.stat_hits, self.stat_damage, self.stat_kills):
            a[idx] = 0
        self._place(idx, key, ep, mid)
        self._update_sight(idx)

    def _place(self, idx: np.ndarray, key: np.ndarray, ep: np.ndarray, mid: np.ndarray) -> None:
        """Start positions: fixed cells, then per zone a random order of its free cells."""
        fs, fy, fx = self._fixed
        if fs.size:
            self.y[np.ix_(idx, fs)] = fy
            self.x[np.ix_(idx, fs)] = fx
        if not self._zone_cells:
            return
        pkey = episode_key(key, ep, STREAM_PLACE)[:, None]
        for slots, rr, cc, free in self._zone_cells:
            score = draw_tick(pkey, 0, (rr * self.W + cc)[None, :])
            ok = free[mid]  # passable on this world's map and not a fixed unit's cell
            score = np.where(ok, score >> np.uint64(1), np.uint64(2**63))
            pick = np.argsort(score, axis=1, kind="stable")[:, : slots.size]
            self.y[np.ix_(idx, slots)] = rr[pick]
            self.x[np.ix_(idx, slots)] = cc[pick]

    # ------------------------------------------------------------------ sight
    def _update_sight(self, idx: np.ndarray | None = None) -> None:
        """Recompute pair geometry, fog of war and engagement (worlds in ``idx``, or all).

        Done once per tick after movement; fire, doctrines and action masks of
        the next tick all read these arrays instead of recomputing them.
        """
        sl = slice(None) if idx is None else idx
        y, x, alive, mid = self.y[sl], self.x[sl], self.alive[sl], self.map_id[sl]
        nb = self.nb
        d2, los = rules.pair_geometry(y, x, nb, self.W, self.n_cells, mid, self.pair_flat)
        d2_r = np.ascontiguousarray(d2.transpose(0, 2, 1))
        los_r = np.ascontiguousarray(los.transpose(0, 2, 1))
        conceal = self.conceal_flat[
            mid[:, None].astype(np.int64) * self.n_cells + y.astype(np.int64) * self.W + x
        ]
        seen_red = rules.seen_by(
            d2_r, los_r, alive[:, :nb], alive[:, nb:], self.sight2[:nb], conceal[:, nb:]
        )
        seen_blue = rules.seen_by(
            d2, los, alive[:, nb:], alive[:, :nb], self.sight2[nb:], conceal[:, :nb]
        )
        eb, has_b = rules.engagement(d2, los, seen_red, self.range2[:nb], self.indirect[:nb])
        er, has_r = rules.engagement(d2_r, los_r, seen_blue, self.range2[nb:], self.indirect[nb:])
        vis = np.concatenate([seen_blue, seen_red], 1)
        tick = self.tick[sl]
        self.d2[sl], self.los[sl], self.visible[sl] = d2, los, vis
        self.d2_r[sl], self.los_r[sl] = d2_r, los_r
        self.engage_b[sl], self.engage_r[sl] = eb, er
        self.has_target[sl] = np.concatenate([has_b, has_r], 1)
        self.last_y[sl] = np.where(vis, y, self.last_y[sl])
        self.last_x[sl] = np.where(vis, x, self.last_x[sl])
        self.last_tick[sl] = np.where(vis, tick[:, None], self.last_tick[sl])

    # ------------------------------------------------------------------ step
    def check_actions(self, act: np.ndarray) -> np.ndarray:
        act = np.asarray(act)
        if act.shape != (self.B, self.U):
            raise ValueError(
                f"actions must have shape (B={self.B}, units={self.U}), got {act.shape}"
            )
        if not np.issubdtype(act.dtype, np.integer):
            raise ValueError(f"actions must be integers, got dtype {act.dtype}")
        bad = (act < 0) | (act >= self.n_act[None])
        if bad.any():
            b, u = np.argwhere(bad)[0]
            raise ValueError(
                f"action {act[b, u]} of unit slot {u} in world {b} is out of range "
                f"0..{self.n_act[u] - 1}"
            )
        return act.astype(np.int64, copy=False)

    def step(self, actions: np.ndarray) -> StepResult:
        """Advance every running world by one tick. ``actions``: (B, U) ints, blue slots first."""
        act = self.check_actions(actions)
        nb, W = self.nb, self.W
        active = ~self.done
        mcell = self.map_id.astype(np.int64)[:, None] * self.n_cells

        # ---- fire phase (state at the start of the tick)
        can_fire = self.ready() & active[:, None]
        tb = rules.choose_targets(
            act[:, :nb], can_fire[:, :nb], self.engage_b, self.d2, self.has_target[:, :nb]
        )
        tr = rules.choose_targets(
            act[:, nb:], can_fire[:, nb:], self.engage_r, self.d2_r, self.has_target[:, nb:]
        )
        tgt = np.concatenate([np.where(tb >= 0, tb + nb, -1), tr], 1)  # global slot, -1 none
        shoots = tgt >= 0
        # Resolve only the shots actually fired, on flat (world * U + slot) indices.
        hit, dmg, frac, killed = self._resolve_fire(tgt, shoots, mcell, active)
        self.ammo -= shoots
        self.cooldown = np.where(shoots, self.reload[None, :], self.cooldown)
        self.covered &= ~shoots
        run = active[:, None]  # finished worlds keep the record of their last shots
        self.shot_target[:] = np.where(run, np.where(shoots, tgt, -1), self.shot_target)
        self.shot_hit[:] = np.where(run, hit, self.shot_hit)
        self.shot_damage[:] = np.where(run, dmg, self.shot_damage)

        # ---- move phase
        alive = self.alive & active[:, None]  # finished worlds are frozen
        is_move = (act >= A.NORTH) & (act <= A.WEST) & alive
        ny = self.y + A.DY[np.minimum(act, 6)]
        nx = self.x + A.DX[np.minimum(act, 6)]
        inside = (ny >= 0) & (ny < self.H) & (nx >= 0) & (nx < W)
        ncell = mcell + np.where(inside, ny * W + nx, 0)
        cost = self.cost_flat[ncell]
        want = is_move & inside & self.passable_flat[ncell] & (self.mp >= cost)
        moved = rules.resolve_moves(
            self.y, self.x, self.alive, want, ny, nx, W, self.n_cells, self._occ, self._claim
        )
        self.y = np.where(moved, ny, self.y).astype(np.int16)
        self.x = np.where(moved, nx, self.x).astype(np.int16)
        self.mp = np.where(moved, self.mp - cost, self.mp).astype(np.int8)
        self.covered = (self.covered & ~moved) | ((act == A.TAKE_COVER) & alive)

        # ---- upkeep (running worlds only)
        run = active[:, None]
        self.mp = np.where(run, np.minimum(self.mp + self.speed, MP_CAP), self.mp).astype(np.int8)
        self.cooldown = np.where(run, np.maximum(self.cooldown - 1, 0), self.cooldown).astype(
            np.int8
        )
        self.tick += active
        self._update_sight()

        # ---- tallies, objectives, victory, rewards
        starts = self._side_starts  # per-side sums in one reduceat each

        def count(a: np.ndarray) -> np.ndarray:
            return np.add.reduceat(a.view(np.int8), starts, axis=1, dtype=np.int32)

        self.stat_shots += count(shoots)
        self.stat_hits += count(hit)
        self.stat_damage += np.add.reduceat(dmg, starts, axis=1)
        lost = count(killed)
        kills_on = lost[:, ::-1]  # kills BY side
        self.stat_kills += kills_on
        dealt = np.add.reduceat(frac, starts, axis=1)[:, ::-1]
        holding = self._update_objectives(active)
        self._victory(active)
        ended = active & self.done
        w = self._w_rewards  # columns in REWARD_TERMS order
        rew = (
            dealt * w[:, 0]
            + dealt[:, ::-1] * w[:, 1]
            + kills_on * w[:, 2]
            + lost * w[:, 3]
            + holding * w[:, 4]
            + w[:, 8]
        )
        if ended.any():  # outcome terms only exist on the tick an episode ends
            out = self.outcome[:, None]
            won = (out == np.array([[BLUE_WIN, RED_WIN]])) & ended[:, None]
            drawn = (out == DRAW) & ended[:, None]
            rew = rew + won * w[:, 5] + won[:, ::-1] * w[:, 6] + drawn * w[:, 7]
        self._rewards = (rew * active[:, None]).astype(np.float32)
        return StepResult(
            self._rewards.astype(np.float32),
            ended,
            self.terminated & ended,
            self.truncated & ended,
            self.outcome,
        )

    def _resolve_fire(
        self, tgt: np.ndarray, shoots: np.ndarray, mcell: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Apply every shot of the tick; returns hit, damage, damage fraction taken, killed.

        Works on the flat subset of shooters. With no shot at all (common at
        small B) it returns shared all-zero arrays, which callers only read.
        """
        fs = np.flatnonzero(shoots)
        if fs.size == 0:
            return self._zeros_b, self._zeros_f, self._zeros_f, self._zeros_b
        W = self.W
        wb = fs // self.U
        su = fs - wb * self.U
        tglob = tgt.ravel()[fs].astype(np.int64)
        ft = wb * self.U + tglob
        yf, xf = self.y.ravel(), self.x.ravel()
        ty_, tx_ = yf[ft].astype(np.int64), xf[ft].astype(np.int64)
        d2 = (yf[fs] - ty_) ** 2 + (xf[fs] - tx_) ** 2
        cover = self.cover_flat[mcell[wb, 0] + ty_ * W + tx_] + self.covered.ravel()[ft]
        p = self.hit[self.utype[su], np.minimum(cover, MAX_COVER), d2]
        dmg_full = U.DAMAGE[self.utype[su], self.utype[tglob]]
        if self.stochastic:
            r = u16(draw_tick(self._fire_key[wb], self.tick[wb], su))
            hit_s = r < p
            dmg_s = np.where(hit_s, dmg_full, np.float32(0))
        else:
            hit_s = p > 0
            dmg_s = (dmg_full * p.astype(np.float32) / np.float32(U.P_ONE)).astype(np.float32)
        hit = np.zeros(shoots.shape, bool)
        dmg = np.zeros(shoots.shape, np.float32)
        hit.ravel()[fs] = hit_s
        dmg.ravel()[fs] = dmg_s
        n_flat = self.B * self.U
        taken = np.bincount(ft, weights=dmg_s, minlength=n_flat)
        taken = taken.reshape(self.B, self.U).astype(np.float32)
        # Rewards count damage up to the hit points the target had: overkill pays nothing.
        frac = np.minimum(taken, self.hp) / self.max_hp[None, :]
        self.hp = np.maximum(self.hp - taken, np.float32(0))
        killed = self.alive & (self.hp <= 0) & active[:, None]
        self.alive &= ~killed
        return hit, dmg, frac, killed

    def _update_objectives(self, active: np.ndarray) -> np.ndarray:
        """Advance hold counters; returns (B, 2) objectives held this tick per side."""
        held = np.zeros((self.B, 2), np.float32)
        if self.n_obj == 0:
            return held
        x0, y0, x1, y1 = (self.obj_rect[:, k][None, None, :] for k in range(4))
        y, x = self.y[:, :, None], self.x[:, :, None]
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & self.alive[:, :, None]
        b_in, r_in = inside[:, : self.nb].any(1), inside[:, self.nb :].any(1)  # (B, O)
        ctrl = np.where(b_in & ~r_in, 0, np.where(r_in & ~b_in, 1, -1)).astype(np.int8)
        ctrl = np.where(active[:, None], ctrl, self.controller)
        self.controller = ctrl
        for s in (0, 1):
            mine = (ctrl == s) & self.obj_cap[None, :, s]
            self.hold[:, :, s] = np.where(mine, self.hold[:, :, s] + active[:, None], 0)
            held[:, s] = ((ctrl == s) & active[:, None]).sum(1)
        if self.vp is not None and self.vp.objective_tick:
            pts = self.vp.objective_tick
            self.vp_tick += held * pts
            # What the other side saw: control while at least one unit in the zone was visible.
            seen = inside & self.visible[:, :, None]
            sb, sr = seen[:, : self.nb].any(1), seen[:, self.nb :].any(1)
            wit = np.stack([((ctrl == 0) & sb).sum(1), ((ctrl == 1) & sr).sum(1)], 1)
            self.vp_tick_seen += wit * active[:, None] * pts
        return held

    def _victory(self, active: np.ndarray) -> None:
        sc = self.scenario
        left = np.add.reduceat(self.alive.view(np.int8), self._side_starts, axis=1) > 0
        b_alive, r_alive = left[:, 0], left[:, 1]
        blue = np.zeros(self.B, bool)
        red = np.zeros(self.B, bool)
        term = np.zeros(self.B, bool)
        if sc.annihilation:
            term |= ~b_alive | ~r_alive
            blue |= b_alive & ~r_alive
            red |= r_alive & ~b_alive
        if sc.objective_victory and self.n_obj:
            cap = self.hold >= self.obj_hold[None, :, None]
            cb, cr = cap[:, :, 0].any(1), cap[:, :, 1].any(1)
            new = ~term & (cb | cr)
            blue |= new & cb & ~cr
            red |= new & cr & ~cb
            term |= new
        trunc = ~term & (self.tick >= sc.max_ticks)
        if self.vp is not None and (trunc & active).any():
            verdict = self.time_limit_outcome()
            blue |= trunc & (verdict == BLUE_WIN)
            red |= trunc & (verdict == RED_WIN)
        end = active & (term | trunc)
        out = np.where(blue, BLUE_WIN, np.where(red, RED_WIN, DRAW)).astype(np.int8)
        self.outcome = np.where(end, out, self.outcome).astype(np.int8)
        self.terminated |= active & term
        self.truncated |= active & trunc
        self.done |= end
