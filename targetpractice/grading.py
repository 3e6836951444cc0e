"""Grade a class with nbgrader: `make grade [ASSIGNMENT=...] [SUBMISSIONS=dir]`.

    python -m targetpractice.grading --assignment 01-classification --submissions grader/samples/01-classification

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
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .nbgrader_ext import nbgrader, nbgrader_env

ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "target-practice"


def exercise_of(grade_id: str) -> str:
    """Test cells are named <exercise>_test (quick) and <exercise>_hidden (full)."""
    return re.sub(r"_(test|hidden)$", "", grade_id)


@dataclass
class Student:
    id: str
    notes: list = field(default_factory=list)      # problems with the submission, for the table
    graded: bool = False
    scores: dict = field(default_factory=dict)     # exercise -> (score, max)
    seconds: float = 0.0


# --------------------------------------------------------------------------- collecting
def check_notebook(path: Path) -> str | None:
    """None if path is a readable notebook, else why not (in words)."""
    raw = path.read_bytes()
    if not raw.strip():
        return "is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        return f"is not valid notebook JSON{where}"
    try:
        nbformat.reads(raw.decode(), as_version=4)
    except Exception as exc:  # nbformat's own reasons (missing keys, unknown version, ...)
        return f"is not a readable notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    if not isinstance(data, dict) or not data.get("cells"):
        return "has no cells"
    return None


def collect(assignment: str, submissions: Path, root: Path, expected: list) -> list:
    """Check each student's folder and copy the usable notebooks into grader/submitted/."""
    submitted = root / "grader" / "submitted"
    for old in submitted.glob(f"*/{assignment}"):  # a fresh class each run: no stale students
        shutil.rmtree(old)
    for step in ("autograded", "feedback"):
        for old in (root / "grader" / step).glob(f"*/{assignment}"):
            shutil.rmtree(old)
    students = []
    for entry in sorted(submissions.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        s = Student(entry.name)
        students.append(s)
        dest = submitted / s.id / assignment
        present = {p.name for p in entry.glob("*.ipynb")}
        for name in expected:
            src = entry / name
            if not src.exists():
                others = sorted(present - set(expected))
                s.notes.append(f"{name} missing" + (f" (found {', '.join(others)}: rename it to {name} to have "
                                                    "it graded)" if others else "") + ": 0 for that notebook")
                continue
            why = check_notebook(src)
            if why:
                s.notes.append(f"{name} {why}: 0 for that notebook")
                continue
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / name)  # a copy: the student's file is never modified
        if (entry / "timestamp.txt").exists() and dest.exists():
            shutil.copyfile(entry / "timestamp.txt", dest / "timestamp.txt")
        extra = sorted(present - set(expected))
        if extra and all(name in {p.name for p in entry.glob('*.ipynb')} for name in expected):
            s.notes.append(f"ignored extra notebook(s): {', '.join(extra)}")
    return students


# ----------------------------------------------------------------------------- grading
_STARTED = re.compile(r"Autograding .*/autograded/([^/]+)/")
_FAILED = re.compile(r"There was an error processing assignment '[^']*' for student '([^']+)'")
_REASONS = [("Kernel died", "the kernel died (os._exit, a crash, or out of memory)"),
            ("DeadKernelError", "the kernel died (os._exit, a crash, or out of memory)"),
            ("CellTimeoutError", "a cell ran past the time limit"),
            ("UnresponsiveKernelError", "the kernel stopped responding"),
            ("ValueError", "a cell's output could not be read as a score")]


