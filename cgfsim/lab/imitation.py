"""The learning-from-demonstration approaches (the DL-CGF line), through the learners' entry
points: :func:`~cgfsim.agents.bc.train_bc`, :func:`~cgfsim.agents.dagger.train_dagger` and
:func:`~cgfsim.agents.rl.train_rl` with ``init_from``.

=============  ===========  ==============================================================
approach       data axis    one job (scenario x seed)
=============  ===========  ==============================================================
``bc-mlp``     demo_steps   behaviour cloning on nested prefixes of the seed's shared
``bc-lstm``                 dataset, one fresh fit per budget (``train_bc(eval_at=...)``)
``dagger-mlp`` demo_steps   one DAgger run per budget with that many expert labels (its
                            iteration schedule is a function of the label budget)
``bc-ppo``     total_steps  BC-MLP on ``demo_steps`` demonstrations (default: the first
                            budget), then PPO from the clone (``init_from``); the clone is
                            the first point, every PPO update the next ones
=============  ===========  ==============================================================

The demonstrator is the doctrine that does best against the evaluation opponent
(:mod:`cgfsim.lab.targets`), recorded on ``demo``-split worlds once per (scenario,
demonstrator, opponent, seed) and shared by the jobs (:mod:`cgfsim.lab.demos`);
DAgger queries it as its expert. Counters: ``demo_steps`` are expert labels (BC: the
train + validation transitions used; DAgger: its labels), ``env_steps`` the learner's
own interaction (DAgger's rollouts, PPO's steps), ``record_env_steps`` the env steps
it took to record the demonstrations used (one per transition: the demonstrator
plays without exploration). ``wall_s`` is the job's training time so far; the
dataset's own recording time is in the job result (``demos``).

Options (``[options.<approach>]``): BC and DAgger take the supervised
hyperparameters (:data:`cgfsim.agents.supervised.DEFAULTS`; DAgger also
:data:`cgfsim.agents.dagger.EXTRA`). BC-then-PPO takes ``demo_steps``, a ``bc``
table (BC hyperparameters, which also set the network) and PPO hyperparameters.
BC and BC-then-PPO also take ``dataset``: a demonstration dataset of one's own (a
path or Minari id, e.g. from ``cgfsim demos from-replays``) to learn from instead of
recording the best doctrine; it must be of the sweep's scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cgfsim.lab.approaches import Approach, JobContext, learner_kwargs, register
from cgfsim.sim.errors import CgfsimError

#: BC-then-PPO's own option keys (the rest goes to PPO).
BC_PPO_KEYS = ("demo_steps", "bc", "dataset")


def given_dataset(path: str) -> dict[str, Any]:
    """A dataset named in the options, described like a recorded one."""
    from cgfsim.agents.demos import dataset_info
    from cgfsim.lab.demos import describe

    info = dataset_info(path)
    d = info.get("demonstrator", {})
    who = d.get("name", "?") if isinstance(d, dict) else str(d)
    return {**describe(info, who, False, 0.0), "given": True}


def job_demos(ctx: JobContext, steps: int | None = None) -> dict[str, Any]:
    """The dataset given in the options, else the seed's shared demonstration dataset
    (recorded on first use)."""
    from cgfsim.lab.demos import cached_demos

    if ctx.options.get("dataset"):
        return given_dataset(str(ctx.options["dataset"]))
    if ctx.demonstrator is None:
        raise CgfsimError("this approach needs a demonstrator; the sweep named none")
    if ctx.demo_cache is None:
        raise CgfsimError("this approach needs a demonstration cache folder")
    return cached_demos(
        ctx.scenario,
        ctx.demonstrator,
        ctx.opponent,
        ctx.side,
        ctx.seed,
        int(steps if steps is not None else ctx.demo_record_steps or ctx.max_budget),
        ctx.demo_cache,
    )


def _quiet() -> dict[str, Any]:
    """The learners' options for a lab job: no own evaluation, output or progress."""
    return {"eval_episodes": 0, "progress": False, "tensorboard": False, "verbose": False}


def _int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    v = options.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise CgfsimError(f"{key} must be an integer >= 1, got {v!r}")
    return int(v)


# --------------------------------------------------------------------------- BC


