"""Helpers shared by the lab tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cgfsim.cli import main


def assert_bad_sweep_fails(
    sweep: Path,
    edit: tuple[str, str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sweep`` with one edit fails with one line naming the problem and the file, and
    creates no output folder."""
    text = sweep.read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    out = tmp_path / "out"
    assert main(["lab", "run", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(bad) in err and len(err.splitlines()) == 1
    assert not out.exists()
