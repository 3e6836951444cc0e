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
    assert torch.allclose(references.reference_gaussian_nll(mean, y, 0.5),
                          F.gaussian_nll_loss(mean, y, torch.full((6, 2), 0.5)))


def test_r2_score_is_one_for_perfect_predictions_and_zero_for_the_mean():
    _, y = checks.regression_data(40, seed=2)
    assert checks.r2_score(y[:, None], y) == pytest.approx(1.0)
    assert checks.r2_score(torch.full((40, 1), float(y.mean())), y) == pytest.approx(0.0, abs=1e-6)
    _, Y = checks.regression_data(40, K=3, seed=2)
    assert checks.r2_score(Y.reshape(-1), Y) == pytest.approx(1.0)
    with pytest.raises(checks.CheckFailed, match="predicting the mean of the targets") as failed:
        checks.check_r2(torch.full((40, 1), float(y.mean())), y)
    assert failed.value.tag == "learns-the-mean" and "view_as" not in str(failed.value)
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
            checks.check_loss(mse_broadcast_silenced, references.reference_mse, args, loss="MSELoss",
                              grad_of="out")
    finally:
        warnings.resetwarnings()
    checks.check_loss(mse_fixed, references.reference_mse, args, loss="MSELoss", grad_of="out")
    for N in (1, 2, 7):
        out, y = checks.regression_batch(N)
        checks.check_loss(mse_fixed, references.reference_mse, {"out": out, "y": y[:, 0]}, loss="MSELoss",
                          grad_of="out")


