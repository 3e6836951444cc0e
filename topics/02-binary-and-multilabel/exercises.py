# %% [markdown]
# # 02 · Binary and multi-label — exercises
#
# Each exercise below holds **code that runs**: run its cell and you meet a real error or a wrong
# result that raises nothing. Only the first is a lesson example in a new setting
# (`course/02-binary-and-multilabel-lesson.ipynb`); in the others the data, the model or the loss is
# another one, so work out which rule of the loss's contract applies before you change anything. Fix the
# code **in place**, in the same cell, then run the check below it. Each heading ends with the kind of
# exercise:
#
# * `[direct application]`: a lesson example in a new setting; the lesson's fix applies.
# * `[transfer]`: the error is a real one, but the lesson's line is not the fix: derive it.
# * `[silent bug]`: nothing raises. Run the cell, read what it printed, and find what is wrong.
# * `[predict, then run]`: write down what code you cannot run will give, then let the check judge.
#
# Shapes use the lesson's names: `N` samples, `C` classes or tags, `logits` (N, 1) or (N, C), `y` or `Y`
# the labels. Each exercise has a **quick check** you can run now, and a **full check**. At grading
# time the full check also runs hidden checks: other shapes (N = 1, an odd N), confident logits, the
# gradient, and a few training steps. "Quick check passed" is not full marks. Confident logits
# (|logit| > 20) are ordinary in a trained classifier: in float32 the sigmoid of a logit above about 17
# rounds to exactly 1.0 and the exp of one above about 89 is inf, so every loss you write here must stay
# exact there (the checks draw logits up to 100). A function must leave its
# arguments as it got them (no in-place changes): the checks verify it. Stuck? `tp.hint("<exercise id>")`
# gives the next hint. Do not edit the check cells: they are restored from the instructor's copy at
# grading.

# %% locked setup
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("02-binary-and-multilabel")   # tp.hint("<exercise>") shows this notebook's hints

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · One logit per sample, one label per sample [direct application]
#
# A loan-default model ends in `nn.Linear(F, 1)`, so its `logits` are (N, 1). The labels `y` come
# from a list: shape (N,), float 0./1. Make `binary_loss` return the mean binary cross-entropy
# with logits. It must work for every N, **including N = 1** (the last batch of an epoch can hold a
# single sample), stay exact for confident logits (|logit| > 20), and the gradient must reach the logits.

# %% answer column_logits
def binary_loss(logits, y):
    """logits (N, 1) float, y (N,) float 0./1. -> mean binary cross-entropy with logits, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, y.view_as(logits))    # (N, 1) with (N, 1)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, y)                  # mean over the batch
    ### END BROKEN CODE


X, y = checks.binary_data(4, 3)                             # (N, F), (N,)
binary_loss(nn.Linear(3, 1)(X), y)                          # logits (N, 1)

# %% quick column_logits 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("column_logits"):
    expected = checks.expected("column_logits")
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(4, 1, generator=g), torch.tensor([1., 0., 0., 1.])   # (4, 1), (4,)
    checks.check_bce_loss(binary_loss, expected, {"logits": logits, "y": y}, grad_of=None)
    logits, y = checks.confident_logits(5, 1, seed=1), torch.tensor([0., 1., 0., 0., 1.])   # (5, 1), (5,)
    checks.check_bce_loss(binary_loss, expected, {"logits": logits, "y": y}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden column_logits 2
def _inputs(N):
    g = torch.Generator().manual_seed(10 + N)
    return {"logits": 3 * torch.randn(N, 1, generator=g),                # (N, 1)
            "y": (torch.rand(N, generator=g) < 0.5).float()}            # (N,)
checks.check_bce_loss_fn(binary_loss, checks.expected("column_logits"), _inputs, sizes=(1, 2, 7))
g = torch.Generator().manual_seed(11)
args = {"logits": checks.confident_logits(7, 1, seed=11),                # (7, 1)
        "y": (torch.rand(7, generator=g) < 0.5).float()}                # (7,)
checks.check_bce_loss(binary_loss, checks.expected("column_logits"), args,
                      label=" with N = 7 and confident logits (|logit| > 20)")
X, y = checks.binary_data(96, 4, seed=3)                # (96, 4), (96,)
checks.check_trains_binary(nn.Linear(4, 1), X, y, binary_loss, steps=60, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 2 · Labels from a margin-loss data set [silent bug]
#
# This spam data set was prepared for a support-vector machine, so every message is labelled **+1 (spam)
# or -1 (not spam)**: `y` is (N, 1) float. The classifier gives one logit per message, (N, 1), and
# `spam_loss` should return the mean binary cross-entropy with logits of "spam" for these labels. The
# cell trains a linear model with it and prints the loss every 20 steps. Nothing raises: read what it
# prints, and fix `spam_loss` for every N, exact also for confident logits (|logit| > 20), without
# changing the caller's `y`.

# %% answer signed_labels
def spam_loss(logits, y):
    """logits (N, 1) float, y (N, 1) float +1./-1. (+1 = spam) -> mean BCE with logits of spam, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, (y + 1) / 2)          # +1/-1 read as 1/0
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, y)                  # (N, 1) with (N, 1)
    ### END BROKEN CODE


