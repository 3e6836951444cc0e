# %% [markdown]
# # 01 · Classification: logits (N, C), targets (N,)
#
# *Time for a novice: about 55 minutes.*
#
# A classifier gives every sample C scores, but every sample has just one label. In this lesson you will learn
#
# * the contract of `CrossEntropyLoss`: why `logits` are `(N, C)` while the targets `y` are `(N,)` int64 class ids, and
#   why the same rule covers images and sequences later in the course;
# * what the loss does with them: it picks one score per sample;
# * how to read the errors PyTorch raises when the target has the wrong shape, dtype or values, and the fix for each,
#   including the batch of one sample that ends many epochs;
# * how to spot mistakes that raise nothing at all: softmax before the loss, and an accuracy that broadcasts
#   `(N,)` against `(N, 1)` (with a short introduction to broadcasting).
#
# The exercises for this lesson are in `exercises/01-classification/`.

# %%
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader, Dataset

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## The contract on one card
#
# Every loss has a *contract*: the shape and dtype of the input it reads, and the targets it accepts. This card draws the
# contract of `CrossEntropyLoss` for a batch of N = 4 samples and C = 3 classes. The title states the rule.

# %%
fig = tp.show_contract('CrossEntropyLoss', (4, 3), axes='N C')
plt.show()

# %% [markdown]
# The input is the scores, one row of C per sample. The usual target is one **class id** per sample: the input's shape
# *without the class axis*, dim 1, so `(N,)`. The second accepted form, float **class probabilities**, has exactly the
# input's shape (section 2 shows it).
#
# The same rule holds when the input has more axes: for an input `(N, C, d1, d2, ...)` the class ids are
# `(N, d1, d2, ...)`. A model that labels every pixel of an image gives `(N, C, H, W)` scores, and its target holds one
# class id per pixel:

# %%
fig = tp.show_contract('CrossEntropyLoss', (4, 3, 5, 6), axes='N C H W')
plt.show()

# %% [markdown]
# Why is the class axis dim 1, and not the last one? PyTorch lays images out *channels first*, `(N, C, H, W)`: dim 1
# holds the channels (red, green, blue; later, a convolution's feature maps). A classifier's scores are one more set of
# channels, one channel per class, so the losses read the classes from dim 1 whatever follows: `(N, C)` for one label
# per sample (this lesson), `(N, C, H, W)` for one label per pixel (dense prediction, topic 06; lesson 04 teaches the
# layout), and `(N, C, T)` for one label per time step (lesson 05, where a model's `(N, T, C)` output must be
# permuted first).
#
# The course has one more rule, for losses whose target is a value rather than a class id (`BCEWithLogitsLoss` in
# lesson 02, `MSELoss` in lesson 03): the target has exactly the input's shape.
#
# ## 1. C scores per sample, one id per sample
#
# We start with a batch of N = 4 samples with 5 features each, and a one-layer classifier for C = 3 classes.
# The network turns each row of `X` into one row of C scores, the *logits*: one unnormalised score per class.
# The label of a sample, on the other hand, is not a row of scores. It is the answer, a single class id in `0..C-1`.

# %%
torch.manual_seed(0)
N, n_features, C = 4, 5, 3
X = torch.randn(N, n_features)                   # (N, F)
net = nn.Linear(n_features, C)
logits = net(X)                                  # (N, C)
y = torch.tensor([2, 0, 1, 2])                   # (N,) int64 class ids
print('X', tuple(X.shape), '| logits', tuple(logits.shape), '| y', tuple(y.shape), y.dtype)

# %% [markdown]
# Drawn side by side, with the batch running down the page, row n of `logits` and entry n of `y` belong to the same sample.
# The class axis C exists only on the left: the target is the logits' shape *without dim 1*.

# %%
fig = tp.show_shapes({'logits': logits, 'y': y}, axes={'logits': 'N C', 'y': 'N'})
plt.show()

# %% [markdown]
# Taking the argmax over the class dim removes C too, so a prediction has exactly the shape of the target.
# Keep that in mind for section 4.

