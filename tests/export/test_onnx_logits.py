"""ONNX Runtime gives torch's logits for every encoder x core, on observations of real episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.export_onnx.exporter import export_policy, onnx_bytes
from cgfsim.agents.export_onnx.player import OnnxPolicy, load_exported
from cgfsim.agents.networks import MASKED_LOGIT
from tests.export.helpers import Recording, make_policy, record

TOL = 1e-5
COMBOS = [(m, c) for m in ("vector", "grid", "entities") for c in ("mlp", "lstm")]


@pytest.mark.parametrize(("mode", "core"), COMBOS)
def test_logits_match_torch_over_episodes_with_resets(
    tmp_path: Path, recordings: dict[str, Recording], mode: str, core: str
) -> None:
    rec = recordings[mode]
    policy = make_policy(rec, core, layer_norm=core == "mlp", dropout=0.1 if core == "lstm" else 0)
    ck = save_checkpoint(tmp_path / "ck", policy, meta={"scenario": "duel", "side": "blue"})
    export_policy(ck, tmp_path / "ex")
    onnx_policy, spec, meta = load_exported(tmp_path / "ex")
    assert spec == policy.spec and meta["scenario"] == "duel"
    t, b = rec.start.shape
    assert rec.start[1:].any(axis=0).all(), "every world must restart inside the recording"
    obs, start, mask = (torch.as_tensor(x) for x in (rec.obs, rec.start, rec.mask))
    with torch.no_grad():
        want, _ = policy.forward_sequence(obs, policy.initial_state(b), start, mask)
    # the host's loop: one step at a time, state fed back, zeroed where an episode starts
    state = onnx_policy.initial_state(b)
    got = []
    for i in range(t):
        logits, actions, state = onnx_policy.logits(rec.obs[i], state, rec.start[i], rec.mask[i])
        assert (actions == logits.argmax(-1)).all()
        got.append(logits)
    got_a = np.stack(got)
    assert np.abs(got_a - want.numpy()).max() <= TOL
    assert (got_a[~rec.mask] == MASKED_LOGIT).all() and (got_a[rec.mask] > -1e3).all()
    # greedy actions agree step for step
    assert (got_a.argmax(-1) == want.numpy().argmax(-1)).all()


@pytest.mark.parametrize("mode", ["vector", "grid", "entities"])
def test_dynamic_batch_and_optional_mask(recordings: dict[str, Recording], mode: str) -> None:
    """One graph serves B = 1 and B = T*B at once; leaving the mask out allows everything."""
    rec = recordings[mode]
    policy = make_policy(rec, "mlp", seed=3)
    runner = OnnxPolicy.from_bytes(onnx_bytes(policy, rec.obs[0, :2]), policy.spec)
    flat = rec.obs.reshape(-1, *rec.obs.shape[2:])
    if mode == "entities":  # a world with no valid row (after annihilation) must not give NaN
        flat = np.concatenate([flat, np.zeros_like(flat[:1])])
    with torch.no_grad():
        want, _ = policy(torch.as_tensor(flat))
    got, actions, _ = runner.logits(flat)
    assert np.isfinite(got).all() and np.abs(got - want.numpy()).max() <= TOL
    one, _, _ = runner.logits(flat[:1])
    assert one.shape == (1, policy.spec.n_units, policy.spec.n_actions)
    assert np.abs(one - want.numpy()[:1]).max() <= TOL
    a, _ = runner.act(flat[5:7])
    assert (a == actions[5:7]).all()


def test_red_side_on_asymmetric_scenario(tmp_path: Path) -> None:
    """Defend is 5 v 8 (8 slots a side) with an objective: red's export has red's frame."""
    rec = record("defend", "vector", 8, n=4, side=1)
    policy = make_policy(rec, "lstm", seed=5)
    ck = save_checkpoint(tmp_path / "ck", policy, meta={"scenario": "defend", "side": "red"})
    contract = export_policy(ck, tmp_path / "ex")
    assert contract["frame"]["side"] == "red" and contract["frame"]["flip_rows"]
    sc = contract["scenario"]
    assert sc["slots"] == {"own": 8, "enemy": 8, "objectives": 1}
    assert sum(u["present"] for u in sc["own_units"]) == 8
    assert sum(u["present"] for u in sc["enemy_units"]) == 5
    assert contract["frame"]["engine_action_of_canonical"][:5] == [0, 3, 2, 1, 4]
    runner, _, _ = load_exported(tmp_path / "ex")
    obs, start = torch.as_tensor(rec.obs), torch.as_tensor(rec.start)
    with torch.no_grad():
        want, _ = policy.forward_sequence(obs, None, start)
    state = runner.initial_state(4)
    for i in range(len(rec.obs)):
        got, _, state = runner.logits(rec.obs[i], state, rec.start[i])
        assert np.abs(got - want[i].numpy()).max() <= TOL
