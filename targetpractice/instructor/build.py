"""Build the notebooks from their text sources, deterministically.

Everything about a topic lives in one folder, topics/NN-topic/:

    lesson.py            -> course/NN-topic-lesson.ipynb (lesson-1.py, lesson-2.py: one per part)
    exercises.py         -> solutions/NN-topic/NN-topic.ipynb, then (nbgrader) exercises/NN-topic/
    samples.toml         -> grader/samples/NN-topic/<student>/NN-topic.ipynb (the bundled sample class)
    expected_errors.toml    every error the lesson and the broken starter code raise (tests)
    wrong_fixes.toml        tempting wrong answers, each proven below full marks (tests)
    test_checks.py          tests of the topic's checks module, targetpractice/checks/<name>.py

Checks compare with `checks.expected("<exercise>")`: the grader's reference
(targetpractice/instructor/references.py), replayed in students' kernels from the values recorded
here for the quick checks' own inputs (targetpractice/checks/expected.json).

The sources are jupytext percent files. In exercises.py, short cell markers stand for nbgrader's
metadata (see MARKERS); a `hidden` cell holds only its hidden part, and the build composes the
full cell from the quick check written once above it. Notebooks are written without outputs and
with stable cell ids (the grade_id, or a hash of the source), so rebuilding changes nothing
unless a source changed.

    python -m targetpractice.instructor.build            # rebuild everything
    python -m targetpractice.instructor.build --check    # fail if a committed notebook differs
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import os
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import jupytext
import nbformat
from nbgrader.nbgraderformat import MetadataValidator

from .nbgrader_ext import nbgrader, solution_source

ROOT = Path(__file__).resolve().parents[2]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


# ------------------------------------------------------------------------------ cell markers
MARKERS = """
# %% locked ID           a locked cell, not graded (setup code, a model the student uses)
# %% answer ID           the student's answer: a SOLUTION region, then the BROKEN CODE they start from
# %% quick ID POINTS     the quick check students run (grade_id ID_test)
# %% hidden ID POINTS    the full check (grade_id ID_hidden): the quick check above it, then these
                         lines as hidden tests, written without the `with checks.exercise(ID):` indent.
                         A first line starting `# Full check` replaces the standard header.
"""
HIDDEN_HEADER = "# Full check ({points}): the quick check again; hidden checks run here at grading."
# Hidden tests compare with the grader's references (never in a student's kernel: hidden tests do not run there).
REFERENCES_IMPORT = "    import targetpractice.instructor.references  # checks.expected() = the grader's references"


def _points(n: int) -> str:
    return f"{n} point{'s' if n != 1 else ''}"


def _marker_metadata(title: str, where: str) -> dict:
    kind, *rest = title.split()
    want = {"locked": 1, "answer": 1, "quick": 2, "hidden": 2}
    if kind not in want or len(rest) != want[kind] or (len(rest) == 2 and not rest[1].isdigit()):
        raise ValueError(f"{where}: unknown cell marker `# %% {title}`; the markers are:{MARKERS}")
    gid = rest[0] + {"quick": "_test", "hidden": "_hidden"}.get(kind, "")
    meta = {"grade": kind in ("quick", "hidden"), "grade_id": gid, "locked": kind != "answer",
            "schema_version": 3, "solution": kind == "answer"}
    if len(rest) == 2:
        meta["points"] = int(rest[1])
    return dict(sorted(meta.items()))


def compose_hidden(quick: str, hidden: str, points: int, where: str) -> str:
    """The full check: the quick check's header and last statement replaced, the hidden lines inside."""
    tree = ast.parse(quick)
    block = tree.body[-1] if tree.body else None
    if not isinstance(block, ast.With):
        raise ValueError(f"{where}: the quick check must be one `with checks.exercise(...):` block")
    lines = quick.split("\n")
    last = block.body[-1]
    body = lines[block.lineno:last.lineno - 1]            # the with-block minus its final passed(...)
    hidden_lines = hidden.split("\n")
    header = HIDDEN_HEADER.format(points=_points(points))
    if hidden_lines and hidden_lines[0].startswith("# Full check"):
        header, hidden_lines = hidden_lines[0], hidden_lines[1:]
    indented = ["    " + ln if ln.strip() else "" for ln in hidden_lines]
    return "\n".join([header, lines[block.lineno - 1], *body, "    ### BEGIN HIDDEN TESTS", REFERENCES_IMPORT, *indented,
                      "    ### END HIDDEN TESTS", '    checks.passed("full check passed")'])


