"""Instructor tooling without grading anything: answer cells, cell markers, cell metadata repair."""
from __future__ import annotations

import nbformat
import pytest

from targetpractice.instructor.nbgrader_ext import solution_source, split_answer_cell, student_source


CELL = '''def f(logits, y):
    """doc"""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, y.squeeze(1))
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)
    #
    # # a comment the student sees
    ### END BROKEN CODE


f(1, 2)'''


def test_answer_cell_split_gives_student_and_solution_versions():
    student = student_source(CELL)
    assert "    return F.cross_entropy(logits, y)\n\n    # a comment the student sees" in student
    assert "squeeze" not in student and "BEGIN" not in student and student.endswith("f(1, 2)")
    solution = solution_source(CELL)
    assert "y.squeeze(1)" in solution and "BROKEN" not in solution and "F.cross_entropy(logits, y)\n" not in solution


@pytest.mark.parametrize("bad, why", [
    ("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION", "BROKEN CODE block"),
    ("### BEGIN BROKEN CODE\n# x\n### END BROKEN CODE\n### BEGIN SOLUTION\nx\n### END SOLUTION", "expected BEGIN"),
    ("### BEGIN SOLUTION\nx\n### END SOLUTION\n### BEGIN BROKEN CODE\nx = 1\n### END BROKEN CODE", "commented out"),
])
def test_answer_cell_authoring_errors_are_clear(bad, why):
    with pytest.raises(ValueError, match=why):
        split_answer_cell(bad)


# ------------------------------------------------------------------------------- cell markers
QUICK = '''# Quick check (1 point): N = 4.
with tp.strict():
    x = 1
    checks.passed("quick check: " +
                  checks.HIDDEN_NOTE)'''


def test_hidden_cell_is_composed_from_its_quick_check():
    from targetpractice.instructor.build import compose_hidden

    full = compose_hidden(QUICK, "def _inputs(N):\n    return N\n\ncheck(_inputs)", 2, "here")
    assert full.split("\n") == [
        "# Full check (2 points): the quick check again; hidden checks run here at grading.",
        "with tp.strict():", "    x = 1", "    ### BEGIN HIDDEN TESTS",
        "    import targetpractice.instructor.references  # checks.expected() = the grader's references",
        "    def _inputs(N):",
        "        return N", "", "    check(_inputs)", "    ### END HIDDEN TESTS",
        '    checks.passed("full check passed")']
    custom = compose_hidden(QUICK, "# Full check (2 points): four more predictions.\ncheck()", 2, "here")
    assert custom.startswith("# Full check (2 points): four more predictions.\nwith tp.strict():")


def test_markers_become_nbgrader_metadata_and_mistakes_are_named(tmp_path):
    from targetpractice.instructor.build import notebook_from_text

    src = tmp_path / "exercises.py"
    src.write_text("# %% locked setup\nimport x\n\n# %% answer ex\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"
                   "### BEGIN BROKEN CODE\n# x = 2\n### END BROKEN CODE\n\n# %% quick ex 1\n" + QUICK +
                   "\n\n# %% hidden ex 3\ncheck()\n")
    cells = {c.id: c.metadata["nbgrader"] for c in notebook_from_text(src).cells}
    assert cells["setup"] == {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
                              "solution": False}
    assert cells["ex"]["solution"] and not cells["ex"]["locked"]
    assert cells["ex_test"]["points"] == 1 and cells["ex_hidden"]["points"] == 3 and cells["ex_hidden"]["grade"]
    src.write_text("# %% quik ex 1\nx\n")
    with pytest.raises(ValueError, match="unknown cell marker `# %% quik ex 1`"):
        notebook_from_text(src)
    src.write_text("# %% hidden ex 1\nx\n")
    with pytest.raises(ValueError, match="needs its `quick ex` cell above it"):
        notebook_from_text(src)


# ------------------------------------------------------------------------------------ report
def test_score_histogram_counts_whole_students():
    import matplotlib.pyplot as plt

    from targetpractice.instructor.report import score_histogram

    fig = score_histogram([20, 0, 14, 20], 20)
    fig.canvas.draw()
    ticks = fig.axes[0].get_yticks()
    plt.close(fig)
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_roster_names_students_and_reports_who_handed_nothing_in(tmp_path):
    import nbformat

    from targetpractice.instructor.grading import collect

    course, subs = tmp_path / "course", tmp_path / "class"
    (subs / "ada").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), subs / "ada" / "a.ipynb")
    (subs / "roster.csv").write_text("id,first_name,last_name,email\nada,Ada,Lovelace,\nzed,Zed,Ng,z@x\n")
    rows = {s.id: s for s in collect("a1", subs, course, ["a.ipynb"])}
    assert (rows["ada"].first_name, rows["ada"].last_name) == ("Ada", "Lovelace") and not rows["ada"].notes, rows["ada"].notes
    assert rows["zed"].notes == ["no submission: 0"] and rows["zed"].last_name == "Ng"


def test_math_in_feedback_becomes_mathml_and_prices_stay_text():
    from targetpractice.instructor.nbgrader_ext import math_as_mathml

    out = math_as_mathml("floor $\\log(1 + (C-1)/e)$ and $$x^2$$, but $5 and $6 stay")
    assert out.count("<math") == 2 and 'display="block"' in out and "$5 and $6 stay" in out


def test_cell_metadata_a_student_wrote_in_the_graders_name_is_dropped():
    import nbformat

    from targetpractice.instructor.nbgrader_ext import RepairCellMetadata

    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["targetpractice"] = {"tampering": 1}            # would crash the report's review
    nb, _ = RepairCellMetadata().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    assert "targetpractice" not in nb.cells[0].metadata


# ------------------------------------------------------------------------------- hints in the report
def test_the_report_counts_the_hints_in_the_notebooks_as_handed_in_and_trusts_no_marker(tmp_path):
    from targetpractice.hints import HINT_MIME
    from targetpractice.instructor.intake import Student
    from targetpractice.instructor.report import collect_hints

    def shown(ex, level):
        return nbformat.v4.new_output("display_data", data={"text/plain": "Hint", HINT_MIME: {
            "topic": "01-classification", "exercise": ex, "level": level, "auto": False}})

    cell = nbformat.v4.new_code_cell("tp.hint('one_hot')")
    cell.outputs = [shown("one_hot", 1), shown("one_hot", 2), shown("accuracy", 1),
                    shown("<img src=x onerror=alert(1)>", 1), shown("one_hot", 99), shown("one_hot", "3"),
                    nbformat.v4.new_output("display_data", data={HINT_MIME: ["not", "a", "dict"]})]
    for sid, cells in (("ada", [cell]), ("ben", [nbformat.v4.new_code_cell("x = 1")])):
        folder = tmp_path / "grader" / "submitted" / sid / "01-classification"
        folder.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "01-classification.ipynb")
    students = [Student("ada"), Student("ben")]
    assert collect_hints("01-classification", tmp_path, students, ["one_hot", "accuracy"]) == {
        "ada": {"one_hot": 2, "accuracy": 1}}
