"""Reinforcement learning with Stable-Baselines3 / sb3-contrib on the batched cgfsim VecEnv.

=================  ==========  =========================================
algo               policy      learner
=================  ==========  =========================================
``ppo``            mlp         ``stable_baselines3.PPO``
``a2c``            mlp         ``stable_baselines3.A2C``
``maskable_ppo``   mlp         ``sb3_contrib.MaskablePPO`` (action masks)
``recurrent_ppo``  lstm        ``sb3_contrib.RecurrentPPO``
=================  ==========  =========================================

``ppo`` with ``policy="lstm"`` means RecurrentPPO.

**One action regime** (``masked = true``, the default): every learner acts over
the actions that can have an effect now, in training as in evaluation. PPO,
A2C and RecurrentPPO observe ``{"observation", "action_mask"}`` and mask their
logits (:mod:`cgfsim.agents.sb3_policies`); MaskablePPO masks from
``env.action_masks()``; the GA masks in its batched forward pass. ``--set
masked=false`` trains PPO/A2C/RecurrentPPO unmasked (for comparison only).

**Schedules** (``learning_rate``, ``clip_range``, ``ent_coef``) are constants or
``{start, end, horizon}`` tables over env steps (:mod:`cgfsim.agents.recipe`),
applied every rollout by :class:`~cgfsim.agents.rl_callbacks.ScheduleCallback`:
they never depend on the total budget, so every budget on the way of a long
run is a run of that budget.

**League** (``league=``): the opponent is a per-world mixture of doctrines,
checkpoints and snapshots of the learner, sampled by PFSP
(:mod:`cgfsim.agents.league`).

SB3 builds its own
networks; they are configured to the :class:`~cgfsim.agents.networks.CgfPolicy`
layout (``net_arch=dict(pi=hidden, vf=hidden)``, our grid/entity features
extractors with ``normalize_images=False``, one actor LSTM and a separate
critic LSTM) so that :func:`~cgfsim.agents.export.export_sb3` copies the actor
over exactly. Hyperparameters come from ``defaults.toml`` (see there for the
resolution order and the key groups).

A run folder holds ``config.json``, ``progress.csv`` and TensorBoard logs
(``tb/``), ``curve.jsonl``/``curve.csv`` (win rate at data budgets),
``best/`` and ``final/`` (cgfsim checkpoints), ``sb3_model.zip`` (to resume
training only: it is a pickle, trusted-only), ``resume/`` (the last resume
point, :mod:`cgfsim.agents.resume`) and ``result.json``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.encoders import EntityExtractor, GridExtractor
from cgfsim.agents.export import export_sb3, init_hparams, load_into_sb3
from cgfsim.agents.hparams import check_values
from cgfsim.agents.networks import ACTIVATIONS, OBS_MODES, CgfPolicy
from cgfsim.agents.recipe import (
    NETWORK_KEYS,
    SCHEDULE_KEYS,
    StepSchedule,
    parse_schedule,
    resolve,
    value_at,
)
from cgfsim.agents.resume import save_model, save_point
from cgfsim.agents.rl_callbacks import ScheduleCallback, TrainCallback, eval_budgets
from cgfsim.agents.runs import BudgetHook, make_run_dir, read_json, run_config, write_json
from cgfsim.agents.sb3_policies import (
    CgfRecurrentPolicy,
    MaskedActorCriticPolicy,
    MaskedObsExtractor,
    MaskedRecurrentPolicy,
)
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import key_base

ALGOS = ("ppo", "a2c", "maskable_ppo", "recurrent_ppo")
ALIASES = {"rppo": "recurrent_ppo", "mppo": "maskable_ppo", "maskppo": "maskable_ppo"}
ENV_KEYS = ("n_envs", "masked")
POLICY_KEYS = (*NETWORK_KEYS, "ortho_init", "critic_lstm", "lstm_ortho_init")
RUNTIME_KEYS = ("torch_threads", "critic_warmup")  # critic_warmup: cgfsim.agents.finetune
#: The kind of value each env/policy/runtime key takes (see cgfsim.agents.hparams).
POLICY_REFERENCE: dict[str, Any] = {
    "n_envs": 64,
    "hidden": [64],
    "activation": "tanh",
    "features_dim": 128,
    "lstm_hidden": 128,
    "cnn_channels": [32, 64],
    "embed_dim": 64,
    "attn_heads": 4,
    "attn_layers": 1,
    "ortho_init": True,
    "critic_lstm": True,
    "lstm_ortho_init": True,
    "torch_threads": 1,
    "critic_warmup": 4096,
}


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


def resolve_hparams(
    algo: str, scenario_name: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``[network]``, ``[common]``, ``[algo]``, the scenario's parts, then ``overrides``."""
    return resolve(algo, scenario_name, overrides, rl=True)


