"""The student library: contracts, diagnosis, the shared core of the checks (each fails the wrong code,
passes the fix), pictures. Each topic's own checks are tested in topics/NN-topic/test_checks.py."""
from __future__ import annotations

import matplotlib
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks
from targetpractice.instructor import references

from conftest import raised

matplotlib.use("Agg")
torch.set_num_threads(1)


# ------------------------------------------------------------------------------ contracts
@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss",
                                  "L1Loss", "CTCLoss"])
def test_contracts_cover_the_losses_of_lessons_01_to_05(name):
    c = tp.contract_for(name)
    assert c.name == name and c.targets and name in c.describe()


def test_contract_lookup_accepts_modules_classes_and_functions():
    assert tp.contract_for(nn.CrossEntropyLoss()).name == "CrossEntropyLoss"
    assert tp.contract_for(nn.MSELoss).name == "MSELoss"
    assert tp.contract_for(F.binary_cross_entropy_with_logits).name == "BCEWithLogitsLoss"
    with pytest.raises(KeyError, match="no shape contract"):
        tp.contract_for("TotallyMadeUpLoss")


def test_expected_target_shapes_follow_the_input():
    assert tp.expected_target_shapes("CrossEntropyLoss", (4, 5)) == {"class ids": (4,), "class probabilities": (4, 5)}
    assert tp.expected_target_shapes("CrossEntropyLoss", (4, 5, 7)) == {"class ids": (4, 7),
                                                                         "class probabilities": (4, 5, 7)}
    assert tp.expected_target_shapes("NLLLoss", (4, 5)) == {"class ids": (4,)}
    assert tp.expected_target_shapes("MSELoss", (4, 1)) == {"same shape": (4, 1)}


# ------------------------------------------------------------------------------ diagnosis
logits = torch.randn(4, 5)                                  # (N, C)
y = torch.tensor([0, 4, 2, 1])                              # (N,)


@pytest.mark.parametrize("target, tag, fix", [
    (y[:, None], "target-extra-dim", "y.squeeze(1)"),
    (y.float(), "float-class-ids", "y.long()"),
    (F.one_hot(y, 5), "one-hot-long", "y.argmax(1)"),
    (y + 1, "labels-out-of-range", "subtract 1"),
    (y[:3], "batch-mismatch", "x.flatten(1)"),
    (torch.tensor([0, -1, 2, 1]), "negative-labels", "ignore_index"),
    (y, "ok", "matches"),
])
def test_diagnose_cross_entropy_targets(target, tag, fix):
    d = tp.diagnose("CrossEntropyLoss", logits, target)
    assert d.tag == tag and fix in d.message
    assert tp.describe(target) in d.message  # the shapes seen are named


def test_diagnose_names_shapes_expected_and_fix_in_one_paragraph():
    d = tp.diagnose(nn.CrossEntropyLoss(), torch.randn(32, 10), torch.randint(0, 10, (32, 1)))
    assert d.message.startswith("input is (32, 10) float32, target is (32, 1) int64")
    assert "(32,) int64 class ids" in d.message and "y.squeeze(1)" in d.message


def test_diagnose_n1_bare_squeeze_and_softmax_and_sequences():
    assert tp.diagnose("CrossEntropyLoss", torch.randn(1, 5), torch.tensor(2)).tag == "squeeze-ate-batch"
    assert tp.diagnose("CrossEntropyLoss", logits.softmax(1), y).tag == "softmax-before-loss"
    d = tp.diagnose("CrossEntropyLoss", torch.randn(4, 7, 5), torch.randint(0, 5, (4, 7)))
    assert d.tag == "class-dim-last" and "permute(0, 2, 1)" in d.message
    assert tp.diagnose("NLLLoss", logits, y).tag == "nll-without-log-softmax"


