# %% [markdown]
# # 02 · Binary and multi-label: the target has the logits' own shape
#
# *Time for a novice: about 50 minutes.*
#
# A binary classifier answers one yes/no question per sample; a multi-label classifier answers C of them. In this
# lesson you will learn
#
# * the contract of `BCEWithLogitsLoss`, the course's second rule: the target has **exactly** the input's shape and is
#   float. `(N, 1)` logits need `(N, 1)` float labels, `(N, C)` logits need `(N, C)` multi-hot floats;
# * how to read the errors for a `(N,)` target, integer labels, and logits or out-of-range labels fed to `BCELoss`,
#   which fixes are right (`view_as`, `unsqueeze(1)`, `squeeze(1)`) and which only look right (the formula by hand,
#   `.detach()`);
# * when to use one logit with a sigmoid and when two logits with a softmax, and the shapes each needs;
# * multi-label targets, and a `pos_weight` laid along the class dim;
# * two mistakes that raise nothing: a sigmoid before the loss, and `CrossEntropyLoss` on multi-label data.
#
# The exercises for this lesson are in `exercises/02-binary-and-multilabel/`.

# %%
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## The contract on one card
#
# Lesson 01 drew the contract of `CrossEntropyLoss` on a card (lesson 01, "The contract on one card"): its input holds
# C scores per sample, and its usual target is one class id per sample, the input's shape *without the class axis*,
# dim 1. Here is that card again, for N = 4 samples and C = 3 classes:

# %%
fig = tp.show_contract('CrossEntropyLoss', (4, 3), axes='N C')
plt.show()

# %% [markdown]
# Why dim 1? PyTorch lays batches out *channels first*: an image batch is `(N, C, H, W)` with the channels in dim 1,
# and the class scores of a model are one more set of channels, one per class. So the class axis is dim 1 for one label
# per sample `(N, C)`, for one label per pixel `(N, C, H, W)` (lesson 04), and for one label per time step
# `(N, C, T)` (lesson 05); each time the class ids are the input's shape with dim 1 removed.
#
# `BCEWithLogitsLoss` has no class axis to remove. Each entry of its input is the score of a yes/no question of its
# own, and the target holds that question's answer, a number between 0 and 1: the target has **exactly the input's
# shape**, and it is float. That is the course's second rule. The card for one logit per sample, `(N, 1)`:

# %%
fig = tp.show_contract('BCEWithLogitsLoss', (4, 1), axes='N out')
plt.show()

# %% [markdown]
# and for C yes/no questions per sample (multi-label, section 6), `(N, C)`:

# %%
fig = tp.show_contract('BCEWithLogitsLoss', (4, 3), axes='N C')
plt.show()

# %% [markdown]
# Same input shape `(4, 3)` as the `CrossEntropyLoss` card, different contract: the loss decides what the target is.
#
# ## 1. One logit per sample, one label per sample
#
# A binary classifier (spam or not, tumour or not) needs one number per sample: a score `z` whose sigmoid is the
# probability of class 1. So the last layer is `nn.Linear(F, 1)`, and the output keeps that last dim of size 1:
# it is `(N, 1)`, not `(N,)`. The labels, read from a list or a table column, are usually one number per sample: `(N,)`.

# %%
torch.manual_seed(0)
N, n_features = 4, 5
X = torch.randn(N, n_features)                   # (N, F)
net = nn.Linear(n_features, 1)
logits = net(X)                                  # (N, 1)
y = torch.tensor([1., 0., 1., 1.])               # (N,) float 0./1.
print('X', tuple(X.shape), '| logits', tuple(logits.shape), '| y', tuple(y.shape), y.dtype)

# %% [markdown]
# Drawn side by side, the two have the same number of entries but not the same shape: the logits have a second axis
# of size 1 that the labels lack.

# %%
fig = tp.show_shapes({'logits': logits, 'y': y}, axes={'logits': 'N out', 'y': 'N'})
plt.show()

