"""Library additions for topic 02 (binary and multi-label): each check fails the wrong code and passes the
fix, and its message names what the wrong code produced (never the code that fixes it)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks
from targetpractice.checks import binary_and_multilabel as topic
from targetpractice.checks.binary_and_multilabel import _binary_accuracy
from targetpractice.instructor import references

torch.set_num_threads(1)


def bce(out, y):
    return F.binary_cross_entropy_with_logits(out, y.view_as(out))


def test_binary_and_multilabel_data_have_the_documented_shapes_and_dtypes():
    X, y = checks.binary_data(10, 3, seed=0)
    assert X.shape == (10, 3) and y.shape == (10,) and y.dtype == torch.float32
    assert set(y.tolist()) == {0.0, 1.0}
    X, Y = checks.multilabel_data(50, 6, 4, seed=0)
    assert X.shape == (50, 6) and Y.shape == (50, 4) and Y.dtype == torch.float32
    assert (Y.sum(1) >= 2).float().mean() > 0.5, "most samples carry several labels"


@pytest.mark.parametrize("shape", [(5, 1), (4, 3), (2, 3, 4, 5)])
def test_reference_bce_matches_torch_and_lays_pos_weight_on_the_class_dim(shape):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(shape, generator=g)
    t = (torch.rand(shape, generator=g) < 0.4).float()
    assert torch.allclose(references.reference_bce_with_logits(z, t),
                          F.binary_cross_entropy_with_logits(z, t))
    C = shape[1]
    pw = torch.rand(C, generator=g) * 5
    right = F.binary_cross_entropy_with_logits(z, t, pos_weight=pw.view(C, *[1] * (len(shape) - 2)))
    assert torch.allclose(references.reference_bce_with_logits(z, t, pos_weight=pw), right)
    # the wrong axis (W == C): a (C,) pos_weight on (N, C, H, W) weights the columns
    if len(shape) == 4:
        zz, tt = z[..., :C], t[..., :C]                    # (N, C, H, C)
        wrong = F.binary_cross_entropy_with_logits(zz, tt, pos_weight=pw)
        assert not torch.allclose(references.reference_bce_with_logits(zz, tt, pos_weight=pw), wrong)


def test_reference_binary_accuracy_counts_per_label_and_refuses_a_shape_mismatch():
    logits = torch.tensor([[3.0, -1.0], [-2.0, 0.5]])      # (2, 2)
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0]])        # (2, 2)
    assert _binary_accuracy(logits, labels) == 0.75
    assert _binary_accuracy(torch.tensor([[2.0], [-1.0]]), torch.tensor([1.0, 0.0])) == 1.0
    with pytest.raises(checks.CheckFailed, match="one logit per label"):
        _binary_accuracy(torch.randn(4, 2), torch.ones(4))


def test_check_trains_binary_passes_the_fix_and_fails_each_wrong_loss():
    X, y = checks.binary_data(96, 4, seed=1)
    checks.check_trains_binary(nn.Linear(4, 1), X, y, bce, steps=60, max_loss=0.2)
    with pytest.raises(checks.CheckFailed, match="floor") as exc:          # sigmoid before the loss
        checks.check_trains_binary(nn.Sequential(nn.Linear(4, 1), nn.Sigmoid()), X, y, bce, steps=60,
                                   max_loss=0.2)
    assert exc.value.tag == "loss-floor"
    assert "inside [0, 1] like a probability" in str(exc.value)          # what the outputs were
    assert "accuracy" not in str(exc.value)      # counted at output > 0, every probability would be a 1
    with pytest.raises(checks.CheckFailed, match="no output is negative") as exc:   # ReLU at the end
        checks.check_trains_binary(nn.Sequential(nn.Linear(4, 1), nn.ReLU()), X, y, bce, steps=60,
                                   max_loss=0.2)
    assert exc.value.tag == "loss-floor" and "counting an output > 0 as 1" in str(exc.value)
    with pytest.raises(checks.CheckFailed, match="does not depend") as exc:  # .detach() to silence an error
        checks.check_trains_binary(nn.Linear(4, 1), X, y, lambda out, y: bce(out.detach(), y), steps=5)
    assert exc.value.tag == "no-gradient"
    with pytest.raises(checks.CheckFailed, match="raised an error"):       # (N, 1) against (N,): explained
        checks.check_trains_binary(nn.Linear(4, 1), X, y, F.binary_cross_entropy_with_logits, steps=5)


def test_check_trains_binary_on_multilabel_data_fails_cross_entropy_with_ids():
    X, Y = checks.multilabel_data(96, 6, 4, seed=1)
    checks.check_trains_binary(nn.Linear(6, 4), X, Y, F.binary_cross_entropy_with_logits, steps=60)
    with pytest.raises(checks.CheckFailed, match="labels are right") as exc:
        checks.check_trains_binary(nn.Linear(6, 4), X, Y, lambda out, Y: F.cross_entropy(out, Y.argmax(1)),
                                   steps=60)
    assert exc.value.tag == "does-not-learn"
    with pytest.raises(checks.CheckFailed, match="one logit per label"):  # a model with too few outputs
        checks.check_trains_binary(nn.Linear(6, 2), X, Y, lambda out, Y: F.binary_cross_entropy_with_logits(
            out, Y[:, :2]), steps=5)


def test_explain_error_names_a_detached_loss():
    z = torch.randn(4, 1, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z.detach(), torch.ones(4, 1))
    with pytest.raises(RuntimeError) as exc:
        loss.backward()
    diag = tp.explain_error(exc.value)
    assert diag.tag == "no-gradient" and ".detach()" in diag.message


@pytest.mark.parametrize("shape, tag", [((4, 5), "class-ids-for-bce"), ((6, 2), "class-ids-for-bce"),
                                        ((4, 1), "shape-mismatch")])
def test_explain_error_tells_class_ids_for_bce_from_a_missing_dim_of_one(shape, tag):
    with pytest.raises(ValueError) as exc:
        F.binary_cross_entropy_with_logits(torch.randn(shape), torch.ones(shape[0]))
    diag = tp.explain_error(exc.value)
    assert diag.tag == tag
    assert ("CrossEntropyLoss" in diag.message) == (tag == "class-ids-for-bce")
    assert ("view_as" in diag.message) == (tag == "shape-mismatch")


# ------------------------------------------------------------- check_bce_loss and its diagnoses
def _bce_ref(logits, targets, pos_weight=None):
    return references.reference_bce_with_logits(logits, targets.reshape(logits.shape), pos_weight=pos_weight)


def _two_ref(logits, y):
    return references.reference_cross_entropy(logits, y.long())


def _binary_args(N=5, seed=0, confident=False):
    g = torch.Generator().manual_seed(seed)
    z = checks.confident_logits(N, 1, seed=seed) if confident else torch.randn(N, 1, generator=g)
    return {"logits": z, "y": torch.tensor([0., 1., 0., 0., 1., 1., 0.][:N])}


def test_confident_logits_are_confident_and_make_a_float32_sigmoid_round_to_one():
    z = checks.confident_logits(3, 4, seed=1)
    assert z.shape == (3, 4) and bool((z.abs() > topic.CONFIDENT).all())
    assert bool((z > 0).any()) and bool((z < 0).any())
    assert bool((torch.sigmoid(z[z > 0]) == 1.0).all())
    assert float(z.abs().max()) == 100.0                  # past where a float32 exp overflows (about 89)
    with pytest.raises(checks.CheckFailed, match="exp of a number") as exc:   # soft_margin_loss overflows
        topic.check_bce_loss(lambda logits, y: F.soft_margin_loss(logits, 2 * y - 1), _bce_ref,
                             {"logits": z.abs().max().view(1, 1), "y": torch.zeros(1, 1)})
    assert exc.value.tag == "probabilities-saturate"


def right_binary(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y.view_as(logits))


def sigmoid_bce(logits, y):
    return F.binary_cross_entropy(torch.sigmoid(logits), y.view_as(logits))


def log_one_minus_sigmoid(logits, y):
    p, t = torch.sigmoid(logits), y.view_as(logits)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()


def clamped(logits, y):
    return F.binary_cross_entropy_with_logits(logits.clamp(-10, 10), y.view_as(logits))


def by_hand_broadcast(logits, y):
    return -(y * F.logsigmoid(logits) + (1 - y) * F.logsigmoid(-logits)).mean()


def view_four(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y.view(4, 1))


def test_check_bce_loss_passes_the_fix_also_at_confident_logits():
    for confident in (False, True):
        topic.check_bce_loss(right_binary, _bce_ref, _binary_args(confident=confident))


@pytest.mark.parametrize("fn, tag, words", [
    (sigmoid_bce, "probabilities-saturate", "clamped to -100"),
    (log_one_minus_sigmoid, "probabilities-saturate", "-inf"),
    (clamped, "saturates", "does not move"),
])
def test_check_bce_loss_names_a_loss_through_probabilities_at_confident_logits(fn, tag, words):
    topic.check_bce_loss(fn, _bce_ref, _binary_args(N=4, seed=3), grad_of=None)   # moderate: no verdict
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(fn, _bce_ref, _binary_args(confident=True))
    assert exc.value.tag == tag and words in str(exc.value)
    assert "BCEWithLogits" not in str(exc.value) and ".float()" not in str(exc.value)   # no fix dictated


def test_check_bce_loss_names_a_broadcast_table_and_a_hard_coded_size():
    with pytest.raises(checks.CheckFailed, match=r"mean over a \(5, 5\) table") as exc:
        topic.check_bce_loss(by_hand_broadcast, _bce_ref, _binary_args())
    assert exc.value.tag == "broadcast" and "view_as" not in str(exc.value)
    with pytest.raises(checks.CheckFailed, match="written into the code as a number") as exc:
        topic.check_bce_loss(view_four, _bce_ref, _binary_args())
    assert exc.value.tag == "hard-coded-size" and "flatten" not in str(exc.value)
    assert "LazyLinear" not in str(exc.value)


def test_check_bce_loss_names_a_float16_loss():
    def half(logits, y):
        return F.binary_cross_entropy_with_logits(logits, y.view_as(logits).half())
    with pytest.raises(checks.CheckFailed, match="float16 while the logits are float32") as exc:
        topic.check_bce_loss(half, _bce_ref, _binary_args())
    assert exc.value.tag == "loss-dtype"


def _two_args():
    g = torch.Generator().manual_seed(4)
    return {"logits": 2 * torch.randn(5, 2, generator=g), "y": torch.tensor([0., 1., 1., 0., 1.])}


@pytest.mark.parametrize("fn, tag", [
    (lambda z, y: F.binary_cross_entropy_with_logits(z, F.one_hot(y.long(), 2).float()), "two-sigmoids"),
    (lambda z, y: F.binary_cross_entropy_with_logits(z, y[:, None].expand(-1, 2)), "two-sigmoids"),
    (lambda z, y: F.binary_cross_entropy_with_logits(z[:, 1], y), "one-logit-of-two"),
    (lambda z, y: F.binary_cross_entropy_with_logits(z[:, 0], y), "one-logit-of-two"),
])
def test_check_bce_loss_on_two_logits_names_sigmoids_that_ignore_the_softmax(fn, tag):
    topic.check_bce_loss(lambda z, y: F.cross_entropy(z, y.long()), _two_ref, _two_args(),
                         loss="CrossEntropyLoss")
    topic.check_bce_loss(lambda z, y: F.binary_cross_entropy_with_logits(z[:, 1] - z[:, 0], y), _two_ref,
                         _two_args(), loss="CrossEntropyLoss")
    with pytest.raises(checks.CheckFailed, match="couples the two logits") as exc:
        topic.check_bce_loss(fn, _two_ref, _two_args(), loss="CrossEntropyLoss")
    assert exc.value.tag == tag


def test_check_bce_loss_names_a_per_sample_sum_of_a_multilabel_loss():
    g = torch.Generator().manual_seed(5)
    args = {"logits": torch.randn(3, 5, generator=g), "labels": torch.randint(0, 2, (3, 5), generator=g)}
    topic.check_bce_loss(lambda z, t: F.binary_cross_entropy_with_logits(z, t.float()), _bce_ref, args)
    with pytest.raises(checks.CheckFailed, match="exactly 5 times the mean over all 15 entries") as exc:
        topic.check_bce_loss(lambda z, t: F.binary_cross_entropy_with_logits(z, t.float(), reduction="none")
                             .sum(1).mean(), _bce_ref, args)
    assert exc.value.tag == "reduction"


def _mask_args(N, C, H, W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"logits": torch.randn(N, C, H, W, generator=g),
            "masks": (torch.rand(N, C, H, W, generator=g) < 0.3).float(),
            "pos_weight": torch.arange(1, C + 1).float() ** 2}


def _mask_ref(logits, masks, pos_weight):
    return references.reference_bce_with_logits(logits, masks, pos_weight=pos_weight)


@pytest.mark.parametrize("pw, shape, tag, words", [
    (lambda pw: pw, (2, 3, 4, 3), "pos-weight-axis", "along dim 3 (W)"),                 # W == C: silent
    (lambda pw: pw.view(-1, 1), (2, 3, 3, 5), "pos-weight-axis", "along dim 2 (H)"),     # H == C: silent
    (lambda pw: pw, (2, 3, 4, 5), "pos-weight-axis", "dim 3 of the logits (2, 3, 4, 5) float32 (W = 5)"),
    (lambda pw: pw.view(-1, 1, 1, 1), (2, 3, 4, 5), "pos-weight-axis", "(N = 2)"),
    (lambda pw: pw.mean(), (2, 3, 4, 5), "pos-weight-mean", "the mean of pos_weight"),
    (lambda pw: pw.view(3, 1, 1), (2, 4, 3, 5), "hard-coded-size", "pos_weight (4,) float32"),
])
def test_check_bce_loss_names_where_pos_weight_went(pw, shape, tag, words):
    def right(logits, masks, pos_weight):
        return F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight[:, None, None])

    def wrong(logits, masks, pos_weight):
        return F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pw(pos_weight))

    topic.check_bce_loss(right, _mask_ref, _mask_args(*shape))
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(wrong, _mask_ref, _mask_args(*shape))
    assert exc.value.tag == tag and words in str(exc.value), str(exc.value)
    assert "view(-1, 1, 1)" not in str(exc.value) and "None, None" not in str(exc.value)


def test_check_bce_loss_with_a_recorded_answer_asks_it_once_per_check():
    from targetpractice.checks import core

    args = _binary_args(confident=True)
    sink = {}
    recording = core.record_expected("x", _bce_ref, sink)
    recording(*args.values())
    recorded = core._Recorded("x", sink["x"])
    with pytest.raises(checks.CheckFailed) as exc:          # the student's kernel: no reference, one value
        topic.check_bce_loss(sigmoid_bce, recorded, args, grad_of=None)
    assert exc.value.tag == "probabilities-saturate"
    assert recorded.n == 1


def test_check_one_logit_per_sample_refuses_a_flat_output_and_a_fixed_feature_count():
    topic.check_one_logit_per_sample(nn.Linear(6, 1), 6)
    with pytest.raises(checks.CheckFailed, match=r"one logit per sample is \(1, 1\)") as exc:
        topic.check_one_logit_per_sample(nn.Sequential(nn.Linear(6, 1), nn.Flatten(0)), 6)
    assert exc.value.tag == "output-shape"
    with pytest.raises(checks.CheckFailed, match="mat1 and mat2"):
        topic.check_one_logit_per_sample(nn.Linear(4, 1), 6)


@pytest.mark.parametrize("fn, tag", [
    (lambda z, t: F.cross_entropy(z, t.argmax(dim=1)), "one-tag-per-sample"),          # the starter code
    (lambda z, t: F.cross_entropy(z, t.float()), "softmax-over-tags"),
    (lambda z, t: F.binary_cross_entropy_with_logits(z, F.one_hot(t.argmax(1), 5).float()),
     "one-tag-per-sample"),
    (lambda z, t: F.binary_cross_entropy_with_logits(z.softmax(dim=1), t.float()), "softmax-before-loss"),
    (lambda z, t: F.binary_cross_entropy_with_logits(torch.sigmoid(z), t.float()), "sigmoid-before-loss"),
])
def test_check_bce_loss_names_multilabel_mistakes_also_in_a_students_kernel(fn, tag):
    from targetpractice.checks import core

    g = torch.Generator().manual_seed(6)
    args = {"logits": 2 * torch.randn(4, 5, generator=g), "labels": torch.randint(0, 2, (4, 5), generator=g)}
    sink = {}
    core.record_expected("x", _bce_ref, sink)(*args.values())
    for reference in (_bce_ref, core._Recorded("x", sink["x"])):     # the grader, then a student's kernel
        with pytest.raises(checks.CheckFailed) as exc:
            topic.check_bce_loss(fn, reference, args, grad_of=None)
        assert exc.value.tag == tag, str(exc.value)


def test_the_topics_messages_never_write_the_fix_in_code():
    """Every string literal of the checks module that is not a docstring: no idiom that repairs a mistake."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(topic))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and id(node) not in docstrings]
    assert any("confident" in t for t in texts)                     # the scan sees the messages
    idioms = ("view_as", ".float()", "squeeze(", "view(-1", "[:, None", "permute(", ".long()", ".to(",
              "with_logits(", "BCEWithLogitsLoss(", "one_hot(", "type_as")
    leaks = [(i, t) for t in texts for i in idioms if i in t]
    assert not leaks, leaks