def test_check_regression_trains_fails_a_broadcast_loss_and_passes_the_fix():
    X, y = checks.regression_data(64, seed=1)

    def silenced(output, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return F.mse_loss(output, y)

    with pytest.raises(checks.CheckFailed, match="predicting the mean of the targets"):
        checks.check_regression_trains(nn.Linear(4, 1), X, y, silenced, steps=100)
    with pytest.raises(checks.CheckFailed, match="different to the input size"):
        checks.check_regression_trains(nn.Linear(4, 1), X, y, lambda output, y: F.mse_loss(output, y),
                                       steps=5)
    res = checks.check_regression_trains(nn.Linear(4, 1), X, y,
                                         lambda output, y: F.mse_loss(output, y.view_as(output)), steps=100)
    assert res["r2"] > 0.95
    X3, Y3 = checks.regression_data(96, K=3, seed=2)
    res = checks.check_regression_trains(nn.Linear(4, 3), X3, Y3.reshape(-1),
                                         lambda output, y: F.mse_loss(output, y.view_as(output)), steps=150,
                                         truth=Y3)
    assert res["r2"] > 0.95


def test_check_regression_trains_survives_a_model_of_the_wrong_rank():
    X, y = checks.regression_data(16, seed=0)
    with pytest.raises(checks.CheckFailed):
        checks.check_regression_trains(nn.Linear(4, 3), X, y,
                                       lambda output, y: F.mse_loss(output, y.view_as(output)), steps=3)


def test_check_raises_fails_a_silent_guard_and_passes_a_loud_one():
    mean, y = checks.regression_batch(4, 1, seed=2)
    var = torch.ones(4, 1)
    args = {"mean": mean, "target": y[:, 0], "var": var}        # (N, 1) with (N,): Gaussian NLL is silent

    def silent(mean, target, var):
        with warnings.catch_warnings():
            warnings.simplefilter("error")                      # Gaussian NLL never warns
            return F.gaussian_nll_loss(mean, target, var)

    def loud(mean, target, var):
        if target.shape != mean.shape:
            raise ValueError(f"target {tuple(target.shape)} vs output {tuple(mean.shape)}")
        return F.gaussian_nll_loss(mean, target, var)

    def crashes(mean, target, var):
        return mean @ target                                    # some other error

    with pytest.raises(checks.CheckFailed, match="without raising"):
        checks.check_raises(silent, args)
    with pytest.raises(checks.CheckFailed, match="asks for a ValueError or AssertionError") as failed:
        checks.check_raises(crashes, {"mean": mean, "target": torch.randn(3), "var": var})
    assert failed.value.tag == "wrong-exception"
    assert isinstance(checks.check_raises(loud, args, names=("mean", "target")), ValueError)


# ------------------------------------------------------------------------ issue 11: the guard's message
def test_shapes_named_reads_tuples_lists_sizes_and_by_notation():
    assert checks.shapes_named("target (4,) vs output (4, 1)") == {(4,), (4, 1)}
    assert checks.shapes_named("torch.Size([4, 1]) != torch.Size([1, 4])") == {(4, 1), (1, 4)}
    assert checks.shapes_named("mean is [7, 3], target 3x7") == {(7, 3), (3, 7)}
    assert checks.shapes_named("shapes differ") == set()
    assert (4, 1) not in checks.shapes_named("target (4,) and 1 more")


def test_mismatched_shapes_cover_the_families_and_never_pair_equal_shapes():
    for N, K in ((1, 3), (2, 3), (7, 3), (5, 2)):
        pairs = checks.mismatched_shapes(N, K)
        assert all(a != b for _, a, b in pairs)
        numel = (lambda shape: int(torch.tensor(shape).prod()))     # noqa: E731
        kinds = {(len(a) == len(b), numel(a) == numel(b)) for _, a, b in pairs}
        assert (True, True) in kinds                            # transposed: same ndim, same numel
        assert any(len(a) != len(b) for _, a, b in pairs)
    assert ((7, 1), (1, 7)) in {(a, b) for _, a, b in checks.mismatched_shapes(7, 3)}


def _guard(message):
    def gaussian_nll_checked(mean, target, var):
        if target.shape != mean.shape:
            raise ValueError(message(mean, target))
        return F.gaussian_nll_loss(mean, target, var)
    return gaussian_nll_checked


def test_check_raises_requires_both_shapes_in_the_message():
    mean, target, var = torch.randn(4, 1), torch.randn(4), torch.ones(4, 1)
    args = {"mean": mean, "target": target, "var": var}
    both = _guard(lambda m, t: f"target {tuple(t.shape)} vs mean {tuple(m.shape)}")
    assert isinstance(checks.check_raises(both, args, names=("mean", "target")), ValueError)
    sized = _guard(lambda m, t: f"{m.size()} != {t.size()}")
    checks.check_raises(sized, args, names=("mean", "target"))
    for wrong in (_guard(lambda m, t: "shapes differ"), _guard(lambda m, t: f"bad target {tuple(t.shape)}")):
        with pytest.raises(checks.CheckFailed, match="does not name the shape of mean") as failed:
            checks.check_raises(wrong, args, names=("mean", "target"))
        assert failed.value.tag == "guard-message"

    space = {"F": F}                                # compiled here: pytest would rewrite the assert
    exec("def bare(mean, target, var):\n    assert target.shape == mean.shape\n"
         "    return F.gaussian_nll_loss(mean, target, var)\n", space)
    bare = space["bare"]
    with pytest.raises(checks.CheckFailed, match="is empty"):
        checks.check_raises(bare, args, names=("mean", "target"))


def test_check_raises_catches_a_dim_only_guard_on_transposed_and_broadcastable_shapes():
    def dims_only(mean, target, var):
        if target.dim() != mean.dim():
            raise ValueError(f"target {tuple(target.shape)} vs mean {tuple(mean.shape)}")
        return F.gaussian_nll_loss(mean, target, var)

    caught = set()
    for N, K in ((1, 3), (7, 3)):
        for case, a, b in checks.mismatched_shapes(N, K):
            args = {"mean": torch.randn(a), "target": torch.randn(b), "var": torch.rand(a) + 0.2}
            try:
                checks.check_raises(dims_only, args, names=("mean", "target"))
            except checks.CheckFailed as failed:
                caught.add(failed.tag)
    assert caught == {"silent-broadcast", "wrong-exception"}


def test_check_raises_says_a_warning_is_not_an_error():
    import warnings as w

    def warns(mean, target, var):
        if target.shape != mean.shape:
            w.warn(f"target {tuple(target.shape)} vs mean {tuple(mean.shape)}")
        return F.gaussian_nll_loss(mean, target, var)

    with pytest.raises(checks.CheckFailed, match="issued a warning instead of raising"):
        checks.check_raises(warns, {"mean": torch.randn(3, 1), "target": torch.randn(3),
                                    "var": torch.ones(3, 1)})


# ------------------------------------------------------------------------ a loss that must pair values
def test_check_paired_loss_names_the_broadcast_table_and_the_transposed_read():
    out, y = checks.regression_batch(4, 1, seed=5)

    def broadcast(out, y):
        out, y = torch.broadcast_tensors(out, y)
        return F.mse_loss(out, y)

    with pytest.raises(checks.CheckFailed, match=r"the \(4, 4\) table") as failed:
        checks.check_paired_loss(broadcast, references.reference_mse, {"out": out, "y": y[:, 0]},
                                 grad_of=None)
    assert failed.value.tag == "broadcast"
    checks.check_paired_loss(mse_fixed, references.reference_mse, {"out": out, "y": y[:, 0]})

    out, y = checks.regression_batch(5, 3, seed=6)
    args = {"out": out, "y_flat": y.reshape(-1)}
    for wrong in (lambda out, y_flat: F.mse_loss(out, y_flat.view(out.shape[1], -1).T),
                  lambda out, y_flat: F.mse_loss(out.T.reshape(-1), y_flat)):
        with pytest.raises(checks.CheckFailed, match="read output by output") as failed:
            checks.check_paired_loss(wrong, references.reference_mse, args, target="y_flat")
        assert failed.value.tag == "flat-order"
    checks.check_paired_loss(lambda out, y_flat: F.mse_loss(out, y_flat.view_as(out)),
                             references.reference_mse, args, target="y_flat")
    with pytest.raises(checks.CheckFailed) as failed:               # another wrong value: no story invented
        checks.check_paired_loss(lambda out, y_flat: F.mse_loss(out, y_flat.view_as(out)) + 1,
                                 references.reference_mse, args, target="y_flat")
    assert failed.value.tag == "wrong-value"


def test_call_with_shows_models_and_numbers_plainly():
    def boom(model, X, steps):
        raise RuntimeError("shape '[64, 1]' is invalid for input of size 75")

    with pytest.raises(checks.CheckFailed) as failed:
        checks.call(boom, {"model": nn.Linear(4, 1), "X": torch.randn(75, 4), "steps": 3})
    assert "model a Linear, X (75, 4) float32, steps 3" in str(failed.value)
    assert "not a tensor" not in str(failed.value)


# ------------------------------------------------------------------------ a metric, a training report
def _hits():
    y = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5], [4.0, -1.0, 2.0], [2.5, 2.5, 1.0]])
    error = torch.tensor([[0.1, 0.2, 0.5], [0.75, 0.0, 0.0], [0.0, 0.1, 1.5], [0.25, -0.375, -0.875]])
    return y + error, y, torch.tensor([0.5, 0.5, 1.0])


