"""The hint ladder: a check's first message says what is wrong; the fix in code comes when asked.

    tp.hint("column_labels")      # the next hint for this exercise: the rule, then where, then the code

Each exercise has two to four hints (``topics/NN-topic/hints.toml``, built into ``checks/hints.json``):
the first names the rule of the loss's contract, the middle ones where to look, the last the idiom.
A check that fails the same way three times in a row shows the next hint by itself. Every hint shown
leaves a marker in the notebook's outputs (``application/vnd.targetpractice.hint+json``), so the class
report can say how many hints each student used.
"""
from __future__ import annotations

import json
from pathlib import Path

HINT_MIME = "application/vnd.targetpractice.hint+json"
AUTO_AFTER = 3            # the same check failing this many times in a row shows the next hint

_hints = None             # {topic: {exercise: [hint, ...]}}
_topic = None             # the topic of the notebook (its setup cell calls use_topic)
_shown = {}               # (topic, exercise) -> hints shown so far
_failures = {}            # (topic, exercise) -> (tag, failures of that tag in a row)


def _load() -> dict:
    global _hints
    if _hints is None:
        _hints = json.loads((Path(__file__).parent / "checks" / "hints.json").read_text())
    return _hints


def use_topic(topic: str) -> None:
    """The exercises notebook's setup cell names its topic, so tp.hint("predict_shape") finds its own."""
    global _topic
    _topic = topic


def _find(exercise: str) -> tuple:
    hints = _load()
    if _topic in hints and exercise in hints[_topic]:
        return _topic, hints[_topic][exercise]
    found = [(t, ex[exercise]) for t, ex in hints.items() if exercise in ex]
    if len(found) == 1:
        return found[0]
    known = sorted(hints.get(_topic, {})) or sorted({e for ex in hints.values() for e in ex})
    raise KeyError(f"no exercise {exercise!r} here; the exercises with hints are: {', '.join(known)}")


def _show(topic: str, exercise: str, level: int, text: str, total: int, auto: bool) -> None:
    head = f"Hint {level} of {total} for {exercise}" + (" (this check failed the same way "
                                                         f"{AUTO_AFTER} times)" if auto else "")
    more = (f"\n(tp.hint({exercise!r}) again for the next one)" if level < total else "")
    plain = f"{head}: {text}{more}"
    try:
        from IPython.display import display
        from IPython import get_ipython
        if get_ipython() is None:
            raise ImportError
    except ImportError:
        print(plain)
        return
    display({"text/plain": plain, HINT_MIME: {"topic": topic, "exercise": exercise, "level": level,
                                                "auto": auto}}, raw=True)


def hint(exercise: str, level: int | None = None) -> None:
    """Show the next hint for an exercise (or hint number ``level``, to read one again)."""
    topic, ladder = _find(exercise)
    shown = _shown.get((topic, exercise), 0)
    if level is None:
        level = min(shown + 1, len(ladder))
    if not 1 <= level <= len(ladder):
        raise ValueError(f"{exercise} has hints 1 to {len(ladder)}")
    _shown[(topic, exercise)] = max(shown, level)
    _show(topic, exercise, level, ladder[level - 1], len(ladder), auto=False)


def hints_shown(exercise: str) -> int:
    topic, _ = _find(exercise)
    return _shown.get((topic, exercise), 0)


def pointer(exercise: str) -> str:
    """The line a failed check ends with: how to ask for the next hint."""
    try:
        topic, ladder = _find(exercise)
    except KeyError:
        return ""
    shown = _shown.get((topic, exercise), 0)
    if shown >= len(ladder):
        return f"(All {len(ladder)} hints shown: tp.hint({exercise!r}, {len(ladder)}) shows the last again.)"
    return f"Stuck? tp.hint({exercise!r}) gives hint {shown + 1} of {len(ladder)}."


def failed(exercise: str, tag: str) -> None:
    """A check of this exercise failed with this tag; the same failure AUTO_AFTER times shows the next hint."""
    try:
        topic, ladder = _find(exercise)
    except KeyError:
        return
    last, n = _failures.get((topic, exercise), (None, 0))
    n = n + 1 if last == tag else 1
    _failures[(topic, exercise)] = (tag, n)
    shown = _shown.get((topic, exercise), 0)
    if n >= AUTO_AFTER and shown < len(ladder):
        _shown[(topic, exercise)] = shown + 1
        _failures[(topic, exercise)] = (tag, 0)
        _show(topic, exercise, shown + 1, ladder[shown], len(ladder), auto=True)


def passed(exercise: str) -> None:
    try:
        topic, _ = _find(exercise)
    except KeyError:
        return
    _failures.pop((topic, exercise), None)
