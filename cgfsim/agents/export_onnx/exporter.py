"""Export a ``CgfPolicy`` checkpoint to ``policy.onnx`` + ``contract.json``.

Every learner (PPO, A2C, RecurrentPPO, MaskablePPO, GA, BC, DAgger) saves the
same checkpoint format, so one exporter serves them all. The graph is the
policy's own ``forward`` traced by torch's TorchScript-based exporter
(``dynamo=False``: it needs no onnxscript and handles every encoder x core
here); around it the exporter adds

- the LSTM's hidden and cell state as explicit inputs ``h``, ``c`` and
  outputs ``h_out``, ``c_out`` of shape (batch, hidden), so the host keeps
  the memory (and zeroes it when a world's episode starts);
- ``action_mask`` (bool, (batch, units, actions)) as an *optional* input: an
  overridable initializer that defaults to "all allowed", applied to the
  logits as the policy does (-1e8 where forbidden);
- ``actions``: the greedy action per unit, so a host needs no argmax;
- a dynamic batch axis on every input and output.

Before anything is written, ONNX Runtime runs the graph on observations of
the scenario and must reproduce torch's logits; the files are written into a
temporary sibling folder that is renamed into place, so an interrupted
export leaves the old folder or the new one, never a mixture.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cgfsim.agents.checkpoints import WEIGHTS, check_compatible, load_checkpoint
from cgfsim.agents.export_onnx.contract import (
    CONTRACT,
    FORMAT,
    META_DIGEST,
    MODEL,
    SIDES,
    VERSION,
    ExportError,
    action_table,
    frame_contract,
    io_contract,
    observation_contract,
    scenario_contract,
)
from cgfsim.agents.networks import MASKED_LOGIT, CgfPolicy
from cgfsim.agents.runs import to_json

#: Opsets the export is tested with: 14 is the oldest with every op used here; 20 is the
#: newest torch's TorchScript exporter writes.
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 14, 20, 17
#: Largest |ONNX Runtime - torch| logit difference accepted by the post-export check.
CHECK_TOL = 1e-4


class _Graph(nn.Module):
    """The exported function: the policy's forward with explicit state, mask and argmax."""

    def __init__(self, policy: CgfPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self, obs: Tensor, mask: Tensor, h: Tensor | None = None, c: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        state = None if h is None or c is None else (h.unsqueeze(0), c.unsqueeze(0))
        logits, nxt = self.policy(obs, state)
        # broadcasting (not the policy's reshape) lets the (1, U, A) default mask serve any batch
        logits = torch.where(mask, logits, torch.full_like(logits, MASKED_LOGIT))
        actions = logits.argmax(-1)
        if nxt is None:
            return logits, actions
        return logits, actions, nxt[0].squeeze(0), nxt[1].squeeze(0)


def _pool_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_out, n_in) adaptive-pooling means: bin i is [floor(i n / o), ceil((i + 1) n / o))."""
    m = torch.zeros(n_out, n_in)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


class _AdaptiveAvgPool(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two matmuls, exportable for any map size.

    Torch's exporter handles adaptive pooling only when the output divides the
    input (24x24 maps do, a 9x11 map does not); the mean over a rectangle is
    separable, so rows-then-columns averaging matrices give the same numbers.
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        o = output_size if isinstance(output_size, tuple) else (output_size, output_size)
        self.out = (int(o[0]), int(o[1]))

    def forward(self, x: Tensor) -> Tensor:
        ph = _pool_matrix(int(x.shape[-2]), self.out[0]).to(x.dtype)
        pw = _pool_matrix(int(x.shape[-1]), self.out[1]).to(x.dtype)
        return torch.matmul(torch.matmul(ph, x), pw.t())


def exportable(policy: CgfPolicy) -> CgfPolicy:
    """An eval-mode copy of ``policy`` whose adaptive pooling layers export at any map size."""
    net = copy.deepcopy(policy).eval()
    for module in net.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d):
                setattr(module, name, _AdaptiveAvgPool(child.output_size))
    return net


def check_opset(opset: int) -> int:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"--opset must be an integer in {MIN_OPSET}..{MAX_OPSET}, got {opset}")
    return opset


def check_out(out: Path, force: bool, checkpoint: Path) -> None:
    """Refuse an output that is a file, non-empty without ``force``, or holds the checkpoint."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    ck, o = checkpoint.resolve(), out.resolve()
    if o == ck or o in ck.parents:
        raise ExportError(f"--out {out} would replace the checkpoint {checkpoint}; choose another")
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(f"--out {out} exists and is not empty (use --force to replace it)")