# ---- issue 13: the label formats of the new exercises, predict against the logits, per-tag recall

def test_new_data_helpers_have_the_documented_shapes():
    X, y = checks.signed_data(9, 3, seed=0)
    assert X.shape == (9, 3) and y.shape == (9, 1) and set(y.reshape(-1).tolist()) == {-1.0, 1.0}
    Y = checks.rare_tags(20, 4, seed=0)
    assert Y.shape == (20, 4) and bool((Y.sum(0) >= 1).all()) and bool((Y.sum(0) <= 19).all())
    assert Y.sum(0)[0] > Y.sum(0)[-1], "the later tags are rarer"
    tag_ids, Y = checks.padded_tags(6, 5, 3, seed=0)
    assert tag_ids.shape == (6, 3) and tag_ids.dtype == torch.int64 and Y.shape == (6, 5)
    assert (tag_ids[1] == -1).all() and (tag_ids[0] >= 0).all()            # a row with none, one full
    assert torch.equal(references.reference_multi_hot(tag_ids, 5), Y)
    ids = checks.tag_ids_of(Y, K=4)
    assert ids.shape == (6, 4) and torch.equal(references.reference_multi_hot(ids, 5), Y)


def spam_ref(logits, y):
    return references.reference_bce_with_logits(logits, (y + 1) / 2)


