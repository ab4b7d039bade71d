"""Export time, and inference in ONNX Runtime vs torch, for every encoder x core.

Run by ``make bench`` (never by the tests), on one core: thread pools are pinned
to one thread before numpy, torch and ONNX Runtime load; torch uses one thread
and the ONNX Runtime session one intra-op thread.

Policies have the training defaults (``cgfsim/agents/defaults.toml``: hidden
128 x 128, tanh, features 128, LSTM 128; grid CNN 32/64 channels; entities
attention 64-wide, 4 heads) with random weights (timing does not depend on
the weights), for Skirmish (8 v 8, 24 x 24; ``vector`` 651 floats, ``grid``
25 x 24 x 24, ``entities`` 16 x 51). Observations are recorded from real
episodes on test-split worlds. Per combination:

- **export**: ``export_policy`` end to end (load the checkpoint, trace, check
  in ONNX Runtime against torch, write the folder);
- **latency (B = 1)**: one decision (one world, all its units) -- median wall
  time of a forward call with the action mask and, for LSTM, the state; torch
  is ``CgfPolicy.forward`` under ``no_grad`` (what ``act`` runs), ONNX Runtime
  is ``InferenceSession.run``;
- **throughput (B = 1024)**: world-decisions per second at 1024 worlds a call.

Torch and ONNX Runtime calls alternate, so on a shared machine both see the same
load; each figure is the median call.

Prints a table, then one JSON object on the last line. Ratios are ONNX Runtime
over torch, measured in the same run.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

SCENARIO = "skirmish"
MODES, CORES = ("vector", "grid", "entities"), ("mlp", "lstm")
LAT_CALLS = int(os.environ.get("CGFSIM_BENCH_EXPORT_CALLS", "300"))
BIG, BIG_CALLS = 1024, int(os.environ.get("CGFSIM_BENCH_EXPORT_BIG_CALLS", "11"))


def _record(mode: str, n: int = 64, steps: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(steps * n) observations and masks of real Skirmish episodes (test-split worlds)."""
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.sim.splits import world_keys

    env = BatchedCommanderEnv(SCENARIO, n, opponent="assault", obs=mode)
    obs = np.asarray(env.reset(world_keys("test", 0, n)))
    rng = np.random.default_rng(0)
    xs, ms = [], []
    for _ in range(steps):
        m = env.action_masks().reshape(n, env.n_own, env.n_actions)
        xs.append(obs.copy())
        ms.append(m)
        obs = np.asarray(env.step((rng.random(m.shape) * m).argmax(-1))[0])
    return np.concatenate(xs), np.concatenate(ms)


def _timed(a: Callable[[], Any], b: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Median seconds per call of ``a`` and ``b`` after two warm-ups each, calls interleaved
    (a, b, a, b, ...) so that both see the same load on a shared machine."""
    for _ in range(2):
        a(), b()
    ta, tb = [], []
    for _ in range(calls):
        for fn, t in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def _one(mode: str, core: str, root: Path) -> dict[str, Any]:
    from cgfsim.agents import rl
    from cgfsim.agents.checkpoints import save_checkpoint
    from cgfsim.agents.export_onnx.exporter import export_policy
    from cgfsim.agents.export_onnx.player import load_exported
    from cgfsim.agents.networks import PolicySpec, build_policy

    x, m = _record(mode)
    hp = rl.resolve_hparams("ppo", "Skirmish")
    spec = PolicySpec(
        mode,
        x.shape[1:],
        m.shape[1],
        m.shape[2],
        core=core,
        hidden=tuple(hp["hidden"]),
        activation=hp["activation"],
        features_dim=hp["features_dim"],
        lstm_hidden=hp["lstm_hidden"],
    )
    policy = build_policy(spec, seed=0).eval()
    ck = save_checkpoint(root / f"ck-{mode}-{core}", policy, meta={"scenario": SCENARIO})
    t0 = time.perf_counter()
    export_policy(ck, root / f"ex-{mode}-{core}")
    export_s = time.perf_counter() - t0
    runner, _, _ = load_exported(root / f"ex-{mode}-{core}")
    sess = runner.session

    def feeds(b: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
        xb = np.ascontiguousarray(np.resize(x, (b, *x.shape[1:])))
        mb = np.ascontiguousarray(np.resize(m, (b, *m.shape[1:])))
        feed: dict[str, np.ndarray] = {"obs": xb, "action_mask": mb}
        st = policy.initial_state(b)
        if core == "lstm":
            z = np.zeros((b, spec.lstm_hidden), np.float32)
            feed.update(h=z, c=z.copy())
        xt, mt = torch.from_numpy(xb), torch.from_numpy(mb)

        def run_torch() -> Any:
            with torch.no_grad():
                return policy(xt, st, None, mt)

        return run_torch, lambda: sess.run(None, feed)

    t1, o1 = feeds(1)
    tb, ob = feeds(BIG)
    lat_t, lat_o = _timed(t1, o1, LAT_CALLS)
    big_t, big_o = _timed(tb, ob, BIG_CALLS)
    return {
        "mode": mode,
        "core": core,
        "onnx_kib": round((root / f"ex-{mode}-{core}" / "policy.onnx").stat().st_size / 1024),
        "export_s": export_s,
        "latency_torch_us": lat_t * 1e6,
        "latency_onnx_us": lat_o * 1e6,
        "latency_ratio": lat_t / lat_o,
        "throughput_torch": BIG / big_t,
        "throughput_onnx": BIG / big_o,
        "throughput_ratio": big_t / big_o,
    }


def main() -> None:
    import onnxruntime

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            for core in CORES:
                rows.append(_one(mode, core, Path(tmp)))
    print(
        f"Skirmish policies, one thread each; torch {torch.__version__}, "
        f"ONNX Runtime {onnxruntime.__version__}; x = torch time / ONNX Runtime time"
    )
    head = (
        f"{'policy':15s} {'onnx':>8s} {'export':>7s} | {'B=1 torch':>10s} {'ORT':>8s} {'x':>5s} "
        f"| {'B=1024 torch/s':>14s} {'ORT/s':>9s} {'x':>5s}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['core'] + '-' + r['mode']:15s} {r['onnx_kib']:>5d} KiB {r['export_s']:>6.2f}s "
            f"| {r['latency_torch_us']:>8.0f}µs {r['latency_onnx_us']:>6.0f}µs "
            f"{r['latency_ratio']:>5.1f} | {r['throughput_torch']:>14,.0f} "
            f"{r['throughput_onnx']:>9,.0f} {r['throughput_ratio']:>5.2f}"
        )
    print(json.dumps({"benchmark": "export", "scenario": SCENARIO, "rows": rows}))


if __name__ == "__main__":
    main()