def test_diagnose_same_shape_losses():
    d = tp.diagnose("MSELoss", torch.randn(4, 1), torch.randn(4))
    assert d.tag == "shape-mismatch" and "(4, 4)" in d.message and "view_as" in d.message
    assert "broadcast to" not in tp.diagnose("BCEWithLogitsLoss", torch.randn(4, 1), torch.randn(4)).message
    assert tp.diagnose("BCEWithLogitsLoss", torch.randn(4, 1), torch.ones(4, 1).long()).tag == "int-target-for-bce"
    assert tp.diagnose("BCELoss", torch.randn(4, 1) * 5, torch.ones(4, 1)).tag == "logits-into-bce"
    assert tp.diagnose("BCEWithLogitsLoss", torch.randn(4, 5), y).tag == "shape-mismatch"
    assert tp.diagnose("MSELoss", "oops", y).tag == "not-a-tensor"


@pytest.mark.parametrize("make, tag", [
    (lambda: F.cross_entropy(logits, y[:, None]), "target-extra-dim"),
    (lambda: F.cross_entropy(logits, y.float()), "float-class-ids"),
    (lambda: F.cross_entropy(logits, F.one_hot(y, 5)), "one-hot-long"),
    (lambda: F.cross_entropy(logits, y + 1), "labels-out-of-range"),
    (lambda: F.cross_entropy(logits, y[:3]), "batch-mismatch"),
    (lambda: F.cross_entropy(logits[:1], y[:1].squeeze()), "squeeze-ate-batch"),
    (lambda: F.binary_cross_entropy_with_logits(torch.randn(4, 1), torch.rand(4)), "shape-mismatch"),
    (lambda: F.binary_cross_entropy(torch.randn(4, 1) * 5, torch.rand(4, 1)), "logits-into-bce"),
    (lambda: nn.Linear(8, 2)(torch.randn(3, 7)), "linear-in-features"),
])
def test_explain_error_maps_real_torch_errors(make, tag):
    exc = raised(make)
    d = tp.explain_error(exc)
    assert d.tag == tag and d.message.startswith(type(exc).__name__)


# --------------------------------------------------------------------------------- checks
def ce_column(logits, y):  # the fix
    return F.cross_entropy(logits, y.squeeze(1))


def ce_column_broken(logits, y):
    return F.cross_entropy(logits, y)


def ce_column_bare_squeeze(logits, y):
    return F.cross_entropy(logits, y.squeeze())


def ce_column_detached(logits, y):
    return F.cross_entropy(logits.detach(), y.squeeze(1))


def ref_column(logits, y):
    return references.reference_cross_entropy(logits, y[:, 0])


def column_inputs(N):
    logits, y = checks.class_batch(N, 5, seed=N)
    return {"logits": logits, "y": y[:, None]}


def test_check_loss_fn_passes_the_fix_and_explains_each_wrong_one():
    checks.check_loss_fn(ce_column, ref_column, column_inputs, loss="CrossEntropyLoss")
    with pytest.raises(checks.CheckFailed, match="0D or 1D target") as e:
        checks.check_loss_fn(ce_column_broken, ref_column, column_inputs, loss="CrossEntropyLoss")
    assert e.value.tag == "target-extra-dim" and "y (1, 1) int64" in str(e.value)
    with pytest.raises(checks.CheckFailed, match="N = 1") as e:
        checks.check_loss_fn(ce_column_bare_squeeze, ref_column, column_inputs, loss="CrossEntropyLoss")
    assert e.value.tag == "squeeze-ate-batch"
    with pytest.raises(checks.CheckFailed, match="does not depend on logits"):
        checks.check_loss_fn(ce_column_detached, ref_column, column_inputs, loss="CrossEntropyLoss")


def test_check_loss_reports_wrong_values_and_wrong_returns_without_crashing():
    args = column_inputs(4)
    with pytest.raises(checks.CheckFailed, match="computed sample by sample"):
        checks.check_loss(lambda logits, y: F.cross_entropy(logits, y.squeeze(1).flip(0)), ref_column, args)
    with pytest.raises(checks.CheckFailed, match="did the function forget to return"):
        checks.check_loss(lambda logits, y: None, ref_column, args)
    with pytest.raises(checks.CheckFailed, match=r"shape \(\)"):
        checks.check_loss(lambda logits, y: F.cross_entropy(logits, y.squeeze(1), reduction="none"), ref_column, args)
    with pytest.raises(checks.CheckFailed, match="float tensor"):
        checks.check_loss(lambda logits, y: y.sum(), ref_column, args)