def test_reference_hit_fraction_counts_samples_whose_every_coordinate_is_close():
    pred, y, tol = _hits()
    assert references.reference_hit_fraction(pred, y, tol) == 0.5
    assert references.reference_hit_fraction(y, y, tol) == 1.0
    exact = y + tol                                             # every coordinate exactly at its tolerance
    assert references.reference_hit_fraction(exact, y, tol) == 1.0


def test_check_hit_fraction_names_each_wrong_reading_and_never_the_code():
    pred, y, tol = _hits()
    right = lambda pred, y, tol: ((pred - y).abs() <= tol).all(dim=1).float().mean().item()   # noqa: E731
    assert checks.check_hit_fraction(right, pred, y, tol, 0.5, case="four") == 0.5
    for wrong, tag in ((lambda p, t, tol: ((p - t).abs() <= tol).all(dim=0).float().mean().item(),
                        "reduced-wrong-dim"),
                       (lambda p, t, tol: ((p - t).abs() <= tol).float().mean().item(), "pairs-not-samples"),
                       (lambda p, t, tol: ((p - t).abs() <= tol).any(dim=1).float().mean().item(), "any-not-all"),
                       (lambda p, t, tol: float(((p - t).abs() <= tol).all()), "reduced-everything"),
                       (lambda p, t, tol: ((p - t).abs() <= tol).all(dim=1).float().mean(), "not-a-float")):
        with pytest.raises(checks.CheckFailed) as failed:
            checks.check_hit_fraction(wrong, pred, y, tol, 0.5, case="four")
        assert failed.value.tag == tag
        assert "dim=1" not in str(failed.value) and "all(" not in str(failed.value)


