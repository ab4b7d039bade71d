"""Reinforcement learning with Stable-Baselines3 / sb3-contrib on the batched cgfsim VecEnv.

=================  ==========  =========================================
algo               policy      learner
=================  ==========  =========================================
``ppo``            mlp         ``stable_baselines3.PPO``
``a2c``            mlp         ``stable_baselines3.A2C``
``maskable_ppo``   mlp         ``sb3_contrib.MaskablePPO`` (action masks)
``recurrent_ppo``  lstm        ``sb3_contrib.RecurrentPPO``
=================  ==========  =========================================

``ppo`` with ``policy="lstm"`` means RecurrentPPO. SB3 builds its own
networks; they are configured to the :class:`~cgfsim.agents.networks.CgfPolicy`
layout (``net_arch=dict(pi=hidden, vf=hidden)``, our grid/entity features
extractors with ``normalize_images=False``, one actor LSTM and a separate
critic LSTM) so that :func:`~cgfsim.agents.export.export_sb3` copies the actor
over exactly. Hyperparameters come from ``defaults.toml`` (see there for the
resolution order and the key groups).

A run folder holds ``config.json``, ``progress.csv`` and TensorBoard logs
(``tb/``), ``curve.jsonl``/``curve.csv`` (win rate at data budgets),
``best/`` and ``final/`` (cgfsim checkpoints), ``sb3_model.zip`` (to resume
training only: it is a pickle, trusted-only) and ``result.json``.
"""

from __future__ import annotations

import inspect
import time
import tomllib
from collections.abc import Sequence
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.encoders import EntityExtractor, GridExtractor
from cgfsim.agents.export import export_sb3, init_hparams, load_into_sb3
from cgfsim.agents.networks import ACTIVATIONS, OBS_MODES, CgfPolicy
from cgfsim.agents.rl_callbacks import TrainCallback, eval_budgets
from cgfsim.agents.runs import BudgetHook, make_run_dir, read_json, run_config, write_json
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import key_base

ALGOS = ("ppo", "a2c", "maskable_ppo", "recurrent_ppo")
ALIASES = {"rppo": "recurrent_ppo", "mppo": "maskable_ppo", "maskppo": "maskable_ppo"}
ENV_KEYS = ("n_envs",)
POLICY_KEYS = (
    "hidden",
    "activation",
    "features_dim",
    "lstm_hidden",
    "cnn_channels",
    "embed_dim",
    "attn_heads",
    "attn_layers",
    "ortho_init",
    "critic_lstm",
    "lstm_ortho_init",
)
RUNTIME_KEYS = ("torch_threads", "critic_warmup")  # critic_warmup: see cgfsim.agents.finetune


def resolve_algo(algo: str, policy: str = "mlp") -> str:
    """Canonical algorithm name for ``algo`` x ``policy`` (``ppo`` + ``lstm`` is RecurrentPPO)."""
    a = ALIASES.get(algo.lower().replace("-", "_"), algo.lower().replace("-", "_"))
    if a not in ALGOS:
        raise CgfsimError(f"unknown RL algorithm {algo!r}; expected one of {', '.join(ALGOS)}")
    if policy not in ("mlp", "lstm"):
        raise CgfsimError(f"unknown policy {policy!r}; expected 'mlp' or 'lstm'")
    if policy == "lstm":
        if a in ("ppo", "recurrent_ppo"):
            return "recurrent_ppo"
        raise CgfsimError(f"{a} has no LSTM policy; use algo='ppo' (RecurrentPPO) for lstm")
    if a == "recurrent_ppo":
        raise CgfsimError("recurrent_ppo trains lstm policies; pass policy='lstm'")
    return a