def test_check_gradient_locality_catches_view_instead_of_permute():
    lg, t = checks.class_batch(3, 4, seed=1, extra=(6,))     # (N, C, T) logits, (N, T) ids
    seq = lg.permute(0, 2, 1).contiguous()                     # (N, T, C) as a model emits it

    def permuted(seq, t):
        return F.cross_entropy(seq.permute(0, 2, 1), t, reduction="none")

    def viewed(seq, t):
        return F.cross_entropy(seq.reshape(seq.shape[0], seq.shape[2], seq.shape[1]), t, reduction="none")

    checks.check_gradient_locality(permuted, {"seq": seq, "t": t}, of="seq", class_dim=-1)
    for wrong in (viewed,):
        with pytest.raises(checks.CheckFailed, match="other positions") as e:
            checks.check_gradient_locality(wrong, {"seq": seq, "t": t}, of="seq", class_dim=-1)
        assert e.value.tag == "gradient-leak"
    with pytest.raises(checks.CheckFailed, match="one loss per position"):
        checks.check_gradient_locality(lambda seq, t: permuted(seq, t).mean(1), {"seq": seq, "t": t}, of="seq",
                                       class_dim=-1)


def test_check_unreduced_shape_catches_broadcasting():
    out, target = torch.randn(6, 1), torch.randn(6)

    def broadcast(out, target):
        return F.mse_loss(out, target, reduction="none")

    def fixed(out, target):
        return F.mse_loss(out, target.view_as(out), reduction="none").squeeze(1)

    checks.check_unreduced_shape(fixed, {"out": out, "target": target}, (6,))
    with pytest.raises(checks.CheckFailed) as e:  # the warning itself is turned into a failure
        checks.check_unreduced_shape(broadcast, {"out": out, "target": target}, (6,))
    assert e.value.tag == "shape-mismatch"
    with pytest.raises(checks.CheckFailed, match="broadcast"):
        checks.check_unreduced_shape(lambda o, t: (o - t) ** 2, {"out": out, "target": target}, (6,))


def test_check_batch_independence_catches_batch_mixing():
    torch.manual_seed(0)
    checks.check_batch_independence(nn.Sequential(nn.Linear(4, 3)), torch.randn(5, 4))
    with pytest.raises(checks.CheckFailed, match="other samples"):
        checks.check_batch_independence(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=0)), torch.randn(5, 4))
    lstm = nn.LSTM(3, 4)                                       # batch_first=False fed (N, T, F)
    with pytest.raises(checks.CheckFailed):
        checks.check_batch_independence(lambda X: lstm(X)[0], torch.randn(5, 6, 3))
    lstm_bf = nn.LSTM(3, 4, batch_first=True)
    checks.check_batch_independence(lambda X: lstm_bf(X)[0], torch.randn(5, 6, 3))


def test_outputs_of_the_wrong_shape_or_not_finite_never_pass_and_never_broadcast():
    class Shifty(nn.Module):                       # two shapes for the two calls of the check
        def __init__(self):
            super().__init__()
            self.k = 0

        def forward(self, X):
            self.k += 1
            return torch.zeros(2, 4000) if self.k % 2 else torch.zeros(4001, 1)

    with pytest.raises(checks.CheckFailed):        # (2, 4000) vs (4001, 1): a mismatch, not a 4001 x 4000 table
        checks.check_batch_independence(Shifty(), torch.randn(7, 6))
    one_row = nn.Sequential(nn.Linear(6, 5), nn.Flatten(0))
    with pytest.raises(checks.CheckFailed, match="one row per sample"):
        checks.check_batch_independence(lambda X: torch.zeros(1, 5), torch.randn(7, 6))
    assert checks.core._gap(torch.zeros(1, 3), torch.zeros(3, 1)) == float("inf")
    assert checks.core._gap(torch.tensor([float("nan")]), torch.zeros(1)) == float("inf")
    del one_row

    def nan_gradient(logits, y):                   # the right value, a NaN gradient (sqrt(0) * 0)
        return F.cross_entropy(logits.detach(), y) + (logits * 0).sqrt().sum()

    logits, y = checks.class_batch(5, 4, seed=3)
    with pytest.raises(checks.CheckFailed, match="gradient"):
        checks.check_loss(nan_gradient, references.EXPECTED["two_logits"], {"logits": logits, "y": y})


