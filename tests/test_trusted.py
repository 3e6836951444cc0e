"""The grading channel without a kernel: what crosses it is data, decoded without running code.

`wire.encode` runs in the student's kernel and `wire.decode` in the grader; these tests feed decode
what a hostile kernel could send, and check the grader's side of calls (names a test cell needs,
exceptions rebuilt by name only). Grading through a real kernel is in test_adversarial.py.
"""
from __future__ import annotations

import base64
import json
import pickle

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from targetpractice import wire
from targetpractice.checks.core import CheckFailed
from targetpractice.instructor.trusted import RemoteError, Verdict, as_exception, free_names


def roundtrip(value):
    return wire.decode(json.loads(json.dumps(wire.encode(value))), handle=lambda n, t, c: ("handle", t, c))


def test_plain_data_crosses_unchanged():
    t = torch.randn(3, 4)                                        # (3, 4)
    back = roundtrip({"loss": t, "n": 7, "ok": True, "shape": (8, 3), "x": 0.25, "none": None, "ids": [1, 2]})
    assert type(back["loss"]) is torch.Tensor and torch.equal(back["loss"], t)
    assert back["shape"] == (8, 3) and back["ids"] == [1, 2] and back["n"] == 7 and back["x"] == 0.25
    assert roundtrip(torch.Size([4, 5])) == (4, 5)
    assert roundtrip(torch.arange(6).reshape(2, 3)).dtype == torch.int64
    assert roundtrip(torch.empty(0, 3)).shape == (0, 3)


def test_objects_that_lie_arrive_as_plain_values_or_handles():
    class Always(float):
        def __eq__(self, other):
            return True

        __hash__ = float.__hash__

    value = roundtrip(Always(0.25))
    assert type(value) is float and value == 0.25 and value != 1.0   # the lie stayed in the kernel

    class Sneaky:
        def __iter__(self):
            raise RuntimeError("walks the caller's frames")

    assert roundtrip(Sneaky()) == ("handle", "test_objects_that_lie_arrive_as_plain_values_or_handles.<locals>.Sneaky", False)

    class Sub(torch.Tensor):
        pass

    err = roundtrip(torch.zeros(2).as_subclass(Sub))
    assert isinstance(err, wire.RemoteException) and err.tag == "tensor-subclass"


@pytest.mark.parametrize("item", [
    {"t": "tensor", "dtype": "float32", "shape": [2, 2], "data": base64.b64encode(b"\0" * 12).decode()},  # short
    {"t": "tensor", "dtype": "object", "shape": [1], "data": ""},
    {"t": "tensor", "dtype": "float32", "shape": [-1], "data": ""},
    {"t": "float", "v": 1.0},                                   # floats travel as text
    {"t": "int", "v": "7"},
    {"t": "pickle", "v": base64.b64encode(pickle.dumps(print)).decode()},
    {"t": "handle", "v": 3},                                    # no handle factory given: refused
    ["not", "a", "dict"],
])
def test_anything_outside_the_schema_is_refused(item):
    with pytest.raises(wire.WireError):
        wire.decode(item)


def test_nesting_and_size_are_bounded():
    deep = {"t": "none"}
    for _ in range(wire.MAX_DEPTH + 2):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(wire.WireError):
        wire.decode(deep)


def test_exceptions_are_rebuilt_from_their_name_only():
    assert isinstance(as_exception(wire.RemoteException("ValueError", "bad", "")), ValueError)
    failed = as_exception(wire.RemoteException("CheckFailed", "nope", "broadcast"))
    assert isinstance(failed, CheckFailed) and failed.tag == "broadcast"
    odd = as_exception(wire.RemoteException("os.system('x')", "m", ""))
    assert isinstance(odd, RemoteError) and type(odd).__name__.isidentifier()
    # a name that is a builtin but not an exception class is not called
    assert isinstance(as_exception(wire.RemoteException("print", "m", "")), RemoteError)


def test_a_test_cell_asks_the_notebook_only_for_the_names_it_does_not_bind():
    source = """
with tp.strict():
    logits, y = checks.class_batch(4, 5, seed=1)            # (4, 5), (4,)
    def _inputs(N):
        a, b = checks.class_batch(N, 5)
        return {"logits": a, "y": b}
    checks.check_loss_fn(loss_from_column_labels, lambda logits, y: ref(logits, y), _inputs)
    assert shape_pred == (8,), [k for k in range(3)]
"""
    assert free_names(source) == {"tp", "checks", "loss_from_column_labels", "ref", "shape_pred"}


def test_a_failed_verdict_is_an_error_output_with_the_message_only():
    outs = Verdict(False, "partial\n", "first line\nsecond line", "broadcast").outputs()
    assert [o.output_type for o in outs] == ["stream", "error"]
    assert outs[1].traceback == ["Check failed [broadcast]", "first line", "second line"]
    assert Verdict(True, "✓ done\n").outputs()[0].text == "✓ done\n"


