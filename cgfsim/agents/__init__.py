"""Agents: torch policies, learners (RL, GA, BC, DAgger), demonstrations, checkpoints, evaluation.

Submodules are imported lazily so ``import cgfsim.agents`` (or a submodule
that needs no torch, such as :mod:`cgfsim.agents.runs`) does not pull in
torch and stable-baselines3.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PolicySpec": "cgfsim.agents.networks",
    "CgfPolicy": "cgfsim.agents.networks",
    "build_policy": "cgfsim.agents.networks",
    "save_checkpoint": "cgfsim.agents.checkpoints",
    "load_checkpoint": "cgfsim.agents.checkpoints",
    "check_compatible": "cgfsim.agents.checkpoints",
    "export_sb3": "cgfsim.agents.export",
    "train_rl": "cgfsim.agents.rl",
    "train_bc": "cgfsim.agents.bc",
    "train_dagger": "cgfsim.agents.dagger",
    "record_demos": "cgfsim.agents.demos",
    "make_run_dir": "cgfsim.agents.runs",
    "DataAccount": "cgfsim.agents.runs",
    "CurveRow": "cgfsim.agents.runs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cgfsim.agents' has no attribute {name!r}")