X, y = checks.signed_data(96, 4)                            # (N, F), (N, 1) +1./-1. as stored
model = nn.Linear(4, 1)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(61):
    opt.zero_grad()
    loss = spam_loss(model(X), y)                           # ()
    loss.backward()
    opt.step()
    if step % 20 == 0:
        print(f"step {step:2d}: loss {loss.item():.3f}")

# %% quick signed_labels 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("signed_labels"):
    expected = checks.expected("signed_labels")
    g = torch.Generator().manual_seed(2)
    logits, y = torch.randn(4, 1, generator=g), torch.tensor([[1.], [-1.], [-1.], [1.]])   # (4, 1), (4, 1)
    checks.check_bce_loss(spam_loss, expected, {"logits": logits, "y": y}, grad_of=None)
    logits = checks.confident_logits(5, 1, seed=2)                         # (5, 1)
    y = torch.tensor([[-1.], [-1.], [1.], [-1.], [1.]])                     # (5, 1)
    checks.check_bce_loss(spam_loss, expected, {"logits": logits, "y": y}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden signed_labels 2
def _inputs(N):
    g = torch.Generator().manual_seed(20 + N)
    return {"logits": 3 * torch.randn(N, 1, generator=g),                # (N, 1)
            "y": torch.where(torch.rand(N, 1, generator=g) < 0.5, 1.0, -1.0)}   # (N, 1) +1./-1.
checks.check_bce_loss_fn(spam_loss, checks.expected("signed_labels"), _inputs, sizes=(1, 2, 7))
args = {"logits": checks.confident_logits(3, 1, seed=23).abs(), "y": -torch.ones(3, 1)}   # (3, 1): no spam
checks.check_bce_loss(spam_loss, checks.expected("signed_labels"), args,
                      label=" with N = 3, every label -1 and confident logits for spam (20 < logit <= 100)")
X, y = checks.signed_data(96, 5, seed=4)                # (96, 5), (96, 1) +1./-1.
checks.check_trains_binary(nn.Linear(5, 1), X, y, spam_loss, steps=60, min_accuracy=0.95, labels=(y + 1) / 2)

# %% [markdown]
# ## Exercise 3 · A defect detector whose loss never gets low [silent bug]
#
# `Detector` scores machine parts from `n_features` sensor readings. `forward` gives one score per part,
# (N, 1), to be trained with `nn.BCEWithLogitsLoss`; `predict` gives (N, 1) floats: 1. for a part whose
# probability of a defect is above 0.5, 0. otherwise. The cell trains a detector, prints the accuracy of
# `predict`, and asks `tp.overfit_one_batch` whether a fresh one can learn 16 parts by heart. Nothing
# raises and the accuracy looks fine: read what the last line says. Fix the class so that both methods do
# what they promise, for every N and every `n_features`. The check trains it (the loss on held-out parts
# must fall below 0.2) and compares `predict` with the model's own scores.

# %% answer sigmoid_head
class Detector(nn.Module):
    """X (N, n_features) -> (N, 1) one score per part for nn.BCEWithLogitsLoss; predict -> (N, 1) 0./1."""

    def __init__(self, n_features):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 1))

    ### BEGIN SOLUTION
    def forward(self, X):
        return self.body(X)                                 # (N, 1) the raw logit

    def predict(self, X):
        return (self(X) > 0).float()                        # (N, 1) logit > 0 means probability > 0.5
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # def forward(self, X):
    #     return torch.sigmoid(self.body(X))                  # (N, 1)
    #
    # def predict(self, X):
    #     return (self(X) > 0.5).float()                      # (N, 1) 1. = defect
    ### END BROKEN CODE


