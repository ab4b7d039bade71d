"""Explanation: permutation importance of a group a constructed policy provably ignores is
zero (in agreement and in win rate), saliency ignores it too, tree fidelity is measured on
states of other worlds than the tree was fitted on, and bad input stops before any output."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cgfsim.agents import explain_tree
from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.explain import (
    agreement_importance,
    feature_groups,
    group_saliency,
    saliency,
    visit,
    win_rate_importance,
)
from cgfsim.agents.export_onnx.tree import TreePolicy, read_tree
from cgfsim.agents.networks import CgfPolicy, PolicySpec, build_policy
from cgfsim.cli import main
from cgfsim.envs._common import get_scenario
from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.sim.splits import describe_key, key_base

torch.set_num_threads(1)
DUEL = get_scenario("duel")


def _policy(mode: str, ignore: str, seed: int = 3) -> CgfPolicy:
    """A random policy whose first layer has zero weights on every position of group
    ``ignore``: its logits cannot depend on that group, whatever the values."""
    env = BatchedCommanderEnv(DUEL, 1, obs=mode)
    spec = PolicySpec.from_spaces(
        env.observation_space,
        env.action_space,
        obs_mode=mode,
        hidden=(32,),
        features_dim=32,
        cnn_channels=(8, 8),
    )
    p = build_policy(spec, seed=seed)
    idx = feature_groups(DUEL, mode)[ignore]
    with torch.no_grad():
        # O(1) logits so actions vary; seeded, not from the global RNG (test order must not matter)
        gen = torch.Generator().manual_seed(seed)
        torch.nn.init.normal_(p.action_net.weight, std=1.0, generator=gen)
        if mode == "vector":
            p.pi[0].weight[:, idx] = 0.0
        else:
            p.encoder.cnn[0].weight[:, idx] = 0.0
    return p.eval()


@pytest.mark.parametrize("mode", ["vector", "grid"])
def test_an_ignored_group_has_zero_importance(mode: str) -> None:
    ignored = "own" if mode == "vector" else "enemy_visible"
    policy = _policy(mode, ignored)
    groups = feature_groups(DUEL, mode)
    v = visit(policy, DUEL, "assault", key_base("validation", 0), 24)
    imp = agreement_importance(policy, v, groups, repeats=2, seed=0)
    assert imp[ignored]["drop"] == 0.0 and imp[ignored]["agreement"] == 1.0
    assert max(r["drop"] for r in imp.values()) > 0.05  # the others do move it
    sal = saliency(policy, *v.flat()[:2])
    idx = groups[ignored]
    assert float(np.take(sal, idx, axis=1).sum()) == 0.0  # elements / channels of (N, ...)
    assert group_saliency(sal, groups, mode)[ignored]["share"] == 0.0
    if mode == "vector":
        obs, _, _ = v.flat()
        base, win = win_rate_importance(
            policy,
            DUEL,
            "assault",
            {ignored: idx, "enemy_memory": groups["enemy_memory"]},
            obs,
            48,
            key_base("test", 0),
        )
        assert win[ignored]["drop"] == 0.0 and win[ignored]["win_rate"] == base["win_rate"]


def test_tree_fidelity_is_measured_on_other_worlds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _policy("vector", "time")
    seen: list[tuple[str, int]] = []
    real = explain_tree.visit

    def spy(pol: Any, sc: Any, opp: Any, keys: Any, worlds: int, *a: Any, **k: Any) -> Any:
        seen.append((describe_key(int(keys))[0], worlds))
        return real(pol, sc, opp, keys, worlds, *a, **k)

    monkeypatch.setattr(explain_tree, "visit", spy)
    res = explain_tree.distill(
        policy,
        DUEL,
        "assault",
        seed=0,
        depth=4,
        fit_worlds=40,
        holdout_worlds=20,
        episodes=30,
        out_dir=tmp_path / "tree",
    )
    assert seen == [("train", 40), ("validation", 20)]  # fitted on train worlds only
    assert res["fit_keys"] == "train split" and res["holdout_keys"] == "validation split"
    # recompute the fidelity from the written tree.json on fresh held-out states
    doc = read_tree(tmp_path / "tree")
    held = real(policy, DUEL, "assault", key_base("validation", 0), 20)
    x, m, y = held.flat()
    d = m.sum(-1) > 1
    fid = float((TreePolicy(doc).predict(x) == y)[d].mean())
    assert fid == pytest.approx(res["fidelity"], abs=1e-12)
    assert res["holdout_states"] == len(x) and res["fidelity_decisions"] == int(d.sum())
    rules = (tmp_path / "tree" / "rules.txt").read_text()
    assert "if own" in rules or "if enemy" in rules  # feature names, not column numbers
    assert 0.0 <= res["tree_win_rate"] <= 1.0 and res["size"]["depth"] <= 4


def test_cli_explains_a_grid_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    policy = _policy("grid", "terrain")
    ckpt = save_checkpoint(
        tmp_path / "ckpt",
        policy,
        policy.spec,
        {"scenario": "Duel", "seed": 0, "side": "blue", "opponent": "assault"},
    )
    out = tmp_path / "explained"
    args = ["explain", str(ckpt), "--scenario", "duel", "--worlds", "8", "--episodes", "16"]
    assert main([*args, "--out", str(out), "--quiet", "--overlays", "2"]) == 0
    text = capsys.readouterr().out
    assert "agreement drop" in text and "fidelity" in text
    doc = json.loads((out / "explain.json").read_text())
    groups = {r["group"] for r in doc["importance"]}
    assert groups == set(feature_groups(DUEL, "grid"))
    assert len(doc["saliency_pngs"]) == 2
    for f in ("importance.png", *doc["saliency_pngs"], "tree/tree.json", "tree/rules.txt"):
        assert (out / f).stat().st_size > 100
    assert not math.isnan(doc["tree"]["fidelity"])


def test_bad_explain_input_stops_before_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _policy("vector", "time")
    ckpt = save_checkpoint(tmp_path / "ckpt", policy, policy.spec, {"scenario": "Duel"})
    out = tmp_path / "out"
    cases = [
        (["--scenario", "skirmish"], "different scenario or slot counts"),
        (["--groups", "own,weather"], "unknown feature group 'weather'"),
        (["--tree-depth", "0"], "--tree-depth: expected an integer >= 1"),
        (["--opponent", "nobody"], "unknown player 'nobody'"),
    ]
    for flags, needle in cases:
        code = main(["explain", str(ckpt), "--out", str(out), *flags])
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and len(err.splitlines()) == 1, err
        assert not out.exists()
    code = main(["explain-table", str(tmp_path / "nowhere"), "--out", str(out)])
    assert code == 2 and "not found" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_interpretability_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cgfsim.agents.demos import record_demos

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    record_demos(
        "duel", "assault", "retreat", episodes=40, dataset_id="cgfsim/t-v0", progress=False
    )
    out = tmp_path / "table"
    few = ["epochs=3", "batch_size=64"]
    sets = [x for k in ("linear", "mlp", "lstm") for s in few for x in (f"--{k}", s)]
    args = ["explain-table", "cgfsim/t-v0", "--depths", "2,4", "--episodes", "30", *sets]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "table.json").read_text())
    models = [r["model"] for r in doc["rows"]]
    assert models == [
        "linear (no hidden layer)",
        "decision tree, depth 2",
        "decision tree, depth 4",
        "MLP (DNN)",
        "LSTM",
    ]
    rows = {r["model"]: r for r in doc["rows"]}
    assert rows["decision tree, depth 2"]["rules"] <= 4 < rows["MLP (DNN)"]["parameters"]
    assert rows["linear (no hidden layer)"]["parameters"] == (93 + 1) * 2 * 9
    for r in doc["rows"]:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["win_rate"] <= 1.0
    assert (out / "tree-4" / "rules.txt").is_file() and (out / "table.md").is_file()