# %% [markdown]
# ## 2. What `BCEWithLogitsLoss` does inside
#
# Binary cross-entropy works **element by element**. For a logit `z` and a label `y` in [0, 1] it is
#
# $$\ell(z, y) = -\big[\,y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))\,\big],$$
#
# and the default `reduction='mean'` averages ℓ over *all* elements. Nothing is picked by index as in
# `CrossEntropyLoss`: entry `i` of the input meets entry `i` of the target. That is why the target must have exactly
# the input's shape, and why it must be a float: it is multiplied, not used as an index. The label is read as the
# probability that the answer is "yes", so a hard label is 0. or 1. With `reduction='none'` (lesson 01, §2) you see one
# loss per element, in the input's shape:

# %%
target = y.view_as(logits)                       # (N, 1) float
per_element = F.binary_cross_entropy_with_logits(logits, target, reduction='none')   # (N, 1)
manual = -(target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits)).mean()  # ()
builtin = F.binary_cross_entropy_with_logits(logits, target)                          # ()
two_step = F.binary_cross_entropy(torch.sigmoid(logits), target)                       # ()
print('per element', tuple(per_element.shape))
print(f'manual {manual:.6f} | BCEWithLogits {builtin:.6f} | sigmoid + BCELoss {two_step:.6f}')

# %% [markdown]
# `BCEWithLogitsLoss` takes **logits** and applies the sigmoid itself; `BCELoss` takes **probabilities**. For moderate
# scores they agree, as above. For confident scores they do not: in float32 the sigmoid of a large logit rounds to
# exactly 1.0, so `log(1 - p)` is `log(0)`, which `BCELoss` clamps. Two confident, wrong predictions, element by element:

# %%
z_confident = torch.tensor([[30.], [-30.]])      # (2, 1) two confident, wrong predictions
y_confident = torch.tensor([[0.], [1.]])         # (2, 1)
p = torch.sigmoid(z_confident)                   # (2, 1)
exact = F.binary_cross_entropy_with_logits(z_confident, y_confident, reduction='none')   # (2, 1)
clamped = F.binary_cross_entropy(p, y_confident, reduction='none')                     # (2, 1)
print('sigmoid(30) == 1.0 in float32:', bool(p[0] == 1.0))
print('BCEWithLogits per sample   ', exact.view(-1).tolist())
print('sigmoid + BCELoss per sample', clamped.view(-1).tolist())

# %% [markdown]
# The first sample's loss is clamped, the second's is right only because its sigmoid did not round; and no gradient
# flows through a clamped value. Use `BCEWithLogitsLoss` on logits.
#
# ## 3. The errors, one at a time
#
# Each cell below makes one mistake on purpose. `tp.show_error(loss, input, target)` runs the block, catches the
# exception, prints it as PyTorch wrote it (`Type: message`), and then a diagnosis worked out from the shapes and dtypes.
#
# ### 3.1 Logits (N, 1), labels (N,)
#
# The most common one: the model's `(N, 1)` output against the dataset's `(N,)` labels.

# %% tags=["error-demo"]
with tp.show_error('BCEWithLogitsLoss', logits, y):
    F.binary_cross_entropy_with_logits(logits, y)

# %% [markdown]
# Read it as "target `[4]`, input `[4, 1]`": the sizes differ by the trailing 1. Three fixes, all correct and all
# giving the same value: reshape the labels like the logits (`view_as`, the safest, since it works whatever the
# shapes), add the dim to the labels (`unsqueeze(1)`), or remove it from the logits, naming the dim (`squeeze(1)`).
# Name the dim: a bare `squeeze()` also removes the batch dim when N = 1 (lesson 01, §3.2).

# %%
fix_view_as = F.binary_cross_entropy_with_logits(logits, y.view_as(logits))     # (N, 1) with (N, 1)
fix_unsqueeze = F.binary_cross_entropy_with_logits(logits, y.unsqueeze(1))      # (N, 1) with (N, 1)
fix_squeeze = F.binary_cross_entropy_with_logits(logits.squeeze(1), y)          # (N,) with (N,)
print(f'view_as {fix_view_as:.6f} | unsqueeze(1) {fix_unsqueeze:.6f} | squeeze(1) {fix_squeeze:.6f}')

# %% [markdown]
# **The error is a friend.** Written out by hand, with `F.logsigmoid`, the same formula raises nothing for these shapes:
# `y * F.logsigmoid(logits)` broadcasts (lesson 01, §4.2) the `(N,)` labels against the `(N, 1)` logits into an
# `(N, N)` table that pairs every logit with every label.

