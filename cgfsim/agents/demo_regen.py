"""Regenerating episodes from their world keys: ``cgfsim demos verify`` and datasets from replays.

A world's episode depends only on its key and episode index (counter-based
randomness, :mod:`cgfsim.sim.rng`), so an episode can be re-simulated alone,
in a batch of any size. :func:`verify_dataset` re-runs a sample of a dataset's
episodes with the same demonstrator, opponent and exploration and compares
every stored array bit for bit; :func:`demos_from_replays` re-runs the
episodes of replay files with their recorded joint actions to rebuild the
acting side's observations (replays keep positions, not observations) and
refuses a replay whose re-simulation does not end in its recorded final state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents import demo_collect as DC
from cgfsim.agents.demo_store import (
    FORMAT,
    VERSION,
    DatasetError,
    DemoDataset,
    check_dataset_id,
    datasets_root,
    open_dataset,
    sha256_text,
    write_dataset,
)
from cgfsim.agents.demos import (
    DEFAULT_FRACTIONS,
    DEMONSTRATOR_DIR,
    _demonstrator,
    _describe,
    _progress,
    _side,
    check_fractions,
    dataset_info,
    engine_version,
    make_splits,
)
from cgfsim.sim.errors import CgfsimError

# --------------------------------------------------------------------------- verify


def _recorded_actor(
    episodes: dict[tuple[int, int], np.ndarray], side: int
) -> Callable[[Any], DC.ActFn]:
    """An expert that plays back stored (T, n_own) actions by (key, episode, tick)."""

    def make(env: Any) -> DC.ActFn:
        e = env.engine

        def act(obs: np.ndarray, start: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
            out = np.zeros((env.num_envs, env.n_own), np.int64)
            for w in range(env.num_envs):
                a = episodes.get((int(e.key[w]), int(e.episode[w])))
                t = int(e.tick[w])
                if a is not None and t < len(a):
                    out[w] = a[t]
            return out

        return act

    return make


def _recorded_opponent(episodes: dict[tuple[int, int], np.ndarray]) -> Callable[[Any, int], Any]:
    """An engine-side opponent that plays back stored engine-frame actions."""

    def fn(engine: Any, side: int) -> np.ndarray:
        n = engine.nb if side == 0 else engine.nr
        out = np.zeros((engine.B, n), np.int64)
        for w in range(engine.B):
            a = episodes.get((int(engine.key[w]), int(engine.episode[w])))
            t = int(engine.tick[w])
            if a is not None and t < len(a):
                out[w] = a[t]
        return out

    fn.__name__ = "recorded"
    return fn


def _compare(ref: str, i: int, key: int, index: int, stored: Any, ep: DC.Episode) -> None:
    """Raise a one-line DatasetError at the first difference of a regenerated episode."""
    T = len(ep)
    where = f"dataset {ref}: episode {i} (world key {key}, episode {index})"
    if len(stored.rewards) != T:
        raise DatasetError(
            f"{where} does not regenerate: it has {len(stored.rewards)} steps, the engine "
            f"played {T} (regeneration mismatch)"
        )
    pairs = [
        ("observations", stored.observations, ep.obs),
        ("actions", stored.actions, ep.actions),
        ("rewards", stored.rewards, ep.rewards),
        ("terminations", stored.terminations, ep.terminated),
        ("truncations", stored.truncations, ep.truncated),
        ("action masks", stored.infos["action_mask"], ep.masks),
    ]
    if "expert_action" in stored.infos:
        pairs.append(("expert labels", stored.infos["expert_action"][:T], ep.labels))
    for name, a, b in pairs:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes():
            at = f" ({a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)})"
            if a.shape == b.shape:
                rows = np.flatnonzero((a != b).reshape(len(a), -1).any(1))
                at = f" first at step {int(rows[0])}" if rows.size else at

            raise DatasetError(f"{where}: {name} differ{at} (regeneration mismatch)")


def verify_dataset(
    dataset: str | os.PathLike[str] | DemoDataset,
    sample: int = 32,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Re-simulate ``sample`` episodes from their world keys; every array must match bit for bit.

    The scenario comes from the stored text (checked against its hash), the
    demonstrator from the dataset (a doctrine by name, a checkpoint from the
    dataset folder), datasets built from replays play back their recorded actions.
    A difference raises :class:`DatasetError` naming the episode, the array and the step.
    """
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.sim.scenario import load_scenario_text

    ds = open_dataset(dataset, root)
    b = ds.meta
    text = b.get("scenario_text", "")
    if sha256_text(text) != b.get("scenario_sha256"):
        raise DatasetError(f"dataset {ds.ref}: scenario text does not match its SHA-256")
    sc = load_scenario_text(text, f"{ds.ref} (embedded scenario)")
    table = ds.episode_table()
    n = ds.total_episodes
    rng = np.random.default_rng(int(seed))
    ids = np.sort(rng.choice(n, size=min(int(sample), n), replace=False)).tolist()
    stored = list(ds.episodes(ids))
    keys, index = table["world_key"][ids], table["episode_index"][ids]
    for i, m in zip(ids, ds.episode_meta(ids), strict=True):
        opt = m.get("options", {})
        if (int(opt.get("world_key", -1)), int(opt.get("episode_index", -1))) != (
            int(table["world_key"][i]),
            int(table["episode_index"][i]),
        ):
            raise DatasetError(
                f"dataset {ds.ref}: episode {i}'s world key differs between "
                "its HDF5 attributes and the episode table"
            )
    side_i, _ = _side(b["side"])
    d = b["demonstrator"]
    behaviour = DC.epsilon_behaviour(float(b.get("epsilon", 0.0)))
    opponent: Any = b["opponent"]
    masked = False
    if d["kind"] == "replay":
        plays = {(k, e): np.asarray(s.actions) for k, e, s in zip(keys, index, stored, strict=True)}
        make_act = _recorded_actor(plays, side_i)
        opp_plays = {
            (k, e): np.asarray(s.infos["opponent_action"])
            for k, e, s in zip(keys, index, stored, strict=True)
        }
        opponent = _recorded_opponent(opp_plays)
        behaviour = None
    elif d["kind"] == "checkpoint":
        folder = ds.path / DEMONSTRATOR_DIR
        if not folder.is_dir():
            raise DatasetError(f"dataset {ds.ref}: its demonstrator checkpoint is missing")
        demo = _demonstrator(folder, b["obs"])
        if demo.info["weights_sha256"] != d.get("weights_sha256"):
            raise DatasetError(f"dataset {ds.ref}: demonstrator weights do not match their hash")
        make_act, masked = demo.make_act, demo.masked
    else:
        make_act = _demonstrator(d["name"], b["obs"]).make_act
    t0 = time.perf_counter()
    env = BatchedCommanderEnv(
        sc,
        len(ids),
        side=side_i,
        opponent=opponent,
        obs=b["obs"],
        autoreset=False,
        combat=b.get("combat"),
    )
    bar = _progress(len(ids), "verify", progress)
    eps = DC.collect_episodes(
        env,
        make_act(env),
        keys,
        np.ones(len(ids), np.int64),
        behaviour,
        masked,
        on_episode=lambda _e: bar.update(1),
        start_index=index,
    )
    bar.close()
    by = {(ep.key, ep.index): ep for ep in eps}
    for i, k, e, s in zip(ids, keys.tolist(), index.tolist(), stored, strict=True):
        _compare(ds.ref, i, k, e, s, by[(k, e)])
    return {
        "dataset_id": ds.dataset_id,
        "checked_episodes": len(ids),
        "checked_transitions": int(sum(len(ep) for ep in eps)),
        "of_episodes": n,
        "engine_version": engine_version(),
        "recorded_engine_version": b.get("engine_version"),
        "wall_s": round(time.perf_counter() - t0, 3),
        "match": True,
    }