def test_check_hit_fraction_names_no_reading_by_coincidence():
    pred, y, tol = _hits()
    always_zero = lambda p, t, tol: 0.0                         # noqa: E731 - equals all() here, by chance
    with pytest.raises(checks.CheckFailed) as failed:
        checks.check_hit_fraction(always_zero, pred, y, tol, 0.5, case="four")
    assert failed.value.tag == "wrong-value"
    third = lambda p, t, tol: 1 / 3                             # noqa: E731 - equals all(dim=0) here, by chance
    with pytest.raises(checks.CheckFailed) as failed:
        checks.check_hit_fraction(third, pred, y, tol, 0.5, case="four")
    assert failed.value.tag == "wrong-value"


def test_check_hit_fraction_fails_an_in_place_change():
    pred, y, tol = _hits()

    def shifts(pred, y, tol):
        pred -= y
        return (pred.abs() <= tol).all(dim=1).float().mean().item()

    with pytest.raises(checks.CheckFailed, match="changed its argument pred in place"):
        checks.check_hit_fraction(shifts, pred, y, tol, 0.5, case="four")


def test_check_loss_history():
    checks.check_loss_history([2.0, 1.0, 0.5], steps=3, first=2.0)
    for losses, match in (((2.0, 1.0, 0.5), "returned a tuple"),
                          ([2.0, 1.0], "list of 2 entries"),
                          ([torch.tensor(2.0), 1.0, 0.5], "some of them Tensor"),
                          ([6.0, 3.0, 1.5], "3 times that")):
        with pytest.raises(checks.CheckFailed, match=match) as failed:
            checks.check_loss_history(losses, steps=3, first=2.0)
        assert failed.value.tag == "loss-report"


# ------------------------------------------------------------------------ issue 13: new situations
def test_poisson_batch_and_outlier_data():
    log_rate, counts = checks.poisson_batch(5, 3, seed=1)
    assert log_rate.shape == counts.shape == (5, 3)
    assert bool((counts >= 0).all()) and bool((counts == counts.round()).all())
    X, y, w, X_new, y_new = checks.outlier_regression_data(64, 5, seed=2, n_new=10)
    assert X.shape == (64, 5) and y.shape == w.shape == (64,) and X_new.shape == (10, 5) and y_new.shape == (10,)
    assert int((w == 0).sum()) == 16 and bool((w[w > 0] == 1).all())
    _, _, soft, _, _ = checks.outlier_regression_data(64, seed=2, soft=True)
    assert bool(((soft == 0) | ((soft >= 0.5) & (soft <= 1))).all()) and int((soft == 0).sum()) == 16
    _, _, one, _, _ = checks.outlier_regression_data(1, seed=5)
    assert one.tolist() == [1.0]                                # N = 1: the one label is a right one


