"""DAgger (``cgfsim train --algo dagger``): imitation with an exact, queryable expert.

cgfsim's doctrines are functions of the engine state, so they can label any
state, including the states a half-trained clone drives itself into. DAgger
(Ross, Gordon and Bagnell, 2011) uses that to fix behaviour cloning's
compounding error: iteration i rolls out the mixture
``pi_i = beta_i * expert + (1 - beta_i) * learner`` (per world and tick, from the
world's counter-based stream), asks the expert for its action in every visited
state, adds those labelled episodes to one aggregated dataset, and retrains the
learner on all of it (:func:`cgfsim.agents.supervised.fit`, early stopping on a
held-out tenth of the worlds, ending on the last epoch: see ``restore_best`` in
:data:`EXTRA`). ``beta_i = beta0 * beta_decay**i``; the default ``beta0 = 1`` makes
the first iteration plain behaviour cloning. With ``oversample = k > 1`` a round with a
learner share rolls out ``k`` ticks per label and labels a uniform sample of them: a
learner stuck in a dead end would otherwise spend the round's labels on one episode of
near-identical states.

Data accounting: every expert label is a demonstration (``demo_steps``), every
rollout tick an interaction (``env_steps``, including the ticks of episodes that
did not fit the label budget); an optional seed ``dataset`` counts as
demonstrations and its recording as ``recording_env_steps``. Rollouts run on
``train``-split world keys, the reported win rate on ``test``-split keys.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cgfsim.agents import demo_collect as DC
from cgfsim.agents import supervised as S
from cgfsim.agents.bc import _snapshot, eval_scenario, evaluate_in_env, n_steps, say_fn
from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.demos import Demo, load_split
from cgfsim.agents.networks import CgfPolicy, build_policy
from cgfsim.agents.runs import (
    CurveRow,
    DataAccount,
    append_curve_row,
    make_run_dir,
    run_config,
    write_csv_rows,
    write_json,
)
from cgfsim.sim.errors import CgfsimError

#: DAgger's own defaults, on top of the supervised ones (:data:`cgfsim.agents.supervised.DEFAULTS`).
EXTRA: dict[str, Any] = {
    "iterations": 5,  # rollout + retrain rounds sharing the label budget
    "beta0": 1.0,  # expert share of the first iteration's rollouts
    "beta_decay": 0.5,  # beta_i = beta0 * beta_decay ** i
    "n_envs": 64,  # rollout worlds per batch
    "val_every": 10,  # every k-th rollout world is held out for early stopping
    "warm_start": True,  # continue from the previous iteration's weights
    "oversample": 1.0,  # learner rounds roll out this many ticks per label, label a sample
    # Keep each round's last epoch: the aggregate's validation part (every val_every-th
    # world) holds a few dozen labels in the first rounds, and restoring its "best" epoch
    # picked epoch 1-2 of the warm-started net, throwing the round's new labels away
    # (Traps, 150 labels, seeds 0-4: win rate 0.74 with restoring, 0.93 without).
    "restore_best": False,
}


def beta_schedule(hp: dict[str, Any]) -> list[float]:
    return [float(hp["beta0"]) * float(hp["beta_decay"]) ** i for i in range(hp["iterations"])]


def mixture_behaviour(learner: DC.ActFn, beta: float) -> DC.BehaviourFn:
    """Per world and tick: the expert's actions with probability ``beta``, else the learner's.

    The learner is asked every tick (its LSTM state must follow the episode) and acts
    greedily over valid actions, as in evaluation.
    """

    def behave(
        env: Any, obs: np.ndarray, start: np.ndarray, mask: np.ndarray, expert: np.ndarray
    ) -> np.ndarray:
        mine = learner(obs, start, mask)
        if beta >= 1.0:
            return expert
        use_expert = DC.uniform(env, DC.STREAM_MIX, 1)[:, 0] < beta
        return np.where(use_expert[:, None], expert, mine)

    return behave


def truncate(ep: DC.Episode, n: int) -> DC.Episode:
    """The first ``n`` labelled ticks of an episode (what fits the label budget)."""
    return DC.Episode(
        ep.key,
        ep.index,
        ep.obs[: n + 1],
        ep.actions[:n],
        ep.labels[:n],
        ep.rewards[:n],
        ep.terminated[:n],
        ep.truncated[:n],
        ep.masks[: n + 1],
        ep.outcome,
    )


def to_demo(
    ep: DC.Episode,
    n_units: int,
    n_actions: int,
    ticks: np.ndarray | None = None,
    keep_sequence: bool = False,
) -> Demo:
    """A collected episode as training data: its observations with the expert's labels.

    ``ticks`` (sorted indices) keeps only those labels: an mlp trains on those rows
    alone; with ``keep_sequence`` (an lstm, which needs the whole episode to carry its
    state) the other rows stay in the sequence as non-decisions (only ``stay`` valid),
    which the loss does not count. Call after :func:`cgfsim.agents.supervised.clean_labels`
    has had its chance: the rows are cleaned here.
    """
    T = len(ep)
    d = Demo(ep.obs[:T], ep.labels.copy(), ep.masks[:T].reshape(T, n_units, n_actions).copy())
    S.clean_labels([d])
    if ticks is None:
        return d
    if not keep_sequence:
        return Demo(d.obs[ticks], d.labels[ticks], d.masks[ticks])
    off = np.ones(T, bool)
    off[ticks] = False
    d.labels[off] = S.STAY
    d.masks[off] = False
    d.masks[off, :, S.STAY] = True
    return d


def label_sample(
    episodes: list[DC.Episode],
    n_labels: int,
    n_units: int,
    n_actions: int,
    recurrent: bool,
    seed: tuple[int, int],
    sample: bool,
) -> list[tuple[DC.Episode, Demo]]:
    """The labelled part of a round's episodes: all of it, or ``n_labels`` ticks drawn uniformly.

    Drawn without replacement over every visited tick of the round (seeded by
    ``seed``); episodes that get no label are left out. See :func:`to_demo`.
    """
    if not sample:
        return [(ep, to_demo(ep, n_units, n_actions)) for ep in episodes]
    lens = np.array([len(ep) for ep in episodes], np.int64)
    pick = np.sort(np.random.default_rng(list(seed)).choice(int(lens.sum()), n_labels, False))
    starts = np.concatenate([[0], np.cumsum(lens)])
    out = []
    for ep, a, b in zip(episodes, starts[:-1], starts[1:], strict=True):
        ticks = pick[(pick >= a) & (pick < b)] - a
        if ticks.size:
            out.append((ep, to_demo(ep, n_units, n_actions, ticks, recurrent)))
    return out


def train_dagger(
    scenario: Any,
    expert: str = "assault",
    opponent: str = "random",
    obs: str = "vector",
    policy: str = "mlp",
    labels: int = 20_000,
    seed: int = 0,
    out_dir: str | Path | None = None,
    side: str = "blue",
    hparams: dict[str, Any] | None = None,
    eval_episodes: int = 200,
    eval_seed: int | None = None,
    dataset: Any = None,
    root: str | Path | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    verbose: bool = True,
    budget_hook: Callable[[DataAccount, Callable[[], CgfPolicy]], None] | None = None,
) -> dict[str, Any]:
    """DAgger with doctrine ``expert`` against ``opponent`` for a budget of ``labels`` labels.

    Each of ``iterations`` rounds collects episodes until it has its share of the
    budget exactly: the episode that overshoots is cut (all its ticks count as env
    steps, its first labels as demonstrations). ``dataset`` (optional) seeds the
    aggregate with its train/validation splits. Returns the result dict of ``train_bc``
    (``demo_steps`` = expert labels, ``env_steps`` = rollout ticks) plus ``iterations``
    (per-round rows). ``budget_hook(account, make_policy)`` (the lab's) is offered the
    policy after every iteration.
    """
    from cgfsim.agents.demos import _doctrine, _side
    from cgfsim.agents.evaluation import _doctrine_act, _network_act
    from cgfsim.envs._common import get_scenario
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.envs.observations import OBS_MODES
    from cgfsim.sim.splits import key_base, world_keys

    sc = get_scenario(scenario)
    side_i, side_name = _side(side)
    exp_name = _doctrine(expert, "DAgger expert")
    opp = _doctrine(opponent, "opponent")
    if obs not in OBS_MODES:
        raise CgfsimError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
    if policy not in ("mlp", "lstm"):
        raise CgfsimError(f"unknown policy {policy!r}; expected 'mlp' or 'lstm'")
    hp = S.resolve_hparams(hparams, policy, EXTRA)
    for k in ("iterations", "n_envs", "val_every"):
        hp[k] = int(hp[k])
    hp["oversample"] = float(hp["oversample"])
    if hp["iterations"] < 1 or hp["n_envs"] < 1 or hp["val_every"] < 2:
        raise CgfsimError("DAgger needs iterations >= 1, n_envs >= 1 and val_every >= 2")
    if not hp["oversample"] >= 1.0:
        raise CgfsimError(f"DAgger's oversample must be >= 1, got {hp['oversample']}")
    labels = int(labels)
    if labels < hp["iterations"]:
        raise CgfsimError(f"labels must be >= iterations ({hp['iterations']}), got {labels}")
    probe = BatchedCommanderEnv(sc, 1, side=side_i, opponent=opp, obs=obs, autoreset=False)
    U, A = probe.n_own, probe.n_actions
    seed_train: list[Demo] = []
    seed_val: list[Demo] = []
    recording = 0
    if dataset is not None:
        from cgfsim.agents.bc import check_scenario
        from cgfsim.agents.demo_store import DatasetError, open_dataset

        ds = open_dataset(dataset, root)
        check_scenario(ds, sc)
        if ds.meta["obs"] != obs or ds.meta.get("side") != side_name:
            raise DatasetError(
                f"dataset {ds.ref} holds {ds.meta['obs']} observations of "
                f"{ds.meta.get('side')}, not {obs} of {side_name}"
            )
        seed_train, seed_val = load_split(ds, "train"), load_split(ds, "validation")
        S.clean_labels(seed_train)
        S.clean_labels(seed_val)
        recording = n_steps(seed_train) + n_steps(seed_val)
    approach = f"dagger-{policy}" + ("" if obs == "vector" else f"-{obs}")
    if out_dir is None:
        run_dir = make_run_dir("runs", f"dagger-{sc.name}", f"{approach}-s{seed}")
    else:
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(
        "dagger", sc.name, opp, obs, policy, side_name, labels, seed, hp, eval_episodes
    )
    config.update(expert=exp_name, labels=labels)
    write_json(run_dir / "config.json", config)

    spec = S.policy_spec(obs, probe.observer.shape, U, A, policy, hp)
    net = build_policy(spec, seed=seed)
    sc_eval = eval_scenario(sc)
    eval_seed = key_base("test", seed) if eval_seed is None else int(eval_seed)
    train_agg, val_agg = list(seed_train), list(seed_val)
    per_iter = [
        labels // hp["iterations"] + (i < labels % hp["iterations"])
        for i in range(hp["iterations"])
    ]
    rows: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    env_steps = demo_labels = offset = 0
    train_s = eval_s = 0.0
    threads = torch.get_num_threads()
    torch.set_num_threads(hp["torch_threads"])
    writer = S.tb_writer(run_dir) if tensorboard else None
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=labels, unit="label", unit_scale=True, desc=approach, dynamic_ncols=True)
    try:
        for it, beta in enumerate(beta_schedule(hp)):
            t0 = time.perf_counter()
            # A round with a learner share may visit more ticks than it labels: rollouts are cheap,
            # labels are not, and a stuck learner would otherwise spend a round's labels on
            # one episode of near-identical states.
            sample = beta < 1.0 and hp["oversample"] > 1.0
            want = int(np.ceil(per_iter[it] * hp["oversample"])) if sample else per_iter[it]
            got: list[DC.Episode] = []
            visited = 0
            while visited < want:
                left = want - visited
                mean_len = np.mean([len(e) for e in got]) if got else sc.max_ticks / 4
                n = int(min(hp["n_envs"], max(1, np.ceil(left / max(mean_len, 1)))))
                env = BatchedCommanderEnv(
                    sc, n, side=side_i, opponent=opp, obs=obs, autoreset=False
                )
                keys = world_keys("train", seed, n, offset).astype(np.int64)
                offset += n
                learner = _network_act(net, True, seed)
                eps = DC.collect_episodes(
                    env,
                    _doctrine_act(exp_name, env),
                    keys,
                    np.ones(n, np.int64),
                    mixture_behaviour(learner, beta),
                    expert_masked=False,
                )
                before = visited
                for ep in eps:
                    env_steps += len(ep)
                    room = want - visited
                    if room <= 0:
                        continue  # over budget: the interaction happened, its labels unused
                    got.append(ep if sample or len(ep) <= room else truncate(ep, room))
                    visited += len(got[-1])
                if bar is not None and not sample:
                    bar.update(visited - before)
            new = label_sample(got, per_iter[it], U, A, policy == "lstm", (seed, it), sample)
            n_labels = per_iter[it] if sample else visited
            if bar is not None and sample:
                bar.update(n_labels)
            for ep, d in new:
                (val_agg if (ep.key % hp["val_every"]) == 0 else train_agg).append(d)
            if not val_agg:
                val_agg.append(train_agg.pop())
            demo_labels += n_labels
            if not hp["warm_start"]:
                net = build_policy(spec, seed=seed + it)
            fitted = S.fit(net, train_agg, val_agg, hp, seed + it, say_fn(verbose, bar))
            train_s += time.perf_counter() - t0
            if budget_hook is not None:
                account = DataAccount(env_steps, demo_labels + recording, train_s)
                budget_hook(account, _snapshot(net))
            for r in fitted.history:
                history.append({"iteration": it, **r})
            if writer is not None:
                best = fitted.history[fitted.best_epoch - 1]
                writer.add_scalar(f"{approach}/val_accuracy", best["val_accuracy"], demo_labels)
            t1 = time.perf_counter()
            ev = evaluate_in_env(net, sc_eval, opp, eval_episodes, side_name, eval_seed)
            eval_s += time.perf_counter() - t1
            total_demo = demo_labels + recording
            row = {
                "iteration": it,
                "beta": beta,
                "labels": n_labels,
                "demo_steps": total_demo,
                "env_steps": env_steps,
                "train_episodes": len(train_agg),
                "val_episodes": len(val_agg),
                "best_epoch": fitted.best_epoch,
                "val_loss": fitted.history[fitted.best_epoch - 1]["val_loss"],
                "val_accuracy": fitted.history[fitted.best_epoch - 1]["val_accuracy"],
                "win_rate": None if ev is None else ev["win_rate"],
                "wall_s": round(train_s, 3),
            }
            rows.append(row)
            if ev is not None:
                cr = CurveRow(
                    approach,
                    seed,
                    env_steps,
                    ev["win_rate"],
                    ev["win_ci_low"],
                    ev["win_ci_high"],
                    round(train_s, 3),
                    total_demo,
                )
                append_curve_row(run_dir, cr)
                curve.append(cr.__dict__)
                if writer is not None:
                    writer.add_scalar(f"{approach}/win_rate", ev["win_rate"], total_demo)
            if verbose:
                say = say_fn(True, bar)
                say(
                    f"DAgger iteration {it + 1}/{hp['iterations']}: beta {beta:.3f}, "
                    f"{total_demo} labels, {env_steps} env steps, val_accuracy "
                    f"{row['val_accuracy']:.4f}"
                    + ("" if ev is None else f", win rate {ev['win_rate']:.3f}")
                )
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        torch.set_num_threads(threads)
    write_csv_rows(run_dir / "dagger.csv", rows)
    write_csv_rows(run_dir / "history.csv", history)
    S.plot_history(
        run_dir / "history.png", fitted.history, fitted.best_epoch, f"{approach}: last iteration"
    )
    meta = {
        "algo": "dagger",
        "scenario": sc.name,
        "opponent": opp,
        "obs": obs,
        "side": side_name,
        "seed": seed,
        "masked": True,
        "expert": exp_name,
        "demo_steps": demo_labels + recording,
        "env_steps": env_steps,
        "training": hp,
    }
    policy_dir = save_checkpoint(run_dir / "best", net, spec, meta)
    last = CgfPolicy(spec, ortho_init=False)
    last.load_state_dict(fitted.final_state)
    final_dir = save_checkpoint(run_dir / "final", last, spec, meta)
    result = {
        "approach": approach,
        "run_dir": str(run_dir),
        "policy_dir": str(policy_dir),
        "final_dir": str(final_dir),
        "env_steps": env_steps,
        "demo_steps": demo_labels + recording,
        "expert_labels": demo_labels,
        "recording_env_steps": recording,
        "wall_s": round(train_s, 3),
        "eval_s": round(eval_s, 3),
        "eval_action_mode": "greedy over valid actions",
        "eval_seed": eval_seed,
        "val_accuracy": rows[-1]["val_accuracy"],
        "eval": ev,
        "win_rate": rows[-1]["win_rate"],
        "best_win_rate": rows[-1]["win_rate"],
        "best_env_steps": env_steps,
        "curve": curve,
        "iterations": rows,
    }
    write_json(run_dir / "result.json", result)
    return result


__all__: Sequence[str] = ("EXTRA", "beta_schedule", "mixture_behaviour", "train_dagger")