# %%
fig = tp.show_broadcast(F.logsigmoid(logits), y, names=('logsigmoid(logits)', 'y'), op='*',
                        title='logsigmoid(logits) * y pairs every logit with every label')
plt.show()

# %% [markdown]
# Does a model learn from such a loss? Two habits answer in one line each. `tp.overfit_one_batch` (lesson 01, §4.1)
# trains a fresh model on one small batch: a correctly wired loss learns it by heart. `tp.baseline_loss` prints what a
# model that ignores its input scores: here, predicting the share of 1s as the probability for every sample (`BCELoss`
# reads probabilities).

# %%
def bce_by_hand(out, labels):
    return -(labels * F.logsigmoid(out) + (1 - labels) * F.logsigmoid(-out)).mean()


X16, y16 = checks.binary_data(16, n_features, seed=1)              # (16, F), (16,) float
torch.manual_seed(0)
broadcast_last = tp.overfit_one_batch(nn.Linear(n_features, 1), X16, y16, bce_by_hand)   # (16, 1) with (16,)
torch.manual_seed(0)
y16_col = y16.view(-1, 1)                                          # (16, 1)
paired_last = tp.overfit_one_batch(nn.Linear(n_features, 1), X16, y16_col, bce_by_hand)   # (16, 1), (16, 1)
baseline = tp.baseline_loss(y16, nn.BCELoss())

# %% [markdown]
# The broadcast loss stalls on the baseline: averaged over every (logit, label) pair, the best any logit can do is
# predict the share of 1s, which is exactly what a model that ignores `X` does. Paired one to one, the same formula
# learns the batch. `BCEWithLogitsLoss` refuses the shapes instead of computing the table.
#
# ### 3.2 `.detach()` to make an error go away
#
# A popular answer to the error of 3.1 (it is in real projects) is `out.squeeze().detach()`. `detach()` changes no shape
# at all; it cuts the tensor off from the model. The loss runs, and `backward()` fails, because nothing in the loss
# depends on a weight any more:

# %% tags=["error-demo"]
loss = F.binary_cross_entropy_with_logits(net(X).squeeze(1).detach(), y)   # ()
with tp.show_error():
    loss.backward()

# %% [markdown]
# When the loss has a second term that still depends on the model (a weight penalty, say), `backward()` runs and the
# detached part silently stops teaching it. Fix shapes with shape operations (`view_as`, `unsqueeze`, `squeeze(1)`),
# never with `detach()`.
#
# ### 3.3 Integer labels
#
# Labels of 0 and 1 are often stored as int64 (`torch.tensor([1, 0, 1, 1])`, a pandas int column). BCE wants float
# targets: they are multiplied with the log-probabilities.

# %% tags=["error-demo"]
y_long = torch.tensor([1, 0, 1, 1]).view_as(logits)   # (N, 1) int64: the shape is right now
with tp.show_error('BCEWithLogitsLoss', logits, y_long):
    F.binary_cross_entropy_with_logits(logits, y_long)

# %% [markdown]
# "result type Float can't be cast to the desired output type Long": the loss would be computed in the target's dtype,
# and a float loss does not fit in an int64. (`BCELoss` refuses int64 labels too, with a message of its own.) The fix
# is `y.float()`, or `y.to(logits.dtype)`; soft labels such as 0.9 are allowed.

# %%
print(f'BCEWithLogits with float labels {F.binary_cross_entropy_with_logits(logits, y_long.float()):.6f}')

# %% [markdown]
# ### 3.4 Out of range for `BCELoss`: logits, and labels in percent
#
# `BCELoss` wants probabilities and checks that every input lies in [0, 1]. Raw logits usually do not:

# %% tags=["error-demo"]
with tp.show_error('BCELoss', logits, target):
    F.binary_cross_entropy(logits, target)

# %% [markdown]
# Switch to `BCEWithLogitsLoss` and keep the raw logits (section 2 showed why that beats adding a sigmoid).
#
# `BCELoss` checks its *target* the same way: every label must lie in [0, 1]. Soft labels stored in percent (the share
# of annotators who said "yes", from 0 to 100) are refused, even with proper probabilities as the input:

