"""Checks for topic 01 (classification): each fails the wrong code and passes the fix."""
from __future__ import annotations

import pytest
import torch
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
        checks.check_perfect_floor(lambda logits, y: F.cross_entropy(logits.softmax(1), y), torch.arange(10), 10)
    assert e.value.tag == "softmax-before-loss"
    with pytest.raises(checks.CheckFailed, match="below 0"):
        checks.check_perfect_floor(lambda logits, y: F.nll_loss(logits, y), torch.arange(5), 5)
