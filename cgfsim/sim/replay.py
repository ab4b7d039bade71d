"""Replays: record chosen worlds of an Engine tick by tick, save them, load and render them.

Usage::

    rec = ReplayRecorder(engine, worlds=(0, 3))
    engine.reset(seeds=0); rec.record()
    while not rec.finished:
        act = ...; engine.step(act); rec.record(act)
    rec.meta["blue"] = "assault"          # any JSON-able notes (e.g. doctrine names)
    rec.save("run.replay.npz")
    rep = load_replay("run.replay.npz")
    print(rep.summary()); rep.save_gif("run.gif")

What is recorded: per tick of each chosen world, the unit arrays (y, x, hp,
alive, visible, covered, ammunition, last tick's shots) and the world's tick,
map id, outcome, done flag, objective controller and hold counters, plus the
actions passed to :meth:`ReplayRecorder.record` (``-1`` where none were given,
always at frame 0). Where a learned policy chose those actions, ``record``
also takes its action probabilities and value estimate (``probs``, ``value``;
see :func:`side_policy`), stored as ``NaN`` wherever nothing was given.

A *track* is one recorded episode of one world; by default the first
complete episode of every chosen world, so track ``i`` is world
``worlds[i]``. With ``episodes_per_world=k`` the first k complete episodes are
kept, in order (track ``i*k + j`` then holds world ``worlds[i]``'s j-th).

Rules of recording: call :meth:`~ReplayRecorder.record` after every
``engine.reset`` and every ``engine.step``. A frame identical in (key,
episode, tick) to the last one kept is skipped, so calling it after a reset
that did not touch a world is harmless. A world reset before its episode
ended drops that incomplete episode and records the new one. Episodes still
running at :meth:`~ReplayRecorder.save` are saved too, marked incomplete.

The file is a compressed ``.npz`` that loads with ``allow_pickle=False``: the
per-frame arrays concatenated over tracks with ``offsets``, each track's
terrain, the scenario's TOML text (so a replay is self-contained) and a JSON
header (format, version, worlds, keys, episodes, combat mode, user ``meta``,
the scenario text's SHA-256 and where it came from).

Format version 1 grew without breaking readers either way: ``ammo``,
``probs``, ``value`` and the header's ``scenario_sha256``/``scenario_ref`` are
optional. A replay written before ``ammo`` was stored gets it derived from its
shots (exact: ammunition only falls by one per shot fired); older readers
ignore the new arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cgfsim.sim import render
from cgfsim.sim.actions import n_actions
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.replay_check import check_header, check_sizes, check_values
from cgfsim.sim.scenario import Scenario, builtin_dir, load_scenario_text
from cgfsim.sim.units import AMMO, HP, UNIT_TYPES

if TYPE_CHECKING:
    from cgfsim.sim.engine import Engine

FORMAT = "cgfsim-replay"
VERSION = 1
#: Per-frame fields copied from the engine, with the dtype they are stored in.
UNIT_FIELDS: dict[str, type] = {
    "y": np.int16,
    "x": np.int16,
    "hp": np.float32,
    "alive": np.bool_,
    "visible": np.bool_,
    "covered": np.bool_,
    "shot_target": np.int16,
    "shot_hit": np.bool_,
    "shot_damage": np.float32,
}
WORLD_FIELDS: dict[str, type] = {
    "tick": np.int32,
    "map_id": np.int32,
    "outcome": np.int8,
    "done": np.bool_,
    "controller": np.int8,
    "hold": np.int32,
}
FIELDS = (*UNIT_FIELDS, *WORLD_FIELDS, "actions")
#: Per-frame fields added to format 1 later; a replay may lack them (see the module doc).
OPTIONAL_FIELDS: dict[str, type] = {"ammo": np.int16, "probs": np.float32, "value": np.float32}


def scenario_sha256(text: str) -> str:
    """SHA-256 of a scenario's TOML text, as stored in replay headers."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def scenario_ref(source: str) -> str:
    """``builtin:<name>`` for a built-in scenario file, else the file's absolute path."""
    p = Path(source)
    if not p.is_file():
        return source
    p = p.resolve()
    if p.parent == builtin_dir().resolve():
        return f"builtin:{p.stem}"
    return str(p)


