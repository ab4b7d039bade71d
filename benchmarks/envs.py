"""Env throughput: cgfsim's single env, batched VecEnv and DummyVecEnv, against peers.

Run by ``make bench`` (never by the tests), on one core: thread pools are
pinned to one thread before numpy and torch load. Everything uses the
``vector`` observation and a doctrine opponent on Skirmish (8 v 8), random
learner actions, and resets finished worlds inside the timed loop.

Peers, when the ``bench`` extra is installed: MAgent2's ``battle_v4``
PettingZoo parallel env (agent-steps/s, random actions) and MiniGrid's
``MiniGrid-Empty-16x16-v0`` in a Gymnasium ``SyncVectorEnv`` of 8.

Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

SCENARIO = "skirmish"
ENV_ID = "cgfsim/Skirmish-v0"
B = 256
SECONDS = float(os.environ.get("CGFSIM_BENCH_SECONDS", "3"))


CPU_RATES: dict[str, float] = {}


def timed(name: str, step: Callable[[], int], seconds: float = SECONDS, warmup: int = 3) -> float:
    """Call ``step`` (returns units of work done) until ``seconds`` pass; work per wall second.

    The rate per CPU second of this process is kept in ``CPU_RATES[name]``: on a machine
    shared with other jobs it is the steadier number (one thread, so CPU ~ wall when idle).
    """
    for _ in range(warmup):
        step()
    work = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        work += step()
        dt = time.perf_counter() - t0
        if dt >= seconds:
            CPU_RATES[name] = work / max(time.process_time() - c0, 1e-9)
            return work / dt


def bench_single() -> float:
    import gymnasium as gym

    import cgfsim  # noqa: F401

    env = gym.make(ENV_ID, obs="vector", opponent="assault")
    env.reset(seed=0)
    acts = np.random.default_rng(0).integers(0, 15, size=(1024, 8))
    i = 0

    def step() -> int:
        nonlocal i
        _, _, term, trunc, _ = env.step(acts[i % 1024])
        i += 1
        if term or trunc:
            env.reset()
        return 1

    return timed("single", step)


def bench_vecenv() -> tuple[float, float]:
    from cgfsim.envs.sb3 import CgfsimVecEnv

    venv = CgfsimVecEnv(SCENARIO, B, obs="vector", opponent="assault")
    venv.seed(0)
    venv.reset()
    acts = np.random.default_rng(0).integers(0, 15, size=(64, B, 8))
    i, units = 0, 0

    def step() -> int:
        nonlocal i, units
        units += int(venv.engine.alive.sum())  # live units of both sides this tick
        venv.step(acts[i % 64])
        i += 1
        return B

    t0, c0 = time.perf_counter(), time.process_time()
    rate = timed("vecenv", step, warmup=0)
    dt = time.perf_counter() - t0
    CPU_RATES["vecenv_units"] = units / (time.process_time() - c0)
    return rate, units / dt


def bench_dummy() -> float:
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import cgfsim  # noqa: F401

    venv = DummyVecEnv([lambda: gym.make(ENV_ID, obs="vector", opponent="assault")] * B)
    venv.seed(0)
    venv.reset()
    acts = np.random.default_rng(0).integers(0, 15, size=(16, B, 8))
    i = 0

    def step() -> int:
        nonlocal i
        venv.step(acts[i % 16])
        i += 1
        return B

    return timed("dummy", step, warmup=1)


def bench_magent2() -> float | None:
    try:
        from magent2.environments import battle_v4
    except Exception:  # not installed or fails to load: reported as null
        return None
    env = battle_v4.parallel_env(max_cycles=100_000)
    env.reset(seed=0)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    rng = np.random.default_rng(0)

    def step() -> int:
        agents = env.agents
        if not agents:
            env.reset()
            agents = env.agents
        actions = {a: int(rng.integers(spaces[a].n)) for a in agents}
        env.step(actions)
        return len(agents)

    return timed("magent2", step)


def bench_minigrid() -> float | None:
    try:
        import gymnasium as gym
        import minigrid  # noqa: F401
    except Exception:
        return None
    venv = gym.vector.SyncVectorEnv([lambda: gym.make("MiniGrid-Empty-16x16-v0") for _ in range(8)])
    venv.reset(seed=0)

    def step() -> int:
        venv.step(venv.action_space.sample())
        return 8

    return timed("minigrid", step)


def main() -> None:
    import torch  # a dependency; pinned to one thread like the env

    torch.set_num_threads(1)
    single = bench_single()
    vec, vec_units = bench_vecenv()
    dummy = bench_dummy()
    magent = bench_magent2()
    minigrid_rate = bench_minigrid()

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if not a or not b else a / b

    cpu = CPU_RATES.get
    rows = [
        ("single env (gym.make)", "world-steps/s", single, cpu("single"), ">= 5k"),
        (f"batched VecEnv, B={B}", "world-steps/s", vec, cpu("vecenv"), ">= 100k"),
        (f"batched VecEnv, B={B}", "unit-steps/s", vec_units, cpu("vecenv_units"), ""),
        (f"DummyVecEnv of {B} single envs", "world-steps/s", dummy, cpu("dummy"), ""),
        (
            "  VecEnv / DummyVecEnv",
            "ratio",
            ratio(vec, dummy),
            ratio(cpu("vecenv"), cpu("dummy")),
            ">= 20x",
        ),
        ("MAgent2 battle_v4 (parallel)", "agent-steps/s", magent, cpu("magent2"), ""),
        (
            "  VecEnv units / MAgent2 agents",
            "ratio",
            ratio(vec_units, magent),
            ratio(cpu("vecenv_units"), cpu("magent2")),
            ">= 5x",
        ),
        (
            "MiniGrid Empty-16x16, SyncVectorEnv(8)",
            "world-steps/s",
            minigrid_rate,
            cpu("minigrid"),
            "",
        ),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cgfsim envs benchmark: {SCENARIO}, vector obs, assault opponent, one core, "
        f"resets inside the timed loop, {SECONDS:.0f} s per row; load average {load:.1f}"
    )

    def fmt(v: float | None, unit: str) -> str:
        return "n/a" if v is None else (f"{v:,.1f}" if unit == "ratio" else f"{v:,.0f}")

    print(f"{'what':40s} {'unit':14s} {'per wall s':>12s} {'per CPU s':>12s}  target")
    for what, unit, value, cpu_value, target in rows:
        print(
            f"{what:40s} {unit:14s} {fmt(value, unit):>12s} {fmt(cpu_value, unit):>12s}  {target}"
        )
    result = {
        "scenario": SCENARIO,
        "num_envs": B,
        "single_env_steps_per_s": single,
        "vecenv_steps_per_s": vec,
        "vecenv_unit_steps_per_s": vec_units,
        "dummyvecenv_steps_per_s": dummy,
        "vecenv_over_dummyvecenv": ratio(vec, dummy),
        "magent2_agent_steps_per_s": magent,
        "vecenv_units_over_magent2": ratio(vec_units, magent),
        "minigrid_vec_steps_per_s": minigrid_rate,
        "per_cpu_second": CPU_RATES,
        "load_average": load,
    }
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