def _bc(policy: str) -> tuple[Callable[[JobContext], Mapping[str, Any]], Any]:
    def train(ctx: JobContext) -> Mapping[str, Any]:
        from cgfsim.agents.bc import train_bc

        demos = job_demos(ctx)

        def hook(account: Any, make_policy: Callable[[], Any]) -> None:
            d = int(account.demo_steps)
            counters = {"env_steps": 0, "demo_steps": d, "record_env_steps": d}
            ctx.offer({**counters, "wall_s": account.wall_s}, make_policy)

        res = train_bc(
            demos["path"],
            policy=policy,
            seed=ctx.seed,
            out_dir=ctx.run_dir,
            hparams={k: v for k, v in ctx.options.items() if k != "dataset"},
            eval_at=list(ctx.budgets),
            scenario=ctx.scenario,
            budget_hook=hook,
            **_quiet(),
        )
        return {
            "env_steps": 0,
            "demo_steps": res["demo_steps"],
            "record_env_steps": res["demo_steps"],
            "wall_s": res["wall_s"],
            "test_accuracy": res["test_accuracy"],
            "demos": demos,
        }

    def check(options: Mapping[str, Any], scenario: Any) -> None:
        from cgfsim.agents import supervised as S

        S.resolve_hparams({k: v for k, v in options.items() if k != "dataset"}, policy)
        _check_dataset(options, scenario)

    return train, check


def _check_dataset(options: Mapping[str, Any], scenario: Any) -> None:
    """A dataset given in the options opens and is of the sweep's scenario."""
    if not options.get("dataset"):
        return
    from cgfsim.agents.bc import check_scenario
    from cgfsim.agents.demo_store import open_dataset

    check_scenario(open_dataset(str(options["dataset"])), scenario)


def _bc_record_steps(options: Mapping[str, Any], budgets: list[int]) -> int:
    return 0 if options.get("dataset") else int(budgets[-1])


for _name, _label, _pol in (("bc-mlp", "BC-MLP", "mlp"), ("bc-lstm", "BC-LSTM", "lstm")):
    _train, _check = _bc(_pol)
    register(
        Approach(
            _name,
            _label,
            "BC",
            "demo_steps",
            _train,
            _check,
            demonstrations="recorded",
            record_steps=_bc_record_steps,
            cost=8.0,  # a label is fitted for many epochs; measured ~8 PPO env steps on Duel
        )
    )


# --------------------------------------------------------------------------- DAgger


def _dagger_train(ctx: JobContext) -> Mapping[str, Any]:
    """One DAgger run per label budget; the lab is offered each run's final policy."""
    from cgfsim.agents.dagger import train_dagger

    if ctx.demonstrator is None:
        raise CgfsimError("dagger-mlp needs an expert doctrine; the sweep named none")
    env_steps = 0
    wall = 0.0
    for b in ctx.budgets:
        last: dict[str, Any] = {}

        def hook(account: Any, make_policy: Callable[[], Any], last: dict[str, Any] = last) -> None:
            last.update(account=account, make_policy=make_policy)

        res = train_dagger(
            ctx.scenario,
            expert=ctx.demonstrator,
            opponent=ctx.opponent,
            obs="vector",
            policy="mlp",
            labels=int(b),
            seed=ctx.seed,
            out_dir=ctx.run_dir / f"labels-{b}",
            side=ctx.side,
            hparams=dict(ctx.options),
            budget_hook=hook,
            **_quiet(),
        )
        acc = last["account"]
        wall += float(res["wall_s"])
        env_steps += int(res["env_steps"])
        counters = {"env_steps": int(acc.env_steps), "demo_steps": int(acc.demo_steps)}
        ctx.offer({**counters, "record_env_steps": 0, "wall_s": wall}, last["make_policy"])
    return {"env_steps": env_steps, "demo_steps": int(ctx.max_budget), "wall_s": wall}


def _dagger_check(options: Mapping[str, Any], scenario: Any) -> None:
    from cgfsim.agents import supervised as S
    from cgfsim.agents.dagger import EXTRA

    S.resolve_hparams(dict(options), "mlp", EXTRA)


def _dagger_budgets(options: Mapping[str, Any], budgets: list[int]) -> None:
    from cgfsim.agents.dagger import EXTRA

    it = int(options.get("iterations", EXTRA["iterations"]))
    if budgets[0] < it:
        raise CgfsimError(
            f"DAgger's smallest label budget ({budgets[0]}) must be >= its iterations ({it})"
        )