@pytest.mark.parametrize("fn, words", [
    (lambda z, y: F.binary_cross_entropy_with_logits(z, y), "read as they are"),          # the starter
    (lambda z, y: F.binary_cross_entropy_with_logits(z, y.abs()), "every label read as 1"),
    (lambda z, y: F.binary_cross_entropy_with_logits(z, (1 - y) / 2), "swapped"),
    (lambda z, y: F.binary_cross_entropy_with_logits(z, y + 1), "labels 0 and 2"),
])
def test_check_bce_loss_names_how_signed_labels_were_read(fn, words):
    g = torch.Generator().manual_seed(0)
    args = {"logits": 2 * torch.randn(6, 1, generator=g), "y": torch.tensor([[1.], [-1.], [-1.], [1.], [-1.], [1.]])}
    topic.check_bce_loss(lambda z, y: F.binary_cross_entropy_with_logits(z, (y > 0).float()), spam_ref, args)
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(fn, spam_ref, args)
    assert exc.value.tag == "signed-labels" and words in str(exc.value), str(exc.value)


def multilabel_ref(logits, tag_ids):
    return references.reference_bce_with_logits(logits, references.reference_multi_hot(tag_ids, logits.shape[1]))


def _multi_hot_by_index(logits, tag_ids, clamp=False, drop_last=False):
    N, C = logits.shape
    Y = torch.zeros(N, C)
    rows = torch.arange(N)[:, None].expand_as(tag_ids)
    Y[rows, tag_ids.clamp(min=0) if clamp else tag_ids] = 1.0
    if drop_last:
        Y[:, -1] = 0.0
    return F.binary_cross_entropy_with_logits(logits, Y)


