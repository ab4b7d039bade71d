"""RL Baselines3 Zoo trains and replays cgfsim agents from the shipped hyperparameter files.

``import rl_zoo3`` replaces Gymnasium's ``TimeLimit`` process-wide (its
``gym_patches`` add ``TimeLimit.truncated`` to the last step's info), which
would leak into every other test of this worker; so the Zoo only ever runs in
subprocesses here, and this module never imports it.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cgfsim  # noqa: F401
from cgfsim.envs.registration import builtin_ids

if importlib.util.find_spec("rl_zoo3") is None:
    pytest.skip("rl_zoo3 is not installed (the ecosystem extra)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "experiments" / "rlzoo"
ALGOS = {"ppo": "PPO", "a2c": "A2C", "ppo_lstm": "RecurrentPPO", "ppo_mask": "MaskablePPO"}
# Keys the Zoo consumes itself; everything else goes to the algorithm's constructor.
ZOO_KEYS = {"n_envs", "n_timesteps", "env_kwargs", "policy", "normalize", "frame_stack"}


def _config(algo: str) -> dict[str, Any]:
    """Load a config the way the Zoo does for a ``.py`` file: exec and read ``hyperparams``."""
    g: dict[str, Any] = {}
    exec((ZOO / f"{algo}.py").read_text(), g)
    return g["hyperparams"]


def _algo_class(algo: str) -> Any:
    import sb3_contrib
    import stable_baselines3

    name = ALGOS[algo]
    return getattr(stable_baselines3, name, None) or getattr(sb3_contrib, name)


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_config_covers_every_id_with_valid_hyperparameters(algo: str) -> None:
    from stable_baselines3.common.env_util import make_vec_env

    hp = _config(algo)
    assert set(hp) == set(builtin_ids())
    cls = _algo_class(algo)
    accepted = set(inspect.signature(cls.__init__).parameters) | ZOO_KEYS
    for env_id, params in hp.items():
        assert set(params) <= accepted, (env_id, set(params) - accepted)
        assert params["env_kwargs"]["obs"] in ("vector", "grid", "entities")
    # The project's grid and entity extractors build inside the Zoo's kind of VecEnv.
    for env_id in ("cgfsim/Skirmish-v0", "cgfsim/RandomField-v0"):
        p = dict(hp[env_id])
        env = make_vec_env(env_id, n_envs=2, env_kwargs=p.pop("env_kwargs"))
        for k in ZOO_KEYS:
            p.pop(k, None)
        model = cls(hp[env_id]["policy"], env, **p)
        extractor = type(model.policy.features_extractor).__name__
        assert extractor == {"cgfsim/Skirmish-v0": "GridExtractor"}.get(env_id, "EntityExtractor")
        env.close()


def test_zoo_trains_from_the_shipped_file_and_enjoy_replays_it(tmp_path: Path) -> None:
    env = {**os.environ, "SB3_LOGDIR": str(tmp_path / "sb3")}
    train = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "ppo",
        "--env",
        "cgfsim/Duel-v0",
        "--gym-packages",
        "cgfsim",
        "-conf",
        str(ZOO / "ppo.py"),
        "-n",
        "2048",
        "--eval-freq",
        "-1",
        "--seed",
        "0",
        "-f",
        str(tmp_path),
    ]
    out = subprocess.run(train, capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "total_timesteps      | 2048" in out.stdout
    run = tmp_path / "ppo" / "cgfsim-Duel-v0_1"
    assert (run / "cgfsim-Duel-v0.zip").is_file()
    config = (run / "cgfsim-Duel-v0" / "config.yml").read_text()
    assert "env_kwargs" in config and "vector" in config  # the shipped file's settings
    # enjoy through the launcher (MaskablePPO registered), with render_mode="human"
    enjoy = [
        sys.executable,
        str(ZOO / "zoo.py"),
        "enjoy",
        "--algo",
        "ppo",
        "--env",
        "cgfsim/Duel-v0",
        "-f",
        str(tmp_path),
        "-n",
        "65",
        "--deterministic",
    ]
    out = subprocess.run(enjoy, capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tick 1/60" in out.stdout and "Episodes" in out.stdout  # human frames, one episode


def test_launcher_registers_maskable_ppo() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ZOO)!r}); import zoo; zoo.register_maskable_ppo();"
        "from rl_zoo3 import ALGOS; from sb3_contrib import MaskablePPO;"
        "import gymnasium; gymnasium.spec('cgfsim/Duel-v0');"
        "print(ALGOS['ppo_mask'] is MaskablePPO)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True"], out.stderr[-2000:]
