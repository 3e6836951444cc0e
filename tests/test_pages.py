"""Pages an instructor opens never run student content: a hostile notebook's outputs and markdown go
through the grader's preprocessors and the feedback template, and the page is parsed for anything active."""
from __future__ import annotations

from pathlib import Path

import nbformat
import nbgrader
from nbconvert import HTMLExporter
from traitlets.config.loader import PyFileConfigLoader

from targetpractice.instructor.nbgrader_ext import FeedbackWithoutHiddenTests, InertContent, MathAsMathML

from conftest import ROOT, active_elements

PAYLOADS = [
    {"output_type": "display_data", "metadata": {}, "data": {
        "text/html": '<script>fetch("/api/kernels",{method:"POST"})</script><img src=x onerror=alert(1)>'
                     '<a href="javascript:alert(1)">click</a><iframe src="http://evil"></iframe><table><tr><td>ok</td></tr></table>'
                     '<div class="nbgrader_cell"><span id="accuracy_hidden"></span></div>',
        "text/plain": "<IPython.core.display.HTML object>"}},
    {"output_type": "display_data", "metadata": {"image/png": {"width": "1 onerror=alert(1)"}},
     "data": {"image/png": 'iVBORw0KGgo=" onerror="alert(1)'}},                    # breaks out of src=
    {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgoAAAANSUhEUg=="}},
    {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "alert(1)"}},
    {"output_type": "display_data", "metadata": {}, "data": {
        "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'}},
    {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": "[x](javascript:alert(1))"}},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {},
     "data": {"text/plain": "<script>alert(1)</script>"}},
    {"output_type": "stream", "name": "stdout", "text": "</pre><script>alert(1)</script>" + "x" * 50_000},
    {"output_type": "stream", "name": "stdout", "text": "the cell's budget is spent: this one is dropped"},
    {"output_type": "error", "ename": "<script>alert(1)</script>", "evalue": "<img src=x onerror=alert(1)>",
     "traceback": ["<script>alert(2)</script>"]},
    {"output_type": "display_data", "metadata": {}, "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/html": "<b>widget</b>"}},
]


def hostile_notebook():
    md = nbformat.v4.new_markdown_cell('My answer <script>alert(1)</script> <img src=x onerror="alert(1)"> '
                                       '[link](javascript:alert(1)) <a href="http://evil">x</a> and $x^2$')
    md.attachments = {"a.png": {"image/png": 'x" onerror="alert(1)'}}
    code = nbformat.v4.new_code_cell("display(HTML(...))")
    code.metadata["nbgrader"] = {"grade": True, "grade_id": "ex_test", "points": 1, "solution": False,
                                 "locked": True, "schema_version": 3, "score": 0, "points_possible": 1}
    code.outputs = [nbformat.from_dict(p) for p in PAYLOADS]
    return nbformat.v4.new_notebook(cells=[md, code])


def feedback_page(nb) -> str:
    """The feedback page as `nbgrader generate_feedback` renders it with grader/nbgrader_config.py."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "grader")).load_config()
    resources = {"nbgrader": {"notebook": "hostile", "score": 0, "max_score": 1, "late_penalty": 0}}
    for pre in (InertContent(), FeedbackWithoutHiddenTests(), MathAsMathML()):  # autograde, then feedback
        nb, resources = pre.preprocess(nb, resources)
    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    exporter = HTMLExporter(config=config, template_name="feedback",  # as GenerateFeedback sets it up
                            extra_template_basedirs=[str(formgrader / "templates")],
                            extra_template_paths=[str(formgrader / "static/node_modules/bootstrap/dist/css")])
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    return page


def test_feedback_page_of_a_hostile_notebook_holds_nothing_active():
    page = feedback_page(hostile_notebook())
    assert active_elements(page) == [], active_elements(page)[:10]
    assert "Content-Security-Policy" in page and "script-src" not in page and "default-src 'none'" in page
    assert "ok</td>" in page and "<math" in page and "output truncated by the grader" in page
    assert 'id="accuracy_hidden"' not in page  # student HTML cannot pose as Formgrader's own elements


def test_honest_outputs_still_show_figures_and_tables():
    nb = hostile_notebook()
    nb.cells[1].outputs = [nbformat.from_dict(
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgoAAAANSUhEUg==",
                                                                  "text/plain": "<Figure>"}}),
        nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": "quick check passed\n"})]
    page = feedback_page(nb)
    assert 'src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="' in page and "quick check passed" in page


def test_the_checker_finds_what_it_must():
    bad = ('<script>1</script><img src="http://x/a.png"><a href=" JaVaScRiPt:1">x</a><div onclick="x">'
           '<meta http-equiv="refresh" content="0;url=http://x">')
    found = " ".join(active_elements(bad))
    for kind in ("<script>", "src=http://x", "href=javascript:1", "onclick", "<meta refresh>"):
        assert kind in found, kind