@pytest.mark.parametrize("fn, tag, words", [
    (_multi_hot_by_index, "pad-as-tag", "tag 4, the last one"),                           # the starter
    (lambda z, ids: _multi_hot_by_index(z, ids, clamp=True), "pad-as-tag", "tag 0 marked present"),
    (lambda z, ids: _multi_hot_by_index(z, ids, drop_last=True), "last-tag-dropped", "absent from every row"),
    (lambda z, ids: F.binary_cross_entropy_with_logits(z, references.reference_multi_hot(ids[:, :1], 5)),
     "one-tag-per-sample", "first tag id"),
])
def test_check_bce_loss_names_what_the_padding_did(fn, tag, words):
    tag_ids = torch.tensor([[4, 1, -1], [0, -1, -1], [2, 3, 1], [-1, -1, -1]])
    args = {"logits": 2 * torch.randn(4, 5, generator=torch.Generator().manual_seed(1)), "tag_ids": tag_ids}
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(fn, multilabel_ref, args)
    assert exc.value.tag == tag and words in str(exc.value), str(exc.value)


def pos_weight_ref(logits, Y, Y_train):
    return references.reference_bce_with_logits(logits, Y, pos_weight=references.reference_tag_pos_weight(Y_train))


def _counted(dim, batch=False, negatives=None, inverted=False, trim=False):
    def loss(logits, Y, Y_train):
        source = Y if batch else Y_train
        with_tag = source.sum(dim=dim)
        without = (source.shape[0] if negatives is None else negatives(source)) - with_tag
        pw = with_tag / without if inverted else without / with_tag
        return F.binary_cross_entropy_with_logits(logits, Y, pos_weight=pw[:logits.shape[1]] if trim else pw)
    return loss