def test_a_students_kernel_replays_the_recorded_answers_for_the_quick_inputs_only(monkeypatch):
    from targetpractice import checks
    from targetpractice.checks import core
    from targetpractice.instructor import references

    logits, y = checks.class_batch(4, 5, seed=1)            # the quick check of column_labels: (4, 5), (4,)
    real = references.EXPECTED["column_labels"](logits, y[:, None])
    monkeypatch.setattr(core, "REFERENCES", None)           # as in a student's kernel: no grader code
    replay = checks.expected("column_labels")
    assert type(replay).__name__ == "_Recorded"
    assert torch.equal(replay(logits, y[:, None]), real.detach())
    with pytest.raises(CheckFailed, match="only for its own inputs"):
        replay(*checks.class_batch(7, 5))                    # hidden-size inputs: no answer to give away
    with pytest.raises(CheckFailed, match="no recorded answer"):
        checks.expected("no_such_exercise")
    monkeypatch.undo()
    assert checks.expected("column_labels") is references.EXPECTED["column_labels"]


def test_the_student_library_holds_no_reference():
    from targetpractice import checks

    assert [n for n in dir(checks) if n.startswith("reference")] == []
    library = [p for p in (ROOT / "targetpractice").rglob("*.py") if "instructor" not in p.parts]
    assert len(library) > 5 and not [p for p in library if "def reference_" in p.read_text()]


@pytest.mark.slow
def test_training_on_a_students_loss_takes_one_request_and_matches_step_by_step_training():
    import jupyter_client
    import torch.nn as nn

    from targetpractice import checks
    from targetpractice.instructor.trusted import Channel

    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    channel = None
    try:
        kc.execute_interactive("import torch, torch.nn.functional as F\ntorch.set_num_threads(1)\n"
                               "def loss_fn(logits, y):\n    return F.cross_entropy(logits, y[:, 0])\n", timeout=60)
        torch.set_num_threads(1)
        channel = Channel(km, km.interrupt_kernel)
        remote = channel.get(["loss_fn"])["loss_fn"]
        X, y = checks.separable_data(96, 4, 3, seed=3)                     # (96, 4), (96,)

        def trained(loss):
            torch.manual_seed(0)
            model = nn.Linear(4, 3)
            before = channel.requests
            result = checks.check_trains(model, X, y[:, None], loss, steps=60, min_accuracy=0.95)
            return result, model.weight.detach().clone(), channel.requests - before

        local, w_local, _ = trained(lambda logits, y: F.cross_entropy(logits, y[:, 0]))
        fast, w_fast, requests = trained(remote)
        assert requests == 2 and fast == local and torch.equal(w_fast, w_local)   # trace, then the held-out loss
        # a kernel whose record does not match the grader's outputs is not believed: one call per step instead
        kc.execute_interactive("import targetpractice.wire as w\n_t = w._trace\n"
                               "def _lying(req, ns):\n    a = _t(req, ns)\n"
                               "    for s in a['value']['v']:\n        s['v']['grad'] = w.encode(torch.zeros(64, 3))\n"
                               "        s['v']['out'] = w.encode(torch.zeros(64, 3))\n    return a\n"
                               "w._OPS['trace'] = _lying\n", timeout=60)
        slow, w_slow, requests = trained(remote)
        assert requests == 2 + 60 and slow == local and torch.equal(w_slow, w_local)
    finally:  # every socket closed before the context goes: a context collected with open sockets blocks
        if channel is not None:
            channel.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.slow
def test_a_students_function_that_changes_its_arguments_in_place_fails_and_never_writes_into_the_grader():
    import jupyter_client

    from targetpractice import checks
    from targetpractice.instructor import references
    from targetpractice.instructor.trusted import Channel

    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    channel = None
    try:
        kc.execute_interactive("import torch, torch.nn.functional as F\n"
                               "def shifted(logits, y):\n    y -= 1\n    return F.cross_entropy(logits, y)\n"
                               "def squeezed(logits, y):\n    y.squeeze_(1)\n    return F.cross_entropy(logits, y)\n",
                               timeout=60)
        channel = Channel(km, km.interrupt_kernel)
        remote = channel.get(["shifted", "squeezed"])
        logits, y = checks.class_batch(5, 4, seed=2)                      # (5, 4), (5,)
        mine = y + 1
        with pytest.raises(checks.CheckFailed, match=r"shifted changed a tensor it was given in place"):
            remote["shifted"](logits, mine)
        assert torch.equal(mine, y + 1)          # the grader's tensor is untouched: nothing steers a check
        column = y[:, None].clone()
        with pytest.raises(checks.CheckFailed, match=r"it was \(5, 1\) int64 and is \(5,\) int64"):
            remote["squeezed"](logits, column)
        with pytest.raises(checks.CheckFailed, match="in place") as e:
            checks.check_loss(remote["shifted"], lambda lg, t: references.reference_cross_entropy(lg, t - 1),
                              {"logits": logits, "y": y + 1}, loss="CrossEntropyLoss")
        assert e.value.tag == "mutates-input"
    finally:
        if channel is not None:
            channel.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
