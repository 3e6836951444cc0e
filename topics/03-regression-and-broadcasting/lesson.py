# %% [markdown]
# # 03 · Regression: output (N, K), target (N, K), and broadcasting
#
# *Time for a novice: about 50 minutes.*
#
# A regressor predicts numbers, and the target holds the true numbers: one per output, in exactly the
# output's shape. Get that shape slightly wrong and PyTorch prints a `UserWarning` that begins "Using a
# target size ... that is different to the input size" and mentions broadcasting; then it carries on. This
# lesson answers that warning completely:
#
# * the contract of the regression losses, and **broadcasting** in full (lesson 01, §4.2 gave a short
#   primer): the rule that decides what `a - b` means when `a` and `b` have different shapes;
# * why a model's output is `(N, 1)` while the targets are often `(N,)`, and what `MSELoss` computes with
#   them: an `(N, N)` matrix of every prediction against every target;
# * what that does to training, measured, and why it is only a warning; which losses do not even warn, and
#   how to make the silent case fail loudly;
# * several outputs per sample `(N, K)`, a target that arrives flat, and metrics, which broadcast in the same
#   way.
#
# The exercises for this lesson are in `exercises/03-regression-and-broadcasting/`.

# %%
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## 1. The contract: a value target has exactly the input's shape
#
# The whole course rests on two rules about targets:
#
# * **class-id targets** (`CrossEntropyLoss`, lessons 01 and 05) have the input's shape **without the class
#   axis**, which is dim 1: scores `(N, C)` take ids `(N,)`;
# * **value targets** (`BCEWithLogitsLoss` in lesson 02, and every regression loss here) have **exactly the
#   input's shape**: one true value per predicted value.
#
# Why is the class axis dim 1? PyTorch lays a batch out "channels first": a batch of images is
# `(N, C, H, W)`, with the colour channels at dim 1 (lesson 04), and a loss over classes reads its classes
# where the channels are. That is why a sequence model's scores `(N, T, V)` have to be permuted to
# `(N, V, T)` before `CrossEntropyLoss` (lesson 05). Regression has no class axis at all, so its rule is the
# simple one. Here is the contract card of `MSELoss` for a model with K outputs per sample:

# %%
fig = tp.show_contract('MSELoss', (6, 3), axes='N K')
plt.show()
print(tp.contract_for('MSELoss').describe())

# %% [markdown]
# ### One number per sample, in a column
#
# Take N = 6 samples of 3 features and a one-layer regressor with one output, K = 1. `nn.Linear(3, 1)` maps
# each row of `X` to a row of **one** number, so the output is a column, `(N, 1)`. The targets, on the other
# hand, usually arrive as a flat vector `(N,)`.

# %%
torch.manual_seed(0)
N, n_features = 6, 3
X = torch.randn(N, n_features)                   # (N, F)
net = nn.Linear(n_features, 1)
out = net(X)                                     # (N, 1) one prediction per row
y = X @ torch.tensor([1.5, -2.0, 0.5]) + 3.0     # (N,) one true value per sample
print('X', tuple(X.shape), '| out', tuple(out.shape), '| y', tuple(y.shape))

# %%
fig = tp.show_shapes({'out': out, 'y': y}, axes={'out': 'N K', 'y': 'N'})
plt.show()

# %% [markdown]
# Both hold N numbers, but `out` has a second axis of size 1 that `y` lacks (drawn as square cells with a
# `K=1` axis against round cells with none). Where do `(N,)` targets come from? A column of a table
# (`df['price']`), a `torch.tensor(list_of_floats)`, or a `Dataset` whose `__getitem__` returns one number
# per sample: the `DataLoader` stacks what each sample returns along a new dim 0. What a sample returns
# decides the batch's shape:

# %%
prices = torch.tensor([310.0, 255.5, 402.0, 198.0])     # (4,) one price per house


class Houses(torch.utils.data.Dataset):
    def __init__(self, item):
        self.item = item                                # how one sample's target is returned

    def __len__(self):
        return len(prices)

    def __getitem__(self, i):
        return self.item(prices[i])


def shape_of(batch):
    if isinstance(batch, torch.Tensor):
        return f'a tensor {tuple(batch.shape)}'
    return f'a {type(batch).__name__} holding ' + ', '.join(shape_of(b) for b in batch)


