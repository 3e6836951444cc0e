"""Submissions broken in every way, on purpose or not, graded through the same command as a class.

Each case is built from the perfect sample (ada) or the untouched release, then the whole class
is graded once. For each case: the per-exercise scores, the source file byte-identical afterwards,
and the ordinary students unaffected.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from targetpractice.instructor import build, grading

from conftest import ROOT, make_course, scores_by_student

pytestmark = pytest.mark.slow  # every test here grades notebooks through nbgrader

A = "01-classification"
NB = f"{A}.ipynb"
FULL = {"column_labels": 3, "one_hot": 3, "one_based": 3, "softmax_head": 4, "accuracy": 3, "predict_shape": 4}
ZERO = {ex: 0 for ex in FULL}


def perfect():
    return nbformat.read(ROOT / "grader" / "samples" / A / "ada" / NB, as_version=4)


def untouched():
    return nbformat.read(ROOT / "exercises" / A / NB, as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_source(nb, grade_id, source):
    cell(nb, grade_id).source = source
    return nb


def prepend(nb, grade_id, code):
    c = cell(nb, grade_id)
    c.source = code + "\n" + c.source
    return nb


def without(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def retyped(nb, grade_id):
    c = cell(nb, grade_id)
    i = nb.cells.index(c)
    nb.cells[i] = nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata, id=c.id)
    return nb


def duplicated(nb, *grade_ids):
    for gid in grade_ids:
        c = cell(nb, gid)
        nb.cells.insert(nb.cells.index(c), copy.deepcopy(c))
    return nb


MONKEYPATCH = """import builtins, torch, targetpractice
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
checks.check_loss = lambda *a, **k: None
checks.check_loss_fn = lambda *a, **k: None
checks.check_trains = lambda *a, **k: {}
checks.check_shape = lambda *a, **k: None
targetpractice.checks.call = lambda fn, args, **k: 1.0
setattr(builtins, "AssertionError", type("Never", (Exception,), {}))
"""

# name -> (notebook bytes or None to skip writing, expected per-exercise scores, a fragment of the notes)
def cases():
    c = {}
    c["test_edited_to_pass"] = (with_source(with_source(with_source(perfect(), "column_labels",
                                untouched_answer("column_labels")), "column_labels_test", "pass"),
                                "column_labels_hidden", "pass"), {**FULL, "column_labels": 0}, "")
    c["test_cell_deleted"] = (without(perfect(), "one_hot_hidden"), FULL, "")
    c["test_cell_deleted_broken_answer"] = (without(without(untouched(), "one_hot_hidden"), "one_hot_test"), ZERO, "")
    c["answer_cell_deleted"] = (without(perfect(), "one_hot"), {**FULL, "one_hot": 0}, "")
    c["cell_type_changed"] = (retyped(perfect(), "accuracy_hidden"), FULL, "")
    c["duplicated_cells"] = (duplicated(perfect(), "one_based", "one_based_test", "predict_shape_hidden"), FULL, "")
    c["infinite_loop"] = (prepend(perfect(), "accuracy", "while True:\n    pass\n"), {**FULL, "accuracy": 0}, "")
    c["os_exit"] = (prepend(perfect(), "one_based", "import os\nos._exit(1)\n"), ZERO, "kernel died")
    c["segfault"] = (prepend(perfect(), "one_based", "import ctypes\nctypes.string_at(0)\n"), ZERO, "kernel died")
    c["memory_bomb"] = (prepend(perfect(), "one_hot", "hog = torch.ones(2**31, dtype=torch.float64)\n"),
                        {**FULL, "one_hot": 0}, "")
    c["monkeypatch_unsolved"] = (prepend(untouched(), "column_labels", MONKEYPATCH), ZERO, "tampering")
    c["monkeypatch_solved"] = (prepend(perfect(), "column_labels", MONKEYPATCH), FULL, "tampering")
    c["output_flood"] = (prepend(perfect(), "one_based", "for i in range(200000):\n    print(i)\n"), FULL, "")
    c["warnings_ignored"] = (prepend(untouched_accuracy_only(), "accuracy",
                             "import warnings\nwarnings.filterwarnings('ignore')\n"), {**FULL, "accuracy": 0}, "")
    c["stderr_in_answer"] = (prepend(perfect(), "one_hot", "import sys\nprint('noise', file=sys.stderr)\n"), FULL, "")
    return c


def untouched_answer(grade_id):
    return cell(untouched(), grade_id).source


def untouched_accuracy_only():
    return with_source(perfect(), "accuracy", untouched_answer("accuracy"))


def write_class(folder: Path):
    """Write every case (plus the file-level ones) and the ordinary students; return expectations."""
    expected, notes = {}, {}
    for name, (nb, scores, note) in cases().items():
        (folder / name).mkdir(parents=True)
        # plain JSON, as a student's file may be: nbformat.write would mend duplicated cell ids
        (folder / name / NB).write_text(json.dumps(nb, indent=1))
        expected[name], notes[name] = scores, note
    good = (ROOT / "grader" / "samples" / A / "ada" / NB).read_bytes()
    files = {
        "not_json": ({NB: b'{"cells": [ {"cell_type": '}, ZERO, "not valid notebook JSON"),
        "empty_file": ({NB: b""}, ZERO, "is empty"),
        "renamed": ({"homework.ipynb": good}, ZERO, "found homework.ipynb"),
        "extra_notebooks": ({NB: good, "scratch.ipynb": good}, FULL, "ignored extra notebook(s): scratch.ipynb"),
        "old_nbformat": ({NB: json.dumps(nbformat.v3.convert.downgrade(
            nbformat.reads(good.decode(), as_version=4))).encode()}, None, ""),
    }
    for name, (contents, scores, note) in files.items():
        (folder / name).mkdir(parents=True)
        for fname, data in contents.items():
            (folder / name / fname).write_bytes(data)
        expected[name], notes[name] = scores, note
    for ordinary in ("ada", "dee"):
        (folder / ordinary).mkdir()
        (folder / ordinary / NB).write_bytes((ROOT / "grader" / "samples" / A / ordinary / NB).read_bytes())
    spec = build.load_sample_spec(A)["students"]
    expected["ada"], expected["dee"] = spec["ada"]["expected"], spec["dee"]["expected"]
    return expected, notes


def digest(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("adversarial") / "course")
    folder = root.parent / "class"
    expected, notes = write_class(folder)
    before = digest(folder)
    rows = grading.grade(A, folder, root, quiet=True, jobs=2, timeout=15)
    return {"rows": {s.id: s for s in rows}, "expected": expected, "notes": notes, "before": before,
            "folder": folder, "root": root}


CASES = list(cases()) + ["not_json", "empty_file", "renamed", "extra_notebooks", "old_nbformat"]


@pytest.mark.parametrize("case", CASES)
def test_adversarial_submission_is_scored_as_it_deserves(graded, case):
    row = graded["rows"][case]
    got = scores_by_student([row])[case]
    want = graded["expected"][case]
    if want is None:  # old nbformat: graded like the same answers in the current format
        want = FULL
    assert got == {ex: float(v) for ex, v in want.items()}, f"{case}: notes {row.notes}"
    assert graded["notes"][case] in " ".join(row.notes), f"{case}: notes {row.notes}"


def test_submissions_are_never_modified_and_others_are_unaffected(graded):
    assert digest(graded["folder"]) == graded["before"]
    scores = scores_by_student(graded["rows"].values())
    for ordinary in ("ada", "dee"):
        assert scores[ordinary] == {ex: float(v) for ex, v in graded["expected"][ordinary].items()}