def test_check_permutation_equivariance_catches_misaligned_targets():
    lg, t = checks.class_batch(6, 4, seed=2)
    checks.check_permutation_equivariance(lambda lg, t: F.cross_entropy(lg, t, reduction="none"),
                                          {"lg": lg, "t": t})
    with pytest.raises(checks.CheckFailed, match="shuffling"):
        checks.check_permutation_equivariance(lambda lg, t: F.cross_entropy(lg, t.sort().values, reduction="none"),
                                              {"lg": lg, "t": t})


def test_strict_turns_the_broadcast_warning_into_an_error():
    with pytest.raises(UserWarning, match="broadcasting"):
        with tp.strict():
            F.mse_loss(torch.randn(4, 1), torch.randn(4))


def test_check_batch_sizes_and_trains():
    checks.check_batch_sizes(ce_column, column_inputs)
    with pytest.raises(checks.CheckFailed, match="N = 1"):
        checks.check_batch_sizes(ce_column_bare_squeeze, column_inputs)
    X, t = checks.separable_data(96, 4, 3, seed=0)
    torch.manual_seed(0)
    good = checks.check_trains(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), X, t,
                               nn.CrossEntropyLoss(), steps=100, max_loss=0.2)
    assert good["accuracy"] >= 0.95
    with pytest.raises(checks.CheckFailed, match="floor"):
        checks.check_trains(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(1)), X, t,
                            nn.CrossEntropyLoss(), steps=100, max_loss=0.2)
    with pytest.raises(checks.CheckFailed, match="accuracy"):
        checks.check_trains(nn.Linear(4, 3), X, t, lambda out, y: (out * 0).sum() + out.mean() * 0, steps=5)


def test_check_shape_never_reveals_the_answer_and_accepts_sizes():
    checks.check_shape("s", (8,), torch.zeros(8).shape)
    checks.check_shape("s", torch.Size([2, 3]), (2, 3))
    with pytest.raises(checks.CheckFailed) as e:
        checks.check_shape("s", (8, 3), (8,))
    assert "(8,)" not in str(e.value)
    with pytest.raises(checks.CheckFailed, match="tuple of ints"):
        checks.check_shape("s", "8 by 3", (8, 3))


def test_check_failed_renders_without_a_traceback_into_the_checker():
    lines = checks.CheckFailed("shapes differ", "tag-x")._render_traceback_()
    assert "tag-x" in lines[0] and lines[1] == "shapes differ"


# ------------------------------------------------------------------------------- lessons
def test_show_error_prints_the_error_and_a_diagnosis(capsys):
    with tp.show_error("CrossEntropyLoss", logits, y[:, None]):
        F.cross_entropy(logits, y[:, None])
    out = capsys.readouterr().out
    assert out.startswith("RuntimeError: 0D or 1D target tensor expected") and "y.squeeze(1)" in out
    with pytest.raises(AssertionError, match="nothing was raised"):
        with tp.show_error():
            F.cross_entropy(logits, y)


@pytest.mark.parametrize("tensors, axes", [
    ({"logits": torch.randn(4, 5), "y": torch.tensor([0, 1, 2, 3])}, {"logits": "N C", "y": "N"}),
    ({"logits": torch.randn(12, 20, 9), "y": torch.zeros(12, 9).long()}, {"logits": "N C T", "y": "N T"}),
    ({"loss": torch.tensor(1.5)}, {"loss": ""}),
])
def test_show_shapes_draws_every_tensor(tensors, axes):
    fig = tp.show_shapes(tensors, axes=axes)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for name, t in tensors.items():
        assert any(text.startswith(name + "\n") for text in texts)
    if "logits" in tensors:
        assert f"N={tensors['logits'].shape[0]}" in texts
    matplotlib.pyplot.close(fig)


def _texts(fig) -> list:
    texts = [t.get_text() for t in fig.axes[0].texts] + [fig.axes[0].get_title()]
    matplotlib.pyplot.close(fig)
    return texts


