"""The one checkpoint format of every learner: ``policy.pt`` + ``policy.json`` in a folder.

- ``policy.pt``: the :class:`~cgfsim.agents.networks.CgfPolicy` ``state_dict``
  (``torch.save``), read back with ``torch.load(weights_only=True)``: loading a
  checkpoint never executes code, so checkpoints from others are safe to load.
- ``policy.json``: format tag, the :class:`~cgfsim.agents.networks.PolicySpec`
  (architecture + observation mode/shape + action layout), free-form ``meta``
  (algo, scenario, side, training config, env_steps...) and the SHA-256 of
  ``policy.pt``, which catches corrupted or mismatched weight files. The digest
  is required: cgfsim always writes one, so a checkpoint without it is refused.

Saving replaces a folder as a whole: the new pair is written into a sibling
temp folder, then the old folder is moved aside, the new one renamed into
place, and the old one deleted. A kill at any point leaves either the old or
the new complete checkpoint; if it lands between the two renames (no folder at
the path), loading falls back to the complete sibling. Loading validates the
architecture (types and size limits) before any tensor is built, bounds the
weights file by what the architecture needs, and refuses non-finite weights.

SB3 ``.zip`` files written next to a checkpoint (``sb3_model.zip``) exist only
to resume training. They contain pickled Python objects and so are
**trusted-only**: load them only if you made them.

Every problem (missing folder or file, bad JSON, corrupted weights, an
architecture that does not fit the weights, a policy that does not fit an
env) raises :class:`~cgfsim.sim.errors.CgfsimError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from cgfsim.agents.networks import OBS_RANK, CgfPolicy, PolicySpec
from cgfsim.agents.runs import to_json
from cgfsim.sim.errors import CgfsimError

FORMAT = "cgfsim-policy"
VERSION = 1
WEIGHTS = "policy.pt"
SPEC = "policy.json"
#: Largest network a checkpoint may describe (float32 parameters): 200 MB of weights.
MAX_PARAMS = 50_000_000
MAX_SPEC_BYTES = 1 << 20


class CheckpointError(CgfsimError, ValueError):
    """A checkpoint is missing, corrupted, or does not fit the policy or env it is used with."""


def save_checkpoint(
    path_dir: str | os.PathLike[str],
    policy: CgfPolicy,
    spec: PolicySpec | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``policy.pt`` + ``policy.json`` into ``path_dir``, replacing it as a whole."""
    spec = spec or policy.spec
    if spec != policy.spec:
        raise CheckpointError(f"spec {spec} does not describe the policy ({policy.spec})")
    path = Path(path_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in policy.state_dict().items()}, buf)
    data = buf.getvalue()
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.to_dict(),
        "meta": meta or {},
        "weights_sha256": hashlib.sha256(data).hexdigest(),
    }
    new = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    try:
        _write_synced(new / WEIGHTS, data)
        _write_synced(new / SPEC, (to_json(doc) + "\n").encode())  # last: marks it complete
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old)  # an empty dir is replaced by the folder
        os.replace(new, path)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.*-*"):  # this save's old copy, past kills
        if stale.name.startswith((f".{path.name}.old-", f".{path.name}.new-")):
            shutil.rmtree(stale, ignore_errors=True)
    return path


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the renames still happened
    finally:
        os.close(fd)


def read_spec(path: str | os.PathLike[str]) -> tuple[PolicySpec, dict[str, Any]]:
    """Spec and meta of a checkpoint without loading its weights (for listings)."""
    doc = _read_doc(_dir(path))
    return _spec(doc, _dir(path)), dict(doc.get("meta") or {})