# %%
pred = logits.argmax(dim=1)                      # (N,)
print('pred', tuple(pred.shape), pred, '| y', tuple(y.shape), y)

# %% [markdown]
# ## 2. What `CrossEntropyLoss` does inside
#
# `F.cross_entropy(logits, y)` is two steps:
#
# 1. `log_softmax` over the class dim (dim 1) turns each row of scores into log-probabilities, still `(N, C)`;
# 2. the negative log-likelihood (NLL) picks, in row n, the log-probability of the true class `y[n]`, negates it and averages over the batch.
#
# Step 2 is where the `(N,)` shape comes from: `y` is used as an *index*, one column per row.
# `log_probs[torch.arange(N), y]` pairs row n with column `y[n]`.

# %%
log_probs = logits.log_softmax(dim=1)            # (N, C)
picked = log_probs[torch.arange(N), y]           # (N,) log-prob of each true class
manual = -picked.mean()                          # ()
builtin = F.cross_entropy(logits, y)             # ()
via_nll = F.nll_loss(log_probs, y)               # ()
print(f'manual {manual:.6f} | F.cross_entropy {builtin:.6f} | '
      f'F.nll_loss(log_softmax) {via_nll:.6f}')
print('all equal:', torch.allclose(manual, builtin) and torch.allclose(via_nll, builtin))

# %% [markdown]
# The picture shows the pick: the log-probabilities of each row, with the cell of the true class in red. Only the red
# cells enter the loss; the other C - 1 cells of a row matter only through the softmax, which makes them compete with it.

# %%
fig = tp.show_picked(logits, y)
plt.show()

# %% [markdown]
# So `CrossEntropyLoss` wants *raw* logits (it applies `log_softmax` itself), and `NLLLoss` wants log-probabilities.
#
# ### One loss per sample: `reduction="none"`
#
# The mean over the batch is the last step, and you can skip it: `reduction="none"` returns the N per-sample losses,
# one per target, so its shape is the target's shape `(N,)`. They are minus the red cells above. Use it to find the
# samples a model gets most wrong, or to weight samples before you average them yourself.

# %%
per_sample = F.cross_entropy(logits, y, reduction='none')    # (N,)
print('per-sample losses', tuple(per_sample.shape), per_sample.detach())
print('minus the picked log-probs', -picked.detach())
print(f'their mean {per_sample.mean():.6f} | the default reduction="mean" {builtin:.6f}')

# %% [markdown]
# ### The second form of target: class probabilities
#
# A float tensor with the **same shape as the logits**, `(N, C)`, one probability distribution per row, is the other
# target `CrossEntropyLoss` accepts. Then the loss is `-(p * log_probs).sum(1).mean()`.
# A one-hot float row puts all the mass on the true class, so it gives the same value as the ids:

# %%
y_onehot = F.one_hot(y, C).float()               # (N, C) float, each row sums to 1
loss_ids = F.cross_entropy(logits, y_onehot.argmax(dim=1))   # () from the ids again
loss_onehot = F.cross_entropy(logits, y_onehot)  # ()
print(f'ids {loss_ids:.6f} | one-hot float {loss_onehot:.6f}')

# %% [markdown]
# That second form belongs to `CrossEntropyLoss` alone. Its contract lists both; the contract of `NLLLoss` lists
# only the ids:

# %%
print(tp.contract_for('CrossEntropyLoss').describe())
print()
print(tp.contract_for('NLLLoss').describe())