def test_a_vector_and_a_column_look_different_and_every_axis_is_labelled():
    from matplotlib.patches import FancyBboxPatch, Rectangle

    fig = tp.show_shapes({"y": torch.arange(5)}, axes={"y": "N"})
    shapes = {type(p) for p in fig.axes[0].patches}
    assert shapes == {FancyBboxPatch} and [t for t in _texts(fig) if "=" in t] == ["N=5"]
    fig = tp.show_shapes({"y": torch.arange(5)[:, None]}, axes={"y": "N K"})
    assert {type(p) for p in fig.axes[0].patches} == {Rectangle}
    assert {"N=5", "K=1"} <= set(_texts(fig))                    # the column axis of size 1 is drawn
    texts = _texts(tp.show_shapes({"x": torch.randn(2, 3, 5, 7), "s": torch.randn(4, 6, 9)},
                                  axes={"x": "N C H W", "s": "N T C"}))
    assert {"N=2 \u00d7", "C=3", "H=5", "W=7", "N=4", "T=6", "C=9"} <= set(texts)


def test_the_teaching_figures_label_what_they_show():
    texts = _texts(tp.show_broadcast(torch.zeros(4, 1), torch.zeros(4), names=("out", "y")))
    assert {"out (4, 1)", "y (4,)", "result (4, 4)", "16 cells"} <= set(texts)
    assert "(4,) is read as (1, 4)\ncopied down to 4 rows" in texts and "copied across to 4 columns" in texts
    texts = _texts(tp.show_memory_order(torch.zeros(2, 3), (3, 2), (1, 0)))
    assert {"x (2, 3)", "memory order (6,)", "x.view(3, 2)", "x.permute(1, 0)"} <= set(texts)
    assert any("view keeps the memory order" in t for t in texts)
    logits, y = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), torch.tensor([0, 2])
    texts = _texts(tp.show_picked(logits, y))
    want = float(F.cross_entropy(logits, y))
    assert f"loss = mean of minus the 2 red cells = {want:.3f}" in texts and "y[1] = 2" in texts
    texts = _texts(tp.show_teacher_forcing(torch.tensor([1, 5, 7, 3])))
    assert "decoder input  tgt[:, :-1]" in texts and "loss target  tgt[:, 1:]" in texts
    texts = _texts(tp.show_contract("CrossEntropyLoss", (4, 5, 7), axes="N C T"))
    assert "CrossEntropyLoss: class-id target = the input's shape without the class axis (dim 1), int64" in texts
    assert any(t.startswith("target: class ids\n(4, 7) int64") for t in texts)
    texts = _texts(tp.show_contract("MSELoss", (4, 3), axes="N K"))
    assert any(t.startswith("target: same shape\n(4, 3) float32") for t in texts)


def test_show_shapes_rejects_axis_names_that_do_not_fit():
    with pytest.raises(ValueError, match="name 1 dims but the tensor has 2"):
        tp.show_shapes({"logits": torch.randn(2, 3)}, axes={"logits": "N"})


# ------------------------------------------------- diagnosis from what the student's code produced
def test_a_diagnosis_keeps_the_fix_apart_from_the_problem():
    d = tp.diagnose("CrossEntropyLoss", logits, y[:, None])
    assert "y.squeeze(1)" in d.fix and "squeeze" not in d.problem and d.problem in d.message
    d = tp.explain_error(raised(lambda: F.cross_entropy(logits, y.float())))
    assert d.fix == "y.long()." and "long()" not in d.problem and d.problem.startswith("RuntimeError")


def ce_column_in_place(logits, y):
    y.squeeze_(1)                                  # the caller's labels lose their column
    return F.cross_entropy(logits, y)


def ce_column_softmax_twice(logits, y):
    return F.cross_entropy(logits.softmax(dim=1), y[:, 0])


def ce_column_summed(logits, y):
    return F.cross_entropy(logits, y[:, 0], reduction="sum")


def ce_column_constant(logits, y):
    return torch.tensor(1.25, requires_grad=True)


def ce_column_nll_on_logits(logits, y):
    return F.nll_loss(logits, y[:, 0])             # no log_softmax: the fix "squeeze" is already applied


