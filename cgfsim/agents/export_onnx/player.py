"""Run an exported folder through ONNX Runtime with :class:`CgfPolicy`'s acting interface.

:class:`OnnxPolicy` has the ``spec``, ``initial_state`` and ``act`` that
evaluation, ``policy_opponent`` and the CLI use, so ``cgfsim evaluate`` and
``cgfsim play`` take an exported folder wherever they take a checkpoint; the
network then runs in ONNX Runtime, exactly as a host simulator would run it.

:func:`load_exported` refuses a folder whose ``policy.onnx`` does not match
the digest in its ``contract.json``, whose model names another checkpoint
than the contract, or whose source checkpoint (when it is still where the
contract says) now holds other weights than were exported.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from cgfsim.agents.checkpoints import WEIGHTS
from cgfsim.agents.export_onnx.contract import (
    CONTRACT,
    META_DIGEST,
    MODEL,
    ExportError,
    read_contract,
)
from cgfsim.agents.networks import PolicySpec
from cgfsim.sim.errors import CgfsimError

#: (h, c), each (batch, lstm_hidden) float32; ``None`` for an mlp core.
NumpyState = tuple[np.ndarray, np.ndarray] | None


def _session(data: bytes, threads: int = 1) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - the onnx extra is part of dev
        raise CgfsimError(
            "running an exported policy needs onnxruntime: pip install 'cgfsim[onnx]'"
        ) from None
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # the optional mask is an overridable initializer: ORT warns
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


class OnnxPolicy:
    """A :class:`~cgfsim.agents.networks.CgfPolicy` exported to ONNX, run by ONNX Runtime.

    LSTM state is numpy ``(h, c)`` of shape (batch, hidden): the host's memory, zeroed
    per world when ``episode_start`` flags the first step of its episode.
    """

    def __init__(
        self,
        session: Any,
        spec: PolicySpec,
        contract: dict[str, Any] | None = None,
        folder: Path | None = None,
    ) -> None:
        self.session = session
        self.spec = spec
        self.contract = contract or {}
        self.folder = folder

    @classmethod
    def from_bytes(cls, data: bytes, spec: PolicySpec, threads: int = 1) -> OnnxPolicy:
        return cls(_session(data, threads), spec)

    @property
    def recurrent(self) -> bool:
        return self.spec.core == "lstm"

    def initial_state(self, batch: int) -> NumpyState:
        if not self.recurrent:
            return None
        z = np.zeros((batch, self.spec.lstm_hidden), np.float32)
        return (z, z.copy())

    def logits(
        self,
        obs: np.ndarray,
        state: NumpyState = None,
        episode_start: np.ndarray | None = None,
        action_mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, NumpyState]:
        """One step for a batch: logits (B, U, A), greedy actions (B, U), next state."""
        x = np.ascontiguousarray(obs, dtype=np.float32)
        b = len(x)
        feed: dict[str, np.ndarray] = {"obs": x}
        if action_mask is not None:
            shape = (b, self.spec.n_units, self.spec.n_actions)
            feed["action_mask"] = np.asarray(action_mask, dtype=bool).reshape(shape)
        if self.recurrent:
            h, c = state if state is not None else self.initial_state(b)  # type: ignore[misc]
            if episode_start is not None:
                keep = ~np.asarray(episode_start, dtype=bool).reshape(b, 1)
                h, c = h * keep, c * keep
            feed["h"] = np.ascontiguousarray(h, dtype=np.float32)
            feed["c"] = np.ascontiguousarray(c, dtype=np.float32)
            logits, actions, h2, c2 = self.session.run(None, feed)
            return logits, actions, (h2, c2)
        logits, actions = self.session.run(None, feed)
        return logits, actions, None

    def act(
        self,
        obs: np.ndarray,
        state: NumpyState = None,
        episode_start: np.ndarray | None = None,
        action_mask: np.ndarray | None = None,
        deterministic: bool = True,
        generator: Any = None,
    ) -> tuple[np.ndarray, NumpyState]:
        """Actions (B, U) int64 for a batch (B, ...), as :meth:`CgfPolicy.act` gives them.

        Sampling draws with torch's generator from the softmax of the ONNX logits, the
        same draw :meth:`CgfPolicy.act` makes, so a seeded evaluation samples alike.
        """
        logits, actions, state = self.logits(obs, state, episode_start, action_mask)
        if not deterministic:
            import torch

            probs = torch.softmax(torch.from_numpy(logits).view(-1, self.spec.n_actions), dim=-1)
            drawn = torch.multinomial(probs, 1, generator=generator)
            actions = drawn.view(logits.shape[:2]).numpy()
        return np.asarray(actions, dtype=np.int64), state

    def eval(self) -> OnnxPolicy:  # the CgfPolicy interface; an exported graph is eval-only
        return self

    def __repr__(self) -> str:
        where = f" from {self.folder}" if self.folder else ""
        return f"OnnxPolicy({self.spec.core}-{self.spec.obs_mode}{where})"


def is_exported(path: str | os.PathLike[str]) -> bool:
    """True for a folder holding a ``contract.json`` (an exported policy, maybe a broken one)."""
    p = Path(path)
    return p.is_dir() and (p / CONTRACT).exists()


def spec_of(contract: dict[str, Any], where: str = CONTRACT) -> PolicySpec:
    """The :class:`PolicySpec` recorded in a contract (one-line error if it is damaged)."""
    raw = contract.get("checkpoint", {}).get("spec")
    if not isinstance(raw, dict):
        raise ExportError(f"{where}: {CONTRACT} has no checkpoint spec")
    try:
        return PolicySpec.from_dict(dict(raw))
    except (CgfsimError, TypeError) as e:
        raise ExportError(f"{where}: bad checkpoint spec in {CONTRACT} ({e})") from None


def load_exported(
    folder: str | os.PathLike[str], threads: int = 1
) -> tuple[OnnxPolicy, PolicySpec, dict[str, Any]]:
    """An exported folder as ``(OnnxPolicy, spec, meta)``, like ``load_checkpoint`` gives.

    Checks, each a one-line :class:`ExportError`: the contract is a readable cgfsim
    contract; ``policy.onnx`` is there and its SHA-256 is the contract's; the model was
    exported from the checkpoint the contract names; and, when that checkpoint is still
    at the recorded (relative) path, it still holds the exported weights.
    """
    d = Path(folder)
    where = f"exported folder {d}"
    contract = read_contract(d)
    f = d / MODEL
    if not f.is_file():
        raise ExportError(f"{where}: {MODEL} is missing")
    data = f.read_bytes()
    want = str(contract.get("model", {}).get("sha256", ""))
    if hashlib.sha256(data).hexdigest() != want:
        raise ExportError(
            f"{where}: {MODEL} does not match the digest in {CONTRACT} "
            "(corrupted or replaced; export again)"
        )
    ck = contract.get("checkpoint", {})
    digest = str(ck.get("weights_sha256", ""))
    spec = spec_of(contract, where)
    try:
        session = _session(data, threads)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{where}: ONNX Runtime cannot load {MODEL}: {msg}") from None
    model_digest = session.get_modelmeta().custom_metadata_map.get(META_DIGEST)
    if model_digest != digest:
        raise ExportError(
            f"{where}: {MODEL} was exported from checkpoint weights {str(model_digest)[:12]}, "
            f"{CONTRACT} describes {digest[:12]}"
        )
    src = d / str(ck.get("path", ""))
    if ck.get("path") and (src / WEIGHTS).is_file():
        now = hashlib.sha256((src / WEIGHTS).read_bytes()).hexdigest()
        if now != digest:
            raise ExportError(
                f"{where} does not match its checkpoint {os.path.normpath(src)}: exported "
                f"from weights {digest[:12]}, the checkpoint now holds {now[:12]} "
                "(export again with --force)"
            )
    shape = [i.shape for i in session.get_inputs() if i.name == "obs"]
    if not shape or tuple(shape[0][1:]) != spec.obs_shape:
        raise ExportError(f"{where}: {MODEL}'s obs input does not fit the spec in {CONTRACT}")
    meta = dict(ck.get("meta") or {})
    meta.setdefault("scenario", contract.get("scenario", {}).get("name"))
    meta.setdefault("side", contract.get("frame", {}).get("side"))
    return OnnxPolicy(session, spec, contract, d), spec, meta