# %% [markdown]
# Two forms, then, for `CrossEntropyLoss`: `(N,)` int64 class ids, or `(N, C)` float probabilities. Everything else is
# an error, which is next.
#
# ## 3. The errors, one at a time
#
# Each cell below makes one mistake on purpose. `tp.show_error(loss, input, target)` runs the block, catches the
# exception, prints it as PyTorch wrote it (`Type: message`), and then a diagnosis worked out from the shapes and dtypes.
# Read the message first: learning to recognise these lines is half the job.
#
# ### 3.1 A target of shape (N, 1)
#
# Labels often arrive as a column: a table column read with double brackets (`df[['label']]`), `y.unsqueeze(1)`, or a
# dataset whose `__getitem__` returns the label as `torch.tensor([label])`. The DataLoader's default collate stacks the
# samples' `(1,)` labels into one `(N, 1)` column. A plain Python list `[label]` is collated differently: the collate
# goes inside the list, so a batch's labels are a *list* holding one `(N,)` tensor.

# %%
class Labelled(Dataset):
    """Six samples with 5 features; the label comes as a (1,) tensor, or as a one-element list."""

    def __init__(self, as_list):
        self.as_list = as_list

    def __len__(self):
        return 6

    def __getitem__(self, i):
        x = torch.full((n_features,), float(i))  # (F,)
        label = i % C
        return x, ([label] if self.as_list else torch.tensor([label]))


_, y_tensor = next(iter(DataLoader(Labelled(as_list=False), batch_size=4)))
_, y_list = next(iter(DataLoader(Labelled(as_list=True), batch_size=4)))
print('torch.tensor([label]) per sample -> a batch of labels', type(y_tensor).__name__, tuple(y_tensor.shape))
print('[label] per sample -> a batch of labels', type(y_list).__name__, 'of', len(y_list),
      'tensor of shape', tuple(y_list[0].shape))

# %% [markdown]
# No loss accepts the list, but they do not all refuse it the same way. The class-id losses check the target's type
# first and raise a `TypeError` (the target must be a Tensor); the value losses of lessons 02 and 03 reach for the
# target's `.size()` and raise an `AttributeError`. Each line below calls one loss on the list and prints what it raised:

# %%
for name, loss_fn, scores in (('F.cross_entropy', F.cross_entropy, logits),
                              ('F.nll_loss', F.nll_loss, logits.log_softmax(dim=1)),
                              ('F.mse_loss', F.mse_loss, logits[:, 0]),
                              ('F.l1_loss', F.l1_loss, logits[:, 0]),
                              ('F.binary_cross_entropy_with_logits', F.binary_cross_entropy_with_logits, logits[:, 0])):
    try:
        loss_fn(scores, y_list)
        print(f'{name:35} accepted the list')
    except Exception as exc:                     # print the error instead of stopping the notebook
        print(f'{name:35} {type(exc).__name__}: {exc}')

# %% [markdown]
# `y_list[0]` is the `(N,)` tensor inside the list. The column is the common case, and this is what the loss says
# about it:

# %% tags=["error-demo"]
y_col = y[:, None]                               # (N, 1)
with tp.show_error('CrossEntropyLoss', logits, y_col):
    F.cross_entropy(logits, y_col)

# %% [markdown]
# "multi-target" is PyTorch's name for a 2-d target. Remove the extra dim, naming it: `y_col.squeeze(1)`.

# %%
y_fixed = y_col.squeeze(1)                       # (N,)
print(tuple(y_fixed.shape), f'{F.cross_entropy(logits, y_fixed):.6f}')

# %% [markdown]
# ### 3.2 N = 1: the last batch, and a bare `squeeze()`
#
# An epoch rarely divides evenly into batches, and the DataLoader keeps the last, shorter batch (unless you pass
# `drop_last=True`). Nine samples in batches of four:

# %%
nine = torch.utils.data.TensorDataset(torch.randn(9, n_features), torch.arange(9) % C)
print('batch sizes:', [len(yb) for _, yb in DataLoader(nine, batch_size=4)])

# %% [markdown]
# So a batch of N = 1 is not rare: the end of an epoch, or one example at inference. That is where a bare `squeeze()`
# bites. It removes *every* dim of size 1. For N ≥ 2 you cannot tell it from `squeeze(1)`, but at N = 1 it removes the
# batch dim too:

# %% tags=["error-demo"]
logits_1, y_col_1 = logits[:1], y_col[:1]        # (1, C), (1, 1)
y_bad = y_col_1.squeeze()                        # () the batch dim is gone as well
with tp.show_error('CrossEntropyLoss', logits_1, y_bad):
    F.cross_entropy(logits_1, y_bad)

# %% [markdown]
# "target batch_size (0)" means the target has no batch dim left at all. Every way of naming what to remove keeps it:

# %%
for name, ids in [('squeeze(1)', y_col_1.squeeze(1)), ('view(-1)', y_col_1.view(-1)), ('[:, 0]', y_col_1[:, 0]),
                  ('flatten()', y_col_1.flatten())]:
    print(f'{name:11} {tuple(ids.shape)}  loss {F.cross_entropy(logits_1, ids):.6f}')

# %% [markdown]
# A size written into the code, such as `y.view(64)`, fails on the short last batch in the same way; `-1` lets PyTorch
# work the size out.
#
# ### 3.3 Class ids stored as floats
#
# Labels read from a CSV file or a float array come out as `float32`. The shape is right; the dtype is not.
# "Long" is int64 and "Byte" is uint8.

# %% tags=["error-demo"]
y_float = y.float()                              # (N,) float32
with tp.show_error('CrossEntropyLoss', logits, y_float):
    F.cross_entropy(logits, y_float)

# %%
y_fixed = y_float.long()                         # (N,) int64
print(y_fixed.dtype, f'{F.cross_entropy(logits, y_fixed):.6f}')

# %% [markdown]
# ### 3.4 One-hot targets of dtype int64
#
# `F.one_hot` returns int64. A target with the logits' shape is read as probabilities (section 2), and probabilities
# must be floats, hence a message about "class probabilities" although you meant ids.

# %% tags=["error-demo"]
y_onehot_long = F.one_hot(y, C)                  # (N, C) int64
with tp.show_error('CrossEntropyLoss', logits, y_onehot_long):
    F.cross_entropy(logits, y_onehot_long)

# %% [markdown]
# Both fixes are correct and give the same value: back to ids with `argmax(1)`, or probabilities with `.float()`.

# %%
y_ids = y_onehot_long.argmax(dim=1)              # (N,) int64 ids
y_probs = y_onehot_long.float()                  # (N, C) float probabilities
print(f'argmax(1) {F.cross_entropy(logits, y_ids):.6f} | '
      f'.float() {F.cross_entropy(logits, y_probs):.6f}')

# %% [markdown]
# ### 3.5 Labels 1..C instead of 0..C-1
#
# Many datasets number their classes from 1. The ids must lie in `0..C-1`, so the label C has no column to pick.

# %% tags=["error-demo"]
y_1based = y + 1                                 # (N,) values 1..C, and C itself occurs
with tp.show_error('CrossEntropyLoss', logits, y_1based):
    F.cross_entropy(logits, y_1based)

# %% [markdown]
# Shift them once, where the data is loaded: `y_1based - 1`. Do not `clamp` them into range (that silently relabels
# class C as class C-1), and do not widen the last layer to C + 1 outputs (that adds a class that never occurs).

# %%
y_fixed = y_1based - 1                           # (N,) values 0..C-1
print(y_fixed.tolist(), f'{F.cross_entropy(logits, y_fixed):.6f}')

# %% [markdown]
# ### 3.6 Logits and targets with different batch sizes
#
# Dim 0 must be N on both sides. Here the logits have N rows and the targets N - 1 entries: an off-by-one slice,
# targets from another batch, or a `view` with a hard-coded size somewhere in the model all end like this.

# %% tags=["error-demo"]
y_short = y[:N - 1]                              # (N-1,)
with tp.show_error('CrossEntropyLoss', logits, y_short):
    F.cross_entropy(logits, y_short)

# %% [markdown]
# The fix is to find where the rows went, not to trim the longer side: `y[:logits.shape[0]]` runs, but it pairs
# logits with the wrong labels. With the targets of the same batch it works:

# %%
print(tuple(logits.shape), tuple(y.shape), f'{F.cross_entropy(logits, y):.6f}')

