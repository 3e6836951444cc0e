# %% [markdown]
# # 03 · Regression and broadcasting — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error, the
# broadcast warning, or the silent wrong result that the lesson
# `course/03-regression-and-broadcasting-lesson.ipynb` explains. Fix the code **in place**, in the same
# cell, then run the check below it.
#
# * Shapes use the lesson's names: `N` samples, `K` outputs per sample, `out` a model's output, `y` the
#   targets.
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the
#   full check also runs hidden checks: N = 1, an odd N, the gradient, and a few training steps.
#   "Quick check passed" is not full marks.
# * The checks run with **warnings as errors**: a broadcast warning fails a check, and hiding the warning
#   does not make a broadcast right (the checks compare values with a reference too).
# * Do not edit the check cells: they are restored from the instructor's copy at grading.

# %% locked setup
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("03-regression-and-broadcasting")   # tp.hint("<exercise>") shows this notebook's hints

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · A column of outputs, a vector of targets
#
# A one-output regressor returns `out` of shape (N, 1); the targets `y` come from a table column as (N,).
# Make `mse_from_column` return the mean squared error between each prediction and **its own** target.
# It must work for every N, **including N = 1**, and without any warning.

# %% answer column_output
def mse_from_column(out, y):
    """out (N, 1) float, y (N,) float -> mean squared error, a scalar."""
    ### BEGIN SOLUTION
    return F.mse_loss(out, y.view_as(out))                      # (N, 1) with (N, 1)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.mse_loss(out, y)                                   # (N, 1) with (N,) -> (N, N)
    ### END BROKEN CODE


out, y = checks.regression_batch(4)                             # (N, 1), (N, 1)
mse_from_column(out, y[:, 0])                                   # y[:, 0] is (N,)