def load_checkpoint(
    path: str | os.PathLike[str],
    observation_space: gym.Space | None = None,
    action_space: gym.Space | None = None,
) -> tuple[CgfPolicy, PolicySpec, dict[str, Any]]:
    """Load a checkpoint folder (or its ``policy.json``/``policy.pt``) as an eval-mode policy.

    With ``observation_space``/``action_space`` (or an env as the first),
    the policy is also checked to fit them (:func:`check_compatible`).
    """
    d = _dir(path)
    doc = _read_doc(d)
    spec = _spec(doc, d)
    wfile = d / WEIGHTS
    if not wfile.is_file():
        raise CheckpointError(f"checkpoint {d}: {WEIGHTS} is missing")
    limit = 4 * _n_params(spec) + (1 << 20)  # float32 weights plus torch.save's framing
    if wfile.stat().st_size > limit:
        raise CheckpointError(
            f"checkpoint {d}: {WEIGHTS} has {wfile.stat().st_size:,} bytes, more than the "
            f"architecture in {SPEC} needs ({limit:,})"
        )
    data = wfile.read_bytes()
    digest = doc.get("weights_sha256")
    if not isinstance(digest, str):
        raise CheckpointError(
            f"checkpoint {d}: {SPEC} has no weights_sha256 digest (cgfsim writes one; "
            "refusing weights that cannot be verified)"
        )
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {d}: {WEIGHTS} is corrupted (checksum mismatch)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {d}: cannot read {WEIGHTS}: {msg}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {d}: {WEIGHTS} is not a state_dict")
    with torch.random.fork_rng(devices=[]):  # loading leaves the caller's RNG stream alone
        policy = CgfPolicy(spec, ortho_init=False)
    _load_state(policy, state, d)
    policy.eval()
    if observation_space is not None or action_space is not None:
        check_compatible(spec, observation_space, action_space, where=f"checkpoint {d}")
    return policy, spec, dict(doc.get("meta") or {})


def check_compatible(
    spec: PolicySpec,
    observation_space: gym.Space | Any | None,
    action_space: gym.Space | None = None,
    where: str = "policy",
) -> None:
    """Raise :class:`CgfsimError` unless a policy of ``spec`` can act in these spaces.

    ``observation_space`` may also be an env (Gymnasium single or vector,
    SB3 VecEnv); its spaces for one world are used. A ``{"observation",
    "action_mask"}`` dict (the masked training regime) is judged by its observation.
    """
    if observation_space is not None and not isinstance(observation_space, gym.Space):
        env = observation_space
        observation_space = getattr(env, "single_observation_space", None) or getattr(
            env, "observation_space", None
        )
        if action_space is None:
            action_space = getattr(env, "single_action_space", None) or getattr(
                env, "action_space", None
            )
    if isinstance(observation_space, gym.spaces.Dict) and "observation" in observation_space.spaces:
        observation_space = observation_space["observation"]  # the masked regime's dict
    if observation_space is not None:
        if not isinstance(observation_space, gym.spaces.Box):
            raise CheckpointError(f"{where}: needs Box observations, not {observation_space}")
        shape = tuple(int(s) for s in observation_space.shape)
        if shape != spec.obs_shape:
            rank_mode = {v: k for k, v in OBS_RANK.items()}.get(len(shape), "unknown")
            if rank_mode != spec.obs_mode:
                raise CheckpointError(
                    f"{where}: trained on {spec.obs_mode} observations {spec.obs_shape}, "
                    f"the env gives {rank_mode} observations {shape} (use obs={spec.obs_mode!r})"
                )
            raise CheckpointError(
                f"{where}: trained on {spec.obs_mode} observations of shape {spec.obs_shape}, "
                f"the env gives {shape} (different scenario or slot counts?)"
            )
    if action_space is not None:
        if not isinstance(action_space, gym.spaces.MultiDiscrete):
            raise CheckpointError(f"{where}: needs MultiDiscrete actions, not {action_space}")
        nvec = np.asarray(action_space.nvec).reshape(-1)
        want = np.full(spec.n_units, spec.n_actions)
        if nvec.shape != want.shape or (nvec != want).any():
            raise CheckpointError(
                f"{where}: acts for {spec.n_units} units x {spec.n_actions} actions, "
                f"the env wants {nvec.tolist()}"
            )


