"""Throughput of league training against plain single-opponent training, same run.

Two measures, each as a ratio to its plain baseline measured in the same run
(interleaved repeats, median), on one core:

- **env**: the batched env at B = 64 with random learner actions and
  ``dict_obs`` (the masked regime), opponent ``assault`` vs a league of all
  eight doctrines (each world its own doctrine, per episode) vs the same
  league plus four snapshot networks;
- **train**: ``train_rl("ppo")`` end to end (masked PPO, the scenario's
  defaults) against ``assault`` vs ``--league doctrines,self`` (snapshots every
  ``SNAPSHOT_EVERY`` steps).

Prints a table, then one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

SCENARIOS = ("duel", "skirmish")
B = 64
ENV_SECONDS = 3.0
TRAIN_STEPS = {"duel": 40_960, "skirmish": 32_768}
SNAPSHOT_EVERY = 8192
REPEATS = 2


def _league(scenario: str, snapshots: int) -> Any:
    from cgfsim.agents.league import League, LeagueConfig
    from cgfsim.agents.networks import PolicySpec, build_policy
    from cgfsim.agents.recipe import network_layout
    from cgfsim.envs.batched import BatchedCommanderEnv

    members = {"doctrines": 1.0, **({"self": 1.0} if snapshots else {})}
    league = League(LeagueConfig(members, pfsp_exponent=0.0), seed=0)
    if snapshots:
        env = BatchedCommanderEnv(scenario, 1)
        hidden = network_layout(env.scenario.name)["hidden"]  # the learner's own size
        spec = PolicySpec.from_spaces(env.observation_space, env.action_space, hidden=hidden)
        for k in range(snapshots):
            league.add_snapshot(build_policy(spec, k), k)
    return league.router


def bench_env(scenario: str, opponent: str) -> float:
    from cgfsim.envs.batched import BatchedCommanderEnv

    opp: Any = "assault" if opponent == "assault" else _league(scenario, 4 * (opponent == "self"))
    env = BatchedCommanderEnv(scenario, B, opponent=opp, dict_obs=True)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [rng.integers(0, env.n_actions, (B, env.n_own)) for _ in range(64)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < ENV_SECONDS:
        env.step(acts[n % 64])
        n += 1
    return n * B / (time.perf_counter() - t0)


def bench_train(scenario: str, league: bool) -> float:
    from cgfsim.agents.league import LeagueConfig
    from cgfsim.agents.rl import train_rl

    cfg = LeagueConfig({"doctrines": 1.0, "self": 1.0}, snapshot_every=SNAPSHOT_EVERY)
    with tempfile.TemporaryDirectory() as d:
        res = train_rl(
            "ppo",
            scenario,
            None if league else "assault",
            steps=TRAIN_STEPS[scenario],
            out_dir=d,
            eval_episodes=0,
            progress=False,
            tensorboard=False,
            league=cfg if league else None,
        )
    return float(res["steps_per_s"])


def main() -> int:
    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    print(f"{'scenario':<10} {'measure':<28} {'steps/s':>10} {'ratio':>7}")
    for sc in SCENARIOS:
        env: dict[str, list[float]] = {"assault": [], "league": [], "self": []}
        train: dict[str, list[float]] = {"assault": [], "league": []}
        for _ in range(REPEATS):  # interleaved, so load changes hit every variant
            for k in env:
                env[k].append(bench_env(sc, k))
            train["assault"].append(bench_train(sc, False))
            train["league"].append(bench_train(sc, True))
        med = {f"env_{k}": statistics.median(v) for k, v in env.items()}
        med.update({f"train_{k}": statistics.median(v) for k, v in train.items()})
        rows = [
            ("env, opponent assault", med["env_assault"], 1.0),
            (
                "env, league of 8 doctrines",
                med["env_league"],
                med["env_league"] / med["env_assault"],
            ),
            ("env, + 4 snapshot networks", med["env_self"], med["env_self"] / med["env_assault"]),
            ("train ppo vs assault", med["train_assault"], 1.0),
            (
                "train ppo, doctrines,self",
                med["train_league"],
                med["train_league"] / med["train_assault"],
            ),
        ]
        for name, v, r in rows:
            print(f"{sc:<10} {name:<28} {v:10.0f} {r:7.2f}")
        out[sc] = {
            **{k: round(v, 1) for k, v in med.items()},
            "env_league_ratio": round(med["env_league"] / med["env_assault"], 3),
            "env_self_ratio": round(med["env_self"] / med["env_assault"], 3),
            "train_league_ratio": round(med["train_league"] / med["train_assault"], 3),
        }
    print(json.dumps({"benchmark": "league", "B": B, "repeats": REPEATS, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
