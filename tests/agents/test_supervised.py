"""The supervised loop of BC and DAgger: masked loss, LSTM padding, early stopping, history."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from cgfsim.agents import supervised as S
from cgfsim.agents.demos import Demo
from cgfsim.agents.networks import PolicySpec, build_policy
from cgfsim.sim.errors import CgfsimError

torch.set_num_threads(1)


def _demo(rng: np.random.Generator, T: int, D: int = 6, U: int = 2, A: int = 4) -> Demo:
    masks = rng.random((T, U, A)) < 0.7
    masks[..., 0] = True  # stay is always valid
    labels = np.where(rng.random((T, U)) < 0.5, 0, rng.integers(0, A, (T, U)))
    labels = np.where(np.take_along_axis(masks, labels[..., None], -1)[..., 0], labels, 0)
    return Demo(rng.random((T, D)).astype(np.float32), labels.astype(np.int64), masks)


def test_masked_loss_counts_decisions_only() -> None:
    logits = torch.zeros(1, 3, 4)
    labels = torch.tensor([[1, 0, 2]])
    masks = torch.tensor(
        [[[True, True, False, False], [True, False, False, False], [True, True, True, True]]]
    )
    s, c, _ = S.masked_ce(logits, labels, masks)
    # slot 1 has one valid action (a dead unit): not a decision; the others are uniform
    assert float(c) == 2.0
    assert float(s) == pytest.approx(np.log(2) + np.log(4))
    # labels the mask forbids are relabelled stay (their effect), and counted
    d = Demo(np.zeros((1, 3), np.float32), np.array([[2, 3]]), np.ones((1, 2, 4), bool))
    d.masks[0, 1, 3] = False
    assert S.clean_labels([d]) == 1 and d.labels.tolist() == [[2, 0]]


def test_lstm_loss_masks_padding() -> None:
    rng = np.random.default_rng(0)
    spec = PolicySpec("vector", (6,), 2, 4, core="lstm", hidden=(16,), lstm_hidden=8)
    pol = build_policy(spec, seed=0).eval()
    a, b = _demo(rng, 5), _demo(rng, 11)
    with torch.no_grad():
        sa, ca, _ = S.sequence_loss(pol, [a])  # unpadded
        sb, cb, _ = S.sequence_loss(pol, [b])
        s, c, _ = S.sequence_loss(pol, [a, b])  # a padded by 6 ticks
        assert float(c) == float(ca + cb)
        assert float(s) == pytest.approx(float(sa + sb), rel=1e-5)
        # whatever the padding holds, it does not count
        obs, labels, masks, valid = S.pad_episodes([a, b])
        junk = ~valid
        obs[junk] = torch.rand(int(junk.sum()), 6) * 5
        labels[junk] = 3
        logits, _ = S.sequence_logits(pol, obs)
        s2, c2, _ = S.masked_ce(logits, labels, masks, valid)
        assert float(s2) == pytest.approx(float(s), rel=1e-5) and float(c2) == float(c)
        # the one-pass sequence equals the policy's own step-by-step rollout
        starts = torch.zeros(obs.shape[0], 2)
        starts[0] = 1
        step, _ = pol.forward_sequence(obs, None, starts)
        torch.testing.assert_close(logits, step, rtol=1e-5, atol=1e-6)


def test_early_stopping_restores_the_best_epoch() -> None:
    """Train says action 1, validation says 1 or 2 half the time: its loss falls, then rises."""
    rng = np.random.default_rng(1)
    x = rng.random((64, 5)).astype(np.float32)
    masks = np.zeros((64, 1, 4), bool)
    masks[..., :3] = True
    train = [Demo(x, np.ones((64, 1), np.int64), masks)]
    val = [Demo(x, np.where(np.arange(64) % 2 == 0, 1, 2)[:, None].astype(np.int64), masks)]
    spec = PolicySpec("vector", (5,), 1, 4, hidden=(16,))
    pol = build_policy(spec, seed=0)
    hp = S.resolve_hparams({"epochs": 200, "patience": 8, "lr": 0.003, "batch_size": 64})
    res = S.fit(pol, train, val, hp)
    vl = [r["val_loss"] for r in res.history]
    assert res.stopped_early and len(vl) < 200
    best = int(np.argmin(vl)) + 1
    assert res.best_epoch == best and 1 < best == len(vl) - 8
    assert vl[-1] > vl[best - 1] + 0.005  # the validation loss did rise
    # the returned network is the best epoch's, the final state the last epoch's
    assert S.evaluate_loss(pol, val)[0] == pytest.approx(vl[best - 1], rel=1e-5)
    pol.load_state_dict(res.final_state)
    assert S.evaluate_loss(pol, val)[0] == pytest.approx(vl[-1], rel=1e-5)


@pytest.mark.parametrize(("core", "bptt"), [("mlp", 0), ("lstm", 0), ("lstm", 3)])
def test_fit_learns_and_prints_keras_lines(core: str, bptt: int) -> None:
    rng = np.random.default_rng(2)
    demos = [_demo(rng, int(rng.integers(4, 9))) for _ in range(24)]
    for d in demos:  # a learnable rule: unit i acts on whether feature i is above 0.5
        d.masks[:] = True
        d.labels[:, 0] = (d.obs[:, 0] > 0.5).astype(np.int64) + 1
        d.labels[:, 1] = 3 * (d.obs[:, 1] > 0.5)
    spec = PolicySpec("vector", (6,), 2, 4, core=core, hidden=(32,), lstm_hidden=16)
    pol = build_policy(spec, seed=0)
    lines: list[str] = []
    hp = S.resolve_hparams(
        {
            "epochs": 30,
            "patience": 30,
            "lr": 0.01,
            "bptt": bptt,
            "batch_size": 16 if core == "mlp" else 2,
        },
        core,
    )
    res = S.fit(pol, demos[:18], demos[18:], hp, say=lines.append)
    assert len(lines) == 30 and res.samples == 30 * sum(len(d) for d in demos[:18])
    num = r"\d\.\d{4}"
    pat = (
        rf"^Epoch 7/30 - \d+m?s - loss: {num} - accuracy: {num} - val_loss: {num} - "
        rf"val_accuracy: {num}$"
    )
    assert re.match(pat, lines[6]), lines[6]
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.history[res.best_epoch - 1]["val_accuracy"] > 0.85


def test_hparams_are_checked() -> None:
    assert S.resolve_hparams(None, "lstm")["batch_size"] == 16
    assert S.resolve_hparams(None, "mlp")["batch_size"] == 256
    for bad in ({"optimiser": "adam"}, {"optimizer": "lbfgs"}, {"lr": 0}, {"patience": 0}):
        with pytest.raises(CgfsimError):
            S.resolve_hparams(bad)
    for opt in ("adam", "rmsprop", "sgd"):
        pol = build_policy(PolicySpec("vector", (3,), 1, 2, hidden=(4,)), seed=0)
        o = S.make_optimizer(pol, S.resolve_hparams({"optimizer": opt, "weight_decay": 1e-4}))
        assert o.param_groups[0]["weight_decay"] == 1e-4
    with pytest.raises(CgfsimError, match="validation"):
        S.fit(
            build_policy(PolicySpec("vector", (6,), 2, 4), seed=0),
            [_demo(np.random.default_rng(0), 3)],
            [],
            S.resolve_hparams(None),
        )
