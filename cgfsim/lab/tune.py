"""Hyperparameter search on Optuna (``cgfsim tune SPACE.toml``): grid, random and TPE studies.

A study lives in one folder: ``space.toml`` (the search space, see
:mod:`cgfsim.lab.tune_space`), ``tune.json`` (how it runs: storage, task, runs), the
Optuna storage, every trial's run folder (``trials/trial-0007/``, the learner's own
run folder), and what :mod:`cgfsim.lab.tune_report` writes: the ranked table of
trials, ``best.toml`` for ``cgfsim train --config``, ``best.json`` and the plots.

- **Strategies.** ``grid`` and ``random`` studies are *planned*: every trial's
  parameters are drawn up front from the space and its seed (a grid's ``sample``
  fraction of the combinations without replacement, as tfruns does) and enqueued in
  the storage, so an interrupted, resumed or parallel study runs exactly the trials
  of an uninterrupted one. (Optuna's own ``GridSampler`` draws its next point from a
  process-local generator, so a resumed study would pick other points.) ``tpe`` is
  Optuna's Bayesian TPE sampler, with a constant liar when several workers run.
- **Pruning** (``median`` or ``halving``) watches each trial's intermediate scores:
  BC reports the validation loss (or accuracy) after every epoch, RL the win rate
  on validation worlds ``reports`` times during training.
- **Storage.** SQLite in the study folder by default (one worker), Optuna's journal
  file for several local workers, or any Optuna storage URL (``postgresql://...`` for
  many machines). A finished trial is in the storage the moment it finishes; a rerun
  of the same command resumes: trials left RUNNING by a dead process of this host
  are marked failed and their planned parameters queued again, so nothing finished
  is lost or run twice.
- **Workers.** Trials run in this process, in local processes or as Ray tasks,
  through the lab's executors (:mod:`cgfsim.lab.executors`); each worker pulls the
  next trial from the storage.
- **Selection and test.** Every trial is scored on validation data (the dataset's
  validation split, validation worlds); only the chosen trial is re-scored, once, on
  the test split and on test worlds (held-out maps for random-map scenarios).
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import read_json, write_json
from cgfsim.lab.tune_space import SearchSpace, load_space, space_from_text
from cgfsim.sim.errors import CgfsimError

TUNE_JSON = "tune.json"
SPACE_TOML = "space.toml"
TRIALS_DIR = "trials"
SQLITE_FILE = "study.db"
JOURNAL_FILE = "study.journal"
#: Consecutive failed trials after which a worker stops (a systematic error, not bad luck).
MAX_FAILURES = 3


# --------------------------------------------------------------------------- storage


def resolve_storage(spec: str | None, folder: Path, workers: int) -> str:
    """The storage URL of a study: ``sqlite`` / ``journal`` (files in the study folder),
    ``journal:PATH``, or an Optuna RDB URL. Default: SQLite for one worker, the journal
    file for several (Optuna's advice for many local processes)."""
    if spec is None:
        spec = "sqlite" if workers <= 1 else "journal"
    if spec == "sqlite":
        return f"sqlite:///{(folder / SQLITE_FILE).resolve()}"
    if spec == "journal":
        return f"journal:{(folder / JOURNAL_FILE).resolve()}"
    if spec.startswith("journal:"):
        return f"journal:{Path(spec[len('journal:') :]).resolve()}"
    if "://" not in spec:
        raise CgfsimError(
            f"--storage {spec!r}: expected sqlite, journal, journal:PATH or a storage URL "
            "(sqlite:///FILE, postgresql://USER@HOST/DB, mysql://...)"
        )
    return spec


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url``; one :class:`CgfsimError` line if it cannot be reached."""
    import optuna

    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = Path(url[len("journal:") :])
            if not path.parent.is_dir():
                raise FileNotFoundError(f"no folder {path.parent}")
            return JournalStorage(JournalFileBackend(str(path)))
        kw: dict[str, Any] = {}
        if url.startswith("sqlite"):
            # several local processes share the file: wait for its lock instead of failing
            kw["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        return optuna.storages.RDBStorage(url, **kw)
    except Exception as e:  # sqlalchemy / driver errors: unreachable, missing driver, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CgfsimError(f"--storage {url}: cannot open the study storage ({msg[:200]})") from None


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_pruner(space: SearchSpace) -> Any:
    import optuna

    if space.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=space.pruner_startup, n_warmup_steps=space.pruner_warmup
        )
    if space.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=space.halving_min, reduction_factor=space.halving_rate
        )
    return optuna.pruners.NopPruner()


def make_sampler(space: SearchSpace, worker: int, workers: int, done: int) -> Any:
    """Planned studies need no sampler (their trials are queued); TPE gets a seed that also
    depends on the worker and on the trials already in the study, so a resumed or second
    worker never replays the first one's random start."""
    import optuna

    seed = space.seed + 7919 * worker + 104_729 * done
    if space.strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=workers > 1)
    return optuna.samplers.RandomSampler(seed=seed)


