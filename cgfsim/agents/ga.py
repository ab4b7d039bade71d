"""Neuroevolution with DEAP: the flat weights of the same CgfPolicy networks RL trains.

The DEAP toolbox idiom, with the evaluation batched:

- individuals are float32 numpy vectors (``creator.CgfsimIndividual``) in
  ``parameters_to_vector(CgfPolicy(spec).parameters())`` order; the initial
  population is P freshly initialised policies (SB3's initialisation);
- ``toolbox.select``: ``tools.selTournament``; DEAP draws from Python's
  ``random``, so it runs on the run's own seeded ``random.Random`` state
  (swapped in around the call: the caller's global state is left alone);
- ``toolbox.mate``: uniform crossover on copies-safe fancy indexing (DEAP's
  sequence crossovers swap numpy *views* and corrupt both parents);
- ``toolbox.mutate``: Gaussian, vectorised over the genome with the run's
  seeded ``numpy.random.Generator`` (DEAP's ``mutGaussian`` loops in Python);
- elitism: the top ``elite`` of each generation, kept in a
  ``HallOfFame(elite, similar=numpy.array_equal)``, pass unchanged into the next
  one and are re-evaluated there with everybody else. The hall is rebuilt from
  each generation's fresh evaluation: with noisy fitness an all-time hall would
  keep the luckiest, not the best;
- ``toolbox.map`` (serial by default, swappable) clones the selected parents;
  the speed is the population evaluation: all P x K worlds in one batched env
  and one batched forward pass (:class:`~cgfsim.agents.population.PopulationEvaluator`).

Fitness of an individual = mean outcome over its first K complete episodes
(+1 win, 0 draw, -1 loss) + ``shaping`` x mean env return (the scenario's
reward: damage dealt/taken, kills, objectives, +-10 win/defeat). The small
default shaping (0.01; a return of +-12 moves fitness by at most 0.12, about
one outcome in K = 8) breaks ties between the many all-draw individuals early on,
when nobody wins yet. All individuals of a generation face the same K world
seeds (common random numbers), fresh every generation.

``method="cmaes"`` replaces the GA by DEAP's ``cma.Strategy`` (lambda = pop);
its covariance is dense N x N, so it is refused above ``cma_max_params``.

Data accounting: ``env_steps`` counts every world-step inside every counted
fitness episode (held-out evaluations at data budgets are not training data,
as for RL). Curve rows, the best checkpoint and TensorBoard scalars are written
at the first generation end at or past each budget.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import base, cma, creator, tools

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.hparams import check_values
from cgfsim.agents.networks import PolicySpec
from cgfsim.agents.population import (
    PopulationEvaluator,
    initial_genomes,
    n_params,
    to_policy,
)
from cgfsim.agents.recipe import resolve
from cgfsim.agents.resume import (
    load_ga_arrays,
    restore_rng,
    restore_strategy,
    rng_state,
    save_ga_point,
)
from cgfsim.agents.runs import (
    BudgetHook,
    CurveRow,
    DataAccount,
    append_curve_row,
    run_config,
    write_json,
)
from cgfsim.sim.errors import CgfsimError
from cgfsim.sim.splits import key_base

METHODS = ("ga", "cmaes")
#: Network layout keys the GA reads (the shared ``[network]`` of defaults.toml, plus layer_norm).
POLICY_KEYS = ("hidden", "activation", "layer_norm", "lstm_hidden")

if not hasattr(creator, "CgfsimFitness"):
    creator.create("CgfsimFitness", base.Fitness, weights=(1.0,))
    creator.create("CgfsimIndividual", np.ndarray, fitness=creator.CgfsimFitness)


def make_individual(genome: np.ndarray) -> Any:
    """A DEAP individual viewing a float32 copy of ``genome`` (no slow ``list()`` round trip)."""
    ind = np.array(genome, dtype=np.float32).reshape(-1).view(creator.CgfsimIndividual)
    ind.fitness = creator.CgfsimFitness()
    return ind


def resolve_hparams(
    hparams: dict[str, Any] | None, scenario_name: str | None = None
) -> dict[str, Any]:
    """``[network]`` + ``[ga]`` (+ the scenario's parts) of defaults.toml, then ``hparams``.

    The network layout is the one RL uses on the same scenario. Unknown keys are
    an error, not silently ignored.
    """
    base = resolve("ga", scenario_name, None, rl=False)
    unknown = sorted(set(hparams or {}) - set(base))
    if unknown:
        raise CgfsimError(f"unknown GA hyperparameters {unknown}; expected {sorted(base)}")
    check_values(hparams or {}, base, "GA")
    hp = resolve("ga", scenario_name, hparams, rl=False)
    ints = ("pop", "episodes_per_ind", "elite", "tournsize", "cma_max_params", "lstm_hidden")
    for k in ints:
        hp[k] = int(hp[k])
    if hp["pop"] < 2 or hp["episodes_per_ind"] < 1 or not 0 <= hp["elite"] < hp["pop"]:
        raise CgfsimError("GA needs pop >= 2, episodes_per_ind >= 1 and 0 <= elite < pop")
    hp["hidden"] = [int(h) for h in np.atleast_1d(hp["hidden"])]
    return hp


@contextmanager
def _own_random(state: list[Any]) -> Iterator[None]:
    """Run DEAP's ``random``/``numpy.random`` draws (selTournament, cma) on the run's states."""
    saved_py, saved_np = random.getstate(), np.random.get_state()  # noqa: NPY002
    random.setstate(state[0])
    np.random.set_state(state[1])  # noqa: NPY002
    try:
        yield
    finally:
        state[0], state[1] = random.getstate(), np.random.get_state()  # noqa: NPY002
        random.setstate(saved_py)
        np.random.set_state(saved_np)  # noqa: NPY002


def mutate_gaussian(ind: Any, rng: np.random.Generator, sigma: float, indpb: float) -> tuple:
    """Add N(0, sigma) noise to each weight with probability ``indpb``, in one numpy call."""
    noise = rng.standard_normal(ind.shape, dtype=np.float32) * np.float32(sigma)
    if indpb < 1.0:
        noise *= rng.random(ind.shape) < indpb
    ind += noise
    return (ind,)


def cx_uniform(ind1: Any, ind2: Any, rng: np.random.Generator, indpb: float) -> tuple:
    """Swap each weight with probability ``indpb``; fancy indexing copies, so it is safe."""
    swap = rng.random(ind1.shape) < indpb
    tmp = ind1[swap].copy()
    ind1[swap] = ind2[swap]
    ind2[swap] = tmp
    return ind1, ind2


def build_toolbox(hp: dict[str, Any], rng: np.random.Generator) -> base.Toolbox:
    """The GA toolbox: select, mate, mutate, clone and a serial ``map`` (swappable)."""
    tb = base.Toolbox()
    tb.register("select", tools.selTournament, tournsize=hp["tournsize"])
    tb.register("mate", cx_uniform, rng=rng, indpb=hp["cx_indpb"])
    tb.register("mutate", mutate_gaussian, rng=rng, sigma=hp["sigma"], indpb=hp["mut_indpb"])
    return tb


def _stats() -> tools.Statistics:
    s = tools.Statistics(lambda ind: ind.fitness.values[0])
    s.register("min", np.min)
    s.register("mean", np.mean)
    s.register("max", np.max)
    s.register("std", np.std)
    return s


def _tb_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard missing: scalars stay in logbook.json
        return None
    return SummaryWriter(str(run_dir / "tb"))


def train_ga(
    scenario: Any,
    opponent: str = "random",
    obs: str = "vector",
    policy: str = "mlp",
    steps: int = 200_000,
    seed: int = 0,
    out_dir: str | Path = "runs/ga",
    side: str = "blue",
    pop: int | None = None,
    episodes_per_ind: int | None = None,
    hparams: dict[str, Any] | None = None,
    method: str = "ga",
    eval_every: int | None = None,
    eval_episodes: int = 200,
    eval_at: Sequence[int] | None = None,
    eval_seed: int | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    budget_hook: BudgetHook | None = None,
    resume_point: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evolve ``policy`` (mlp | lstm) networks on ``scenario`` until ``steps`` env steps.

    Runs whole generations: the last one may overshoot ``steps`` by up to one
    generation (pop x episodes_per_ind episodes). Fitness worlds are the
    ``train`` split's keys of ``seed``, fresh each generation. Held-out evaluation
    (greedy, ``eval_episodes`` worlds keyed from ``eval_seed``, default the
    ``validation`` split of ``seed``, as :func:`~cgfsim.agents.rl.train_rl`; it
    selects ``best``) of the generation's best happens at the data budgets
    ``eval_at`` / every ``eval_every`` steps (default ten points) and at the end.
    ``budget_hook`` (the lab's) is offered the untrained first individual and then
    every generation's best, with the env steps used so far. Writes ``config.json``,
    ``logbook.json``, ``curve.jsonl/csv``, ``tb/``, ``best/``, ``final/`` and
    ``result.json`` into ``out_dir`` and returns the result dict (same keys as
    ``train_rl``, plus ``generations`` and ``logbook``).

    After every generation a resume point (next population or CMA-ES state, hall
    of fame, Logbook, RNG states, counters) goes to ``resume/``;
    ``resume_point`` (from :func:`cgfsim.agents.resume.resume_run`) continues
    from one, exactly as the uninterrupted run would have.
    """
    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.rl_callbacks import eval_budgets
    from cgfsim.envs._common import get_scenario

    if method not in METHODS:
        raise CgfsimError(f"unknown GA method {method!r}; expected one of {METHODS}")
    if obs != "vector":
        raise CgfsimError(f"GA supports vector observations only, not {obs!r} (use --obs vector)")
    if policy not in ("mlp", "lstm"):
        raise CgfsimError(f"unknown policy {policy!r}; expected 'mlp' or 'lstm'")
    over = dict(hparams or {})
    if pop is not None:
        over["pop"] = pop
    if episodes_per_ind is not None:
        over["episodes_per_ind"] = episodes_per_ind
    sc = get_scenario(scenario)  # bad input raises ScenarioError, a CgfsimError
    hp = resolve_hparams(over, sc.name)
    steps = int(steps)
    if steps < 1:
        raise CgfsimError(f"steps must be >= 1, got {steps}")
    P, K = hp["pop"], hp["episodes_per_ind"]
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    approach = f"{'ga' if method == 'ga' else 'cmaes'}-{policy}"
    config = run_config(
        method, sc.name, opponent, obs, policy, side, steps, seed, hp, eval_episodes
    )
    write_json(run_dir / "config.json", config)

    threads_before = torch.get_num_threads()
    torch.set_num_threads(int(hp["torch_threads"]))
    try:
        evaluator = None
        from cgfsim.envs.batched import BatchedCommanderEnv

        probe = BatchedCommanderEnv(sc, 1, side=side, opponent=opponent, obs="vector")
        spec = PolicySpec.from_spaces(
            probe.observation_space,
            probe.action_space,
            "vector",
            core=policy,
            **{k: hp[k] for k in POLICY_KEYS},
        )
        N = n_params(spec)
        if method == "cmaes" and N > hp["cma_max_params"]:
            raise CgfsimError(
                f"CMA-ES keeps a dense {N} x {N} covariance; this genome has {N} weights "
                f"(limit cma_max_params={hp['cma_max_params']}): use a smaller 'hidden' or "
                "method 'ga'"
            )
        evaluator = PopulationEvaluator(spec, sc, opponent, P, K, side, bool(hp["masked"]))
    except ValueError as e:
        torch.set_num_threads(threads_before)
        raise CgfsimError(str(e)) from None
    except BaseException:
        torch.set_num_threads(threads_before)
        raise
    meta = {k: config[k] for k in ("algo", "scenario", "opponent", "obs", "side", "seed")}
    meta.update(training=hp, masked=bool(hp["masked"]))
    eval_seed = key_base("validation", seed) if eval_seed is None else int(eval_seed)
    budgets = eval_budgets(steps, eval_every, eval_at)
    # Fitness worlds: this seed's train split, fresh each generation, never the eval worlds.
    fit_base = key_base("train", seed)
    rng = np.random.default_rng([int(seed), 0x6761])
    rstate = [random.Random(int(seed)).getstate(), np.random.RandomState(int(seed)).get_state()]
    toolbox = build_toolbox(hp, rng)
    hof = tools.HallOfFame(max(hp["elite"], 1), similar=np.array_equal)
    logbook = tools.Logbook()
    logbook.header = ["gen", "evals", "env_steps", "min", "mean", "max", "best_win", "wall_s"]
    stats = _stats()
    writer = _tb_writer(run_dir) if tensorboard else None
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, unit="step", unit_scale=True, dynamic_ncols=True, desc=approach)

    strategy = None
    if method == "cmaes":
        centroid = initial_genomes(spec, 1, seed)[0].astype(np.float64)
        strategy = cma.Strategy(centroid=centroid, sigma=hp["cma_sigma"], lambda_=P)
        population: list[Any] = []
    else:
        population = [make_individual(g) for g in initial_genomes(spec, P, seed)]

    env_steps = executed = gen = 0
    train_s = eval_s = 0.0
    curve: list[dict[str, Any]] = []
    best_win, best_steps = -1.0, 0
    if resume_point is not None:
        rp = resume_point
        arrays = load_ga_arrays(rp["file"])
        restore_rng(rp["rng"], rng, rstate)
        if strategy is not None:
            restore_strategy(strategy, arrays)
        else:
            population = [make_individual(g) for g in arrays["population"]]
        for g, f in zip(arrays.get("hof", ()), arrays.get("hof_fitness", ()), strict=True):
            ind = make_individual(g)
            ind.fitness.values = (float(f),)
            hof.insert(ind)
        for rec in rp["logbook"]:
            logbook.record(**rec)
        gen, env_steps, executed = int(rp["generation"]), int(rp["env_steps"]), int(rp["executed"])
        train_s, eval_s = float(rp["wall_s"]), float(rp["eval_s"])
        best_win, best_steps = float(rp["best_win_rate"]), int(rp["best_steps"])
        curve = list(rp["curve"])
        budgets = [b for b in budgets if b > env_steps]
    t_start = time.perf_counter()

    def offer(genome: np.ndarray) -> float:
        """Offer the budget hook a copy of ``genome``'s policy; returns the time it took."""
        if budget_hook is None:
            return 0.0
        t = time.perf_counter()
        g = np.array(genome, np.float32)
        budget_hook(DataAccount(env_steps=env_steps, wall_s=train_s), lambda: to_policy(spec, g))
        return time.perf_counter() - t

    try:
        if resume_point is None:
            eval_s += offer(population[0] if strategy is None else strategy.centroid)
        while env_steps < steps:
            t0 = time.perf_counter()
            if strategy is not None:
                with _own_random(rstate):
                    population = strategy.generate(make_individual)
            res = evaluator(np.stack(population), fit_base + gen * K)
            fit = res.fitness(float(hp["shaping"]))
            for ind, f in zip(population, fit, strict=True):
                ind.fitness.values = (float(f),)
            env_steps += res.env_steps
            executed += res.executed_steps
            hof.clear()
            hof.update(population)
            best_idx = int(np.argmax(fit))
            rec = stats.compile(population)
            if strategy is not None:
                strategy.update(population)  # sorts the population in place
            else:
                population = _next_generation(population, hof, toolbox, hp, rstate)
            train_s += time.perf_counter() - t0
            logbook.record(
                gen=gen,
                evals=P,
                env_steps=env_steps,
                best_win=float(res.win_rate[best_idx]),
                wall_s=round(train_s, 3),
                **{k: float(v) for k, v in rec.items()},
            )
            if writer is not None:
                for k in ("min", "mean", "max"):
                    writer.add_scalar(f"fitness/{k}", rec[k], env_steps)
                writer.add_scalar("fitness/best_win", res.win_rate[best_idx], env_steps)
            gen += 1
            eval_s += offer(hof[0])
            if bar is not None:
                bar.update(min(res.env_steps, max(steps - bar.n, 0)))
                bar.set_postfix(gen=gen, fit=f"{rec['max']:.2f}", win=f"{best_win:.2f}")
            due = budgets and env_steps >= budgets[0]
            while budgets and env_steps >= budgets[0]:
                budgets.pop(0)
            if (due or env_steps >= steps) and eval_episodes > 0:
                t1 = time.perf_counter()
                pol = to_policy(spec, hof[0])
                r = evaluate(
                    pol,
                    sc,
                    opponent,
                    eval_episodes,
                    "vector",
                    side,
                    eval_seed,
                    True,
                )
                row = CurveRow(approach, seed, env_steps, r.win_rate, *r.win_ci, round(train_s, 3))
                append_curve_row(run_dir, row)
                curve.append(row.__dict__.copy())
                if writer is not None:
                    writer.add_scalar("eval/win_rate", r.win_rate, env_steps)
                    writer.add_scalar("eval/mean_return", r.mean_return, env_steps)
                if r.win_rate >= best_win:  # ties: the later, more evolved, policy
                    best_win, best_steps = r.win_rate, env_steps
                    m = {**meta, "env_steps": env_steps, "win_rate": r.win_rate, "generation": gen}
                    save_checkpoint(run_dir / "best", pol, spec, m)
                eval_s += time.perf_counter() - t1
            write_json(run_dir / "logbook.json", list(logbook))
            counters = dict(generation=gen, env_steps=env_steps, executed=executed, wall_s=train_s)
            counters.update(eval_s=eval_s, best_win_rate=best_win, best_steps=best_steps)
            state = dict(budgets=budgets, rng=rng_state(rng, rstate), logbook=list(logbook))
            save_ga_point(run_dir, sc.text, population, hof, strategy, {**counters, **state})
    finally:
        torch.set_num_threads(threads_before)
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    final = to_policy(spec, hof[0])
    final_dir = save_checkpoint(
        run_dir / "final", final, spec, {**meta, "env_steps": env_steps, "generation": gen}
    )
    result = {
        "approach": approach,
        "run_dir": str(run_dir),
        "policy_dir": str(run_dir / "best") if curve else str(final_dir),
        "final_dir": str(final_dir),
        "env_steps": env_steps,
        "executed_steps": executed,
        "demo_steps": 0,
        "wall_s": round(train_s, 3),
        "eval_s": round(eval_s, 3),
        "total_s": round(time.perf_counter() - t_start, 3),
        "steps_per_s": round(env_steps / max(train_s, 1e-9), 1),
        "best_win_rate": best_win if curve else None,
        "best_env_steps": best_steps if curve else None,
        "curve": curve,
        "generations": gen,
        "n_params": n_params(spec),
        "logbook": str(run_dir / "logbook.json"),
    }
    write_json(run_dir / "result.json", result)
    return result


def _next_generation(
    population: list[Any],
    hof: tools.HallOfFame,
    toolbox: base.Toolbox,
    hp: dict[str, Any],
    rstate: list[Any],
) -> list[Any]:
    """Elites from the hall of fame + tournament-selected, crossed, mutated offspring."""
    elites = [toolbox.clone(ind) for ind in hof[: hp["elite"]]]
    with _own_random(rstate):
        parents = toolbox.select(population, len(population) - len(elites))
    offspring = list(toolbox.map(toolbox.clone, parents))
    rng = toolbox.mutate.keywords["rng"]
    for a, b in zip(offspring[::2], offspring[1::2], strict=False):
        if rng.random() < hp["cxpb"]:
            toolbox.mate(a, b)
    for ind in offspring:
        if rng.random() < hp["mutpb"]:
            toolbox.mutate(ind)
        del ind.fitness.values
    for e in elites:
        del e.fitness.values  # re-evaluated on the next generation's worlds
    return elites + offspring


__all__ = [
    "METHODS",
    "POLICY_KEYS",
    "build_toolbox",
    "cx_uniform",
    "make_individual",
    "mutate_gaussian",
    "resolve_hparams",
    "train_ga",
]
