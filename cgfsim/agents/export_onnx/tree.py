"""``tree.json``: decision trees on named observation features, evaluable in a few lines anywhere.

A distilled decision tree (``cgfsim explain``, issue 12) is exported as plain
JSON beside its rules text (``rules.txt``, generated from the same JSON), so a
host simulator can run the interpretable behaviour without any ML runtime::

    {"format": "cgfsim-tree", "version": 1,
     "n_units": 2, "n_actions": 9, "actions": ["stay", "north", ...],
     "observation": {"mode": "vector", "shape": [93], "features": ["own0_alive", ...]},
     "trees": [{"units": [0, 1], "nodes": [
         {"feature": "own0_hp", "index": 12, "threshold": 0.5, "left": 1, "right": 2},
         {"actions": [5, 5], "samples": 310},
         {"actions": [1, 0], "samples": 97}]}]}

Every unit slot is decided by exactly one tree (one multi-output tree for all
units, or one tree per unit). A tree is a node list with the root first; an
internal node sends the observation left when ``obs_flat[index] <= threshold``
(scikit-learn's rule, compared in double precision), else right; a leaf
gives one action per unit of its tree. ``index`` is the position in the
observation flattened in C order and ``feature`` its name
(:func:`flat_feature_names`). The whole evaluator::

    def decide(doc, x):                      # x: the flat observation
        actions = [0] * doc["n_units"]
        for tree in doc["trees"]:
            node = tree["nodes"][0]
            while "actions" not in node:
                go = "left" if x[node["index"]] <= node["threshold"] else "right"
                node = tree["nodes"][node[go]]
            for unit, action in zip(tree["units"], node["actions"]):
                actions[unit] = action
        return actions

No torch and no scikit-learn here: :func:`tree_from_sklearn` reads a fitted
``DecisionTreeClassifier``'s public ``tree_`` arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.export_onnx.contract import read_tagged_json
from cgfsim.agents.runs import atomic_write_text, to_json
from cgfsim.sim.errors import CgfsimError

FORMAT = "cgfsim-tree"
VERSION = 1
TREE = "tree.json"
RULES = "rules.txt"


class TreeError(CgfsimError, ValueError):
    """A tree file is missing, malformed or does not fit its observation; one-line message."""


def flat_feature_names(builder: Any) -> list[str]:
    """Name of every position of an ObservationBuilder's observation flattened in C order.

    vector: the layout names; entities: ``<row>.<column>`` with rows ``own{i}``,
    ``enemy{j}``, ``obj{k}``; grid: ``<channel>@r{row}c{col}`` in the canonical frame.
    """
    cols = builder.feature_names()
    if builder.mode == "vector":
        return list(cols)
    if builder.mode == "entities":
        rows = (
            [f"own{i}" for i in range(builder.O)]
            + [f"enemy{j}" for j in range(builder.E)]
            + [f"obj{k}" for k in range(builder.K)]
        )
        return [f"{r}.{c}" for r in rows for c in cols]
    return [f"{ch}@r{r}c{c}" for ch in cols for r in range(builder.H) for c in range(builder.W)]


def decide(doc: dict[str, Any], x: Sequence[float] | np.ndarray) -> list[int]:
    """The tiny reader: one flat observation -> one action per unit (see the module doc)."""
    actions = [0] * doc["n_units"]
    for tree in doc["trees"]:
        node = tree["nodes"][0]
        while "actions" not in node:
            go = "left" if float(x[node["index"]]) <= node["threshold"] else "right"
            node = tree["nodes"][node[go]]
        for unit, action in zip(tree["units"], node["actions"], strict=True):
            actions[unit] = action
    return actions


def _one_tree(est: Any, names: Sequence[str], units: list[int]) -> dict[str, Any]:
    t = est.tree_
    classes = est.classes_ if est.n_outputs_ > 1 else [est.classes_]
    if len(classes) != len(units):
        raise TreeError(f"a tree with {len(classes)} outputs cannot decide units {units}")
    nodes: list[dict[str, Any]] = []
    for n in range(t.node_count):
        left, right = int(t.children_left[n]), int(t.children_right[n])
        if left == right:  # a leaf (both -1)
            acts = [
                int(cls[int(np.argmax(t.value[n, k, : len(cls)]))]) for k, cls in enumerate(classes)
            ]
            nodes.append({"actions": acts, "samples": int(t.n_node_samples[n])})
        else:
            f = int(t.feature[n])
            nodes.append(
                {
                    "feature": names[f],
                    "index": f,
                    "threshold": float(t.threshold[n]),
                    "left": left,
                    "right": right,
                }
            )
    return {"units": units, "nodes": nodes}


def tree_from_sklearn(
    estimators: Any,
    feature_names: Sequence[str],
    n_units: int,
    action_names: Sequence[str],
    observation: dict[str, Any] | None = None,
    units: Sequence[Sequence[int]] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``tree.json`` document from fitted scikit-learn ``DecisionTreeClassifier`` (s).

    ``estimators``: one tree whose outputs are all units (``y`` of shape (N, n_units)),
    or a list of trees; ``units[t]`` names the unit slots tree t decides (default: all
    units for one tree, unit t for the t-th of a list). ``feature_names`` names the
    columns the trees were fitted on (the flat observation, :func:`flat_feature_names`).
    Classes must be action numbers.
    """
    ests = list(estimators) if isinstance(estimators, list | tuple) else [estimators]
    if units is None:
        units = [list(range(n_units))] if len(ests) == 1 else [[i] for i in range(len(ests))]
    if len(units) != len(ests):
        raise TreeError(f"{len(ests)} trees but {len(units)} unit lists")
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "n_units": int(n_units),
        "n_actions": len(action_names),
        "actions": list(action_names),
        "observation": {
            **(observation or {}),
            "size": len(feature_names),
            "features": list(feature_names),
        },
        "rule": "go left when obs_flat[index] <= threshold, else right; a leaf gives one "
        "action per unit of its tree",
        "trees": [
            _one_tree(e, feature_names, [int(u) for u in us])
            for e, us in zip(ests, units, strict=True)
        ],
        "meta": meta or {},
    }
    return validate_tree(doc)