def is_masked(algo: str, hp: dict[str, Any]) -> bool:
    """Whether this run trains in the masked action regime (MaskablePPO always does)."""
    masked = hp.get("masked", True)
    if not isinstance(masked, bool):
        raise CgfsimError(f"hyperparameter masked={masked!r}: expected true or false")
    if algo == "maskable_ppo" and not masked:
        raise CgfsimError("maskable_ppo always trains with action masks; drop masked=false")
    return masked or algo == "maskable_ppo"


def split_hparams(algo: str, hp: dict[str, Any], obs: str) -> tuple[dict, dict, dict, dict]:
    """(env, policy_kwargs, algo kwargs, runtime) from a flat hyperparameter dict."""
    env = {k: hp[k] for k in ENV_KEYS if k in hp}
    pol = {k: hp[k] for k in POLICY_KEYS if k in hp and k != "lstm_ortho_init"}
    run = {k: hp[k] for k in RUNTIME_KEYS if k in hp}
    rest = {k: v for k, v in hp.items() if k not in (*ENV_KEYS, *POLICY_KEYS, *RUNTIME_KEYS)}
    sig = inspect.signature(algo_class(algo)).parameters
    allowed = set(sig)
    allowed -= {"self", "policy", "env", "policy_kwargs", "tensorboard_log", "seed", "device"}
    allowed -= {"verbose", "_init_setup_model"}
    unknown = sorted(set(rest) - allowed)
    if unknown:
        raise CgfsimError(
            f"unknown {algo} hyperparameters {unknown}; expected env {list(ENV_KEYS)}, "
            f"policy {list(POLICY_KEYS)}, runtime {list(RUNTIME_KEYS)} or {sorted(allowed)}"
        )
    reference = {k: p.default for k, p in sig.items() if p.default is not inspect.Parameter.empty}
    check_values(hp, {**reference, **POLICY_REFERENCE}, algo, schedules=True)
    for k in list(rest):
        if k in SCHEDULE_KEYS:
            rest[k] = parse_schedule(k, rest[k])
        elif isinstance(rest[k], dict) or (isinstance(rest[k], str) and rest[k].startswith("lin_")):
            raise CgfsimError(f"hyperparameter {k}: only {list(SCHEDULE_KEYS)} take schedules")
    masked = is_masked(algo, hp) and algo != "maskable_ppo"  # dict observations + masked head
    return env, sb3_policy_kwargs(algo, obs, pol, masked), rest, run


