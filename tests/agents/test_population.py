"""Population evaluation: one batched pass equals P CgfPolicies, and P = 1 equals P = many."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cgfsim.agents.evaluation import evaluate
from cgfsim.agents.networks import PolicySpec
from cgfsim.agents.population import (
    PopulationEvaluator,
    PopulationPolicy,
    evaluate_genomes,
    from_policy,
    initial_genomes,
    n_params,
    to_policy,
)
from cgfsim.envs.observations import observation_shape
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)
D = observation_shape("duel", "vector")[0]  # Duel's vector observation


def spec(core: str = "mlp", **kw: object) -> PolicySpec:
    base: dict = {"hidden": (16, 16), "lstm_hidden": 12}
    base.update(kw)
    return PolicySpec("vector", (D,), 2, 9, core=core, **base)


def genomes(s: PolicySpec, p: int, sigma: float = 0.05, seed: int = 0) -> np.ndarray:
    """Initial policies plus some evolution-like noise (logits far from uniform)."""
    g = initial_genomes(s, p, seed)
    return g + np.random.default_rng(seed).normal(0, sigma, g.shape).astype(np.float32)


def test_genome_layout_round_trips() -> None:
    s = spec("lstm", layer_norm=True, dropout=0.1)
    g = genomes(s, 2)
    assert g.shape == (2, n_params(s)) and g.dtype == np.float32
    pol = to_policy(s, g[1])
    assert np.array_equal(from_policy(pol), g[1])
    assert np.array_equal(initial_genomes(s, 2, 0), initial_genomes(s, 2, 0))
    assert not np.array_equal(initial_genomes(s, 1, 0), initial_genomes(s, 1, 1))
    with pytest.raises(CgfsimError, match="vector"):
        PopulationPolicy(PolicySpec("grid", (18, 8, 8), 2, 9), np.zeros((1, 10), np.float32))
    with pytest.raises(CgfsimError, match="genomes must be"):
        PopulationPolicy(s, np.zeros((2, 5), np.float32))


@pytest.mark.parametrize(
    ("core", "kw"),
    [
        ("mlp", {}),
        ("mlp", {"layer_norm": True, "activation": "relu"}),
        ("lstm", {}),
        ("lstm", {"layer_norm": True, "dropout": 0.2}),
    ],
)
def test_population_forward_equals_cgfpolicy(core: str, kw: dict) -> None:
    s = spec(core, **kw)
    P, K, T = 5, 6, 5
    g = genomes(s, P)
    pop = PopulationPolicy(s, g)
    gen = torch.Generator().manual_seed(0)
    obs = torch.rand(T, P, K, D, generator=gen)
    starts = torch.rand(T, P, K, generator=gen) < 0.3
    masks = torch.rand(T, P, K, 2, 9, generator=gen) < 0.7
    state = pop.initial_state(K)
    batched = []
    for t in range(T):
        logits, state = pop.forward(obs[t], state, starts[t], masks[t])
        batched.append(logits)
    for p in range(P):
        pol = to_policy(s, g[p])
        st = pol.initial_state(K)
        for t in range(T):
            with torch.no_grad():
                ref, st = pol(obs[t, p], st, starts[t, p], masks[t, p])
            torch.testing.assert_close(batched[t][p], ref, atol=1e-6, rtol=0)
            if core == "lstm":
                assert state is not None


@pytest.mark.parametrize("core", ["mlp", "lstm"])
@pytest.mark.parametrize("masked", [False, True])
def test_batched_equals_individual_evaluation_exactly(core: str, masked: bool) -> None:
    s = spec(core)
    P, K = 5, 6
    g = genomes(s, P, sigma=0.5, seed=3)  # strong opinions: wins, losses and draws
    batched = evaluate_genomes(s, g, "duel", "assault", K, seed=11, masked=masked)
    assert batched.outcome.shape == (P, K)
    for p in range(P):
        one = evaluate_genomes(s, g[p], "duel", "assault", K, seed=11, masked=masked)
        assert np.array_equal(one.outcome[0], batched.outcome[p])
        assert np.array_equal(one.ret[0], batched.ret[p])
        assert np.array_equal(one.length[0], batched.length[p])
    assert batched.env_steps == int(batched.length.sum())
    assert batched.executed_steps >= batched.env_steps


def test_population_agrees_with_evaluate_on_the_same_worlds() -> None:
    """Individual p on worlds seed + k is what evaluate() reports for its CgfPolicy."""
    s = spec("mlp")
    P, K = 4, 8
    g = genomes(s, P, sigma=0.5, seed=5)
    ev = PopulationEvaluator(s, "duel", "random", P, K, masked=True)
    res = ev(g, seed=21)
    for p in range(P):
        r = evaluate(to_policy(s, g[p]), "duel", "random", K, seed=21, masked=True)
        assert r.wins == int((res.outcome[p] == 1).sum())
        assert r.losses == int((res.outcome[p] == -1).sum())
        assert r.mean_return == pytest.approx(res.ret[p].mean(), abs=1e-9)
        assert r.env_steps == int(res.length[p].sum())
    # common random numbers: identical individuals get identical results
    same = ev(np.repeat(g[:1], P, 0), seed=21)
    assert (same.outcome == same.outcome[0]).all()
    fit = res.fitness(0.01)
    assert np.allclose(fit, res.outcome.mean(1) + 0.01 * res.ret.mean(1))
