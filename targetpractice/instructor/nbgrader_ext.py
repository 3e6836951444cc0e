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
from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor, SaveAutoGrades
import nbformat
from traitlets import Integer, Unicode

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


MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)


def math_as_mathml(text: str) -> str:
    """$...$ and $$...$$ in markdown as MathML, which browsers render with no script and no network."""
    from latex2mathml.converter import convert

    def one(match):
        display, inline = match.groups()
        try:
            return convert(display if display is not None else inline,
                           display="block" if display is not None else "inline")
        except Exception:  # noqa: BLE001 - LaTeX the converter cannot read stays as written
            return match.group(0)

    return MATH.sub(one, text)


class MathAsMathML(NbGraderPreprocessor):
    """generate_feedback: math in markdown cells becomes MathML, so feedback pages need no MathJax
    from a CDN (the course's feedback template loads none): they render offline, in a classroom
    without internet, and hold no script."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = math_as_mathml(cell.source)
        return cell, resources


# ----------------------------------------------------------------------- inert outputs
# Outputs of a graded notebook come from the student's kernel, which can send any mimetype with
# any content: a <script>, an <img onerror>, an "image/png" whose data breaks out of the src
# attribute, megabytes of text. They reach the autograded notebook, Formgrader and the feedback
# pages an instructor opens. So, straight after execution, outputs are made inert and capped.
KEPT_MIMETYPES = ("text/plain", "text/html", "image/png", "image/jpeg")
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
TRUNCATED = "\n[output truncated by the grader: {} more characters]\n"


INERT_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
              "i", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
              "tr", "ul"}


def inert_html(text: str) -> str:
    """Student HTML as inert markup (bleach, which nbconvert's own sanitiser uses): tables, text and links
    only; no id or class either, so it cannot pose as the grader's own elements in Formgrader."""
    import bleach

    return bleach.clean(text, tags=INERT_TAGS, attributes={"a": ["href", "title"]},
                        protocols={"http", "https", "mailto"})


def inert_output(out: dict, budget: int, image_budget: int) -> tuple:
    """(out made inert, characters used): known mimetypes only, HTML sanitised, images checked, text capped."""
    def cap(text) -> str:
        text = text if isinstance(text, str) else "".join(map(str, text)) if isinstance(text, list) else str(text)
        return text if len(text) <= budget else text[:max(0, budget)] + TRUNCATED.format(len(text) - max(0, budget))

    kind = out.get("output_type")
    if kind == "stream":
        out["name"] = "stderr" if out.get("name") == "stderr" else "stdout"
        out["text"] = cap(out.get("text", ""))
        return out, len(out["text"])
    if kind == "error":
        out["ename"], out["evalue"] = cap(str(out.get("ename", "Error")))[:200], cap(str(out.get("evalue", "")))
        out["traceback"] = [cap("\n".join(map(str, out.get("traceback") or [])))]
        return out, len(out["evalue"]) + len(out["traceback"][0])
    data = {}
    for mime in KEPT_MIMETYPES:
        value = out.get("data", {}).get(mime)
        if value is None:
            continue
        value = value if isinstance(value, str) else "".join(map(str, value)) if isinstance(value, list) else str(value)
        if mime.startswith("image/"):
            if BASE64.match(value) and len(value) <= image_budget:
                data[mime] = value
        elif mime == "text/html":
            data[mime] = inert_html(cap(value))
        else:
            data[mime] = cap(value)
    if not data:
        data["text/plain"] = "[an output of a kind the grader does not show]"
    out["data"], out["metadata"] = data, {}   # metadata (image width, ...) would be copied into attributes
    return out, sum(len(v) for v in data.values())


class InertContent(NbGraderPreprocessor):
    """autograde, after Execute: outputs made inert (see inert_output) and capped per cell and per notebook;
    markdown cells (a student can edit any of them, the task texts included) rendered to sanitised HTML,
    which renders the same wherever the autograded notebook is shown (Formgrader, feedback pages).
    The submitted notebook is never changed: this works on nbgrader's autograded copy."""

    max_cell_chars = Integer(20_000, help="characters of output kept per cell").tag(config=True)
    max_image_chars = Integer(1_000_000, help="base64 characters of one image kept").tag(config=True)
    max_notebook_chars = Integer(4_000_000, help="characters of output kept per notebook (images included)"
                                 ).tag(config=True)

    def preprocess(self, nb, resources):
        self._left = self.max_notebook_chars
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        cell.pop("attachments", None)
        if cell.cell_type == "markdown":
            from nbconvert.filters.markdown import markdown2html

            cell.source = inert_html(markdown2html(cell.source))
        if cell.cell_type != "code":
            return cell, resources
        outputs, used_cell = [], 0
        for out in cell.get("outputs", []):
            budget = min(self.max_cell_chars - used_cell, self._left)
            if budget <= 0 or self._left <= 0:
                outputs.append(nbformat.v4.new_output("stream", name="stdout",
                                                      text=TRUNCATED.format("the rest of the cell's output: some")))
                break
            out, used = inert_output(dict(out), budget, min(self.max_image_chars, self._left))
            outputs.append(nbformat.from_dict(out))
            used_cell += used
            self._left -= used
        cell.outputs = outputs
        return cell, resources


# --------------------------------------------------------------------------------- scores
class SaveTrustedGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, except that a test cell earns its points only on a positive record:
    the verdict GradingExecute computed in the grader's process (resources["targetpractice"]).

    No record (the cell never ran, the kernel died first), a failed check, or anything the kernel
    printed or displayed is 0: nbgrader's partial credit from a cell's first output never applies,
    since the kernel's outputs never reach a test cell. Answer cells are handled as nbgrader does.
    """

    def preprocess(self, nb, resources):
        self._verdicts = resources.get("targetpractice", {}).get("verdicts", {})
        return super().preprocess(nb, resources)

    def _add_score(self, cell, resources):
        if utils.is_solution(cell) or cell.cell_type != "code":
            return super()._add_score(cell, resources)
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id, self.student_id)
        points = float(cell.metadata["nbgrader"]["points"])
        grade.auto_score = points if self._verdicts.get(grade_id) is True else 0.0
        grade.needs_manual_grade = grade.manual_score is not None
        self.gradebook.db.commit()


class RepairCellMetadata(NbGraderPreprocessor):
    """autograde (sanitize step, first): mend the nbgrader metadata that students' copy-paste breaks.

    A duplicated cell carries the same grade_id twice; nbgrader's DeduplicateIds then leaves a
    metadata block without a grade_id and OverwriteCells fails the whole submission on a KeyError
    (jupyter/nbgrader#1941, #1083). Here the last copy keeps the id (as nbgrader intends) and the
    earlier copies, like any block without a usable grade_id, become ordinary cells; a test cell
    lost that way is put back from the gradebook by OverwriteCells.add_missing_cells.
    """

    def preprocess(self, nb, resources):
        last = {}
        for cell in nb.cells:  # the grader's own marks (NeutraliseTampering's) come only from the grader
            cell.metadata.pop("targetpractice", None)
        for i, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            if gid:
                last[gid] = i
        for i, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            if not gid or last.get(gid) != i:
                del cell.metadata["nbgrader"]
        return nb, resources


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