def onnx_bytes(
    policy: CgfPolicy,
    example: np.ndarray,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """Trace ``policy`` (eval mode) on ``example`` observations into an ONNX model (bytes).

    ``metadata`` goes into the model's ``metadata_props`` (ONNX Runtime's
    ``custom_metadata_map``).
    """
    import onnx
    from onnx import numpy_helper

    spec = policy.spec
    u, a = spec.n_units, spec.n_actions
    b = len(example)
    args: tuple[Tensor, ...] = (
        torch.as_tensor(example, dtype=torch.float32),
        torch.ones(b, u, a, dtype=torch.bool),
    )
    names_in, names_out = ["obs", "action_mask"], ["logits", "actions"]
    if spec.core == "lstm":
        z = torch.zeros(b, spec.lstm_hidden)
        args += (z, z.clone())
        names_in += ["h", "c"]
        names_out += ["h_out", "c_out"]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    net = exportable(policy)
    try:
        # an eval-mode TransformerEncoderLayer would take its fused fast path
        # (aten::_transformer_encoder_layer_fwd), which has no ONNX export
        torch.backends.mha.set_fastpath_enabled(False)
        with warnings.catch_warnings(), torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
            # the TorchScript-based exporter is deprecated in favour of dynamo (which needs
            # onnxscript); it is kept deliberately and its warnings are expected
            warnings.simplefilter("ignore")
            f = Path(tmp) / MODEL
            torch.onnx.export(
                _Graph(net),
                args,
                f,
                dynamo=False,
                input_names=names_in,
                output_names=names_out,
                dynamic_axes={n: {0: "batch"} for n in names_in + names_out},
                opset_version=opset,
                do_constant_folding=True,
            )
            raw = f.read_bytes()
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"torch cannot export this policy to ONNX opset {opset}: {msg}") from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    model = onnx.load_from_string(raw)
    # the mask becomes optional: an initializer with the same name is its default value
    model.graph.initializer.append(
        numpy_helper.from_array(np.ones((1, u, a), dtype=bool), "action_mask")
    )
    model.doc_string = (
        f"cgfsim CgfPolicy ({spec.obs_mode} encoder, {spec.core} core): {u} units x {a} actions"
    )
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(data: bytes, policy: CgfPolicy, obs: np.ndarray) -> float:
    """Largest |ONNX Runtime - torch| logit over ``obs`` (fresh state); raises if too large."""
    from cgfsim.agents.export_onnx.player import OnnxPolicy

    runner = OnnxPolicy.from_bytes(data, policy.spec)
    got = runner.logits(obs, runner.initial_state(len(obs)))[0]
    with torch.no_grad():
        want, _ = policy(torch.as_tensor(obs), policy.initial_state(len(obs)))
    err = float(np.abs(got - want.numpy()).max())
    if not err <= CHECK_TOL:
        raise ExportError(
            f"export check failed: ONNX Runtime's logits differ from torch's by {err:.3g}"
        )
    return err


