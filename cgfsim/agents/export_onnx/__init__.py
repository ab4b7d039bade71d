"""Learned behaviours leave the sandbox: ONNX export, its contract, a runner, tree files.

- :func:`export_policy` (:mod:`.exporter`): a checkpoint folder of any learner to
  ``policy.onnx`` + ``contract.json`` (``cgfsim export``);
- :mod:`.contract`: the contract's sections, generated from the code that builds
  observations, and :func:`read_contract`;
- :func:`load_exported` / :class:`OnnxPolicy` (:mod:`.player`): an exported folder
  run by ONNX Runtime, usable wherever a checkpoint is (``cgfsim evaluate``/``play``);
- :mod:`.tree`: ``tree.json``, decision trees on named observation features, with
  its writer, reader and a few-line evaluator.

Submodules load lazily: the tree reader and the contract need neither torch nor
onnx.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "export_policy": "cgfsim.agents.export_onnx.exporter",
    "read_contract": "cgfsim.agents.export_onnx.contract",
    "ExportError": "cgfsim.agents.export_onnx.contract",
    "load_exported": "cgfsim.agents.export_onnx.player",
    "is_exported": "cgfsim.agents.export_onnx.player",
    "OnnxPolicy": "cgfsim.agents.export_onnx.player",
    "tree_from_sklearn": "cgfsim.agents.export_onnx.tree",
    "write_tree": "cgfsim.agents.export_onnx.tree",
    "read_tree": "cgfsim.agents.export_onnx.tree",
    "TreePolicy": "cgfsim.agents.export_onnx.tree",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cgfsim.agents.export_onnx' has no attribute {name!r}")