class CgfRecurrentPolicy(RecurrentActorCriticPolicy):
    """RecurrentPPO's ``MlpLstmPolicy`` with a faster, numerically identical LSTM pass.

    sb3-contrib's training minibatches are padded sequences that may begin
    with an episode start but never contain one later; its
    ``_process_sequence`` then steps the LSTM one tick at a time in Python.
    Zeroing those sequences' initial states and running the LSTM once over
    the whole sequence computes the same thing several times faster.
    """

    @staticmethod
    def _process_sequence(
        features: torch.Tensor,
        lstm_states: tuple[torch.Tensor, torch.Tensor],
        episode_starts: torch.Tensor,
        lstm: torch.nn.LSTM,
    ) -> tuple[torch.Tensor, Any]:  # (output, (h, c)); sb3-contrib annotates it loosely
        n_seq = lstm_states[0].shape[1]
        seq = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
        if seq.shape[0] > 1 and not bool(starts[1:].any()):
            keep = (1.0 - starts[0]).view(1, n_seq, 1)
            out, states = lstm(seq, (keep * lstm_states[0], keep * lstm_states[1]))
            return torch.flatten(out.transpose(0, 1), start_dim=0, end_dim=1), states
        return RecurrentActorCriticPolicy._process_sequence(
            features, lstm_states, episode_starts, lstm
        )


def algo_class(algo: str) -> Any:
    """The SB3 / sb3-contrib class of a canonical algorithm name (imported lazily)."""
    if algo == "ppo":
        from stable_baselines3 import PPO

        return PPO
    if algo == "a2c":
        from stable_baselines3 import A2C

        return A2C
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO


@cache
def load_defaults() -> dict[str, Any]:
    """The packaged ``defaults.toml``."""
    text = resources.files("cgfsim.agents").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def resolve_hparams(
    algo: str, scenario_name: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge ``[common]``, ``[algo]``, ``[scenario.<name>.common|algo]`` and ``overrides``."""
    d = load_defaults()
    per_scenario = {k.lower(): v for k, v in d.get("scenario", {}).items()}.get(
        scenario_name.lower(), {}
    )
    merged: dict[str, Any] = {}
    for part in (d.get("common"), d.get(algo), per_scenario.get("common"), per_scenario.get(algo)):
        merged.update(part or {})
    merged.update(overrides or {})
    return merged


class LinearSchedule:
    """``lin_<x>``: a value falling linearly from x to 0 over training (as in RL Zoo).

    A class, not a lambda, so SB3 zips pickle it plainly.
    """

    def __init__(self, start: float) -> None:
        self.start = float(start)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.start

    def __repr__(self) -> str:
        return f"lin_{self.start:g}"


def _schedule(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            return LinearSchedule(float(value[4:]))
        except ValueError:
            raise CgfsimError(
                f"hyperparameter {key}={value!r}: expected a number or 'lin_<number>'"
            ) from None
    return value


def split_hparams(algo: str, hp: dict[str, Any], obs: str) -> tuple[dict, dict, dict, dict]:
    """(env, policy_kwargs, algo kwargs, runtime) from a flat hyperparameter dict."""
    env = {k: hp[k] for k in ENV_KEYS if k in hp}
    pol = {k: hp[k] for k in POLICY_KEYS if k in hp and k != "lstm_ortho_init"}
    run = {k: hp[k] for k in RUNTIME_KEYS if k in hp}
    rest = {k: v for k, v in hp.items() if k not in (*ENV_KEYS, *POLICY_KEYS, *RUNTIME_KEYS)}
    allowed = set(inspect.signature(algo_class(algo)).parameters)
    allowed -= {"self", "policy", "env", "policy_kwargs", "tensorboard_log", "seed", "device"}
    allowed -= {"verbose", "_init_setup_model"}
    unknown = sorted(set(rest) - allowed)
    if unknown:
        raise CgfsimError(
            f"unknown {algo} hyperparameters {unknown}; expected env {list(ENV_KEYS)}, "
            f"policy {list(POLICY_KEYS)}, runtime {list(RUNTIME_KEYS)} or {sorted(allowed)}"
        )
    rest = {k: _schedule(k, v) for k, v in rest.items()}
    return env, sb3_policy_kwargs(algo, obs, pol), rest, run


def sb3_policy_kwargs(algo: str, obs: str, pol: dict[str, Any]) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` that reproduce the CgfPolicy layout."""
    if obs not in OBS_MODES:
        raise CgfsimError(f"unknown observation mode {obs!r}; expected one of {OBS_MODES}")
    hidden = [int(h) for h in pol.get("hidden", (128, 128))]
    act = pol.get("activation", "tanh")
    if act not in ACTIVATIONS:
        raise CgfsimError(f"unknown activation {act!r}; expected one of {tuple(ACTIVATIONS)}")
    kw: dict[str, Any] = {
        "net_arch": {"pi": hidden, "vf": list(hidden)},
        "activation_fn": ACTIVATIONS[act],
        "normalize_images": False,
        "ortho_init": bool(pol.get("ortho_init", True)),
    }
    fdim = int(pol.get("features_dim", 128))
    if obs == "grid":
        kw["features_extractor_class"] = GridExtractor
        kw["features_extractor_kwargs"] = {
            "features_dim": fdim,
            "channels": tuple(pol.get("cnn_channels", (32, 64))),
        }
    elif obs == "entities":
        kw["features_extractor_class"] = EntityExtractor
        kw["features_extractor_kwargs"] = {
            "features_dim": fdim,
            "embed_dim": int(pol.get("embed_dim", 64)),
            "heads": int(pol.get("attn_heads", 4)),
            "layers": int(pol.get("attn_layers", 1)),
        }
    if algo == "recurrent_ppo":
        kw.update(
            lstm_hidden_size=int(pol.get("lstm_hidden", 128)),
            n_lstm_layers=1,
            shared_lstm=False,
            enable_critic_lstm=bool(pol.get("critic_lstm", True)),
        )
    return kw


def init_lstm(model: Any) -> None:
    """Orthogonal LSTM weights and zero biases (as CleanRL's PPO-LSTM does).

    sb3-contrib leaves its LSTMs at PyTorch's small uniform init, which on
    Duel learned markedly slower than this.
    """
    for name in ("lstm_actor", "lstm_critic"):
        lstm = getattr(model.policy, name, None)
        if lstm is None:
            continue
        with torch.no_grad():
            for pname, p in lstm.named_parameters():
                if pname.startswith("weight"):
                    torch.nn.init.orthogonal_(p, 1.0)
                else:
                    p.zero_()


def make_logger(run_dir: Path, tensorboard: bool = True) -> Any:
    """SB3 logger: ``progress.csv`` in the run folder, TensorBoard events in ``tb/``.

    An explicit logger keeps SB3 from creating ``SB3-*`` folders in the temp
    dir (or ``$SB3_LOGDIR``) and from printing to stdout.
    """
    from stable_baselines3.common.logger import Logger, make_output_format

    formats = [make_output_format("csv", str(run_dir))]
    if tensorboard:
        formats.append(make_output_format("tensorboard", str(run_dir / "tb")))
    return Logger(folder=str(run_dir), output_formats=formats)


def _default_evaluator(
    scenario: Any,
    opponent: str,
    obs: str,
    side: str,
    episodes: int,
    seed: int,
    masked: bool | None,
) -> Any:
    """``policy -> EvalResult`` with cgfsim.agents.evaluation (greedy, fixed worlds)."""
    from cgfsim.agents.evaluation import evaluate

    return partial(
        evaluate,
        scenario=scenario,
        opponent=opponent,
        episodes=episodes,
        obs=obs,
        side=side,
        seed=seed,
        deterministic=True,
        masked=masked,
    )


def train_rl(
    algo: str,
    scenario: Any,
    opponent: str = "random",
    obs: str = "vector",
    policy: str = "mlp",
    steps: int = 100_000,
    seed: int = 0,
    out_dir: str | Path | None = None,
    side: str = "blue",
    hparams: dict[str, Any] | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 200,
    progress: bool = True,
    tensorboard: bool = True,
    eval_at: Sequence[int] | None = None,
    eval_seed: int | None = None,
    resume: str | Path | None = None,
    budget_hook: BudgetHook | None = None,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train an SB3 learner for ``steps`` env steps into the run folder ``out_dir``.

    ``out_dir`` is the run folder itself (created; the lab makes it with
    :func:`~cgfsim.agents.runs.make_run_dir`); by default a fresh
    ``runs/rl-<scenario>/<timestamp>-<approach>-s<seed>/``.

    Training worlds are the ``train`` split's keys of ``seed``
    (:mod:`cgfsim.sim.splits`). Win rate (greedy, ``eval_episodes`` episodes
    against ``opponent``, on worlds keyed from ``eval_seed``, default the
    ``validation`` split of ``seed``: it selects the ``best`` checkpoint, so it
    is not a test figure) is measured at the data budgets ``eval_at`` (or every
    ``eval_every`` steps; default ten points) and at the end; ``eval_episodes=0``
    skips evaluation. ``resume`` continues from an ``sb3_model.zip`` (a pickle:
    trusted files only). ``budget_hook`` (the lab's) is offered the policy after
    every update (see :class:`~cgfsim.agents.rl_callbacks.TrainCallback`).
    ``init_from`` starts from a cgfsim checkpoint's actor (e.g. behaviour-cloned
    weights; the network takes its architecture, the critic starts fresh); its
    ``demo_steps`` are reported beside the run's own env steps.

    Returns ``{"policy_dir", "final_dir", "run_dir", "env_steps", "wall_s",
    "curve", "best_win_rate", "steps_per_s", ...}``; ``policy_dir`` is the
    best checkpoint (``final/`` when nothing was evaluated).
    """
    from stable_baselines3.common.vec_env import VecMonitor

    from cgfsim.envs._common import get_scenario
    from cgfsim.envs.sb3 import CgfsimVecEnv

    a = resolve_algo(algo, policy)
    sc = get_scenario(scenario)  # bad input raises ScenarioError, a CgfsimError
    init = None
    if init_from is not None:
        from cgfsim.agents.finetune import finetune_hparams

        init = _initial_policy(init_from, a, obs, resume)
        hparams = finetune_hparams(a, init_hparams(init[0].spec, hparams))
    hp = resolve_hparams(a, sc.name, hparams)
    env_kw, policy_kwargs, algo_kw, run_kw = split_hparams(a, hp, obs)
    steps = int(steps)
    if steps < 1:
        raise CgfsimError(f"steps must be >= 1, got {steps}")
    warmup = int(run_kw.get("critic_warmup", 0))
    if warmup < 0 or (warmup and init is None):
        raise CgfsimError(f"critic_warmup must be >= 0 and needs --init-from, got {warmup}")
    approach = f"{a}-{'lstm' if a == 'recurrent_ppo' else 'mlp'}"
    if obs != "vector":
        approach += f"-{obs}"
    if out_dir is None:
        run_dir = make_run_dir("runs", f"rl-{sc.name}", f"{approach}-s{seed}")
    else:
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(a, sc.name, opponent, obs, policy, side, steps, seed, hp, eval_episodes)
    write_json(run_dir / "config.json", config)

    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(run_kw.get("torch_threads", 1)))
    try:
        venv = VecMonitor(
            CgfsimVecEnv(sc, int(env_kw.get("n_envs", 64)), side=side, opponent=opponent, obs=obs)
        )
    except ValueError as e:
        raise CgfsimError(str(e)) from None
    try:
        cls = algo_class(a)
        if resume is not None:
            model = cls.load(str(resume), env=venv, device="cpu")  # trusted-only pickle
        else:
            model = cls(
                CgfRecurrentPolicy if a == "recurrent_ppo" else "MlpPolicy",
                venv,
                policy_kwargs=policy_kwargs,
                seed=seed,
                device="cpu",
                verbose=0,
                **algo_kw,
            )
            if a == "recurrent_ppo" and bool(hp.get("lstm_ortho_init", True)):
                init_lstm(model)
            model.get_env().seed(key_base("train", seed))  # world i: train key i of this seed
            if init is not None:
                from cgfsim.agents.checkpoints import check_compatible

                check_compatible(init[0].spec, venv, where=f"--init-from {init_from}")
                load_into_sb3(model, init[0])
        model.set_logger(make_logger(run_dir, tensorboard))
        evaluate = (
            _default_evaluator(
                scenario if isinstance(scenario, str) else sc,
                opponent,
                obs,
                side,
                eval_episodes,
                key_base("validation", seed) if eval_seed is None else eval_seed,
                None,  # the project's evaluation mode: greedy over valid actions
            )
            if eval_episodes > 0
            else None
        )
        meta = {k: config[k] for k in ("algo", "scenario", "opponent", "obs", "side", "seed")}
        meta["masked"] = a == "maskable_ppo"  # evaluation applies action masks then
        meta["training"] = hp
        init_demo = int(init[1].get("demo_steps", 0)) if init is not None else 0
        if init is not None:
            meta.update(init_from=str(init_from), demo_steps=init_demo)
        start = int(model.num_timesteps) if resume is not None else 0
        cb = TrainCallback(
            run_dir,
            evaluate,
            eval_budgets(start + steps, eval_every, eval_at),
            start + steps,
            approach,
            seed,
            meta,
            progress=progress,
            start_steps=start,
            budget_hook=budget_hook,
            demo_steps=init_demo,
        )
        t0 = time.perf_counter()
        callback: Any = cb
        if warmup:
            from stable_baselines3.common.callbacks import CallbackList

            from cgfsim.agents.finetune import CriticWarmup

            callback = CallbackList([CriticWarmup(warmup), cb])
        model.learn(steps, callback=callback, reset_num_timesteps=resume is None)
        total_s = time.perf_counter() - t0
        model.save(str(run_dir / "sb3_model.zip"))
        final, spec = export_sb3(model)
        env_steps = int(model.num_timesteps)
        final_dir = save_checkpoint(
            run_dir / "final", final, spec, {**meta, "env_steps": env_steps}
        )
    finally:
        venv.close()
        torch.set_num_threads(threads_before)
    trained = env_steps - start
    result = {
        "approach": approach,
        "run_dir": str(run_dir),
        "policy_dir": str(run_dir / "best") if cb.curve else str(final_dir),
        "final_dir": str(final_dir),
        "sb3_zip": str(run_dir / "sb3_model.zip"),
        "env_steps": env_steps,
        "demo_steps": init_demo,
        "wall_s": round(cb.train_wall_s, 3),
        "eval_s": round(cb.eval_s, 3),
        "total_s": round(total_s, 3),
        "steps_per_s": round(trained / max(cb.train_wall_s, 1e-9), 1),
        "best_win_rate": cb.best_win_rate if cb.curve else None,
        "best_env_steps": cb.best_steps if cb.curve else None,
        "curve": cb.curve,
    }
    if init is not None:
        result.update(
            init_from=str(init_from),
            prior_env_steps=int(init[1].get("env_steps", 0)),
            recording_env_steps=int(init[1].get("recording_env_steps", 0)),
        )
    write_json(run_dir / "result.json", result)
    return result


def _initial_policy(
    path: str | Path, algo: str, obs: str, resume: str | Path | None
) -> tuple[CgfPolicy, dict[str, Any]]:
    """The checkpoint an RL run starts from, checked against the run (one-line errors)."""
    from cgfsim.agents.checkpoints import load_checkpoint

    if resume is not None:
        raise CgfsimError("give either init_from (--init-from) or resume, not both")
    policy, spec, meta = load_checkpoint(path)
    if spec.obs_mode != obs:
        raise CgfsimError(
            f"--init-from {path}: trained on {spec.obs_mode} observations, not {obs} "
            f"(use --obs {spec.obs_mode})"
        )
    want = "lstm" if algo == "recurrent_ppo" else "mlp"
    if spec.core != want:
        raise CgfsimError(
            f"--init-from {path}: a {spec.core} policy cannot start {algo} (a {want} learner); "
            + ("use --algo rppo --policy lstm" if spec.core == "lstm" else "use --policy mlp")
        )
    return policy, meta


def load_result(run_dir: str | Path) -> dict[str, Any]:
    """The ``result.json`` of a finished run."""
    return read_json(Path(run_dir) / "result.json")


def load_policy(run_dir: str | Path, which: str = "best") -> CgfPolicy:
    """The ``best`` or ``final`` policy of a run folder."""
    from cgfsim.agents.checkpoints import load_checkpoint

    return load_checkpoint(Path(run_dir) / which)[0]
