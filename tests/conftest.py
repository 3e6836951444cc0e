"""Shared fixtures: a scratch course (own gradebook) per test, as nbgrader's own tests do."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPLBACKEND", "Agg")


def make_course(root: Path) -> Path:
    """A copy of the course (config, solutions, exercises) with an empty gradebook, at root."""
    shutil.copytree(ROOT / "grader", root / "grader", ignore=shutil.ignore_patterns(
        "submitted", "autograded", "feedback", "samples", ".grading", "*.db", "grades.csv", "report.html",
        "__pycache__"))
    for d in ("solutions", "exercises"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return root


@pytest.fixture
def course(tmp_path) -> Path:
    return make_course(tmp_path / "course")


def scores_by_student(students) -> dict:
    """{student: {exercise: score}} from grading.grade's rows."""
    return {s.id: {ex: got for ex, (got, _) in s.scores.items()} for s in students}


def raised(fn):
    """The exception fn() raises: tests compare it with the real torch error."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - we want the real torch error
        return exc
    raise AssertionError("expected an error")