def load_study(job: dict[str, Any], space: SearchSpace, worker: int = 0) -> Any:
    import optuna

    storage = open_storage(job["storage"])
    done = len(storage.get_all_trials(storage.get_study_id_from_name(job["study_name"])))
    return optuna.load_study(
        study_name=job["study_name"],
        storage=storage,
        sampler=make_sampler(space, worker, int(job.get("workers", 1)), done),
        pruner=make_pruner(space),
    )


# --------------------------------------------------------------------------- objectives


def _bc_objective(trial: Any, space: SearchSpace, job: dict[str, Any], run_dir: Path) -> float:
    """Behaviour cloning on the dataset's train split, scored on its validation split."""
    import optuna

    from cgfsim.agents.bc import train_bc

    task, metric = job["task"], space.metric
    params = space.suggest(trial)
    hp = space.hparams(params)

    def report(row: dict[str, float]) -> None:
        trial.report(float(row[metric]), int(row["epoch"]))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {int(row['epoch'])}")

    res = train_bc(
        task["dataset"],
        policy=task["policy"],
        seed=task["seed"],
        out_dir=run_dir,
        hparams=hp,
        eval_episodes=task["val_episodes"],
        eval_split="validation",
        opponent=task.get("opponent"),
        progress=False,
        tensorboard=False,
        verbose=False,
        epoch_hook=report,
        score_test=False,
    )
    trial.set_user_attr("val_loss", res["val_loss"])
    trial.set_user_attr("val_accuracy", res["val_accuracy"])
    trial.set_user_attr("val_win_rate", res["win_rate"])
    trial.set_user_attr("best_epoch", res["best_epoch"])
    trial.set_user_attr("epochs_run", res["epochs_run"])
    trial.set_user_attr("demo_steps", res["demo_steps"])
    trial.set_user_attr("policy_dir", _rel(res["policy_dir"], job["folder"]))
    return float(res[metric])


def rl_budgets(steps: int, reports: int) -> list[int]:
    """Env steps at which an RL trial reports its validation win rate (the last: ``steps``)."""
    return sorted({max(1, round(steps * k / reports)) for k in range(1, reports + 1)})


def _rl_objective(trial: Any, space: SearchSpace, job: dict[str, Any], run_dir: Path) -> float:
    """An SB3 learner on train worlds; its win rate on validation worlds, ``reports`` times."""
    import optuna

    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.rl import train_rl
    from cgfsim.envs._common import get_scenario
    from cgfsim.sim.splits import key_base, map_pool

    task = job["task"]
    params = space.suggest(trial)
    hp = space.hparams(params)
    sc = get_scenario(task["scenario"])
    sc_val: Any = map_pool(sc, "validation")
    budgets = rl_budgets(task["steps"], task["reports"])
    state: dict[str, Any] = {"next": 0, "win": None, "env_steps": 0}

    def hook(account: Any, make_policy: Callable[[], Any]) -> None:
        k = state["next"]
        while state["next"] < len(budgets) and account.env_steps >= budgets[state["next"]]:
            state["next"] += 1
        if state["next"] == k:  # no budget crossed since the last report
            return
        r = evaluate(
            make_policy(),
            sc_val,
            task["opponent"],
            task["val_episodes"],
            obs=task["obs"],
            side=task["side"],
            seed=key_base("validation", task["seed"]),
        )
        state.update(win=r.win_rate, env_steps=int(account.env_steps))
        trial.report(r.win_rate, state["next"])
        trial.set_user_attr("env_steps", int(account.env_steps))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after {account.env_steps} env steps")

    res = train_rl(
        task["learner"],
        scenario=sc,
        opponent=task["opponent"],
        obs=task["obs"],
        policy=task["policy"],
        steps=task["steps"],
        seed=task["seed"],
        out_dir=run_dir,
        side=task["side"],
        hparams=hp,
        eval_episodes=0,
        progress=False,
        tensorboard=False,
        budget_hook=hook,
    )
    if state["win"] is None:
        raise RuntimeError("the learner offered no policy at its last budget")
    trial.set_user_attr("val_win_rate", state["win"])
    trial.set_user_attr("env_steps", res["env_steps"])
    trial.set_user_attr("policy_dir", _rel(res["final_dir"], job["folder"]))
    return float(state["win"])