def sb3_policy_kwargs(
    algo: str, obs: str, pol: dict[str, Any], masked: bool = False
) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` that reproduce the CgfPolicy layout (masked: dict observations)."""
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
    if masked:
        kw["features_extractor_class"] = MaskedObsExtractor
        kw["features_extractor_kwargs"] = {
            "obs_mode": obs,
            "features_dim": fdim,
            "channels": tuple(pol.get("cnn_channels", (32, 64))),
            "embed_dim": int(pol.get("embed_dim", 64)),
            "heads": int(pol.get("attn_heads", 4)),
            "layers": int(pol.get("attn_layers", 1)),
        }
    elif obs == "grid":
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
    opponent: str | None = "random",
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
    league: Any = None,
    save_at: Sequence[int] | None = None,
    final_episodes: int = 0,
    resume_point: dict[str, Any] | None = None,
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
    trusted files only) for ``steps`` more env steps; ``resume_point`` (from
    :func:`cgfsim.agents.resume.resume_run`) continues a killed run in its own
    folder, with its best win rate, curve and wall time. A resume point
    (:mod:`cgfsim.agents.resume`) is kept after every evaluation budget and at the
    end. ``budget_hook`` (the lab's) is offered the policy after every update
    (see :class:`~cgfsim.agents.rl_callbacks.TrainCallback`).
    ``init_from`` starts from a cgfsim checkpoint's actor (e.g. behaviour-cloned
    weights; the network takes its architecture, the critic starts fresh); its
    ``demo_steps`` are reported beside the run's own env steps.

    ``league`` (a :class:`~cgfsim.agents.league.LeagueConfig`, a ``"doctrines,self"``
    spec or a TOML path) replaces ``opponent``: each world draws its opponent per
    episode by PFSP; in-training evaluation is then the mean win rate over the
    league's doctrines (each one a ``win_<doctrine>`` column of the curve), and
    ``league.json`` and the snapshots (``league/self-<steps>/``) go to the run folder.
    ``save_at``: also keep a checkpoint ``at-<env_steps>/`` at the first rollout end
    at or past each of these budgets. ``final_episodes`` > 0: after training, the
    best policy plays that many episodes against every doctrine on test-split worlds
    (:func:`~cgfsim.agents.league.evaluate_vs_doctrines`), written to ``final_eval.json``.

    Returns ``{"policy_dir", "final_dir", "run_dir", "env_steps", "wall_s",
    "curve", "best_win_rate", "steps_per_s", ...}``; ``policy_dir`` is the
    best checkpoint (``final/`` when nothing was evaluated).
    """
    from stable_baselines3.common.vec_env import VecMonitor

    from cgfsim.agents.league import League, LeagueCallback, parse_league, validate_league
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
    masked = is_masked(a, hp)
    steps = int(steps)
    if steps < 1:
        raise CgfsimError(f"steps must be >= 1, got {steps}")
    warmup = int(run_kw.get("critic_warmup", 0))
    resumed_init = resume_point is not None and resume_point.get("init_from") is not None
    if warmup < 0 or (warmup and init is None and not resumed_init):
        raise CgfsimError(f"critic_warmup must be >= 0 and needs --init-from, got {warmup}")
    lg_cfg = None
    if league is not None:
        if resume is not None:
            raise CgfsimError(
                "a league run cannot resume (its snapshots and statistics are not saved)"
            )
        lg_cfg = parse_league(league)
        validate_league(lg_cfg, sc, side)
        opponent = None
    elif opponent is None:
        raise CgfsimError("give an opponent or a league")
    schedules = {k: v for k, v in algo_kw.items() if isinstance(v, StepSchedule)}
    algo_kw = {k: value_at(v, 0) if k in schedules else v for k, v in algo_kw.items()}
    approach = f"{a}-{'lstm' if a == 'recurrent_ppo' else 'mlp'}"
    if obs != "vector":
        approach += f"-{obs}"
    if out_dir is None:
        run_dir = make_run_dir("runs", f"rl-{sc.name}", f"{approach}-s{seed}")
    else:
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    opp_name = f"league ({lg_cfg.source})" if lg_cfg is not None else opponent
    done = int(resume_point["env_steps"]) if resume_point is not None else 0
    config = run_config(
        a, sc.name, opp_name, obs, policy, side, done + steps, seed, hp, eval_episodes
    )
    if lg_cfg is not None:
        config["league"] = lg_cfg.to_dict()
    write_json(run_dir / "config.json", config)

    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(run_kw.get("torch_threads", 1)))
    lg = League(lg_cfg, seed=seed) if lg_cfg is not None else None
    try:
        venv = VecMonitor(
            CgfsimVecEnv(
                sc,
                int(env_kw.get("n_envs", 64)),
                side=side,
                opponent=lg.router if lg is not None else opponent,
                obs=obs,
                dict_obs=masked and a != "maskable_ppo",
            )
        )
    except ValueError as e:
        raise CgfsimError(str(e)) from None
    try:
        cls = algo_class(a)
        if resume is not None:
            model = cls.load(str(resume), env=venv, device="cpu")  # trusted-only pickle
            model._last_obs = None  # the saved one belongs to the old env: reset this one
            model.get_env().seed(key_base("train", seed) + int(model.num_timesteps))
        else:
            model = cls(
                _policy_class(a, masked),
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
        if resume_point is not None and (run_dir / "progress.csv").exists():  # SB3 truncates it
            (run_dir / "progress.csv").replace(run_dir / f"progress-to-{model.num_timesteps}.csv")
        model.set_logger(make_logger(run_dir, tensorboard))
        where: Any = scenario if isinstance(scenario, str) else sc
        evaluate: Any = None
        if eval_episodes > 0:
            ev_seed = key_base("validation", seed) if eval_seed is None else eval_seed
            if lg is not None:
                from cgfsim.agents.league import league_evaluator

                docs = lg.config.doctrines or ["random"]
                evaluate = league_evaluator(where, docs, obs, side, eval_episodes, ev_seed)
            else:
                # the project's evaluation mode: greedy over valid actions
                evaluate = _default_evaluator(
                    where, str(opponent), obs, side, eval_episodes, ev_seed, None
                )
        meta = {k: config[k] for k in ("algo", "scenario", "opponent", "obs", "side", "seed")}
        meta["masked"] = masked
        meta["training"] = hp
        init_demo = int(init[1].get("demo_steps", 0)) if init is not None else 0
        if init is not None:
            meta.update(init_from=str(init_from), demo_steps=init_demo)
        elif resume_point is not None and resume_point.get("init_from") is not None:
            init_demo = int(resume_point.get("demo_steps", 0))
            meta.update(init_from=resume_point["init_from"], demo_steps=init_demo)
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
            save_at=save_at,
        )
        cb.on_budget = partial(_save_point, run_dir, model, cb, sc.text, meta)
        if resume_point is not None:
            cb.restore(resume_point)
        callbacks: list[Any] = [cb, ScheduleCallback(schedules)]
        if lg is not None:
            callbacks.append(LeagueCallback(lg, run_dir))
        t0 = time.perf_counter()
        if warmup:
            from cgfsim.agents.finetune import CriticWarmup

            callbacks.insert(0, CriticWarmup(warmup))
        model.learn(steps, callback=callbacks, reset_num_timesteps=resume is None)
        total_s = time.perf_counter() - t0
        save_model(model, run_dir / "sb3_model.zip")
        _save_point(run_dir, model, cb, sc.text, meta)
        final, spec = export_sb3(model)
        env_steps = int(model.num_timesteps)
        final_dir = save_checkpoint(
            run_dir / "final", final, spec, {**meta, "env_steps": env_steps}
        )
    finally:
        venv.close()
        torch.set_num_threads(threads_before)
    trained = env_steps - start
    result: dict[str, Any] = {
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
        "steps_per_s": round(trained / max(cb.train_wall_s - cb.wall_before, 1e-9), 1),
        "best_win_rate": cb.best_win_rate if cb.curve else None,
        "best_env_steps": cb.best_steps if cb.curve else None,
        "curve": cb.curve,
        "masked": masked,
    }
    if init is not None:
        result.update(
            init_from=str(init_from),
            prior_env_steps=int(init[1].get("env_steps", 0)),
            recording_env_steps=int(init[1].get("recording_env_steps", 0)),
        )
    if lg is not None:
        result["league"] = str(run_dir / "league.json")
    if final_episodes > 0:
        result["final_eval"] = final_eval(
            result["policy_dir"], where, final_episodes, seed, side, run_dir
        )
    write_json(run_dir / "result.json", result)
    return result


def _save_point(
    run_dir: Path, model: Any, cb: TrainCallback, text: str, meta: dict[str, Any]
) -> None:
    """This run's resume point: the SB3 model and the callback's counters."""
    n = int(model.num_timesteps)
    state = {"kind": "rl", "env_steps": n, **cb.state()}
    state.update({k: meta[k] for k in ("init_from", "demo_steps") if k in meta})
    save_point(run_dir, f"rl-{n}.zip", model.save, state, text)


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


def final_eval(
    policy_dir: str | Path,
    scenario: Any,
    episodes: int,
    seed: int,
    side: str,
    run_dir: Path,
) -> list[dict[str, Any]]:
    """Win/draw/loss against every doctrine on test-split worlds, into ``final_eval.json``."""
    from cgfsim.agents.league import evaluate_vs_doctrines

    rows = [
        r.to_dict() for r in evaluate_vs_doctrines(policy_dir, scenario, None, episodes, seed, side)
    ]
    write_json(run_dir / "final_eval.json", {"policy": str(policy_dir), "results": rows})
    return rows


def _policy_class(algo: str, masked: bool) -> Any:
    """The SB3 policy of an algorithm in the masked (dict obs) or unmasked regime."""
    if algo == "recurrent_ppo":
        return MaskedRecurrentPolicy if masked else CgfRecurrentPolicy
    if masked and algo != "maskable_ppo":
        return MaskedActorCriticPolicy
    return "MlpPolicy"


def load_result(run_dir: str | Path) -> dict[str, Any]:
    """The ``result.json`` of a finished run."""
    return read_json(Path(run_dir) / "result.json")


def load_policy(run_dir: str | Path, which: str = "best") -> CgfPolicy:
    """The ``best`` or ``final`` policy of a run folder."""
    from cgfsim.agents.checkpoints import load_checkpoint

    return load_checkpoint(Path(run_dir) / which)[0]
