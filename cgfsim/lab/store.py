"""The sweep's job store: one append-only JSONL file, one line per finished job.

A job's rows are written as ONE line (``append_jsonl``: write, flush, fsync)
the moment the job finishes, so a job is either wholly recorded or not at all.
A process killed in the middle of a write leaves a torn last line: readers skip
it, and :meth:`JobStore.repair` cuts it off before the next append (otherwise the
next line would be glued to it and lost as well). Only the driver writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cgfsim.agents.runs import append_jsonl, read_jsonl

RESULTS = "results.jsonl"


class JobStore:
    """Finished jobs of a sweep folder, keyed by job id."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / RESULTS

    def repair(self) -> int:
        """Cut a torn (unterminated) last line; returns the number of bytes removed."""
        if not self.path.exists():
            return 0
        with open(self.path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            f.seek(0)
            data = f.read()
            keep = data.rfind(b"\n") + 1
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
            return size - keep

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, first of each job id only (a job is never counted twice)."""
        seen: set[str] = set()
        out = []
        for rec in read_jsonl(self.path):
            jid = rec.get("job_id")
            if not isinstance(jid, str) or jid in seen or "rows" not in rec:
                continue
            seen.add(jid)
            out.append(rec)
        return out

    def done(self) -> set[str]:
        return {r["job_id"] for r in self.records()}

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record)


__all__ = ["RESULTS", "JobStore"]
