"""Checks for topic 01 (classification): each fails the wrong code and passes the fix."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from targetpractice import checks
from targetpractice.instructor import references

torch.set_num_threads(1)


def test_reference_cross_entropy_equals_torch():
    lg, t = checks.class_batch(7, 5)
    assert torch.allclose(references.reference_cross_entropy(lg, t), F.cross_entropy(lg, t), atol=1e-6)


def test_check_perfect_floor():
    checks.check_perfect_floor(lambda logits, y: F.cross_entropy(logits, y), torch.arange(5), 5)
    with pytest.raises(checks.CheckFailed, match="1.4612") as e:
        checks.check_perfect_floor(lambda logits, y: F.cross_entropy(logits.softmax(1), y),
                                   torch.arange(10), 10)
    assert e.value.tag == "softmax-before-loss"
    with pytest.raises(checks.CheckFailed, match="below 0"):
        checks.check_perfect_floor(lambda logits, y: F.nll_loss(logits, y), torch.arange(5), 5)


def _perfect(y, C):
    return 10 * F.one_hot(y, C).float()                     # (N, C) logits that are all right


def test_check_accuracy_explains_the_broadcast_from_the_value():
    y = torch.tensor([0, 1, 2, 2, 1, 0])                    # (6,)
    right = lambda logits, y: (logits.argmax(1) == y[:, 0]).float().mean().item()   # noqa: E731
    checks.check_accuracy(right, _perfect(y, 3), y[:, None], 1.0, python_float=True)
    broadcast = lambda logits, y: (logits.argmax(1) == y).float().mean().item()     # noqa: E731
    with pytest.raises(checks.CheckFailed, match="all 6 x 6 = 36") as e:
        checks.check_accuracy(broadcast, _perfect(y, 3), y[:, None], 1.0)
    assert e.value.tag == "broadcast" and "squeeze" not in str(e.value) and "view" not in str(e.value)
    summed = lambda logits, y: ((logits.argmax(1) == y).sum() / len(y)).item()      # noqa: E731
    with pytest.raises(checks.CheckFailed, match="divided by N = 6") as e:
        checks.check_accuracy(summed, _perfect(y, 3), y[:, None], 1.0)
    assert e.value.tag == "broadcast"


def test_check_accuracy_type_count_and_mutation():
    logits, y = checks.class_batch(7, 3, seed=47)           # (7, 3), (7,)
    want = references.reference_accuracy(logits, y)
    as_tensor = lambda logits, y: (logits.argmax(1) == y[:, 0]).float().mean()      # noqa: E731
    checks.check_accuracy(as_tensor, logits, y[:, None], want)                      # the value alone is right
    with pytest.raises(checks.CheckFailed, match="Python float") as e:
        checks.check_accuracy(as_tensor, logits, y[:, None], want, python_float=True)
    assert e.value.tag == "not-a-float"
    by_six = lambda logits, y: (logits.argmax(1) == y[:, 0]).sum().item() / 6       # noqa: E731
    with pytest.raises(checks.CheckFailed, match="divided by 6, not by the batch size N = 7") as e:
        checks.check_accuracy(by_six, logits, y[:, None], want)
    assert e.value.tag == "wrong-count"

    def squeezes_in_place(logits, y):
        y.squeeze_(1)
        return (logits.argmax(1) == y).float().mean().item()
    column = y[:, None].clone()
    with pytest.raises(checks.CheckFailed, match="changed its argument y in place") as e:
        checks.check_accuracy(squeezes_in_place, logits, column, want)
    assert e.value.tag == "mutates-input" and tuple(column.shape) == (7, 1)     # the caller's copy is intact


def test_check_raw_scores():
    torch.manual_seed(0)
    X = torch.randn(5, 4)                                   # (N, F)
    body = [nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3)]
    checks.check_raw_scores(nn.Sequential(*body), X)
    checks.check_raw_scores(nn.Sequential(*body, nn.LogSoftmax(dim=1)), X)        # log-probs are scores
    checks.check_raw_scores(nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 3)), X)
    for last, tag, says in ((nn.Softmax(dim=1), "softmax-before-loss", "every row sums to 1.000"),
                            (nn.Softmax(dim=0), "softmax-before-loss", "every column sums to 1.000"),
                            (nn.Sigmoid(), "sigmoid-before-loss", "one by one")):
        with pytest.raises(checks.CheckFailed, match=says) as e:
            checks.check_raw_scores(nn.Sequential(*body, last), X)
        assert e.value.tag == tag and "nn." not in str(e.value)

    class Sharp(nn.Module):
        def forward(self, x):
            return 10 * x.softmax(dim=1)
    with pytest.raises(checks.CheckFailed, match="the same 10.000"):
        checks.check_raw_scores(nn.Sequential(*body, Sharp()), X)


def test_check_classifier_shape():
    checks.check_classifier_shape(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 5)), 6, 5)
    with pytest.raises(checks.CheckFailed, match=r"\(1, 32\) float32 tensor") as e:
        checks.check_classifier_shape(nn.Sequential(nn.Linear(6, 32), nn.ReLU()), 6, 5)
    assert e.value.tag == "output-shape"
    with pytest.raises(checks.CheckFailed, match="with N = 1 raised"):
        checks.check_classifier_shape(nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3)), 6, 5)


def _rates_of(counts_fn):
    """A confusion_rates answer built from a way of turning the (C, C) counts into rates."""
    def confusion_rates(logits, y):
        C = logits.shape[1]
        counts = torch.zeros(C, C)
        for i, j in zip(y.tolist(), logits.argmax(dim=1).tolist()):
            counts[i, j] += 1
        return counts_fn(counts, y)
    return confusion_rates


def test_check_confusion_rates_explains_the_table_from_its_values():
    logits, y = checks.class_batch(11, 4, seed=5)           # (11, 4), (11,): every class present
    want = references.reference_confusion_rates(logits, y)
    checks.check_confusion_rates(_rates_of(lambda c, y: c / c.sum(dim=1, keepdim=True)), logits, y, want)
    checks.check_confusion_rates(_rates_of(lambda c, y: F.normalize(c, p=1, dim=1)), logits, y, want)
    for fn, tag, says in (
            (lambda c, y: c / c.sum(dim=1), "broadcast", "divided by the total of row j"),
            (lambda c, y: c / c.sum(dim=0, keepdim=True), "wrong-axis", "Every column sums to 1"),
            (lambda c, y: c.T / c.sum(dim=1), "wrong-axis", "transposed"),
            (lambda c, y: c / len(y), "wrong-count", "batch size N = 11"),
            (lambda c, y: c, "not-a-rate", "counts themselves"),
            (lambda c, y: c.softmax(dim=1), "wrong-value", "sums to 1, but")):
        with pytest.raises(checks.CheckFailed, match=says) as e:
            checks.check_confusion_rates(_rates_of(fn), logits, y, want)
        assert e.value.tag == tag and "keepdim" not in str(e.value) and "[:, None]" not in str(e.value)


def test_check_confusion_rates_skips_absent_classes_and_checks_shape_dtype_and_mutation():
    logits, y = checks.class_batch(1, 3, seed=61)           # N = 1: two of the three rows are 0 / 0
    want = references.reference_confusion_rates(logits, y)
    assert int((want.sum(dim=1) > 0).sum()) == 1
    checks.check_confusion_rates(_rates_of(lambda c, y: c / c.sum(dim=1, keepdim=True)), logits, y, want)  # NaN rows
    with pytest.raises(checks.CheckFailed, match=r"a \(3, 3\) table was expected") as e:
        checks.check_confusion_rates(_rates_of(lambda c, y: c.sum(dim=1)), logits, y, want)
    assert e.value.tag == "output-shape"
    with pytest.raises(checks.CheckFailed, match="rates are fractions") as e:
        checks.check_confusion_rates(_rates_of(lambda c, y: c.long()), logits, y, want)
    assert e.value.tag == "dtype"

    def sorts_in_place(logits, y):
        y[:] = y.flip(0)
        return torch.eye(logits.shape[1])
    logits, y = checks.class_batch(7, 4, seed=67)
    with pytest.raises(checks.CheckFailed, match="changed its argument y in place"):
        checks.check_confusion_rates(sorts_in_place, logits, y, references.reference_confusion_rates(logits, y))


def test_check_accuracy_with_max_keepdim_indices():
    y = torch.tensor([0, 1, 2, 2, 1, 0])                    # (6,)
    column = lambda logits, y: (logits.max(dim=1, keepdim=True)[1] == y).float().mean().item()   # noqa: E731
    with pytest.raises(checks.CheckFailed, match="all 6 x 6 = 36") as e:
        checks.check_accuracy(column, _perfect(y, 3), y, 1.0)
    assert e.value.tag == "broadcast"
    scores = lambda logits, y: (logits.max(dim=1)[0] == y).float().mean().item()            # noqa: E731
    with pytest.raises(checks.CheckFailed, match="Not one sample") as e:
        checks.check_accuracy(scores, _perfect(y, 3), y, 1.0)
    assert e.value.tag == "no-match"


def test_check_accuracy_top_k():
    logits, y = checks.class_batch(7, 5, seed=47)           # (7, 5), (7,)
    want = references.reference_accuracy(logits, y, 2)
    assert want == float(sum(int(y[n]) in logits[n].argsort(descending=True)[:2].tolist() for n in range(7))) / 7
    right = lambda logits, y, k=1: (logits.topk(k, dim=1).indices == y[:, None]).any(dim=1).float().mean().item()  # noqa: E731,E501
    checks.check_accuracy(right, logits, y, want, k=2, python_float=True)
    checks.check_accuracy(right, logits, y, references.reference_accuracy(logits, y))   # k left at its default
    broadcast = lambda logits, y, k=1: (logits.topk(k, dim=1).indices == y).any(dim=1).float().mean().item()  # noqa: E731,E501
    with pytest.raises(checks.CheckFailed, match="raised an error") as e:
        checks.check_accuracy(broadcast, logits, y, want, k=2)
    constant = torch.tensor([0.5, 2.0, -1.0, 1.0]).repeat(6, 1)                  # (6, 4): class 1 first
    labels = torch.tensor([0, 1, 3, 3, 1, 2])
    with pytest.raises(checks.CheckFailed, match="label of some sample") as e:
        checks.check_accuracy(broadcast, constant, labels, references.reference_accuracy(constant, labels))
    assert e.value.tag == "broadcast"
    top1 = lambda logits, y, k=1: (logits.argmax(dim=1) == y).float().mean().item()   # noqa: E731
    cells = lambda logits, y, k=1: (logits.topk(k, dim=1).indices == y[:, None]).float().mean().item()  # noqa: E731
    for fn, tag, says in ((top1, "ignores-k", "top-1 accuracy"), (cells, "wrong-count", "N x k = 7 x 2")):
        with pytest.raises(checks.CheckFailed, match=says) as e:
            checks.check_accuracy(fn, logits, y, want, k=2)
        assert e.value.tag == tag and "[:, None]" not in str(e.value)


def test_annotator_reference_is_the_soft_target_cross_entropy():
    logits, onehot = checks.annotated_batch(6, 4, 5, seed=3)     # (6, 5), (6, 4, 5)
    assert onehot.shape == (6, 4, 5) and onehot.dtype == torch.int64 and bool((onehot.sum(dim=2) == 1).all())
    soft = F.cross_entropy(logits, onehot.float().mean(dim=1))
    assert torch.allclose(references.reference_annotator_cross_entropy(logits, onehot), soft, atol=1e-6)
    y = torch.arange(90) % 3
    votes = checks.annotator_labels(y, 5, 3, seed=4)             # (90, 5, 3)
    assert votes.shape == (90, 5, 3) and float((votes.argmax(dim=2) == y[:, None]).double().mean()) > 0.7


def test_the_predicted_pipeline_is_built_with_real_torch():
    shapes = references.predicted_pipeline_shapes()
    assert shapes["shape_y"] == (1000 % 64, 1) and shapes["shape_hits"] == (1000 % 64, 1000 % 64)
    assert shapes["shape_y_squeezed"] == () and shapes["shape_first_label_tensor"] == (64,)
    assert all(isinstance(v, tuple) for v in shapes.values())
