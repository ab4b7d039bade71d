"""Decision trees from policies and data, and the flexibility-versus-interpretability table.

- :func:`distill`: a policy distilled into one scikit-learn decision tree (all unit
  slots as outputs of one tree, depth configurable), fitted on states the policy
  visits on ``train``-split worlds; its **fidelity** (agreement with the network's
  greedy valid actions over decisions) is measured on states of other worlds
  (``validation`` split, validation maps), never on the states it was fitted on; its
  own **win rate** is played on ``test``-split worlds beside the network's. The tree
  is written as ``tree.json`` + ``rules.txt`` (:mod:`cgfsim.agents.export_onnx.tree`:
  thresholds on named features, readable and runnable anywhere).
- :func:`interpretability_table`: the DL-CGF talk's trade-off measured on one
  behaviour-cloning task: a linear model, trees of depth 3, 5 and 8, an MLP and an
  LSTM, all learning the same demonstrations (the dataset's train split, validation
  for early stopping), each with its test-split accuracy, its win rate on test-split
  worlds and a size a user can read (rules for trees, parameters for the rest).

A tree acts by its leaf's action for every unit, exactly as ``tree.json`` runs in a
host; an invalid order is a no-op there (the networks choose among valid actions).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.explain import Visits, decisions, visit
from cgfsim.agents.networks import CgfPolicy
from cgfsim.sim.errors import CgfsimError


def _builder(scenario: Any, mode: str, side: str) -> Any:
    from cgfsim.envs.observations import ObservationBuilder
    from cgfsim.sim.engine import Engine

    return ObservationBuilder(Engine(scenario, 1), 0 if side == "blue" else 1, mode)


def fit_tree(x: np.ndarray, y: np.ndarray, depth: int, seed: int = 0) -> Any:
    """One multi-output ``DecisionTreeClassifier`` (units as outputs) on flat observations."""
    from sklearn.tree import DecisionTreeClassifier

    if depth < 1:
        raise CgfsimError(f"tree depth must be >= 1, got {depth}")
    est = DecisionTreeClassifier(max_depth=int(depth), random_state=seed)
    return est.fit(x.reshape(len(x), -1), y)


def tree_document(
    est: Any, scenario: Any, mode: str, side: str, n_units: int, n_actions: int, meta: dict
) -> dict[str, Any]:
    """A validated ``tree.json`` document of a fitted tree, features named from the layout."""
    from cgfsim.agents.export_onnx.tree import flat_feature_names, tree_from_sklearn
    from cgfsim.sim.actions import action_name

    ob = _builder(scenario, mode, side)
    observation = {"mode": mode, "shape": list(ob.shape), "scenario": scenario.name, "side": side}
    actions = [action_name(a) for a in range(n_actions)]
    return tree_from_sklearn(est, flat_feature_names(ob), n_units, actions, observation, meta=meta)


def tree_size(doc: dict[str, Any]) -> dict[str, int]:
    """Rules (leaves: one if-then path each), nodes and depth of a tree document."""
    leaves = nodes = depth = 0
    for tree in doc["trees"]:
        nodes += len(tree["nodes"])
        leaves += sum("actions" in n for n in tree["nodes"])
        stack = [(0, 0)]
        while stack:
            n, d = stack.pop()
            node = tree["nodes"][n]
            depth = max(depth, d)
            if "actions" not in node:
                stack += [(node["left"], d + 1), (node["right"], d + 1)]
    return {"rules": leaves, "nodes": nodes, "depth": depth}


def agreement(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Share of decisions (slots with a choice) where ``pred`` equals ``target``."""
    d = decisions(mask)
    return {
        "decisions": int(d.sum()),
        "agreement": float((pred == target)[d].mean()) if d.any() else float("nan"),
    }