def expand_markers(nb, where: str) -> None:
    quick = {}
    for cell in nb.cells:
        title = cell.metadata.pop("title", None)
        if cell.cell_type != "code" or not title:
            continue
        meta = _marker_metadata(title, where)
        cell.metadata["nbgrader"] = meta
        gid = meta["grade_id"]
        if gid.endswith("_test"):
            quick[gid[:-5]] = cell.source
        elif gid.endswith("_hidden"):
            ex = gid[:-7]
            if ex not in quick:
                raise ValueError(f"{where}: `hidden {ex}` needs its `quick {ex}` cell above it")
            cell.source = compose_hidden(quick[ex], cell.source, meta["points"], f"{where} ({gid})")


# ------------------------------------------------------------------------------ text -> notebook
def notebook_from_text(path: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    expand_markers(nb, str(path))
    seen = set()
    for cell in nb.cells:
        for key in ("lines_to_next_cell", "title", "cell_marker"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cid = grade_id or "c-" + hashlib.sha1(cell.source.encode()).hexdigest()[:10]
        base, k = cid, 1
        while cid in seen:
            k += 1
            cid = f"{base}-{k}"
        seen.add(cid)
        cell.id = cid
    nb.nbformat, nb.nbformat_minor = 4, 5
    MetadataValidator().validate_nb(nb)
    nbformat.validate(nb)
    return nb


def write_notebook(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def topics(root: Path = ROOT) -> list:
    """The topic folders, in course order: topics/NN-topic/."""
    return sorted(p for p in (root / "topics").glob("[0-9][0-9]-*") if p.is_dir())


def text_sources(root: Path = ROOT):
    """(source .py, target .ipynb) pairs for lessons and solution notebooks."""
    pairs = []
    for t in topics(root):
        for lesson in sorted(t.glob("lesson*.py")):       # lesson.py, or lesson-1.py and lesson-2.py
            pairs.append((lesson, root / "course" / f"{t.name}-{lesson.stem}.ipynb"))
        if (t / "exercises.py").exists():
            pairs.append((t / "exercises.py", root / "solutions" / t.name / f"{t.name}.ipynb"))
    return pairs


def topic_file(topic: str, name: str, root: Path = ROOT) -> Path:
    """A file of a topic's folder, e.g. topic_file("01-classification", "wrong_fixes.toml")."""
    return root / "topics" / topic / name


def assignments(root: Path = ROOT) -> list:
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir()) if (root / "solutions").is_dir() else []


# ------------------------------------------------------------------------------ course copies
# What a grading run writes into grader/ (never part of a copy of the course). Only these top-level
# names: grader/nbconvert/templates/feedback/ is the course's own feedback template and must travel.
RUN_OUTPUTS = {"submitted", "autograded", "feedback", "samples", ".grading", "exchange", "gradebook.db",
               "grades.csv", "report.html", "__pycache__"}


def copy_course(dest: Path, root: Path = ROOT, parts=("solutions", "exercises")) -> Path:
    """A copy of the course at dest: grader/ config and templates (no run outputs), and parts."""
    top = str(root / "grader")
    shutil.copytree(root / "grader", dest / "grader", ignore=lambda d, names: [
        n for n in names if n in RUN_OUTPUTS and (d == top or n == "__pycache__")])
    for d in parts:
        shutil.copytree(root / d, dest / d, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return dest


# ---------------------------------------------------------------------- solutions -> exercises
def generate_release(assignment: str, root: Path = ROOT, out: Path | None = None) -> Path:
    """Run nbgrader generate_assignment on a scratch copy (own gradebook); return the release folder."""
    out = out or root / "exercises" / assignment
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copy_course(tmp, root, parts=())
        shutil.copytree(root / "solutions" / assignment, tmp / "solutions" / assignment,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        nbgrader(["generate_assignment", assignment, "--force"], tmp, db=tmp / "scratch.db")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(tmp / "exercises" / assignment, out)
    return out


# -------------------------------------------------------------------- submissions for tests
def cells_by_grade_id(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def answer_ids(nb) -> list:
    return [gid for gid, c in cells_by_grade_id(nb).items() if c.metadata["nbgrader"].get("solution")]


def make_submission(release_nb, solution_nb, fixed=(), answers=None, edit_tests=None):
    """A student's notebook: the release with some answers fixed (the solution) or replaced.

    ``fixed`` lists exercises answered with the solution ("all" for every one); ``answers`` maps
    an exercise to the code a student wrote; ``edit_tests`` maps a test cell's grade_id to new source.
    """
    nb = copy.deepcopy(release_nb)
    cells, sol = cells_by_grade_id(nb), cells_by_grade_id(solution_nb)
    fixed = answer_ids(nb) if fixed == "all" else list(fixed)
    for ex in fixed:
        cells[ex].source = solution_source(sol[ex].source)
    for ex, code in (answers or {}).items():
        cells[ex].source = code.strip("\n")
    for gid, code in (edit_tests or {}).items():
        cells[gid].source = code.strip("\n")
    return nb


def load_wrong_fixes(assignment: str, root: Path = ROOT) -> list:
    path = topic_file(assignment, "wrong_fixes.toml", root)
    return tomllib.loads(path.read_text())["wrong_fix"] if path.exists() else []


def load_right_fixes(assignment: str, root: Path = ROOT) -> list:
    """Other correct answers (idioms the solution does not use), each of which must score full marks."""
    path = topic_file(assignment, "right_fixes.toml", root)
    return tomllib.loads(path.read_text())["right_fix"] if path.exists() else []


def load_sample_spec(assignment: str, root: Path = ROOT) -> dict:
    path = topic_file(assignment, "samples.toml", root)
    return tomllib.loads(path.read_text()) if path.exists() else {}


def build_samples(assignment: str, root: Path = ROOT, out: Path | None = None) -> Path | None:
    """Write the bundled sample class for an assignment from its spec."""
    spec = load_sample_spec(assignment, root)
    if not spec:
        return None
    out = out or root / "grader" / "samples" / assignment
    wrong = {(w["exercise"], w["name"]): w["code"] for w in load_wrong_fixes(assignment, root)}
    if out.exists():
        shutil.rmtree(out)
    roster = ["id,first_name,last_name,email"]  # nbgrader's roster columns (`nbgrader db student import`)
    for student, s in spec["students"].items():
        first, _, last = s.get("name", "").partition(" ")
        roster.append(f"{student},{first},{last},")
    out.mkdir(parents=True)
    (out / "roster.csv").write_text("\n".join(roster) + "\n")
    for name in spec["notebooks"]:
        release = nbformat.read(root / "exercises" / assignment / name, as_version=4)
        solution = nbformat.read(root / "solutions" / assignment / name, as_version=4)
        for student, s in spec["students"].items():
            answers = {ex: wrong[(ex, fix)] for ex, fix in s.get("wrong_fixes", {}).items()}
            nb = make_submission(release, solution, s.get("fixed", ()), answers, s.get("edit_tests"))
            write_notebook(nb, out / student / name)
    return out


# ------------------------------------------------------------------------ recorded answers
EXPECTED_JSON = Path("targetpractice") / "checks" / "expected.json"
HINTS_JSON = Path("targetpractice") / "checks" / "hints.json"


def _exercise_ids(root: Path, topic: str) -> set:
    return set(answer_ids(notebook_from_text(root / "topics" / topic / "exercises.py")))


def hint_ladders(root: Path = ROOT, only: str | None = None) -> str:
    """hints.json: every topic's hints.toml, {topic: {exercise: [hint, ...]}}, for tp.hint().

    Each exercise of a topic needs a ladder of two to four hints; the build refuses a missing one.
    """
    import json

    ladders = {}
    if only and (root / HINTS_JSON).exists():          # one topic rebuilt: the others' hints as they were
        ladders = json.loads((root / HINTS_JSON).read_text())
    for topic in topics(root):
        if only and topic.name != only:
            continue
        path = topic / "hints.toml"
        hints = tomllib.loads(path.read_text()) if path.exists() else {}
        exercises = answer_ids(notebook_from_text(topic / "exercises.py"))
        missing = [ex for ex in exercises if not 2 <= len(hints.get(ex, [])) <= 4]
        if missing:
            raise ValueError(f"{path}: each exercise needs 2 to 4 hints; check {', '.join(missing)}")
        extra = sorted(set(hints) - set(exercises))
        if extra:
            raise ValueError(f"{path}: hints for exercises that do not exist: {', '.join(extra)}")
        ladders[topic.name] = {ex: [" ".join(h.split()) for h in hints[ex]] for ex in exercises}
    ladders = dict(sorted(ladders.items()))
    return json.dumps(ladders, indent=1, ensure_ascii=False) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def recorded_answers(root: Path = ROOT, only: str | None = None) -> str:
    """expected.json: what checks.expected() returned while each quick check ran on the solution.

    A student's kernel has no references (grader-only code); it replays these values, recorded here
    by running each topic's locked cells, solutions and quick checks in this process, with the
    grader's references (targetpractice/instructor/references.py).
    """
    import contextlib
    import io
    import json

    from ..checks import core
    from . import references

    sink, saved = {}, core.REFERENCES
    core.REFERENCES = lambda key: core.record_expected(key, references.lookup(key), sink)
    try:
        for topic in topics(root):
            if only and topic.name != only:
                continue
            nb = notebook_from_text(topic / "exercises.py")
            ns = {"__name__": "__main__"}
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type != "code" or meta.get("grade_id", "").endswith("_hidden"):
                    continue
                if meta.get("grade") and "checks.expected(" not in cell.source:
                    continue                                  # a quick check that needs no recording
                source = solution_source(cell.source) if meta.get("solution") else cell.source
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"{topic.name}: {meta.get('grade_id', 'cell')}", "exec"), ns)  # noqa: S102
    finally:
        core.REFERENCES = saved
    if only and (root / EXPECTED_JSON).exists():       # one topic rebuilt: the others' answers as they were
        sink = {**{k: v for k, v in json.loads((root / EXPECTED_JSON).read_text()).items()
                   if k not in sink and k not in _exercise_ids(root, only)}, **sink}
    lines = [f" {json.dumps(key)}: [{', '.join(json.dumps(c) for c in calls)}]" for key, calls in sorted(sink.items())]
    return "{\n" + ",\n".join(lines) + "\n}\n"                  # one line per exercise: reviewable diffs


# ------------------------------------------------------------------------------------ driver
def _same(a: Path, b: Path) -> bool:
    files = lambda d: sorted(p.relative_to(d) for p in d.rglob("*") if p.is_file())  # noqa: E731
    return a.is_dir() and b.is_dir() and files(a) == files(b) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files(a))


def build(root: Path = ROOT, check: bool = False, only: str | None = None) -> list:
    """Rebuild (or, with check, compare) every generated notebook; return the stale paths.

    ``only`` limits the work to one topic, e.g. "02-binary-and-multilabel".
    """
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src, dst in text_sources(root):
            if only and only not in str(dst.relative_to(root)):
                continue
            nb = notebook_from_text(src)
            if check:
                fresh = tmp / dst.relative_to(root)
                write_notebook(nb, fresh)
                if not dst.exists() or dst.read_bytes() != fresh.read_bytes():
                    stale.append(dst)
            else:
                write_notebook(nb, dst)
        for rel, text in ((EXPECTED_JSON, recorded_answers(root, only)), (HINTS_JSON, hint_ladders(root, only))):
            if check:
                if not (root / rel).exists() or (root / rel).read_text() != text:
                    stale.append(root / rel)
            else:
                _write_atomic(root / rel, text)
        for a in assignments(root):
            if only and a != only:
                continue
            out = tmp / "exercises" / a if check else None
            release = generate_release(a, root, out)
            if check and not _same(release, root / "exercises" / a):
                stale.append(root / "exercises" / a)
            samples = build_samples(a, root, tmp / "samples" / a if check else None)
            if check and samples and not _same(samples, root / "grader" / "samples" / a):
                stale.append(root / "grader" / "samples" / a)
    return stale


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with a fresh build; change nothing")
    ap.add_argument("--only", metavar="TOPIC", help="only this topic, e.g. 02-binary-and-multilabel")
    args = ap.parse_args(argv)
    stale = build(check=args.check, only=args.only)
    if args.check and stale:
        print("Stale (run `make notebooks`):", *[str(p.relative_to(ROOT)) for p in stale], sep="\n  ")
        return 1
    print("notebooks up to date" if args.check else "notebooks rebuilt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
