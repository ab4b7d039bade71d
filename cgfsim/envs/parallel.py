"""PettingZoo ``ParallelEnv``: every unit of both sides is an agent (multi-agent, self-play)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from cgfsim.envs import _common as C
from cgfsim.envs.masks import MaskBuilder
from cgfsim.envs.observations import OBS_MODES, ObservationBuilder, to_engine_actions
from cgfsim.envs.state import build_state, state_space
from cgfsim.sim.engine import Engine


class CgfsimParallelEnv(ParallelEnv):
    """
    ## Description

    Both sides of a scenario under learning control, one agent per unit:
    ``blue_0 .. blue_{n-1}`` and ``red_0 .. red_{m-1}`` (the index is the
    unit's slot within its side; absent slots have no agent). All agents act
    simultaneously. A unit that dies leaves ``agents`` after the step that
    reports its ``terminated``; agents never revive. Red agents observe and act
    in red's canonical frame (rows flipped, north/south swapped), so one
    shared policy can play both sides (self-play).

    ## Action Space

    ``Discrete(7 + E)`` per agent, the engine's action table (see
    :class:`~cgfsim.envs.commander.CommanderEnv`): 0 stay, 1-4 move N/E/S/W,
    5 fire_nearest, 6 take_cover, 7 + j fire at enemy slot j. Impossible
    actions are no-ops; an agent left out of the actions dict stays.

    ## Observation Space

    The side's observation (:mod:`cgfsim.envs.observations`) plus which unit
    the agent is: ``vector``: the one-hot of its own slot (O values) followed
    by the side's vector; ``grid``: a first channel marking its own cell, then
    the side's 18 channels; ``entities``: the side's rows with a last column
    marking the agent's own row. With ``dict_obs=True``:
    ``Dict(observation=..., action_mask=MultiBinary(7 + E))``, which
    ``parallel_api_test`` and masked samplers use.

    ## Rewards

    Shared by side: every live unit of a side receives the side's reward for
    the tick (scenario weights, as in the commander env).

    ## Termination

    A unit killed is ``terminated``. Annihilation or an objective victory
    terminates every remaining agent; the time limit (the scenario's
    ``max_ticks``, or ``max_cycles`` ticks if fewer) truncates them. Every
    agent's info has, at every step and reset, its side's ``outcome`` (1 win,
    0 draw, -1 loss; final at the end, a draw before), ``tick``, ``kills``,
    ``losses`` and ``objective``, as in the commander env.

    ## State

    ``state()`` / ``state_space``: the full-information world state for
    centralised critics (no fog of war, absolute frame), see
    :mod:`cgfsim.envs.state`.

    ## Registered Configurations

    Not a Gymnasium id: PettingZoo's module layout in :mod:`cgfsim.envs.battle_v0`
    (``parallel_env()``, ``env()`` for AEC, ``raw_env()``), or this class, with
    ``scenario="skirmish"`` (any built-in name, or ``path="my.toml"``),
    ``obs="vector"|"grid"|"entities"``, ``dict_obs``, ``render_mode``
    (``"ansi"``, ``"rgb_array"``, ``"human"``), ``combat`` and ``max_cycles``.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (the libraries' API: a class-level dict)
        "name": "battle_v0",
        "render_modes": list(C.RENDER_MODES),
        "render_fps": C.RENDER_FPS,
        "is_parallelizable": True,
    }
    #: Keyword arguments of the constructor, named in the error for an unknown one.
    KWARGS = (
        "scenario",
        "path",
        "obs",
        "dict_obs",
        "render_mode",
        "combat",
        "max_cycles",
    )

    def __init__(
        self,
        scenario: C.ScenarioLike | None = "skirmish",
        *,
        path: str | Path | None = None,
        obs: str = "vector",
        dict_obs: bool = False,
        render_mode: str | None = None,
        combat: str | None = None,
        max_cycles: int | None = None,
        **unknown: Any,
    ) -> None:
        C.reject_unknown(unknown, self.KWARGS, "CgfsimParallelEnv")
        if max_cycles is not None and (
            isinstance(max_cycles, bool) or not isinstance(max_cycles, int) or max_cycles < 1
        ):
            raise ValueError(f"max_cycles must be a positive integer or None, got {max_cycles!r}")
        if obs not in OBS_MODES:
            raise ValueError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
        sc = C.get_scenario(scenario, path)
        self.scenario = sc
        self.render_mode = C.check_render_mode(render_mode)
        self.obs_mode, self.dict_obs = obs, bool(dict_obs)
        self.engine = e = Engine(sc, 1, seed=0, combat=combat)
        self.max_cycles = sc.max_ticks if max_cycles is None else min(max_cycles, sc.max_ticks)
        self.state_space = state_space(e)
        self._view = C.HumanView(self.metadata["render_fps"]) if render_mode == "human" else None
        self._seeded = False
        self.observers = [ObservationBuilder(e, s, obs) for s in (0, 1)]
        self.maskers = [MaskBuilder(e, s) for s in (0, 1)]
        # agent id -> (side, slot within side, global slot)
        self._unit: dict[str, tuple[int, int, int]] = {}
        for s, name in enumerate(C.SIDES):
            base = 0 if s == 0 else e.nb
            for i in range(sc.n_slots[s]):
                if sc.present[base + i]:
                    self._unit[f"{name}_{i}"] = (s, i, base + i)
        self.possible_agents = list(self._unit)
        self.agents: list[str] = []
        self._obs_spaces: dict[str, spaces.Space[Any]] = {}
        self._act_spaces: dict[str, spaces.Discrete] = {}
        side_spaces = [self._agent_box(s) for s in (0, 1)]
        for a, (s, _, _) in self._unit.items():
            n_act = self.maskers[s].n_actions
            box = side_spaces[s]
            self._obs_spaces[a] = (
                spaces.Dict({"observation": box, "action_mask": spaces.MultiBinary(n_act)})
                if self.dict_obs
                else box
            )
            self._act_spaces[a] = spaces.Discrete(n_act)

    def _agent_box(self, side: int) -> spaces.Box:
        """The side's observation space plus the agent's own one-hot (all in [0, 1])."""
        box = self.observers[side].space
        lo, hi = box.low, box.high
        if self.obs_mode == "vector":
            me = np.zeros(self.observers[side].O, np.float32)
            lo, hi = np.concatenate([me, lo]), np.concatenate([me + 1, hi])
        elif self.obs_mode == "grid":
            me = np.zeros((1, *lo.shape[1:]), np.float32)
            lo, hi = np.concatenate([me, lo]), np.concatenate([me + 1, hi])
        else:
            me = np.zeros((lo.shape[0], 1), np.float32)
            lo, hi = np.concatenate([lo, me], 1), np.concatenate([hi, me + 1], 1)
        return spaces.Box(lo, hi, lo.shape, np.float32)

    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    # ------------------------------------------------------------------ observe
    def _observe(self, agents: list[str]) -> dict[str, Any]:
        e = self.engine
        side_obs = [self.observers[s].build()[0] for s in (0, 1)]
        masks = (
            [self.maskers[s].build()[0].astype(np.int8) for s in (0, 1)] if self.dict_obs else None
        )
        out: dict[str, Any] = {}
        for a in agents:
            s, i, g = self._unit[a]
            so = side_obs[s]
            if self.obs_mode == "vector":
                me = np.zeros(self.observers[s].O, np.float32)
                me[i] = 1
                o = np.concatenate([me, so])
            elif self.obs_mode == "grid":
                me = np.zeros((1, *so.shape[1:]), np.float32)
                if e.alive[0, g]:
                    row = int(e.y[0, g]) if s == 0 else e.H - 1 - int(e.y[0, g])
                    me[0, row, int(e.x[0, g])] = 1
                o = np.concatenate([me, so])
            else:
                me = np.zeros((so.shape[0], 1), np.float32)
                me[i, 0] = 1
                o = np.concatenate([so, me], 1)
            out[a] = {"observation": o, "action_mask": masks[s][i]} if masks else o
        return out

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """New episode; ``options`` are accepted for API compatibility and not used."""
        if seed is None and not self._seeded:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(2))
        if seed is None:
            self.engine.reset()
        else:
            self.engine.reset(seeds=[int(seed)])
        self._seeded = True
        alive = self.engine.alive[0]
        self.agents = [a for a, (_, _, g) in self._unit.items() if alive[g]]
        if self._view is not None:
            self.render()
        return self._observe(self.agents), self._infos(self.agents)

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        e = self.engine
        joint = np.zeros((1, e.U), np.int64)
        for a, act in actions.items():
            if a not in self._unit:
                raise ValueError(
                    f"unknown agent {a!r}; agents are {', '.join(self.possible_agents)}"
                )
            s, _, g = self._unit[a]
            n = self._act_spaces[a].n
            v = np.asarray(act)
            if (
                v.shape not in ((), (1,))
                or not np.issubdtype(v.dtype, np.integer)
                or not 0 <= int(v.reshape(-1)[0]) < n
            ):
                raise ValueError(f"action {act!r} of {a} is not an integer in 0..{n - 1}")
            joint[0, g] = to_engine_actions(np.int64(v.reshape(-1)[0]), s)
        live = self.agents
        res = e.step(joint)
        term = bool(res.terminated[0])
        done = bool(res.done[0]) or int(e.tick[0]) >= self.max_cycles
        alive = e.alive[0]
        obs = self._observe(live)
        rewards, terms, truncs = {}, {}, {}
        for a in live:
            s, _, g = self._unit[a]
            rewards[a] = float(res.rewards[0, s])
            terms[a] = bool(not alive[g] or term)
            truncs[a] = bool(done and not terms[a])
        infos = self._infos(live)
        self.agents = [] if done else [a for a in live if alive[self._unit[a][2]]]
        if self._view is not None:
            self.render()
        return obs, rewards, terms, truncs, infos

    def _infos(self, agents: list[str]) -> dict[str, dict[str, Any]]:
        arrays = [C.info_arrays(self.engine, s) for s in (0, 1)]
        return {a: C.world_info(arrays[self._unit[a][0]], 0) for a in agents}

    def state(self) -> np.ndarray:
        """The full-information world state (see :mod:`cgfsim.envs.state`), a fresh array."""
        return build_state(self.engine)[0]

    def render(self) -> str | np.ndarray | None:
        frame = C.render(self.engine, self.render_mode, 0)
        if self._view is not None:
            self._view.show(str(frame))
            return None
        return frame

    def close(self) -> None:
        """Nothing to release."""


def parallel_env(**kwargs: Any) -> CgfsimParallelEnv:
    """PettingZoo-style constructor: ``parallel_env(scenario="duel", obs="entities")``.

    The AEC form and the rest of PettingZoo's module layout are in
    :mod:`cgfsim.envs.battle_v0`.
    """
    return CgfsimParallelEnv(**kwargs)
