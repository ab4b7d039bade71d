"""Digests of every env output over a few hundred ticks: the bit-identity check of speed work.

Each case runs a :class:`~cgfsim.envs.batched.BatchedCommanderEnv` (dict observations, so the
action mask is part of the output, auto-reset on) against a doctrine, the learner's orders
mostly the ``assault`` doctrine's (so that the sides meet), else masked-random, and hashes, tick
by tick: the observation, the mask in the observation, the MaskablePPO mask
(``action_masks()``), rewards, terminated / truncated, every info of a world whose episode ended
(terminal observation included), and a build of a subset of worlds in a scrambled order (the
path evaluation and demonstration collection take). The digests of the code before the speed
work are stored in ``data/obs_digests.json``; the test compares with them.

Regenerate (only when an observation is meant to change, and say so in the commit)::

    .venv/bin/python -m tests.envs.obs_digests --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.envs.batched import BatchedCommanderEnv
from cgfsim.envs.observations import to_engine_actions
from cgfsim.sim.doctrines import get_doctrine

DATA = Path(__file__).parent / "data" / "obs_digests.json"
SCENARIOS = ("skirmish", "ambush", "defend", "urban", "random_field", "duel")
MODES = ("vector", "grid", "entities")
SIDES = ("blue", "red")
TICKS = 240
#: B = 1 is the single env's path; B = 3 the batched one (auto-resets at different ticks).
BATCH = {"skirmish": (1, 3), "random_field": (3,)}


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            h.update(k.encode())
            _feed(h, value[k])
    elif isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(repr(value).encode())


def case_digest(scenario: str, mode: str, side: str, batch: int, ticks: int = TICKS) -> str:
    """sha256 (first 24 hex digits) of everything the env returned over ``ticks`` ticks."""
    # the scenario's doctrine hint as opponent (assault without one), a random one once
    opponent = "random" if side == "red" and scenario == "skirmish" else None
    env = BatchedCommanderEnv(
        scenario, batch, side=side, opponent=opponent, obs=mode, dict_obs=True, autoreset=True
    )
    rng = np.random.default_rng(7)
    assault = get_doctrine("assault")
    h = hashlib.sha256()
    _feed(h, env.reset(seed=1000))
    order = np.arange(batch)[::-1]
    for t in range(ticks):
        mask = env.action_masks()
        _feed(h, mask)
        # masked-random actions, fire preferred half of the time so that fights happen
        score = rng.random(mask.shape) + mask * 2.0
        score = score.reshape(batch, env.n_own, env.n_actions)
        score[..., 5:] += rng.random((batch, env.n_own, 1)) < 0.5
        acts = np.where(score >= 2, score, -1.0).argmax(-1)
        # most orders from the assault doctrine, so that the sides meet and fight
        lead = to_engine_actions(assault(env.engine, env.side), env.side)
        acts = np.where(rng.random(acts.shape) < 0.7, lead, acts)
        obs, rew, term, trunc, infos = env.step(acts)
        for v in (obs, rew, term, trunc):
            _feed(h, v)
        for i, info in enumerate(infos):
            if info:
                h.update(str(i).encode())
                _feed(h, info)
        if t % 7 == 3:
            _feed(h, env.observer.build(order))
            _feed(h, env.masker.build(order))
    return h.hexdigest()[:24]


def cases() -> list[tuple[str, str, str, int]]:
    return [
        (sc, mode, side, b)
        for sc in SCENARIOS
        for mode in MODES
        for side in SIDES
        for b in BATCH.get(sc, (2,))
    ]


def case_id(case: tuple[str, str, str, int]) -> str:
    return "{}-{}-{}-B{}".format(*case)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {DATA.name}")
    args = ap.parse_args()
    out = {case_id(c): case_digest(*c) for c in cases()}
    if args.write:
        DATA.parent.mkdir(exist_ok=True)
        DATA.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    stored = json.loads(DATA.read_text()) if DATA.exists() else {}
    bad = [k for k, v in out.items() if stored.get(k) != v]
    print(f"{len(out)} cases, {len(bad)} differ from {DATA.name}: {bad}")


if __name__ == "__main__":
    main()