def test_references_of_the_new_exercises_match_torch():
    out, y = checks.regression_batch(5, 1, seed=0)
    assert torch.allclose(references.reference_l1(out[:, 0], y), F.l1_loss(out, y))
    log_rate, counts = checks.poisson_batch(4, 3, seed=2)
    assert torch.allclose(references.reference_poisson_nll(log_rate, counts), F.poisson_nll_loss(log_rate, counts))
    X, y, w, _, _ = checks.outlier_regression_data(8, seed=1, soft=True)
    out = X[:, :1] * 2                                          # (8, 1) any output
    want = (w * (out[:, 0] - y) ** 2).sum() / w.sum()
    assert torch.allclose(references.reference_weighted_mse(out, y, w), want)
    out, Y = checks.regression_batch(4, 3 * 2, seed=3)
    out, Y = out.view(4, 3, 2), Y.view(4, 3, 2)                 # (N, H, K)
    y_arch = Y.permute(2, 0, 1).contiguous()                    # (K, N, H): one (N, H) table per quantity
    assert torch.allclose(references.EXPECTED["stacked_targets"](out, y_arch), F.mse_loss(out, Y))


def test_predicted_forecaster_shapes_and_the_recorded_table():
    import json
    from pathlib import Path

    shapes = references.predicted_forecaster_shapes()
    assert shapes == {"shape_out": (12, 5), "shape_mean": (5,), "shape_scaled": (12, 5),
                      "shape_station_err": (12, 1), "shape_temp_loss": (12, 12), "shape_weighted": (12, 12),
                      "shape_columns": (5, 12), "shape_all_close": (5,)}
    before = torch.random.get_rng_state()
    references.predicted_forecaster_shapes()
    assert torch.equal(before, torch.random.get_rng_state())    # leaves the checks' random numbers alone
    recorded = json.loads((Path(checks.__file__).parent / "expected.json").read_text())["predict_broadcast"]
    digest = checks.core.HashedShape.digest                     # the table is kept as digests, never in clear
    assert recorded[0]["hashed"] == {k: digest("predict_broadcast", k, tuple(v)) for k, v in shapes.items()}


def test_check_paired_loss_names_an_l1_broadcast_and_a_stacked_table_read_in_memory_order():
    out, y = checks.regression_batch(4, 1, seed=5)

    def l1_broadcast(out, y):
        out, y = torch.broadcast_tensors(out, y)
        return F.l1_loss(out, y)

    with pytest.raises(checks.CheckFailed, match=r"the \(4, 4\) table") as failed:
        checks.check_paired_loss(l1_broadcast, references.reference_l1, {"out": out[:, 0], "y": y}, loss="L1Loss",
                                 grad_of=None)
    assert failed.value.tag == "broadcast"
    checks.check_paired_loss(lambda out, y: F.l1_loss(out, y.view_as(out)), references.reference_l1,
                             {"out": out[:, 0], "y": y}, loss="L1Loss")
    out, Y = checks.regression_batch(5, 3, seed=6)              # a (K, N) table read as (N, K)
    args = {"out": out, "y_cols": Y.T.contiguous()}
    reference = lambda out, y_cols: references.reference_mse(out, y_cols.T)     # noqa: E731
    for wrong in (lambda out, y_cols: F.mse_loss(out, y_cols.reshape(out.shape)),
                  lambda out, y_cols: F.mse_loss(out.reshape(y_cols.shape), y_cols),
                  lambda out, y_cols: F.mse_loss(out.flatten(), y_cols.flatten())):
        with pytest.raises(checks.CheckFailed, match="in memory order") as failed:
            checks.check_paired_loss(wrong, reference, args, target="y_cols")
        assert failed.value.tag == "table-order" and ".T" not in str(failed.value)
    checks.check_paired_loss(lambda out, y_cols: F.mse_loss(out, y_cols.T), reference, args, target="y_cols")
    out, Y = checks.regression_batch(5, 4 * 3, seed=7)          # the archive of exercise 2: (K, N, H)
    out, Y = out.view(5, 4, 3), Y.view(5, 4, 3)                 # (N, H, K)
    args = {"out": out, "y_arch": Y.permute(2, 0, 1).contiguous()}
    reference = references.EXPECTED["stacked_targets"]
    for wrong in (lambda out, y_arch: F.mse_loss(out, y_arch.reshape(out.shape)),
                  lambda out, y_arch: F.mse_loss(out.flatten(), y_arch.flatten())):
        with pytest.raises(checks.CheckFailed, match="in memory order") as failed:
            checks.check_paired_loss(wrong, reference, args, target="y_arch")
        assert failed.value.tag == "table-order" and "permute" not in str(failed.value)
    with pytest.raises(checks.CheckFailed) as failed:               # right shape, other wrong pairs: not named
        checks.check_paired_loss(lambda out, y_arch: F.mse_loss(out, y_arch.transpose(0, 1).reshape(out.shape)),
                                 reference, args, target="y_arch")
    assert failed.value.tag == "wrong-value"
    checks.check_paired_loss(lambda out, y_arch: F.mse_loss(out, y_arch.permute(1, 2, 0)), reference, args,
                             target="y_arch")