# %% tags=["error-demo"]
y_percent = torch.tensor([100., 0., 75., 100.]).view_as(logits)   # (N, 1) soft labels in percent
probs = torch.sigmoid(logits)                                      # (N, 1) probabilities, as BCELoss wants
with tp.show_error('BCELoss', probs, y_percent):
    F.binary_cross_entropy(probs, y_percent)

# %% [markdown]
# (The diagnosis has nothing to add here: the message says it all.) The fix is to read them as probabilities,
# `y_percent / 100`. Only `BCEWithLogitsLoss` skips these checks: its input may be any real number by design, and it
# does not check its target's range either, so the percent labels would run there without a word and give a loss
# that means nothing. When labels come from a new source, look at their range yourself.
#
# ## 4. A mistake that raises nothing: sigmoid before `BCEWithLogitsLoss`
#
# Put `nn.Sigmoid()` at the end of the model and keep `BCEWithLogitsLoss`: every shape and dtype is right, so nothing
# complains. The loss applies a *second* sigmoid, to numbers between 0 and 1, so the probability it computes stays
# between `sigmoid(0)` and `sigmoid(1)`:

# %%
low, high = torch.sigmoid(torch.tensor([0., 1.])).tolist()
print(f'sigmoid(0) = {low:.4f} | sigmoid(1) = {high:.4f}')

# %% [markdown]
# Even perfect probabilities then have a loss floor: `log(1 + 1/e)` for a label 1 and `log 2` for a label 0.
# `tp.diagnose` notices the (0, 1) inputs; PyTorch cannot.

# %%
floor_1, floor_0 = math.log(1 + 1 / math.e), math.log(2)
y_perfect = torch.tensor([1., 0., 1., 0.]).view(-1, 1)    # (4, 1) balanced labels
perfect_probs = y_perfect.clone()                         # (4, 1) probabilities that are exactly right
best = F.binary_cross_entropy_with_logits(perfect_probs, y_perfect)   # ()
floor = (floor_1 + floor_0) / 2
print(f'floor for y = 1: {floor_1:.4f} | for y = 0: {floor_0:.4f} | balanced mean: {floor:.4f}')
print(f'BCEWithLogits of perfect probabilities: {best:.4f}')
print(tp.diagnose('BCEWithLogitsLoss', torch.sigmoid(logits), target))

# %% [markdown]
# Does it matter in training? We train the same small MLP (8 → 32 → 1) twice on an easy two-class data set of
# N = 200 points, from the same initial weights and with 200 Adam steps each. The only difference is an
# `nn.Sigmoid()` at the end of the second model.

# %%
N, n_features = 200, 8
X, y = checks.binary_data(N, n_features, seed=0)          # X (N, F), y (N,) float 0./1.
target = y.view(-1, 1)                                    # (N, 1) like the model's output
print('X', tuple(X.shape), '| target', tuple(target.shape), target.dtype, f'| share of 1s {y.mean():.2f}')

# %%
def make_mlp(sigmoid_at_end):
    torch.manual_seed(0)                         # the same initial weights for both runs
    layers = [nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 1)]
    if sigmoid_at_end:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def train(net, steps=200, lr=0.01):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = net(X)                             # (N, 1)
        loss = F.binary_cross_entropy_with_logits(out, target)   # ()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def accuracy(scores, threshold):
    pred = (scores > threshold).float()          # (N, 1)
    return (pred == target).float().mean().item()


net_raw, net_sig = make_mlp(False), make_mlp(True)
losses_raw, losses_sig = train(net_raw), train(net_sig)
with torch.no_grad():
    acc_raw, acc_sig = accuracy(net_raw(X), 0.0), accuracy(net_sig(X), 0.5)   # logit 0 = probability 0.5
print(f'raw logits:      final loss {losses_raw[-1]:.4f}, accuracy {acc_raw:.3f}')
print(f'sigmoid at end:  final loss {losses_sig[-1]:.4f}, accuracy {acc_sig:.3f}')
print(f'floor (log(1 + 1/e) + log 2) / 2 = {floor:.4f}')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(losses_raw, label='raw logits → BCEWithLogitsLoss')
ax.plot(losses_sig, label='sigmoid → BCEWithLogitsLoss')
ax.axhline(floor, color='gray', linestyle='--', label=f'floor (log(1 + 1/e) + log 2) / 2 = {floor:.4f}')
ax.set_xlabel('Adam step')
ax.set_ylabel('training loss (binary cross-entropy)')
ax.set_title(f'Same MLP, same data (N = {N}, balanced labels)')
ax.legend()
plt.show()

