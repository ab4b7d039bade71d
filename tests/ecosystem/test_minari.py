"""Minari's own step-by-step ``DataCollector`` records the single env, infos included.

``record_infos=True`` needs the same info keys and types at every step, reset
included; cgfsim's batched recorder (``cgfsim demos``) is the fast path for
thousands of episodes, this is the one a Minari user reaches for first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

minari = pytest.importorskip("minari")
pytest.importorskip("jax")  # DataCollector's episode buffers use jax.tree_util


@pytest.mark.parametrize("obs", ["vector", "grid", "entities"])
@pytest.mark.filterwarnings("ignore:`eval_env` is set to None:UserWarning")
def test_data_collector_records_infos(
    obs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gymnasium as gym
    from minari import DataCollector

    import cgfsim  # noqa: F401

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = DataCollector(
        gym.make("cgfsim/Defend-v0", obs=obs, opponent="assault", max_episode_steps=40),
        record_infos=True,
    )
    lengths = []
    for ep in range(2):
        env.reset(seed=10 + ep)
        rng = np.random.default_rng(ep)
        done, n = False, 0
        while not done:
            a = rng.integers(0, env.action_space.nvec)
            _, _, term, trunc, _ = env.step(a)
            done, n = term or trunc, n + 1
        lengths.append(n)
    ds = env.create_dataset(
        dataset_id=f"cgfsim/defend-{obs}-v0",
        algorithm_name="random",
        description="random blue vs assault red on Defend, recorded step by step",
    )
    env.close()
    assert ds.total_episodes == 2 and ds.total_steps == sum(lengths)
    loaded = minari.load_dataset(f"cgfsim/defend-{obs}-v0")
    for ep, n in zip(loaded.iterate_episodes(), lengths, strict=True):
        info = ep.infos
        assert info["tick"].tolist() == list(range(n + 1))  # reset + every step
        assert set(info) == {"outcome", "tick", "kills", "losses", "objective"}
        assert info["outcome"].shape == (n + 1,) and np.isin(info["outcome"], (-1, 0, 1)).all()
        assert info["objective"]["hill"]["controller"].shape == (n + 1,)
        assert ep.observations.shape[0] == n + 1