for label, item in [('p (a 0-d tensor)', lambda p: p),
                    ('torch.tensor([float(p)])', lambda p: torch.tensor([float(p)])),
                    ('[p] (a list)', lambda p: [p])]:
    batch = next(iter(torch.utils.data.DataLoader(Houses(item), batch_size=4)))
    print(f'__getitem__ returns {label:<26} -> the batch of targets is {shape_of(batch)}')

# %% [markdown]
# A 0-d target per sample gives `(N,)`; a one-element tensor gives `(N, 1)`; a one-element *list* gives a
# list that holds one `(N,)` tensor (the loader collates each position of the list separately). Any of them
# can meet a model whose output is `(N, 1)`, or `(N,)` if the model ends in `squeeze(1)`. The loss has to be
# told which values belong together, and for that you need the broadcasting rule.
#
# ## 2. Broadcasting, in full
#
# An element-wise operation (`-`, `*`, `<=`, `(a - b) ** 2` inside a loss) on two tensors of different shapes
# follows three rules:
#
# 1. line the two shapes up **from the right** (the last dims face each other);
# 2. where one shape is shorter, its missing dims count as **size 1**;
# 3. facing sizes that are equal match; a **size 1 is stretched** (its values copied) to the other size; any
#    other pair is an error.
#
# Most of the time broadcasting is exactly what you want. With N = 4 samples of K = 3 outputs:

# %%
N, K = 4, 3
Y = torch.arange(12.0).reshape(N, K)                     # (N, K) sample n's K values in row n
cases = {
    'Y - Y.mean(0)        (N, K) with (K,)': lambda: Y - Y.mean(0),                  # centre each output
    'Y - Y.mean(1, keepdim=True)  with (N, 1)': lambda: Y - Y.mean(1, keepdim=True),  # centre each sample
    'Y * torch.ones(K)    (N, K) with (K,)': lambda: Y * torch.ones(K),              # one weight per output
    'Y - Y.mean(1)        (N, K) with (N,)': lambda: Y - Y.mean(1),
}
for text, compute in cases.items():
    try:
        print(f'{text:<44} -> {tuple(compute().shape)}')
    except RuntimeError as err:
        print(f'{text:<44} -> RuntimeError: {err}')

# %% [markdown]
# Reductions decide which of these shapes you hold: `Y.mean(0)` averages **over** dim 0 (the samples) and
# removes it, leaving one number per output, `(K,)`; `Y.mean(1)` averages over the outputs and leaves `(N,)`;
# `keepdim=True` keeps the reduced dim as size 1, `(N, 1)`, so that the result lines up with the rows again.
# The same goes for `sum`, `amax`, `all` and `any` with a `dim`. The last line failed only because N and K
# differ: lined up from the right, `(N,)` faces K. Had N equalled K, it would have run and subtracted sample
# j's mean from output j.
#
# Now the case of section 1, `(N, 1)` against `(N,)`. Lined up from the right, `y`'s N faces `out`'s 1, and
# `y`'s missing dim faces `out`'s N. **Both** are stretched:

# %%
N = 6                                                    # section 1's out and y again
fig = tp.show_broadcast(out.detach(), y, names=('out', 'y'), op='-')
plt.show()
print('out - y:', tuple((out - y).shape),
      '| torch.broadcast_shapes:', tuple(torch.broadcast_shapes(out.shape, y.shape)))

# %% [markdown]
# Entry `[i, j]` of the result is `out[i] - y[j]`: **every prediction against every target**. Only the
# diagonal pairs a prediction with its own target.
#
# ## 3. The warning
#
# `F.mse_loss(out, y)` runs, returns a number, and prints the warning on stderr. A printed warning is easy to
# miss in a long log, and a notebook shows it only the first time a line runs. To see it for what it is, we
# turn warnings into errors for one line (`warnings.simplefilter("error")`), and `tp.show_error` prints it
# with a diagnosis.