# %% [markdown]
# Both models separate this easy data, so accuracy hides the bug; the loss curve shows it. The sigmoid model flattens
# out on the dashed line, and anything that reads the loss (early stopping, schedules, comparing runs) is misled.
# `tp.overfit_one_batch` says it in one line, before any long training run:

# %%
for sigmoid_at_end in (False, True):
    tp.overfit_one_batch(make_mlp(sigmoid_at_end), X[:16], target[:16], nn.BCEWithLogitsLoss())

# %% [markdown]
# Return raw logits from the model; call `torch.sigmoid` only where you want probabilities. A prediction is then
# "logit > 0", which is the same as "probability > 0.5" (the `accuracy` above uses each threshold on its own scale).
#
# ## 5. Two logits with softmax, or one logit with sigmoid?
#
# A binary problem can also be treated as a classification with C = 2 classes: two logits per sample and
# `CrossEntropyLoss`. The two set-ups need different shapes and dtypes:
#
# | head | output | loss | target |
# |---|---|---|---|
# | one logit | `(N, 1)` | `BCEWithLogitsLoss` | `(N, 1)` float 0./1. (the output's shape) |
# | two logits | `(N, 2)` | `CrossEntropyLoss` | `(N,)` int64 class ids 0/1 (the output's shape without dim 1) |
#
# They are the same model in disguise: the softmax of two logits depends only on their difference, so
# `CrossEntropyLoss` on `[z0, z1]` equals `BCEWithLogitsLoss` on `z1 - z0`.

# %%
torch.manual_seed(1)
logits_2 = torch.randn(6, 2)                     # (N, 2) two logits per sample
y_ids = torch.tensor([1, 0, 0, 1, 1, 0])         # (N,) int64 class ids
ce = F.cross_entropy(logits_2, y_ids)                                                   # ()
bce = F.binary_cross_entropy_with_logits(logits_2[:, 1] - logits_2[:, 0], y_ids.float())  # ()
print(f'CrossEntropyLoss on (N, 2): {ce:.6f} | BCEWithLogitsLoss on z1 - z0: {bce:.6f}')

# %% [markdown]
# Which to choose?
#
# * **One logit + sigmoid** is the natural binary head: half the output weights, a probability that is simply
#   `sigmoid(z)`, and it extends to multi-label (section 6) by giving each label its own logit.
# * **Two logits + softmax** fits when the binary problem is one instance of a multi-class code path: the same
#   `CrossEntropyLoss`, `argmax` and metrics for C = 2 as for C = 10.
#
# What does not work is mixing them: two logits with the float labels of the one-logit recipe.

# %% tags=["error-demo"]
with tp.show_error('BCEWithLogitsLoss', logits_2, y_ids.float()):
    F.binary_cross_entropy_with_logits(logits_2, y_ids.float())

# %% [markdown]
# With two logits the target is class ids: `F.cross_entropy(logits_2, y.long())`. Expanding the labels to `(N, 2)` for
# BCE would run, but it trains two *independent* sigmoids that need not agree with each other.
#
# ## 6. Multi-label: C yes/no questions per sample
#
# A photo can show a cat *and* a dog *and* a car. With C tags, each sample has a **multi-hot** target: a row of C
# zeros and ones, any number of them 1. The model gives C logits, and `BCEWithLogitsLoss` treats each of the
# N·C entries as its own binary problem. Output and target are both `(N, C)`, and the target is float.

# %%
N, C = 4, 5
torch.manual_seed(2)
logits = torch.randn(N, C)                        # (N, C) one logit per tag
tags = [[0, 3], [1], [0, 2, 4], []]               # the tags of each sample, any number of them
Y = torch.zeros(N, C)                             # (N, C) float multi-hot
for n, ids in enumerate(tags):
    Y[n, ids] = 1.0
loss = F.binary_cross_entropy_with_logits(logits, Y)                         # ()
soft_margin = F.multilabel_soft_margin_loss(logits, Y)                       # ()
print(Y)
print(f'BCEWithLogitsLoss {loss:.6f} | MultiLabelSoftMarginLoss {soft_margin:.6f} (the same loss)')

