"""tree.json: a distilled tree read back by the tiny reader decides as the tree itself."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from cgfsim.agents.evaluation import evaluate
from cgfsim.agents.export_onnx.tree import (
    RULES,
    TREE,
    TreeError,
    TreePolicy,
    decide,
    flat_feature_names,
    read_tree,
    tree_from_sklearn,
    validate_tree,
    write_tree,
)
from cgfsim.envs._common import get_scenario
from cgfsim.envs.observations import ObservationBuilder
from cgfsim.sim.actions import action_name
from cgfsim.sim.engine import Engine
from tests.export.helpers import Recording, make_policy


def _distil(rec: Recording, per_unit: bool) -> tuple[object, np.ndarray, dict]:
    """Fit tree(s) to a network's greedy masked actions on recorded observations."""
    policy = make_policy(rec, "mlp", seed=2)
    x = rec.obs.reshape(-1, *rec.obs.shape[2:])
    y, _ = policy.act(x, action_mask=rec.mask.reshape(len(x), *rec.mask.shape[2:]))
    flat = x.reshape(len(x), -1)
    if per_unit:
        est: object = [
            DecisionTreeClassifier(max_depth=5, random_state=0).fit(flat, y[:, u])
            for u in range(y.shape[1])
        ]
    else:
        est = DecisionTreeClassifier(max_depth=8, random_state=0).fit(flat, y)
    ob = ObservationBuilder(Engine(get_scenario("duel"), 1), 0, rec.spec.obs_mode)
    names = flat_feature_names(ob)
    assert len(names) == flat.shape[1] and len(set(names)) == len(names)
    actions = [action_name(a) for a in range(rec.spec.n_actions)]
    obs = {"mode": rec.spec.obs_mode, "shape": list(rec.spec.obs_shape), "scenario": "Duel"}
    doc = tree_from_sklearn(est, names, rec.spec.n_units, actions, obs, meta={"fidelity": None})
    want = (
        np.stack([e.predict(flat) for e in est], 1) if isinstance(est, list) else est.predict(flat)
    )
    return est, want, doc


@pytest.mark.parametrize(("mode", "per_unit"), [("vector", False), ("entities", True)])
def test_tiny_reader_gives_the_trees_actions(
    tmp_path: Path, recordings: dict[str, Recording], mode: str, per_unit: bool
) -> None:
    rec = recordings[mode]
    _, want, doc = _distil(rec, per_unit)
    assert len(set(want.reshape(-1).tolist())) > 2  # the tree really branches
    write_tree(tmp_path, doc)
    assert (tmp_path / RULES).read_text().count("if ") >= 3
    back = read_tree(tmp_path)
    assert back == json.loads(json.dumps(doc))
    assert json.loads((tmp_path / TREE).read_text()) == back
    flat = rec.obs.reshape(len(want), -1)
    got = np.array([decide(back, row.tolist()) for row in flat])  # plain Python, per world
    assert (got == want).all()
    assert (TreePolicy(back).predict(flat) == want).all()  # batched numpy
    names = back["observation"]["features"]
    for tree in back["trees"]:
        for node in tree["nodes"]:
            if "index" in node:
                assert node["feature"] == names[node["index"]]
    if mode == "entities":
        assert all("." in n for n in names[:5])


def test_tree_as_an_evaluation_player(recordings: dict[str, Recording]) -> None:
    _, _, doc = _distil(recordings["vector"], per_unit=False)
    r = evaluate(TreePolicy(doc), "duel", "random", 8, obs="vector", masked=True)
    assert r.episodes == 8 and r.action_mode == "callable"


def test_bad_tree_files(tmp_path: Path, recordings: dict[str, Recording]) -> None:
    _, _, doc = _distil(recordings["vector"], per_unit=True)
    validate_tree(doc)

    def broken(edit: object) -> dict:
        d = copy.deepcopy(doc)
        edit(d)  # type: ignore[operator]
        return d

    cases = [
        (lambda d: d["trees"].pop(), "exactly one tree"),
        (lambda d: d["trees"][0]["nodes"][0].update(index=10**6), "index must be"),
        (lambda d: d["trees"][0]["nodes"][0].update(left=0), "later node"),
        (lambda d: d["trees"][0]["nodes"][0].update(threshold=float("nan")), "finite"),
        (lambda d: d["trees"][0]["nodes"][0].update(feature="own0_mystery"), "is not"),
        (lambda d: d.update(format="sklearn-pickle"), "not a cgfsim-tree"),
    ]
    for edit, needle in cases:
        with pytest.raises(TreeError, match=needle):
            validate_tree(broken(edit))
    (tmp_path / TREE).write_text("{")
    with pytest.raises(TreeError, match="not valid JSON"):
        read_tree(tmp_path)
    with pytest.raises(TreeError, match=r"missing\.json is missing"):
        read_tree(tmp_path / "missing.json")
