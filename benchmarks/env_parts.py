"""Where an env step's CPU goes, part by part, and the same parts of another tree, interleaved.

Parts (Skirmish, 8 v 8, one core, the state after 40 ticks of random blue vs ``assault`` red
for the builders; finished worlds reset inside the loop for the engine and the envs):

| part            | one call                                                              |
|-----------------|-----------------------------------------------------------------------|
| engine          | ``Engine.step`` at B = 256, random actions for both sides (+ resets)  |
| doctrine        | the ``assault`` doctrine's actions for red, B = 256                   |
| obs_vector      | ``ObservationBuilder(mode="vector").build()`` of blue, B = 256        |
| obs_grid        | the same, ``grid``                                                    |
| obs_entities    | the same, ``entities``                                                |
| obs_vector_b1   | the ``vector`` build of one world (the single env's, and a reset's)   |
| mask            | ``MaskBuilder.build()`` of blue, B = 256                              |
| vecenv          | ``CgfsimVecEnv.step`` at B = 256, ``vector`` obs, ``assault`` opponent |
| single          | ``gym.make("cgfsim/Skirmish-v0").step`` (+ ``reset`` when done)       |

The machine this project runs on is shared, so wall-clock time says little: every figure is
CPU time of the measuring process (``time.process_time``), or with ``--callgrind`` the
instructions valgrind counts (repeatable under any load; each part's loop is counted on its
own, so start-up, imports and set-up do not count).

``--baseline DIR`` measures a second tree (a directory holding a ``cgfsim/`` package, e.g.
``git archive main cgfsim | tar -x -C /tmp/base``) in the same run, alternating trees round by
round, and reports the speed-up of this tree over it (median over rounds)::

    python benchmarks/env_parts.py --baseline /tmp/base --rounds 5
    python benchmarks/env_parts.py --baseline /tmp/base --callgrind --parts obs_vector,mask

Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

B = 256
HERE = Path(__file__).resolve().parents[1]
#: part -> world-steps (or worlds built) per call, for rates
WORK = {
    "engine": B,
    "doctrine": B,
    "obs_vector": B,
    "obs_grid": B,
    "obs_entities": B,
    "obs_vector_b1": 1,
    "mask": B,
    "vecenv": B,
    "single": 1,
}
PARTS = tuple(WORK)


def _played_engine(batch: int) -> Any:
    """A Skirmish engine after 40 ticks of random blue vs ``assault`` red (seeded)."""
    from cgfsim.sim.doctrines import get_doctrine
    from cgfsim.sim.engine import Engine
    from cgfsim.sim.scenario import load_scenario

    e = Engine(load_scenario("skirmish"), batch, seed=0)
    red = get_doctrine("assault")
    rng = np.random.default_rng(0)
    for _ in range(40):
        e.step(np.concatenate([rng.integers(0, e.n_act[: e.nb], (batch, e.nb)), red(e, 1)], 1))
    return e


def make_part(part: str) -> Callable[[], Any]:
    """A zero-argument function doing one call of ``part`` (set up, warmed up)."""
    if part == "engine":
        e = _played_engine(B)
        acts = np.random.default_rng(1).integers(0, e.n_act, (64, B, e.U))
        i = 0

        def engine() -> None:
            nonlocal i
            res = e.step(acts[i % 64])
            i += 1
            if res.done.any():
                e.reset(res.done)

        return engine
    if part == "doctrine":
        from cgfsim.sim.doctrines import get_doctrine

        e, d = _played_engine(B), get_doctrine("assault")
        return lambda: d(e, 1)
    if part.startswith("obs_"):
        from cgfsim.envs.observations import ObservationBuilder

        mode = part.split("_")[1]
        ob = ObservationBuilder(_played_engine(1 if part.endswith("b1") else B), 0, mode)
        return ob.build
    if part == "mask":
        from cgfsim.envs.masks import MaskBuilder

        return MaskBuilder(_played_engine(B), 0).build
    if part == "vecenv":
        from cgfsim.envs.sb3 import CgfsimVecEnv

        venv = CgfsimVecEnv("skirmish", B, obs="vector", opponent="assault")
        venv.seed(0)
        venv.reset()
        acts = np.random.default_rng(0).integers(0, 15, size=(64, B, 8))
        j = 0

        def vecenv() -> None:
            nonlocal j
            venv.step(acts[j % 64])
            j += 1

        return vecenv
    if part == "single":
        import gymnasium as gym

        import cgfsim  # noqa: F401

        env = gym.make("cgfsim/Skirmish-v0", obs="vector", opponent="assault")
        env.reset(seed=0)
        acts1 = np.random.default_rng(0).integers(0, 15, size=(1024, 8))
        k = 0

        def single() -> None:
            nonlocal k
            _, _, term, trunc, _ = env.step(acts1[k % 1024])
            k += 1
            if term or trunc:
                env.reset()

        return single
    raise SystemExit(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")


def worker(parts: list[str], seconds: float, calls: int | None) -> dict[str, float]:
    """CPU seconds per call of each part (``calls`` fixed, else as many as fit ``seconds``).

    ``os.getppid()`` right before and after each part's loop marks it for callgrind
    (``--dump-before=os_getppid*`` starts a new profile there), so set-up never counts.
    """
    out = {}
    for part in parts:
        fn = make_part(part)
        for _ in range(3):
            fn()
        want = None if calls is None else calls * (10 if WORK[part] == 1 else 1)
        n = 0
        os.getppid()
        c0 = time.process_time()
        while (n < want) if want is not None else (time.process_time() - c0 < seconds):
            fn()
            n += 1
        out[part] = (time.process_time() - c0) / max(n, 1)
        os.getppid()
        out[f"{part}_calls"] = n
    return out


def _run(tree: Path, args: list[str], prefix: list[str] | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [*(prefix or []), sys.executable, str(Path(__file__).resolve()), *args]
    return subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True).stdout


def cpu_rounds(trees: dict[str, Path], parts: list[str], rounds: int, seconds: float) -> dict:
    """Per tree and part, the CPU seconds per call of each round (trees alternate)."""
    got: dict[str, dict[str, list[float]]] = {t: {p: [] for p in parts} for t in trees}
    for r in range(rounds):
        for name, tree in trees.items() if r % 2 == 0 else reversed(trees.items()):
            res = json.loads(
                _run(tree, ["--worker", ",".join(parts), "--seconds", str(seconds)]).splitlines()[
                    -1
                ]
            )
            for p in parts:
                got[name][p].append(res[p])
    return got


def callgrind(tree: Path, parts: list[str], calls: int) -> dict[str, float]:
    """Instructions per call of each part, counted by callgrind in one run of all parts.

    Each part's loop is its own profile dump (see :func:`worker`): dumps 2, 4, 6 ...
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        res = json.loads(
            _run(
                tree,
                ["--worker", ",".join(parts), "--calls", str(calls)],
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--dump-before=os_getppid*",
                    f"--callgrind-out-file={out}",
                ],
            ).splitlines()[-1]
        )
        per = {}
        for i, part in enumerate(parts):
            text = (Path(tmp) / f"cg.out.{2 * i + 2}").read_text()
            m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
            if m is None:
                raise SystemExit("could not read callgrind's instruction total")
            per[part] = int(m.group(1)) / res[f"{part}_calls"]
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts")
    ap.add_argument("--baseline", type=Path, help="a tree holding the cgfsim/ to compare with")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per tree (CPU time)")
    ap.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per part and round")
    ap.add_argument("--callgrind", action="store_true", help="count instructions instead")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument(
        "--calls", type=int, help="calls per part with --callgrind (x10 for one-world parts)"
    )
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker.split(","), args.seconds, args.calls)))
        return
    parts = args.parts.split(",")
    for p in parts:
        if p not in WORK:
            raise SystemExit(f"unknown part {p!r}; expected one of {', '.join(PARTS)}")
    trees = {"this": HERE}
    if args.baseline is not None:
        if not (args.baseline / "cgfsim" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: expected a directory holding cgfsim/")
        trees = {"baseline": args.baseline.resolve(), "this": HERE}
    load = os.getloadavg()[0]
    result: dict[str, Any] = {"num_envs": B, "load_average_start": load}
    if args.callgrind:
        unit = "instructions per call"
        per = {t: callgrind(tree, parts, args.calls or 10) for t, tree in trees.items()}
    else:
        unit = "CPU us per call (median)"
        rounds = cpu_rounds(trees, parts, args.rounds, args.seconds)
        per = {t: {p: statistics.median(v) for p, v in d.items()} for t, d in rounds.items()}
        result["rounds"] = rounds
    result["unit"], result["per_call"] = unit, per
    scale = 1.0 if args.callgrind else 1e6
    print(
        f"cgfsim env parts: skirmish, B={B}, one core; {unit}; "
        f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    head = f"{'part':15s}" + "".join(f" {t:>14s}" for t in trees)
    if "baseline" in trees:
        head += f" {'speed-up':>9s}"
    print(head + f" {'per CPU s (this)':>17s}")
    for p in parts:
        row = f"{p:15s}" + "".join(f" {per[t][p] * scale:>14,.1f}" for t in trees)
        if "baseline" in trees:
            row += f" {per['baseline'][p] / per['this'][p]:>8.2f}x"
        rate = "" if args.callgrind else f"{WORK[p] / per['this'][p]:>17,.0f}"
        print(row + f" {rate}")
    if "baseline" in trees:
        result["speedup"] = {p: per["baseline"][p] / per["this"][p] for p in parts}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