# %%
fig = tp.show_shapes({'logits': logits, 'Y': Y}, axes={'logits': 'N C', 'Y': 'N C'})
plt.show()

# %% [markdown]
# Giving these `(N, C)` logits one class id per sample, `(N,)`, fails with the message of section 5's error, C in
# place of 2. If every sample has exactly one class, that is ordinary classification: `CrossEntropyLoss` with the
# `(N,)` ids (lesson 01). If samples can have several labels, build the `(N, C)` multi-hot float target, as above.
#
# ### 6.1 `CrossEntropyLoss` on multi-label data
#
# The tempting way round that error is to keep `CrossEntropyLoss` and feed it one id per sample, for example
# `Y.argmax(1)` (the first tag). It runs, and it trains, but the softmax makes the C classes compete for one unit of
# probability: the model learns to name *one* tag per sample. We train the same MLP (8 → 32 → 5) twice on N = 200
# samples with 5 tags each present with probability 1/2, once with `BCEWithLogitsLoss` on the multi-hot rows and once
# with `CrossEntropyLoss` on `Y.argmax(1)`. A tag is predicted where its logit is > 0 for the BCE model; the CE model
# predicts its argmax.

# %%
N, n_features, C = 200, 8, 5
X, Y = checks.multilabel_data(N, n_features, C, seed=0)   # X (N, F), Y (N, C) float multi-hot
counts = Y.sum(dim=1).long().bincount(minlength=C + 1)    # (C + 1,) samples with 0, 1, ... tags
print('samples with 0..5 tags:', counts.tolist())


def make_tagger():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, C))


def train_tagger(loss_fn, steps=200, lr=0.01):
    net = make_tagger()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn(net(X))                   # (N, C) logits in, () out
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def tag_scores(pred):
    """pred (N, C) 0./1. against Y: share of right tags, share of samples fully right, share of tags found."""
    return {'tags right': (pred == Y).float().mean().item(),
            'samples fully right': (pred == Y).all(dim=1).float().mean().item(),
            'tags found (recall)': ((pred * Y).sum() / Y.sum()).item()}


net_bce = train_tagger(lambda out: F.binary_cross_entropy_with_logits(out, Y))
net_ce = train_tagger(lambda out: F.cross_entropy(out, Y.argmax(dim=1)))
with torch.no_grad():
    pred_bce = (net_bce(X) > 0).float()                       # (N, C)
    pred_ce = F.one_hot(net_ce(X).argmax(dim=1), C).float()   # (N, C) one tag per sample
scores_bce, scores_ce = tag_scores(pred_bce), tag_scores(pred_ce)
for name in scores_bce:
    print(f'{name:20s} BCEWithLogits on multi-hot {scores_bce[name]:.3f} | '
          f'CE on argmax ids {scores_ce[name]:.3f}')
print(f'share of samples with exactly one tag: {counts[1] / N:.3f}')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
names = list(scores_bce)
xs = torch.arange(len(names)).float()
ax.bar(xs - 0.2, [scores_bce[k] for k in names], width=0.4, label='BCEWithLogitsLoss, (N, C) multi-hot')
ax.bar(xs + 0.2, [scores_ce[k] for k in names], width=0.4, label='CrossEntropyLoss, (N,) ids = Y.argmax(1)')
ax.set_xticks(xs.tolist(), names)
ax.set_xlabel('measure (BCE model: tag where logit > 0; CE model: the argmax tag)')
ax.set_ylabel('fraction on the training set')
ax.set_ylim(0, 1.35)
ax.set_title(f'Multi-label data, N = {N}, C = {C} tags')
ax.legend(loc='upper right')
plt.show()

# %% [markdown]
# The CE model can be fully right only on the samples with exactly one tag (their share is printed above), and finds
# well under half of the tags. For multi-label data the loss is `BCEWithLogitsLoss` with `(N, C)` float targets, and
# a prediction is `logits > 0` (probability above 0.5) per tag, not an `argmax`.
#
# ### 6.2 `pos_weight`: one weight per tag, laid along the class dim
#
# Rare tags are often up-weighted with `pos_weight`, a factor on the positive term of each tag:
# $\ell = -[\,p_c\, y \log\sigma(z) + (1-y)\log(1-\sigma(z))\,]$. A common choice for tag c is the number of
# training samples without the tag divided by the number with it, so that both sides weigh the same in total.
# `pos_weight` meets the input by broadcasting (lesson 01, §4.2), which lines shapes up from the **last** dim. For
# `(N, C)` logits the last dim is C, so a `(C,)` tensor lines up with the tags:

