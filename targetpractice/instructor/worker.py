"""One grading worker: `python -m targetpractice.instructor.worker ASSIGNMENT WORKDIR RECORDS_FD`.

The driver (grading.autograde) starts a few of these. Each reads student ids on stdin, one a line,
autogrades that student with nbgrader's own API (NbGraderAPI.autograde, then generate_feedback, with
the course config and its own copy of the gradebook in WORKDIR) and writes one JSON record per event to RECORDS_FD, a pipe that
only the driver reads:

    {"event": "ready", "seconds": 2.9}                       # config loaded, warm parent started
    {"event": "start", "student": "ada"}
    {"event": "done", "student": "ada", "ok": true, "reason": "", "seconds": 3.1,
     "trusted_seconds": 0.4, "trusted_requests": 61, "evidence": []}

"evidence" lists the test cells whose check passed in the student's kernel but failed when the
grader ran it (trusted.py): what the report flags for review.

Results travel only through that pipe: never through stdout, stderr or logs, which a kernel might
reach. The fd is not inherited by anything the worker starts (kernels, the warm parent), and each
submission's kernel runs in its own sandbox, which sees no file of the worker's. The worker's own
stdout and stderr (nbgrader's log) go to a log file for people to read.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# Why nbgrader could not grade a notebook, from its log: what the driver puts in the table.
REASONS = [("Kernel died", "the kernel died (os._exit, a crash, or out of memory)"),
           ("DeadKernelError", "the kernel died (os._exit, a crash, or out of memory)"),
           ("CellTimeoutError", "a cell ran past the time limit"),
           ("wall-clock", "the notebook ran past its time limit"),
           ("UnresponsiveKernelError", "the kernel stopped responding"),
           ("SandboxError", "its sandbox could not start"),
           ("ValueError", "a cell's output could not be read as a score")]


def reason_of(log: str) -> str:
    return next((why for key, why in REASONS if key in log), "nbgrader could not grade it")


def main(argv=None) -> int:
    assignment, workdir, records_fd = (argv or sys.argv[1:])[:3]
    workdir = Path(workdir)
    records = os.fdopen(int(records_fd), "w", buffering=1)
    os.set_inheritable(records.fileno(), False)

    def record(**fields):
        records.write(json.dumps(fields) + "\n")
        records.flush()

    t0 = time.time()
    from nbgrader.apps.api import NbGraderAPI

    from .kernel import TRUSTED_STATS
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    config.CourseDirectory.submitted_directory = str(workdir / "submitted")
    config.CourseDirectory.db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    timeout = os.environ.get("TP_CELL_TIMEOUT")
    if timeout:
        config.Execute.timeout = int(timeout)
    api = NbGraderAPI(config=config)
    if os.environ.get("TP_SANDBOX", "on") != "off":
        from .sandbox import ForkServer

        ForkServer.shared()  # the warm parent: imports torch once, before the first student
    record(event="ready", seconds=round(time.time() - t0, 2))
    for line in sys.stdin:
        student = line.strip()
        if not student:
            continue
        record(event="start", student=student)
        t1 = time.time()
        TRUSTED_STATS.update(requests=0, seconds=0.0, evidence=[])
        try:
            result = api.autograde(assignment, student, force=True, create=True)
        except Exception as exc:  # noqa: BLE001 - nbgrader's API reports, it should not raise
            result = {"success": False, "log": f"{type(exc).__name__}: {exc}"}
        if result.get("success"):  # the feedback page too, here in parallel, from this worker's gradebook
            feedback = api.generate_feedback(assignment, student, force=True)
            result["log"] = result.get("log", "") + feedback.get("log", "") + feedback.get("error", "")
        log = result.get("log", "") + result.get("error", "")
        sys.stdout.write(log)
        sys.stdout.flush()
        record(event="done", student=student, ok=bool(result.get("success")),
               reason="" if result.get("success") else reason_of(log), seconds=round(time.time() - t1, 2),
               trusted_seconds=round(TRUSTED_STATS["seconds"], 3), trusted_requests=TRUSTED_STATS["requests"],
               evidence=list(TRUSTED_STATS["evidence"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