# %% [markdown]
# ## 4. Mistakes that raise nothing
#
# ### 4.1 Softmax before the loss
#
# Put `nn.Softmax` at the end of the model and `CrossEntropyLoss` still runs: probabilities are valid floats of
# shape `(N, C)`. The course library can spot it with `tp.diagnose` (every row sums to 1); PyTorch cannot:

# %%
probs = logits.softmax(dim=1)                    # (N, C) rows sum to 1
print(f'loss on probabilities: {F.cross_entropy(probs, y):.6f}')
print(tp.diagnose('CrossEntropyLoss', probs, y))

# %% [markdown]
# The loss then applies softmax a *second* time, to numbers between 0 and 1. Even a perfect one-hot output gives the true
# class only `e / (e + C - 1)` of the mass, so the loss can never go below `log(1 + (C-1)/e)`. Here it is with perfect
# "probabilities" for C = 10:

# %%
C = 10
floor = math.log(1 + (C - 1) / math.e)
y_perfect = torch.arange(8) % C                  # (8,)
perfect = F.one_hot(y_perfect, C).float()        # (8, C) perfect probabilities
best = F.cross_entropy(perfect, y_perfect)       # ()
print(f'CE of perfect probabilities: {best:.4f} | floor: {floor:.4f}')

# %% [markdown]
# Does it matter in training? We train the same small MLP (8 → 32 → 10) twice on a tiny, easy 10-class data set:
# N = 200 points around 10 random centres in 8 dimensions. Both runs start from the same weights (same seed) and take
# 200 Adam steps; the only difference is an `nn.Softmax(dim=1)` at the end of the second model.

# %%
N, n_features, C = 200, 8, 10
X, y = checks.separable_data(N, n_features, C, seed=0)   # X (N, F), y (N,)
print('X', tuple(X.shape), '| y', tuple(y.shape), y.dtype, '| classes', y.unique().tolist())

# %%
def make_mlp(softmax_at_end):
    torch.manual_seed(0)                         # the same initial weights for both runs
    layers = [nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, C)]
    if softmax_at_end:
        layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers)


def train(net, steps=200, lr=0.01):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits = net(X)                          # (N, C)
        loss = F.cross_entropy(logits, y)        # ()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def accuracy(net):
    with torch.no_grad():
        pred = net(X).argmax(dim=1)              # (N,)
    return (pred == y).float().mean().item()


net_raw, net_soft = make_mlp(False), make_mlp(True)
losses_raw, losses_soft = train(net_raw), train(net_soft)
print(f'raw logits:      final loss {losses_raw[-1]:.4f}, accuracy {accuracy(net_raw):.3f}')
print(f'softmax at end:  final loss {losses_soft[-1]:.4f}, accuracy {accuracy(net_soft):.3f}')
print(f'floor log(1 + (C-1)/e) = {floor:.4f}')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(losses_raw, label='raw logits → CrossEntropyLoss')
ax.plot(losses_soft, label='softmax → CrossEntropyLoss')
ax.axhline(floor, color='gray', linestyle='--', label=f'floor log(1 + (C-1)/e) = {floor:.4f}')
ax.set_xlabel('Adam step')
ax.set_ylabel('training loss (cross-entropy)')
ax.set_title(f'Same MLP, same data (N = {N}, C = {C})')
ax.legend()
plt.show()

# %% [markdown]
# Both models classify this easy data set, so accuracy does not give the bug away; the loss curve does.
# The softmax model flattens out on the dashed line: even a perfect model would report the floor printed above, and
# every tool that reads the loss (early stopping, learning-rate schedules, comparing two runs) is misled.
# The fix: return raw logits from the model, and call `softmax` only when you want probabilities, at inference.
#
# Two habits take seconds and need no plot. Before training, the loss of a model that knows nothing should be about
# log C: each class gets about 1/C of the probability. And a correctly wired model can learn one small batch by heart.
# The first habit passes for both models here; only the second one catches the softmax:

# %%
for name, softmax_at_end in (('raw logits', False), ('softmax at end', True)):
    print(name)
    tp.loss_at_init(make_mlp(softmax_at_end), X, y, nn.CrossEntropyLoss())
    tp.overfit_one_batch(make_mlp(softmax_at_end), X[:16], y[:16], nn.CrossEntropyLoss())

# %% [markdown]
# ### 4.2 Broadcasting in one picture
#
# When two tensors of different shapes meet in `-`, `*`, `/` or `==`, PyTorch *broadcasts* them: it makes their shapes
# equal by copying, then works cell by cell. Three rules decide how:
#
# 1. line the two shapes up **from the right** (the last dims are compared first);
# 2. a dim of **size 1** is copied along the other tensor's size in that dim;
# 3. a **missing** dim on the left counts as size 1, so a 1-d tensor of shape `(n,)` acts as a **row** `(1, n)`.
#
# Two sizes that are neither equal nor 1 are an error. A useful stretch first: subtract from each row of scores its
# largest score (`log_softmax` does this inside, to keep the exponentials small). `max(dim=1)` returns the values and
# the positions of the maxima (`.values`, `.indices`); `keepdim=True` keeps the reduced dim with size 1, so the maxima
# stay a column `(N, 1)`, and rule 2 copies that column across the C columns:

# %%
torch.manual_seed(1)
scores = torch.randn(4, 3)                                   # (N, C) with N = 4, C = 3
row_max = scores.max(dim=1, keepdim=True).values             # (N, 1)
fig = tp.show_broadcast(scores, row_max, names=('scores', 'row_max'), op='-')
plt.show()

# %% [markdown]
# The same rules pair an `(N,)` tensor with an `(N, 1)` tensor into `(N, N)`: rule 3 reads `(N,)` as a row `(1, N)`
# and copies it down the N rows; rule 2 copies the column across N columns. Here are predictions `(N,)` compared with
# labels kept as a column `(N, 1)`:

# %%
pred_4 = scores.argmax(dim=1)                                # (N,)
y_col_4 = torch.tensor([[0], [2], [1], [1]])                 # (N, 1)
fig = tp.show_broadcast(pred_4, y_col_4, names=('pred', 'y_col'), op='==')
plt.show()

# %% [markdown]
# Nothing raises. Cell (i, j) compares prediction j with label i: N × N comparisons, of which only the N on the
# diagonal pair a sample with its own label.
#
# ### 4.3 Accuracy with (N,) predictions against (N, 1) labels
#
# Now give a metric *perfect* predictions: logits whose argmax is exactly `y`, on the 200 samples of section 4.1.
# With the labels kept as a column, `==` builds the `(N, N)` table of all pairs.

# %%
logits = 5.0 * F.one_hot(y, C).float()           # (N, C) perfect scores: argmax is y
pred = logits.argmax(dim=1)                      # (N,)
y_col = y[:, None]                               # (N, 1)
hits = pred == y_col                             # (N, N) after broadcasting
print('hits', tuple(hits.shape))
print(f'accuracy of perfect predictions: {hits.float().mean().item():.4f}')
print(f'and with .sum() / N instead:     {hits.sum().item() / N:.4f}')

# %% [markdown]
# With balanced classes the mean lands near 1/C, so a perfect model looks like it is guessing; written as
# `.sum() / N` the same bug reports an "accuracy" far above 1. The picture shows what was compared: cell (i, j) holds
# prediction j against label i, for every pair. A correct accuracy only looks at the diagonal.

# %%
fig, ax = plt.subplots(figsize=(5, 4.5))
ax.imshow(hits[:40, :40], cmap='Greys', interpolation='nearest')
ax.set_xlabel('prediction index j (pred[j])')
ax.set_ylabel('label index i (y_col[i])')
ax.set_title('pred == y_col, first 40 × 40 of (N, N)\nblack = True')
plt.show()