def make_detector(n_features):
    return Detector(n_features)


X, y = checks.binary_data(96, 4)                            # (N, F), (N,)
target = y.view(-1, 1)                                      # (N, 1) like the scores
model = make_detector(4)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(150):
    opt.zero_grad()
    loss = nn.BCEWithLogitsLoss()(model(X), target)         # ()
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.3f}, accuracy {(model.predict(X) == target).float().mean():.3f}")
last_loss = tp.overfit_one_batch(make_detector(4), X[:16], target[:16], nn.BCEWithLogitsLoss())

# %% quick sigmoid_head 1
# Quick check (1 point): one score per part, the loss falls below 0.2, predict agrees with the scores.
with checks.exercise("sigmoid_head"):
    torch.manual_seed(1)
    X, y = checks.binary_data(96, 4, seed=1)                # (96, 4), (96,)
    model = make_detector(4)
    checks.check_one_logit_per_sample(model, 4, sizes=(5,), what="make_detector(4)(X)")
    checks.check_trains_binary(model, X, y.view(-1, 1), nn.BCEWithLogitsLoss(), steps=150, max_loss=0.2)
    checks.check_predict(model, X[:12], what="make_detector(4).predict(X)")
    checks.passed("quick check: the loss falls below 0.2 and predict agrees with the scores. "
                  + checks.HIDDEN_NOTE)

# %% hidden sigmoid_head 3
torch.manual_seed(2)
model = make_detector(6)                                # F = 6; N below is 1, 2 or 7
checks.check_one_logit_per_sample(model, 6, sizes=(1, 2, 7), what="make_detector(6)(X)")
checks.check_batch_independence(model, torch.randn(7, 6))
X, y = checks.binary_data(150, 6, seed=6)               # (150, 6), (150,)
model = make_detector(6)
checks.check_trains_binary(model, X, y.view(-1, 1), nn.BCEWithLogitsLoss(), steps=150, max_loss=0.2)
checks.check_predict(model, X[:1], what="make_detector(6).predict(X)")
checks.check_predict(model, X[:9], what="make_detector(6).predict(X)")

# %% [markdown]
# ## Exercise 4 · A head cut down to one output [transfer]
#
# A fraud model used to end in `nn.Linear(32, 2)`, trained with the loss below. A colleague changed the
# last layer to `nn.Linear(32, 1)` ("one output is enough for a yes/no question") and kept the loss. So
# `logits` are now (N, 1): one score per transaction, whose sigmoid is the probability of fraud. The
# labels `y` are (N,) int64, 1 for fraud and 0 otherwise. Make `fraud_loss` return the loss that fits one
# score per transaction, for every N, exact also for confident logits (|logit| > 20), with the gradient
# reaching the logits.

