# %% [markdown]
# # 03 · Regression: output (N, K), target (N, K), and the broadcast warning
#
# A regressor predicts numbers, and the target holds the true numbers: one per output, in exactly the
# output's shape. Get that shape slightly wrong and PyTorch prints a `UserWarning` that begins "Using a target size
# ... that is different to the input size" and mentions broadcasting; then it carries on. Section 2 shows it in full.
#
# This lesson answers that warning completely:
#
# * why a model's output is `(N, 1)` while the targets are often `(N,)`, and what `MSELoss` computes with them: an `(N, N)` matrix;
# * what that does to training (the model learns the mean: R² near 0), measured and plotted;
# * why it is only a warning, which losses do not even warn, and how to make the silent case fail loudly;
# * multi-output targets `(N, K)`, a target that arrives flattened as `(N*K,)`, `squeeze()` at N = 1,
#   and metrics, which broadcast in the same way.
#
# The exercises for this lesson are in `exercises/03-regression-and-broadcasting/`.

# %%
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## 1. One number per sample, in a column
#
# We start with N = 8 samples of 3 features and a one-layer regressor with one output, K = 1.
# `nn.Linear(3, 1)` maps each row of `X` to a row of **one** number, so the output is a column, `(N, 1)`.
# The targets, on the other hand, usually arrive as a flat vector `(N,)`: a column of a table, `torch.tensor(list)`,
# or a dataset that returns a plain float per sample.

# %%
torch.manual_seed(0)
N, n_features = 8, 3
X = torch.randn(N, n_features)                   # (N, F)
net = nn.Linear(n_features, 1)
out = net(X)                                     # (N, 1) one prediction per row
y = X @ torch.tensor([1.5, -2.0, 0.5]) + 3.0     # (N,) one true value per sample
print('X', tuple(X.shape), '| out', tuple(out.shape), '| y', tuple(y.shape))
print(tp.contract_for('MSELoss').describe())

# %% [markdown]
# The contract is short: the target must have **exactly** the output's shape. Drawn side by side, both hold N numbers,
# but `out` has a second axis of size 1 that `y` lacks.

# %%
fig = tp.show_shapes({'out': out, 'y': y}, axes={'out': 'N K', 'y': 'N'})
fig.set_size_inches(5, 5.5)                      # two one-column tensors: a taller figure keeps the labels apart
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The warning
#
# `F.mse_loss(out, y)` runs, returns a number, and prints the warning on stderr. A printed warning is easy to miss in a
# long log, and a notebook shows it only the first time a line runs. To see it for what it is, we turn warnings into
# errors for one line (`warnings.simplefilter("error")`), and `tp.show_error` prints it with a diagnosis.