# %%
pos_weight = torch.tensor([1., 2., 5., 10., 1.])          # (C,) one factor per tag
Y4, logits4 = Y[:4], torch.randn(4, C)                    # (4, C) each
fig = tp.show_broadcast(Y4, pos_weight, names=('Y', 'pos_weight'), op='*',
                        title='Y * pos_weight: each positive entry gets its tag\'s factor')
plt.show()

# %%
loss_pw = F.binary_cross_entropy_with_logits(logits4, Y4, pos_weight=pos_weight)   # ()
w = pos_weight.view(1, C)                                 # (1, C) weights on the class dim, by hand
by_hand = -(w * Y4 * F.logsigmoid(logits4) + (1 - Y4) * F.logsigmoid(-logits4)).mean()   # ()
print(f'pos_weight (C,) on (N, C): {loss_pw:.6f} | by hand, weights on the class dim: {by_hand:.6f}')

# %% [markdown]
# Only the positive entries (label 1) are weighted; `weight=` would scale the negative ones too. A `pos_weight` of the
# wrong length does not line up with C and raises; one whose length happens to equal another axis lines up with that
# axis instead, which the "Going further" section shows.
#
# ## Summary
#
# * `BCEWithLogitsLoss` and `BCELoss` work **element by element**: the target has **exactly the input's shape** and is **float**, the course's second rule. `CrossEntropyLoss`'s class ids are the input's shape without the class axis, dim 1 (lesson 01). One logit per sample is `(N, 1)` with `(N, 1)` labels; multi-label is `(N, C)` with `(N, C)` multi-hot rows.
# * The label is read as the probability of "yes": hard labels are 0. and 1. `BCELoss` refuses a target outside [0, 1]; `BCEWithLogitsLoss` does not check the target's range, so check it yourself.
# * The errors and their fixes:
#   * "Target size (torch.Size([N])) must be the same as input size (torch.Size([N, 1]))": `y.view_as(logits)`, `y.unsqueeze(1)` or `logits.squeeze(1)` (name the dim);
#   * "element 0 of tensors does not require grad": a `.detach()` cut the loss off from the model; never fix shapes with it;
#   * int labels, "result type Float can't be cast to the desired output type Long": `y.float()`;
#   * "all elements of input should be between 0 and 1": logits went into `BCELoss`; use `BCEWithLogitsLoss`;
#   * "all elements of target should be between 0 and 1": labels outside [0, 1] (percent, say) went into `BCELoss`; rescale them to probabilities;
#   * "Target size (torch.Size([N])) must be the same as input size (torch.Size([N, C]))": class ids for a BCE loss; `CrossEntropyLoss` if one class per sample, `(N, C)` multi-hot floats if several.
# * The same formula written by hand broadcasts `(N, 1)` against `(N,)` into an `(N, N)` table and learns nothing beyond the baseline: the error is a friend.
# * Two logits + softmax (`(N, 2)`, `CrossEntropyLoss`, `(N,)` int64 ids) and one logit + sigmoid (`(N, 1)`, `BCEWithLogitsLoss`, `(N, 1)` float) give the same loss; do not mix their shapes.
# * `pos_weight` has one entry per tag and meets the input's last dim: `(C,)` for `(N, C)` logits.
# * The traps that raise nothing:
#   * sigmoid before `BCEWithLogitsLoss`: the loss cannot go below `log(1 + 1/e)` (y = 1) or `log 2` (y = 0);
#   * `sigmoid` + `BCELoss` instead of `BCEWithLogitsLoss`: confident scores are clamped and stop learning;
#   * `CrossEntropyLoss` with one id per sample on multi-label data: the model names one tag per sample.
#
# ## Going further: `pos_weight` on dense outputs
#
# *This section uses the `(N, C, H, W)` layout of lesson 04 (convolutions); come back to it after that lesson.*
#
# A multi-label segmentation model gives `(N, C, H, W)`: C masks, one logit per pixel and class. A `(C,)` `pos_weight`
# still lines up with the **last** dim, which is now W, not C. When W ≠ C that is an error:

