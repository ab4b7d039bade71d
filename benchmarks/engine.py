"""Engine throughput: unit-steps/s of an 8 vs 8 battle on a 24x24 map, one core.

Blue takes uniformly random actions, red is driven by the ``assault``
doctrine, line of sight and fog of war are on, and finished worlds are reset
inside the timed loop (learners pay for resets too). Measured at B = 1, 64
and 1024, plus the latency of one tick at B = 1.

A baseline is measured in the same run: a plain numpy grid battle with no
line of sight, no fog, no terrain and no doctrine (random moves, fire at the
nearest enemy in range). DESIGN.md quotes about 3 million unit-steps/s for
such a battle on this kind of machine and 1.3 million for MAgent2's C++ core
per core. Ratios against the baseline are what to compare across machines.

Usage: python benchmarks/engine.py [--seconds S]. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from cgfsim.sim.doctrines import get_doctrine
from cgfsim.sim.engine import Engine
from cgfsim.sim.scenario import load_scenario


def bench_engine(batch: int, seconds: float) -> dict[str, float]:
    sc = load_scenario("skirmish")
    eng = Engine(sc, batch, seed=0)
    red = get_doctrine("assault")
    rng = np.random.default_rng(0)
    nb = eng.nb
    hi = eng.n_act[:nb]
    # warm-up: builds the path table and touches every code path once
    for _ in range(5):
        eng.step(np.concatenate([rng.integers(0, hi, (batch, nb)), red(eng, 1)], 1))
    eng.reset()
    ticks = units = resets = 0
    t0 = time.perf_counter()
    while True:
        acts = np.concatenate([rng.integers(0, hi, (batch, nb)), red(eng, 1)], 1)
        units += int(eng.alive.sum())
        res = eng.step(acts)
        if res.done.any():
            resets += int(res.done.sum())
            eng.reset(res.done)
        ticks += 1
        if ticks % 8 == 0 and time.perf_counter() - t0 >= seconds:
            break
    dt = time.perf_counter() - t0
    return {
        "batch": batch,
        "ticks_per_s": ticks / dt,
        "world_steps_per_s": ticks * batch / dt,
        "unit_steps_per_s": units / dt,
        "tick_us": dt / ticks * 1e6,
        "episodes_per_s": resets / dt,
    }


def bench_baseline(batch: int, seconds: float, side: int = 24, n: int = 8) -> dict[str, float]:
    """Plain numpy battle, written for speed: random moves, fire at the nearest enemy in range.

    No terrain, collisions, line of sight, fog, cover, ammunition or doctrine;
    blue-red pairs only, small dtypes and bincount for damage, so it is a fair
    upper bound of what numpy does per unit-step without cgfsim's rules.
    """
    rng = np.random.default_rng(0)
    u = 2 * n
    y = rng.integers(0, side, (batch, u)).astype(np.int32)
    x = rng.integers(0, side, (batch, u)).astype(np.int32)
    hp = np.full((batch, u), 10, np.int32)
    dy = np.array([0, -1, 0, 1, 0], np.int32)
    dx = np.array([0, 0, 1, 0, -1], np.int32)
    rows = np.arange(batch)[:, None] * u
    ticks = units = 0
    t0 = time.perf_counter()
    while True:
        alive = hp > 0
        units += int(np.count_nonzero(alive))
        a = rng.integers(0, 5, (batch, u))
        y = np.where(alive, np.clip(y + dy[a], 0, side - 1), y)
        x = np.where(alive, np.clip(x + dx[a], 0, side - 1), x)
        d2 = (y[:, :n, None] - y[:, None, n:]) ** 2 + (x[:, :n, None] - x[:, None, n:]) ** 2
        ok_b = (d2 <= 16) & alive[:, None, n:]
        ok_r = (d2 <= 16).transpose(0, 2, 1) & alive[:, None, :n]
        tb = np.where(ok_b, d2, 1 << 30).argmin(-1) + n
        tr = np.where(ok_r, d2.transpose(0, 2, 1), 1 << 30).argmin(-1)
        fire = np.concatenate([ok_b.any(-1), ok_r.any(-1)], 1) & alive
        fire &= rng.random((batch, u)) < 0.5
        tgt = np.concatenate([tb, tr], 1)
        dmg = np.bincount((rows + tgt)[fire], minlength=batch * u).reshape(batch, u)
        hp = hp - 3 * dmg
        done = ~(hp[:, :n] > 0).any(1) | ~(hp[:, n:] > 0).any(1)
        if done.any():
            k = int(done.sum())
            hp[done] = 10
            y[done] = rng.integers(0, side, (k, u))
            x[done] = rng.integers(0, side, (k, u))
        ticks += 1
        if ticks % 8 == 0 and time.perf_counter() - t0 >= seconds:
            break
    dt = time.perf_counter() - t0
    return {"unit_steps_per_s": units / dt, "tick_us": dt / ticks * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    args = ap.parse_args()
    rows = [bench_engine(b, args.seconds) for b in (1, 64, 1024)]
    base = bench_baseline(1024, args.seconds)
    print(f"{'B':>5} {'ticks/s':>10} {'world-steps/s':>14} {'unit-steps/s':>14} {'tick us':>10}")
    for r in rows:
        print(
            f"{r['batch']:>5} {r['ticks_per_s']:>10.0f} {r['world_steps_per_s']:>14,.0f} "
            f"{r['unit_steps_per_s']:>14,.0f} {r['tick_us']:>10.1f}"
        )
    big = rows[-1]
    ratio = big["unit_steps_per_s"] / base["unit_steps_per_s"]
    print(
        f"baseline (plain numpy battle, no LOS/fog/terrain/doctrine) at B=1024: "
        f"{base['unit_steps_per_s']:,.0f} unit-steps/s; cgfsim / baseline = {ratio:.2f}"
    )
    print(
        f"cgfsim vs MAgent2's C++ core (~1.3M unit-steps/s per core, DESIGN.md): "
        f"{big['unit_steps_per_s'] / 1.3e6:.2f}x"
    )
    out = {
        "unit_steps_per_s": round(big["unit_steps_per_s"]),
        "world_steps_per_s": round(big["world_steps_per_s"]),
        "tick_us_b1": round(rows[0]["tick_us"], 1),
        "unit_steps_per_s_b1": round(rows[0]["unit_steps_per_s"]),
        "unit_steps_per_s_b64": round(rows[1]["unit_steps_per_s"]),
        "baseline_unit_steps_per_s": round(base["unit_steps_per_s"]),
        "ratio_vs_baseline": round(ratio, 3),
        "target_unit_steps_per_s": 3_000_000,
        "resets_in_timed_loop": True,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