@pytest.mark.parametrize("fn, M, every_sample_tagged, tag", [
    (_counted(1), 5, True, "pos-weight-axis"),                              # the starter, M == C: silent
    (_counted(1), 5, False, "pos-weight-division"),                         # a training sample with no tag
    (_counted(1, trim=True), 9, False, "pos-weight-axis"),                  # the untagged sample trimmed off
    (_counted(0, batch=True), 9, False, "pos-weight-from-batch"),
    (_counted(0, inverted=True), 9, False, "pos-weight-inverted"),
    (_counted(0, negatives=lambda s: s.shape[1]), 9, False, "pos-weight-count"),
])
def test_check_bce_loss_names_where_the_tag_counts_came_from(fn, M, every_sample_tagged, tag):
    g = torch.Generator().manual_seed(2)
    Y_train = checks.rare_tags(M, 5, seed=3)
    if every_sample_tagged:
        Y_train[-1, 0] = 1.0                                                # no training sample without a tag
    args = {"logits": 2 * torch.randn(4, 5, generator=g), "Y": checks.rare_tags(4, 5, seed=4), "Y_train": Y_train}
    topic.check_bce_loss(_counted(0), pos_weight_ref, args)
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(fn, pos_weight_ref, args)
    assert exc.value.tag == tag, str(exc.value)