def distill(
    policy: CgfPolicy,
    scenario: Any,
    opponent: Any,
    seed: int,
    depth: int = 5,
    side: str = "blue",
    fit_worlds: int = 500,
    holdout: Visits | None = None,
    holdout_worlds: int = 200,
    episodes: int = 1000,
    out_dir: str | Path | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Distil ``policy`` into a depth-``depth`` tree (see the module doc); returns the tree
    document, its fidelity on held-out states, its size and its and the network's win
    rate on test worlds. ``holdout``: the held-out visits (else recorded here)."""
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.export_onnx.tree import TreePolicy, rules_text, write_tree
    from cgfsim.sim.splits import key_base, map_pool

    t0 = time.perf_counter()
    fit = visit(policy, scenario, opponent, key_base("train", seed), fit_worlds, side)
    if holdout is None:
        holdout = visit(
            policy,
            map_pool(scenario, "validation"),
            opponent,
            key_base("validation", seed),
            holdout_worlds,
            side,
        )
    x_fit, m_fit, y_fit = fit.flat()
    est = fit_tree(x_fit, y_fit, depth, seed)
    spec = policy.spec
    mode = spec.obs_mode
    doc = tree_document(est, scenario, mode, side, spec.n_units, spec.n_actions, {})
    tp = TreePolicy(doc)
    x_out, m_out, y_out = holdout.flat()
    fid = agreement(tp.predict(x_out), y_out, m_out)
    fid_fit = agreement(tp.predict(x_fit), y_fit, m_fit)
    res: dict[str, Any] = {
        "depth": depth,
        "size": tree_size(doc),
        "fit_states": len(x_fit),
        "fit_keys": "train split",
        "holdout_states": len(x_out),
        "holdout_keys": "validation split",
        "fidelity": fid["agreement"],
        "fidelity_decisions": fid["decisions"],
        "fit_agreement": fid_fit["agreement"],
    }
    if episodes > 0 and opponent is not None:
        sc_test: Any = map_pool(scenario, "test")
        kw: dict[str, Any] = {"obs": mode, "side": side, "seed": key_base("test", seed)}
        tree_r = evaluate(tp, sc_test, opponent, episodes, masked=True, **kw)
        net_r = evaluate(policy, sc_test, opponent, episodes, **kw)
        res.update(
            tree_win_rate=tree_r.win_rate,
            tree_win_ci=list(tree_r.win_ci),
            network_win_rate=net_r.win_rate,
            network_win_ci=list(net_r.win_ci),
            test_episodes=episodes,
        )
    doc["meta"] = {"source": source, "distilled_from": "policy", **res}
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    res["doc"] = doc
    res["rules"] = rules_text(doc)
    if out_dir is not None:
        write_tree(out_dir, doc)
    return res


# --------------------------------------------------------------------------- the table


def _params(policy: CgfPolicy) -> int:
    return int(sum(p.numel() for p in policy.parameters()))


def interpretability_table(
    dataset: Any,
    out_dir: str | Path,
    depths: Sequence[int] = (3, 5, 8),
    seed: int = 0,
    episodes: int = 1000,
    hparams: dict[str, dict[str, Any]] | None = None,
    opponent: str | None = None,
    root: str | Path | None = None,
    models: Sequence[str] = ("linear", "tree", "mlp", "lstm"),
    say: Any = None,
) -> list[dict[str, Any]]:
    """Train every model on the dataset's train split and measure each on its test split and
    on test-split worlds; write ``table.md``, ``table.csv``, ``table.json`` and the trees'
    ``tree-<depth>/tree.json`` + ``rules.txt`` into ``out_dir``; return the rows.

    ``hparams`` per model (``linear``, ``mlp``, ``lstm``) override the BC defaults
    (``linear`` is an MLP with no hidden layer: one weight per feature, unit and action).
    """
    from cgfsim.agents import supervised as S
    from cgfsim.agents.bc import dataset_scenario, default_opponent, train_bc
    from cgfsim.agents.checkpoints import load_checkpoint
    from cgfsim.agents.demo_store import open_dataset
    from cgfsim.agents.demos import load_split
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.export_onnx.tree import TreePolicy, write_tree
    from cgfsim.agents.runs import write_csv_rows, write_json
    from cgfsim.sim.splits import key_base, map_pool

    ds = open_dataset(dataset, root)
    meta = ds.meta
    opp = default_opponent(ds, opponent)
    if opp is None:
        raise CgfsimError(f"dataset {ds.ref} names no doctrine opponent; pass one (--opponent)")
    bad = sorted(set(models) - {"linear", "tree", "mlp", "lstm"})
    if bad:
        raise CgfsimError(f"unknown model {bad[0]!r}; expected linear, tree, mlp, lstm")
    if any(int(d) < 1 for d in depths):
        raise CgfsimError(f"tree depths must be >= 1, got {list(depths)}")
    hparams = hparams or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    sc = dataset_scenario(ds)
    side, mode = str(meta["side"]), str(meta["obs"])
    sc_test: Any = map_pool(sc, "test")
    test_seed = key_base("test", seed)
    rows: list[dict[str, Any]] = []
    demo_win = None

    def net_row(name: str, label: str, policy: str, hp: dict[str, Any]) -> None:
        nonlocal demo_win
        res = train_bc(
            ds,
            policy=policy,
            seed=seed,
            out_dir=out / name,
            hparams=hp,
            eval_episodes=episodes,
            opponent=opp,
            progress=False,
            tensorboard=False,
            verbose=False,
        )
        net = load_checkpoint(res["policy_dir"])[0]
        ev = res["eval"] or {}
        demo_win = res.get("demonstrator_test_win_rate", demo_win)
        n = _params(net)
        rows.append(
            {
                "model": label,
                "test_accuracy": res["test_accuracy"],
                "win_rate": ev.get("win_rate"),
                "win_ci": [ev.get("win_ci_low"), ev.get("win_ci_high")],
                "readable_size": f"{n:,} parameters",
                "parameters": n,
                "rules": None,
                "train_s": res["wall_s"],
                "path": str(Path(res["policy_dir"]).relative_to(out)),
            }
        )
        if say is not None:
            say(f"{label}: test accuracy {res['test_accuracy']:.4f}, win rate {ev.get('win_rate')}")

    if "linear" in models:
        net_row(
            "linear", "linear (no hidden layer)", "mlp", {**hparams.get("linear", {}), "hidden": []}
        )
    if "tree" in models:
        train = load_split(ds, "train")
        test = load_split(ds, "test")
        for split in (train, test):
            S.clean_labels(split)
        x = np.concatenate([d.obs for d in train])
        y = np.concatenate([d.labels for d in train])
        xt = np.concatenate([d.obs for d in test])
        yt = np.concatenate([d.labels for d in test])
        mt = np.concatenate([d.masks for d in test])
        for depth in depths:
            t0 = time.perf_counter()
            est = fit_tree(x, y, int(depth), seed)
            doc = tree_document(
                est,
                sc,
                mode,
                side,
                int(meta["n_units"]),
                int(meta["n_actions"]),
                {"source": f"dataset {ds.dataset_id}", "fitted_on": "train split"},
            )
            fit_s = time.perf_counter() - t0
            tp = TreePolicy(doc)
            acc = agreement(tp.predict(xt), yt, mt)["agreement"]
            r = evaluate(
                tp, sc_test, opp, episodes, obs=mode, side=side, seed=test_seed, masked=True
            )
            size = tree_size(doc)
            write_tree(out / f"tree-{depth}", doc)
            rows.append(
                {
                    "model": f"decision tree, depth {depth}",
                    "test_accuracy": acc,
                    "win_rate": r.win_rate,
                    "win_ci": list(r.win_ci),
                    "readable_size": f"{size['rules']} rules ({size['nodes']} nodes)",
                    "parameters": size["nodes"],
                    "rules": size["rules"],
                    "train_s": round(fit_s, 3),
                    "path": f"tree-{depth}/rules.txt",
                }
            )
            if say is not None:
                say(f"tree {depth}: test accuracy {acc:.4f}, win rate {r.win_rate:.3f}")
    if "mlp" in models:
        net_row("mlp", "MLP (DNN)", "mlp", dict(hparams.get("mlp", {})))
    if "lstm" in models:
        net_row("lstm", "LSTM", "lstm", dict(hparams.get("lstm", {})))
    doc = {
        "dataset": ds.dataset_id,
        "scenario": sc.name,
        "opponent": opp,
        "side": side,
        "obs": mode,
        "episodes": episodes,
        "test_seed": test_seed,
        "demonstrator_test_win_rate": demo_win,
        "action_mode": "networks: greedy over valid actions; trees: their leaf's action",
        "rows": rows,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "cpu_s": round(time.process_time() - cpu_start, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    write_json(out / "table.json", doc)
    write_csv_rows(out / "table.csv", rows)
    (out / "table.md").write_text(table_markdown(doc) + "\n", encoding="utf-8")
    return rows


def table_markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['scenario']}: behaviour cloning of {doc['dataset']} against {doc['opponent']}; "
        f"test accuracy on the dataset's test split (decisions), win rate over "
        f"{doc['episodes']} test-split episodes [Wilson 95%]; "
        + (
            f"the demonstrator wins {doc['demonstrator_test_win_rate']:.3f} of the same worlds"
            if doc.get("demonstrator_test_win_rate") is not None
            else ""
        ),
        "",
        "| model | test accuracy | win rate [95% CI] | readable size |",
        "|---|---|---|---|",
    ]
    for r in doc["rows"]:
        win = (
            "-"
            if r["win_rate"] is None
            else f"{r['win_rate']:.3f} [{r['win_ci'][0]:.3f}, {r['win_ci'][1]:.3f}]"
        )
        lines.append(f"| {r['model']} | {r['test_accuracy']:.3f} | {win} | {r['readable_size']} |")
    if doc.get("wall_s") is not None:
        lines += [
            "",
            f"Wall time {doc['wall_s']:.0f} s, CPU time {doc['cpu_s']:.0f} s, load average at "
            f"the end {doc.get('loadavg')}.",
        ]
    return "\n".join(lines)


__all__ = ["distill", "fit_tree", "interpretability_table", "table_markdown", "tree_size"]
