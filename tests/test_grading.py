"""Grading through nbgrader, as an instructor runs it: validate, the sample class, bad input,
and the wrong-fix corpus. Each test grades in a scratch course with its own gradebook."""
from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from targetpractice.instructor import build, grading
from targetpractice.instructor.nbgrader_ext import nbgrader

from conftest import (ROOT, active_elements, add_zip_entry, host_cmdlines_containing, make_course,
                      scores_by_student)

pytestmark = pytest.mark.slow  # every test here grades notebooks through nbgrader

ASSIGNMENTS = build.assignments(ROOT)


def digest(folder: Path) -> dict:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_validate_passes_solutions_and_fails_every_test_of_the_release(course, assignment):
    for nb in sorted((course / "solutions" / assignment).glob("*.ipynb")):
        out = nbgrader(["validate", str(nb)], course, check=False)
        assert "Success! Your notebook passes all the tests." in out.stdout + out.stderr, out.stdout[-3000:]
    for nb in sorted((course / "exercises" / assignment).glob("*.ipynb")):
        out = nbgrader(["validate", "--invert", str(nb)], course, check=False)
        assert "Success! The notebook does not pass any tests." in out.stdout + out.stderr, out.stdout[-3000:]


SAMPLED = [a for a in ASSIGNMENTS if build.load_sample_spec(a)]


def sample_total(assignment: str, student: str) -> float:
    """A sample student's expected total, from the topic's samples.toml."""
    return sum(build.load_sample_spec(assignment)["students"][student]["expected"].values())


def students_from(fixes: list, prefix: str) -> dict:
    """Exercises are independent (each check takes the student's function and builds its own inputs),
    so student <prefix>k carries the k-th fix of every exercise that has one, and the rest solved: a
    few submissions instead of one per fix. The tests still check the solved ones."""
    by_exercise = {}
    for fx in fixes:
        by_exercise.setdefault(fx["exercise"], []).append(fx)
    return {f"{prefix}{k}": {ex: fxs[k] for ex, fxs in by_exercise.items() if k < len(fxs)}
            for k in range(max(map(len, by_exercise.values()), default=0))}


@pytest.fixture(scope="module", params=SAMPLED)
def graded_class(request, tmp_path_factory):
    """One grading run per topic: its sample class plus one student per tempting wrong fix."""
    assignment = request.param
    tmp = tmp_path_factory.mktemp(assignment)
    course = make_course(tmp / "course")
    subs = tmp / "class"
    shutil.copytree(ROOT / "grader" / "samples" / assignment, subs)
    fixes, rights = build.load_wrong_fixes(assignment), build.load_right_fixes(assignment)
    corpus, right_corpus = students_from(fixes, "wrong"), students_from(rights, "right")
    for student, chosen in {**corpus, **right_corpus}.items():
        for path in sorted((course / "exercises" / assignment).glob("*.ipynb")):
            release = nbformat.read(path, as_version=4)
            solution = nbformat.read(course / "solutions" / assignment / path.name, as_version=4)
            answers = {ex: fx["code"] for ex, fx in chosen.items() if ex in build.answer_ids(release)}
            build.write_notebook(build.make_submission(release, solution, "all", answers), subs / student / path.name)
    before = digest(subs)
    # more workers than this machine has cores: each has its own gradebook, merged by one writer
    rows = grading.grade(assignment, subs, course, quiet=True, jobs=2 * (os.cpu_count() or 1))
    return {"assignment": assignment, "course": course, "subs": subs, "before": before, "fixes": fixes,
            "corpus": corpus, "rights": rights, "right_corpus": right_corpus, "rows": {s.id: s for s in rows},
            "spec": build.load_sample_spec(assignment)}