def _rel(path: str | Path, folder: str | Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(folder).resolve()))
    except ValueError:
        return str(path)


def objective_for(space: SearchSpace) -> Callable[[Any, SearchSpace, dict[str, Any], Path], float]:
    return _bc_objective if space.family == "bc" else _rl_objective


# --------------------------------------------------------------------------- workers


def _counts(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    out = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] += 1
    return out


def study_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Run trials of one study until its plan (or trial count) is done; returns what ran.

    A plain function of a JSON-able dict, so the lab's executors run it in this
    process, a local worker process or a Ray task alike.
    """
    import optuna
    import torch
    from optuna.trial import TrialState

    _quiet_optuna()
    torch.set_num_threads(int(job.get("torch_threads", 1)))
    space = space_from_text(job["space_text"], job["space_source"])
    worker = int(job.get("worker", 0))
    study = load_study(job, space, worker)
    objective = objective_for(space)
    folder = Path(job["folder"])
    say = print if job.get("verbose") else None
    ran: list[int] = []
    # Registered before the first ask: a trial this process takes and is killed on before
    # it records its owner (host, pid) can still be told orphaned (see fail_stale).
    study.set_user_attr(
        f"worker:{platform.node()}:{os.getpid()}",
        {"host": platform.node(), "pid": os.getpid(), "started": time.time()},
    )
    failures = 0
    t_worker, cpu_worker = time.perf_counter(), time.process_time()
    while failures < MAX_FAILURES:
        c = _counts(study)
        if space.planned:
            if c["WAITING"] == 0:
                break
        elif c["COMPLETE"] + c["PRUNED"] + c["RUNNING"] >= space.trials:
            break
        trial = study.ask()
        if space.planned and "plan_id" not in trial.user_attrs:
            # another worker took the last queued trial between our count and our ask
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr("host", platform.node())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("worker", worker)
        run_dir = folder / TRIALS_DIR / f"trial-{trial.number:04d}"
        if run_dir.exists():  # left by a killed attempt of this trial number
            shutil.rmtree(run_dir)
        t0, cpu0 = time.perf_counter(), time.process_time()
        state, value, note = TrialState.COMPLETE, None, ""
        try:
            value = objective(trial, space, job, run_dir)
        except optuna.TrialPruned as e:
            state, note = TrialState.PRUNED, str(e)
        except Exception as e:  # recorded with the trial; the study goes on
            state, note = TrialState.FAIL, f"{type(e).__name__}: {e}"[:500]
        trial.set_user_attr("wall_s", round(time.perf_counter() - t0, 3))
        trial.set_user_attr("cpu_s", round(time.process_time() - cpu0, 3))
        if note:
            trial.set_user_attr("note", note)
        if state == TrialState.COMPLETE:
            study.tell(trial, value)
            failures = 0
        else:
            study.tell(trial, state=state)
            failures = failures + 1 if state == TrialState.FAIL else 0
        ran.append(trial.number)
        if say is not None:
            shown = f"{space.metric} {value:.4f}" if value is not None else note
            params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            say(
                f"trial {trial.number:4d} {state.name.lower():8s} {shown} ({params}) "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
    if failures >= MAX_FAILURES:
        last = study.get_trials(deepcopy=False)[-1].user_attrs.get("note", "")
        raise CgfsimError(f"worker {worker} stopped after {MAX_FAILURES} failed trials: {last}")
    return {
        "worker": worker,
        "trials": ran,
        "host": platform.node(),
        "pid": os.getpid(),
        "wall_s": round(time.perf_counter() - t_worker, 3),
        "cpu_s": round(time.process_time() - cpu_worker, 3),  # this worker process's CPU time
    }


# --------------------------------------------------------------------------- driver


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale(study: Any, storage: Any, everything: bool = False) -> list[int]:
    """Mark trials left RUNNING by dead processes of this host (or all, ``everything``) as
    failed; returns their numbers. Their planned parameters are queued again."""
    from optuna.trial import TrialState

    sid = storage.get_study_id_from_name(study.study_name)
    workers = [w for k, w in study.user_attrs.items() if k.startswith("worker:")]
    here = platform.node()
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
        if host is None and pid is None:
            # killed between taking the trial and recording its owner: orphaned when every
            # worker that could have taken it (registered before it started) is a dead
            # process of this host; a worker elsewhere may be alive (--fail-running then)
            start = t.datetime_start.timestamp() if t.datetime_start else math.inf
            could = [w for w in workers if w["started"] <= start + 1.0]
            dead = bool(could) and all(
                w["host"] == here and not _pid_alive(int(w["pid"])) for w in could
            )
        else:
            dead = host == here and isinstance(pid, int) and not _pid_alive(pid)
        if everything or dead:
            tid = storage.get_trial_id_from_study_id_trial_number(sid, t.number)
            storage.set_trial_user_attr(tid, "note", "stale: its worker died; queued again")
            storage.set_trial_state_values(tid, TrialState.FAIL)
            out.append(t.number)
    return out


def enqueue_plan(study: Any, space: SearchSpace) -> int:
    """Queue every planned trial that has no live, waiting or finished trial yet; returns how
    many were queued. Idempotent: a resumed study queues only what is missing."""
    from optuna.trial import TrialState

    keep = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    taken = {
        t.user_attrs["plan_id"]
        for t in study.get_trials(deepcopy=False, states=keep)
        if "plan_id" in t.user_attrs
    }
    n = 0
    for i, params in enumerate(space.plan()):
        if i not in taken:
            study.enqueue_trial(params, user_attrs={"plan_id": i})
            n += 1
    return n


def _check_task(space: SearchSpace) -> None:
    """The task's scenario, players and dataset, checked without running anything."""
    from cgfsim.agents.evaluation import load_player
    from cgfsim.envs._common import get_scenario

    task = space.task
    if space.family == "bc" and "record" in task:
        rec = task["record"]
        get_scenario(rec["scenario"])
        for k in ("demonstrator", "opponent"):
            if k in rec:
                load_player(rec[k])
        n = rec.get("episodes", 500)
        if not isinstance(n, int) or isinstance(n, bool) or n < 10:
            raise CgfsimError(f"{space.source}: task.record.episodes: expected >= 10, got {n!r}")
    elif space.family == "bc":
        from cgfsim.agents.demo_store import open_dataset

        open_dataset(task["dataset"])
    else:
        get_scenario(task["scenario"])
    if task.get("opponent") is not None:
        load_player(task["opponent"])