# %% quick column_output 1
# Quick check (1 point): N = 4, compared with the loss computed value by value.
with checks.exercise("column_output"):
    out, y = checks.regression_batch(4, seed=1)                 # (4, 1), (4, 1)
    checks.check_paired_loss(mse_from_column, checks.expected("column_output"), {"out": out, "y": y[:, 0]},
                             grad_of=None)
    checks.passed("quick check: N = 4 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden column_output 2
for N in (1, 2, 7):                                         # N = 1, an odd N
    out, y = checks.regression_batch(N, seed=10 + N)        # (N, 1), (N, 1)
    checks.check_paired_loss(mse_from_column, checks.expected("column_output"), {"out": out, "y": y[:, 0]},
                             label=f" with N = {N}")       # y as (N,)
X, y = checks.regression_data(64, seed=3)                   # (64, 4), (64,)
checks.check_regression_trains(nn.Linear(4, 1), X, y, mse_from_column, steps=100, min_r2=0.95)

# %% [markdown]
# ## Exercise 2 · K outputs, and a target that arrives flat
#
# A model predicts K numbers per sample: `out` is (N, K). The dataset stores the targets as one long
# vector `y_flat` of shape (N*K,): sample 0's K values, then sample 1's K values, and so on.
# Make `mse_from_flat` return the mean squared error with every output paired with its own target value.
# The same function serves models with other K (the example below has K = 3, the checks try other K
# too) and every N, including N = 1.

# %% answer flat_targets
def mse_from_flat(out, y_flat):
    """out (N, K) float, y_flat (N*K,) float stored sample by sample -> mean squared error, a scalar."""
    ### BEGIN SOLUTION
    return F.mse_loss(out, y_flat.view_as(out))                 # (N, K) with (N, K)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.mse_loss(out, y_flat)                              # (N, K) with (N*K,)
    ### END BROKEN CODE


out, y = checks.regression_batch(4, 3)                          # (N, K), (N, K)
mse_from_flat(out, y.reshape(-1))                               # the targets as (N*K,)

# %% quick flat_targets 1
# Quick check (1 point): N = 4, K = 3.
with checks.exercise("flat_targets"):
    out, y = checks.regression_batch(4, 3, seed=2)              # (4, 3), (4, 3)
    checks.check_paired_loss(mse_from_flat, checks.expected("flat_targets"),
                             {"out": out, "y_flat": y.reshape(-1)}, target="y_flat", grad_of=None)
    checks.passed("quick check: N = 4, K = 3 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden flat_targets 2
for N, K in ((1, 3), (2, 5), (7, 3), (5, 2), (1, 4)):       # N != K: a transposed read cannot pass
    out, y = checks.regression_batch(N, K, seed=20 + N + K) # (N, K), (N, K)
    checks.check_paired_loss(mse_from_flat, checks.expected("flat_targets"),
                             {"out": out, "y_flat": y.reshape(-1)}, target="y_flat",
                             label=f" with N = {N}, K = {K}")
X, Y = checks.regression_data(96, 5, K=2, seed=4)           # (96, 5), (96, 2)
checks.check_regression_trains(nn.Linear(5, 2), X, Y.reshape(-1), mse_from_flat, steps=150, min_r2=0.95,
                               truth=Y)

# %% [markdown]
# ## Exercise 3 · Make a silent broadcast fail loudly
#
# `F.gaussian_nll_loss` (a regression loss that also predicts a variance) broadcasts an (N, 1) output
# against an (N,) target to (N, N) **without any warning**, so warnings as errors cannot catch it.
# Make `gaussian_nll_checked` return the mean Gaussian NLL when the shapes match, and **raise a
# `ValueError` (or an `AssertionError`) whose message names both shapes** (`mean`'s and `target`'s)
# whenever `target`'s shape differs from `mean`'s in any way, for every N and K, including N = 1.
# `var` always has `mean`'s shape here.

# %% answer loud_gaussian
def gaussian_nll_checked(mean, target, var):
    """mean (N, K) float, target: must be (N, K), var (N, K) > 0 -> mean Gaussian NLL, a scalar."""
    ### BEGIN SOLUTION
    if target.shape != mean.shape:
        raise ValueError(f"target {tuple(target.shape)} does not have the output's shape "
                         f"{tuple(mean.shape)}: gaussian_nll_loss would broadcast them against each other")
    return F.gaussian_nll_loss(mean, target, var)               # (N, K) with (N, K)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.gaussian_nll_loss(mean, target, var)               # (N, 1) with (N,): (N, N), silently
    ### END BROKEN CODE


mean, y = checks.regression_batch(4)                            # (N, 1), (N, 1)
var = torch.full((4, 1), 0.5)                                   # (N, 1)
print(f"same shapes: {gaussian_nll_checked(mean, y, var):.4f}")
try:
    print(f"(N,) target: {gaussian_nll_checked(mean, y[:, 0], var):.4f}  <- silent, and wrong")
except (ValueError, AssertionError) as err:
    print(f"(N,) target: raised {type(err).__name__}: {err}")

# %% quick loud_gaussian 1
# Quick check (1 point): N = 4: the right value for equal shapes; for (N, 1) against (N,) an error
# whose message names both shapes.
with checks.exercise("loud_gaussian"):
    mean, y = checks.regression_batch(4, seed=3)                # (4, 1), (4, 1)
    var = torch.full((4, 1), 0.5)                               # (4, 1)
    checks.check_loss(gaussian_nll_checked, checks.expected("loud_gaussian"),
                      {"mean": mean, "target": y, "var": var}, grad_of=None)
    checks.check_raises(gaussian_nll_checked, {"mean": mean, "target": y[:, 0], "var": var},
                        names=("mean", "target"))
    checks.passed("quick check: N = 4 is right, and loud on a mismatch. " + checks.HIDDEN_NOTE)

# %% hidden loud_gaussian 2
g = torch.Generator().manual_seed(3)
for N, K in ((1, 3), (2, 3), (7, 3), (5, 2)):               # N = 1, an odd N; N != K
    for case, mean_shape, target_shape in checks.mismatched_shapes(N, K):
        mean = torch.randn(mean_shape, generator=g)         # mean_shape
        target = torch.randn(target_shape, generator=g)     # target_shape, not mean_shape
        var = torch.rand(mean_shape, generator=g) + 0.2     # mean_shape
        checks.check_raises(gaussian_nll_checked, {"mean": mean, "target": target, "var": var},
                            names=("mean", "target"), why=f"(N = {N}, K = {K}: {case}.)")
for N, K in ((1, 3), (2, 5), (7, 3), (6, 1)):
    mean, y = checks.regression_batch(N, K, seed=40 + N)    # (N, K), (N, K)
    var = torch.rand(N, K, generator=g) + 0.2               # (N, K)
    checks.check_loss(gaussian_nll_checked, checks.expected("loud_gaussian"),
                      {"mean": mean, "target": y, "var": var}, grad_of="mean",
                      label=f" with N = {N}, K = {K}")

# %% [markdown]
# ## Exercise 4 · A training loop whose loss looks fine
#
# `train_regressor` trains a one-output model with Adam on the mean squared error, written out by hand.
# The loss goes down and then settles, so nothing seems wrong, and no warning is printed. But R² stays
# near 0: the model predicts the same number for every input. Fix the loop. The targets `y` are (N,);
# the model's output is (N, 1). Keep returning a list with one Python float per step: the mean squared
# error of that step. Leave the caller's `X` and `y` as they are.

# %% answer train_loop
def train_regressor(model, X, y, steps=150, lr=0.05):
    """Train model (X (N, F) -> (N, 1)) on y (N,) float with Adam; return the loss of each step (floats)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = model(X)                                          # (N, 1)
        ### BEGIN SOLUTION
        loss = ((out - y.view_as(out)) ** 2).mean()             # (N, 1) - (N, 1)
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # loss = ((out - y) ** 2).mean()                          # (N, 1) - (N,) -> (N, N)
        ### END BROKEN CODE
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


torch.manual_seed(0)
X, y = checks.regression_data(64)                               # (N, F), (N,)
model = nn.Linear(4, 1)
losses = train_regressor(model, X, y)
with torch.no_grad():
    r2 = checks.r2_score(model(X), y)
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} (var(y) = {y.var(unbiased=False):.3f}), R² {r2:.3f}")

# %% quick train_loop 1
# Quick check (1 point): 100 steps reach R² >= 0.95 on easy data, and X and y are left as they were.
with checks.exercise("train_loop"):
    torch.manual_seed(1)
    X, y = checks.regression_data(64, seed=1)                   # (64, 4), (64,)
    model = nn.Linear(4, 1)
    given = {"X": X.clone(), "y": y.clone()}
    checks.call_with(train_regressor, {"model": model, "X": X, "y": y, "steps": 100, "lr": 0.05})
    checks.check_not_mutated("train_regressor(model, X, y)", given, {"X": X, "y": y})
    with torch.no_grad():
        checks.check_r2(model(X), y, 0.95, context="After train_regressor(model, X, y, steps=100): ")
    checks.passed("quick check: R² >= 0.95. " + checks.HIDDEN_NOTE)

# %% hidden train_loop 3
torch.manual_seed(2)
X, y = checks.regression_data(75, 6, seed=7)                # (75, 6), (75,): an odd N
model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
with torch.no_grad():
    first = float(checks.expected("train_loop")(model(X), y))   # step 0's loss, computed value by value
given = {"X": X.clone(), "y": y.clone()}
losses = checks.call_with(train_regressor, {"model": model, "X": X, "y": y, "steps": 150, "lr": 0.02})
checks.check_not_mutated("train_regressor(model, X, y)", given, {"X": X, "y": y})
checks.check_loss_history(losses, steps=150, first=first)
with torch.no_grad():
    checks.check_r2(model(X), y, 0.95, context="An MLP after train_regressor(model, X, y, steps=150): ")
X, y = checks.regression_data(1, seed=5)                    # (1, 4), (1,): N = 1
model = nn.Linear(4, 1)
with torch.no_grad():
    first = float(checks.expected("train_loop")(model(X), y))
losses = checks.call_with(train_regressor, {"model": model, "X": X, "y": y, "steps": 100, "lr": 0.05},
                          what="train_regressor with N = 1")
checks.check_loss_history(losses, steps=100, first=first, what="train_regressor with N = 1")
assert losses[-1] < 0.01, (f"train_regressor with N = 1 reports {losses[-1]:.4f} as its last loss: "
                           "one sample and a linear model can be fitted exactly, so the loss should "
                           "fall to about 0")

# %% [markdown]
# ## Exercise 5 · A metric that is wrong on perfect predictions
#
# `fraction_within` gets the predictions `pred` (N, 1) and the targets `y` (N,), and should return the
# fraction of samples whose prediction lies within `tol` of its own target, as a Python float. Right now
# it reports more than 1.0 for predictions that are all exactly right.

# %% answer within_tolerance
def fraction_within(pred, y, tol):
    """pred (N, 1) float, y (N,) float, tol a float -> fraction of |pred - y| <= tol, a float in [0, 1]."""
    ### BEGIN SOLUTION
    return ((pred.squeeze(1) - y).abs() <= tol).float().mean().item()    # (N,) with (N,)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return ((pred - y).abs() <= tol).sum().item() / len(y)             # (N, 1) with (N,) -> (N, N)
    ### END BROKEN CODE


y = torch.tensor([0.0, 0.2, 0.4, 1.0, 1.1, 3.0])                # (N,)
fraction_within(y[:, None], y, 0.25)                            # perfect predictions, (N, 1)

# %% quick within_tolerance 1
# Quick check (1 point): perfect predictions score exactly 1.0.
with checks.exercise("within_tolerance"):
    y = torch.tensor([0.0, 0.2, 0.4, 1.0, 1.1, 3.0])            # (6,)
    pred = y[:, None].clone()                                   # (6, 1): every prediction exactly right
    checks.check_fraction(fraction_within, pred, y, 0.25, checks.expected("within_tolerance")(pred, y, 0.25),
                          case="perfect predictions")
    checks.passed("quick check: perfect predictions give 1.0. " + checks.HIDDEN_NOTE)

# %% hidden within_tolerance 2
g = torch.Generator().manual_seed(5)
noisy = torch.randn(7, generator=g)                         # (7,): an odd N
edge = torch.tensor([0.5, 1.0, -2.0, 3.25, 0.0])            # (5,)
cases = [("N = 1, perfect", y[:1, None].clone(), y[:1], 0.25),
         ("each prediction belongs to the previous sample", y.roll(1)[:, None], y, 0.25),
         ("every prediction off by 1", (y + 1)[:, None], y, 0.25),
         ("every prediction off by 1, tol 1.5", (y + 1)[:, None], y, 1.5),
         ("N = 7, some within tol", (noisy + 0.3 * torch.randn(7, generator=g))[:, None], noisy, 0.18),
         ("N = 5, two exactly tol away", (edge + torch.tensor([0.25, -0.25, 0.5, 0.125, -0.375]))[:, None],
          edge, 0.25)]
for name, pred, target, tol in cases:
    want = checks.expected("within_tolerance")(pred, target, tol)
    checks.check_fraction(fraction_within, pred, target, tol, want, case=name)

# %% [markdown]
# ## Exercise 6 · Predict the shape
#
# Predict each shape and write it as a tuple of ints (`()` for a scalar). Work each one out on paper
# first; running the expression afterwards shows whether you were right. The broken answers are common
# guesses; only some are right.
#
# ```python
# N = 8
# X = torch.randn(N, 4)                                # (N, 4)
# out = nn.Linear(4, 1)(X)
# y = torch.randn(N)                                   # targets from a table column
# var = torch.ones(N, 1)
# ```
#
# | name | expression |
# |---|---|
# | `shape_out` | `out` |
# | `shape_diff` | `out - y` |
# | `shape_mse_none` | `F.mse_loss(out, y, reduction="none")` |
# | `shape_fixed_none` | `F.mse_loss(out, y.view_as(out), reduction="none")` |
# | `shape_gauss_none` | `F.gaussian_nll_loss(out, y, var, reduction="none")` |
# | `shape_squeeze_n1` | `out[:1].squeeze()` |

# %% answer predict_shape
### BEGIN SOLUTION
shape_out = (8, 1)
shape_diff = (8, 8)
shape_mse_none = (8, 8)
shape_fixed_none = (8, 1)
shape_gauss_none = (8, 8)
shape_squeeze_n1 = ()
### END SOLUTION
### BEGIN BROKEN CODE
# shape_out = (8, 1)
# shape_diff = (8,)
# shape_mse_none = (8,)
# shape_fixed_none = (8, 1)
# shape_gauss_none = (8, 1)
# shape_squeeze_n1 = (1,)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions.
with checks.exercise("predict_shape"):
    N = 8
    X = torch.randn(N, 4)                                       # (N, 4)
    out = nn.Linear(4, 1)(X)                                    # (N, 1)
    y = torch.randn(N)                                          # (N,)
    checks.check_shape("shape_out", shape_out, out.shape)
    checks.check_shape("shape_diff", shape_diff, (out - y).shape)
    checks.passed("quick check: the first two shapes are right. " + checks.HIDDEN_NOTE)

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
var = torch.ones(N, 1)                                      # (N, 1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                         # the warning is the point; we want the shape
    mse_none = F.mse_loss(out, y, reduction="none")
checks.check_shape("shape_mse_none", shape_mse_none, mse_none.shape)
fixed_none = F.mse_loss(out, y.view_as(out), reduction="none")
checks.check_shape("shape_fixed_none", shape_fixed_none, fixed_none.shape)
checks.check_shape("shape_gauss_none", shape_gauss_none,
                   F.gaussian_nll_loss(out, y, var, reduction="none").shape)
checks.check_shape("shape_squeeze_n1", shape_squeeze_n1, out[:1].squeeze().shape)