def policy_width(scenario: Scenario) -> int:
    """Actions per unit in the stored ``probs``: the larger side's action count."""
    nb, nr = scenario.n_slots
    return n_actions(max(nb, nr))


def side_policy(
    engine: Engine,
    side: int,
    probs: np.ndarray | None = None,
    value: np.ndarray | None = None,
    into: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One side's policy outputs placed in the (B, U, A) / (B, U) arrays ``record`` takes.

    ``probs``: (B, n_side, n_actions_side) in the engine's frame (absolute
    directions); ``value``: (B,) for the whole side or (B, n_side) per unit.
    Everything else stays ``NaN`` ("not recorded"). Pass the result as ``into``
    to add the other side's outputs to the same arrays.
    """
    sc = engine.scenario
    if into is None:
        full_p = np.full((engine.B, engine.U, policy_width(sc)), np.nan, np.float32)
        full_v = np.full((engine.B, engine.U), np.nan, np.float32)
    else:
        full_p, full_v = into
    sl = sc.side_slice(side)
    n_side = sc.n_slots[side]
    if probs is not None:
        p = np.asarray(probs, np.float32)
        want = (engine.B, n_side, n_actions(sc.n_slots[1 - side]))
        if p.shape != want:
            raise ValueError(f"probs of side {side} must have shape {want}, got {p.shape}")
        full_p[:, sl, : want[2]] = p
    if value is not None:
        v = np.asarray(value, np.float32)
        if v.shape == (engine.B,):
            v = np.repeat(v[:, None], n_side, 1)
        if v.shape != (engine.B, n_side):
            raise ValueError(
                f"value of side {side} must have shape ({engine.B},) or ({engine.B}, {n_side}), "
                f"got {v.shape}"
            )
        full_v[:, sl] = v
    return full_p, full_v


class ReplayRecorder:
    """Copies the chosen worlds' state after each reset/step; see the module doc for the rules."""

    def __init__(
        self, engine: Engine, worlds: Sequence[int] = (0,), episodes_per_world: int = 1
    ) -> None:
        ws = [int(w) for w in worlds]
        if not ws or len(set(ws)) != len(ws) or not all(0 <= w < engine.B for w in ws):
            raise ValueError(f"worlds must be distinct indices in 0..{engine.B - 1}, got {worlds}")
        if episodes_per_world < 1:
            raise ValueError(f"episodes_per_world must be >= 1, got {episodes_per_world}")
        if not engine.scenario.text:
            raise CgfsimError(
                f"scenario {engine.scenario.name!r} has no TOML text (built from a dict); "
                "replays embed the scenario file, so load it with load_scenario[_text]"
            )
        self.engine = engine
        self.worlds = ws
        self.episodes_per_world = episodes_per_world
        self.meta: dict[str, Any] = {}
        self._tracks: list[list[tuple[dict[str, Any], list[dict[str, np.ndarray]]]]] = [
            [] for _ in ws
        ]
        self._buf: list[list[dict[str, np.ndarray]] | None] = [None] * len(ws)
        self._ident: list[tuple[int, int] | None] = [None] * len(ws)
        self._last: list[tuple[int, int, int] | None] = [None] * len(ws)

    @property
    def finished(self) -> bool:
        """True once every chosen world has recorded all its episodes."""
        return all(len(t) >= self.episodes_per_world for t in self._tracks)

    def record(
        self,
        actions: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        value: np.ndarray | None = None,
    ) -> None:
        """Copy this tick of the chosen worlds; ``actions``: the (B, U) actions just stepped.

        ``probs`` (B, U, A) and ``value`` (B, U): the policy outputs those actions were
        chosen from, ``NaN`` where none (build them with :func:`side_policy`).
        """
        e, ws = self.engine, np.asarray(self.worlds)
        snap = {f: np.asarray(getattr(e, f))[ws].astype(dt) for f, dt in UNIT_FIELDS.items()}
        snap |= {f: np.asarray(getattr(e, f))[ws].astype(dt) for f, dt in WORLD_FIELDS.items()}
        snap["ammo"] = e.ammo[ws].astype(np.int16)
        if actions is None:
            snap["actions"] = np.full((ws.size, e.U), -1, np.int16)
        else:
            snap["actions"] = np.asarray(e.check_actions(actions))[ws].astype(np.int16)
        for name, arr, shape in (
            ("probs", probs, (e.B, e.U, policy_width(e.scenario))),
            ("value", value, (e.B, e.U)),
        ):
            if arr is not None:
                a = np.asarray(arr, np.float32)
                if a.shape != shape:
                    raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
                snap[name] = a[ws]
        keys, eps = e.key[ws].tolist(), e.episode[ws].tolist()
        for i in range(ws.size):
            if len(self._tracks[i]) >= self.episodes_per_world:
                continue
            ident = (int(keys[i]), int(eps[i]))
            frame_id = (*ident, int(snap["tick"][i]))
            if frame_id == self._last[i]:
                continue
            if self._buf[i] is not None and ident != self._ident[i]:
                self._buf[i] = None  # reset mid-episode: drop the incomplete episode
            if self._buf[i] is None:
                if snap["done"][i]:
                    continue  # finished and not reset yet
                self._buf[i], self._ident[i] = [], ident
            buf = self._buf[i]
            assert buf is not None
            buf.append({f: v[i] for f, v in snap.items()})
            self._last[i] = frame_id
            if snap["done"][i]:
                self._tracks[i].append((self._track_info(i, True), buf))
                self._buf[i] = None

    def _track_info(self, i: int, complete: bool) -> dict[str, Any]:
        ident = self._ident[i]
        assert ident is not None
        return {"world": self.worlds[i], "key": ident[0], "episode": ident[1], "complete": complete}

    def _all_tracks(self) -> list[tuple[dict[str, Any], list[dict[str, np.ndarray]]]]:
        out = []
        for i in range(len(self.worlds)):
            out += self._tracks[i]
            buf = self._buf[i]
            if buf and len(self._tracks[i]) < self.episodes_per_world:
                out.append((self._track_info(i, False), buf))
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The recorded tracks as the arrays stored in the file (frames concatenated)."""
        tracks = self._all_tracks()
        if not tracks:
            raise ValueError("nothing recorded yet: call record() after engine.reset()")
        frames = [f for _, buf in tracks for f in buf]
        out = {f: np.stack([fr[f] for fr in frames]) for f in (*FIELDS, "ammo")}
        e = self.engine
        for name, shape in (("probs", (e.U, policy_width(e.scenario))), ("value", (e.U,))):
            if any(name in fr for fr in frames):  # stored only once a policy was recorded
                gap = np.full(shape, np.nan, np.float32)
                out[name] = np.stack([fr.get(name, gap) for fr in frames])
        out["offsets"] = np.cumsum([0] + [len(b) for _, b in tracks]).astype(np.int64)
        out["terrain"] = np.stack([self.engine.maps[int(b[0]["map_id"])] for _, b in tracks])
        return out

    def header(self) -> dict[str, Any]:
        """The JSON header saved with the arrays."""
        e, tracks = self.engine, self._all_tracks()
        return {
            "format": FORMAT,
            "version": VERSION,
            "scenario": e.scenario.name,
            "scenario_sha256": scenario_sha256(e.scenario.text),
            "scenario_ref": scenario_ref(e.scenario.source),
            "combat": "stochastic" if e.stochastic else "expected",
            "batch_size": e.B,
            "episodes_per_world": self.episodes_per_world,
            "tracks": [info for info, _ in tracks],
            "meta": self.meta,
        }

    def replay(self) -> Replay:
        """The recording so far as an in-memory :class:`Replay` (no file round trip)."""
        sc = self.engine.scenario
        return Replay(sc, self.arrays(), self.header())

    def save(self, path: str | Path) -> None:
        """Write a compressed .npz atomically (temp file in the same dir, then rename)."""
        path = Path(path)
        sc = self.engine.scenario
        data = self.arrays()
        data["scenario_text"] = np.frombuffer(sc.text.encode("utf-8"), dtype=np.uint8)
        data["scenario_source"] = np.array(sc.source)
        data["combat"] = np.array(self.header()["combat"])
        data["header"] = np.array(json.dumps(self.header()))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **data)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# ----------------------------------------------------------------------------- loading


def load_replay(path: str | Path) -> Replay:
    """Load a replay file; any problem with it raises CgfsimError naming the file."""
    path = Path(path)

    def bad(what: str) -> CgfsimError:
        return CgfsimError(f"{path}: {what}")

    if not path.is_file():
        raise bad("no such replay file")
    try:
        check_sizes(path, _scenario_dims)
    except CgfsimError as ex:
        raise bad(f"embedded scenario is invalid: {ex}") from None
    except ValueError as ex:
        raise bad(f"corrupt replay ({ex})") from None
    except Exception:
        pass  # not a zip, truncated...: np.load below names the problem
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise bad("not a replay file (expected a cgfsim .npz replay)")
        with npz:
            data: dict[str, np.ndarray] = {k: npz[k] for k in npz.files}
    except CgfsimError:
        raise
    except Exception as ex:  # any unreadable file: zip, zlib, npy header or pickle errors
        raise bad(f"not a replay file or truncated ({type(ex).__name__}: {ex})") from None
    need = {*FIELDS, "offsets", "terrain", "scenario_text", "header"}
    missing = sorted(need - set(data))
    if missing:
        raise bad(f"not a cgfsim replay (missing {', '.join(missing)})")
    try:
        header = json.loads(str(data.pop("header")))
        text = data.pop("scenario_text").astype(np.uint8).tobytes().decode("utf-8")
    except (ValueError, UnicodeDecodeError) as ex:
        raise bad(f"corrupt replay header ({ex})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise bad(f"not a cgfsim replay (header format is not {FORMAT!r})")
    if header.get("version") != VERSION:
        raise bad(f"replay format version {header.get('version')!r}; this cgfsim reads {VERSION}")
    source = str(data.pop("scenario_source", "<replay>"))
    digest = header.get("scenario_sha256")
    if digest is not None and digest != scenario_sha256(text):
        raise bad("corrupt replay: the embedded scenario does not match its recorded SHA-256")
    try:
        scenario = load_scenario_text(text, f"{path} (embedded {source})")
    except CgfsimError as ex:
        raise bad(f"embedded scenario is invalid: {ex}") from None
    header.setdefault("scenario_ref", scenario_ref(source))
    try:
        return Replay(scenario, data, header)
    except ValueError as ex:
        raise bad(f"inconsistent replay ({ex})") from None


def _scenario_dims(text: str) -> tuple[int, int, int, int, int]:
    """(units, objectives, height, width, policy width) of an embedded scenario."""
    sc = load_scenario_text(text, "<replay>")
    return sc.n_units, len(sc.objectives), sc.height, sc.width, policy_width(sc)


def scenario_drift(replay: Replay) -> str | None:
    """Why the scenario file a replay was recorded from differs now, or None if it does not.

    The replay embeds its scenario, so it still renders as recorded; callers that
    present it as "scenario X" (the viewer, summaries) should refuse a changed one
    unless told otherwise. A source that cannot be found is not reported: there is
    nothing to compare with.
    """
    ref = str(replay.header.get("scenario_ref", ""))
    path = builtin_dir() / f"{ref[8:]}.toml" if ref.startswith("builtin:") else Path(ref)
    if not ref or not path.is_file():
        return None
    try:
        now = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    then = replay.header.get("scenario_sha256") or scenario_sha256(replay.scenario.text)
    if now == then:
        return None
    return (
        f"scenario {replay.scenario.name} ({path}) changed since this replay was recorded "
        f"(sha256 {then[:12]} then, {now[:12]} now)"
    )


# ----------------------------------------------------------------------------- replay


class Replay:
    """Recorded tracks (episodes of worlds) with their scenario: render and summarise them."""

    def __init__(self, scenario: Scenario, data: dict[str, np.ndarray], header: dict[str, Any]):
        check_header(header)
        self.scenario = sc = scenario
        self.header = header
        self.meta: dict[str, Any] = dict(header.get("meta", {}))
        self.combat: str = header.get("combat", sc.combat)
        self.tracks: list[dict[str, Any]] = list(header.get("tracks", []))
        off = np.asarray(data["offsets"], np.int64)
        n_frames, n_units, n_obj = int(data["tick"].shape[0]), sc.n_units, len(sc.objectives)
        if off.ndim != 1 or off.size < 2 or off[0] != 0 or off[-1] != n_frames:
            raise ValueError("offsets do not match the number of frames")
        if np.any(np.diff(off) < 1) or len(self.tracks) != off.size - 1:
            raise ValueError("track list does not match the offsets")
        shapes: dict[str, tuple[int, ...]] = {
            f: (n_frames, n_units) for f in (*UNIT_FIELDS, "actions")
        }
        shapes |= {f: (n_frames,) for f in ("tick", "map_id", "outcome", "done")}
        shapes |= {"controller": (n_frames, n_obj), "hold": (n_frames, n_obj, 2)}
        shapes |= {"terrain": (off.size - 1, sc.height, sc.width)}
        for f, shape in shapes.items():
            if data[f].shape != shape:
                raise ValueError(f"{f} has shape {data[f].shape}, expected {shape}")
        shapes |= {"ammo": (n_frames, n_units), "value": (n_frames, n_units)}
        shapes |= {"probs": (n_frames, n_units, policy_width(sc))}
        for f in OPTIONAL_FIELDS:
            if f in data and data[f].shape != shapes[f]:
                raise ValueError(f"{f} has shape {data[f].shape}, expected {shapes[f]}")
        dtypes = UNIT_FIELDS | WORLD_FIELDS | {"actions": np.int16, "terrain": np.uint8}
        dtypes |= {f: dt for f, dt in OPTIONAL_FIELDS.items() if f in data}
        self.data: dict[str, np.ndarray] = {
            f: data[f].astype(dt, copy=False) for f, dt in dtypes.items()
        }
        self.data["offsets"] = off
        self._side = np.r_[np.zeros(sc.n_slots[0], np.int8), np.ones(sc.n_slots[1], np.int8)]
        self._type = sc.unit_type.astype(np.int64)
        if "ammo" not in self.data:
            self.data["ammo"] = self._derived_ammo()
        self.fields = (*FIELDS, *(f for f in OPTIONAL_FIELDS if f in self.data))
        check_values(self)
        for w in range(self.n_worlds):
            mid = int(self.frame(w, 0)["map_id"])
            if not 0 <= mid < len(sc.maps):
                raise ValueError(f"track {w} has map id {mid}, the scenario has {len(sc.maps)}")
            if not np.array_equal(sc.maps[mid], self.data["terrain"][w]):
                warnings.warn(
                    f"track {w}: the scenario's map {mid} differs from the recorded terrain "
                    "(map generator changed?); rendering the recorded terrain",
                    stacklevel=2,
                )

    def _derived_ammo(self) -> np.ndarray:
        """Ammunition of a replay recorded before it was stored: the start load less the
        shots fired so far in each track (frame 0 is the state after reset)."""
        fired = (self.data["shot_target"] >= 0).astype(np.int64)
        off = self.data["offsets"]
        fired[off[:-1]] = 0
        spent = np.cumsum(fired, 0)
        spent -= np.repeat(spent[off[:-1]], np.diff(off), 0)
        return (AMMO[self._type][None, :] - spent).astype(np.int16)

    @property
    def side_of_slot(self) -> np.ndarray:
        """(U,) side of each unit slot: 0 blue, 1 red."""
        return self._side

    @property
    def unit_type(self) -> np.ndarray:
        """(U,) type code of each unit slot (index into ``UNIT_TYPES``)."""
        return self._type

    @property
    def has_policy(self) -> bool:
        """True when the replay stored action probabilities or values for some unit."""
        return any(
            f in self.data and bool(np.isfinite(self.data[f]).any()) for f in ("probs", "value")
        )

    @property
    def n_worlds(self) -> int:
        """Number of recorded tracks (one per world unless episodes_per_world > 1)."""
        return int(self.data["offsets"].size - 1)

    def length(self, w: int) -> int:
        """Frames in track ``w`` (ticks + 1: frame 0 is the state after reset)."""
        self._check(w)
        off = self.data["offsets"]
        return int(off[w + 1] - off[w])

    def _check(self, w: int, t: int | None = None) -> None:
        if not 0 <= w < self.n_worlds:
            raise IndexError(f"track {w} out of range 0..{self.n_worlds - 1}")
        if t is not None and not 0 <= t < self.length(w):
            raise IndexError(f"frame {t} out of range 0..{self.length(w) - 1} of track {w}")

    def frame(self, w: int, t: int) -> dict[str, np.ndarray]:
        """All recorded arrays of track ``w`` at frame ``t`` (views, do not modify)."""
        self._check(w, t)
        i = int(self.data["offsets"][w]) + t
        return {f: self.data[f][i] for f in self.fields}

    def track(self, w: int) -> dict[str, np.ndarray]:
        """All frames of track ``w``: each field with the frame axis first."""
        self._check(w)
        a, b = (int(v) for v in self.data["offsets"][w : w + 2])
        return {f: self.data[f][a:b] for f in self.fields}

    def frame_text(self, w: int, t: int, color: bool = False, side: int | None = None) -> str:
        """Frame ``t`` of track ``w`` as text, exactly as render_ansi drew the live world."""
        fr, sc = self.frame(w, t), self.scenario
        status = render.status_line(
            int(fr["tick"]),
            sc.max_ticks,
            int(fr["outcome"]),
            fr["alive"],
            sc.present,
            self._side,
            fr["controller"],
            fr["hold"],
            sc.objectives,
            side,
        )
        return render.render_ansi_arrays(
            self.data["terrain"][w],
            fr["y"],
            fr["x"],
            fr["alive"],
            self._type,
            self._side,
            present=sc.present,
            visible=fr["visible"],
            side=side,
            color=color,
            objectives=[o.rect for o in sc.objectives],
            status=status,
        )

    def frame_rgb(self, w: int, t: int, cell_px: int = 12, side: int | None = None) -> np.ndarray:
        """Frame ``t`` of track ``w`` as a uint8 (H*cell_px, W*cell_px, 3) image."""
        fr, sc = self.frame(w, t), self.scenario
        return render.render_rgb_arrays(
            self.data["terrain"][w],
            fr["y"],
            fr["x"],
            fr["alive"],
            self._type,
            self._side,
            hp_frac=fr["hp"] / HP[self._type],
            present=sc.present,
            visible=fr["visible"],
            side=side,
            objectives=[o.rect for o in sc.objectives],
            cell_px=cell_px,
        )

    def save_gif(self, path: str | Path, world: int = 0, fps: float = 8, cell_px: int = 12) -> None:
        """Write track ``world`` as an animated GIF (one frame per tick, with a status strip)."""
        nb = self.scenario.n_slots[0]
        frames = []
        for t in range(self.length(world)):
            fr = self.frame(world, t)
            img = self.frame_rgb(world, t, cell_px)
            alive = (int(fr["alive"][:nb].sum()), int(fr["alive"][nb:].sum()))
            strip = render.status_strip(img.shape[1], int(fr["tick"]), alive, max(1, cell_px // 6))
            frames.append(np.concatenate([img, strip], 0))
        render.write_gif(frames, path, fps)

    # ------------------------------------------------------------------------- after action

    def unit_name(self, slot: int) -> str:
        """``B0 infantry`` / ``R1 armour``: side letter, slot within the side, type."""
        nb = self.scenario.n_slots[0]
        tag = f"B{slot}" if slot < nb else f"R{slot - nb}"
        return f"{tag} {UNIT_TYPES[self._type[slot]].name}"

    def kills(self, w: int) -> list[tuple[int, list[int], int]]:
        """``(tick, killer slots, victim slot)`` for every unit lost in track ``w``.

        A victim died at the frame where it turned from alive to dead; its
        killers are the units whose shot of that tick targeted it and did damage.
        """
        tr = self.track(w)
        alive, tgt, dmg = tr["alive"], tr["shot_target"], tr["shot_damage"]
        out = []
        for t, v in np.argwhere(alive[:-1] & ~alive[1:]).tolist():
            killers = np.flatnonzero((tgt[t + 1] == v) & (dmg[t + 1] > 0)).tolist()
            out.append((int(tr["tick"][t + 1]), killers, int(v)))
        return out

    def summary(self, w: int | None = None) -> str:
        """After-action summary of track ``w`` (all tracks when None)."""
        if w is None:
            return "\n\n".join(self.summary(i) for i in range(self.n_worlds))
        sc, tr = self.scenario, self.track(w)
        info = self.tracks[w] if w < len(self.tracks) else {}
        last = -1
        ticks = int(tr["tick"][last])
        head = f"Replay of {sc.name} ({self.combat} combat), track {w}"
        if info:
            head += f": world {info['world']}, key {info['key']}, episode {info['episode']}"
        lines = [head]
        if self.meta:
            lines.append("notes: " + ", ".join(f"{k}={v}" for k, v in self.meta.items()))
        outcome = int(tr["outcome"][last])
        how = render.OUTCOME_TEXT[outcome]
        if outcome == 3 and ticks >= sc.max_ticks:
            how = "draw (time limit)"
        if not tr["done"][last]:
            how = "incomplete (recording ended while running)"
        lines.append(f"outcome: {how} after {ticks} ticks ({len(tr['tick'])} frames)")
        lost = sc.present & ~tr["alive"][last]
        for s, name in enumerate(render.SIDE_NAMES):
            sl = sc.side_slice(s)
            types = self._type[sl][lost[sl]]
            by = [f"{int((types == i).sum())} {t.name}" for i, t in enumerate(UNIT_TYPES)]
            by = [b for b in by if not b.startswith("0 ")]
            detail = f" ({', '.join(by)})" if by else ""
            lines.append(
                f"{name} losses: {int(lost[sl].sum())} of {int(sc.present[sl].sum())}{detail}"
            )
        for s, name in enumerate(render.SIDE_NAMES):
            mine = self._side == s
            shots = int((tr["shot_target"][1:][:, mine] >= 0).sum())
            hits = int(tr["shot_hit"][1:][:, mine].sum())
            dmg = float(tr["shot_damage"][1:][:, mine].sum())
            rate = f" ({100 * hits / shots:.0f}%)" if shots else ""
            lines.append(f"{name} fire: {shots} shots, {hits} hits{rate}, {dmg:.1f} damage")
        kills = self.kills(w)
        if kills:
            lines.append("kills:")
            for tick, killers, victim in kills:
                who = " + ".join(self.unit_name(k) for k in killers) or "unknown"
                lines.append(f"  t{tick}: {who} killed {self.unit_name(victim)}")
        for k, obj in enumerate(sc.objectives):
            lines.append(f"objective {obj.name}: " + self._control_timeline(tr, k, obj.hold_ticks))
        return "\n".join(lines)

    def _control_timeline(self, tr: dict[str, np.ndarray], k: int, hold_ticks: int) -> str:
        """Runs of control, e.g. ``none t0-11, blue t12-20 (held 9/10)``; at most 8 shown."""
        ctrl, ticks, hold = tr["controller"][:, k], tr["tick"], tr["hold"][:, k]
        starts = np.flatnonzero(np.r_[True, ctrl[1:] != ctrl[:-1]])
        ends = np.r_[starts[1:] - 1, ctrl.size - 1]
        runs = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            c = int(ctrl[a])
            who = render.SIDE_NAMES[c] if c >= 0 else "none"
            held = f" (held {int(hold[a : b + 1, c].max())}/{hold_ticks})" if c >= 0 else ""
            runs.append(f"{who} t{int(ticks[a])}-{int(ticks[b])}{held}")
        more = f", ... {len(runs) - 8} more" if len(runs) > 8 else ""
        return ", ".join(runs[:8]) + more
