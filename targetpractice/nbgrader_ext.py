"""nbgrader extension: the student version holds broken code that runs, not a stub.

In a solution notebook every answer cell carries, after its solution region, the
broken code the student starts from, commented out so the solution still runs:

    def loss_from_column_labels(logits, y):   # logits (N, C), y (N, 1) int64
        ### BEGIN SOLUTION
        return F.cross_entropy(logits, y.squeeze(1))
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # return F.cross_entropy(logits, y)
        ### END BROKEN CODE

`nbgrader generate_assignment` (grader/nbgrader_config.py swaps this class in for
ClearSolutions) writes the uncommented broken code where the solution was.  An answer
cell without broken code is an authoring error: this course never ships a
`raise NotImplementedError()` stub.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor
from traitlets import Unicode

BEGIN_BROKEN = "BEGIN BROKEN CODE"
END_BROKEN = "END BROKEN CODE"


def split_answer_cell(source: str):
    """Split an answer cell into (before, solution, broken, after) line lists; broken is uncommented.

    Raises ValueError when the cell lacks a solution region followed by a broken-code block.
    """
    lines = source.split("\n")
    marks = {}
    for i, line in enumerate(lines):
        for key in ("BEGIN SOLUTION", "END SOLUTION", BEGIN_BROKEN, END_BROKEN):
            if key in line:
                if key in marks:
                    raise ValueError(f"'{key}' appears twice; one solution region per answer cell")
                marks[key] = i
    if set(marks) != {"BEGIN SOLUTION", "END SOLUTION", BEGIN_BROKEN, END_BROKEN}:
        raise ValueError("an answer cell needs a SOLUTION region followed by a BROKEN CODE block")
    b, e, bb, eb = (marks[k] for k in ("BEGIN SOLUTION", "END SOLUTION", BEGIN_BROKEN, END_BROKEN))
    if not b < e < bb < eb:
        raise ValueError("expected BEGIN SOLUTION < END SOLUTION < BEGIN BROKEN CODE < END BROKEN CODE")
    indent = re.match(r"\s*", lines[b]).group(0)
    broken = []
    for line in lines[bb + 1:eb]:
        body = line[len(indent):] if line.startswith(indent) else line.lstrip()
        if body.strip() and not body.startswith("#"):
            raise ValueError(f"broken code must be commented out in the solution: {line!r}")
        body = body[2:] if body.startswith("# ") else body[1:]
        broken.append(indent + body if body.strip() else "")
    return lines[:b], lines[b + 1:e], broken, lines[eb + 1:]


def student_source(source: str) -> str:
    before, _, broken, after = split_answer_cell(source)
    return "\n".join(before + broken + after)


def solution_source(source: str) -> str:
    """The answer cell as a student who fixed it would leave it (delimiters and broken code gone)."""
    before, solution, _, after = split_answer_cell(source)
    return "\n".join(before + solution + after)


class BrokenStarterCode(ClearSolutions):
    """ClearSolutions that writes each answer cell's broken starter code instead of a stub."""

    text_stub = Unicode("YOUR ANSWER HERE").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_solution(cell):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {cell_index}")
            try:
                cell.source = student_source(cell.source)
            except ValueError as exc:
                raise RuntimeError(f"answer cell {grade_id!r}: {exc}") from None
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)


HIDDEN_NOTE = "# (hidden checks ran here: their source stays with the instructor; any failure message is below)"


def hide_hidden_tests(source: str) -> str:
    """Replace each BEGIN/END HIDDEN TESTS region with one comment line, keeping its indentation."""
    out, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
            out.append(re.match(r"\s*", line).group(0) + HIDDEN_NOTE)
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


class FeedbackWithoutHiddenTests(NbGraderPreprocessor):
    """generate_feedback: students see every failed check's message but none of the hidden tests' source.

    nbgrader's feedback shows the autograded notebook, hidden tests included (jupyter/nbgrader#917).
    In test cells this drops the hidden regions and cuts each error down to its message, since an
    IPython traceback quotes the failing source line.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            cell.source = hide_hidden_tests(cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


CONFIG_ERROR = "Exception while loading config file"


def nbgrader_env(root: Path) -> dict:
    """Environment for nbgrader commands: the course config, this venv on PATH, one thread per kernel."""
    bindir = Path(sys.executable).parent  # nbgrader runs `alembic` from PATH
    return dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "grader"), OMP_NUM_THREADS="1",
                PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def nbgrader(args: list, root: Path, db: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run an nbgrader command with the course config in root/grader (optionally on another gradebook)."""
    cmd = [str(Path(sys.executable).parent / "nbgrader"), *args]
    if db is not None:
        cmd.append(f"--CourseDirectory.db_url=sqlite:///{db}")
    proc = subprocess.run(cmd, cwd=root / "grader", env=nbgrader_env(root), capture_output=True, text=True)
    if CONFIG_ERROR in proc.stdout + proc.stderr:  # nbgrader logs it and goes on with its defaults
        raise RuntimeError(f"grader/nbgrader_config.py failed to load:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
