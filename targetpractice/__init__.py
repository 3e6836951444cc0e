"""Target Practice: the course library used by lessons, exercises, tests and the grader.

    import targetpractice as tp
    tp.diagnose("CrossEntropyLoss", logits, y)         # what is wrong, and the fix
    with tp.show_error(): F.cross_entropy(logits, y)   # lessons: run, catch, explain
    tp.show_shapes({"logits": logits, "y": y}, axes={"logits": "N C", "y": "N"})
    tp.hint("column_labels")                           # exercises: the next hint, when asked

Submodules load on first use, so the instructor tooling (targetpractice.instructor)
does not pay for importing torch and matplotlib.
"""
from __future__ import annotations

import contextlib
import importlib

_LAZY = {
    "checks": ("checks", None), "CheckFailed": ("checks", "CheckFailed"), "passed": ("checks", "passed"),
    "strict": ("checks", "strict"),
    "CONTRACTS": ("contracts", "CONTRACTS"), "contract_for": ("contracts", "contract_for"),
    "expected_target_shapes": ("contracts", "expected_target_shapes"),
    "Diagnosis": ("diagnosis", "Diagnosis"), "describe": ("diagnosis", "describe"),
    "diagnose": ("diagnosis", "diagnose"), "explain_error": ("diagnosis", "explain_error"),
    "shape_str": ("diagnosis", "shape_str"), "shape_table": ("diagnosis", "shape_table"),
    "show_shapes": ("pictures", "show_shapes"), "show_contract": ("pictures", "show_contract"),
    "show_broadcast": ("pictures", "show_broadcast"), "show_memory_order": ("pictures", "show_memory_order"),
    "show_picked": ("pictures", "show_picked"), "show_teacher_forcing": ("pictures", "show_teacher_forcing"),
    "hint": ("hints", "hint"),
    "loss_at_init": ("habits", "loss_at_init"), "overfit_one_batch": ("habits", "overfit_one_batch"),
    "baseline_loss": ("habits", "baseline_loss"),
}
__all__ = [*_LAZY, "show_error"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'targetpractice' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(f".{module}", __name__)
    return mod if attr is None else getattr(mod, attr)


@contextlib.contextmanager
def show_error(loss=None, input=None, target=None):
    """Lessons: run the block, print the error it raises and the diagnosis; fail if nothing is raised.

    Pass the loss and its tensors to diagnose from the shapes; otherwise the message is explained.
    """
    from .diagnosis import diagnose, explain_error

    try:
        yield
    except Exception as exc:
        print(f"{type(exc).__name__}: {str(exc).strip()}")
        diag = diagnose(loss, input, target) if loss is not None else None
        if diag is None or diag.tag == "ok":  # the shapes look right: the message knows more
            diag = explain_error(exc)
        problem = diag.problem.split("\n", 1)[-1] if diag.problem.startswith(type(exc).__name__) else diag.problem
        print(f"\nDiagnosis [{diag.tag}]: {problem}" + (f"\nFix: {diag.fix}" if diag.fix else ""))
    else:
        raise AssertionError("this cell was meant to show an error, but nothing was raised")
