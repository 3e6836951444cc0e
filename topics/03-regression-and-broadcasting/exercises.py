# %% [markdown]
# # 03 · Regression and broadcasting — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the broadcast warning or a
# silent wrong result. Only the first is close to a lesson example; each of the others puts a rule of the
# lesson `course/03-regression-and-broadcasting-lesson.ipynb` into another situation, so work out what the
# code does before you change it. Fix the code **in place**, in the same cell, then run the check below it.
#
# * The bracket after each title says what kind of exercise it is: **[direct application]** (a lesson
#   example in other clothes: another loss, another data set), **[silent bug]** (the code runs without an
#   error and gives a plausible, wrong result: find out what it computes), **[predict, then run]** (work
#   shapes out on paper first).
# * Shapes use the lesson's names: `N` samples, `K` outputs per sample, `out` a model's output, `y` the
#   targets.
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the full check
#   also runs hidden checks: N = 1, an odd N, other K, the gradient, and a few training steps. "Quick check
#   passed" is not full marks.
# * The checks run with **warnings as errors**: a broadcast warning fails a check, and hiding the warning
#   does not make a broadcast right (the checks compare values with a reference too).
# * Stuck? `tp.hint("<exercise id>")` shows the next hint: first the rule, then where to look, last the code.
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
# ## Exercise 1 · A model that returns a vector, targets that arrive as a column [direct application]
#
# A house-price model ends in `squeeze(1)`, so `model(X)` is `(N,)`: one price per house. Its data set
# returns each house's price as `torch.tensor([price])`, so a `DataLoader` batch of targets `y` is `(N, 1)`
# (the cell below builds both and calls the loss once). `mae_loss(out, y)` should return the mean absolute
# error (`F.l1_loss`) of each prediction against **its own** target, for every N, including N = 1 (the last
# batch of an epoch), and without any warning.

# %% answer column_target
def mae_loss(out, y):
    """out (N,) float, y (N, 1) float -> mean absolute error of each prediction against its own target."""
    ### BEGIN SOLUTION
    return F.l1_loss(out, y.view_as(out))                       # (N,) with (N,)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.l1_loss(out, y)
    ### END BROKEN CODE


class Houses(torch.utils.data.Dataset):
    """Three features per house; the target is its price, returned as a one-element tensor."""

    def __init__(self, n, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.X = torch.randn(n, 3, generator=g)                   # (n, 3)
        self.price = self.X @ torch.tensor([0.5, -1.0, 2.0]) + 4.0  # (n,)

    def __len__(self):
        return len(self.price)

    def __getitem__(self, i):
        return self.X[i], torch.tensor([float(self.price[i])])    # (3,), (1,)


class PriceModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, X):
        return self.linear(X).squeeze(1)                          # (N,) one price per house


X, y = next(iter(torch.utils.data.DataLoader(Houses(10), batch_size=4)))    # (4, 3), (4, 1)
out = PriceModel()(X)                                           # (4,)
print(f"out {tuple(out.shape)}, y {tuple(y.shape)}: loss {mae_loss(out, y):.4f}")