# %% tags=["error-demo"]
with tp.show_error('MSELoss', out, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # a warning becomes an exception, here only
        F.mse_loss(out, y)

# %% [markdown]
# ## 4. What it actually computes: the mean of an (N, N) matrix
#
# `mse_loss` computes `(out - y) ** 2` element by element, with the broadcasting of section 2, then averages.
# `reduction="none"` shows the matrix before the average (the warning is now known, so we silence it for this
# cell only):

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                  # seen above; here we want the numbers
    loss_matrix = F.mse_loss(out, y, reduction='none')       # (N, N)
    broken = F.mse_loss(out, y)                              # () mean of all N * N pairs
correct = F.mse_loss(out, y.view_as(out))                    # () mean of the N matching pairs
diagonal = loss_matrix.diagonal().mean()                     # () the pairs that belong together
print('loss matrix', tuple(loss_matrix.shape))
print(f'broken  F.mse_loss(out, y)              {broken:.4f}')
print(f'correct F.mse_loss(out, y.view_as(out)) {correct:.4f}')
print(f'mean of the diagonal of the matrix      {diagonal:.4f}')

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
# `y.view_as(out)` reads `y`'s N values as `out`'s shape, `(N, 1)`, so that the two shapes are equal and
# nothing is stretched. Why does the broken mean ruin training? Averaging over all pairs splits into two
# parts (the cross term averages to zero):
#
# $$\frac{1}{N^2}\sum_{i,j}(o_i - y_j)^2 = \frac{1}{N}\sum_i (o_i - \bar y)^2 + \operatorname{var}(y)$$
#
# The first part is smallest when **every** prediction equals the mean of the targets `ȳ`; the second does
# not depend on the model at all. So the broken loss pulls each output towards `ȳ`, whatever its input, and
# can never go below `var(y)`. The numbers agree:

# %%
o = out.detach()[:, 0]                                       # (N,)
by_formula = ((o - y.mean()) ** 2).mean() + y.var(unbiased=False)   # ()
print(f'broken loss {broken:.4f} | mean (o_i - ȳ)² + var(y) = {by_formula:.4f}')

# %% [markdown]
# ## 5. The measured consequence: the model learns the mean
#
# To score a regressor we use **R²**, the fraction of the targets' variance that the predictions explain:
#
# $$R^2 = 1 - \frac{\sum_n (y_n - \hat y_n)^2}{\sum_n (y_n - \bar y)^2}$$
#
# It is 1 for perfect predictions, 0 for a model that predicts the mean `ȳ` for every sample, and negative
# for a model worse than that. Written with the rule of this lesson, the predictions and targets must have
# the same shape:

# %%
def r2_score(pred, y):
    """R² of predictions against targets of the same shape."""
    assert pred.shape == y.shape, f'pred {tuple(pred.shape)} and y {tuple(y.shape)} would broadcast'
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


# %% [markdown]
# Now the same small MLP (4 → 32 → 1) is trained twice on N = 200 samples of a smooth function with some
# noise. Both runs start from the same weights and take 150 Adam steps. The only difference: the first gets
# the targets as `y.view(N, 1)`, the output's shape, and the second as they came, `(N,)`. We record the
# warnings of the second run instead of letting 150 of them reach the page.

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
    pred_ok, pred_broken = net_ok(X)[:, 0], net_broken(X)[:, 0]    # (N,) each
r2_ok, r2_broken = r2_score(pred_ok, y), r2_score(pred_broken, y)
print(f'target (N, 1): final loss {losses_ok[-1]:.4f}, R² {r2_ok:.3f}')
print(f'target (N,):   final loss {losses_broken[-1]:.4f}, R² {r2_broken:.3f}, '
      f'warnings recorded: {len(caught)}')
print(f'var(y) = {y.var(unbiased=False):.4f} | mean of y {y.mean():.3f} | broken predictions: '
      f'mean {pred_broken.mean():.3f}, std {pred_broken.std():.4f}')

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
lo, hi = float(y.min()), float(y.max())
ax1.plot([lo, hi], [lo, hi], color='gray', linestyle='--', label='perfect: prediction = truth')
ax1.scatter(y, pred_ok, s=12, label=f'target (N, 1): R² = {r2_ok:.3f}')
ax1.scatter(y, pred_broken, s=12, label=f'target (N,): R² = {r2_broken:.3f}')
ax1.set_xlabel('true value y')
ax1.set_ylabel('prediction')
ax1.set_title(f'Same MLP, same data (N = {N}), 150 Adam steps')
ax1.legend(fontsize=8)
ax2.plot(losses_ok, label='target (N, 1)')
ax2.plot(losses_broken, label='target (N,) (broadcast)')
ax2.axhline(float(y.var(unbiased=False)), color='gray', linestyle='--',
            label='var(y): the floor of the broken loss')
ax2.set_xlabel('Adam step')
ax2.set_ylabel('training loss (MSE as computed)')
ax2.set_yscale('log')
ax2.set_title('Training loss')
ax2.legend(fontsize=8)
plt.show()

# %% [markdown]
# The broken model draws a horizontal line: it predicts (almost) the same number, the mean of `y`, for every
# input, and its R² is near 0. Its loss curve is not alarming: it falls at first, as the outputs move to the
# mean, and settles at `var(y)`, a value that looks like a hard problem, not like a bug. The only sign was
# the warning, once per run in a notebook.
#
# Two habits make this loud without reading any warning. A **baseline**: the loss of a model that ignores its
# input and predicts the mean of `y` for every sample. A trained model must beat it; the broken one only
# matches it. And **overfitting one small batch**: 16 samples are easy to learn by heart, so a correctly
# wired loss falls towards 0, while the broadcast one cannot go below the batch's `var(y)`. (The broken runs'
# warnings are known; they are silenced here so that only the two habits speak.)

# %%
baseline = tp.baseline_loss(y, nn.MSELoss())                 # predicts y.mean() for everyone
with torch.no_grad():
    real_ok = F.mse_loss(pred_ok, y)                         # () each prediction against its own target
    real_broken = F.mse_loss(pred_broken, y)                 # ()
print(f'MSE, each prediction against its own target: trained with (N, 1) {real_ok:.4f} | '
      f'trained with (N,) {real_broken:.4f} | baseline {baseline:.4f}')
small = make_mlp()
tp.overfit_one_batch(small, X[:16], y[:16].view(16, 1), F.mse_loss)        # target (16, 1)
small = make_mlp()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tp.overfit_one_batch(small, X[:16], y[:16], F.mse_loss)                # target (16,): broadcast

# %% [markdown]
# The fix is one call that makes the two shapes equal: `y.view_as(out)` (or `y.unsqueeze(1)`), or the other
# way round, `out.squeeze(1)` against `y`.
#
# ## 6. Why only a warning, and which losses do not even warn
#
# Broadcasting is a feature: section 2's `Y - Y.mean(0)` and per-output weights rely on it, and `(N, 1)`
# against `(N,)` is legal arithmetic. A loss cannot know whether you meant it, so the regression losses
# (`MSELoss`, `L1Loss`, `SmoothL1Loss`, `HuberLoss`) compare the two sizes, warn, and carry on. The binary
# cross-entropy losses of lesson 02 refuse the same shapes outright:

# %% tags=["error-demo"]
y01 = (y[:8] > 3).float()                                   # (8,) binary targets
logit = net_ok(X[:8])                                       # (8, 1)
with tp.show_error('BCEWithLogitsLoss', logit, y01):
    F.binary_cross_entropy_with_logits(logit, y01)

# %% [markdown]
# Other regression losses check nothing at all. `GaussianNLLLoss` predicts a mean and a variance per value
# (its third argument is the variance); `PoissonNLLLoss` is for counts (visitors per hour, say) and takes the
# log of the predicted rate. Below, each loss gets an `(n, 1)` output and an `(n,)` target (values chosen
# only to be valid for each loss); we count the warnings and look at the unreduced shape.

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
    'PoissonNLLLoss': lambda o, t, **kw: F.poisson_nll_loss(o / 10, t.abs().round(), **kw),  # log-rate
}
print(f"{'loss':<16} {'warnings':>8} {'unreduced shape':>16} {'mean, as given':>15} {'mean, view_as':>14}")
for name, fn in losses.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        per_element = fn(out8, y8, reduction='none')           # (n, n) after broadcasting
        as_given = fn(out8, y8)                                # ()
    fixed = fn(out8, y8.view_as(out8))                         # ()
    shape = str(tuple(per_element.shape))
    print(f'{name:<16} {len(caught):>8} {shape:>16} {as_given:>15.4f} {fixed:>14.4f}')

