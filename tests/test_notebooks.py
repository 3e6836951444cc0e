"""The notebooks: fresh builds, clean commits, broken code in the student version, lessons that run."""
from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from targetpractice.instructor import build
from targetpractice.instructor.nbgrader_ext import split_answer_cell, student_source

ROOT = Path(__file__).resolve().parent.parent


def expected_errors(topic: str) -> dict:
    """topics/<topic>/expected_errors.toml: the lesson's error demos and the exercises' broken answers."""
    return tomllib.loads(build.topic_file(topic, "expected_errors.toml", ROOT).read_text())

LESSONS = sorted((ROOT / "course").glob("*.ipynb"))
ASSIGNMENTS = build.assignments(ROOT)


def tracked_notebooks():
    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return [ROOT / p for p in out] or sorted(ROOT.glob("**/*.ipynb"))


# The student library must run every notebook without the instructor tooling's dependencies.
GRADER_ONLY = {"nbgrader", "jupyter_server", "nbclient", "targetpractice.instructor"}
PROBE = ("import sys\nprint('grader modules:', sorted(m for m in sys.modules if m.split('.')[0] in "
         f"{sorted(GRADER_ONLY)!r} or m.startswith('targetpractice.instructor')))")


def execute(path: Path, **kw):
    """Run a notebook top to bottom in a plain kernel; fail if it loaded any instructor-only module."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   **kw).execute()
    probe = nb.cells.pop()
    assert text_of(probe).strip() == "grader modules: []", f"{path.name} loaded {text_of(probe)}"
    for cell in nb.cells:  # a stray repr such as <torch._C.Generator at 0x...> is noise to a student
        for o in cell.get("outputs", []):
            shown = o.get("data", {}).get("text/plain", "") if o.output_type == "execute_result" else ""
            assert not re.search(r"<[\w.]+ (object )?at 0x", shown), f"{path.name} {cell.id} shows {shown!r}"
    return nb


def text_of(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type == "error":
            parts.append(f"{o.ename}: {o.evalue}")
    return "".join(parts)


def test_committed_notebooks_equal_a_fresh_build():
    stale = build.build(ROOT, check=True)
    assert not stale, f"rebuild with `make notebooks`: {[str(p.relative_to(ROOT)) for p in stale]}"


def test_every_text_source_has_its_notebook_and_the_course_map_is_followed():
    built = set()
    for src, dst in build.text_sources(ROOT):
        assert dst.exists(), f"{dst} not built from {src}"
        built.add(dst)
    assert set(LESSONS) <= built, f"lessons with no source: {sorted(p.name for p in set(LESSONS) - built)}"
    for path in LESSONS:
        assert path.stem[:2].isdigit() and path.stem[2] == "-", path.name
    assert ASSIGNMENTS and all((ROOT / "exercises" / a).is_dir() for a in ASSIGNMENTS)


@pytest.mark.parametrize("path", tracked_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_committed_without_outputs_and_with_stable_ids(path):
    nb = json.loads(path.read_text())
    ids = [c.get("id") for c in nb["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique id"
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None, f"cell {c['id']} has outputs"
        for tag in c.get("metadata", {}).get("tags", []):
            assert tag in {"error-demo"}, f"unknown tag {tag}"
    assert ids == [c.id for c in nbformat.reads(path.read_text(), as_version=4).cells]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_hold_broken_code_and_no_solution_or_hidden_tests(assignment):
    for sol_path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        sol = nbformat.read(sol_path, as_version=4)
        rel_path = ROOT / "exercises" / assignment / sol_path.name
        released = rel_path.read_text()
        rel = {c.id: c for c in nbformat.reads(released, as_version=4).cells}
        hidden_lines, outside = set(), set()
        for cell in sol.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution"):
                # the student starts from the broken code, never from a stub
                assert rel[cell.id].source == student_source(cell.source)
                assert "NotImplementedError" not in rel[cell.id].source
                _, solution, broken, _ = split_answer_cell(cell.source)
                leaked = {ln.strip() for ln in solution if ln.strip()} - {ln.strip() for ln in broken}
                for line in leaked:
                    assert line not in released, f"solution line leaked into the release: {line!r}"
            inside = False
            for line in cell.source.splitlines():
                if "BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "END HIDDEN TESTS" in line:
                    inside = False
                elif line.strip():
                    (hidden_lines if inside else outside).add(line.strip())
        for line in hidden_lines - outside:
            assert line not in released, f"hidden test line leaked into the release: {line!r}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_broken_code_reproduces_the_real_error_or_runs_silently(assignment):
    table = expected_errors(assignment)["answers"]
    for path in sorted((ROOT / "exercises" / assignment).glob("*.ipynb")):
        nb = execute(path, allow_errors=True)
        cells = {c.id: c for c in nb.cells}
        for row in table:
            out = cells[row["cell"]].outputs
            errors = [o for o in out if o.output_type == "error"]
            if row.get("silent"):
                assert not errors, f"{row['cell']}: meant to run silently, raised {errors[0].ename}"
            else:
                assert errors and errors[0].ename == row["type"], f"{row['cell']}: {[o.get('ename') for o in out]}"
                assert row["match"] in errors[0].evalue
        answer_ids = {c.id for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
        assert answer_ids == {r["cell"] for r in table}, "every answer cell needs an expected behaviour"


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_top_to_bottom_and_shows_the_real_errors(path):
    nb = execute(path)  # raises CellExecutionError on any uncaught error
    demos = [c for c in nb.cells if "error-demo" in c.metadata.get("tags", [])]
    topic, lesson = re.fullmatch(r"(\d\d-[a-z-]+?)-(lesson(?:-\d)?)", path.stem).groups()
    expected = expected_errors(topic)[lesson]          # [lesson], or [lesson-1] and [lesson-2]
    assert len(demos) == len(expected), f"{len(demos)} error-demo cells, {len(expected)} expected errors"
    for cell, want in zip(demos, expected):
        shown = text_of(cell)
        assert shown.startswith(f"{want['type']}: "), f"cell {cell.id} printed {shown[:200]!r}"
        assert want["match"] in shown.splitlines()[0], f"cell {cell.id} printed {shown[:200]!r}"
        assert "Diagnosis [" in shown
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert not (o.output_type == "stream" and o.name == "stderr"), f"stderr in {cell.id}: {o.text[:300]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_controls_warnings_and_ends_in_a_statement(assignment):
    """nbgrader scores any stderr in a test cell as 0 and reads a final expression as partial credit."""
    import ast

    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if not cell.metadata.get("nbgrader", {}).get("grade"):
                continue
            body = ast.parse(cell.source).body
            assert body and not isinstance(body[-1], ast.Expr), f"{cell.id} ends in an expression"
            exercise = cell.metadata["nbgrader"]["grade_id"].rsplit("_", 1)[0]
            assert isinstance(body[-1], ast.With) and \
                ast.unparse(body[-1].items[0]) == f"checks.exercise({exercise!r})", \
                f"{cell.id}: wrap the checks in `with checks.exercise({exercise!r}):` (warnings fail loudly, " \
                "never on stderr, and a failure says how to ask for a hint)"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_quick_check_says_that_hidden_checks_exist(assignment):
    """'Quick check passed' must never read as full marks (students' top complaint, otter#138)."""
    for path in sorted((ROOT / "exercises" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if gid.endswith("_test"):
                text = cell.source.lower()
                assert "hidden" in text or "at grading" in text, f"{gid} does not mention the hidden checks"


# ------------------------------------------------------------------ exercise kinds and lesson times
KINDS = ("transfer", "silent bug", "predict, then run", "direct application")


def exercise_kinds(topic: Path) -> dict:
    """{exercise heading: kind} from `# ## Exercise N · Title [kind]` in exercises.py."""
    found = {}
    for line in (topic / "exercises.py").read_text().splitlines():
        if line.startswith("# ## Exercise"):
            m = re.search(r"\[([a-z, ]+)\]\s*$", line)
            found[line[5:]] = m.group(1) if m else None
    return found


@pytest.mark.parametrize("topic", build.topics(ROOT), ids=lambda p: p.name)
def test_exercises_need_transfer_and_say_their_kind(topic):
    kinds = exercise_kinds(topic)
    assert kinds and all(k in KINDS for k in kinds.values()), f"each heading ends in one of {KINDS}: {kinds}"
    values = list(kinds.values())
    assert values.count("direct application") <= 1, "at most one direct application per topic"
    assert 2 * sum(k in ("silent bug", "predict, then run") for k in values) >= len(values), \
        "at least half the exercises are 'silent bug' or 'predict, then run'"


def lesson_minutes(src: Path) -> int:
    m = re.search(r"^# \*Time for a novice: about (\d+) minutes\.\*$", src.read_text(), flags=re.M)
    assert m, f"{src}: state `*Time for a novice: about NN minutes.*` under the title"
    return int(m.group(1))


def test_each_lesson_states_its_novice_time_and_the_readme_table_shows_it():
    readme = (ROOT / "README.md").read_text()
    for topic in build.topics(ROOT):
        lessons = sorted(topic.glob("lesson*.py"))
        minutes = [lesson_minutes(src) for src in lessons]
        assert all(10 <= m <= 90 for m in minutes), minutes
        row = next(line for line in readme.splitlines() if line.startswith(f"| {topic.name[:2]} |"))
        assert " + ".join(f"{m} min" for m in minutes) in row, f"README course table, topic {topic.name[:2]}: {row}"
