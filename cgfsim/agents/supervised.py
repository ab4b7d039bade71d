"""Supervised training of the shared CgfPolicy networks on labelled episodes (BC and DAgger).

The loss is the cross-entropy of the demonstrator's action per unit slot,
with the network's logits masked to the actions valid in that state (the
same -1e8 masking the policy uses when it acts). Two details make the numbers
honest:

- a label the mask forbids (a doctrine ordering a move into a cell its own
  unit holds) is relabelled ``stay``: an impossible order is a documented no-op,
  and ``stay`` is what it does;
- loss and accuracy count only *decisions*, unit slots with more than one
  valid action: a dead or absent unit can only ``stay``, and counting it would
  inflate accuracy for free.

``mlp`` policies train on shuffled transitions. ``lstm`` policies train on
whole episodes (a batch is padded to its longest episode and the padding is
masked out of the loss, so a padded and an unpadded batch give the same loss)
or, with ``bptt=L``, by truncated backpropagation through time in windows of L
ticks, carrying the (detached) state from window to window.

:func:`fit` is the training loop of every supervised learner here (BC and
DAgger): per-epoch validation, early stopping on validation loss with a
patience that restores the best epoch's weights, and a Keras-style history
(``Epoch 3/100 - 2s - loss: ... - accuracy: ... - val_loss: ... - val_accuracy: ...``)
written as CSV, JSON, a PNG plot and TensorBoard scalars.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cgfsim.agents.demos import Demo
from cgfsim.agents.hparams import check_values
from cgfsim.agents.networks import MASKED_LOGIT, CgfPolicy, PolicySpec
from cgfsim.agents.runs import write_csv_rows, write_json
from cgfsim.sim.errors import CgfsimError

#: Defaults of every supervised learner; ``hparams`` / ``--set key=value`` override them.
DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",  # adam | rmsprop | sgd (momentum 0.9)
    "lr": 1e-3,
    "batch_size": None,  # transitions (mlp, default 256) or sequences (lstm, default 16)
    "epochs": 100,
    "weight_decay": 0.0,  # L2 penalty (the optimiser's weight_decay)
    "patience": 10,  # early stopping: epochs without a better validation loss
    "min_delta": 0.0,  # improvement that counts as better
    "restore_best": True,  # end on the best validation epoch's weights (False: the last epoch's)
    "bptt": 0,  # lstm: 0 trains on whole episodes, L > 0 truncated BPTT windows of L ticks
    "grad_clip": 1.0,  # max gradient norm (0: none)
    "hidden": [128, 128],
    "activation": None,  # tanh (mlp) or relu (lstm, see resolve_hparams)
    "dropout": 0.0,  # one rate for every hidden layer, or a list with one per layer
    "layer_norm": False,
    "lstm_hidden": 128,
    "features_dim": 128,
    "cnn_channels": [32, 64],
    "embed_dim": 64,
    "attn_heads": 4,
    "attn_layers": 1,
    "torch_threads": 1,
}
POLICY_KEYS = (
    "hidden",
    "activation",
    "dropout",
    "layer_norm",
    "lstm_hidden",
    "features_dim",
    "cnn_channels",
    "embed_dim",
    "attn_heads",
    "attn_layers",
)
OPTIMIZERS = ("adam", "rmsprop", "sgd")
STAY = 0


def resolve_hparams(
    hparams: dict[str, Any] | None, policy: str = "mlp", extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """DEFAULTS (plus a learner's ``extra`` defaults) updated by ``hparams``; checked."""
    base = {**copy.deepcopy(DEFAULTS), **(extra or {})}
    unknown = sorted(set(hparams or {}) - set(base))
    if unknown:
        raise CgfsimError(f"unknown hyperparameters {unknown}; expected {sorted(base)}")
    # dropout: one number or a list of numbers, one per hidden layer (checked below)
    ref = {**base, "batch_size": 256, "activation": "tanh", "dropout": None}
    check_values(hparams or {}, ref, "BC")
    hp = {**base, **(hparams or {})}
    if hp["batch_size"] is None:
        hp["batch_size"] = 16 if policy == "lstm" else 256
    if hp["activation"] is None:
        # The LSTM core's outputs start small (gates near 0.5 times tanh of small inputs);
        # tanh layers on them act almost linearly and BC-LSTM stalled on Duel (training
        # loss 0.24 vs 0.08 for the MLP). ReLU (or layer_norm) layers learn from them.
        hp["activation"] = "relu" if policy == "lstm" else "tanh"
    for k in ("batch_size", "epochs", "patience", "bptt", "torch_threads"):
        hp[k] = int(hp[k])
    for k in ("lr", "weight_decay", "min_delta", "grad_clip"):
        hp[k] = float(hp[k])
    d = hp["dropout"]
    if not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
        for x in (d if isinstance(d, list | tuple) else [d])
    ):
        raise CgfsimError(
            f"BC hyperparameter dropout={d!r}: expected a number, or a list of numbers "
            "(one per hidden layer)"
        )
    hp["dropout"] = [float(x) for x in d] if isinstance(d, list | tuple) else float(d)
    if not isinstance(hp["restore_best"], bool):
        raise CgfsimError(f"restore_best must be true or false, got {hp['restore_best']!r}")
    if hp["optimizer"] not in OPTIMIZERS:
        raise CgfsimError(f"optimizer must be one of {OPTIMIZERS}, got {hp['optimizer']!r}")
    if hp["batch_size"] < 1 or hp["epochs"] < 1 or hp["patience"] < 1 or hp["bptt"] < 0:
        raise CgfsimError("batch_size, epochs and patience must be >= 1 and bptt >= 0")
    if not hp["lr"] > 0 or hp["weight_decay"] < 0:
        raise CgfsimError(
            f"lr must be > 0 and weight_decay >= 0, got {hp['lr']}, {hp['weight_decay']}"
        )
    hp["hidden"] = [int(h) for h in np.atleast_1d(hp["hidden"])]
    hp["cnn_channels"] = [int(c) for c in np.atleast_1d(hp["cnn_channels"])]
    rates = hp["dropout"] if isinstance(hp["dropout"], list) else [hp["dropout"]]
    if isinstance(hp["dropout"], list) and len(rates) != len(hp["hidden"]):
        raise CgfsimError(
            f"dropout lists one rate per hidden layer: hidden {hp['hidden']} has "
            f"{len(hp['hidden'])}, dropout {rates} has {len(rates)}"
        )
    if not all(0.0 <= r < 1.0 for r in rates):
        raise CgfsimError(f"dropout must be in [0, 1), got {hp['dropout']}")
    return hp


