"""CgfPolicy: shapes for every obs mode x core, masks, LSTM resets, flat-parameter round trip."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from cgfsim.agents.networks import CgfPolicy, PolicySpec, build_policy
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)

SHAPES = {"vector": (40,), "grid": (6, 8, 8), "entities": (5, 9)}
N_UNITS, N_ACTIONS, B = 3, 10, 4


def make_obs(mode: str, batch: int = B, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((batch, *SHAPES[mode])).astype(np.float32)
    if mode == "entities":
        obs[..., 0] = rng.random((batch, SHAPES[mode][0])) < 0.6
        obs[:, 0, 0] = 1.0
    return obs


def spec_for(mode: str, core: str, **kw: object) -> PolicySpec:
    return PolicySpec(mode, SHAPES[mode], N_UNITS, N_ACTIONS, core=core, hidden=(32, 32), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("core", ["mlp", "lstm"])
@pytest.mark.parametrize("mode", ["vector", "grid", "entities"])
def test_shapes(mode: str, core: str) -> None:
    policy = build_policy(spec_for(mode, core, lstm_hidden=16, features_dim=24), seed=0)
    obs = make_obs(mode)
    logits, state = policy(torch.from_numpy(obs), policy.initial_state(B))
    assert logits.shape == (B, N_UNITS, N_ACTIONS)
    assert torch.isfinite(logits).all()
    actions, state2 = policy.act(obs, state)
    assert actions.shape == (B, N_UNITS) and actions.dtype == np.int64
    assert ((actions >= 0) & (actions < N_ACTIONS)).all()
    if core == "lstm":
        assert state is not None and state2 is not None
        assert state[0].shape == (1, B, 16) and state2[1].shape == (1, B, 16)
    else:
        assert state is None and state2 is None
    single, _ = policy.act(obs[0], policy.initial_state(1))
    assert single.shape == (N_UNITS,)
    seq, _ = policy.forward_sequence(torch.from_numpy(np.stack([obs, obs])))
    assert seq.shape == (2, B, N_UNITS, N_ACTIONS)


def test_layer_names_and_order() -> None:
    names = [n for n, _ in build_policy(spec_for("vector", "lstm")).named_parameters()]
    assert names == [
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0",
        "lstm.bias_ih_l0",
        "lstm.bias_hh_l0",
        "pi.0.weight",
        "pi.0.bias",
        "pi.2.weight",
        "pi.2.bias",
        "action_net.weight",
        "action_net.bias",
    ]
    spec = spec_for("vector", "mlp", layer_norm=True, dropout=0.1, activation="relu")
    kinds = [type(m).__name__ for m in build_policy(spec).pi]
    assert kinds == ["Linear", "ReLU", "LayerNorm", "Dropout"] * 2


@pytest.mark.parametrize("mode", ["vector", "entities"])
def test_mask_is_honoured(mode: str) -> None:
    policy = build_policy(spec_for(mode, "mlp"), seed=1)
    rng = np.random.default_rng(0)
    mask = rng.random((B, N_UNITS, N_ACTIONS)) < 0.3
    mask[..., 0] = False
    mask[:, :, 4] = True  # at least one allowed action per unit
    obs = make_obs(mode)
    greedy, _ = policy.act(obs, action_mask=mask.reshape(B, -1))  # flat, as MaskablePPO gives it
    assert np.take_along_axis(mask, greedy[..., None], -1).all()
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        sampled, _ = policy.act(obs, action_mask=mask, deterministic=False, generator=gen)
        assert np.take_along_axis(mask, sampled[..., None], -1).all()
    logits, _ = policy(torch.from_numpy(obs), action_mask=torch.from_numpy(mask))
    assert (logits[torch.from_numpy(~mask)] == -1e8).all()


def test_sampling_is_seeded() -> None:
    policy = build_policy(spec_for("vector", "mlp"), seed=2)
    obs = make_obs("vector")
    a1, _ = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(5))
    a2, _ = policy.act(obs, deterministic=False, generator=torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(a1, a2)


@pytest.mark.parametrize("mode", ["vector", "grid"])
def test_lstm_state_resets_at_episode_start(mode: str) -> None:
    policy = build_policy(spec_for(mode, "lstm"), seed=3)
    o1, o2 = torch.from_numpy(make_obs(mode, seed=1)), torch.from_numpy(make_obs(mode, seed=2))
    with torch.no_grad():
        _, state = policy(o1, policy.initial_state(B))
        fresh, _ = policy(o2, policy.initial_state(B))
        starts = torch.tensor([True, False, True, False])
        out, new_state = policy(o2, state, episode_start=starts)
        carried, _ = policy(o2, state)
    torch.testing.assert_close(out[starts], fresh[starts], rtol=0, atol=0)
    torch.testing.assert_close(out[~starts], carried[~starts], rtol=0, atol=0)
    assert not torch.allclose(carried[starts], fresh[starts])
    assert new_state is not None and new_state[0].shape == (1, B, policy.spec.lstm_hidden)
    # The time-major helper applies the same resets.
    seq, _ = policy.forward_sequence(
        torch.stack([o1, o2]), None, torch.stack([torch.ones(B), starts.float()])
    )
    torch.testing.assert_close(seq[1], out, rtol=0, atol=1e-6)


@pytest.mark.parametrize("core", ["mlp", "lstm"])
def test_param_vector_round_trip(core: str) -> None:
    spec = spec_for("vector", core)
    a, b = build_policy(spec, seed=0), build_policy(spec, seed=1)
    vec = parameters_to_vector(a.parameters())
    assert vec.numel() == sum(p.numel() for p in a.parameters())
    vector_to_parameters(vec, b.parameters())
    torch.testing.assert_close(parameters_to_vector(b.parameters()), vec, rtol=0, atol=0)
    obs = torch.from_numpy(make_obs("vector"))
    with torch.no_grad():
        torch.testing.assert_close(a(obs)[0], b(obs)[0], rtol=0, atol=0)


def test_build_policy_seed_is_reproducible_and_private() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    p1 = build_policy(spec_for("grid", "mlp"), seed=7)
    after = torch.rand(1)
    p2 = build_policy(spec_for("grid", "mlp"), seed=7)
    assert before == after
    v1, v2 = parameters_to_vector(p1.parameters()), parameters_to_vector(p2.parameters())
    torch.testing.assert_close(v1, v2, rtol=0, atol=0)


def test_entities_all_invalid_is_finite() -> None:
    policy = build_policy(spec_for("entities", "mlp"), seed=0)
    obs = make_obs("entities")
    obs[1, :, 0] = 0.0
    logits, _ = policy(torch.from_numpy(obs))
    assert torch.isfinite(logits).all()


def test_grid_encoder_fits_any_map_size() -> None:
    small = CgfPolicy(PolicySpec("grid", (6, 8, 8), 2, 9))
    big = CgfPolicy(PolicySpec("grid", (6, 48, 48), 2, 9))
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in big.parameters())
    assert big(torch.zeros(2, 6, 48, 48))[0].shape == (2, 2, 9)


def test_act_ignores_dropout_in_train_mode() -> None:
    policy = build_policy(spec_for("vector", "mlp", dropout=0.5), seed=0)
    policy.train()
    obs = make_obs("vector", batch=64)
    np.testing.assert_array_equal(policy.act(obs)[0], policy.act(obs)[0])
    assert policy.training


def test_spec_json_round_trip_and_spaces() -> None:
    spec = spec_for("entities", "lstm", layer_norm=True)
    again = PolicySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    obs_space = gym.spaces.Box(-1, 1, (6, 24, 24), np.float32)
    act_space = gym.spaces.MultiDiscrete([9, 9, 9, 9])
    s = PolicySpec.from_spaces(obs_space, act_space, core="lstm")
    assert (s.obs_mode, s.obs_shape, s.n_units, s.n_actions) == ("grid", (6, 24, 24), 4, 9)
    with pytest.raises(CgfsimError):
        PolicySpec("vector", (6, 8, 8), 2, 9)
    with pytest.raises(CgfsimError):
        PolicySpec("vector", (8,), 2, 9, core="gru")
    with pytest.raises(CgfsimError):
        PolicySpec.from_dict({**spec.to_dict(), "bogus": 1})