# %% [markdown]
# Each pair of warnings in the first rows comes from the two calls. `GaussianNLLLoss` and `PoissonNLLLoss`
# build the same `(n, n)` matrix, give a wrong mean, and say nothing.
#
# ## 7. Making the silent case loud
#
# Two habits, the second of which covers every loss:
#
# 1. **Warnings as errors** in tests and while debugging: `warnings.simplefilter("error")` inside
#    `warnings.catch_warnings()` (as in section 3), `python -W error::UserWarning`, or pytest's `-W error`.
#    The autograder of this course does exactly that in every check. It catches the four regression losses
#    that warn, and nothing else.
# 2. **Assert that the unreduced loss has the target's shape.** With `reduction="none"` a loss returns one
#    value per target element, so any other shape means something was broadcast. Written once, it guards
#    every loss:

# %%
def loud_loss(loss_fn, out, y, **kw):
    """loss_fn(out, y, **kw) averaged, but an error if the target was broadcast against the output."""
    per_element = loss_fn(out, y, reduction='none', **kw)     # y's shape, unless something broadcast
    assert per_element.shape == y.shape, (
        f'per-element loss {tuple(per_element.shape)}: target size {tuple(y.shape)} is different to the '
        f'input size {tuple(out.shape)}, and broadcasting paired every output with every target')
    return per_element.mean()


