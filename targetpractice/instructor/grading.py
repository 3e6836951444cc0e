"""Grade a class with nbgrader: `make grade [ASSIGNMENT=...] [SUBMISSIONS=dir|zip] [JOBS=n] [SANDBOX=off]`.

    python -m targetpractice.instructor.grading --assignment 01-classification --submissions grader/samples/01-classification

SUBMISSIONS holds one folder per student: <student_id>/<notebook>.ipynb (an optional
timestamp.txt beside it gives the submission time), or is an LMS zip of them. The steps:

1. the workers start (worker.py: nbgrader loaded, a warm sandbox parent each) while
   `nbgrader generate_assignment` regenerates exercises/<assignment>/ from solutions/ (and records
   the tests, hidden ones included, in grader/gradebook.db);
2. the intake (intake.py) checks every name, archive entry and notebook and copies the usable ones,
   untouched, to grader/submitted/<student>/<assignment>/; a bad one gets a clear line and 0;
3. the workers autograde one student at a time, each in its own sandbox, and write its feedback
   page; this process merges their gradebooks, with a progress line per student;
4. grades.csv through nbgrader's CSV export plugin, a per-student, per-exercise table read from the
   gradebook (nbgrader.api.Gradebook), and the class report.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import nbformat

from .intake import collect, shown, unpack_zip
from .kernel import SANDBOX_HELP, sandbox_on, sandbox_problem
from .nbgrader_ext import CONFIG_ERROR, nbgrader, nbgrader_env

ROOT = Path(__file__).resolve().parents[2]
COURSE_ID = "target-practice"


def exercise_of(grade_id: str) -> str:
    """Test cells are named <exercise>_test (quick) and <exercise>_hidden (full)."""
    return re.sub(r"_(test|hidden)$", "", grade_id)


# ----------------------------------------------------------------------------- grading
# What each warm parent imports besides torch, numpy and ipykernel: the course library the notebooks use.
WARM_LIBRARY = "targetpractice,targetpractice.checks,targetpractice.diagnosis,targetpractice.pictures"
# A worker that has not reported on its student by then is stopped (killed, frozen by SIGSTOP, or
# stuck) and the student is graded again by a fresh worker, once.
STARTUP_SECONDS = 120          # a worker loading nbgrader and warming up its sandbox parent
MARGIN_SECONDS = 90            # nbgrader's own work around one notebook


class Progress:
    """One line per finished student (or a redrawn bar on a terminal): done, failures, time left."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.done, self.failed, self.t0, self.quiet = total, 0, 0, time.time(), quiet
        self.tty = sys.stdout.isatty()

    def step(self, student: str, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        if self.quiet:
            return
        elapsed = time.time() - self.t0
        left = elapsed / self.done * (self.total - self.done)
        width = 24
        bar = "#" * round(width * self.done / self.total) + "-" * (width - round(width * self.done / self.total))
        text = (f"  [{bar}] {self.done}/{self.total} graded, {self.failed} failed, "
                f"~{left:.0f} s left ({student}{' FAILED' if failed else ''})")
        print(("\r" + text + " " * 8) if self.tty else text, end="" if self.tty else "\n", flush=True)
        if self.tty and self.done == self.total:
            print()


def _die_with_parent() -> None:
    """Workers end when make grade ends, even by kill -9 (Linux): a rerun never races an orphan."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Worker:
    """A grading worker process (worker.py) with its own gradebook copy and records pipe."""

    def __init__(self, k: int, assignment: str, root: Path, work: Path, timeout: int | None, sandbox: bool):
        self.k, self.root = k, root
        self.dir = work / f"worker{k}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        (self.dir / "submitted").mkdir(parents=True)
        self.has_gradebook = False              # copied in before its first student (after generate)
        read_fd, write_fd = os.pipe()
        env = dict(nbgrader_env(root), TP_WORKER=str(k % 100), TP_SANDBOX_PRELOAD=WARM_LIBRARY,
                   TP_SANDBOX="on" if sandbox else "off")  # read by worker.py and kernel.GradingExecute
        if timeout:
            env["TP_CELL_TIMEOUT"] = str(timeout)
        self.log = open(work / f"{assignment}-worker{k}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "targetpractice.instructor.worker", assignment, str(self.dir), str(write_fd)],
            cwd=root / "grader", env=env, stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
            text=True, pass_fds=(write_fd,), start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        os.close(write_fd)
        self.records = os.fdopen(read_fd, "r")
        self.current: str | None = None         # the student it is grading
        self.deadline = time.time() + STARTUP_SECONDS
        self.ready = False
        self.done: list = []                    # students it finished (their results are in its gradebook)

    def send(self, student: str, per_notebook: float) -> None:
        if not self.has_gradebook:
            shutil.copyfile(self.root / "grader" / "gradebook.db", self.dir / "gradebook.db")
            self.has_gradebook = True
        src = self.root / "grader" / "submitted" / student
        shutil.copytree(src, self.dir / "submitted" / student, dirs_exist_ok=True)
        self.current = student
        self.deadline = time.time() + per_notebook
        self.proc.stdin.write(student + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """End the worker and everything it started (its process group: nbgrader, the warm parent)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def _reader(worker: Worker, events: queue.Queue) -> None:
    for line in worker.records:
        try:
            events.put((worker, json.loads(line)))
        except json.JSONDecodeError:
            continue
    events.put((worker, {"event": "exit"}))


def start_workers(assignment: str, root: Path, work: Path, jobs: int, timeout: int | None, sandbox: bool) -> list:
    """Start the workers early: they import nbgrader and warm their sandbox parent while
    generate_assignment and the intake run, instead of after them."""
    return [Worker(k, assignment, root, work, timeout, sandbox) for k in range(jobs)]


def autograde(assignment: str, root: Path, students: list, work: Path, jobs: int = 0,
              timeout: int | None = None, quiet: bool = False, sandbox: bool = True,
              workers: list | None = None) -> None:
    """Autograde in parallel workers (worker.py), each with its own copy of the gradebook, merged here:
    this process is the only writer of grader/gradebook.db. Results come only from the workers'
    records. A worker that dies, is stopped, or misses its deadline is killed; its student is graded
    once more by a fresh worker, then reported by name with the reason and scored 0."""
    workers = list(workers or [])
    todo = [s.id for s in students if (root / "grader" / "submitted" / s.id / assignment).exists()]
    keep_only_this_run(assignment, root, todo)
    if not todo:
        for w in workers:
            w.stop()
        return
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    for w in workers[jobs:]:  # more started than there are students
        w.stop()
    workers = workers[:jobs]
    by_id = {s.id: s for s in students}
    main_db = root / "grader" / "gradebook.db"
    per_notebook = int(os.environ.get("TP_NOTEBOOK_SECONDS", "600")) + \
        int(os.environ.get("TP_WORKER_MARGIN", MARGIN_SECONDS))
    queue_ = list(todo)
    attempts = {sid: 0 for sid in todo}
    failed, finished = set(), set()
    events: queue.Queue = queue.Queue()
    progress = Progress(len(todo), quiet)
    live: dict = {}
    spawned = max([w.k + 1 for w in workers], default=0)

    def adopt(w):
        live[w.k] = w
        threading.Thread(target=_reader, args=(w, events), daemon=True).start()

    def spawn():
        nonlocal spawned
        adopt(Worker(spawned, assignment, root, work, timeout, sandbox))
        spawned += 1

    def feed(w):
        if queue_ and w.ready and w.current is None:
            sid = queue_.pop(0)
            attempts[sid] += 1
            w.send(sid, per_notebook)

    def retire(w, why: str):
        """The worker is gone: keep what it finished, give its student one more try or a reason."""
        live.pop(w.k, None)
        w.stop()
        sid, ids = w.current, list(w.done)
        if sid is not None and sid not in finished:
            if attempts[sid] < 2:
                queue_.insert(0, sid)
            else:
                by_id[sid].notes.append(f"autograde failed: {why} twice while grading it; scored 0")
                failed.add(sid)
                finished.add(sid)
                ids.append(sid)
                progress.step(sid, failed=True)
        merge_gradebook(w.dir / "gradebook.db", main_db, assignment, ids, failed & set(ids))
        shutil.rmtree(w.dir, ignore_errors=True)

    try:
        for w in workers:
            adopt(w)
        while len(live) < jobs:
            spawn()
        while len(finished) < len(todo):
            try:
                w, ev = events.get(timeout=1.0)
            except queue.Empty:
                w, ev = None, None
            if w is not None and w.k in live:
                if ev["event"] == "ready":
                    w.ready = True
                elif ev["event"] == "done" and ev.get("student") == w.current:
                    sid = w.current
                    w.current, w.done = None, w.done + [sid]
                    finished.add(sid)
                    by_id[sid].seconds = float(ev.get("seconds", 0))
                    by_id[sid].trusted_seconds = float(ev.get("trusted_seconds", 0))
                    for found in ev.get("evidence", []):
                        by_id[sid].notes.append(f"flagged for review: {shown(str(found), 400)}")
                    if not ev.get("ok"):
                        by_id[sid].notes.append(f"autograde failed: {ev.get('reason') or 'unknown'}; scored 0")
                        failed.add(sid)
                    progress.step(sid, failed=sid in failed)
                elif ev["event"] == "exit":
                    if not w.ready:  # it never got as far as grading: a broken setup, not a student
                        w.stop()
                        tail = (work / f"{assignment}-worker{w.k}.log").read_text(errors="replace")[-3000:]
                        if CONFIG_ERROR in tail or "nbgrader_config.py" in tail:
                            raise SystemExit(f"grader/nbgrader_config.py failed to load:\n{tail}")
                        raise SystemExit(f"A grading worker could not start:\n{tail}")
                    retire(w, "its grading worker died")
            for w in list(live.values()):  # the watchdog: stopped or stuck (a dead one sent "exit")
                if time.time() > w.deadline and (w.current is not None or not w.ready):
                    retire(w, "its grading worker stopped responding (past the time limit)")
            while queue_ and len(live) < jobs:
                spawn()
            for w in list(live.values()):
                feed(w)
                if not queue_ and w.current is None and w.ready:
                    live.pop(w.k)
                    w.proc.stdin.close()                 # no more students: the worker ends
                    w.proc.wait(timeout=60)
                    w.log.close()
                    merge_gradebook(w.dir / "gradebook.db", main_db, assignment, w.done, failed & set(w.done))
                    shutil.rmtree(w.dir, ignore_errors=True)
    finally:
        for w in list(live.values()):
            w.stop()


def export_csv(assignment: str, root: Path, ids: list) -> Path:
    """grader/grades.csv through nbgrader's own CSV export plugin, for this assignment and class only
    (the gradebook may hold other assignments and earlier classes); written whole or not at all."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    final, tmp = root / "grader" / "grades.csv", root / "grader" / ".grades.csv.tmp"
    with warnings.catch_warnings(), Gradebook(db_url(root), COURSE_ID) as gb:
        warnings.simplefilter("ignore")
        CsvExportPlugin(to=str(tmp), assignment=[assignment], student=list(ids)).export(gb)
    tmp.replace(final)  # a killed run keeps the last complete grades.csv
    return final


def keep_only_this_run(assignment: str, root: Path, graded_now: list) -> None:
    """No score of an earlier run survives: every submission of this assignment in the gradebook is
    removed unless its student is graded now (a student with nothing gradable this time, or one of
    an earlier class who is not in this one, keeps nothing)."""
    from nbgrader.api import Gradebook, MissingEntry

    if not (root / "grader" / "gradebook.db").exists():
        return
    with warnings.catch_warnings(), Gradebook(db_url(root), COURSE_ID) as gb:
        warnings.simplefilter("ignore")
        try:
            before = [sub.student.id for sub in gb.find_assignment(assignment).submissions]
        except MissingEntry:
            return
        for sid in set(before) - set(graded_now):
            gb.remove_submission(assignment, sid)


def merge_gradebook(worker_db: Path, main_db: Path, assignment: str, student_ids: list,
                    failed: set = frozenset()) -> None:
    """Copy these students' submissions from a worker's gradebook into the main one.

    A student whose notebook nbgrader could not grade (a dead kernel, say) gets a submission with
    every test at 0 and no "needs manual grade", so the class record is complete.
    """
    from nbgrader.api import Gradebook, MissingEntry

    if not student_ids:
        return
    if not worker_db.exists():  # a worker killed before its first student: nothing of its to keep
        worker_db, failed = main_db, set(student_ids)
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{worker_db}", COURSE_ID) as src, \
            Gradebook(f"sqlite:///{main_db}", COURSE_ID) as dst:
        warnings.simplefilter("ignore")  # SQLAlchemy's harmless "not in session" SAWarning (nbgrader-notes §7)
        for sid in student_ids:
            try:
                sub = None if sid in failed else src.find_submission(assignment, sid)
            except MissingEntry:
                sub = None
            dst.update_or_create_student(sid)
            try:
                dst.remove_submission(assignment, sid)
            except MissingEntry:
                pass
            new = dst.add_submission(assignment, sid, **({"timestamp": sub.timestamp} if sub and sub.timestamp else {}))
            for nb in new.notebooks:
                try:
                    old = src.find_submission_notebook(nb.name, assignment, sid) if sub else None
                except MissingEntry:
                    old = None
                if old is not None:
                    nb.flagged = old.flagged
                    nb.late_submission_penalty = old.late_submission_penalty
                old_grades = {g.name: g for g in old.grades} if old is not None else {}
                old_comments = {c.name: c for c in old.comments} if old is not None else {}
                for g in nb.grades:
                    o = old_grades.get(g.name)
                    if o is None:
                        g.auto_score, g.needs_manual_grade = 0.0, False
                    else:
                        g.auto_score, g.manual_score = o.auto_score, o.manual_score
                        g.extra_credit, g.needs_manual_grade = o.extra_credit, o.needs_manual_grade
                for c in nb.comments:
                    o = old_comments.get(c.name)
                    if o is not None:
                        c.auto_comment, c.manual_comment = o.auto_comment, o.manual_comment
            dst.db.commit()


def read_scores(assignment: str, root: Path, students: list) -> list:
    """Per-exercise scores from the gradebook; every student of the class gets a row."""
    from nbgrader.api import Gradebook, MissingEntry

    exercises = []
    with Gradebook(db_url(root), COURSE_ID) as gb:
        a = gb.find_assignment(assignment)
        for nb in a.notebooks:
            for cell in nb.grade_cells:
                ex = exercise_of(cell.name)
                if ex not in exercises:
                    exercises.append(ex)
        maxima = {}
        for nb in a.notebooks:
            for cell in nb.grade_cells:
                maxima[exercise_of(cell.name)] = maxima.get(exercise_of(cell.name), 0) + cell.max_score
        for s in students:
            # every student of the class, so nbgrader's export lists one with nothing gradable; without a
            # roster Formgrader would show "None, None": the id stands in for the last name
            gb.update_or_create_student(s.id, first_name=s.first_name or "", last_name=s.last_name or s.id)
            s.scores = {ex: (0.0, maxima[ex]) for ex in exercises}
            try:
                sub = gb.find_submission(assignment, s.id)
            except MissingEntry:
                continue
            s.graded = True
            manual = []
            for nb in sub.notebooks:
                for g in nb.grades:
                    ex = exercise_of(g.name)
                    score = g.score or 0.0
                    s.scores[ex] = (s.scores[ex][0] + score, s.scores[ex][1])
                    if g.needs_manual_grade and g.auto_score is None:
                        manual.append(g.name)
            if manual:
                s.notes.append(f"needs a manual grade: {', '.join(manual)}")
    return exercises


def review_flags(assignment: str, root: Path, students: list) -> None:
    """Notes for submissions to review: cells that ran past the time limit. (Checks that passed in the
    student's kernel but failed in the grader's arrive with the worker's records.)"""
    for s in students:
        for path in sorted((root / "grader" / "autograded" / s.id / assignment).glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001 - a notebook nbgrader wrote but we cannot read: say so
                s.notes.append(f"{path.name}: autograded notebook unreadable")
                continue
            if any(o.get("ename") == "CellTimeoutError" for c in nb.cells for o in c.get("outputs", [])):
                s.notes.append("flagged for review: a cell ran past the time limit and was interrupted")


def db_url(root: Path) -> str:
    return "sqlite:///" + str(root / "grader" / "gradebook.db")


def format_table(exercises: list, students: list) -> str:
    widths = [max(len(ex), 7) for ex in exercises]
    w0 = max([12] + [len(s.id) + 2 for s in students])
    head = f"{'student':<{w0}}" + "".join(f"{ex:>{w + 2}}" for ex, w in zip(exercises, widths)) + "    total"
    lines = [head, "-" * len(head)]
    for s in students:
        row = f"{s.id:<{w0}}"
        for ex, w in zip(exercises, widths):
            got, most = s.scores.get(ex, (0.0, 0.0))
            row += f"{f'{got:g}/{most:g}':>{w + 2}}"
        got = sum(v[0] for v in s.scores.values())
        most = sum(v[1] for v in s.scores.values())
        lines.append(row + f"  {f'{got:g}/{most:g}':>7}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- main
def grade(assignment: str, submissions: Path, root: Path = ROOT, quiet: bool = False, jobs: int = 0,
          timeout: int | None = None, timings: dict | None = None, sandbox: bool | None = None) -> list:
    """Grade a class; return the Student rows (scores per exercise and notes).

    ``timings``, if given, receives the seconds of each step (generate, autograde, feedback, total).
    ``sandbox`` False grades without the per-submission sandbox (default: SANDBOX from the environment).
    """
    timings = {} if timings is None else timings
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    sandbox = sandbox_on(os.environ.get("SANDBOX", "on")) if sandbox is None else sandbox
    limits = None
    if sandbox:
        why = sandbox_problem()
        if why:
            raise SystemExit(SANDBOX_HELP.format(why=why))
        from .sandbox import limits_here

        limits = limits_here()
        say(f"  each submission in its own sandbox; limits: {limits}")
    else:
        say("  ! WARNING: grading WITHOUT the sandbox (SANDBOX=off): student code runs with your privileges, "
            "next to the gradebook and the solutions. The report says so.")
    if not (root / "solutions" / assignment).is_dir():
        known = ", ".join(sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir()))
        raise SystemExit(f"No assignment {assignment!r} in solutions/ (known: {known}).")
    work = root / "grader" / ".grading"
    work.mkdir(parents=True, exist_ok=True)
    refused = []  # inputs that break a rule: named with the rule, never graded, never silently dropped
    if submissions.is_file() and submissions.suffix == ".zip":
        submissions = unpack_zip(submissions, work / "unzipped", refused, assignment)
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is neither a folder of <student_id>/<notebook>.ipynb "
                         "nor a .zip of them.")
    say(f"Grading {assignment}: submissions from {submissions}")

    t0 = time.time()
    workers = start_workers(assignment, root, work, max(1, jobs or os.cpu_count() or 1), timeout, sandbox)
    try:
        return _grade(assignment, submissions, root, quiet, jobs, timeout, timings, limits if sandbox else None,
                      workers, refused, t0)
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.stop()


def _grade(assignment, submissions, root, quiet, jobs, timeout, timings, limits, workers, refused, t0) -> list:
    """grade(), once the workers are starting: generate, take in, autograde, feedback, export, report."""
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    work = root / "grader" / ".grading"
    proc = nbgrader(["generate_assignment", assignment, "--force"], root, check=False)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        if "Cannot add or remove cells" in text:
            raise SystemExit(
                f"The gradebook already holds submissions for {assignment} with other test cells than "
                f"solutions/{assignment} has now. Re-grading with the new tests needs the old record gone:\n"
                f"  cd grader && nbgrader db assignment remove {assignment} --force\n"
                "(or delete grader/gradebook.db to start over), then run make grade again.")
        raise SystemExit(f"nbgrader generate_assignment failed:\n{text[-3000:]}")
    timings["generate"] = time.time() - t0
    say(f"  exercises/{assignment} regenerated from solutions/ ({timings['generate']:.1f} s)")

    expected = sorted(p.name for p in (root / "exercises" / assignment).glob("*.ipynb"))
    students = collect(assignment, submissions, root, expected, refused)
    for line in refused:
        say(f"  ! {line}")
    if not students:
        raise SystemExit(f"No student folders in {submissions}.")
    for s in students:
        for note in s.notes:
            say(f"  ! {s.id}: {note}")

    t1 = time.time()
    autograde(assignment, root, students, work, jobs=jobs, timeout=timeout, quiet=quiet, sandbox=limits is not None,
              workers=workers)
    timings["autograde"] = time.time() - t1
    say(f"  autograded in {timings['autograde']:.1f} s")
    t2 = time.time()

    review_flags(assignment, root, students)
    exercises = read_scores(assignment, root, students)  # also adds students with nothing gradable
    # (feedback pages were written by the workers, each right after its student's autograde)
    export_csv(assignment, root, [s.id for s in students])

    from .report import write_report

    report = write_report(root / "grader" / "report.html", assignment, root, exercises, students, refused,
                          sandbox_limits=limits)
    timings["export, report"] = time.time() - t2
    say("")
    say(format_table(exercises, students))
    flagged = [s for s in students if s.notes]
    if flagged or refused:
        say("\nNotes:")
        for s in flagged:
            for note in s.notes:
                say(f"  {shown(s.id)}: {shown(note)}")
        for line in refused:
            say(f"  {line}")
    timings["total"] = time.time() - t0
    say(f"\nFeedback: grader/feedback/<student>/{assignment}/   Grades: grader/grades.csv   "
        f"Report: {report.relative_to(root)}   ({time.time() - t0:.0f} s in all)")
    return students


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Grade a class with nbgrader.")
    ap.add_argument("--assignment", default="01-classification")
    ap.add_argument("--submissions", default=None, help="folder of <student_id>/<notebook>.ipynb")
    ap.add_argument("--jobs", type=int, default=0, help="parallel graders (0: all cores)")
    ap.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: grader config)")
    ap.add_argument("--sandbox", choices=("on", "off"), default=os.environ.get("SANDBOX") or None,
                    help="off: grade without the per-submission sandbox (not recommended)")
    ap.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    subs = Path(args.submissions or root / "grader" / "samples" / args.assignment).resolve()
    grade(args.assignment, subs, root, jobs=args.jobs, timeout=args.timeout,
          sandbox=None if args.sandbox is None else args.sandbox == "on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