# --------------------------------------------------------------------------- replays


def demos_from_replays(
    replays: Sequence[str | os.PathLike[str]],
    side: str = "blue",
    obs: str = "vector",
    dataset_id: str | None = None,
    root: str | os.PathLike[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    split_seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """A dataset from saved replays: every complete track becomes one episode of ``side``.

    Replays keep each tick's joint actions and the world's key and episode index, so
    the episode is re-simulated from its key with those actions to rebuild the side's
    observations (any mode), masks and rewards; the re-simulation must end in the
    recorded final state, else the replay is refused (another engine or scenario).
    Both sides' actions are stored (the opponent's under ``infos/opponent_action``),
    so ``verify_dataset`` can regenerate these episodes too.
    """
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.envs.observations import OBS_MODES, to_engine_actions
    from cgfsim.sim.replay import load_replay

    side_i, side_name = _side(side)
    if obs not in OBS_MODES:
        raise CgfsimError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
    frac = check_fractions(fractions)
    if not replays:
        raise CgfsimError("no replay files given")
    loaded = [(str(p), load_replay(Path(p))) for p in replays]
    sc = loaded[0][1].scenario
    combat = loaded[0][1].combat
    for p, rep in loaded[1:]:
        if rep.scenario.text != sc.text or rep.combat != combat:
            raise CgfsimError(
                f"{p}: another scenario or combat mode than {loaded[0][0]}; one dataset "
                "holds one scenario"
            )
    own = sc.side_slice(side_i)
    other = sc.side_slice(1 - side_i)
    tracks = []
    for p, rep in loaded:
        for w, info in enumerate(rep.tracks):
            if not info.get("complete", True):
                continue
            tr = rep.track(w)
            acts = tr["actions"][1:].astype(np.int64)  # frame t's actions made frame t
            tracks.append((p, w, int(info["key"]), int(info["episode"]), acts, tr))
    if not tracks:
        raise CgfsimError("the replays hold no complete episode")
    seen = {(k, e) for _, _, k, e, _, _ in tracks}
    if len(seen) != len(tracks):
        raise CgfsimError("two replay tracks are the same episode (same world key and episode)")
    who: list[set[str]] = [set(), set()]  # (acting side, other side) player names
    for _, rep in loaded:
        m = rep.meta
        if side_name in m:  # `cgfsim play`: meta names each side's doctrine
            who[0].add(str(m[side_name]))
            who[1].add(str(m.get(("blue", "red")[1 - side_i], "")))
        elif "policy" in m:  # `cgfsim evaluate`: the evaluated policy played m["side"]
            mine = m.get("side", "blue") == side_name
            who[0].add(str(m["policy"] if mine else m.get("opponent", "")))
            who[1].add(str(m.get("opponent", "") if mine else m["policy"]))
    own_plays = {(k, e): to_engine_actions(a[:, own], side_i) for _, _, k, e, a, _ in tracks}
    opps = {(k, e): a[:, other] for _, _, k, e, a, _ in tracks}
    keys = np.array([k for _, _, k, _, _, _ in tracks], np.int64)
    index = np.array([e for _, _, _, e, _, _ in tracks], np.int64)
    dataset_id = dataset_id or f"cgfsim/{sc.name.lower()}-replays-{side_name}-{obs}-v0"
    check_dataset_id(dataset_id)
    if (datasets_root(root) / dataset_id).exists():
        raise DatasetError(f"dataset {dataset_id} already exists under {datasets_root(root)}")
    env = BatchedCommanderEnv(
        sc,
        len(tracks),
        side=side_i,
        opponent=_recorded_opponent(opps),
        obs=obs,
        autoreset=False,
        combat=combat,
    )
    bar = _progress(len(tracks), "replays", progress)
    t0 = time.perf_counter()
    eps = DC.collect_episodes(
        env,
        _recorded_actor(own_plays, side_i)(env),
        keys,
        np.ones(len(keys), np.int64),
        on_episode=lambda _e: bar.update(1),
        start_index=index,
    )
    bar.close()
    e = env.engine
    by = {(ep.key, ep.index): ep for ep in eps}
    for w, (p, track, k, idx, acts, tr) in enumerate(tracks):
        ep = by[(k, idx)]
        same = (
            len(ep) == len(acts)
            and np.array_equal(e.y[w], tr["y"][-1])
            and np.array_equal(e.x[w], tr["x"][-1])
            and np.array_equal(e.alive[w], tr["alive"][-1])
            and np.array_equal(e.hp[w], tr["hp"][-1])
        )
        if not same:
            raise DatasetError(
                f"{p}: track {track} (world key {k}, episode {idx}) does not regenerate on this "
                "engine (another cgfsim version or scenario?)"
            )
        pad = np.zeros((1, other.stop - other.start), np.int64)
        ep.infos["opponent_action"] = np.concatenate([acts[:, other], pad])
    wall = time.perf_counter() - t0
    names = [", ".join(sorted(n for n in w if n)) or "recorded actions" for w in who]

    def finish(light: list[DC.Episode]) -> tuple[dict[str, Any], str]:
        s = DC.summary(light)
        block = {
            "format": FORMAT,
            "version": VERSION,
            "source": "replays",
            "replays": [p for p, _ in loaded],
            "scenario": sc.name,
            "scenario_text": sc.text,
            "scenario_sha256": sha256_text(sc.text),
            "combat": combat,
            "engine_version": engine_version(),
            "side": side_name,
            "obs": obs,
            "obs_shape": list(env.observer.shape),
            "n_units": env.n_own,
            "n_actions": env.n_actions,
            "demonstrator": {"kind": "replay", "name": names[0]},
            "opponent": names[1],
            "epsilon": 0.0,
            "seed": None,
            "key_split": None,
            "episodes": s["episodes"],
            "transitions": s["transitions"],
            "demonstrator_record": {k: s[k] for k in ("wins", "draws", "losses")},
            "demonstrator_win_rate": s["win_rate"],
            "recording": {
                "env_steps": s["transitions"],
                "wall_s": round(wall, 3),
                "transitions_per_s": round(s["transitions"] / max(wall, 1e-9), 1),
            },
            "splits": make_splits(
                [ep.key for ep in light], [len(ep) for ep in light], frac, split_seed
            ),
        }
        return block, _describe(block)

    path = write_dataset(
        dataset_id,
        [eps],
        env.observation_space,
        env.action_space,
        None,
        "replays",
        finish,
        root,
    )
    return dataset_info(path)