print(f'same shapes: {loud_loss(F.gaussian_nll_loss, out8, y8.view_as(out8), var=var8):.4f}')

# %% tags=["error-demo"]
with tp.show_error():
    loud_loss(F.gaussian_nll_loss, out8, y8, var=var8)     # (n, 1) with (n,): silent without the assert

# %% [markdown]
# The first habit turns a warning into an error; the second turns a silent `(N, N)` into one. The message
# names both shapes, so whoever reads it sees at once which side is off. Neither hides anything, unlike
# `warnings.filterwarnings("ignore")`, which removes the only signal there was and leaves the broken loss
# exactly as broken (section 5's model was trained with the warnings out of sight too).
#
# ## 8. Several outputs per sample: (N, K)
#
# A model that predicts K numbers per sample (a position `(x, y, z)`, several prices) outputs `(N, K)`, and
# the target is `(N, K)`: row n holds sample n's K true values. MSE averages over all N·K elements.

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
# Targets are often stored flat, one long vector `(N*K,)`: sample 0's K values, then sample 1's, and so on.
# The sizes K and N·K cannot broadcast (rule 3), so this time the warning is followed by an error. (We record
# the warning, so that only the error reaches `tp.show_error`, and print the warning after it.)

# %% tags=["error-demo"]
y_flat = y.reshape(-1)                                      # (N*K,)
with tp.show_error('MSELoss', out, y_flat):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.mse_loss(out, y_flat)
print(f'\n(before the error: {len(caught)} warning: {caught[0].message})')

# %% [markdown]
# `y_flat.view_as(out)` gives each sample its row back, **if** the values are stored sample by sample. `view`
# (and `reshape`) never move a value: they read the same memory order into a new shape, row after row. A
# target stored output by output (all of output 0's N values, then all of output 1's) has the same shape
# `(N*K,)`, and `view_as` would run and silently pair the wrong numbers. Read in memory order, that vector is
# a `(K, N)` table, and turning a table's rows into columns is a job for `permute` (for two dims, `.T`),
# which moves each value with its axes. The picture numbers each value by its place in memory, for K = 3
# outputs of N = 4 samples:

# %%
fig = tp.show_memory_order(torch.zeros(K, N), (N, K), (1, 0))
plt.show()

# %% [markdown]
# Only `permute` gives sample n the values of column n. Its arguments list, for each dim of the result,
# which dim of the input goes there: `t.permute(1, 0)` puts `t`'s dim 1 first and its dim 0 second, so a
# `(K, N)` table becomes `(N, K)`. The same reading works for any number of dims: write the dims of the
# shape you have in the order of the shape you need. The numbers agree:

# %%
y_by_output = y.T.reshape(-1)                               # (N*K,) stored output by output
right = F.mse_loss(out, y_flat.view_as(out))                # () sample-major: view_as is right
wrong = F.mse_loss(out, y_by_output.view_as(out))           # () output-major: runs, wrong pairs
fixed = F.mse_loss(out, y_by_output.view(K, N).T)           # () output-major, read correctly
print(f'(N, K) target {F.mse_loss(out, y):.4f} | flat, view_as {right:.4f} | '
      f'output-major, view_as {wrong:.4f} | output-major, view(K, N).T {fixed:.4f}')

# %% [markdown]
# Look at the data once: row 0 must be sample 0. A shape that matches proves nothing about the order of the
# values.
#
# ## 9. N = 1 and a bare `squeeze()`
#
# `out.squeeze()` looks like the natural fix for `(N, 1)` against `(N,)`, but a bare `squeeze()` removes
# **every** dim of size 1, the batch dim too when N = 1 (see lesson 01, §3.2). For a regression loss the
# result is `()` against `(1,)`: the value happens to be right, but the broadcast warning is back, and every
# check that runs with warnings as errors fails on the last batch of an epoch. Name the dim:
# `out.squeeze(1)`, or `y.view_as(out)`.
#
# ## 10. Metrics broadcast the same way
#
# A metric is a formula on `pred` and `y`, and the same `(N, 1)` against `(N,)` turns it into an `(N, N)`
# matrix. No loss is involved, so nothing warns. The best test of a metric is to give it **perfect**
# predictions:

# %%
y = 3.0 + torch.randn(200, generator=torch.Generator().manual_seed(2))   # (N,) targets
N = y.shape[0]
pred = y[:, None].clone()                                   # (N, 1) perfect predictions, a model's shape
tol = 0.5
mae = (pred - y).abs().mean()                               # () over (N, N)
within_sum = ((pred - y).abs() <= tol).sum().item() / N     # "fraction" within tol, counted over (N, N)
within_mean = ((pred - y).abs() <= tol).float().mean()      # () mean over (N, N)
r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()   # () section 5's formula, without the assert
print(f'perfect predictions, broadcast:  MAE {mae:.3f} | within {tol}: sum/N {within_sum:.3f}, '
      f'mean {within_mean:.3f} | R² {r2:.1f} (1 - 2N = {1 - 2 * N})')
p = pred.squeeze(1)                                          # (N,)
print(f'perfect predictions, squeeze(1): MAE {(p - y).abs().mean():.3f} | within {tol}: '
      f'{((p - y).abs() <= tol).float().mean():.3f} | R² {r2_score(p, y):.3f}')

# %% [markdown]
# On perfect predictions each broadcast metric is far from its best value (0 for the MAE, 1 for the fraction
# within tolerance, 1 for R²); the R² is exactly 1 - 2N, because every pair `(i, j)` is counted. That one
# line of testing catches all three. A metric over K outputs has one more question to answer: which dim does
# each reduction remove? (Section 2: `mean(0)` over the samples, `mean(1)` over the outputs.)
#
# ## Summary
#
# * A regression target has **exactly the output's shape**: `(N, K)` against `(N, K)`, and for one output
#   `(N, 1)` against `(N, 1)`. `MSELoss`, `L1Loss`, `SmoothL1Loss` and `HuberLoss` accept any shape, but only
#   equal shapes mean what you want. (Class-id targets drop the class axis, dim 1; value targets keep every
#   axis.)
# * Broadcasting lines shapes up from the right, counts missing dims as 1 and stretches every size 1. It is
#   how `Y - Y.mean(0)` centres each output; it is also how `(N, 1)` against `(N,)` becomes `(N, N)`.
# * "Using a target size that is different to the input size" means the loss **broadcast** the target, and
#   the loss averages an `(N, N)` matrix of every prediction against every target. That mean equals
#   `mean (o_i - ȳ)² + var(y)`: each output is pulled towards the mean of the targets.
# * Measured in section 5: the same MLP fits the data with `(N, 1)` targets and only reaches R² ≈ 0 with
#   `(N,)` targets, a horizontal line of predictions, while its loss settles at `var(y)`. It matches the
#   predict-the-mean baseline and cannot overfit one batch: two habits that show the bug without any warning.
# * It is a warning because broadcasting is legal arithmetic; the BCE losses raise instead. `GaussianNLLLoss`
#   and `PoissonNLLLoss` broadcast **without a warning**.
# * Make it loud, never quiet: run with warnings as errors, and assert that the unreduced loss
#   (`reduction="none"`) has the target's shape, with both shapes in the message.
#   `warnings.filterwarnings("ignore")` hides the bug and fixes nothing.
# * The fixes: `y.view_as(out)`, `y.unsqueeze(1)` or `out.squeeze(1)`; a flat `(N*K,)` target: `view_as(out)`
#   only if it is stored sample by sample; a table stored output by output needs a `permute` (`.T`), never a
#   `view`. Never a bare `squeeze()`: at N = 1 it removes the batch dim too.
# * Metrics broadcast too, without any warning: test each on perfect predictions (MAE 0, fraction within
#   tolerance 1.0, R² 1.0), and name the dim of every reduction.
#
# ## Now the exercises
#
# Open `exercises/03-regression-and-broadcasting/` and work through the notebook there. The first exercise
# applies sections 1 to 5 directly; each of the others puts a rule of this lesson into another situation.
# The checks run with warnings as errors, and also with N = 1 and an odd N, so name your dims.
#
# ## Going further
#
# * `KLDivLoss` compares two distributions and broadcasts a mismatched target silently as well; lesson 07
#   treats it.
# * `GaussianNLLLoss` accepts a variance with fewer dims than the mean on purpose: one variance per sample,
#   `(N, 1)` against an `(N, K)` mean, is legal broadcasting, so the guard of section 7 compares the mean and
#   the target, not the variance.