# %% [markdown]
# Make the two sides the same shape first: `y_col.squeeze(1)` or, whatever shape the labels have, `y_col.view_as(pred)`.
# And test a metric on perfect predictions, where it must give exactly 1.0.

# %%
acc_squeeze = (pred == y_col.squeeze(1)).float().mean()   # () compares (N,) with (N,)
acc_view_as = (pred == y_col.view_as(pred)).float().mean()  # ()
print(f'squeeze(1): {acc_squeeze.item():.4f} | view_as(pred): {acc_view_as.item():.4f}')

# %% [markdown]
# ## Summary
#
# * Every loss has a contract. For `CrossEntropyLoss` the class axis is **dim 1** (channels first, as in `(N, C, H, W)`),
#   and the class-id target is the input's shape **without dim 1**: `(N,)` for `(N, C)`, `(N, d1, ...)` for `(N, C, d1, ...)`.
#   A value target (lessons 02 and 03) has exactly the input's shape.
# * A classifier gives **logits `(N, C)`**: C raw scores per sample. `CrossEntropyLoss` wants them raw; it applies
#   `log_softmax` over dim 1 itself and then picks the score of the true class (NLL). `reduction="none"` keeps one loss
#   per sample, the target's shape.
# * The target is **`(N,)` int64 class ids in `0..C-1`**. The other accepted form is **`(N, C)` float probabilities**
#   (one-hot `.float()`), which `NLLLoss` does not have.
# * The errors and their fixes:
#   * `(N, 1)` target, "multi-target not supported": `y.squeeze(1)`;
#   * float ids, "expected target dtype to be Long or Byte": `y.long()`;
#   * one-hot int64, "Expected floating point type for target with class probabilities": `y.argmax(1)` or `y.float()`;
#   * labels 1..C, "Target C is out of bounds": `y - 1` (not `clamp`, not C + 1 outputs);
#   * "Expected input batch_size (A) to match target batch_size (B)": find where the rows went; do not trim.
# * The traps:
#   * the last batch of an epoch can hold one sample, and a bare `squeeze()` then removes the batch dim: name the dim,
#     `squeeze(1)`, or use `view(-1)` / `view_as`, never a hard-coded size;
#   * softmax before `CrossEntropyLoss` raises nothing, but the loss cannot go below `log(1 + (C-1)/e)`; overfitting one
#     small batch shows it in seconds;
#   * broadcasting lines shapes up from the right and copies size-1 (and missing) dims: `(N,)` against `(N, 1)` builds
#     an `(N, N)` table, and an accuracy computed from it scores a perfect model about 1/C.
#
# ## Going further
#
# **Label smoothing.** Soft targets are where the probability form earns its keep. Label smoothing moves a little mass
# `eps` from the true class to all C classes evenly; `label_smoothing=eps` with ids gives the same value as the smoothed
# `(N, C)` target. Back to the batch of section 1:

# %%
torch.manual_seed(0)
N, n_features, C = 4, 5, 3
X = torch.randn(N, n_features)                                  # (N, F)
logits = nn.Linear(n_features, C)(X)                            # (N, C)
y = torch.tensor([2, 0, 1, 2])                                  # (N,)
eps = 0.1
y_soft = F.one_hot(y, C).float() * (1 - eps) + eps / C          # (N, C) smoothed rows, still sum to 1
soft = F.cross_entropy(logits, y_soft)                          # ()
smoothed = F.cross_entropy(logits, y, label_smoothing=eps)      # ()
by_hand = -(y_soft * logits.log_softmax(dim=1)).sum(dim=1).mean()   # ()
print(f'soft target {soft:.6f} | label_smoothing {smoothed:.6f} | by hand {by_hand:.6f}')

# %% [markdown]
# ## Now the exercises
#
# Open `exercises/01-classification/` and work through the notebook there. None of its exercises repeats an example
# of this lesson: each puts one of these rules in another setting (another loss, other data, another model), so
# decide which rule applies before you change a line. The checks also run your code with N = 1 and an odd N, so name
# your dims.