def test_check_bce_loss_explains_cross_entropy_on_one_logit():
    args = {"logits": torch.randn(4, 1), "y": torch.tensor([1, 0, 0, 1])}
    ref = lambda z, y: references.reference_bce_with_logits(z, y[:, None])   # noqa: E731
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(lambda z, y: F.cross_entropy(z, y), ref, args)
    assert exc.value.tag == "one-column-softmax" and "C = 1 class" in str(exc.value)
    with pytest.raises(checks.CheckFailed) as exc:
        topic.check_bce_loss(lambda z, y: F.cross_entropy(torch.cat([-z, z], 1), y), ref, args)
    assert exc.value.tag == "doubled-logit"
    topic.check_bce_loss(lambda z, y: F.cross_entropy(torch.cat([torch.zeros_like(z), z], 1), y), ref, args)


class _Detector(nn.Module):
    def __init__(self, forward_sigmoid=False, threshold=0.0, flat=False):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
        self.forward_sigmoid, self.threshold, self.flat = forward_sigmoid, threshold, flat

    def forward(self, X):
        out = self.body(X)
        return torch.sigmoid(out) if self.forward_sigmoid else out

    def predict(self, X):
        pred = (self(X) > self.threshold).float()
        return pred.squeeze(1) if self.flat else pred