# %% tags=["error-demo"]
with tp.show_error('MSELoss', out, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # a warning becomes an exception, here only
        F.mse_loss(out, y)

# %% [markdown]
# ## 3. What it actually computes: an (N, N) matrix
#
# `mse_loss` computes `(out - y) ** 2` element by element, and `-` **broadcasts**: shapes are lined up from the right,
# and a dim of size 1 is stretched to match the other side.
#
# | | dim 0 | dim 1 |
# |---|---|---|
# | `out` | 8 | 1 |
# | `y` | | 8 |
# | result | 8 | 8 |
#
# `y`'s only dim is lined up with `out`'s *last* dim (of size 1), not with N. Both are stretched, and entry `[i, j]` of
# the result is `(out[i] - y[j]) ** 2`: **every prediction against every target**. `reduction="none"` shows it
# (the warning is now known, so we silence it for this cell only):

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                  # seen above; here we want the numbers
    loss_matrix = F.mse_loss(out, y, reduction='none')       # (N, N)
    broken = F.mse_loss(out, y)                              # () mean of all N * N pairs
correct = F.mse_loss(out, y.view_as(out))                    # () mean of the N matching pairs
diagonal = loss_matrix.diagonal().mean()                     # () the pairs that belong together
print('loss matrix', tuple(loss_matrix.shape))
print(f'broken  F.mse_loss(out, y)            {broken:.4f}')
print(f'correct F.mse_loss(out, y.view_as(out)) {correct:.4f}')
print(f'mean of the diagonal of the matrix    {diagonal:.4f}')

# %% [markdown]
# Only the diagonal pairs a prediction with its own target; the other N² - N entries pair it with somebody else's.

# %%
fig, ax = plt.subplots(figsize=(5.5, 4.5))
im = ax.imshow(loss_matrix.detach(), cmap='viridis')
ax.plot(range(N), range(N), 'wo', markersize=5, markerfacecolor='none', label='matching pairs (i = j)')
ax.set_xlabel('target index j (y[j])')
ax.set_ylabel('prediction index i (out[i])')
ax.set_title("F.mse_loss(out, y, reduction='none'): (N, N)")
fig.colorbar(im, ax=ax, label='(out[i] - y[j])²')
ax.legend(loc='upper right', fontsize=8)
plt.show()

# %% [markdown]
# Why does this ruin training? Averaging over all pairs splits into two parts (the cross term averages to zero):
#
# $$\frac{1}{N^2}\sum_{i,j}(o_i - y_j)^2 = \frac{1}{N}\sum_i (o_i - \bar y)^2 + \operatorname{var}(y)$$
#
# The first part is smallest when **every** prediction equals the mean of the targets `ȳ`; the second does not depend
# on the model at all. So the broken loss pulls each output towards `ȳ`, whatever its input, and can never go below
# `var(y)`. The numbers agree:

# %%
o = out.detach()[:, 0]                                       # (N,)
by_formula = ((o - y.mean()) ** 2).mean() + y.var(unbiased=False)   # ()
print(f'broken loss {broken:.4f} | mean (o_i - ȳ)² + var(y) = {by_formula:.4f}')

# %% [markdown]
# ## 4. The measured consequence: the model learns the mean
#
# Now the same small MLP (4 → 32 → 1) is trained twice on N = 200 samples of a smooth function with some noise.
# Both runs start from the same weights and take 150 Adam steps. The only difference: the first gets the targets as
# `y.view_as(out)`, `(N, 1)`, and the second as they came, `(N,)`. We record the warnings of the second run instead of
# letting 150 of them reach the page.

# %%
N, n_features = 200, 4
g = torch.Generator().manual_seed(0)
X = torch.randn(N, n_features, generator=g)                  # (N, F)
y = X @ torch.tensor([2.0, -1.0, 0.5, 1.5]) + torch.sin(2 * X[:, 0]) + 3.0 \
    + 0.1 * torch.randn(N, generator=g)                      # (N,)


def make_mlp():
    torch.manual_seed(0)                                     # the same initial weights for both runs
    return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 1))


def train(net, target, steps=150, lr=0.02):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = net(X)                                         # (N, 1)
        loss = F.mse_loss(out, target)                       # ()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


net_ok, net_broken = make_mlp(), make_mlp()
losses_ok = train(net_ok, y.view(N, 1))                      # target (N, 1): the output's shape
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    losses_broken = train(net_broken, y)                     # target (N,): broadcast to (N, N)
with torch.no_grad():
    pred_ok, pred_broken = net_ok(X), net_broken(X)          # (N, 1) each
r2_ok, r2_broken = checks.r2_score(pred_ok, y), checks.r2_score(pred_broken, y)
print(f'target (N, 1): final loss {losses_ok[-1]:.4f}, R² {r2_ok:.3f}')
print(f'target (N,):   final loss {losses_broken[-1]:.4f}, R² {r2_broken:.3f}, '
      f'warnings recorded: {len(caught)}')
print(f'var(y) = {y.var(unbiased=False):.4f} | mean of y {y.mean():.3f} | broken predictions: '
      f'mean {pred_broken.mean():.3f}, std {pred_broken.std():.4f}')

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
lo, hi = float(y.min()), float(y.max())
ax1.plot([lo, hi], [lo, hi], color='gray', linestyle='--', label='perfect: prediction = truth')
ax1.scatter(y, pred_ok[:, 0], s=12, label=f'target (N, 1): R² = {r2_ok:.3f}')
ax1.scatter(y, pred_broken[:, 0], s=12, label=f'target (N,): R² = {r2_broken:.3f}')
ax1.set_xlabel('true value y')
ax1.set_ylabel('prediction')
ax1.set_title(f'Same MLP, same data (N = {N}), 150 Adam steps')
ax1.legend(fontsize=8)
ax2.plot(losses_ok, label='target (N, 1)')
ax2.plot(losses_broken, label='target (N,) (broadcast)')
ax2.axhline(float(y.var(unbiased=False)), color='gray', linestyle='--', label='var(y): the floor of the broken loss')
ax2.set_xlabel('Adam step')
ax2.set_ylabel('training loss (MSE as computed)')
ax2.set_yscale('log')
ax2.set_title('Training loss')
ax2.legend(fontsize=8)
plt.show()