def _sample_observations(scenario: Any, side: int, mode: str, n: int = 4) -> np.ndarray:
    """Observations of ``n`` demo-split worlds at reset and a few ticks in (trace and check)."""
    from cgfsim.envs.batched import BatchedCommanderEnv
    from cgfsim.sim.splits import world_keys

    env = BatchedCommanderEnv(scenario, n, side=side, opponent="assault", obs=mode)
    first = np.asarray(env.reset(world_keys("demo", 0, n))).copy()
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs = np.asarray(env.step(rng.integers(0, env.n_actions, (n, env.n_own)))[0])
    return np.concatenate([first[: n // 2], obs[: n - n // 2]]).astype(np.float32)


def _write_folder(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temp sibling folder, then rename it into place at ``out``.

    A previous folder at ``out`` is moved aside first and deleted after the swap (put
    back if the swap fails), so ``out`` is always a whole export or absent; a process
    killed between the two renames leaves the old export in ``.<out>.*.old``.
    """
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    old: Path | None = None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "x").exists() and not out.exists():
            os.rename(old / "x", out)  # put the previous export back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_policy(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    opset: int = DEFAULT_OPSET,
    scenario: Any = None,
    side: str | None = None,
) -> dict[str, Any]:
    """Export a checkpoint folder to ``out`` (``policy.onnx`` + ``contract.json``).

    ``scenario`` and ``side`` default to the checkpoint's (its ``meta``); the
    contract's observation layout is that scenario's. Every check (opset,
    checkpoint, scenario fit, output folder) runs before anything is written.
    Returns the contract.
    """
    from cgfsim.envs._common import get_scenario

    check_opset(opset)
    ck = Path(checkpoint)
    outp = Path(out)
    policy, spec, meta = load_checkpoint(ck)  # corrupted or foreign: CheckpointError
    ck_dir = ck.parent if ck.is_file() else ck
    check_out(outp, force, ck_dir)
    sc_name = scenario if scenario is not None else meta.get("scenario")
    if sc_name is None:
        raise ExportError(f"checkpoint {ck}: names no scenario; pass --scenario")
    sc = get_scenario(sc_name)
    side_name = str(side or meta.get("side") or "blue").lower()
    if side_name not in SIDES:
        raise ExportError(f"side must be 'blue' or 'red', got {side_name!r}")
    side_i = SIDES.index(side_name)
    obs_doc = observation_contract(sc, side_i, spec.obs_mode)
    import gymnasium as gym

    n_actions = len(action_table(obs_doc["scales"]["enemy_slots"]))
    check_compatible(
        spec,
        gym.spaces.Box(-1, 1, tuple(obs_doc["shape"]), np.float32),
        gym.spaces.MultiDiscrete([n_actions] * obs_doc["scales"]["own_slots"]),
        where=f"checkpoint {ck} on {sc.name} ({side_name})",
    )
    weights = (ck_dir / WEIGHTS).read_bytes()
    digest = _digest(weights)
    sample = _sample_observations(sc, side_i, spec.obs_mode)
    data = onnx_bytes(
        policy, sample[:3], opset, {META_DIGEST: digest, "cgfsim.contract_format": FORMAT}
    )
    err = _verify(data, policy, sample)
    inputs, outputs = io_contract(spec)
    contract = {
        "format": FORMAT,
        "version": VERSION,
        "model": {
            "file": MODEL,
            "sha256": _digest(data),
            "opset": opset,
            "exporter": f"torch {torch.__version__} (TorchScript-based, dynamo=False)",
            "check_max_abs_logit_error": err,
        },
        "checkpoint": {
            "path": Path(os.path.relpath(ck_dir.resolve(), outp.resolve())).as_posix(),
            "weights_sha256": digest,
            "spec": spec.to_dict(),
            "meta": meta,
        },
        "policy": {
            "obs_mode": spec.obs_mode,
            "core": spec.core,
            "recurrent": spec.core == "lstm",
            "n_units": spec.n_units,
            "n_actions": spec.n_actions,
            "lstm_hidden": spec.lstm_hidden if spec.core == "lstm" else None,
        },
        "inputs": inputs,
        "outputs": outputs,
        "scenario": scenario_contract(sc, side_i),
        "frame": frame_contract(side_i, spec.n_actions, sc.height),
        "actions": action_table(obs_doc["scales"]["enemy_slots"]),
        "observation": obs_doc,
    }
    _write_folder(outp, {MODEL: data, CONTRACT: (to_json(contract) + "\n").encode()})
    return contract