def _prepare_task(space: SearchSpace, folder: Path, quiet: bool) -> dict[str, Any]:
    """Resolve the task once, before any trial: the dataset (recorded into the study folder
    when the space asks), the scenario, the opponent; everything checked."""
    task = dict(space.task)
    if space.family == "bc":
        from cgfsim.agents.bc import default_opponent
        from cgfsim.agents.demo_store import open_dataset

        if "record" in task:
            task["dataset"] = str(_record(task.pop("record"), folder, space.name, quiet))
        ds = open_dataset(task["dataset"])
        task["dataset"] = str(ds.path.resolve())
        task["opponent"] = default_opponent(ds, task.get("opponent"))
        if task["opponent"] is None and (task["val_episodes"] or task["test_episodes"]):
            raise CgfsimError(
                f"dataset {ds.ref} names no doctrine opponent; set task.opponent to evaluate"
            )
        task["scenario"] = str(ds.meta.get("scenario"))
        task["obs"] = str(ds.meta.get("obs"))
        task["side"] = str(ds.meta.get("side", task["side"]))
    else:
        from cgfsim.envs._common import get_scenario

        get_scenario(task["scenario"])  # a bad scenario fails here
        p = Path(task["scenario"])
        if p.suffix == ".toml" and p.exists():
            task["scenario"] = str(p.resolve())
    if task.get("opponent") is not None:
        from cgfsim.agents.evaluation import load_player

        kind, what = load_player(task["opponent"])
        if kind == "doctrine":
            task["opponent"] = what
    return task