def test_check_predict_compares_with_the_logits_also_between_the_samples():
    torch.manual_seed(0)
    X, y = checks.binary_data(96, 4, seed=1)
    good, late = _Detector(), _Detector(threshold=0.5)
    for model in (good, late):
        checks.check_trains_binary(model, X, y.view(-1, 1), nn.BCEWithLogitsLoss(), steps=150, max_loss=0.2)
    checks.check_predict(good, X[:12])
    checks.check_predict(good, X[:1])
    with pytest.raises(checks.CheckFailed, match="on the line from the lowest") as exc:
        checks.check_predict(late, X[:12])                     # logits in (0, 0.5] are predicted 0
    assert exc.value.tag == "threshold" and "probability 0.5" in str(exc.value)
    with pytest.raises(checks.CheckFailed, match=r"is \(5, 1\)") as exc:
        checks.check_predict(_Detector(flat=True), X[:5])
    assert exc.value.tag == "output-shape"


def _recall(threshold_on_probs=0.5, denominator="carried", probs=None):
    def fn(logits, Y):
        found = (torch.sigmoid(logits) > threshold_on_probs).float() if probs is None else probs(logits)
        if denominator == "N":
            return (found * Y).sum(0) / Y.shape[0]
        return (found * Y).sum(0) / Y.sum(0)
    return fn


@pytest.mark.parametrize("fn, tag", [
    (_recall(0.0), "predicts-everything"),                                            # the starter
    (_recall(probs=lambda z: (z > 0.5).float()), "threshold"),
    (_recall(denominator="N"), "recall-denominator"),
    (lambda z, Y: ((z > 0).float() == Y).float().mean(0), "accuracy-not-recall"),
    (lambda z, Y: ((z > 0).float() * Y).sum(0) / (z > 0).float().sum(0), "precision-not-recall"),
    (lambda z, Y: ((z > 0).float() * Y).sum(1) / Y.sum(1), "output-shape"),
])
def test_check_tag_recall_names_each_mistake(fn, tag):
    g = torch.Generator().manual_seed(11)
    logits, Y = torch.randn(9, 4, generator=g), checks.rare_tags(9, 4, seed=11)
    want = references.reference_tag_recall(logits, Y)
    checks.check_tag_recall(_recall(), logits, Y, want)
    checks.check_tag_recall(lambda z, Y: ((z > 0) & (Y > 0.5)).sum(0) / Y.sum(0), logits, Y, want)
    with pytest.raises(checks.CheckFailed) as exc:
        checks.check_tag_recall(fn, logits, Y, want)
    assert exc.value.tag == tag, str(exc.value)


def test_check_tag_recall_skips_tags_that_no_sample_carries():
    logits = torch.tensor([[1.0, -2.0, 3.0]])
    Y = torch.tensor([[1.0, 0.0, 1.0]])                                  # tag 1: 0 / 0
    checks.check_tag_recall(_recall(), logits, Y, references.reference_tag_recall(logits, Y))


def test_predicted_tagger_shapes_are_the_described_pipelines():
    shapes = references.predicted_tagger_shapes()
    assert shapes["shape_logits"] == (40, 17) and shapes["shape_table"] == (40, 40)
    assert shapes["shape_z_squeezed"] == () and shapes["shape_z_column"] == (1,)