@pytest.mark.parametrize("fn, tag, says", [
    (ce_column_in_place, "mutates-input", "changed its argument y in place"),
    (ce_column_softmax_twice, "softmax-before-loss", "softmax(dim=1) applied to logits"),
    (ce_column_summed, "reduction", "exactly 5 times"),
    (ce_column_constant, "constant", "does not depend on logits"),
    (ce_column_nll_on_logits, "wrong-value", "computed sample by sample"),
])
def test_check_loss_says_what_the_code_produced_and_never_repeats_a_fix_it_applied(fn, tag, says):
    args = column_inputs(5)
    with pytest.raises(checks.CheckFailed) as e:
        checks.check_loss(fn, ref_column, args, loss="CrossEntropyLoss")
    assert e.value.tag == tag and says in str(e.value), str(e.value)
    assert "squeeze(1)" not in str(e.value) and "Likely fix" not in str(e.value)


# ------------------------------------------------------------------------------ hint ladder
@pytest.fixture
def fresh_hints():
    from targetpractice import hints

    hints._shown.clear(), hints._failures.clear()
    hints.use_topic("01-classification")
    yield hints
    hints._shown.clear(), hints._failures.clear()


def test_hints_climb_one_rung_per_ask_and_the_last_gives_the_code(fresh_hints, capsys):
    ladder = fresh_hints._load()["01-classification"]["column_labels"]
    for k in range(1, len(ladder) + 2):                        # one more ask repeats the last rung
        tp.hint("column_labels")
        out = capsys.readouterr().out
        assert out.startswith(f"Hint {min(k, len(ladder))} of {len(ladder)} for column_labels")
    assert fresh_hints.hints_shown("column_labels") == len(ladder)
    with pytest.raises(KeyError, match="column_labels"):
        tp.hint("no_such_exercise")


def test_a_failed_check_points_to_the_next_hint_and_three_alike_show_it(fresh_hints, capsys):
    def fail():
        with pytest.raises(checks.CheckFailed) as e:
            with checks.exercise("one_hot"):
                checks.check_loss(ce_column_broken, ref_column, column_inputs(4), loss="CrossEntropyLoss")
        return str(e.value)

    assert fail().endswith("Stuck? tp.hint('one_hot') gives hint 1 of 3.")
    fail()
    assert capsys.readouterr().out == ""
    assert fail().endswith("gives hint 2 of 3.")                # the third alike showed hint 1 by itself
    assert "Hint 1 of 3 for one_hot (this check failed the same way 3 times)" in capsys.readouterr().out
    with pytest.raises(checks.CheckFailed, match=r"(?s)^not 2.*\nStuck\? tp.hint\(.one_hot.\)"):
        with checks.exercise("one_hot"):                        # a plain assert of a cell gets the pointer too
            assert 1 == 2, "not 2"


def test_a_hint_leaves_a_marker_the_report_can_count(fresh_hints):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    try:
        with capture_output() as cap:
            shell.run_cell("import targetpractice as tp\ntp.hint('accuracy')")
        bundles = [o.data for o in cap.outputs]
        assert bundles and bundles[0][fresh_hints.HINT_MIME] == {
            "topic": "01-classification", "exercise": "accuracy", "level": 1, "auto": False}
        assert bundles[0]["text/plain"].startswith("Hint 1 of 3 for accuracy")
    finally:
        InteractiveShell.clear_instance()


def test_every_ladder_starts_with_the_rule_and_ends_with_code_it_did_not_give_away():
    import re

    from targetpractice import hints

    for topic, exercises in hints._load().items():
        for ex, ladder in exercises.items():
            if ex.startswith("predict"):       # a prediction has no idiom to give: its hints teach the rules
                continue
            code = re.findall(r"`([^`]+)`", ladder[-1])
            assert code, f"{topic} {ex}: the last hint gives the idiom in `code`"
            early = " ".join(ladder[:-1])
            idioms = [c for c in code if any(ch in c for ch in "(.[")]   # calls and indexing, not bare names
            assert not [c for c in idioms if c in early], f"{topic} {ex}: an earlier hint already gives the code"