def test_check_columns_trains_fails_the_memory_order_read_and_passes_the_permute():
    X, Y = checks.regression_data(96, 5, K=2, seed=4)
    res = checks.check_columns_trains(nn.Linear(5, 2), X, Y, lambda output, y: F.mse_loss(output, y.T), steps=150)
    assert res["r2"] > 0.95
    with pytest.raises(checks.CheckFailed, match="R²"):
        checks.check_columns_trains(nn.Linear(5, 2), X, Y,
                                    lambda output, y: F.mse_loss(output, y.reshape(output.shape)), steps=150)
    X, Y = checks.regression_data(96, 5, K=3 * 2, seed=4)      # exercise 2: (N, H, K) stored as (K, N, H)
    Y = Y.view(96, 3, 2)

    def forecaster():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 3 * 2), nn.Unflatten(1, (3, 2)))

    res = checks.check_columns_trains(forecaster(), X, Y, lambda output, y: F.mse_loss(output, y.permute(1, 2, 0)),
                                      steps=150, stored=(2, 0, 1))
    assert res["r2"] > 0.95
    with pytest.raises(checks.CheckFailed, match="R²"):
        checks.check_columns_trains(forecaster(), X, Y, lambda output, y: F.mse_loss(output, y.reshape(output.shape)),
                                    steps=150, stored=(2, 0, 1))


def _weighted_loop(loss_of):
    def train_regressor(model, X, y, w, steps=150, lr=0.05):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            out = model(X)
            loss = loss_of(out, y, w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses
    return train_regressor


def test_check_weighted_history_names_the_readings_that_drop_the_weights():
    X, y, w, X_new, y_new = checks.outlier_regression_data(64, seed=1)
    cases = {"plain sum of the 64 squared errors": lambda o, y, w: (w * (o - y[:, None]) ** 2).sum() / w.sum(),
             "unweighted mean squared error": lambda o, y, w: F.mse_loss(o, y[:, None]),
             "divided by the 64 samples": lambda o, y, w: (w[:, None] * (o - y[:, None]) ** 2).mean()}
    for match, loss_of in cases.items():
        torch.manual_seed(1)
        model = nn.Linear(4, 1)
        with torch.no_grad():
            out0 = model(X)
            first = float(references.reference_weighted_mse(out0, y, w))
        losses = _weighted_loop(loss_of)(model, X, y, w, steps=5, lr=0.1)
        with pytest.raises(checks.CheckFailed, match=match) as failed:
            checks.check_weighted_history(losses, steps=5, first=first, out=out0, y=y, w=w)
        assert failed.value.tag == "loss-report"
    torch.manual_seed(1)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        out0 = model(X)
        first = float(references.reference_weighted_mse(out0, y, w))
    right = _weighted_loop(lambda o, y, w: (w[:, None] * (o - y[:, None]) ** 2).sum() / w.sum())
    losses = right(model, X, y, w, steps=100, lr=0.1)
    checks.check_weighted_history(losses, steps=100, first=first, out=out0, y=y, w=w)
    with torch.no_grad():
        assert checks.check_r2(model(X_new), y_new, 0.95) > 0.95
