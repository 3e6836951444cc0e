"""Library additions for topic 02 (binary and multi-label): each check fails the wrong code and passes the fix."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks
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
    assert torch.allclose(references.reference_bce_with_logits(z, t), F.binary_cross_entropy_with_logits(z, t))
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
        checks.check_trains_binary(nn.Sequential(nn.Linear(4, 1), nn.Sigmoid()), X, y, bce, steps=60, max_loss=0.2)
    assert exc.value.tag == "loss-floor"
    with pytest.raises(checks.CheckFailed, match="does not depend") as exc:  # .detach() to silence an error
        checks.check_trains_binary(nn.Linear(4, 1), X, y, lambda out, y: bce(out.detach(), y), steps=5)
    assert exc.value.tag == "no-gradient"
    with pytest.raises(checks.CheckFailed, match="raised an error"):       # (N, 1) against (N,): explained
        checks.check_trains_binary(nn.Linear(4, 1), X, y, F.binary_cross_entropy_with_logits, steps=5)


def test_check_trains_binary_on_multilabel_data_fails_cross_entropy_with_ids():
    X, Y = checks.multilabel_data(96, 6, 4, seed=1)
    checks.check_trains_binary(nn.Linear(6, 4), X, Y, F.binary_cross_entropy_with_logits, steps=60)
    with pytest.raises(checks.CheckFailed, match="labels are right") as exc:
        checks.check_trains_binary(nn.Linear(6, 4), X, Y, lambda out, Y: F.cross_entropy(out, Y.argmax(1)), steps=60)
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