register(
    Approach(
        "dagger-mlp",
        "DAgger-MLP",
        "BC",
        "demo_steps",
        _dagger_train,
        _dagger_check,
        demonstrations="expert",
        check_budgets=_dagger_budgets,
        cost=8.0,
    )
)


# --------------------------------------------------------------------------- BC-then-PPO


def _split_bc_ppo(options: Mapping[str, Any], budgets: list[int]) -> tuple[int, dict, dict]:
    """``(demo steps, BC hyperparameters, PPO hyperparameters)`` of BC-then-PPO's options."""
    demo = _int_option(options, "demo_steps", int(budgets[0]))
    bc = options.get("bc", {})
    if not isinstance(bc, dict):
        raise CgfsimError(f"bc must be a table of BC hyperparameters, got {bc!r}")
    rl = {k: v for k, v in options.items() if k not in BC_PPO_KEYS}
    return demo, dict(bc), rl


def _bc_ppo_train(ctx: JobContext) -> Mapping[str, Any]:
    from cgfsim.agents.bc import train_bc
    from cgfsim.agents.rl import train_rl

    demo, bc_hp, rl_hp = _split_bc_ppo(ctx.options, list(ctx.budgets))
    demos = job_demos(ctx)
    bc = train_bc(
        demos["path"],
        policy="mlp",
        seed=ctx.seed,
        out_dir=ctx.run_dir / "bc",
        hparams=bc_hp,
        max_demo_steps=demo,
        scenario=ctx.scenario,
        **_quiet(),
    )
    used, bc_wall = int(bc["demo_steps"]), float(bc["wall_s"])

    def hook(account: Any, make_policy: Callable[[], Any]) -> None:
        counters = {"env_steps": int(account.env_steps), "demo_steps": used}
        wall = bc_wall + float(account.wall_s)
        ctx.offer({**counters, "record_env_steps": used, "wall_s": wall}, make_policy)

    kw = learner_kwargs(ctx, "mlp")
    kw.update(
        steps=ctx.max_budget - used,
        out_dir=ctx.run_dir / "ppo",
        hparams=rl_hp,
        budget_hook=hook,
        init_from=bc["policy_dir"],
    )
    res = train_rl("ppo", **kw)
    return {
        "env_steps": res["env_steps"],
        "demo_steps": used,
        "record_env_steps": used,
        "wall_s": bc_wall + float(res["wall_s"]),
        "bc_wall_s": bc_wall,
        "test_accuracy": bc["test_accuracy"],
        "demos": demos,
    }


def _bc_ppo_check(options: Mapping[str, Any], scenario: Any) -> None:
    from cgfsim.agents import rl
    from cgfsim.agents import supervised as S
    from cgfsim.agents.export import ARCH_KEYS

    _, bc_hp, rl_hp = _split_bc_ppo(options, [1])
    _check_dataset(options, scenario)
    hp = S.resolve_hparams(bc_hp, "mlp")
    if hp["layer_norm"]:
        raise CgfsimError("bc.layer_norm: PPO cannot start from a layer_norm policy")
    arch = sorted(set(rl_hp) & set(ARCH_KEYS))
    if arch:
        raise CgfsimError(
            f"{arch[0]}: the network comes from the clone; set it in the bc table instead"
        )
    rl.split_hparams("ppo", rl.resolve_hparams("ppo", scenario.name, rl_hp), "vector")


def _bc_ppo_budgets(options: Mapping[str, Any], budgets: list[int]) -> None:
    demo, _, _ = _split_bc_ppo(options, budgets)
    if demo > budgets[0]:
        raise CgfsimError(
            f"demo_steps ({demo}) must be at most the first budget ({budgets[0]}): the clone "
            "is the first point"
        )
    if demo >= budgets[-1]:
        raise CgfsimError(f"demo_steps ({demo}) leaves no PPO steps within {budgets[-1]}")


def _bc_ppo_record(options: Mapping[str, Any], budgets: list[int]) -> int:
    return 0 if options.get("dataset") else _split_bc_ppo(options, budgets)[0]


register(
    Approach(
        "bc-ppo",
        "BC-then-PPO",
        "BC+RL",
        "total_steps",
        _bc_ppo_train,
        _bc_ppo_check,
        demonstrations="recorded",
        record_steps=_bc_ppo_record,
        check_budgets=_bc_ppo_budgets,
    )
)

__all__ = ["BC_PPO_KEYS", "given_dataset", "job_demos"]