def validate_tree(doc: Any, where: str = TREE) -> dict[str, Any]:
    """Check a tree document's structure; returns it or raises a one-line :class:`TreeError`."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TreeError(f"{where}: not a {FORMAT} file")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise TreeError(f"{where}: version {doc.get('version')!r} is not supported")
    try:
        n_units, n_actions = int(doc["n_units"]), int(doc["n_actions"])
        size = int(doc["observation"]["size"])
        names = doc["observation"].get("features")
        trees = doc["trees"]
    except (KeyError, TypeError, ValueError) as e:
        raise TreeError(f"{where}: missing or bad field {e}") from None
    seen: list[int] = []
    for t, tree in enumerate(trees):
        units, nodes = tree.get("units"), tree.get("nodes")
        if not isinstance(units, list) or not isinstance(nodes, list) or not nodes:
            raise TreeError(f"{where}: trees[{t}] needs 'units' and a non-empty 'nodes' list")
        seen += units
        for n, node in enumerate(nodes):
            at = f"{where}: trees[{t}].nodes[{n}]"
            if "actions" in node:
                acts = node["actions"]
                if len(acts) != len(units) or not all(
                    isinstance(a, int) and 0 <= a < n_actions for a in acts
                ):
                    raise TreeError(f"{at}: needs {len(units)} actions in 0..{n_actions - 1}")
                continue
            i, thr = node.get("index"), node.get("threshold")
            if not isinstance(i, int) or not 0 <= i < size:
                raise TreeError(f"{at}: index must be an integer in 0..{size - 1}")
            if not isinstance(thr, int | float) or not math.isfinite(thr):
                raise TreeError(f"{at}: threshold must be a finite number")
            if names is not None and node.get("feature") != names[i]:
                raise TreeError(f"{at}: feature {node.get('feature')!r} is not {names[i]!r}")
            for side in ("left", "right"):
                c = node.get(side)
                if not isinstance(c, int) or not n < c < len(nodes):
                    raise TreeError(f"{at}: {side} must point to a later node")
    if sorted(seen) != list(range(n_units)):
        raise TreeError(f"{where}: every unit 0..{n_units - 1} must be decided by exactly one tree")
    return doc


def rules_text(doc: dict[str, Any]) -> str:
    """The trees as nested if/else rules, generated from the document itself."""
    acts = doc["actions"]
    lines: list[str] = []
    for tree in doc["trees"]:
        units = ", ".join(str(u) for u in tree["units"])
        lines.append(f"# tree for unit(s) {units}")

        def walk(n: int, depth: int, nodes: list[dict[str, Any]], units: list[int]) -> None:
            node, pad = nodes[n], "|   " * depth
            if "actions" in node:
                pairs = zip(units, node["actions"], strict=True)
                say = ", ".join(f"unit {u}: {acts[a]}" for u, a in pairs)
                lines.append(f"{pad}=> {say}  ({node.get('samples', '?')} samples)")
                return
            lines.append(f"{pad}if {node['feature']} <= {node['threshold']:.4g}:")
            walk(node["left"], depth + 1, nodes, units)
            lines.append(f"{pad}else:  # {node['feature']} > {node['threshold']:.4g}")
            walk(node["right"], depth + 1, nodes, units)

        walk(0, 0, tree["nodes"], tree["units"])
        lines.append("")
    return "\n".join(lines)


def write_tree(folder: str | os.PathLike[str], doc: dict[str, Any]) -> Path:
    """Write ``tree.json`` and ``rules.txt`` (each atomically) into ``folder``."""
    validate_tree(doc)
    d = Path(folder)
    atomic_write_text(d / TREE, to_json(doc) + "\n")
    atomic_write_text(d / RULES, rules_text(doc))
    return d


def read_tree(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A validated tree document from ``tree.json`` (or the folder holding it)."""
    p = Path(path)
    f = p / TREE if p.is_dir() else p
    doc = read_tagged_json(f, FORMAT, VERSION, TreeError, f"tree {f.parent}")
    return validate_tree(doc, str(f))