# %% tags=["error-demo"]
N, C, H, W = 2, 4, 3, 5
torch.manual_seed(3)
logits = torch.randn(N, C, H, W)                 # (N, C, H, W) one logit per class and pixel
masks = (torch.rand(N, C, H, W) < 0.3).float()   # (N, C, H, W) float 0./1.
pos_weight = torch.tensor([1., 2., 5., 10.])     # (C,)
with tp.show_error():
    F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight)

# %% [markdown]
# "tensor a (4)" is the `pos_weight`, "tensor b (5)" the input's W, "dimension 3" is W's position. When the image
# happens to be C pixels wide, the same line runs and **silently weights the columns** instead of the classes.
# The fix is to give `pos_weight` the shape `(C, 1, 1)`, so that C meets dim 1 of `(N, C, H, W)`:

# %%
W = C                                            # an image exactly C = 4 pixels wide
torch.manual_seed(3)
logits = torch.randn(N, C, H, W)                 # (N, C, H, W)
masks = (torch.rand(N, C, H, W) < 0.3).float()   # (N, C, H, W)
wrong = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight)              # () runs!
right = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight.view(C, 1, 1))  # ()
w = pos_weight.view(1, C, 1, 1)                  # (1, C, 1, 1) weights on the class dim, by hand
by_hand = -(w * masks * F.logsigmoid(logits) + (1 - masks) * F.logsigmoid(-logits)).mean()  # ()
print(f'pos_weight (C,): {wrong:.4f} | pos_weight (C, 1, 1): {right:.4f} | by hand: {by_hand:.4f}')

# %% [markdown]
# Which weight did each pixel get? With all-positive masks and zero logits every element's loss is `p · log 2`, so
# dividing the unreduced loss by `log 2` reads the weight back. Averaged per class:

# %%
ones, zeros = torch.ones(N, C, H, W), torch.zeros(N, C, H, W)   # (N, C, H, W) each


def weight_per_class(pw):
    per_element = F.binary_cross_entropy_with_logits(zeros, ones, pos_weight=pw,
                                                     reduction='none')        # (N, C, H, W)
    return (per_element / math.log(2)).mean(dim=(0, 2, 3))                                          # (C,)


got_wrong, got_right = weight_per_class(pos_weight), weight_per_class(pos_weight.view(C, 1, 1))
print('intended      ', pos_weight.tolist())
print('(C,)        ->', [round(v, 3) for v in got_wrong.tolist()])
print('(C, 1, 1)   ->', [round(v, 3) for v in got_right.tolist()])

# %%
fig, ax = plt.subplots(figsize=(7, 4))
cs = torch.arange(C).float()
ax.bar(cs - 0.2, got_right.tolist(), width=0.4, label='pos_weight.view(C, 1, 1): weights the classes')
ax.bar(cs + 0.2, got_wrong.tolist(), width=0.4, label='pos_weight (C,): weights the columns (W == C)')
ax.plot(cs.tolist(), pos_weight.tolist(), 'k_', markersize=30, label='intended pos_weight[c]')
ax.set_xticks(cs.tolist(), [f'class {c}' for c in range(C)])
ax.set_xlabel('class c (dim 1 of the logits)')
ax.set_ylabel('mean weight on positive pixels')
ax.set_title(f'(N, C, H, W) = {(N, C, H, W)}: where does pos_weight go?')
ax.legend()
plt.show()

# %% [markdown]
# With the `(C,)` tensor every class gets the same average weight (printed above): each class is weighted 1, 2, 5 and
# 10 across its columns. The loss value differs, no warning is printed, and the rare classes are not up-weighted at
# all. A check that finds it: with all-positive targets, class c's loss must scale by exactly `pos_weight[c]`.
#
# ## Now the exercises
#
# Open `exercises/02-binary-and-multilabel/` and work through the notebook there. Only the first exercise repeats a
# situation of this lesson; the others change the data, the model or the loss, so work out which rule applies. The
# checks also run your code with N = 1 and an odd N, so name your dims.
