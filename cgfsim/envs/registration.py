"""Gymnasium ids for the built-in scenarios, registered with string entry points.

``import cgfsim`` calls :func:`register_envs`; it reads only each scenario
file's ``[scenario] name`` (no maps are built, nothing heavy is imported), so
the import stays light and torch-free.
"""

from __future__ import annotations

import tomllib
from functools import cache

import gymnasium

from cgfsim.sim.scenario import builtin_dir

ENTRY_POINT = "cgfsim.envs.commander:CommanderEnv"
VECTOR_ENTRY_POINT = "cgfsim.envs.vector:make_vector_env"
NAMESPACE = "cgfsim"


@cache
def builtin_ids() -> dict[str, str]:
    """``{"cgfsim/Skirmish-v0": "skirmish", ...}`` from the built-in scenario files."""
    out = {}
    for p in sorted(builtin_dir().glob("*.toml")):
        with p.open("rb") as f:
            name = tomllib.load(f).get("scenario", {}).get("name", p.stem)
        out[f"{NAMESPACE}/{name}-v0"] = p.stem
    return out


def register_envs() -> list[str]:
    """Register every built-in scenario plus ``cgfsim/Scenario-v0`` (``path=...``); idempotent."""
    ids = []
    specs = {
        **{i: {"scenario": stem} for i, stem in builtin_ids().items()},
        f"{NAMESPACE}/Scenario-v0": {},
    }
    for env_id, kwargs in specs.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=ENTRY_POINT,
                vector_entry_point=VECTOR_ENTRY_POINT,
                kwargs=kwargs,
            )
        ids.append(env_id)
    return ids
