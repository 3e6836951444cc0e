"""Grade a class with nbgrader: `make grade [ASSIGNMENT=...] [SUBMISSIONS=dir]`.

    python -m targetpractice.instructor.grading --assignment 01-classification --submissions grader/samples/01-classification

SUBMISSIONS holds one folder per student: <student_id>/<notebook>.ipynb (an optional
timestamp.txt beside it gives the submission time).  The steps, all nbgrader:

1. `nbgrader generate_assignment` regenerates exercises/<assignment>/ from solutions/ (and
   records the tests, hidden ones included, in grader/gradebook.db);
2. each submission is checked (present? valid notebook JSON? the right name?) and copied,
   untouched, to grader/submitted/<student>/<assignment>/; a bad one gets a clear line and 0;
3. `nbgrader autograde --force`, with a progress line per student;
4. `nbgrader generate_feedback --force` -> grader/feedback/<student>/<assignment>/*.html;
5. `nbgrader export` -> grader/grades.csv;
6. a per-student, per-exercise table read from the gradebook (nbgrader.api.Gradebook).
"""
from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import nbformat

from .intake import Student, collect, shown, unpack_zip  # noqa: F401 (Student: the rows grade() returns)
from .nbgrader_ext import CONFIG_ERROR, nbgrader, nbgrader_env

ROOT = Path(__file__).resolve().parents[2]
COURSE_ID = "target-practice"


def exercise_of(grade_id: str) -> str:
    """Test cells are named <exercise>_test (quick) and <exercise>_hidden (full)."""
    return re.sub(r"_(test|hidden)$", "", grade_id)


# ----------------------------------------------------------------------------- grading
_STARTED = re.compile(r"Creating/updating student with ID '([^']+)'")
_FAILED = re.compile(r"There was an error processing assignment '[^']*' for student '([^']+)'")
_REASONS = [("Kernel died", "the kernel died (os._exit, a crash, or out of memory)"),
            ("DeadKernelError", "the kernel died (os._exit, a crash, or out of memory)"),
            ("CellTimeoutError", "a cell ran past the time limit"),
            ("UnresponsiveKernelError", "the kernel stopped responding"),
            ("ValueError", "a cell's output could not be read as a score")]


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
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_command(assignment: str, root: Path, wdir: Path, timeout: int | None) -> list:
    cmd = [str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--force",
           f"--CourseDirectory.submitted_directory={os.path.relpath(wdir / 'submitted', root)}",
           f"--CourseDirectory.db_url=sqlite:///{wdir / 'gradebook.db'}"]
    if timeout:
        cmd.append(f"--Execute.timeout={timeout}")
    return cmd


