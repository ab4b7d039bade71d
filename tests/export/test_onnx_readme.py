"""The README's plain-Python host example runs against a fresh export and picks actions."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cgfsim.agents.checkpoints import save_checkpoint
from cgfsim.agents.export_onnx.exporter import export_policy
from tests.export.helpers import Recording, make_policy

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Use a trained behaviour in your simulator"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the section has no python example"
    return str(blocks[0])


def test_example_is_plain_python() -> None:
    code = readme_example()
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(str(node.module).split(".")[0])
    assert modules == {"json", "sys", "numpy", "onnxruntime"}
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 36


@pytest.mark.parametrize("core", ["mlp", "lstm"])
def test_example_picks_actions(tmp_path: Path, recordings: dict[str, Recording], core: str) -> None:
    policy = make_policy(recordings["vector"], core)
    ck = save_checkpoint(tmp_path / "ck", policy, meta={"scenario": "duel"})
    contract = export_policy(ck, tmp_path / "export")
    script = tmp_path / "host.py"
    script.write_text(readme_example())
    run = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path / "export")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    names = [a["name"] for a in contract["actions"]]
    assert len(lines) == contract["policy"]["n_units"]
    allowed = {"stay", "north", "east", "west", "take_cover"}  # the example's mask
    for unit, line in enumerate(lines):
        m = re.fullmatch(r"unit (\d+): (\w+) \(simulator action (\d+)\)", line)
        assert m and int(m[1]) == unit and m[2] in allowed, line
        assert int(m[3]) == names.index(m[2])  # blue: the simulator's frame is the canonical one