class TreePolicy:
    """A tree document evaluated for a batch at once (numpy), usable as an evaluation callable.

    ``policy(obs, state, episode_start, mask)`` returns (B, n_units) actions, the
    signature :func:`cgfsim.agents.evaluation.evaluate` takes for a callable policy.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = validate_tree(doc)
        self.n_units = int(doc["n_units"])
        self._trees = []
        for tree in doc["trees"]:
            nodes = tree["nodes"]
            leaf = np.array(["actions" in n for n in nodes])
            idx = np.array([n.get("index", 0) for n in nodes], np.int64)
            thr = np.array([n.get("threshold", 0.0) for n in nodes], np.float64)
            left = np.array([n.get("left", i) for i, n in enumerate(nodes)], np.int64)
            right = np.array([n.get("right", i) for i, n in enumerate(nodes)], np.int64)
            acts = np.array([n.get("actions", [0] * len(tree["units"])) for n in nodes], np.int64)
            self._trees.append((np.array(tree["units"]), leaf, idx, thr, left, right, acts))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)  # double, as sklearn
        out = np.zeros((len(x), self.n_units), np.int64)
        rows = np.arange(len(x))
        for units, leaf, idx, thr, left, right, acts in self._trees:
            node = np.zeros(len(x), np.int64)
            while not leaf[node].all():
                go_left = x[rows, idx[node]] <= thr[node]
                node = np.where(leaf[node], node, np.where(go_left, left[node], right[node]))
            out[:, units] = acts[node]
        return out

    def __call__(
        self, obs: np.ndarray, state: Any = None, episode_start: Any = None, mask: Any = None
    ) -> np.ndarray:
        return self.predict(obs)