# ------------------------------------------------------------------------------ habits
def test_the_three_habits_measure_and_say_what_it_means(capsys):
    torch.manual_seed(0)
    X, y_ids = checks.separable_data(16, 4, 3, seed=1)                 # (16, 4), (16,)
    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.mul_(0.01), model.bias.zero_()                    # scores near 0: loss near log 3
    value = tp.loss_at_init(model, X, y_ids, nn.CrossEntropyLoss())
    assert abs(value - torch.log(torch.tensor(3.0)).item()) < 0.05
    assert "as expected for a model that knows nothing" in capsys.readouterr().out
    assert tp.overfit_one_batch(model, X, y_ids, nn.CrossEntropyLoss(), steps=150) < 0.05
    assert "learnt by heart" in capsys.readouterr().out
    softmaxed = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
    assert tp.overfit_one_batch(softmaxed, X, y_ids, nn.CrossEntropyLoss(), steps=150) > 0.5
    assert "does not get near 0" in capsys.readouterr().out
    y = torch.tensor([0, 0, 0, 1])                                     # frequencies 3/4 and 1/4
    want = -(3 * torch.log(torch.tensor(0.75)) + torch.log(torch.tensor(0.25))) / 4
    assert abs(tp.baseline_loss(y, nn.CrossEntropyLoss()) - float(want)) < 1e-5
    seq = torch.tensor([[0, 1, 1], [1, 1, 0]])                          # (N, T) ids: scores (N, C, T)
    assert tp.baseline_loss(seq, nn.CrossEntropyLoss(), C=2) > 0
    values = torch.tensor([1.0, 2.0, 3.0])
    assert abs(tp.baseline_loss(values, nn.MSELoss()) - 2 / 3) < 1e-6


def test_predictions_are_all_checked_at_once_never_revealed_and_a_miss_asks_for_a_sentence():
    truths = {"a": (8, 3), "b": (8,), "c": ()}
    checks.check_predictions({"a": (8, 3), "b": [8], "c": ()}, truths)
    with pytest.raises(checks.CheckFailed) as e:
        checks.check_predictions({"a": (8, 3), "b": (8, 1), "c": (1,)}, truths)
    text = str(e.value)
    assert text.startswith("2 of 3 predictions missed") and "b: you predicted (8, 1)" in text
    assert "c: you predicted (1,)" in text and "(8,)" not in text.replace("(8, 1)", "") and "why['b']" in text
    with pytest.raises(checks.CheckFailed) as e:                        # explained, still wrong: no new ask
        checks.check_predictions({"a": (8, 3), "b": (8, 1), "c": ()}, truths,
                                 why={"b": "I thought argmax keeps the class dim"})
    assert "1 of 3" in str(e.value) and "why[" not in str(e.value)
    with pytest.raises(checks.CheckFailed, match="no prediction for c"):
        checks.check_predictions({"a": (8, 3), "b": (8,)}, truths)
    checks.check_predictions({"a": (8, 3)}, truths, only=("a",))
    with pytest.raises(checks.CheckFailed, match=r"right now. You missed c on the way") as e:
        checks.check_predictions({"a": (8, 3), "b": (8,), "c": ()}, truths, why={"b": "I thought argmax keeps the dim"})
    assert e.value.tag == "predict-why"                               # b was explained; c still owes its sentence
    checks.check_predictions({"a": (8, 3), "b": (8,), "c": ()}, truths,
                             why={"b": "I thought argmax keeps the dim", "c": "a mean over everything leaves ()"})
    checks.core.MISSED.clear()


def test_a_table_of_true_shapes_is_recorded_as_digests_and_replayed_without_revealing_it():
    sink = {}
    recorder = checks.core.record_expected("predict_x", lambda: {"a": (8, 3), "b": ()}, sink)
    assert recorder() == {"a": (8, 3), "b": ()}
    replay = checks.core._Recorded("predict_x", sink["predict_x"])()
    assert set(replay) == {"a", "b"} and "8" not in repr(replay) and "(8, 3)" not in str(sink)  # never revealed
    checks.check_predictions({"a": (8, 3), "b": ()}, replay)
    with pytest.raises(checks.CheckFailed, match="1 of 2 predictions missed"):
        checks.check_predictions({"a": (3, 8), "b": ()}, replay)