def autograde(assignment: str, root: Path, students: list, log_path: Path) -> None:
    """Run `nbgrader autograde --force`, printing a progress line per student."""
    todo = [s for s in students if (root / "grader" / "submitted" / s.id / assignment).exists()]
    if not todo:
        return
    by_id = {s.id: s for s in students}
    cmd = [str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--force"]
    t0 = last = time.time()
    done, current, recent = 0, None, []
    with open(log_path, "w") as log, subprocess.Popen(
            cmd, cwd=root / "grader", env=nbgrader_env(root), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            log.write(line)
            recent = (recent + [line])[-60:]
            m = _STARTED.search(line)
            if m and m.group(1) != current:
                if current in by_id:
                    by_id[current].seconds = time.time() - last
                current, last = m.group(1), time.time()
                done += 1
                eta = (time.time() - t0) / done * (len(todo) - done + 1)
                print(f"  [{done}/{len(todo)}] grading {current} ... (about {eta:.0f} s left)", flush=True)
            m = _FAILED.search(line)
            if m and m.group(1) in by_id:
                text = "".join(recent)
                reason = next((r for key, r in _REASONS if key in text), "nbgrader could not grade it")
                by_id[m.group(1)].notes.append(f"autograde failed: {reason}; scored 0 (see {log_path.name})")
        proc.wait()
    if current in by_id:
        by_id[current].seconds = time.time() - last


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
            gb.update_or_create_student(s.id)  # so nbgrader's export lists a student with nothing gradable
            s.scores = {ex: (0.0, maxima[ex]) for ex in exercises}
            try:
                sub = gb.find_submission(assignment, s.id)
            except MissingEntry:
                continue
            s.graded = True
            for nb in sub.notebooks:
                for g in nb.grades:
                    ex = exercise_of(g.name)
                    score = g.score or 0.0
                    s.scores[ex] = (s.scores[ex][0] + score, s.scores[ex][1])
                    if g.needs_manual_grade and g.auto_score is None:
                        s.notes.append(f"{g.name}: needs a manual grade")
    return exercises


def db_url(root: Path) -> str:
    return "sqlite:///" + str(root / "grader" / "gradebook.db")


def format_table(exercises: list, students: list) -> str:
    widths = [max(len(ex), 7) for ex in exercises]
    head = f"{'student':<12}" + "".join(f"{ex:>{w + 2}}" for ex, w in zip(exercises, widths)) + "    total"
    lines = [head, "-" * len(head)]
    for s in students:
        row = f"{s.id:<12}"
        for ex, w in zip(exercises, widths):
            got, most = s.scores.get(ex, (0.0, 0.0))
            row += f"{f'{got:g}/{most:g}':>{w + 2}}"
        got = sum(v[0] for v in s.scores.values())
        most = sum(v[1] for v in s.scores.values())
        lines.append(row + f"  {f'{got:g}/{most:g}':>7}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- main
def grade(assignment: str, submissions: Path, root: Path = ROOT, quiet: bool = False) -> list:
    """Grade a class; return the Student rows (scores per exercise and notes)."""
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if not (root / "solutions" / assignment).is_dir():
        known = ", ".join(sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir()))
        raise SystemExit(f"No assignment {assignment!r} in solutions/ (known: {known}).")
    if not submissions.is_dir():
        raise SystemExit(f"SUBMISSIONS={submissions} is not a folder of <student_id>/<notebook>.ipynb.")
    work = root / "grader" / ".grading"
    work.mkdir(parents=True, exist_ok=True)
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
    say(f"  exercises/{assignment} regenerated from solutions/ ({time.time() - t0:.1f} s)")

    expected = sorted(p.name for p in (root / "exercises" / assignment).glob("*.ipynb"))
    students = collect(assignment, submissions, root, expected)
    if not students:
        raise SystemExit(f"No student folders in {submissions}.")
    for s in students:
        for note in s.notes:
            say(f"  ! {s.id}: {note}")

    t1 = time.time()
    autograde(assignment, root, students, work / f"{assignment}-autograde.log")
    graded_time = time.time() - t1
    say(f"  autograded in {graded_time:.1f} s")

    nbgrader(["generate_feedback", assignment, "--force"], root, check=False)
    nbgrader(["export", "--to", str(root / "grader" / "grades.csv")], root, check=False)
    exercises = read_scores(assignment, root, students)
    # export again now that every student of the class is in the gradebook
    nbgrader(["export", "--to", str(root / "grader" / "grades.csv")], root, check=False)

    say("")
    say(format_table(exercises, students))
    flagged = [s for s in students if s.notes]
    if flagged:
        say("\nNotes:")
        for s in flagged:
            for note in s.notes:
                say(f"  {s.id}: {note}")
    say(f"\nFeedback: grader/feedback/<student>/{assignment}/   Grades: grader/grades.csv   "
        f"({time.time() - t0:.0f} s in all)")
    return students


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Grade a class with nbgrader.")
    ap.add_argument("--assignment", default="01-classification")
    ap.add_argument("--submissions", default=None, help="folder of <student_id>/<notebook>.ipynb")
    ap.add_argument("--jobs", type=int, default=0, help="parallel graders (0: all cores)")
    ap.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    subs = Path(args.submissions or root / "grader" / "samples" / args.assignment).resolve()
    grade(args.assignment, subs, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
