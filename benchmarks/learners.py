"""Learner throughput: PPO on the batched VecEnv vs DummyVecEnv, GA populations vs one env.

Run by ``make bench`` (never by the tests), on one core: thread pools are pinned
to one thread before numpy and torch load, and torch uses one thread.

1. PPO-MLP end to end (``model.learn``) on Skirmish (8 v 8, ``vector``
   observations, ``assault`` opponent) with the project's default PPO
   hyperparameters (``cgfsim/agents/defaults.toml``, with ``n_envs = 256``), on
   the batched ``CgfsimVecEnv`` at B = 256, against SB3's usual setup:
   ``DummyVecEnv`` of 8 single ``gym.make`` envs. Both use the same rollout size
   per update (``n_steps x n_envs``: the DummyVecEnv's ``n_steps`` is 32x longer),
   minibatch, epochs and network, so the update work per env step is the same
   and the difference is rollout collection. Collection and update time are
   reported separately (SB3's ``collect_rollouts`` and ``train``).
2. GA population evaluation on Duel with the GA defaults (P = 64, K = 8,
   mlp 32x32, action masks): env-steps/s of one
   :class:`~cgfsim.agents.population.PopulationEvaluator` pass, against
   evaluating individuals one by one with one single Gymnasium env, episode
   after episode, as DEAP's examples evaluate fitness. Env steps are those of
   counted episodes (the data a GA consumes); the batched figure also lists
   the world-steps simulated, including worlds idling after their episode.

Finished worlds are reset inside the timed loops. Prints a table, then one JSON
object on the last line.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

PPO_SCENARIO, PPO_OPPONENT = "skirmish", "assault"
GA_SCENARIO, GA_OPPONENT = "duel", "random"
B, N_DUMMY = 256, 8
#: Timed PPO updates (after one warm-up): the DummyVecEnv baseline is slow, one suffices.
ROLLOUTS = {"batched": 3, "dummy": 1}
GA_INDIVIDUALS = int(os.environ.get("CGFSIM_BENCH_GA_INDIVIDUALS", "4"))


def _ppo(venv: Any, n_envs: int, updates: int) -> dict[str, float]:
    """Train PPO for ``updates`` updates after one warm-up update; split collect/update time."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecMonitor

    from cgfsim.agents import rl

    hp = rl.resolve_hparams("ppo", "Skirmish")
    _, policy_kwargs, algo_kw, _ = rl.split_hparams("ppo", hp, "vector")
    rollout = B * int(algo_kw["n_steps"])  # the defaults with n_envs = B
    algo_kw["n_steps"] = rollout // n_envs
    model = PPO(
        "MlpPolicy",
        VecMonitor(venv),
        policy_kwargs=policy_kwargs,
        seed=0,
        device="cpu",
        verbose=0,
        **algo_kw,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3 leaves no temp folder
    times = {"collect": 0.0, "update": 0.0}
    collect, train = model.collect_rollouts, model.train

    def timed_collect(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        out = collect(*a, **k)
        times["collect"] += time.perf_counter() - t
        return out

    def timed_train(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        out = train(*a, **k)
        times["update"] += time.perf_counter() - t
        return out

    model.collect_rollouts = timed_collect  # type: ignore[method-assign]
    model.train = timed_train  # type: ignore[method-assign]
    model.learn(rollout)  # warm-up: first allocations, lazy tables
    times.update(collect=0.0, update=0.0)
    t0 = time.perf_counter()
    model.learn(rollout * updates, reset_num_timesteps=False)
    wall = time.perf_counter() - t0
    steps = rollout * updates
    return {
        "steps": steps,
        "steps_per_s": steps / wall,
        "collect_s": times["collect"],
        "update_s": times["update"],
        "collect_steps_per_s": steps / times["collect"],
        "rollout": rollout,
        "n_steps": algo_kw["n_steps"],
        "batch_size": algo_kw["batch_size"],
        "n_epochs": algo_kw["n_epochs"],
    }


def bench_ppo_batched() -> dict[str, float]:
    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = CgfsimVecEnv(PPO_SCENARIO, B, obs="vector", opponent=PPO_OPPONENT)
    return _ppo(venv, B, ROLLOUTS["batched"])


def bench_ppo_dummy() -> dict[str, float]:
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import cgfsim  # noqa: F401  (registers the envs)

    env_id = "cgfsim/Skirmish-v0"
    venv = DummyVecEnv([lambda: gym.make(env_id, obs="vector", opponent=PPO_OPPONENT)] * N_DUMMY)
    return _ppo(venv, N_DUMMY, ROLLOUTS["dummy"])


def _ga_hp() -> dict[str, Any]:
    """The GA's defaults on the benchmark scenario (network layout included)."""
    from cgfsim.agents.ga import resolve_hparams
    from cgfsim.envs._common import get_scenario

    return resolve_hparams(None, get_scenario(GA_SCENARIO).name)


def _ga_spec(core: str) -> Any:
    from cgfsim.agents.ga import POLICY_KEYS
    from cgfsim.agents.networks import PolicySpec
    from cgfsim.envs.batched import BatchedCommanderEnv

    probe = BatchedCommanderEnv(GA_SCENARIO, 1, opponent=GA_OPPONENT)
    hp = _ga_hp()
    kw = {k: hp[k] for k in POLICY_KEYS}
    return PolicySpec.from_spaces(
        probe.observation_space, probe.action_space, "vector", core=core, **kw
    )


def _genomes(spec: Any, p: int) -> np.ndarray:
    """Initial policies plus mutation noise: evolved-looking individuals that win and lose."""
    from cgfsim.agents.population import initial_genomes

    g = initial_genomes(spec, p, 0)
    return g + np.random.default_rng(0).normal(0, 0.1, g.shape).astype(np.float32)


def bench_ga_batched(core: str) -> dict[str, float]:
    from cgfsim.agents.population import PopulationEvaluator

    hp = _ga_hp()
    P, K = hp["pop"], hp["episodes_per_ind"]
    spec = _ga_spec(core)
    g = _genomes(spec, P)
    ev = PopulationEvaluator(spec, GA_SCENARIO, GA_OPPONENT, P, K, masked=hp["masked"])
    ev(g, 0)  # warm-up
    steps = executed = gens = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        r = ev(g, 1000 + gens * K)
        steps += r.env_steps
        executed += r.executed_steps
        gens += 1
    dt = time.perf_counter() - t0
    return {
        "steps_per_s": steps / dt,
        "executed_steps_per_s": executed / dt,
        "generations": gens,
        "pop": P,
        "episodes_per_ind": K,
    }


def bench_ga_individual() -> dict[str, float]:
    """DEAP-example style: for each individual, one env, K episodes one after another."""
    import gymnasium as gym

    import cgfsim  # noqa: F401
    from cgfsim.agents.population import to_policy

    hp = _ga_hp()
    spec = _ga_spec("mlp")
    g = _genomes(spec, GA_INDIVIDUALS)
    env = gym.make("cgfsim/Duel-v0", obs="vector", opponent=GA_OPPONENT)
    masked = hp["masked"]
    steps = 0
    t0 = time.perf_counter()
    for i in range(GA_INDIVIDUALS):
        pol = to_policy(spec, g[i])
        for k in range(hp["episodes_per_ind"]):
            obs, _ = env.reset(seed=1000 + k)
            done = False
            while not done:
                mask = env.unwrapped.action_masks() if masked else None
                a, _ = pol.act(obs, action_mask=mask)
                obs, _, term, trunc, _ = env.step(a)
                done = term or trunc
                steps += 1
    dt = time.perf_counter() - t0
    return {"steps_per_s": steps / dt, "individuals": GA_INDIVIDUALS}


def main() -> None:
    ppo = bench_ppo_batched()
    dummy = bench_ppo_dummy()
    ga = bench_ga_batched("mlp")
    ga_lstm = bench_ga_batched("lstm")
    ind = bench_ga_individual()
    rows = [
        (f"PPO-MLP, batched VecEnv B={B}", ppo["steps_per_s"], ppo["collect_s"], ppo["update_s"]),
        (
            f"PPO-MLP, DummyVecEnv of {N_DUMMY}",
            dummy["steps_per_s"],
            dummy["collect_s"],
            dummy["update_s"],
        ),
    ]
    print(
        f"PPO (Skirmish 8v8, vector, {PPO_OPPONENT}): rollout {ppo['rollout']} steps/update, "
        f"batch {ppo['batch_size']}, {ppo['n_epochs']} epochs"
    )
    print(f"{'setup':36s} {'env-steps/s':>12s} {'collect s':>10s} {'update s':>9s}")
    for name, rate, c, u in rows:
        print(f"{name:36s} {rate:12,.0f} {c:10.2f} {u:9.2f}")
    ppo_speedup = ppo["steps_per_s"] / dummy["steps_per_s"]
    collect_speedup = ppo["collect_steps_per_s"] / dummy["collect_steps_per_s"]
    print(
        f"  speed-up end to end {ppo_speedup:.1f}x (target >= 3x); "
        f"rollout collection alone {collect_speedup:.1f}x"
    )
    print()
    print(
        f"GA population evaluation (Duel, {GA_OPPONENT}, P={ga['pop']}, "
        f"K={ga['episodes_per_ind']}, masked={True})"
    )
    print(f"{'setup':36s} {'env-steps/s':>12s}")
    print(
        f"{'batched, one pass (mlp)':36s} {ga['steps_per_s']:12,.0f}  "
        f"({ga['executed_steps_per_s']:,.0f} world-steps/s simulated)"
    )
    print(f"{'batched, one pass (lstm)':36s} {ga_lstm['steps_per_s']:12,.0f}")
    print(f"{'one env per individual (DEAP style)':36s} {ind['steps_per_s']:12,.0f}")
    ga_speedup = ga["steps_per_s"] / ind["steps_per_s"]
    print(f"  speed-up {ga_speedup:.0f}x (target >= 30x)")
    out = {
        "ppo_steps_per_s": round(ppo["steps_per_s"], 1),
        "ppo_collect_s": round(ppo["collect_s"], 3),
        "ppo_update_s": round(ppo["update_s"], 3),
        "ppo_dummyvecenv_steps_per_s": round(dummy["steps_per_s"], 1),
        "ppo_dummyvecenv_collect_s": round(dummy["collect_s"], 3),
        "ppo_dummyvecenv_update_s": round(dummy["update_s"], 3),
        "ppo_speedup": round(ppo_speedup, 2),
        "ppo_collect_speedup": round(collect_speedup, 2),
        "ga_steps_per_s": round(ga["steps_per_s"], 1),
        "ga_lstm_steps_per_s": round(ga_lstm["steps_per_s"], 1),
        "ga_individual_steps_per_s": round(ind["steps_per_s"], 1),
        "ga_speedup": round(ga_speedup, 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