def autograde(assignment: str, root: Path, students: list, work: Path, jobs: int = 0,
              timeout: int | None = None, quiet: bool = False) -> None:
    """Autograde in parallel: each worker runs `nbgrader autograde` on its share of the class with
    its own copy of the gradebook (so sqlite is never written by two processes); this process then
    merges the workers' results into grader/gradebook.db, the only writer of the main gradebook."""
    todo = [s for s in students if (root / "grader" / "submitted" / s.id / assignment).exists()]
    if not todo:
        return
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    by_id = {s.id: s for s in students}
    main_db = root / "grader" / "gradebook.db"
    workers = []
    for k in range(jobs):
        wdir = work / f"worker{k}"
        if wdir.exists():
            shutil.rmtree(wdir)
        (wdir / "submitted").mkdir(parents=True)
        shutil.copyfile(main_db, wdir / "gradebook.db")
        shard = todo[k::jobs]
        for s in shard:
            shutil.copytree(root / "grader" / "submitted" / s.id, wdir / "submitted" / s.id)
        log = open(work / f"{assignment}-autograde-{k}.log", "w")
        proc = subprocess.Popen(_worker_command(assignment, root, wdir, timeout), cwd=root / "grader",
                                env=nbgrader_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        workers.append((proc, log, wdir, shard))

    progress = Progress(len(todo), quiet)
    lines: queue.Queue = queue.Queue()

    def pump(k, proc, log):
        for line in proc.stdout:
            log.write(line)
            lines.put((k, line))
        proc.wait()
        log.close()
        lines.put((k, None))

    for k, (proc, log, _, _) in enumerate(workers):
        threading.Thread(target=pump, args=(k, proc, log), daemon=True).start()
    open_workers, recent, current, failed = len(workers), {k: [] for k in range(jobs)}, {}, set()
    while open_workers:
        k, line = lines.get()
        if line is not None:
            recent[k] = (recent[k] + [line])[-80:]
            m = _FAILED.search(line)
            if CONFIG_ERROR in line:
                for proc, *_ in workers:
                    proc.kill()
                raise SystemExit(f"grader/nbgrader_config.py failed to load; see {work}/*.log")
            if m and m.group(1) in by_id:
                text = "".join(recent[k])
                reason = next((r for key, r in _REASONS if key in text), "nbgrader could not grade it")
                by_id[m.group(1)].notes.append(f"autograde failed: {reason}; scored 0")
                failed.add(m.group(1))
        m = _STARTED.search(line) if line is not None else None
        if (m or line is None) and current.get(k):  # a worker moved on: its last student is done
            progress.step(current[k], failed=current[k] in failed)
            current[k] = None
        if m:
            current[k] = m.group(1)
        if line is None:
            open_workers -= 1
    for _, _, wdir, shard in workers:
        merge_gradebook(wdir / "gradebook.db", main_db, assignment, [s.id for s in shard], failed)
        shutil.rmtree(wdir)


def merge_gradebook(worker_db: Path, main_db: Path, assignment: str, student_ids: list,
                    failed: set = frozenset()) -> None:
    """Copy these students' submissions from a worker's gradebook into the main one.

    A student whose notebook nbgrader could not grade (a dead kernel, say) gets a submission with
    every test at 0 and no "needs manual grade", so the class record is complete.
    """
    from nbgrader.api import Gradebook, MissingEntry

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
    """Notes for submissions to review: tampering neutralised at autograde (cell metadata set by
    NeutraliseTampering) and cells that ran past the time limit."""
    for s in students:
        for path in sorted((root / "grader" / "autograded" / s.id / assignment).glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001 - a notebook nbgrader wrote but we cannot read: say so
                s.notes.append(f"{path.name}: autograded notebook unreadable")
                continue
            found = sorted({w for c in nb.cells for w in c.metadata.get("targetpractice", {}).get("tampering", [])})
            if found:
                s.notes.append(f"flagged for review, tampering neutralised before grading: {'; '.join(found)}")
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
          timeout: int | None = None, timings: dict | None = None) -> list:
    """Grade a class; return the Student rows (scores per exercise and notes).

    ``timings``, if given, receives the seconds of each step (generate, autograde, feedback, total).
    """
    timings = {} if timings is None else timings
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if not (root / "solutions" / assignment).is_dir():
        known = ", ".join(sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir()))
        raise SystemExit(f"No assignment {assignment!r} in solutions/ (known: {known}).")
    work = root / "grader" / ".grading"
    work.mkdir(parents=True, exist_ok=True)
    refused = []  # inputs that break a rule: named with the rule, never graded, never silently dropped
    if submissions.is_file() and submissions.suffix == ".zip":
        submissions = unpack_zip(submissions, work / "unzipped", refused)
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is neither a folder of <student_id>/<notebook>.ipynb "
                         "nor a .zip of them.")
    say(f"Grading {assignment}: submissions from {submissions}")

    t0 = time.time()
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
    autograde(assignment, root, students, work, jobs=jobs, timeout=timeout, quiet=quiet)
    timings["autograde"] = time.time() - t1
    say(f"  autograded in {timings['autograde']:.1f} s")
    t2 = time.time()

    review_flags(assignment, root, students)
    exercises = read_scores(assignment, root, students)  # also adds students with nothing gradable
    nbgrader(["generate_feedback", assignment, "--force"], root, check=False)
    csv_tmp = root / "grader" / ".grades.csv.tmp"
    nbgrader(["export", "--to", str(csv_tmp)], root, check=False)
    if csv_tmp.exists():
        csv_tmp.replace(root / "grader" / "grades.csv")  # whole or not at all: a killed run keeps the last one

    timings["feedback, export, report"] = time.time() - t2
    from .report import write_report

    report = write_report(root / "grader" / "report.html", assignment, root, exercises, students, refused)
    say("")
    say(format_table(exercises, students))
    flagged = [s for s in students if s.notes]
    if flagged or refused:
        say("\nNotes:")
        for s in flagged:
            for note in s.notes:
                say(f"  {shown(s.id)}: {note}")
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
    ap.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    subs = Path(args.submissions or root / "grader" / "samples" / args.assignment).resolve()
    grade(args.assignment, subs, root, jobs=args.jobs, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
