"""Behaviour cloning (``cgfsim train --algo bc``): the DL-CGF learner, from a demonstration dataset.

:func:`train_bc` trains the shared :class:`~cgfsim.agents.networks.CgfPolicy`
(``--obs vector|grid|entities --policy mlp|lstm``) on a dataset's train split
with the supervised loop of :mod:`cgfsim.agents.supervised` (masked
cross-entropy per unit slot, early stopping on the validation split, Keras-style
history), then reports what matters side by side:

- imitation: test-split loss and accuracy (decisions the demonstrator made);
- behaviour: the clone's win rate against the demonstrator's opponent on
  held-out worlds (``test``-split keys, held-out maps on random-map scenarios)
  with the project's evaluation (greedy over valid actions), next to the
  demonstrator's own win rate on the very same worlds and over its recording.

Data accounting: ``demo_steps`` counts every labelled transition used
(training plus validation: both had to be recorded), ``env_steps`` the
learner's own interaction (none), ``recording_env_steps`` the env steps it took
to record those transitions. ``eval_at`` (demonstration budgets) trains a fresh
network on nested prefixes of the splits for each budget, one curve row each.

The run folder holds ``config.json``, ``history.csv/json/png``, ``tb/``,
``curve.jsonl/csv``, ``best/`` (the restored best epoch; ``policy_dir``),
``final/`` (the last epoch) and ``result.json``, in the shape of ``train_rl``.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from cgfsim.agents import supervised as S
from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.demo_store import DatasetError, DemoDataset, open_dataset, sha256_text
from cgfsim.agents.demos import DEMONSTRATOR_DIR, Demo, load_split
from cgfsim.agents.networks import CgfPolicy, build_policy
from cgfsim.agents.runs import (
    CurveRow,
    DataAccount,
    append_curve_row,
    make_run_dir,
    run_config,
    write_json,
)
from cgfsim.sim.errors import CgfsimError


def check_scenario(ds: DemoDataset, scenario: Any) -> None:
    """A dataset recorded on another scenario (or another version of it) is refused."""
    from cgfsim.envs._common import get_scenario

    sc = get_scenario(scenario)
    if sha256_text(sc.text) != ds.meta.get("scenario_sha256"):
        what = "another version of" if sc.name == ds.meta.get("scenario") else "not"
        raise DatasetError(
            f"dataset {ds.ref} was recorded on scenario {ds.meta.get('scenario')}, {what} "
            f"{sc.name} (its text differs)"
        )


def dataset_scenario(ds: DemoDataset) -> Any:
    """The scenario a dataset embeds (so evaluation needs no file)."""
    from cgfsim.envs._common import get_scenario

    return get_scenario(ds.meta["scenario_text"])


def eval_scenario(sc: Any, split: str = "test") -> Any:
    """Held-out maps for random-map scenarios (the ``split`` pool); the scenario otherwise."""
    from cgfsim.sim.splits import map_pool

    return map_pool(sc, split)


def default_opponent(ds: DemoDataset, opponent: str | None) -> str | None:
    """The demonstrator's opponent (a doctrine) unless another is given."""
    if opponent is not None:
        return opponent
    from cgfsim.sim.doctrines import DOCTRINES

    opp = str(ds.meta.get("opponent"))
    return opp if opp in DOCTRINES else None


def demonstrator_player(ds: DemoDataset) -> str | None:
    """What evaluates as the demonstrator: its doctrine, or its checkpoint in the dataset."""
    d = ds.meta.get("demonstrator", {})
    if d.get("kind") == "doctrine":
        return str(d["name"])
    if d.get("kind") == "checkpoint" and (ds.path / DEMONSTRATOR_DIR).is_dir():
        return str(ds.path / DEMONSTRATOR_DIR)
    return None


def prefix(demos: Sequence[Demo], steps: int) -> list[Demo]:
    """The first episodes holding at most ``steps`` transitions (at least one episode)."""
    out: list[Demo] = []
    n = 0
    for d in demos:
        if out and n + len(d) > steps:
            break
        out.append(d)
        n += len(d)
    return out


def budget_splits(
    train: list[Demo], val: list[Demo], budget: int | None
) -> tuple[list[Demo], list[Demo]]:
    """Nested prefixes of both splits sharing a demonstration budget in their own ratio."""
    if budget is None:
        return train, val
    n_tr, n_va = sum(map(len, train)), sum(map(len, val))
    share = n_tr / max(n_tr + n_va, 1)
    return prefix(train, round(budget * share)), prefix(val, round(budget * (1 - share)))


def n_steps(demos: Sequence[Demo]) -> int:
    return int(sum(len(d) for d in demos))


def say_fn(verbose: bool, bar: Any = None) -> Any:
    if not verbose:
        return None
    return (lambda line: bar.write(line)) if bar is not None else print


def evaluate_in_env(
    player: Any, sc: Any, opponent: str | None, episodes: int, side: str, seed: int
) -> dict[str, Any] | None:
    """The project's evaluation on ``sc`` (greedy over valid actions), as a dict."""
    if opponent is None or episodes < 1 or player is None:
        return None
    from cgfsim.agents.evaluation import evaluate

    return evaluate(player, sc, opponent, episodes, side=side, seed=seed).to_dict()


