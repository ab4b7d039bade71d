"""Every hostile input of the corpus ends in one clean line and exit 2: no traceback, no
hang, nothing half-written (see tests/hardening/corpus.py for the inputs)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import pytest

from cgfsim.cli import main
from tests.hardening.corpus import Case, build, classify

_DIR = Path("/tmp")  # replaced per session below
CASES: list[Case] = []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build(tmp_path_factory.mktemp("hostile"))


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("hang")


def test_every_hostile_input_fails_cleanly(
    corpus: list[Case], capsys: pytest.CaptureFixture[str]
) -> None:
    assert threading.current_thread() is threading.main_thread()
    assert len(corpus) >= 150
    bad = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in corpus:
            signal.alarm(60)
            try:
                rc: int | None = main(case.argv)
                err = capsys.readouterr().err
            except TimeoutError:
                rc, err = None, capsys.readouterr().err
            except BaseException as e:
                rc, err = 1, f"Traceback (most recent call last): {type(e).__name__}: {e}"
                capsys.readouterr()
            finally:
                signal.alarm(0)
            made = [o for o in case.outputs if Path(o).exists()]
            res = classify(rc, err, made)
            if res != "clean":
                bad.append(f"{res}: {' '.join(case.argv)[:160]} -> {err.strip()[:200]}")
    finally:
        signal.signal(signal.SIGALRM, old)
    assert not bad, "\n".join(bad)