# %% answer one_logit_head
def fraud_loss(logits, y):
    """logits (N, 1) float, y (N,) int64 0/1 (1 = fraud) -> mean loss over the batch, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, y.view_as(logits).float())   # (N, 1) float labels
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)                                   # mean over the batch
    ### END BROKEN CODE


X, y = checks.binary_data(6, 3)                             # (N, F), (N,) float 0./1.
fraud_loss(nn.Linear(3, 1)(X), y.long())                    # logits (N, 1), labels (N,) int64

# %% quick one_logit_head 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("one_logit_head"):
    expected = checks.expected("one_logit_head")
    g = torch.Generator().manual_seed(3)
    logits, y = torch.randn(4, 1, generator=g), torch.tensor([1, 0, 0, 1])   # (4, 1), (4,) int64
    checks.check_bce_loss(fraud_loss, expected, {"logits": logits, "y": y}, grad_of=None)
    logits, y = checks.confident_logits(5, 1, seed=3), torch.tensor([0, 1, 0, 0, 1])   # (5, 1), (5,)
    checks.check_bce_loss(fraud_loss, expected, {"logits": logits, "y": y}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden one_logit_head 2
def _inputs(N):
    g = torch.Generator().manual_seed(30 + N)
    return {"logits": 3 * torch.randn(N, 1, generator=g),                # (N, 1)
            "y": torch.randint(0, 2, (N,), generator=g)}                # (N,) int64
checks.check_bce_loss_fn(fraud_loss, checks.expected("one_logit_head"), _inputs, sizes=(1, 3, 8))
args = {"logits": checks.confident_logits(7, 1, seed=33),                # (7, 1)
        "y": torch.tensor([1, 0, 1, 1, 0, 0, 1])}                       # (7,) int64
checks.check_bce_loss(fraud_loss, checks.expected("one_logit_head"), args,
                      label=" with N = 7 and confident logits (|logit| > 20)")
X, y = checks.binary_data(96, 4, seed=5)                # (96, 4), (96,)
checks.check_trains_binary(nn.Linear(4, 1), X, y.long(), fraud_loss, steps=60, min_accuracy=0.95, labels=y)

# %% [markdown]
# ## Exercise 5 · Tags stored as lists of ids [silent bug]
#
# A photo can show any of C objects. The annotation tool stores the objects of each photo as a row of
# tag ids, padded with -1 to the longest row: `tag_ids` is (N, K) int64, so the row `[2, 0, -1]` is a
# photo with tags 2 and 0, and `[-1, -1, -1]` a photo with none. `multilabel_loss` turns each row into a
# multi-hot row of C floats and returns the mean binary cross-entropy with logits over all N·C entries.
# The cell tries it on logits that are right for every tag of every photo (+8 where the photo has the tag,
# -8 where it does not): a loss near 0 is what that must give. Read what it prints, and fix the function
# for every N, C and K, exact also for confident logits (|logit| > 20), without changing `tag_ids`.

# %% answer multilabel
def multilabel_loss(logits, tag_ids):
    """logits (N, C) float, tag_ids (N, K) int64 padded with -1 -> mean BCE with logits over all N*C."""
    N, C = logits.shape
    Y = torch.zeros(N, C)                                   # (N, C) multi-hot: 1. for each tag of a photo
    rows = torch.arange(N)[:, None].expand_as(tag_ids)      # (N, K) the photo each tag id belongs to
    ### BEGIN SOLUTION
    real = tag_ids >= 0                                     # (N, K) the entries that are tags
    Y[rows[real], tag_ids[real]] = 1.0
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # Y[rows, tag_ids] = 1.0
    ### END BROKEN CODE
    return F.binary_cross_entropy_with_logits(logits, Y)


tag_ids = torch.tensor([[2, 0, -1], [1, -1, -1], [3, 1, 0], [-1, -1, -1]])   # (N, K) = (4, 3); C = 4 tags
perfect = torch.tensor([[8., -8., 8., -8.],                 # tags 2 and 0
                        [-8., 8., -8., -8.],                # tag 1
                        [8., 8., -8., 8.],                  # tags 3, 1 and 0
                        [-8., -8., -8., -8.]])              # no tag: (N, C) logits right for every tag
print(f"loss of logits that are right for every tag: {multilabel_loss(perfect, tag_ids):.4f}")

# %% quick multilabel 1
# Quick check (1 point): (N, C, K) = (4, 5, 3), and (3, 5, 2) with confident logits.
with checks.exercise("multilabel"):
    expected = checks.expected("multilabel")
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(4, 5, generator=g)                 # (4, 5)
    tag_ids = torch.tensor([[4, 1, -1], [0, -1, -1], [2, 3, 1], [-1, -1, -1]])   # (4, 3)
    checks.check_bce_loss(multilabel_loss, expected, {"logits": logits, "tag_ids": tag_ids}, grad_of=None)
    logits = checks.confident_logits(3, 5, seed=7)          # (3, 5)
    tag_ids = torch.tensor([[3, -1], [1, 4], [-1, -1]])     # (3, 2)
    checks.check_bce_loss(multilabel_loss, expected, {"logits": logits, "tag_ids": tag_ids}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: (4, 5) logits with (4, 3) tag ids, and (3, 5) confident logits with (3, 2) "
                  "tag ids, give the right loss. " + checks.HIDDEN_NOTE)

# %% hidden multilabel 2
def _inputs(N):
    g = torch.Generator().manual_seed(40 + N)
    tag_ids, _ = checks.padded_tags(N, 6, 4, seed=40 + N)               # (N, 4) int64, -1 pads
    return {"logits": 3 * torch.randn(N, 6, generator=g), "tag_ids": tag_ids}   # (N, 6)
checks.check_bce_loss_fn(multilabel_loss, checks.expected("multilabel"), _inputs, sizes=(1, 2, 7))
for N, C, K in ((5, 3, 4), (6, 7, 2)):                  # K above C, and K below C
    tag_ids, _ = checks.padded_tags(N, C, K, seed=44 + N)
    args = {"logits": checks.confident_logits(N, C, seed=44 + N), "tag_ids": tag_ids}
    checks.check_bce_loss(multilabel_loss, checks.expected("multilabel"), args,
                          label=f" with (N, C, K) = {(N, C, K)} and confident logits (|logit| > 20)")
X, Y = checks.multilabel_data(96, 6, 4, seed=5)         # (96, 6), (96, 4)
checks.check_trains_binary(nn.Linear(6, 4), X, checks.tag_ids_of(Y, K=5), multilabel_loss, steps=60,
                           min_accuracy=0.9, labels=Y)

# %% [markdown]
# ## Exercise 6 · Up-weighting rare tags [transfer]
#
# Some tags are rare, so the loss gives the positive entries of tag c the weight
# `pos_weight[c]` = (training samples without tag c) / (training samples with tag c), counted over the
# whole training set: `Y_train`, (M, C) float multi-hot, one row per training sample. `weighted_tag_loss`
# gets a batch's `logits` and labels `Y`, both (N, C), and `Y_train`, and returns the mean binary
# cross-entropy with logits with those weights. Make it work for every N, M and C (also when M happens to
# equal C), exact also for confident logits (|logit| > 20). Every tag occurs in `Y_train` at least once
# and is missing from it at least once.

# %% answer tag_pos_weight
def weighted_tag_loss(logits, Y, Y_train):
    """logits (N, C), Y (N, C) float multi-hot, Y_train (M, C) float multi-hot -> weighted mean BCE."""
    ### BEGIN SOLUTION
    with_tag = Y_train.sum(dim=0)                           # (C,) training samples that carry each tag
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # with_tag = Y_train.sum(dim=1)                           # training samples that carry each tag
    ### END BROKEN CODE
    without_tag = Y_train.shape[0] - with_tag
    return F.binary_cross_entropy_with_logits(logits, Y, pos_weight=without_tag / with_tag)


Y_train = checks.rare_tags(36, 5, seed=1)                   # (M, C) the training set's labels
X, Y = checks.multilabel_data(6, 3, 5, seed=2)              # (N, F), (N, C) one batch
weighted_tag_loss(nn.Linear(3, 5)(X), Y, Y_train)

# %% quick tag_pos_weight 1
# Quick check (1 point): (N, C) = (4, 5) with M = 30, and (3, 5) with confident logits.
with checks.exercise("tag_pos_weight"):
    expected = checks.expected("tag_pos_weight")
    g = torch.Generator().manual_seed(8)
    Y_train = checks.rare_tags(30, 5, seed=8)               # (30, 5)
    logits, Y = torch.randn(4, 5, generator=g), checks.rare_tags(4, 5, seed=9)   # (4, 5), (4, 5)
    checks.check_bce_loss(weighted_tag_loss, expected, {"logits": logits, "Y": Y, "Y_train": Y_train},
                          grad_of=None)
    logits, Y = checks.confident_logits(3, 5, seed=8), checks.rare_tags(3, 5, seed=10)   # (3, 5), (3, 5)
    checks.check_bce_loss(weighted_tag_loss, expected, {"logits": logits, "Y": Y, "Y_train": Y_train},
                          grad_of=None, label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: a (4, 5) batch, and a (3, 5) batch with confident logits, weighted from a "
                  "(30, 5) training set, give the right loss. " + checks.HIDDEN_NOTE)

# %% hidden tag_pos_weight 2
# N, C, M all different; N = 1 and an odd N; M == C, where a count along the wrong axis runs silently
for N, C, M, scale in ((1, 4, 9, 3), (7, 3, 20, 3), (5, 6, 6, 3), (2, 5, 13, 0)):
    g = torch.Generator().manual_seed(60 + N + C)
    logits = 3 * torch.randn(N, C, generator=g) if scale else checks.confident_logits(N, C, seed=60 + N)
    args = {"logits": logits, "Y": (torch.rand(N, C, generator=g) < 0.4).float(),
            "Y_train": checks.rare_tags(M, C, seed=60 + M)}
    checks.check_bce_loss(weighted_tag_loss, checks.expected("tag_pos_weight"), args,
                          label=f" with (N, C) = {(N, C)}, M = {M}"
                          + ("" if scale else " and confident logits (|logit| > 20)"))
X, Y = checks.multilabel_data(96, 6, 4, seed=7)         # (96, 6), (96, 4)
Y_train = checks.rare_tags(50, 4, seed=7)               # (50, 4)


def loss_with_rare_tags(out, labels):
    return weighted_tag_loss(out, labels, Y_train)


checks.check_trains_binary(nn.Linear(6, 4), X, Y, loss_with_rare_tags, steps=100, min_accuracy=0.9)

# %% [markdown]
# ## Exercise 7 · A recall that flatters the model [silent bug]
#
# `tag_recall` measures, for each tag, how many of the photos that carry it the model finds: of the
# samples with tag c, the fraction whose predicted probability of tag c is above 0.5. It gets the logits
# (N, C) and the multi-hot labels `Y` (N, C) float, and returns a (C,) float tensor. The cell runs it on
# the logits of a model that was never trained. Read what it prints: is that plausible for a model that
# has learnt nothing? Fix it for every N and C. A tag that no sample carries gives 0 / 0; such tags are not
# checked.

# %% answer tag_recall
def tag_recall(logits, Y):
    """logits (N, C) float, Y (N, C) float multi-hot -> (C,) float: per tag, the share of its samples found"""
    probs = torch.sigmoid(logits)                           # (N, C) the probability of each tag
    ### BEGIN SOLUTION
    found = (probs > 0.5).float()                           # (N, C) 1. where the model predicts the tag
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # found = (probs > 0).float()                             # (N, C) 1. where the model predicts the tag
    ### END BROKEN CODE
    return (found * Y).sum(dim=0) / Y.sum(dim=0)            # (C,)


X, Y = checks.multilabel_data(12, 6, 4, seed=3)             # (N, F), (N, C)
untrained = nn.Linear(6, 4)
with torch.no_grad():
    print("recall per tag of an untrained model:", tag_recall(untrained(X), Y))

# %% quick tag_recall 1
# Quick check (1 point): N = 9, C = 4.
with checks.exercise("tag_recall"):
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(9, 4, generator=g)                 # (9, 4)
    Y = checks.rare_tags(9, 4, seed=11)                     # (9, 4) every tag carried
    checks.check_tag_recall(tag_recall, logits, Y, checks.expected("tag_recall")(logits, Y))
    checks.passed("quick check: N = 9, C = 4 gives the right recall. " + checks.HIDDEN_NOTE)

# %% hidden tag_recall 2
for N, C in ((1, 3), (7, 4), (5, 5), (11, 2)):          # N = 1, odd N, N == C
    g = torch.Generator().manual_seed(70 + N)
    logits = 2 * torch.randn(N, C, generator=g)         # (N, C)
    Y = (torch.rand(N, C, generator=g) < 0.5).float()   # (N, C)
    Y[0, 0] = 1.0                                       # at least one tag carried
    checks.check_tag_recall(tag_recall, logits, Y, checks.expected("tag_recall")(logits, Y),
                            label=f" with N = {N}, C = {C}")
    checks.check_tag_recall(tag_recall, 6 * (2 * Y - 1), Y, torch.ones(C),
                            label=f" with N = {N}, C = {C} and logits right for every tag")
    checks.check_tag_recall(tag_recall, 6 * (1 - 2 * Y), Y, torch.zeros(C),
                            label=f" with N = {N}, C = {C} and logits wrong for every tag")

# %% [markdown]
# ## Exercise 8 · Shapes in a tagger you cannot run [predict, then run]
#
# Nothing in this notebook builds the pipeline described below, so work each shape out on paper and write
# it as a tuple of ints (`()` for a scalar). Then run the check: it judges all predictions at once and names
# the ones that miss, never their answer. For each miss, write one sentence in `why` saying which step you
# misread (`why["shape_table"] = "..."`), then correct the prediction.
#
# **The pipeline.** A bird-song tagger. Each recording is summarised as 64 numbers, and any number of 17
# species can be heard in it. The data set holds **1,000 recordings**: the inputs `X_all` hold one row of 64
# numbers per recording, and the labels `Y_all` one float multi-hot row per recording, with one column per
# species. A data loader serves them in batches of 48 recordings, in order, and keeps the last, shorter
# batch. The tagger is a small perceptron: a linear layer from the 64 numbers to 128 hidden units, a ReLU,
# then a linear layer from those 128 units to one logit per species. A second model, `singing`, answers one
# question, "is any bird singing?": the same layers, except that its last linear layer has a single output.
# Take the **last** batch of an epoch, `X` and `Y`; `logits` is the tagger's output on `X` and `z` is the
# output of `singing` on `X`. Predict the shape of:
#
# | name | the shape of |
# |---|---|
# | `shape_logits` | `logits` |
# | `shape_bce_none` | the binary cross-entropy with logits of `logits` against `Y`, with no reduction |
# | `shape_per_recording` | that unreduced loss, averaged along dim 1 |
# | `shape_tags_found` | the predictions of the tagger (1. where a logit is above 0, else 0.), summed along dim 0 |
# | `shape_pos_weight` | over the whole data set, the number of recordings without each species divided by the number with it |
# | `shape_any` | the largest entry along dim 1 of `Y` (1. if any species is heard in that recording) |
# | `shape_z` | `z` |
# | `shape_table` | `z` minus the tensor of the row above (`shape_any`), as a plain subtraction |
#
# With **1,009 recordings** instead, take the last batch and the output `z` of `singing` on it:
#
# | name | the shape of |
# |---|---|
# | `shape_z_squeezed` | `z` after a squeeze that names no dim |
# | `shape_z_column` | column 0 of `z`, taken by indexing every row and column 0 |

# %% answer predict_tagger
### BEGIN SOLUTION
shape_logits = (40, 17)
shape_bce_none = (40, 17)
shape_per_recording = (40,)
shape_tags_found = (17,)
shape_pos_weight = (17,)
shape_any = (40,)
shape_z = (40, 1)
shape_table = (40, 40)
shape_z_squeezed = ()
shape_z_column = (1,)
why = {}
### END SOLUTION
### BEGIN BROKEN CODE
# shape_logits = None
# shape_bce_none = None
# shape_per_recording = None
# shape_tags_found = None
# shape_pos_weight = None
# shape_any = None
# shape_z = None
# shape_table = None
# shape_z_squeezed = None
# shape_z_column = None
# why = {}
### END BROKEN CODE

# %% quick predict_tagger 2
# Quick check (2 points): every prediction, judged at once.
with checks.exercise("predict_tagger"):
    predictions = {"shape_logits": shape_logits, "shape_bce_none": shape_bce_none,
                   "shape_per_recording": shape_per_recording, "shape_tags_found": shape_tags_found,
                   "shape_pos_weight": shape_pos_weight, "shape_any": shape_any, "shape_z": shape_z,
                   "shape_table": shape_table, "shape_z_squeezed": shape_z_squeezed,
                   "shape_z_column": shape_z_column}
    checks.check_predictions(predictions, checks.expected("predict_tagger")(), why)
    checks.passed("quick check: all 10 predictions are right. The full check at grading judges them again; "
                  "nothing about them is hidden.")

# %% hidden predict_tagger 2
# Full check (2 points): the same predictions, judged again at grading.
checks.check_predictions(predictions, checks.expected("predict_tagger")(), why)
