"""Library additions for topic 03 (regression and broadcasting): each check fails the wrong code and
passes the fix, and never crashes on a tensor of the wrong rank."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from targetpractice import checks
from targetpractice.instructor import references

torch.set_num_threads(1)


def mse_broadcast(out, y):
    return F.mse_loss(out, y)                                   # (N, 1) with (N,): warns, then (N, N)


def mse_broadcast_silenced(out, y):
    warnings.filterwarnings("ignore")                           # the tempting wrong fix, inside the function
    return F.mse_loss(out, y)


def mse_fixed(out, y):
    return F.mse_loss(out, y.view_as(out))


# ------------------------------------------------------------------------------ data and references
def test_regression_data_shapes_and_a_learnable_target():
    X, y = checks.regression_data(32, 5, seed=1)
    assert X.shape == (32, 5) and y.shape == (32,) and y.dtype == torch.float32
    X, Y = checks.regression_data(32, 5, K=3, seed=1)
    assert Y.shape == (32, 3)
    out, t = checks.regression_batch(7, 2, seed=3)
    assert out.shape == t.shape == (7, 2)


def test_reference_mse_pairs_values_and_never_broadcasts():
    out, y = checks.regression_batch(5, 1, seed=0)              # (5, 1), (5, 1)
    want = F.mse_loss(out, y)
    assert torch.allclose(references.reference_mse(out, y[:, 0]), want)      # (N, 1) with (N,): paired
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broadcast = F.mse_loss(out, y[:, 0])
    assert not torch.allclose(broadcast, want)
    with pytest.raises(checks.CheckFailed, match="hold 5 and 4 values"):
        references.reference_mse(out, y[:4, 0])


def test_reference_gaussian_nll_matches_torch_value_and_gradient():
    mean, y = checks.regression_batch(6, 2, seed=1)
    var = torch.rand(6, 2) + 0.1
    m1, m2 = mean.clone().requires_grad_(True), mean.clone().requires_grad_(True)
    ref = references.reference_gaussian_nll(m1, y, var)
    got = F.gaussian_nll_loss(m2, y, var)
    assert torch.allclose(ref, got)
    ref.backward()
    got.backward()
    assert torch.allclose(m1.grad, m2.grad)
    assert torch.allclose(references.reference_gaussian_nll(mean, y, 0.5), F.gaussian_nll_loss(mean, y, torch.full((6, 2), 0.5)))


def test_r2_score_is_one_for_perfect_predictions_and_zero_for_the_mean():
    _, y = checks.regression_data(40, seed=2)
    assert checks.r2_score(y[:, None], y) == pytest.approx(1.0)
    assert checks.r2_score(torch.full((40, 1), float(y.mean())), y) == pytest.approx(0.0, abs=1e-6)
    _, Y = checks.regression_data(40, K=3, seed=2)
    assert checks.r2_score(Y.reshape(-1), Y) == pytest.approx(1.0)
    with pytest.raises(checks.CheckFailed, match="learned only the mean"):
        checks.check_r2(torch.full((40, 1), float(y.mean())), y)
    with pytest.raises(checks.CheckFailed, match="hold 40 and 39 values"):
        checks.r2_score(y, y[:39])


# ------------------------------------------------------------------------------------ checks
def test_check_loss_with_reference_mse_fails_the_broadcast_even_when_the_warning_is_silenced():
    out, y = checks.regression_batch(4, 1, seed=5)
    args = {"out": out, "y": y[:, 0]}                           # (N, 1), (N,)
    with pytest.raises(checks.CheckFailed, match="different to the input size"):   # the warning, as an error
        checks.check_loss(mse_broadcast, references.reference_mse, args, loss="MSELoss", grad_of="out")
    try:
        with pytest.raises(checks.CheckFailed, match="computed sample by sample"):  # the value, no warning
            checks.check_loss(mse_broadcast_silenced, references.reference_mse, args, loss="MSELoss", grad_of="out")
    finally:
        warnings.resetwarnings()
    checks.check_loss(mse_fixed, references.reference_mse, args, loss="MSELoss", grad_of="out")
    checks.check_loss_fn(mse_fixed, references.reference_mse,
                         lambda N: dict(zip(("out", "y"), (lambda o, t: (o, t[:, 0]))(*checks.regression_batch(N)))),
                         sizes=(1, 2, 7), loss="MSELoss", grad_of="out")


def test_check_regression_trains_fails_a_broadcast_loss_and_passes_the_fix():
    X, y = checks.regression_data(64, seed=1)

    def silenced(output, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return F.mse_loss(output, y)

    with pytest.raises(checks.CheckFailed, match="learned only the mean"):
        checks.check_regression_trains(nn.Linear(4, 1), X, y, silenced, steps=100)
    with pytest.raises(checks.CheckFailed, match="different to the input size"):
        checks.check_regression_trains(nn.Linear(4, 1), X, y, lambda output, y: F.mse_loss(output, y), steps=5)
    res = checks.check_regression_trains(nn.Linear(4, 1), X, y, lambda output, y: F.mse_loss(output, y.view_as(output)),
                                         steps=100)
    assert res["r2"] > 0.95
    X3, Y3 = checks.regression_data(96, K=3, seed=2)
    res = checks.check_regression_trains(nn.Linear(4, 3), X3, Y3.reshape(-1),
                                         lambda output, y: F.mse_loss(output, y.view_as(output)), steps=150, truth=Y3)
    assert res["r2"] > 0.95


def test_check_regression_trains_survives_a_model_of_the_wrong_rank():
    X, y = checks.regression_data(16, seed=0)
    with pytest.raises(checks.CheckFailed):
        checks.check_regression_trains(nn.Linear(4, 3), X, y, lambda output, y: F.mse_loss(output, y.view_as(output)),
                                       steps=3)


def test_check_raises_fails_a_silent_guard_and_passes_a_loud_one():
    mean, y = checks.regression_batch(4, 1, seed=2)
    var = torch.ones(4, 1)
    args = {"mean": mean, "target": y[:, 0], "var": var}        # (N, 1) with (N,): Gaussian NLL is silent

    def silent(mean, target, var):
        with warnings.catch_warnings():
            warnings.simplefilter("error")                      # warnings as errors: Gaussian NLL never warns
            return F.gaussian_nll_loss(mean, target, var)

    def loud(mean, target, var):
        if target.shape != mean.shape:
            raise ValueError(f"target {tuple(target.shape)} vs output {tuple(mean.shape)}")
        return F.gaussian_nll_loss(mean, target, var)

    def crashes(mean, target, var):
        return mean @ target                                    # some other error

    with pytest.raises(checks.CheckFailed, match="without raising"):
        checks.check_raises(silent, args)
    with pytest.raises(checks.CheckFailed, match="It should raise a ValueError or AssertionError"):
        checks.check_raises(crashes, {"mean": mean, "target": torch.randn(3), "var": var})
    assert isinstance(checks.check_raises(loud, args), ValueError)
