"""Try answers against an exercise's checks in this process, in seconds: for authors of exercises.

    python -m targetpractice.instructor.tryfix 01-classification             # every wrong and right fix
    python -m targetpractice.instructor.tryfix 01 --exercise one_hot --broken  # the starter code too

For each answer it prints whether the quick check and the full check (quick + hidden lines) pass,
and the first message the student would see. It runs the topic's locked cells and solutions once,
with the grader's references, then each answer in a copy of that namespace. This is a fast preview:
the proof is tests/test_grading.py, which grades the same corpora through nbgrader in the sandbox.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
from dataclasses import dataclass

from .build import answer_ids, load_right_fixes, load_wrong_fixes, notebook_from_text, topics
from .nbgrader_ext import solution_source, student_source

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Outcome:
    quick_ok: bool
    quick_message: str
    quick_tag: str
    full_ok: bool
    full_message: str
    full_tag: str
    output: str = ""           # what the answer and the checks printed (hints shown, for one)


class Topic:
    """One topic's exercises notebook, run once with the solutions; answers are tried in copies."""

    def __init__(self, name: str):
        from ..checks import core
        from . import references  # noqa: F401 - checks.expected() answers with the grader's references

        assert core.REFERENCES is not None
        matches = [t for t in topics() if t.name == name or t.name.startswith(f"{name}-")]
        if len(matches) != 1:
            raise SystemExit(f"no single topic matches {name!r}; topics: {', '.join(t.name for t in topics())}")
        self.dir = matches[0]
        self.name = self.dir.name
        nb = notebook_from_text(self.dir / "exercises.py")
        self.answers = answer_ids(nb)
        self.cells = {}                              # grade_id -> source
        self.base = {"__name__": "__main__"}
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if cell.cell_type != "code":
                    continue
                gid = meta.get("grade_id", "")
                if gid:
                    self.cells[gid] = cell.source
                if meta.get("grade"):
                    continue
                source = solution_source(cell.source) if meta.get("solution") else cell.source
                exec(compile(source, f"{self.name}: {gid or 'cell'}", "exec"), self.base)  # noqa: S102

    def starter(self, exercise: str) -> str:
        return student_source(self.cells[exercise])

    def run(self, exercise: str, code: str) -> Outcome:
        """Run code as the exercise's answer cell, then its quick check and its full check."""
        from .. import hints
        from ..checks import core

        hints._shown.clear()
        hints._failures.clear()
        core.MISSED.clear()                          # each answer is a fresh kernel
        ns = dict(self.base)
        printed = io.StringIO()
        results = []
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(code, f"{exercise} (answer)", "exec"), ns)  # noqa: S102
            except Exception as exc:  # noqa: BLE001 - the answer's own demo line may raise: so does the notebook
                print(f"[answer cell raised {type(exc).__name__}: {exc}]")
            for gid in (f"{exercise}_test", f"{exercise}_hidden"):
                try:
                    exec(compile(self.cells[gid], gid, "exec"), dict(ns))  # noqa: S102
                    results += [(True, "", "")]
                except BaseException as exc:  # noqa: BLE001 - a check failed (or the student's code did)
                    results += [(False, f"{type(exc).__name__}: {_ANSI.sub('', str(exc))}",
                                 getattr(exc, "tag", type(exc).__name__))]
        (qok, qmsg, qtag), (fok, fmsg, ftag) = results
        return Outcome(qok, qmsg, qtag, fok, fmsg, ftag, printed.getvalue())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("topic", help="a topic's folder name or its number, e.g. 01")
    ap.add_argument("--exercise", help="only this exercise")
    ap.add_argument("--broken", action="store_true", help="also the starter (broken) code of each exercise")
    ap.add_argument("--only", choices=("wrong", "right"), help="only the wrong or only the right fixes")
    ap.add_argument("--quiet", action="store_true", help="only the answers whose verdict is wrong")
    args = ap.parse_args(argv)
    topic = Topic(args.topic)
    cases = []
    for ex in topic.answers:
        if args.broken and args.exercise in (None, ex):
            cases.append(("broken", ex, "starter code", topic.starter(ex)))
    if args.only != "right":
        cases += [("wrong", f["exercise"], f["name"], f["code"]) for f in load_wrong_fixes(topic.name)]
    if args.only != "wrong":
        cases += [("right", f["exercise"], f["name"], f["code"]) for f in load_right_fixes(topic.name)]
    bad = 0
    for kind, ex, name, code in cases:
        if args.exercise and ex != args.exercise:
            continue
        o = topic.run(ex, code)
        as_expected = o.full_ok if kind == "right" else not o.full_ok
        bad += not as_expected
        if args.quiet and as_expected:
            continue
        mark = "ok  " if as_expected else ("PASSES" if kind != "right" else "FAILS ")
        print(f"{mark} {kind:6} {ex} / {name}: quick {'pass' if o.quick_ok else 'fail [' + o.quick_tag + ']'}, "
              f"full {'pass' if o.full_ok else 'fail [' + o.full_tag + ']'}")
        message = o.quick_message or o.full_message
        if message and not args.quiet:
            print("       " + message.replace("\n", "\n       "))
    print(f"{bad} answer(s) with the wrong verdict" if bad else "every verdict as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