def policy_spec(
    obs_mode: str,
    obs_shape: Sequence[int],
    n_units: int,
    n_actions: int,
    core: str,
    hp: dict[str, Any],
) -> PolicySpec:
    return PolicySpec(
        obs_mode,
        tuple(obs_shape),
        n_units,
        n_actions,
        core=core,
        **{k: hp[k] for k in POLICY_KEYS},
    )


# --------------------------------------------------------------------------- data


def clean_labels(demos: Sequence[Demo]) -> int:
    """Relabel labels the mask forbids as ``stay`` (their effect), in place; returns how many."""
    n = 0
    for d in demos:
        ok = np.take_along_axis(d.masks, d.labels[..., None], -1)[..., 0]
        if not ok.all():
            n += int((~ok).sum())
            d.labels = np.where(ok, d.labels, STAY)
    return n


@dataclass
class Flat:
    """Transitions of many episodes stacked: what mlp policies train on."""

    obs: Tensor  # (N, *obs_shape)
    labels: Tensor  # (N, U) int64
    masks: Tensor  # (N, U, A) bool

    @classmethod
    def of(cls, demos: Sequence[Demo]) -> Flat:
        return cls(
            torch.from_numpy(np.concatenate([d.obs for d in demos])),
            torch.from_numpy(np.concatenate([d.labels for d in demos])),
            torch.from_numpy(np.concatenate([d.masks for d in demos])),
        )

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def pad_episodes(demos: Sequence[Demo]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Time-major padded batch: obs (L, B, ...), labels (L, B, U), masks (L, B, U, A), valid (L, B).

    Padding rows repeat nothing: zero observations, label ``stay``, and a mask that
    allows every action, all excluded from the loss by ``valid``.
    """
    L, B = max(len(d) for d in demos), len(demos)
    d0 = demos[0]
    obs = np.zeros((L, B, *d0.obs.shape[1:]), np.float32)
    labels = np.zeros((L, B, d0.labels.shape[1]), np.int64)
    masks = np.ones((L, B, *d0.masks.shape[1:]), bool)
    valid = np.zeros((L, B), bool)
    for b, d in enumerate(demos):
        T = len(d)
        obs[:T, b], labels[:T, b], masks[:T, b], valid[:T, b] = d.obs, d.labels, d.masks, True
    return tuple(torch.from_numpy(a) for a in (obs, labels, masks, valid))  # type: ignore[return-value]


# --------------------------------------------------------------------------- loss


def masked_ce(
    logits: Tensor, labels: Tensor, masks: Tensor, valid: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """(sum of cross-entropies, decisions counted, correct argmaxes) over decision slots.

    ``logits`` (..., U, A), ``labels`` (..., U), ``masks`` (..., U, A) true = allowed,
    ``valid`` (...) false for padding. A slot counts when its unit has more than one
    valid action and its step is valid.
    """
    logits = torch.where(masks, logits, torch.full_like(logits, MASKED_LOGIT))
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    w = masks.sum(-1) > 1
    if valid is not None:
        w = w & valid.unsqueeze(-1)
    wf = w.to(nll.dtype)
    correct = ((logits.argmax(-1) == labels) & w).sum()
    return (nll * wf).sum(), wf.sum(), correct


def sequence_logits(policy: CgfPolicy, obs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Logits (L, B, U, A) of whole sequences that start at an episode's first tick.

    The same computation as :meth:`CgfPolicy.forward_sequence` without episode
    starts inside the sequence, with the LSTM run once over the window.
    """
    L, B = obs.shape[:2]
    x = policy.encoder(obs.reshape(L * B, *obs.shape[2:])).view(L, B, -1)
    if policy.lstm is not None:
        if state is None:
            state = policy.initial_state(B)
        x, state = policy.lstm(x, state)
    out = policy.action_net(policy.pi(x.reshape(L * B, -1)))
    return out.view(L, B, policy.spec.n_units, policy.spec.n_actions), state


def sequence_loss(policy: CgfPolicy, demos: Sequence[Demo]) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`masked_ce` of a padded batch of whole episodes (padding excluded)."""
    obs, labels, masks, valid = pad_episodes(demos)
    logits, _ = sequence_logits(policy, obs)
    return masked_ce(logits, labels, masks, valid)


@torch.no_grad()
def evaluate_loss(
    policy: CgfPolicy, demos: Sequence[Demo], batch: int = 4096
) -> tuple[float, float, int]:
    """(mean loss, accuracy, decisions) of ``policy`` on ``demos``, in eval mode."""
    was = policy.training
    policy.eval()
    tot = cnt = cor = 0.0
    try:
        if policy.recurrent:
            for i in range(0, len(demos), 64):
                s, c, k = sequence_loss(policy, demos[i : i + 64])
                tot, cnt, cor = tot + float(s), cnt + float(c), cor + float(k)
        else:
            data = Flat.of(demos)
            for i in range(0, len(data), batch):
                sl = slice(i, i + batch)
                logits, _ = policy(data.obs[sl])
                s, c, k = masked_ce(logits, data.labels[sl], data.masks[sl])
                tot, cnt, cor = tot + float(s), cnt + float(c), cor + float(k)
    finally:
        policy.train(was)
    return tot / max(cnt, 1.0), cor / max(cnt, 1.0), int(cnt)


# --------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0  # 1-based, as printed: the epoch whose weights the policy ends with
    stopped_early: bool = False
    samples: int = 0  # labelled transitions presented, over all epochs
    wall_s: float = 0.0
    final_state: dict[str, Tensor] = field(default_factory=dict)  # last epoch's weights


def make_optimizer(policy: nn.Module, hp: dict[str, Any]) -> torch.optim.Optimizer:
    kw = {"lr": hp["lr"], "weight_decay": hp["weight_decay"]}
    if hp["optimizer"] == "adam":
        return torch.optim.Adam(policy.parameters(), **kw)
    if hp["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(policy.parameters(), **kw)
    return torch.optim.SGD(policy.parameters(), momentum=0.9, **kw)


def _step(opt: torch.optim.Optimizer, policy: nn.Module, loss: Tensor, clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(policy.parameters(), clip)
    opt.step()


def _train_epoch(
    policy: CgfPolicy,
    opt: torch.optim.Optimizer,
    train: Sequence[Demo],
    flat: Flat | None,
    hp: dict[str, Any],
    gen: torch.Generator,
) -> tuple[float, float, int]:
    """One pass over the training data; returns (mean loss, accuracy, samples) as seen."""
    policy.train()
    tot = cnt = cor = 0.0
    n_samples = 0
    bs = hp["batch_size"]
    if flat is not None:
        perm = torch.randperm(len(flat), generator=gen)
        for i in range(0, len(flat), bs):
            idx = perm[i : i + bs]
            logits, _ = policy(flat.obs[idx])
            s, c, k = masked_ce(logits, flat.labels[idx], flat.masks[idx])
            _step(opt, policy, s / c.clamp(min=1.0), hp["grad_clip"])
            tot, cnt, cor = tot + float(s.detach()), cnt + float(c), cor + float(k)
            n_samples += len(idx)
        return tot / max(cnt, 1.0), cor / max(cnt, 1.0), n_samples
    order = torch.randperm(len(train), generator=gen).tolist()
    for i in range(0, len(order), bs):
        batch = [train[j] for j in order[i : i + bs]]
        obs, labels, masks, valid = pad_episodes(batch)
        window = hp["bptt"] or obs.shape[0]
        state = None
        for a in range(0, obs.shape[0], window):
            sl = slice(a, a + window)
            logits, state = sequence_logits(policy, obs[sl], state)
            s, c, k = masked_ce(logits, labels[sl], masks[sl], valid[sl])
            if float(c) > 0:
                _step(opt, policy, s / c, hp["grad_clip"])
            state = (state[0].detach(), state[1].detach())
            tot, cnt, cor = tot + float(s.detach()), cnt + float(c), cor + float(k)
        n_samples += int(valid.sum())
    return tot / max(cnt, 1.0), cor / max(cnt, 1.0), n_samples


def keras_line(row: dict[str, float], epochs: int) -> str:
    """``Epoch 3/100 - 2s - loss: 0.7424 - accuracy: 0.7050 - val_loss: ... - val_accuracy: ...``"""
    secs = row["time_s"]
    t = f"{secs:.0f}s" if secs >= 1 else f"{secs * 1000:.0f}ms"
    return (
        f"Epoch {int(row['epoch'])}/{epochs} - {t} - loss: {row['loss']:.4f} - accuracy: "
        f"{row['accuracy']:.4f} - val_loss: {row['val_loss']:.4f} - val_accuracy: "
        f"{row['val_accuracy']:.4f}"
    )


def fit(
    policy: CgfPolicy,
    train: Sequence[Demo],
    val: Sequence[Demo],
    hp: dict[str, Any],
    seed: int = 0,
    say: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``policy`` in place; on return it holds the best validation epoch's weights.

    Stops after ``epochs`` or when the validation loss has not improved by
    ``min_delta`` for ``patience`` epochs (Keras' ``EarlyStopping(restore_best_weights=True)``).
    With ``restore_best`` false it keeps the last epoch's weights instead: a validation
    set of a few dozen labels (DAgger's early rounds) is too noisy to pick an epoch, and
    picking epoch 1 or 2 of a warm-started net throws the new labels away.
    """
    if not train:
        raise CgfsimError("behaviour cloning needs at least one training episode")
    if not val:
        raise CgfsimError("behaviour cloning needs at least one validation episode")
    res = FitResult()
    gen = torch.Generator().manual_seed(int(seed))
    flat = None if policy.recurrent else Flat.of(train)
    opt = make_optimizer(policy, hp)
    best_loss, best_state, wait = math.inf, copy.deepcopy(policy.state_dict()), 0
    t_start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))  # dropout masks
        for epoch in range(1, hp["epochs"] + 1):
            t0 = time.perf_counter()
            loss, acc, n = _train_epoch(policy, opt, train, flat, hp, gen)
            val_loss, val_acc, _ = evaluate_loss(policy, val)
            res.samples += n
            row = {
                "epoch": epoch,
                "loss": loss,
                "accuracy": acc,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "time_s": time.perf_counter() - t0,
            }
            res.history.append(row)
            if say is not None:
                say(keras_line(row, hp["epochs"]))
            if on_epoch is not None:
                on_epoch(row)
            if val_loss < best_loss - hp["min_delta"]:
                best_loss, res.best_epoch, wait = val_loss, epoch, 0
                best_state = copy.deepcopy(policy.state_dict())
            else:
                wait += 1
                if wait >= hp["patience"]:
                    res.stopped_early = epoch < hp["epochs"]
                    break
    res.final_state = copy.deepcopy(policy.state_dict())
    if hp.get("restore_best", True):
        policy.load_state_dict(best_state)
    else:
        res.best_epoch = len(res.history)
    policy.eval()
    res.wall_s = time.perf_counter() - t_start
    return res


# --------------------------------------------------------------------------- history files


def tb_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard missing: the history stays in CSV/JSON
        return None
    return SummaryWriter(str(run_dir / "tb"))


def write_history(run_dir: Path, res: FitResult, title: str) -> None:
    """``history.csv``, ``history.json`` and ``history.png`` (loss and accuracy curves)."""
    rows = [
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in res.history
    ]
    write_csv_rows(run_dir / "history.csv", rows)
    write_json(
        run_dir / "history.json",
        {"best_epoch": res.best_epoch, "stopped_early": res.stopped_early, "history": rows},
    )
    plot_history(run_dir / "history.png", res.history, res.best_epoch, title)


def plot_history(
    path: Path, history: Sequence[dict[str, float]], best_epoch: int, title: str
) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cgfsim.agents.runs import atomic_write_bytes

    ep = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, name in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(ep, [r[key] for r in history], label=f"train {name}")
        ax.plot(ep, [r[f"val_{key}"] for r in history], label=f"validation {name}")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