# %% [markdown]
# The broken model draws a horizontal line: it predicts (almost) the same number, the mean of `y`, for every input, and
# R² (the fraction of the targets' variance explained) is near 0. Its loss curve is not alarming: it falls at first,
# as the outputs move to the mean, and settles at `var(y)`, a value that looks like a hard problem, not like a bug.
# The only sign was the warning, once per run in a notebook.
#
# The fix is one call that makes the two shapes equal: `y.view_as(out)` (or `y.unsqueeze(1)`), or the other way
# round, `out.squeeze(1)` against `y`.
#
# ## 5. Why only a warning, and which losses do not even warn
#
# Broadcasting is a feature: `out - y.mean()`, adding a bias `(K,)` to `(N, K)`, or normalising by a `(1, K)` row all
# rely on it, and `(N, 1)` against `(N,)` is legal arithmetic. A loss cannot know whether you meant it, so the
# regression losses (`MSELoss`, `L1Loss`, `SmoothL1Loss`, `HuberLoss`) compare the two sizes, warn, and carry on.
# The binary cross-entropy losses decided to refuse the same shapes outright:

# %% tags=["error-demo"]
y01 = (y[:8] > 3).float()                                   # (8,) binary targets
logit = net_ok(X[:8])                                       # (8, 1)
with tp.show_error('BCEWithLogitsLoss', logit, y01):
    F.binary_cross_entropy_with_logits(logit, y01)

# %% [markdown]
# Other losses with a target of the output's shape check nothing at all. Below, each loss gets an `(N, 1)` output
# and an `(N,)` target (values chosen only to be valid for each loss); we count the warnings and look at the
# unreduced shape.

# %%
n = 8
out8 = net_ok(X[:n]).detach()                               # (n, 1)
y8 = y[:n]                                                  # (n,)
var8 = torch.full((n, 1), 0.5)                              # (n, 1) variances for the Gaussian NLL
losses = {
    'MSELoss': lambda o, t, **kw: F.mse_loss(o, t, **kw),
    'L1Loss': lambda o, t, **kw: F.l1_loss(o, t, **kw),
    'HuberLoss': lambda o, t, **kw: F.huber_loss(o, t, **kw),
    'GaussianNLLLoss': lambda o, t, **kw: F.gaussian_nll_loss(o, t, var8, **kw),
    'PoissonNLLLoss': lambda o, t, **kw: F.poisson_nll_loss(o / 10, t.abs(), **kw),  # a log-rate, counts >= 0
    'KLDivLoss': lambda o, t, reduction='batchmean': F.kl_div(o.log_softmax(0), t.softmax(0), reduction=reduction),
}
print(f"{'loss':<16} {'warnings':>8} {'unreduced shape':>16} {'mean, as given':>15} {'mean, view_as':>14}")
for name, fn in losses.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        per_element = fn(out8, y8, reduction='none')           # (n, n) after broadcasting
        as_given = fn(out8, y8)                                # ()
    fixed = fn(out8, y8.view_as(out8))                         # ()
    print(f'{name:<16} {len(caught):>8} {str(tuple(per_element.shape)):>16} {as_given:>15.4f} {fixed:>14.4f}')

# %% [markdown]
# Each pair of warnings in the first rows comes from the two calls. `GaussianNLLLoss`, `PoissonNLLLoss` and
# `KLDivLoss` build the same `(N, N)` matrix, give a wrong mean, and say nothing.
#
# ## 6. Making the silent case loud
#
# Two habits, the second of which covers every loss:
#
# 1. **Warnings as errors** in tests and while debugging: `warnings.simplefilter("error")` inside
#    `warnings.catch_warnings()` (as in section 2), `python -W error::UserWarning`, or pytest's `-W error`.
#    The autograder of this course does exactly that in every check. It catches the four regression losses that warn,
#    and nothing else.
# 2. **Assert that the unreduced loss has the target's shape.** With `reduction="none"` a loss returns one value per
#    target element, so any other shape means something was broadcast. Written once, it guards every loss:

# %%
def loud_loss(loss_fn, out, y, **kw):
    """loss_fn(out, y, **kw) averaged, but an error if the target was broadcast against the output."""
    per_element = loss_fn(out, y, reduction='none', **kw)     # y's shape, unless something broadcast
    assert per_element.shape == y.shape, (
        f'per-element loss {tuple(per_element.shape)}: target size {tuple(y.shape)} is different to the input size '
        f'{tuple(out.shape)}, and broadcasting paired every output with every target')
    return per_element.mean()


print(f'same shapes: {loud_loss(F.gaussian_nll_loss, out8, y8.view_as(out8), var=var8):.4f}')

# %% tags=["error-demo"]
with tp.show_error():
    loud_loss(F.gaussian_nll_loss, out8, y8, var=var8)     # (n, 1) with (n,): silent without the assert

# %% [markdown]
# The first habit turns a warning into an error; the second turns a silent `(N, N)` into one.
# Neither hides anything, unlike `warnings.filterwarnings("ignore")`, which removes the only signal there was and
# leaves the broken loss exactly as broken (section 4's model was trained with the warnings out of sight too).
#
# ## 7. Several outputs per sample: (N, K)
#
# A model that predicts K numbers per sample (a position `(x, y, z)`, several prices) outputs `(N, K)`, and the target
# is `(N, K)`: row n holds sample n's K true values. MSE averages over all N·K elements.

# %%
N, K = 4, 3
torch.manual_seed(1)
X = torch.randn(N, n_features)                              # (N, F)
net_k = nn.Linear(n_features, K)
out = net_k(X)                                              # (N, K)
y = torch.randn(N, K)                                       # (N, K)
per_element = F.mse_loss(out, y, reduction='none')          # (N, K)
print('out', tuple(out.shape), '| y', tuple(y.shape), '| per element', tuple(per_element.shape),
      f'| mean {F.mse_loss(out, y):.4f}')

# %% [markdown]
# Targets are often stored flat, one long vector `(N*K,)`: sample 0's K values, then sample 1's, and so on. The sizes
# K and N·K cannot broadcast, so this time the warning is followed by an error. (We record the warning, so that only
# the error reaches `tp.show_error`, and print the warning after it.)

# %% tags=["error-demo"]
y_flat = y.reshape(-1)                                      # (N*K,)
with tp.show_error('MSELoss', out, y_flat):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.mse_loss(out, y_flat)
print(f'\n(before the error: {len(caught)} warning: {caught[0].message})')

# %% [markdown]
# `y_flat.view_as(out)` gives each sample its row back, **if** the values are stored sample by sample. A target stored
# output by output (all K = 0 values, then all K = 1 values) has the same shape `(N*K,)`, and `view_as` would run and
# silently pair the wrong numbers; that layout needs `view(K, N).T`. Look at the data once: row 0 must be sample 0.

# %%
y_by_output = y.T.reshape(-1)                               # (N*K,) stored output by output
right = F.mse_loss(out, y_flat.view_as(out))                # () sample-major: view_as is right
wrong = F.mse_loss(out, y_by_output.view_as(out))           # () output-major: runs, wrong pairs
fixed = F.mse_loss(out, y_by_output.view(K, N).T)           # () output-major, read correctly
print(f'(N, K) target {F.mse_loss(out, y):.4f} | flat, view_as {right:.4f} | '
      f'output-major, view_as {wrong:.4f} | output-major, view(K, N).T {fixed:.4f}')

# %% [markdown]
# ## 8. N = 1 and a bare squeeze()
#
# `out.squeeze()` looks like the natural fix for `(N, 1)` against `(N,)`, and for N ≥ 2 it is. But a bare `squeeze()`
# removes **every** dim of size 1, and at N = 1 (the last batch of an epoch, a single example at inference) that
# includes the batch dim:

# %% tags=["error-demo"]
out_1 = net_ok(torch.randn(1, 4))                           # (1, 1)
y_1 = torch.tensor([2.5])                                   # (1,)
with tp.show_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(out_1.squeeze(), y_1)                    # () against (1,)

