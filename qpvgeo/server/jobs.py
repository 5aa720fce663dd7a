"""Files checked in the background: one job per uploaded file, with its progress and its result.

File names on disk are made here (a random id and an extension from a fixed list); nothing from a
request ever becomes a path. Jobs and their files are forgotten after ``ttl_s``.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("qpvgeo.server")

INPUT_EXT = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".ods", ".xls", ".geojson", ".json", ".gpkg", ".fgb")
OUTPUT_EXT = (".csv", ".xlsx", ".geojson", ".gpkg")


@dataclass
class Job:
    id: str
    folder: Path
    output_ext: str
    download_name: str
    state: str = "queued"  # queued, running, done, failed
    rows_done: int = 0
    summary: dict | None = None
    error: str | None = None
    error_fr: str | None = None
    error_status: int = 400
    created: float = field(default_factory=time.time)

    @property
    def result(self) -> Path:
        return self.folder / f"result{self.output_ext}"

    def public(self) -> dict:
        out = {"job": self.id, "state": self.state, "rows_done": self.rows_done}
        if self.state == "done":
            out["summary"] = self.summary
            out["download"] = f"/api/jobs/{self.id}/result"
        if self.state == "failed":
            from .app import french

            out.update({"error": self.error, **french(self.error_fr)})
        return out


class Jobs:
    """The jobs of one worker, in a folder of their own."""

    def __init__(self, root: Path, *, ttl_s: float = 3600.0):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def new(self, input_ext: str, output_ext: str, download_name: str) -> tuple[Job, Path]:
        """A job and the path its upload goes to (made here, never from the request)."""
        self.forget_old()
        assert input_ext in INPUT_EXT and output_ext in OUTPUT_EXT
        job_id = secrets.token_urlsafe(12)
        folder = self.root / job_id
        folder.mkdir()
        job = Job(job_id, folder, output_ext, download_name)
        with self._lock:
            self._jobs[job_id] = job
        return job, folder / f"input{input_ext}"

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def run(self, job: Job, work, *, background: bool) -> None:
        """Run ``work(job)`` now or in a thread; its errors are kept on the job."""
        from .app import status_of

        def target():
            job.state = "running"
            try:
                job.summary = work(job)
                job.state = "done"
            except Exception as exc:  # noqa: BLE001 - reported through the job's status
                job.error, job.error_fr = str(exc), getattr(exc, "fr", None)
                job.error_status, job.state = status_of(exc), "failed"
                if job.error_status >= 500:
                    log.exception("job %s failed", job.id)

        if background:
            threading.Thread(target=target, daemon=True, name=f"job-{job.id}").start()
        else:
            target()

    def forget_old(self) -> None:
        now = time.time()
        with self._lock:
            old = [j for j in self._jobs.values() if now - j.created > self.ttl_s and j.state in ("done", "failed")]
            for j in old:
                del self._jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