# %% quick column_target 1
# Quick check (1 point): N = 4, compared with the loss computed value by value.
with checks.exercise("column_target"):
    out, y = checks.regression_batch(4, seed=1)                 # (4, 1), (4, 1)
    checks.check_paired_loss(mae_loss, checks.expected("column_target"), {"out": out[:, 0], "y": y},
                             loss="L1Loss", grad_of=None)
    checks.passed("quick check: N = 4 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden column_target 2
for N in (1, 2, 7):                                         # N = 1, an odd N
    out, y = checks.regression_batch(N, seed=10 + N)        # (N, 1), (N, 1)
    checks.check_paired_loss(mae_loss, checks.expected("column_target"), {"out": out[:, 0], "y": y},
                             loss="L1Loss", label=f" with N = {N}")      # out as (N,)
X, y = checks.regression_data(60, 5, seed=3)                # (60, 5), (60,)
vector_model = nn.Sequential(nn.Linear(5, 1), nn.Flatten(0))          # (N, 1) -> (N,)
checks.check_regression_trains(vector_model, X, y[:, None], mae_loss, steps=150, lr=0.05, min_r2=0.95)

# %% [markdown]
# ## Exercise 2 · A forecast archive with one table per quantity [silent bug]
#
# A forecaster predicts K quantities (temperature, wind, ...) for each of N stations at each of the next H
# hours: `out` is `(N, H, K)`, and `out[n, h, k]` is its forecast of quantity k at station n, hour h. The
# true values come from an archive that keeps **one table per quantity**, `(N, H)` with a row per station and
# a column per hour, and the loader stacks the tables: `y_arch = torch.stack([archive[q] for q in
# quantities])` is `(K, N, H)`, and `y_arch[k, n, h]` is the true value of quantity k at station n, hour h.
# `mse_from_archive(out, y_arch)` should return the mean squared error with each forecast paired with its
# own true value, for any N, H and K (N = 1 included). It runs, without a warning, and returns a number. In
# the example below every forecast is exactly 0.1 above its true value: what should the loss be, and which
# values does the function pair instead? Fix it.

# %% answer stacked_targets
def mse_from_archive(out, y_arch):
    """out (N, H, K) float; y_arch (K, N, H) float, y_arch[k] = quantity k's (N, H) table -> mean squared
    error of each forecast against its own true value."""
    ### BEGIN SOLUTION
    return F.mse_loss(out, y_arch.permute(1, 2, 0))             # (N, H, K) with (N, H, K)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # y = y_arch.reshape(out.shape)                               # (N, H, K) the model's layout
    # return F.mse_loss(out, y)
    ### END BROKEN CODE


quantities = ("temp", "wind")
archive = {"temp": torch.tensor([[12.0, 13.5, 15.0, 14.0],       # (N, H): 3 stations, 4 hours
                                 [8.0, 9.0, 9.5, 9.0],
                                 [20.0, 21.0, 23.5, 22.0]]),
           "wind": torch.tensor([[3.0, 4.5, 6.0, 5.0],
                                 [10.0, 12.0, 11.0, 9.5],
                                 [1.0, 0.5, 2.0, 2.5]])}
y_arch = torch.stack([archive[q] for q in quantities])          # (K, N, H)
out = torch.empty(3, 4, len(quantities))                        # (N, H, K) the model's layout
for k, q in enumerate(quantities):
    out[:, :, k] = archive[q] + 0.1                             # every forecast 0.1 above the truth
print(f"y_arch {tuple(y_arch.shape)}, out {tuple(out.shape)}: loss {mse_from_archive(out, y_arch):.4f}")

# %% quick stacked_targets 1
# Quick check (1 point): N = 4 stations, H = 3 hours, K = 2 quantities.
with checks.exercise("stacked_targets"):
    out, y = checks.regression_batch(4, 3 * 2, seed=2)          # (4, 6), (4, 6)
    out, y = out.view(4, 3, 2), y.view(4, 3, 2)                 # (N, H, K) each
    checks.check_paired_loss(mse_from_archive, checks.expected("stacked_targets"),
                             {"out": out, "y_arch": y.permute(2, 0, 1).contiguous()}, target="y_arch",
                             grad_of=None)
    checks.passed("quick check: N = 4, H = 3, K = 2 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden stacked_targets 2
for N, H, K in ((1, 3, 2), (2, 5, 3), (7, 4, 2), (5, 2, 3), (6, 3, 1), (3, 1, 4)):   # N, H, K all differ
    out, y = checks.regression_batch(N, H * K, seed=20 + N + H + K)     # (N, H*K), (N, H*K)
    out, y = out.view(N, H, K), y.view(N, H, K)             # (N, H, K) each
    checks.check_paired_loss(mse_from_archive, checks.expected("stacked_targets"),
                             {"out": out, "y_arch": y.permute(2, 0, 1).contiguous()}, target="y_arch",
                             label=f" with N = {N}, H = {H}, K = {K}")
X, Y = checks.regression_data(96, 5, K=3 * 2, seed=4)      # (96, 5), (96, 6)
forecaster = nn.Sequential(nn.Linear(5, 3 * 2), nn.Unflatten(1, (3, 2)))     # (N, 5) -> (N, 3, 2)
checks.check_columns_trains(forecaster, X, Y.view(96, 3, 2), mse_from_archive, steps=150, min_r2=0.95,
                            stored=(2, 0, 1))

# %% [markdown]
# ## Exercise 3 · A guard with a hole [silent bug]
#
# A model predicts how many visitors each of K shops gets in an hour, as the log of a rate: `log_rate`
# `(N, K)`. The observed `counts` should be `(N, K)` too. `F.poisson_nll_loss` broadcasts a mismatched target
# without any warning (lesson, section 6), so `poisson_nll_checked` guards it: it should return the mean
# Poisson NLL when `counts` has `log_rate`'s shape, and raise a `ValueError` (or an `AssertionError`) **whose
# message names both shapes** whenever the two shapes differ in any way, for every N and K, N = 1 included.
# Its author tried it on a batch of counts with one sample too few (below), and it raised. Which mismatches
# does it let through? Make it do what its docstring says.

# %% answer loud_poisson
def poisson_nll_checked(log_rate, counts):
    """log_rate (N, K) float, counts (N, K) float -> mean Poisson NLL; raises when the shapes differ."""
    ### BEGIN SOLUTION
    if counts.shape != log_rate.shape:
        raise ValueError(f"counts {tuple(counts.shape)} does not have log_rate's shape "
                         f"{tuple(log_rate.shape)}: poisson_nll_loss needs one count per rate")
    return F.poisson_nll_loss(log_rate, counts)                 # (N, K) with (N, K)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # if len(counts) != len(log_rate):
    #     raise ValueError(f"{len(log_rate)} predicted rates but {len(counts)} counts")
    # return F.poisson_nll_loss(log_rate, counts)                 # log_input=True: log_rate is a log
    ### END BROKEN CODE


log_rate, counts = checks.poisson_batch(4, 2)                   # (N, K), (N, K)
print(f"same shapes: {poisson_nll_checked(log_rate, counts):.4f}")
try:
    print(f"one sample too few: {poisson_nll_checked(log_rate, counts[:3]):.4f}")
except (ValueError, AssertionError) as err:
    print(f"one sample too few: raised {type(err).__name__}: {err}")

# %% quick loud_poisson 1
# Quick check (1 point): N = 4, K = 1: the right value for equal shapes; for an (N, 1) output against (N,)
# counts an error whose message names both shapes.
with checks.exercise("loud_poisson"):
    log_rate, counts = checks.poisson_batch(4, seed=3)          # (4, 1), (4, 1)
    checks.check_loss(poisson_nll_checked, checks.expected("loud_poisson"),
                      {"log_rate": log_rate, "counts": counts}, grad_of=None)
    checks.check_raises(poisson_nll_checked, {"log_rate": log_rate, "counts": counts[:, 0]},
                        names=("log_rate", "counts"))
    checks.passed("quick check: N = 4 is right, and loud on a mismatch. Hidden checks also try N = 1, an odd "
                  "N, other K, eight kinds of mismatched shapes and the gradient.")

# %% hidden loud_poisson 2
g = torch.Generator().manual_seed(3)
for N, K in ((1, 3), (2, 3), (7, 3), (5, 2)):               # N = 1, an odd N; N != K
    for case, rate_shape, counts_shape in checks.mismatched_shapes(N, K):
        log_rate = torch.randn(rate_shape, generator=g)     # rate_shape
        counts = torch.poisson(torch.full(counts_shape, 2.0), generator=g)  # counts_shape, not rate_shape
        checks.check_raises(poisson_nll_checked, {"log_rate": log_rate, "counts": counts},
                            names=("log_rate", "counts"), why=f"(N = {N}, K = {K}: {case}.)")
for N, K in ((1, 3), (2, 5), (7, 3), (6, 1)):
    log_rate, counts = checks.poisson_batch(N, K, seed=40 + N)    # (N, K), (N, K)
    checks.check_loss(poisson_nll_checked, checks.expected("loud_poisson"),
                      {"log_rate": log_rate, "counts": counts}, grad_of="log_rate",
                      label=f" with N = {N}, K = {K}")

# %% [markdown]
# ## Exercise 4 · Sample weights that change nothing [silent bug]
#
# Some labels of a data set are known to be wrong, and a weight per sample says how far to trust each one:
# `w` `(N,)`, 0 for a wrong label, 1 for a checked one, anything between for the rest. `train_regressor`
# trains a one-output model (`model(X)` is `(N, 1)`) with Adam on the weighted mean squared error,
# `sum over n of w[n] * (out[n] - y[n])**2, divided by the sum of w`, and returns each step's loss as a Python
# float. It runs without a warning and its loss goes down, but the cell below scores the trained model on
# new, correctly labelled samples, and R² is far from 1. Fix the loop. Keep returning one Python float per
# step (the weighted mean squared error of that step), and leave the caller's `X`, `y` and `w` as they are.

# %% answer train_loop
def train_regressor(model, X, y, w, steps=150, lr=0.05):
    """Train model (X (N, F) -> (N, 1)) on y (N,) with sample weights w (N,) >= 0 by Adam on the weighted
    mean squared error; return the loss of each step (Python floats)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = model(X)                                          # (N, 1)
        sq_err = (out - y.view_as(out)) ** 2                    # (N, 1)
        ### BEGIN SOLUTION
        loss = (w.view_as(out) * sq_err).sum() / w.sum()        # () the weighted mean
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # loss = (w * sq_err).sum() / w.sum()                     # () the weighted mean
        ### END BROKEN CODE
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


X, y, w, X_new, y_new = checks.outlier_regression_data(64)     # (N, F), (N,), (N,), (M, F), (M,)
torch.manual_seed(0)
model = nn.Linear(4, 1)
losses = train_regressor(model, X, y, w)
with torch.no_grad():
    r2 = checks.r2_score(model(X_new), y_new)
print(f"{int((w == 0).sum())} of {len(w)} labels are wrong (weight 0) | loss {losses[0]:.3f} -> "
      f"{losses[-1]:.3f} | R² on {len(y_new)} new samples {r2:.3f}")

# %% quick train_loop 1
# Quick check (1 point): the first step reports the weighted MSE of the untrained model; 100 steps reach
# R² >= 0.95 on new samples; X, y and w are left as they were.
with checks.exercise("train_loop"):
    X, y, w, X_new, y_new = checks.outlier_regression_data(64, seed=1)    # (64, 4), (64,), (64,), ...
    torch.manual_seed(1)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        out0 = model(X)                                         # (64, 1) the untrained model's output
        first = float(checks.expected("train_loop")(out0, y, w))     # step 0's loss, sample by sample
    given = {"X": X.clone(), "y": y.clone(), "w": w.clone()}
    losses = checks.call(train_regressor,
                              {"model": model, "X": X, "y": y, "w": w, "steps": 100, "lr": 0.1})
    checks.check_not_mutated("train_regressor(model, X, y, w)", given, {"X": X, "y": y, "w": w})
    checks.check_weighted_history(losses, steps=100, first=first, out=out0, y=y, w=w)
    with torch.no_grad():
        checks.check_r2(model(X_new), y_new, 0.95,
                        context="On new samples, after train_regressor(model, X, y, w, steps=100): ")
    checks.passed("quick check: the weights count, R² >= 0.95. Hidden checks also try N = 1, an odd N, "
                  "weights between 0 and 1 and an MLP.")

# %% hidden train_loop 3
X, y, w, X_new, y_new = checks.outlier_regression_data(75, 6, seed=7, soft=True)   # odd N, weights in [0, 1]
torch.manual_seed(2)
model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
with torch.no_grad():
    out0 = model(X)                                         # (75, 1)
    first = float(checks.expected("train_loop")(out0, y, w))
given = {"X": X.clone(), "y": y.clone(), "w": w.clone()}
losses = checks.call(train_regressor,
                          {"model": model, "X": X, "y": y, "w": w, "steps": 150, "lr": 0.05})
checks.check_not_mutated("train_regressor(model, X, y, w)", given, {"X": X, "y": y, "w": w})
checks.check_weighted_history(losses, steps=150, first=first, out=out0, y=y, w=w)
with torch.no_grad():
    checks.check_r2(model(X_new), y_new, 0.9,
                    context="On new samples, an MLP after train_regressor(model, X, y, w, steps=150): ")
X, y, w, _, _ = checks.outlier_regression_data(1, seed=5)  # (1, 4), (1,), (1,): N = 1
model = nn.Linear(4, 1)
with torch.no_grad():
    out0 = model(X)                                         # (1, 1)
    first = float(checks.expected("train_loop")(out0, y, w))
losses = checks.call(train_regressor,
                          {"model": model, "X": X, "y": y, "w": w, "steps": 100, "lr": 0.05},
                          what="train_regressor with N = 1")
checks.check_weighted_history(losses, steps=100, first=first, out=out0, y=y, w=w,
                              what="train_regressor with N = 1")
assert losses[-1] < 0.01, (f"train_regressor with N = 1 reports {losses[-1]:.4f} as its last loss: "
                           "one sample and a linear model can be fitted exactly, so the loss should "
                           "fall to about 0")

# %% [markdown]
# ## Exercise 5 · A position counts only if every coordinate is close [silent bug]
#
# A model locates N objects in space: `pred` `(N, K)` holds K coordinates per object, `y` `(N, K)` the true
# positions. A prediction is a **hit** when every one of its coordinates is within that coordinate's
# tolerance: `tol` `(K,)` holds one tolerance per coordinate (below: 0.5 across, 0.5 along, 1.0 up).
# `fraction_hit` should return the fraction of the N objects that are hits, as a Python float, for any N and
# K (N = 1 included). It returns a plausible number between 0 and 1. Work out by hand how many of the four
# objects below are hits, then find out what the function counts instead.

# %% answer all_within
def fraction_hit(pred, y, tol):
    """pred (N, K), y (N, K), tol (K,) float -> fraction of samples within tol on every coordinate."""
    ### BEGIN SOLUTION
    close = (pred - y).abs() <= tol                             # (N, K)
    return close.all(dim=1).float().mean().item()
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # close = (pred - y).abs() <= tol                             # (N, K)
    # return close.all(dim=0).float().mean().item()
    ### END BROKEN CODE


y = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5], [4.0, -1.0, 2.0], [2.5, 2.5, 1.0]])       # (N, K)
error = torch.tensor([[0.1, 0.2, 0.5], [0.75, 0.0, 0.0], [0.0, 0.1, 1.5], [0.25, -0.375, -0.875]])   # (N, K)
pred = y + error                                                                              # (N, K)
tol = torch.tensor([0.5, 0.5, 1.0])                                                           # (K,)
print(f"fraction of hits: {fraction_hit(pred, y, tol):.4f}")

# %% quick all_within 1
# Quick check (1 point): the four objects above.
with checks.exercise("all_within"):
    y = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5], [4.0, -1.0, 2.0], [2.5, 2.5, 1.0]])   # (4, 3)
    pred = y + torch.tensor([[0.1, 0.2, 0.5], [0.75, 0.0, 0.0], [0.0, 0.1, 1.5], [0.25, -0.375, -0.875]])
    tol = torch.tensor([0.5, 0.5, 1.0])                                                       # (3,)
    checks.check_hit_fraction(fraction_hit, pred, y, tol, checks.expected("all_within")(pred, y, tol),
                              case="the four objects above")
    checks.passed("quick check: the four objects are counted right. Hidden checks also try N = 1, an odd N, "
                  "other K and coordinates exactly at their tolerance.")

# %% hidden all_within 2
g = torch.Generator().manual_seed(5)


def scattered(N, K, spread):                                # positions and predictions off by up to spread
    truth = torch.randn(N, K, generator=g) * 3              # (N, K)
    return truth + spread * (2 * torch.rand(N, K, generator=g) - 1), truth


tol4 = torch.tensor([0.25, 0.5, 0.125, 1.0])                # (4,) exact in binary: ties are exact
edge = torch.tensor([[0.0, 1.0, -2.0, 3.0], [0.5, 0.5, 0.5, 0.5], [1.0, -1.0, 2.0, 0.0],
                     [2.0, 2.0, 2.0, 2.0], [-1.0, 0.0, 1.0, 2.0]])                # (5, 4)
off = torch.tensor([[0.25, -0.5, 0.125, 1.0], [0.25, 0.5, 0.25, 0.0], [0.0, 0.0, 0.0, 1.25],
                    [-0.25, 0.0, -0.125, -1.0], [0.5, 0.0, 0.0, 0.0]])            # (5, 4): some exactly tol
cases = [("N = 1, one coordinate off", *scattered(1, 3, 0.0), torch.tensor([0.5, 0.5, 1.0])),
         ("N = 7, K = 2", *scattered(7, 2, 0.6), torch.tensor([0.5, 0.25])),
         ("N = 5, K = 4, some exactly at the tolerance", edge + off, edge, tol4),
         ("N = 6, K = 1", *scattered(6, 1, 0.8), torch.tensor([0.4])),
         ("N = 9, K = 3, every prediction right", *scattered(9, 3, 0.0), torch.tensor([0.1, 0.2, 0.3])),
         ("N = 3, K = 5, nothing close", *scattered(3, 5, 0.0), torch.full((5,), 0.5))]
cases[0][1][0, 1] += 0.75                                   # the N = 1 object: its second coordinate is off
cases[5][1].add_(2.0)                                       # every coordinate 2 away
for name, pred, truth, tol in cases:
    want = checks.expected("all_within")(pred, truth, tol)
    checks.check_hit_fraction(fraction_hit, pred, truth, tol, want, case=name)

# %% [markdown]
# ## Exercise 6 · Shapes in a forecaster you cannot run here [predict, then run]
#
# A weather service predicts five quantities (temperature, rain, wind, pressure and humidity) for each of
# twelve stations, from nine measurements per station. Nothing of it is in this notebook; picture it from
# this description:
#
# * `X` is a table of the measurements, one row per station and one column per measurement;
# * `out` is what a single linear layer, nine inputs to five outputs, returns for `X`;
# * `y` holds the true values in exactly the layout of `out`;
# * `w` is a plain vector with one weight per station.
#
# Work out the shape of each expression on paper, with the rules of the lesson's section 2 (line the shapes
# up from the right, a missing dim counts as 1, a size 1 is stretched; a reduction removes its dim unless
# `keepdim=True`; `torch.stack` adds a new dim 0):
#
# | name | expression |
# |---|---|
# | `shape_out` | `out` |
# | `shape_mean` | `y.mean(0)` |
# | `shape_scaled` | `(y - y.mean(0)) / y.std(0)` |
# | `shape_station_err` | `(out - y).abs().mean(1, keepdim=True)` |
# | `shape_temp_loss` | `F.mse_loss(out[:, 0], y[:, :1], reduction="none")` |
# | `shape_weighted` | `w * (out - y).pow(2).mean(1, keepdim=True)` |
# | `shape_columns` | `torch.stack([y[:, k] for k in range(y.shape[1])])` |
# | `shape_all_close` | `((out - y).abs() <= 0.5).all(0)` |
#
# Write each prediction as a tuple of ints (`()` for a scalar) and run the check: it checks all eight at once
# and names the ones that missed, never their shapes. For each miss, write one sentence in `why` saying which
# operation you misread (`why["shape_mean"] = "..."`), then correct the prediction and run the check again.

# %% answer predict_broadcast
### BEGIN SOLUTION
shape_out = (12, 5)
shape_mean = (5,)
shape_scaled = (12, 5)
shape_station_err = (12, 1)
shape_temp_loss = (12, 12)
shape_weighted = (12, 12)
shape_columns = (5, 12)
shape_all_close = (5,)
why = {}
### END SOLUTION
### BEGIN BROKEN CODE
# shape_out = None
# shape_mean = None
# shape_scaled = None
# shape_station_err = None
# shape_temp_loss = None
# shape_weighted = None
# shape_columns = None
# shape_all_close = None
# why = {}
### END BROKEN CODE

# %% quick predict_broadcast 3
# Quick check (3 points): all eight predictions; the full check asks them again at grading.
with checks.exercise("predict_broadcast"):
    predicted = {"shape_out": shape_out, "shape_mean": shape_mean, "shape_scaled": shape_scaled,
                 "shape_station_err": shape_station_err, "shape_temp_loss": shape_temp_loss,
                 "shape_weighted": shape_weighted, "shape_columns": shape_columns,
                 "shape_all_close": shape_all_close}
    checks.check_predictions(predicted, checks.expected("predict_broadcast")(), why)
    checks.passed("quick check: all eight predictions are right (the full check at grading asks the same).")

# %% hidden predict_broadcast 1
checks.check_predictions(predicted, checks.expected("predict_broadcast")(), why)
