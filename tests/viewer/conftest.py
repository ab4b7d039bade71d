"""Shared replays and the headless Chromium for the viewer tests.

Browser tests run in a real Chromium (Debian's ``chromium``) driven by
Playwright. Where it is missing they are skipped, except under CI (``CI`` set),
where ``.ci/run`` installs it and a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cgfsim.envs.observations import observation_shape
from cgfsim.sim.doctrines import get_doctrine
from cgfsim.sim.engine import Engine
from cgfsim.sim.replay import Replay, ReplayRecorder, load_replay
from cgfsim.sim.scenario import load_scenario
from cgfsim.viewer import build_html, headless


def record(
    scenario: str, blue: str, red: str, worlds: int, seed: int, path: Path, **meta: Any
) -> Path:
    """Play ``worlds`` episodes of two doctrines and save them all as one replay file."""
    eng = Engine(load_scenario(scenario), worlds, seed=seed)
    rec = ReplayRecorder(eng, worlds=list(range(worlds)))
    rec.meta.update(blue=blue, red=red, seed=seed, **meta)
    rec.record()
    b, r = get_doctrine(blue), get_doctrine(red)
    while not eng.done.all():
        act = np.concatenate([b(eng, 0), r(eng, 1)], 1)
        eng.step(act)
        rec.record(act)
    rec.save(path)
    return path


@pytest.fixture(scope="session")
def urban_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short Urban battles: kills, an objective taken, red hidden from blue at first."""
    return record("urban", "assault", "defend", 2, 3, tmp_path_factory.mktemp("rp") / "u.npz")


@pytest.fixture(scope="session")
def urban(urban_file: Path) -> Replay:
    return load_replay(urban_file)


@pytest.fixture(scope="session")
def urban_page(urban_file: Path, urban: Replay) -> Path:
    out = urban_file.with_suffix(".html")
    items = [(f"urban {w}", urban, w) for w in range(urban.n_worlds)]
    out.write_text(build_html(items, "urban test"), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    why = headless.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI, but {why}")
        pytest.skip(why)
    with headless.browser() as ctx:
        yield ctx


@dataclass
class Opened:
    """A viewer page in the browser, with everything it logged and requested."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return dict(self.page.evaluate("cgfViewer.state()"))

    def drawn(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate("cgfViewer.drawn()"))


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    """``open_page(path) -> Opened``: loads a page from disk and waits until it is ready."""
    pages = []

    def load(path: Path) -> Opened:
        page = chromium.new_page()
        pages.append(page)
        opened = Opened(page)
        page.on(
            "console",
            lambda m: (
                opened.errors.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: opened.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        return opened

    yield load
    for p in pages:
        p.close()


@pytest.fixture(scope="session")
def policy_replay(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """Duel, blue played by a network callable that reports probabilities and a value.

    The callable protocol of :func:`cgfsim.agents.evaluation.evaluate`: it returns
    ``(actions, state, {"probs", "value"})``; the value comes from a small critic.
    """
    import torch

    from cgfsim.agents.evaluation import evaluate
    from cgfsim.agents.networks import PolicySpec, build_policy

    torch.set_num_threads(1)
    spec = PolicySpec("vector", observation_shape("duel"), 2, 9, hidden=(16,))
    net = build_policy(spec, seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        critic = torch.nn.Linear(spec.obs_shape[0], 1)

    def agent(obs: np.ndarray, state: Any, start: np.ndarray, mask: Any) -> Any:
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32)
            m = None if mask is None else torch.as_tensor(mask)
            logits, _ = net(x, None, None, m)
            probs = torch.softmax(logits, -1)
            value = critic(x).squeeze(-1)
        return probs.argmax(-1).numpy(), state, {"probs": probs.numpy(), "value": value.numpy()}

    path = tmp_path_factory.mktemp("pol") / "duel.npz"
    evaluate(agent, "duel", "assault", 2, masked=True, replay=path, replay_episodes=1)
    return load_replay(path)