def _dir(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_file() and p.name in (WEIGHTS, SPEC):
        p = p.parent
    if not p.exists():
        fallback = _interrupted_save(p)
        if fallback is None:
            raise CheckpointError(f"checkpoint {p}: no such folder")
        return fallback
    if not p.is_dir():
        raise CheckpointError(f"checkpoint {p}: expected a folder with {SPEC} and {WEIGHTS}")
    return p


def _interrupted_save(p: Path) -> Path | None:
    """The complete sibling a save killed between its two renames left (newest first)."""
    if not p.parent.is_dir():
        return None
    found = [
        c
        for c in p.parent.glob(f".{p.name}.*-*")
        if c.name.startswith((f".{p.name}.new-", f".{p.name}.old-"))
        and (c / SPEC).is_file()
        and (c / WEIGHTS).is_file()
    ]
    found.sort(key=lambda c: (c.name.startswith(f".{p.name}.new-"), c.stat().st_mtime))
    for c in reversed(found):
        try:
            doc = json.loads((c / SPEC).read_text(encoding="utf-8"))
            if hashlib.sha256((c / WEIGHTS).read_bytes()).hexdigest() == doc["weights_sha256"]:
                return c
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
    return None


def _read_doc(d: Path) -> dict[str, Any]:
    f = d / SPEC
    if not f.is_file():
        hint = " (an SB3 .zip? export it with cgfsim.agents.export)" if any(d.glob("*.zip")) else ""
        raise CheckpointError(f"checkpoint {d}: {SPEC} is missing{hint}")
    if f.stat().st_size > MAX_SPEC_BYTES:
        raise CheckpointError(f"checkpoint {d}: {SPEC} is larger than {MAX_SPEC_BYTES:,} bytes")
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {d}: {SPEC} is not valid JSON ({e})") from None
    except RecursionError:
        raise CheckpointError(f"checkpoint {d}: {SPEC} is nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {d}: {SPEC} is not a {FORMAT} file")
    version = doc.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"checkpoint {d}: {SPEC} version must be an integer")
    if version > VERSION:
        raise CheckpointError(
            f"checkpoint {d}: format version {doc.get('version')} is newer than this cgfsim "
            f"({VERSION})"
        )
    return doc


def _spec(doc: dict[str, Any], d: Path) -> PolicySpec:
    raw = doc.get("spec")
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {d}: {SPEC} has no policy spec")
    try:
        spec = PolicySpec.from_dict(raw)
        n = _n_params(spec)
    except CgfsimError as e:
        raise CheckpointError(f"checkpoint {d}: {e}") from None
    if n > MAX_PARAMS:
        raise CheckpointError(
            f"checkpoint {d}: the architecture in {SPEC} has {n:,} parameters, more than "
            f"{MAX_PARAMS:,}"
        )
    return spec


def _n_params(spec: PolicySpec) -> int:
    """Parameter count of ``spec``'s network, from shapes only (built on the meta device)."""
    try:
        with torch.device("meta"):
            pol = CgfPolicy(spec, ortho_init=False)
    except (RuntimeError, ValueError) as e:
        raise CgfsimError(f"policy spec cannot be built: {str(e).splitlines()[0]}") from None
    return sum(math.prod(p.shape) for p in pol.parameters())


def _load_state(policy: CgfPolicy, state: dict[str, Any], d: Path) -> None:
    own = policy.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {d}: weights do not fit the architecture in {SPEC} "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})"
        )
    for k, v in own.items():
        w = state[k]
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(v.shape):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise CheckpointError(
                f"checkpoint {d}: weight {k} has shape {got}, the architecture in {SPEC} "
                f"needs {tuple(v.shape)}"
            )
        if not bool(torch.isfinite(w).all()):
            raise CheckpointError(f"checkpoint {d}: weight {k} holds NaN or infinite values")
    policy.load_state_dict(state)