def test_sample_class_grades_to_its_expected_scores(graded_class):
    g = graded_class
    assignment, course, spec = g["assignment"], g["course"], g["spec"]
    scores = scores_by_student(g["rows"].values())
    assert set(scores) == set(spec["students"]) | set(g["corpus"]) | set(g["right_corpus"])
    for student, s in spec["students"].items():
        assert scores[student] == {ex: float(v) for ex, v in s["expected"].items()}, student
    assert digest(g["subs"]) == g["before"], "grading must never modify a submission"
    # nbgrader's CSV export lists every student of the class with the table's total
    with open(course / "grader" / "grades.csv") as f:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f) if r["assignment"] == assignment}
    assert exported == {sid: sum(v.values()) for sid, v in scores.items()}
    # regenerated exercises are byte-identical to the committed ones (git status stays clean)
    assert digest(course / "exercises" / assignment) == digest(ROOT / "exercises" / assignment)
    # the class report: self-contained, with every section an instructor looks for
    report = (course / "grader" / "report.html").read_text()
    for section in ("distribution", "exercises", "mistakes", "hints", "flagged", "missing", "scores"):
        assert f'id="{section}"' in report, section
    assert report.count("data:image/png;base64,") == 2 and "http" not in report.replace("http-equiv", "")
    assert active_elements(report) == [] and "Content-Security-Policy" in report
    assert 'id="sandbox"' in report and "cgroup" in report and "over all of a submission" in report
    for student in spec["students"]:
        assert f"<td>{student}</td>" in report
    # feedback shows the checks' messages but none of the hidden tests' source
    for student in spec["students"]:
        for name in spec["notebooks"]:
            page = (course / "grader" / "feedback" / student / assignment / name.replace(".ipynb", ".html")).read_text()
            assert "BEGIN HIDDEN TESTS" not in page and "hidden checks ran here" in page
            # offline: nothing loaded from the network (nbgrader's own template pulls MathJax from a CDN)
            assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "feedback loads from the network"
            assert "MathJax.Hub" not in page and "cdnjs" not in page
            assert active_elements(page) == [] and "Content-Security-Policy" in page
    # names from the sample class's roster.csv reach the gradebook (Formgrader's Manage Students)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'grader' / 'gradebook.db'}", "target-practice") as gb:
        names = {s.id: (s.first_name, s.last_name) for s in gb.students}
    for student, s in spec["students"].items():
        assert names[student] == tuple(s["name"].split(" ", 1)), names[student]


def test_every_other_correct_answer_scores_full_marks_and_is_never_flagged(graded_class):
    g = graded_class
    assert g["rights"], f"topics/{g['assignment']}/right_fixes.toml lists no other correct answers"
    exercises = set(g["rows"][next(iter(g["spec"]["students"]))].scores)
    assert {fx["exercise"] for fx in g["rights"]} == exercises, "every exercise needs another correct answer"
    for student, chosen in g["right_corpus"].items():
        row = g["rows"][student]
        for ex, fx in chosen.items():
            got, most = row.scores[ex]
            assert got == most > 0, f"correct answer {fx['name']!r} for {ex} scored {got}/{most}"
        assert all(got == most for got, most in row.scores.values()), row.scores
        assert not row.notes, f"{student} ({[fx['name'] for fx in chosen.values()]}) was flagged: {row.notes}"


def test_every_tempting_wrong_fix_scores_below_full_marks(graded_class):
    g = graded_class
    assert g["fixes"], f"topics/{g['assignment']}/wrong_fixes.toml lists no wrong fixes"
    perfect = [sid for sid, s in g["spec"]["students"].items() if s.get("fixed") == "all" and not s.get("wrong_fixes")]
    assert perfect, "the sample class needs a student with every exercise solved"
    full = g["rows"][perfect[0]].scores
    assert all(got == most > 0 for got, most in full.values()), f"the solution must score full marks: {full}"
    assert {fx["exercise"] for fx in g["fixes"]} == set(full), "every exercise needs a wrong fix in the corpus"
    for student, chosen in g["corpus"].items():
        scores = g["rows"][student].scores
        for ex, fx in chosen.items():
            got, most = scores[ex]
            assert got < most, f"wrong fix {fx['name']!r} for {ex} scored full marks ({got}/{most})"
        solved = {ex: v for ex, v in scores.items() if ex not in chosen}
        assert all(gv == m for gv, m in solved.values()), f"wrong fixes cost points elsewhere: {solved}"


def test_bad_submissions_get_a_clear_line_and_zero_and_regrading_is_stable(course, tmp_path):
    assignment = "01-classification"
    samples = ROOT / "grader" / "samples" / assignment
    subs = tmp_path / "class"
    shutil.copytree(samples / "dee", subs / "dee")
    good = (samples / "ada" / "01-classification.ipynb").read_bytes()
    (subs / "notjson").mkdir()
    (subs / "notjson" / "01-classification.ipynb").write_text('{"cells": [')
    (subs / "renamed").mkdir()
    (subs / "renamed" / "my-work.ipynb").write_bytes(good)
    (subs / "absent").mkdir()
    (subs / "absent" / "README.txt").write_text("forgot the notebook")
    (subs / "empty").mkdir()
    (subs / "empty" / "01-classification.ipynb").write_bytes(b"")
    (subs / "notes.txt").write_text("not a student folder")
    before = digest(subs)

    rows = grading.grade(assignment, subs, course, quiet=True)
    scores = scores_by_student(rows)
    notes = {s.id: " ".join(s.notes) for s in rows}
    assert sum(scores["dee"].values()) == sample_total("01-classification", "dee")
    for bad in ("notjson", "renamed", "absent", "empty"):
        assert set(scores[bad].values()) == {0.0}, bad
    assert "not valid notebook JSON" in notes["notjson"]
    assert "found my-work.ipynb: rename it to 01-classification.ipynb" in notes["renamed"]
    assert "01-classification.ipynb missing" in notes["absent"]
    assert "is empty" in notes["empty"]
    assert digest(subs) == before, "grading must never modify a submission"
    ignored = (ROOT / ".gitignore").read_text().split()
    for step in ("submitted", "autograded", "feedback", "gradebook.db", "grades.csv", ".grading"):
        assert any(line.rstrip("/") == f"grader/{step}" for line in ignored), step

    again = scores_by_student(grading.grade(assignment, subs, course, quiet=True))
    assert again == scores, "grading twice must give the same scores"