def _snapshot(net: CgfPolicy) -> Callable[[], CgfPolicy]:
    """A function returning an eval-mode copy of ``net`` as it is now."""
    frozen = copy.deepcopy(net).eval()
    return lambda: copy.deepcopy(frozen)


def train_bc(
    dataset: str | Path | DemoDataset,
    policy: str = "mlp",
    obs: str | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    hparams: dict[str, Any] | None = None,
    eval_episodes: int = 200,
    eval_seed: int | None = None,
    eval_at: Sequence[int] | None = None,
    opponent: str | None = None,
    scenario: Any = None,
    max_demo_steps: int | None = None,
    root: str | Path | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    verbose: bool = True,
    budget_hook: Callable[[DataAccount, Callable[[], CgfPolicy]], None] | None = None,
    epoch_hook: Callable[[dict[str, float]], None] | None = None,
    score_test: bool = True,
    eval_split: str = "test",
) -> dict[str, Any]:
    """Behaviour-clone a dataset's demonstrator into a ``policy`` network; returns the result.

    ``obs`` and ``scenario``, when given, must be the dataset's (else a :class:`DatasetError`
    names the mismatch). ``budget_hook(account, make_policy)`` (the lab's) is offered
    the trained policy once per budget: an epoch adds no data, a budget does.
    ``opponent`` defaults to the demonstrator's (a doctrine). The
    in-env win rate is measured over ``eval_episodes`` episodes on ``test``-split worlds
    of ``seed`` (or worlds seeded ``eval_seed``). ``max_demo_steps`` caps the
    demonstrations used; ``eval_at`` lists several budgets (one fresh network each).
    ``epoch_hook(row)`` sees every epoch's Keras row (``epoch``, ``loss``, ``accuracy``,
    ``val_loss``, ``val_accuracy``); an exception it raises (a tuner pruning the trial)
    stops training. ``score_test=False`` leaves the test split untouched (a tuner's
    trials are scored on validation data only; ``test_loss`` and ``test_accuracy`` are
    then ``None``), and ``eval_split="validation"`` plays its in-env evaluations on
    validation worlds (and held-out validation maps) instead of test ones.
    Result keys: those of ``train_rl`` (``approach``, ``run_dir``, ``policy_dir``,
    ``final_dir``, ``env_steps``, ``demo_steps``, ``wall_s``, ``curve``, ``best_win_rate``,
    ...) plus ``recording_env_steps``, ``test_loss``, ``test_accuracy``, ``win_rate``,
    ``demonstrator_win_rate``, ``demonstrator_test_win_rate``, ``best_epoch``, ``history``.
    """
    from cgfsim.sim.splits import key_base

    ds = open_dataset(dataset, root)
    b = ds.meta
    if obs is not None and obs != b["obs"]:
        raise DatasetError(
            f"dataset {ds.ref} holds {b['obs']} observations, not {obs} (use obs={b['obs']!r})"
        )
    if policy not in ("mlp", "lstm"):
        raise CgfsimError(f"unknown policy {policy!r}; expected 'mlp' or 'lstm'")
    if scenario is not None:
        check_scenario(ds, scenario)
    hp = S.resolve_hparams(hparams, policy)
    opp = default_opponent(ds, opponent)
    if opp is not None:
        from cgfsim.agents.evaluation import load_player

        load_player(opp)  # an unknown opponent fails before any output exists
    if opp is None and eval_episodes > 0:
        raise CgfsimError(
            f"dataset {ds.ref} names no doctrine opponent ({b.get('opponent')}); pass one to "
            "evaluate against (--opponent) or set eval_episodes=0"
        )
    budgets: list[int | None] = [*sorted({int(x) for x in eval_at})] if eval_at else []
    if any(x < 1 for x in budgets if x is not None):
        raise CgfsimError(f"eval_at budgets must be >= 1 demonstration steps, got {eval_at}")
    if not budgets:
        budgets = [None if max_demo_steps is None else int(max_demo_steps)]
    train_all = load_split(ds, "train")
    val_all = load_split(ds, "validation")
    test = load_split(ds, "test") if score_test else []
    noops = sum(S.clean_labels(x) for x in (train_all, val_all, test))
    sc = dataset_scenario(ds)
    sc_eval = eval_scenario(sc, eval_split)
    side = str(b["side"])
    eval_seed = key_base(eval_split, seed) if eval_seed is None else int(eval_seed)
    approach = f"bc-{policy}" + ("" if b["obs"] == "vector" else f"-{b['obs']}")
    if out_dir is None:
        run_dir = make_run_dir("runs", f"bc-{sc.name}", f"{approach}-s{seed}")
    else:
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config("bc", sc.name, opp, b["obs"], policy, side, 0, seed, hp, eval_episodes)
    config.update(
        dataset=ds.dataset_id,
        dataset_path=str(ds.path),
        eval_at=budgets,
        max_demo_steps=max_demo_steps,
        eval_seed=eval_seed,
    )
    write_json(run_dir / "config.json", config)

    t_all = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(hp["torch_threads"])
    writer = S.tb_writer(run_dir) if tensorboard else None
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(
            total=hp["epochs"] * len(budgets), unit="epoch", desc=approach, dynamic_ncols=True
        )
    curve: list[dict[str, Any]] = []
    train_s = eval_s = 0.0
    try:
        demo_eval = evaluate_in_env(
            demonstrator_player(ds), sc_eval, opp, eval_episodes, side, eval_seed
        )
        for k, budget in enumerate(budgets):
            train, val = budget_splits(train_all, val_all, budget)
            sub = run_dir if k == len(budgets) - 1 else run_dir / f"demo-{budget}"
            sub.mkdir(parents=True, exist_ok=True)
            net = build_policy(
                S.policy_spec(b["obs"], b["obs_shape"], b["n_units"], b["n_actions"], policy, hp),
                seed=seed,
            )
            tag = f"{approach}/demo{n_steps(train) + n_steps(val)}"

            def on_epoch(row: dict[str, float], tag: str = tag) -> None:
                if bar is not None:
                    bar.update(1)
                if writer is not None:
                    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                        writer.add_scalar(f"{tag}/{key}", row[key], int(row["epoch"]))
                if epoch_hook is not None:
                    epoch_hook(row)

            fitted = S.fit(net, train, val, hp, seed, say_fn(verbose, bar), on_epoch)
            train_s += fitted.wall_s
            if budget_hook is not None:
                steps = n_steps(train) + n_steps(val)
                account = DataAccount(env_steps=0, demo_steps=steps, wall_s=train_s)
                budget_hook(account, _snapshot(net))
            S.write_history(sub, fitted, f"{approach} on {ds.dataset_id}")
            t0 = time.perf_counter()
            test_loss: float | None = None
            test_acc: float | None = None
            decisions = 0
            if test:
                test_loss, test_acc, decisions = S.evaluate_loss(net, test)
            ev = evaluate_in_env(net, sc_eval, opp, eval_episodes, side, eval_seed)
            eval_s += time.perf_counter() - t0
            demo_steps = n_steps(train) + n_steps(val)
            meta = {
                "algo": "bc",
                "scenario": sc.name,
                "opponent": opp,
                "obs": b["obs"],
                "side": side,
                "seed": seed,
                "masked": True,
                "dataset": ds.dataset_id,
                "demo_steps": demo_steps,
                "env_steps": 0,
                "training": hp,
                "best_epoch": fitted.best_epoch,
            }
            best_dir = save_checkpoint(sub / "best", net, net.spec, meta)
            last = CgfPolicy(net.spec, ortho_init=False)
            last.load_state_dict(fitted.final_state)
            final_dir = save_checkpoint(
                sub / "final", last, net.spec, {**meta, "epoch": len(fitted.history)}
            )
            if ev is not None:
                row = CurveRow(
                    approach,
                    seed,
                    0,
                    ev["win_rate"],
                    ev["win_ci_low"],
                    ev["win_ci_high"],
                    round(train_s, 3),
                    demo_steps,
                )
                append_curve_row(run_dir, row)
                curve.append({**row.__dict__, "test_accuracy": test_acc})
            if writer is not None and ev is not None:
                writer.add_scalar(f"{approach}/win_rate", ev["win_rate"], demo_steps)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        torch.set_num_threads(threads)
    last_row = fitted.history[fitted.best_epoch - 1] if fitted.best_epoch else {}
    result = {
        "approach": approach,
        "run_dir": str(run_dir),
        "policy_dir": str(best_dir),
        "final_dir": str(final_dir),
        "dataset": ds.dataset_id,
        "env_steps": 0,
        "demo_steps": demo_steps,
        "demo_episodes": len(train) + len(val),
        "train_steps": n_steps(train),
        "val_steps": n_steps(val),
        "recording_env_steps": demo_steps,
        "label_noops": noops,
        "samples_seen": fitted.samples,
        "wall_s": round(train_s, 3),
        "eval_s": round(eval_s, 3),
        "total_s": round(time.perf_counter() - t_all, 3),
        "best_epoch": fitted.best_epoch,
        "epochs_run": len(fitted.history),
        "stopped_early": fitted.stopped_early,
        "val_loss": last_row.get("val_loss"),
        "val_accuracy": last_row.get("val_accuracy"),
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "test_decisions": decisions,
        "eval_action_mode": "greedy over valid actions",
        "eval_seed": eval_seed,
        "eval": ev,
        "win_rate": None if ev is None else ev["win_rate"],
        "best_win_rate": None if ev is None else ev["win_rate"],
        "best_env_steps": 0 if ev is not None else None,
        "demonstrator_win_rate": b.get("demonstrator_win_rate"),
        "demonstrator_test_win_rate": None if demo_eval is None else demo_eval["win_rate"],
        "curve": curve,
        "history": fitted.history,
    }
    write_json(run_dir / "result.json", result)
    return result