def _record(rec: dict[str, Any], folder: Path, name: str, quiet: bool) -> Path:
    """The study's own demonstrations: recorded once into ``folder/minari``, reused on resume."""
    from cgfsim.agents.demo_store import open_dataset
    from cgfsim.agents.demos import record_demos
    from cgfsim.agents.runs import _slug

    root = folder / "minari"
    dataset_id = f"cgfsim/tune-{_slug(name).lower()}-v0"
    path = root / dataset_id
    if path.exists():
        return open_dataset(path).path
    info = record_demos(
        rec["scenario"],
        rec["demonstrator"],
        rec.get("opponent", "random"),
        episodes=int(rec.get("episodes", 500)),
        obs=str(rec.get("obs", "vector")),
        seed=int(rec.get("seed", 0)),
        epsilon=float(rec.get("epsilon", 0.0)),
        dataset_id=dataset_id,
        root=root,
        progress=not quiet and sys.stderr.isatty(),
    )
    if not quiet:
        print(
            f"recorded {info['episodes']} demonstrations ({info['transitions']} transitions) "
            f"of {rec['demonstrator']} into {info['path']}",
            flush=True,
        )
    return Path(info["path"])


def check_study(
    space_path: str | Path,
    out: str | Path | None,
    storage: str | None,
    workers: int,
) -> tuple[SearchSpace, Path, str, dict[str, Any] | None]:
    """Everything a study needs, checked before any folder or trial exists: the space, the
    folder (an existing one must hold the same space: then it is resumed), the storage."""
    space = load_space(space_path)
    if workers < 1:
        raise CgfsimError(f"--workers must be >= 1, got {workers}")
    folder = Path(out) if out else Path("runs") / "tune" / f"{time.strftime('%Y%m%d-%H%M%S')}"
    if out is None:
        folder = folder.with_name(f"{folder.name}-{space.name}")
    prior = None
    if folder.exists():
        if not folder.is_dir():
            raise CgfsimError(f"--out {folder} is a file, not a folder")
        if (folder / TUNE_JSON).is_file():
            prior = read_json(folder / TUNE_JSON)
            if prior.get("space", {}).get("sha256") != space.sha256:
                raise CgfsimError(
                    f"--out {folder} holds a study of another search space; choose a new folder"
                )
            if (
                storage is not None
                and resolve_storage(storage, folder, workers) != prior["storage"]
            ):
                raise CgfsimError(
                    f"--out {folder} keeps its trials in {prior['storage']}, "
                    f"not --storage {storage}"
                )
        elif any(folder.iterdir()):
            raise CgfsimError(f"--out {folder} exists, is not empty and holds no study")
    url = prior["storage"] if prior else resolve_storage(storage, folder, workers)
    own = {resolve_storage(k, folder, 1) for k in ("sqlite", "journal")}
    if url not in own:
        open_storage(url)  # a storage outside the study folder must answer now
    _check_task(space)
    return space, folder, url, prior


