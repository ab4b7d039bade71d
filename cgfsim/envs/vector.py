"""Gymnasium's vector API over the batched core: what ``gymnasium.make_vec`` returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cgfsim.envs import _common as C
from cgfsim.envs.batched import BatchedCommanderEnv, Obs

AUTORESET_MODES = tuple(m.name for m in AutoresetMode)


def _autoreset_mode(mode: str | AutoresetMode) -> AutoresetMode:
    """An ``AutoresetMode`` from itself, its value ("NextStep") or name ("next_step", any case)."""
    if isinstance(mode, AutoresetMode):
        return mode
    if isinstance(mode, str):
        key = mode.replace("_", "").replace("-", "").lower()
        for m in AutoresetMode:
            if key in (m.value.lower(), m.name.replace("_", "").lower()):
                return m
    raise ValueError(
        f"unknown autoreset_mode {mode!r}; expected one of {', '.join(AUTORESET_MODES)} "
        "(a gymnasium.vector.AutoresetMode, its value or its name)"
    )


class CgfsimVectorEnv(VectorEnv):
    """B worlds of one engine behind :class:`gymnasium.vector.VectorEnv`.

    ``autoreset_mode`` (stated in ``metadata["autoreset_mode"]``) behaves as
    Gymnasium's ``SyncVectorEnv`` of B single envs does, world for world:

    - ``NEXT_STEP`` (the default, as in Gymnasium): a world that ends returns its
      final observation; the next ``step`` resets it, ignoring its action, with
      reward 0 and ``terminated = truncated = False``. Gymnasium's vector
      observation wrappers (Normalize/Transform/Flatten/Filter/DtypeObservation)
      accept only this mode (or ``DISABLED``);
    - ``SAME_STEP``: a world that ends returns the next episode's first
      observation in the same ``step``, the final one in ``infos["final_obs"]``
      and its info in ``infos["final_info"]`` (masked by ``infos["_final_obs"]``);
    - ``DISABLED``: finished worlds wait for ``reset(options={"reset_mask": m})``;
      stepping one before that raises ``gymnasium.error.ResetNeeded``.

    ``max_episode_steps`` truncates a world after that many steps of its episode,
    as a ``TimeLimit`` around each single env would (its ``info["outcome"]`` is
    then a draw). ``render_mode="human"`` prints world 0. Other keyword arguments
    are those of :class:`~cgfsim.envs.batched.BatchedCommanderEnv`; infos carry
    :func:`~cgfsim.envs._common.info_arrays` at every step, in Gymnasium's vector
    form (every key ``k`` with its mask ``_k``).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (the libraries' API: a class-level dict)
        "render_modes": list(C.RENDER_MODES),
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_fps": C.RENDER_FPS,
    }
    #: Keyword arguments accepted besides the core's, named in the error for an unknown one.
    KWARGS = (
        "num_envs",
        "scenario",
        "path",
        "side",
        "opponent",
        "obs",
        "dict_obs",
        "render_mode",
        "combat",
        "autoreset_mode",
        "max_episode_steps",
        "disable_env_checker",
    )

    def __init__(
        self,
        num_envs: int = 1,
        scenario: C.ScenarioLike | None = None,
        *,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        disable_env_checker: bool | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        del disable_env_checker  # accepted from make_vec users; the batched env has no checker
        core_kw = {"path", "side", "opponent", "obs", "dict_obs", "combat"}
        C.reject_unknown(
            {k: v for k, v in kwargs.items() if k not in core_kw}, self.KWARGS, "CgfsimVectorEnv"
        )
        mode = _autoreset_mode(autoreset_mode)
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int | np.integer)
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}"
            )
        self.core = BatchedCommanderEnv(
            scenario, num_envs, autoreset=False, render_mode=render_mode, **kwargs
        )
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.num_envs = B = self.core.num_envs
        self.render_mode = self.core.render_mode
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, B)
        self.action_space = batch_space(self.single_action_space, B)
        self._elapsed = np.zeros(B, np.int64)
        self._ended = np.zeros(B, bool)  # ended at the last step: NEXT_STEP resets these next
        self._view = C.HumanView(self.metadata["render_fps"]) if render_mode == "human" else None

    # ------------------------------------------------------------------ helpers
    def _infos(self, idx: np.ndarray | None = None) -> dict[str, Any]:
        arrays = C.info_arrays(self.core.engine, self.core.side, idx)
        return C.with_masks(arrays, self.num_envs if idx is None else len(idx))

    def _reset_worlds(self, mask: np.ndarray, obs: Obs) -> None:
        """Start the next episode in the masked worlds and write their observations."""
        idx = np.flatnonzero(mask)
        self.core.engine.reset(mask)
        self._elapsed[idx] = 0
        fresh = self.core._observe(idx)
        if isinstance(obs, dict):
            for k in obs:
                obs[k][idx] = fresh[k]
        else:
            obs[idx] = fresh

    # ------------------------------------------------------------------ API
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Obs, dict[str, Any]]:
        """Reset every world, or the worlds in ``options["reset_mask"]`` (a (B,) bool array).

        ``seed``: an int s gives world i the key s + i; a sequence one seed per world
        (``None`` entries continue with the world's next episode).
        """
        B = self.num_envs
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if isinstance(seed, int | np.integer):
            super().reset(seed=int(seed))
        if mask is None:
            obs = self.core.reset(seed, options)
            self._elapsed[:] = 0
            self._ended[:] = False
        else:
            mask = np.asarray(mask)
            if mask.shape != (B,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(
                    f"options['reset_mask'] must be a ({B},) bool array with at least one True, "
                    f"got {mask!r}"
                )
            seeds: list[int | None]
            if seed is None or isinstance(seed, int | np.integer):
                seeds = [None if seed is None else int(seed) + i for i in range(B)]
            else:
                seeds = [None if s is None else int(s) for s in seed]
                if len(seeds) != B:
                    raise ValueError(f"expected {B} seeds (one per world), got {len(seeds)}")
            e = self.core.engine
            chosen = [s for s, m in zip(seeds, mask, strict=True) if m]
            with_seed = mask & np.array([s is not None for s in seeds])
            if with_seed.any():
                e.reset(with_seed, seeds=[s for s in chosen if s is not None])
            if (mask & ~with_seed).any():
                e.reset(mask & ~with_seed)
            self._elapsed[mask] = 0
            self._ended[mask] = False
            obs = self.core.observe()
        if self._view is not None:
            self.render()
        return obs, self._infos()

    def step(self, actions: Any) -> tuple[Obs, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and self._ended.any():
            raise ResetNeeded(
                f"worlds {np.flatnonzero(self._ended).tolist()} ended; with "
                "autoreset_mode=DISABLED reset them first: reset(options={'reset_mask': mask})"
            )
        obs, rew, term, trunc, _ = self.core.step(actions)
        rewards = rew.astype(np.float64)
        self._elapsed += 1
        if self.max_episode_steps is not None:
            trunc |= self._elapsed >= self.max_episode_steps
        if mode == AutoresetMode.NEXT_STEP and self._ended.any():
            ended = self._ended
            self._reset_worlds(ended, obs)
            rewards[ended] = 0.0
            term[ended] = False
            trunc[ended] = False
        done = term | trunc
        infos = self._infos()
        if mode == AutoresetMode.SAME_STEP and done.any():
            idx = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in idx.tolist():
                final_obs[i] = (
                    {k: v[i].copy() for k, v in obs.items()}
                    if isinstance(obs, dict)
                    else obs[i].copy()
                )
            finals = C.info_arrays(self.core.engine, self.core.side)
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"] = _masked(C.with_masks(finals, self.num_envs), done)
            infos["_final_info"] = done.copy()
            self._reset_worlds(done, obs)
            infos.update(self._infos())
        self._ended = done
        if self._view is not None:
            self.render()
        return obs, rewards, term, trunc, infos

    def action_masks(self) -> np.ndarray:
        """(B, sum(nvec)) bool masks of the current state."""
        return self.core.action_masks()

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            return None
        if self._view is not None:
            self._view.show(str(self.core.render(0)))
            return None
        return tuple(self.core.render(i) for i in range(self.num_envs))

    @property
    def engine(self) -> Any:
        return self.core.engine


def _masked(infos: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    """Zero the rows not in ``keep`` and set every ``_k`` mask to ``keep``, recursively.

    This is what ``VectorEnv._add_info`` gives for ``final_info`` when only the
    worlds in ``keep`` contributed one.
    """
    out: dict[str, Any] = {}
    for k, v in infos.items():
        if k.startswith("_"):
            out[k] = keep.copy()
        elif isinstance(v, dict):
            out[k] = _masked(v, keep)
        else:
            out[k] = np.where(keep, v, 0).astype(v.dtype)
    return out


def make_vector_env(num_envs: int = 1, **kwargs: Any) -> CgfsimVectorEnv:
    """``vector_entry_point`` of the registered ids."""
    return CgfsimVectorEnv(num_envs, **kwargs)
