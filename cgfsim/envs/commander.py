"""The single-agent Gymnasium env: the learner commands one side against a doctrine opponent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from cgfsim.envs import _common as C
from cgfsim.envs.batched import BatchedCommanderEnv, Obs


class CommanderEnv(gym.Env):
    """
    ## Description

    A grid battle between two sides, blue and red, on a scenario's map. The
    learner is the commander of one side (``side="blue"`` or ``"red"``) and
    gives every unit slot one order per tick; the other side is played by a
    scripted doctrine (:mod:`cgfsim.sim.doctrines`) or any callable policy.
    Both sides act simultaneously. The world runs on
    :class:`~cgfsim.sim.engine.Engine` with one world (``B = 1``); the batched
    equivalent is :class:`~cgfsim.envs.batched.BatchedCommanderEnv`, and world
    i of a batch seeded s replays this env reset with seed s + i exactly.

    Observations and actions are in the acting side's canonical frame: own
    units first, and for red the map's rows are flipped so red also advances
    upward; red's north/south orders are swapped back before the engine
    applies them. One policy can therefore play either side.

    ## Action Space

    ``MultiDiscrete([7 + E] * O)``: one action per own unit slot (O own slots,
    E enemy slots), the engine's pinned table (:mod:`cgfsim.sim.actions`):

    | Num    | Action        | Effect                                                   |
    |--------|---------------|----------------------------------------------------------|
    | 0      | stay          | do nothing                                               |
    | 1      | north         | move one cell up (in the canonical frame)                |
    | 2      | east          | move one cell right                                      |
    | 3      | south         | move one cell down (in the canonical frame)              |
    | 4      | west          | move one cell left                                       |
    | 5      | fire_nearest  | fire at the nearest engageable enemy                     |
    | 6      | take_cover    | stay, hold fire, +1 cover from next tick until it acts   |
    | 7 + j  | fire_at_j     | fire at enemy slot j                                     |

    An impossible action (into a wall, no target, a dead unit's order) is a
    no-op. :meth:`action_masks` gives MaskablePPO's flat ``(sum(nvec),)`` mask;
    with ``dict_obs=True`` the observation carries it as ``action_mask``.

    ## Observation Space

    ``obs="vector"`` (flat, ``15 O + 11 E + 8 K + 5 O E + 3 O K + 3 + O (7 + E)``,
    the action mask included), ``"grid"`` (``25 x H x W``) or ``"entities"``
    (``(O + E + K) x 51``, column 0 the validity flag), all float32 in [0, 1]
    except signed offsets in [-1, 1], built from the side's fog of war only;
    ``ObservationBuilder.layout()`` names every element (see
    :mod:`cgfsim.envs.observations`). With ``dict_obs=True``:
    ``Dict(observation=<that Box>, action_mask=MultiBinary(O * (7 + E)))``.

    ## Rewards

    The acting side's per-tick reward from the scenario's ``[rewards]``
    weights: damage dealt minus damage taken (in fractions of a unit's hp),
    kills, losses, ticks holding objectives, and a terminal win / defeat /
    draw bonus (defaults: damage +-1, objective 0.05 per tick, win +10,
    defeat -10).

    ## Starting State

    Units are placed in their start zones by the world's seeded stream;
    random-map scenarios draw the episode's map from their seeded pool.

    ## Termination

    ``terminated``: one side annihilated, or an objective held for its hold
    time. ``truncated``: the scenario's ``max_ticks`` reached: a draw, or with
    ``time_limit = "points"`` won by the side leading on victory points. Stepping
    after either (or before the first ``reset``) raises
    ``gymnasium.error.ResetNeeded``.

    ## Info

    The same keys and numeric types at every step, ``reset`` included (see
    :func:`cgfsim.envs._common.info_arrays`):

    | Key          | Type | Meaning                                                        |
    |--------------|------|----------------------------------------------------------------|
    | ``outcome``  | int  | 1 win, 0 draw, -1 loss for the acting side, were it to end now |
    | ``tick``     | int  | ticks played (the episode's length at its end)                 |
    | ``kills``    | int  | enemy units destroyed                                          |
    | ``losses``   | int  | own units lost                                                 |
    | ``objective``| dict | per objective: ``controller`` (1 own, 0 none, -1 enemy),       |
    |              |      | ``hold``, ``enemy_hold`` (ticks held)                          |

    ``outcome`` is final once the episode ends; before that it is the time
    limit's verdict (a draw), so a ``TimeLimit`` (``gymnasium.make(...,
    max_episode_steps=N)``) that truncates first reports a draw.
    ``cgfsim.envs.OUTCOMES`` maps codes to names.

    ## Arguments

    ``gymnasium.make("cgfsim/Skirmish-v0", side="blue", opponent=None,
    obs="vector", dict_obs=False, render_mode=None, combat=None)``;
    ``render_mode`` is ``"ansi"`` (text), ``"rgb_array"`` or ``"human"`` (the
    text printed to the terminal at ``metadata["render_fps"]``);
    ``opponent`` is a doctrine name (``hold``, ``advance``, ``assault``,
    ``defend``, ``flank``, ``retreat``, ``ambush``, ``random`` or an alias such
    as ``assault-nearest``) or ``fn(engine, side) -> (B, n_slots)`` actions in
    absolute directions; ``None`` uses the scenario's hint for that side, else
    ``assault``. ``gymnasium.make("cgfsim/Scenario-v0", path="my.toml")``
    loads a scenario file.

    ## Registered Configurations

    - ``cgfsim/Skirmish-v0``: 24x24 field, 8 v 8 combined arms, a crossroads objective
    - ``cgfsim/Ambush-v0``: convoy through a forested valley, hold the exit
    - ``cgfsim/Urban-v0``: assault on a defended town square
    - ``cgfsim/Defend-v0``: hold a hill behind a river
    - ``cgfsim/RandomField-v0``: 8 v 8 on a pool of 64 seeded random maps
    - ``cgfsim/Duel-v0``: 8x8, 2 v 2 infantry, for quick tests
    - ``cgfsim/Scenario-v0``: any scenario file (``path=...``)

    ``gymnasium.make_vec(id, num_envs=B)`` returns
    :class:`~cgfsim.envs.vector.CgfsimVectorEnv`, one engine of B worlds
    (``autoreset_mode`` NEXT_STEP by default, SAME_STEP or DISABLED on request).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (Gymnasium's API: a class-level dict)
        "render_modes": list(C.RENDER_MODES),
        "render_fps": C.RENDER_FPS,
    }
    #: Keyword arguments of the constructor, named in the error for an unknown one.
    KWARGS = ("scenario", "path", "side", "opponent", "obs", "dict_obs", "render_mode", "combat")

    def __init__(
        self,
        scenario: C.ScenarioLike | None = None,
        *,
        path: str | Path | None = None,
        side: str | int = "blue",
        opponent: str | C.Policy | None = None,
        obs: str = "vector",
        dict_obs: bool = False,
        render_mode: str | None = None,
        combat: str | None = None,
        **unknown: Any,
    ) -> None:
        C.reject_unknown(unknown, self.KWARGS, "CommanderEnv")
        self.core = BatchedCommanderEnv(
            scenario,
            1,
            path=path,
            side=side,
            opponent=opponent,
            obs=obs,
            dict_obs=dict_obs,
            render_mode=render_mode,
            combat=combat,
            autoreset=False,
        )
        self.render_mode = self.core.render_mode
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._running = False  # an episode is under way: step() is allowed
        self._view = C.HumanView(self.metadata["render_fps"]) if render_mode == "human" else None

    @property
    def engine(self) -> Any:
        """The underlying :class:`~cgfsim.sim.engine.Engine` (one world)."""
        return self.core.engine

    @staticmethod
    def _first(obs: Obs) -> Obs:
        # Each call builds fresh arrays, so a view of row 0 is never shared between calls.
        return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]

    def _info(self) -> dict[str, Any]:
        return C.world_info(C.info_arrays(self.core.engine, self.core.side), 0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        first = not self.core._seeded
        super().reset(seed=seed)
        if seed is None and first:  # unseeded first reset: a key from Gymnasium's entropy
            seed = int(self.np_random.integers(0, 2**62))
        obs = self._first(self.core.reset(seed, options))
        self._running = True
        if self._view is not None:
            self.render()
        return obs, self._info()

    def step(self, action: Any) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._running:
            raise gym.error.ResetNeeded(
                "CommanderEnv.step() called after the episode ended (terminated or truncated) "
                "or before the first reset(); call reset() first"
            )
        a = C.check_actions(action, (self.core.n_own,), self.core.n_actions)
        obs, rew, term, trunc, _ = self.core._step(a[None])
        terminated, truncated = bool(term[0]), bool(trunc[0])
        self._running = not (terminated or truncated)
        if self._view is not None:
            self.render()
        return self._first(obs), float(rew[0]), terminated, truncated, self._info()

    def action_masks(self) -> np.ndarray:
        """Flat ``(sum(nvec),)`` bool mask of the current state (MaskablePPO's format)."""
        return self.core.action_masks()[0]

    def render(self) -> str | np.ndarray | None:
        frame = self.core.render(0)
        if self._view is not None:
            self._view.show(str(frame))
            return None
        return frame

    def close(self) -> None:
        self.core.close()