def run_study(
    space_path: str | Path,
    out: str | Path | None = None,
    storage: str | None = None,
    executor: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    quiet: bool = False,
    fail_running: bool = False,
    command: Sequence[str] | None = None,
    task_override: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a study into ``out``; returns the summary of :func:`finish_study`.

    Every input is checked before the folder is created or any trial starts: the
    space (:func:`~cgfsim.lab.tune_space.load_space`), the executor (an unreachable Ray
    address included) and the storage. ``task_override`` replaces task fields (e.g. the
    dataset of a study that already recorded one).
    """
    import optuna

    from cgfsim.lab.executors import make_executor

    n_workers = 1 if executor == "serial" else int(workers or 2)
    space, folder, url, prior = check_study(space_path, out, storage, n_workers)
    if task_override:
        space = _override_task(space, task_override)
    ex = make_executor(executor, n_workers if executor != "serial" else None, address, quiet)
    local_file = url.startswith("sqlite:///") or url.startswith("journal:")
    if executor == "ray" and address not in (None, "local") and local_file:
        raise CgfsimError(
            "--executor ray on a cluster needs a storage every node reaches: "
            "--storage postgresql://... (or journal:PATH on a shared file system)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    _quiet_optuna()
    st = open_storage(url)
    t_start = time.perf_counter()
    load_start = _loadavg()
    task = prior["task_resolved"] if prior else _prepare_task(space, folder, quiet)
    study = optuna.create_study(
        study_name=space.name,
        storage=st,
        direction=space.direction,  # type: ignore[arg-type]
        load_if_exists=True,
    )
    old = study.user_attrs.get("space_sha256")
    if old is not None and old != space.sha256:
        raise CgfsimError(
            f"storage {url} already holds a study {space.name!r} of another search space"
        )
    if old is None:
        study.set_user_attr("space_sha256", space.sha256)
        study.set_user_attr("metric", space.metric)
        study.set_user_attr("strategy", space.strategy)
    stale = fail_stale(study, st, fail_running)
    queued = enqueue_plan(study, space) if space.planned else 0
    doc = prior or {
        "format": "cgfsim-tune",
        "version": 1,
        "study_name": space.name,
        "storage": url,
        "space": space.to_dict(),
        "task_resolved": task,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": [],
    }
    from cgfsim.agents.runs import atomic_write_text

    run: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "started_unix": time.time(),
        "wall_s": None,  # stays None when this run is killed
        "executor": executor,
        "workers": n_workers,
        "queued": queued,
        "stale_failed": stale,
        "loadavg_start": load_start,
        "command": list(command or []),
    }
    doc["runs"].append(run)
    atomic_write_text(folder / SPACE_TOML, space.text)
    write_json(folder / TUNE_JSON, doc)
    job = {
        "folder": str(folder.resolve()),
        "storage": url,
        "study_name": space.name,
        "space_text": space.text,
        "space_source": space.source,
        "task": task,
        "workers": n_workers,
        "torch_threads": 1,
        "verbose": not quiet,
    }
    jobs = [{**job, "worker": i} for i in range(n_workers)]
    errors: list[str] = []
    results: list[dict[str, Any]] = []
    if not quiet:
        what = f"{space.trials} trials" + (
            f" of {space.combinations} combinations" if space.strategy == "grid" else ""
        )
        print(
            f"study {space.name}: {space.strategy}, {what}, {space.metric} "
            f"({space.direction}), pruner {space.pruner}; {n_workers} worker(s) ({executor}); "
            f"storage {url}",
            flush=True,
        )
        if stale:
            print(f"trials {stale} were left running by a dead process: failed, queued again")
    ex.run(
        jobs,
        lambda j: None,
        results.append,
        lambda j, e: errors.append(f"worker {j['worker']}: {type(e).__name__}: {e}"),
        fn=study_worker,
    )
    run.update(
        wall_s=round(time.perf_counter() - t_start, 3),
        trials_run=sum(len(r["trials"]) for r in results),
        cpu_s=round(sum(r["cpu_s"] for r in results), 3),
        loadavg_end=_loadavg(),
        errors=errors,
    )
    write_json(folder / TUNE_JSON, doc)
    from cgfsim.lab.tune_report import finish_study

    summary = finish_study(folder, quiet=quiet)
    summary["errors"] = errors
    return summary


def _override_task(space: SearchSpace, override: dict[str, Any]) -> SearchSpace:
    import dataclasses

    task = {**space.task, **override}
    if "dataset" in override:
        task.pop("record", None)
    return dataclasses.replace(space, task=task)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


__all__ = [
    "enqueue_plan",
    "fail_stale",
    "open_storage",
    "resolve_storage",
    "rl_budgets",
    "run_study",
    "study_worker",
]