def test_interrupted_grading_completes_on_rerun_with_the_same_scores(course, tmp_path):
    """kill -9 the grader halfway, run it again: the class completes with the expected scores."""
    import signal
    import subprocess
    import sys
    import time

    assignment = "01-classification"
    spec = build.load_sample_spec(assignment)
    subs = ROOT / "grader" / "samples" / assignment
    cmd = [sys.executable, "-m", "targetpractice.instructor.grading", "--assignment", assignment,
           "--submissions", str(subs), "--root", str(course), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # wait until grading is under way, then kill it
        seen.append(line)
        if " graded," in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any("1/5 graded" in line for line in seen), "".join(seen)
    time.sleep(1)
    rows = grading.grade(assignment, subs, course, quiet=True, jobs=2)
    scores = scores_by_student(rows)
    for student, s in spec["students"].items():
        assert scores[student] == {ex: float(v) for ex, v in s["expected"].items()}, student
    assert not list((course / "grader" / ".grading").glob("worker*")), "worker folders are cleaned up"


def test_killed_or_frozen_workers_are_replaced_and_their_students_graded_again(course, monkeypatch):
    """kill -9 one worker and SIGSTOP the other mid-class: the dead one is noticed at once, the frozen
    one at its deadline; their students are graded again by fresh workers, with their real scores."""
    import signal
    import threading
    import time

    assignment = "01-classification"
    spec = build.load_sample_spec(assignment)
    monkeypatch.setenv("TP_NOTEBOOK_SECONDS", "20")   # the frozen worker's deadline: 20 + 5 s
    monkeypatch.setenv("TP_WORKER_MARGIN", "5")
    hit = []

    def saboteur():
        deadline = time.time() + 120
        while time.time() < deadline and len(hit) < 2:
            if list((course / "grader" / "autograded").glob(f"*/{assignment}")):  # grading is under way
                for pid, sig in zip(sorted(host_cmdlines_containing("targetpractice.instructor.worker")), (signal.SIGKILL, signal.SIGSTOP)):
                    os.kill(pid, sig)
                    hit.append((pid, sig))
            time.sleep(0.2)

    thread = threading.Thread(target=saboteur, daemon=True)
    thread.start()
    rows = grading.grade(assignment, ROOT / "grader" / "samples" / assignment, course, quiet=True, jobs=2)
    thread.join()
    assert [sig for _, sig in hit] == [signal.SIGKILL, signal.SIGSTOP], hit
    scores = scores_by_student(rows)
    for student, s in spec["students"].items():
        assert scores[student] == {ex: float(v) for ex, v in s["expected"].items()}, (student, rows)
    assert not host_cmdlines_containing("targetpractice.instructor.worker"), "no worker outlives make grade"
    for pid, _ in hit:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_without_the_sandbox_grading_warns_and_the_report_says_so(course, capsys, tmp_path):
    assignment = "01-classification"
    spec = build.load_sample_spec(assignment)
    subs = tmp_path / "class"
    for student in ("ada", "dee"):  # a perfect and a partly right student: enough to compare
        shutil.copytree(ROOT / "grader" / "samples" / assignment / student, subs / student)
    rows = grading.grade(assignment, subs, course, jobs=2, sandbox=False)
    assert "WARNING: grading WITHOUT the sandbox" in capsys.readouterr().out
    scores = scores_by_student(rows)
    assert set(scores) == {"ada", "dee"}
    for student in scores:  # the cold, unsandboxed kernel grades the same
        s = spec["students"][student]
        assert scores[student] == {ex: float(v) for ex, v in s["expected"].items()}, student
    assert 'id="unsandboxed"' in (course / "grader" / "report.html").read_text()


def test_a_sandbox_that_cannot_start_stops_grading_with_how_to_get_it(course, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)       # as an ordinary user on a laptop
    with pytest.raises(SystemExit) as stop:
        grading.grade("01-classification", ROOT / "grader" / "samples" / "01-classification", course, quiet=True)
    text = str(stop.value)
    assert "it needs root" in text and "sudo make grade" in text and "SANDBOX=off" in text
    assert not (course / "grader" / "autograded").exists()  # it stopped before grading anyone


def test_hostile_names_and_archive_entries_are_refused_and_the_class_still_graded(course, tmp_path, capsys):
    """Through make grade, as an attacker would: a zip with entries that climb out, link, collide or
    carry shell and terminal metacharacters, beside honest students whose scores must not move."""
    import stat
    import zipfile

    assignment = "01-classification"
    samples = ROOT / "grader" / "samples" / assignment
    good, dee = (samples / "ada" / f"{assignment}.ipynb").read_bytes(), (samples / "dee" / f"{assignment}.ipynb").read_bytes()
    archive = tmp_path / "class.zip"

    nb = f"{assignment}.ipynb"
    with zipfile.ZipFile(archive, "w") as z:
        add_zip_entry(z, f"ada/{nb}", good)
        add_zip_entry(z, f"{assignment}_zoë_attempt_2026-11-20-10-00-00_{nb}", dee)          # Unicode id: valid
        add_zip_entry(z, f"../../escape/{nb}", good)
        add_zip_entry(z, f"/tmp/abs/{nb}", good)
        add_zip_entry(z, f"eve/{nb}", b"../../../../etc/passwd", mode=stat.S_IFLNK | 0o777)
        add_zip_entry(z, f"ADA/{nb.upper()}", good)                                           # collides with ada's
        add_zip_entry(z, f"$(touch pwned)/{nb}", good)
        add_zip_entry(z, f"m\x1b[2Jallory/{nb}", good)                                        # terminal escape
        add_zip_entry(z, f"аda/{nb}", good)                                                   # Cyrillic а
    rows = grading.grade(assignment, archive, course, jobs=2)
    out = capsys.readouterr().out
    scores = scores_by_student(rows)
    spec = build.load_sample_spec(assignment)["students"]
    assert set(scores) == {"ada", "zoë"}
    assert scores["ada"] == {ex: float(v) for ex, v in spec["ada"]["expected"].items()}
    assert scores["zoë"] == {ex: float(v) for ex, v in spec["dee"]["expected"].items()}
    for fragment in ("'..'", "absolute", "symbolic link", "same file as", "does not start with a letter", "\\u001b",
                     "mixes scripts", "The rule: 1 to 64 characters"):
        assert fragment in out, fragment
    assert "\x1b[2J" not in out and not list(tmp_path.rglob("pwned")) and not (tmp_path / "escape").exists()
    report = (course / "grader" / "report.html").read_text()
    assert 'id="refused"' in report and "symbolic link" in report and active_elements(report) == []


def test_a_second_class_leaves_nothing_of_the_first_in_grades_table_or_report(course, tmp_path):
    assignment = "01-classification"
    samples = ROOT / "grader" / "samples" / assignment
    first, second = tmp_path / "first", tmp_path / "second"
    for sid in ("ada", "ben", "dee"):
        shutil.copytree(samples / sid, first / sid)
    shutil.copytree(samples / "dee", second / "dee")
    grading.grade(assignment, first, course, quiet=True, jobs=2)
    rows = grading.grade(assignment, second, course, quiet=True, jobs=2)
    assert [s.id for s in rows] == ["dee"]
    with open(course / "grader" / "grades.csv") as f:
        assert [r["student_id"] for r in csv.DictReader(f)] == ["dee"]
    report = (course / "grader" / "report.html").read_text()
    assert "<td>dee</td>" in report and "<td>ada</td>" not in report and "<td>ben</td>" not in report


def test_zip_from_an_lms_is_graded_like_a_folder(course, tmp_path):
    import zipfile

    assignment = "01-classification"
    samples = ROOT / "grader" / "samples" / assignment
    archive = tmp_path / "gradebook.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(samples / "ada" / "01-classification.ipynb",
                "01-classification_ada_attempt_2026-11-20-10-00-00_01-classification.ipynb")
        z.write(samples / "dee" / "01-classification.ipynb", "dee/01-classification.ipynb")
    scores = scores_by_student(grading.grade(assignment, archive, course, quiet=True, jobs=2))
    assert sum(scores["dee"].values()) == sample_total("01-classification", "dee")
