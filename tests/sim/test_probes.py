"""The counter-script probes: valid actions on every built-in, and no look behind the fog."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cgfsim.sim.doctrines import DOCTRINES, joint_actions
from cgfsim.sim.engine import Engine
from cgfsim.sim.probes import PROBES
from cgfsim.sim.scenario import builtin_names, load_scenario


@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "random_field"])
def test_probes_give_valid_actions_for_both_sides(name: str) -> None:
    e = Engine(load_scenario(name), 3, seed=2)
    for _ in range(8):
        for fn in PROBES.values():
            for side in (0, 1):
                a = fn(e, side)
                n = e.nb if side == 0 else e.nr
                assert a.shape == (3, n) and a.dtype == np.int64
                e.check_actions(np.concatenate([a, np.zeros((3, e.U - n), np.int64)], 1)
                                if side == 0 else
                                np.concatenate([np.zeros((3, e.nb), np.int64), a], 1))  # fmt: skip
        e.step(joint_actions(e, PROBES["tactician"], DOCTRINES["assault"]))


def test_tactician_ignores_what_its_side_cannot_see() -> None:
    e1 = Engine(load_scenario("ambush"), 8, seed=4)
    for _ in range(12):
        e1.step(joint_actions(e1, DOCTRINES["advance"], DOCTRINES["ambush"]))
    hidden = ~e1.visible[:, e1.nb :]  # red units blue does not see now
    assert hidden.any()
    e2 = copy.deepcopy(e1)
    red = np.arange(e1.nb, e1.U)
    for w in range(e2.B):
        for j in red[hidden[w]]:
            e2.hp[w, j] = max(1.0, float(e2.hp[w, j]) - 3)
            e2.cooldown[w, j] = 2
            e2.covered[w, j] = not e2.covered[w, j]
    np.testing.assert_array_equal(PROBES["tactician"](e1, 0), PROBES["tactician"](e2, 0))
