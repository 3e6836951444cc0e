"""The class report, grader/report.html: one self-contained page (figures embedded) an instructor
reads after grading: score distribution, pass rate per exercise, the most frequent failures
grouped by mistake (the diagnosis tags), submissions flagged for review, and missing notebooks."""
from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter, defaultdict
from pathlib import Path

import nbformat

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Every page the grader writes forbids script of any kind and fetches nothing: a student's text that
# slipped through escaping still could not run in the instructor's browser session.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def failure_of(output) -> tuple:
    """(tag, one-line message) for an error output of a test cell."""
    from ..diagnosis import explain_message

    ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
    first = _ANSI.sub("", (output.get("traceback") or [""])[0])
    m = re.search(r"Check failed \[([\w-]+)\]", first)
    if m:
        tag = m.group(1)
    elif ename == "AssertionError":
        tag = "check-assertion"
    elif ename in ("NameError", "CellTimeoutError", "KeyboardInterrupt"):
        tag = {"NameError": "missing-definition"}.get(ename, "timeout")
    else:
        tag = explain_message(ename, evalue).tag
    lines = [ln.strip() for ln in evalue.splitlines() if ln.strip()][:2]
    return tag, f"{ename}: {' / '.join(lines) or ename}"[:300]


def collect_failures(assignment: str, root: Path, students: list) -> dict:
    """{exercise: {tag: [(student, message), ...]}} from the autograded notebooks' test cells."""
    from .grading import exercise_of

    found = defaultdict(lambda: defaultdict(list))
    for s in students:
        for path in sorted((root / "grader" / "autograded" / s.id / assignment).glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001 - reported by the grader already
                continue
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if not meta.get("grade") or cell.cell_type != "code":
                    continue
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    tag, msg = failure_of(errors[0])
                    found[exercise_of(meta.get("grade_id", "?"))][tag].append((s.id, msg))
    return found


def collect_hints(assignment: str, root: Path, students: list, exercises: list) -> dict:
    """{student: {exercise: highest hint shown}} from the markers tp.hint() leaves in the outputs of the
    notebooks as handed in. A student who cleared the outputs shows none: the count is a lower bound.
    The markers are the student's data: only known exercises and small whole numbers are counted."""
    from ..hints import HINT_MIME

    found = {}
    for s in students:
        seen = {}
        for path in sorted((root / "grader" / "submitted" / s.id / assignment).glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001 - reported by the grader already
                continue
            for cell in nb.cells:
                for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                    mark = (out.get("data") or {}).get(HINT_MIME) if isinstance(out, dict) else None
                    if not isinstance(mark, dict):
                        continue
                    ex, level = mark.get("exercise"), mark.get("level")
                    if ex in exercises and type(level) is int and 1 <= level <= 4:
                        seen[ex] = max(seen.get(ex, 0), level)
        if seen:
            found[s.id] = seen
    return found


def _figure_png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def score_histogram(totals: list, most: float):
    """The class's totals as a histogram figure: whole students on the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.hist(totals, bins=min(20, max(5, int(most) + 1)), range=(0, most or 1), color="#4a86c5", edgecolor="white")
    ax.set_xlabel(f"total score (out of {most:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # whole students, never 0.5 of one
    ax.set_title("Score distribution")
    return fig


def _figures(exercises: list, students: list) -> tuple:
    import matplotlib.pyplot as plt

    totals = [sum(v[0] for v in s.scores.values()) for s in students]
    most = sum(v[1] for v in students[0].scores.values()) if students else 0
    dist = _figure_png(score_histogram(totals, most))

    rates = [sum(1 for s in students if s.scores[ex][0] >= s.scores[ex][1] > 0) / max(1, len(students))
             for ex in exercises]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(exercises) + 1))
    ax.barh(exercises[::-1], [100 * r for r in rates[::-1]], color="#6aa84f")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full marks (%)")
    ax.set_title("Pass rate per exercise")
    return dist, _figure_png(fig), rates


def write_report(path: Path, assignment: str, root: Path, exercises: list, students: list,
                 refused: list = (), sandbox_limits: str | None = "") -> Path:
    esc = html.escape
    dist, passing, rates = _figures(exercises, students)
    failures = collect_failures(assignment, root, students)
    flagged = [(s.id, n) for s in students for n in s.notes
               if any(k in n for k in ("flagged", "autograde failed", "needs a manual grade"))]
    missing = [(s.id, n) for s in students for n in s.notes
               if any(k in n for k in ("missing", "not valid notebook", "is empty", "not a readable"))]

    rows = []
    for ex, rate in zip(exercises, rates):
        tags = failures.get(ex, {})
        per_tag = {t: len({sid for sid, _ in v}) for t, v in tags.items()}
        top = ", ".join(f"{t} ({n})" for t, n in sorted(per_tag.items(), key=lambda kv: -kv[1])[:3])
        rows.append(f"<tr><td>{esc(ex)}</td><td>{100 * rate:.0f}%</td><td>{esc(top) or '&mdash;'}</td></tr>")
    mistakes = []
    counted = Counter()
    for ex, tags in failures.items():
        for tag, items in tags.items():
            counted[(ex, tag)] = len({sid for sid, _ in items})
    for (ex, tag), n in counted.most_common(15):
        items = failures[ex][tag]
        example = Counter(msg for _, msg in items).most_common(1)[0][0]
        who = ", ".join(sorted({sid for sid, _ in items})[:8])
        mistakes.append(f"<tr><td>{esc(tag)}</td><td>{esc(ex)}</td><td>{n}</td><td><code>{esc(example)}</code></td>"
                        f"<td>{esc(who)}</td></tr>")
    hints = collect_hints(assignment, root, students, exercises)
    hint_rows = "".join(
        f"<tr><td>{esc(sid)}</td><td>{sum(seen.values())}</td><td>"
        + esc(", ".join(f"{ex} ({n})" for ex, n in seen.items())) + "</td></tr>" for sid, seen in sorted(hints.items()))
    hints_html = (f'<table><tr><th>student</th><th>hints seen</th><th>exercise (highest hint)</th></tr>{hint_rows}'
                  '</table>' if hints else "<p>No hints in the notebooks as handed in.</p>")
    table = "".join(
        f"<tr><td>{esc(s.id)}</td>" + "".join(f"<td>{s.scores[ex][0]:g}/{s.scores[ex][1]:g}</td>" for ex in exercises)
        + f"<td><b>{sum(v[0] for v in s.scores.values()):g}</b></td></tr>" for s in students)

    def listing(items, empty):
        return ("<ul>" + "".join(f"<li><b>{esc(a)}</b>: {esc(b)}</li>" for a, b in items) + "</ul>") if items \
            else f"<p>{empty}</p>"

    refused_list = ("<ul>" + "".join(f"<li>{esc(r)}</li>" for r in refused) + "</ul>") if refused else \
        "<p>Nothing refused: every name and archive entry followed the rules (README, Grading).</p>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>Class report: {esc(assignment)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}
th{{background:#f3f3f3}}code{{font-size:90%}}h2{{margin-top:1.6em}}</style></head><body>
<h1>Class report: {esc(assignment)}</h1>
<p>{len(students)} students graded with nbgrader. Generated by <code>make grade</code>.</p>
{f'<p id="sandbox">Each submission ran in its own sandbox; limits: {esc(sandbox_limits)}.</p>'
 if sandbox_limits is not None else
 '<p id="unsandboxed" style="background:#fde;padding:.5em"><b>Graded without the sandbox '
 '(SANDBOX=off):</b> student code ran with the grader&#39;s privileges, so these grades are only as trustworthy '
 'as every submission.</p>'}
<h2 id="distribution">Score distribution</h2><img alt="score distribution" src="{dist}">
<h2 id="exercises">Pass rate per exercise</h2><img alt="pass rate per exercise" src="{passing}">
<table><tr><th>exercise</th><th>full marks</th><th>most frequent mistakes (students)</th></tr>{''.join(rows)}</table>
<h2 id="mistakes">Most frequent failures, grouped by mistake</h2>
<table><tr><th>mistake (diagnosis tag)</th><th>exercise</th><th>students</th><th>typical message</th><th>who</th></tr>
{''.join(mistakes) or '<tr><td colspan="5">no failed checks</td></tr>'}</table>
<h2 id="hints">Hints used</h2>
<p>Counted from the hints <code>tp.hint()</code> showed in each notebook as handed in (a student who cleared the
outputs shows none). A hint costs no points; many hints on one exercise point to what to teach again.</p>
{hints_html}
<h2 id="flagged">Flagged for review</h2>{listing(flagged, "Nothing flagged: no tampering, crashes or timeouts.")}
<h2 id="missing">Missing or unreadable notebooks</h2>{listing(missing, "Every student handed in a readable notebook.")}
<h2 id="refused">Refused input</h2>{refused_list}
<h2 id="scores">Scores</h2><table><tr><th>student</th>{''.join(f'<th>{esc(ex)}</th>' for ex in exercises)}<th>total</th></tr>
{table}</table>
</body></html>
"""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page)
    tmp.replace(path)  # whole or not at all: a killed run leaves the previous report
    return path