# %% [markdown]
# Here the value happens to be right (a scalar broadcast against one target), but the warning is back, and a check
# that runs with warnings as errors fails. Name the dim, and every N works:

# %%
for N_ in (1, 5):
    o = net_ok(torch.randn(N_, 4))                          # (N_, 1)
    t = torch.randn(N_)                                     # (N_,)
    print(f'N = {N_}: out.squeeze(1) {tuple(o.squeeze(1).shape)}, y.view_as(out) {tuple(t.view_as(o).shape)}, '
          f'loss {F.mse_loss(o.squeeze(1), t):.4f} = {F.mse_loss(o, t.view_as(o)):.4f}')

# %% [markdown]
# ## 9. Metrics broadcast the same way
#
# A metric is a formula on `pred` and `y`, and the same `(N, 1)` against `(N,)` turns it into an `(N, N)` matrix.
# No loss is involved, so nothing warns. The best test of a metric is to give it **perfect** predictions:

# %%
_, y = checks.regression_data(200, seed=0)                  # (N,) targets
N = y.shape[0]
pred = y[:, None].clone()                                   # (N, 1) perfect predictions, as a model outputs them
tol = 0.5
mae = (pred - y).abs().mean()                               # () over (N, N)
within_sum = ((pred - y).abs() <= tol).sum().item() / N     # "fraction" within tol, counted over (N, N)
within_mean = ((pred - y).abs() <= tol).float().mean()      # () mean over (N, N)
r2 = 1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()   # ()
print(f'perfect predictions, broadcast:  MAE {mae:.3f} | within {tol}: sum/N {within_sum:.3f}, '
      f'mean {within_mean:.3f} | R² {r2:.1f}')
p = pred.squeeze(1)                                          # (N,)
print(f'perfect predictions, squeeze(1): MAE {(p - y).abs().mean():.3f} | within {tol}: '
      f'{((p - y).abs() <= tol).float().mean():.3f} | R² {1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum():.3f}')

# %% [markdown]
# A perfect model gets a mean absolute error above 1, an "accuracy within 0.5" above 1 (or, as a mean, far below 1),
# and an R² of 1 - 2N. Each metric must give its best value (0, 1, 1) on perfect predictions; that one line of
# testing catches all three.
#
# ## Summary
#
# * A regression target has **exactly the output's shape**: `(N, K)` against `(N, K)`, and for one output `(N, 1)`
#   against `(N, 1)`. `MSELoss`, `L1Loss`, `SmoothL1Loss` and `HuberLoss` accept any shape, but only equal shapes mean
#   what you want.
# * "Using a target size that is different to the input size" means the loss **broadcast** the target: `(N, 1)` against
#   `(N,)` lines `y` up with the size-1 dim, and the loss averages an `(N, N)` matrix of every prediction against
#   every target. That mean equals `mean (o_i - ȳ)² + var(y)`: each output is pulled towards the mean of the targets.
# * Measured: the same MLP reaches R² 0.993 with `y.view_as(out)` and R² ≈ 0 with `(N,)` targets, a horizontal
#   line of predictions, while its loss settles at `var(y)` and looks like a hard problem, not a bug.
# * It is a warning because broadcasting is legal arithmetic; the BCE losses raise instead. `GaussianNLLLoss`,
#   `PoissonNLLLoss` and `KLDivLoss` broadcast **without a warning**.
# * Make it loud, never quiet: run with warnings as errors, and assert that the unreduced loss
#   (`reduction="none"`) has the target's shape. `warnings.filterwarnings("ignore")` hides the bug and fixes nothing.
# * The fixes: `y.view_as(out)`, `y.unsqueeze(1)` or `out.squeeze(1)`; a flat `(N*K,)` target: `y.view_as(out)` if it is
#   stored sample by sample (check!). Never a bare `squeeze()`: at N = 1 it removes the batch dim too.
# * Metrics broadcast too, without any warning: test each on perfect predictions (MAE 0, accuracy 1.0, R² 1.0).
#
# ## Now the exercises
#
# Open `exercises/03-regression-and-broadcasting/` and work through the notebook there. The checks run with
# warnings as errors, and also with N = 1 and an odd N, so name your dims.
