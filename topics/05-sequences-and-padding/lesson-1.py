# %% [markdown]
# # 05 · Part 1 · Tagging and padding: scores (N, T, V), targets (N, T)
#
# *Time for a novice: about 45 minutes.*
#
# A sequence model scores every time step, so its output gains a time axis T, and so does the target. In this part
# you will learn
#
# * the contract of `CrossEntropyLoss` for sequences, and why it wants the classes in dim 1;
# * why a tagger's `logits` are `(N, T, V)`, the two correct ways to hand them to the loss, and the one that runs and
#   learns nothing (`view` instead of `permute`, in a picture of memory order);
# * how to pad sequences of different lengths, and how to keep the padding out of the loss **and** out of the metrics;
#   what the common ways of averaging over tokens each weigh.
#
# Part 2 (`course/05-sequences-and-padding-lesson-2.ipynb`) covers the recurrent layers' own layouts and models whose
# target has another length than their input. Exercises 1 to 3 of `exercises/05-sequences-and-padding/` use this part.

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## The contract on one card: classes in dim 1
#
# Lesson 01 ("The contract on one card") drew the contract of `CrossEntropyLoss`: the class-id target is the input's
# shape *without the class axis, dim 1*, for an input `(N, C)` and for one with more axes, `(N, C, d1, d2, ...)`. A
# tagger labels every token of a sequence, so its scores have one more axis, time. Drawn for N = 4 sequences, V = 5
# classes (tags) and T = 7 time steps, with the classes where the loss reads them:

# %%
fig = tp.show_contract('CrossEntropyLoss', (4, 5, 7), axes='N V T')
plt.show()

# %% [markdown]
# The class-id target is `(N, T)`: one tag per token. Why must the classes be dim 1, before the time axis? For the
# reason lesson 04 gives ("The contract on one card, and why the classes are dim 1"): PyTorch lays its data out
# **channels first**. An image batch is `(N, C, H, W)`, and a 1-d signal for `nn.Conv1d` is `(N, C, L)`, channels, then
# positions. Class scores are one more set of channels, one per class, so a loss reads them from dim 1, whatever
# positions follow: none for a classifier `(N, C)`, pixels for a segmenter `(N, C, H, W)`, time steps for a tagger
# `(N, V, T)`.
#
# (The course's other rule, for targets that are values rather than class ids, `BCEWithLogitsLoss` in lesson 02 and
# `MSELoss` in lesson 03: the target has exactly the input's shape.)
#
# ## 1. V scores per token, one id per token
#
# A *tagger* reads N sequences of T token ids and gives every token one of V tags (part of speech, named entity, the
# next word of a language model: V is the size of the output vocabulary). The usual model is an `nn.Embedding` that
# turns each id into a vector of features, a recurrent layer (here a GRU) that reads the sequence step by step, and a
# `nn.Linear` that scores the V tags at every step. Part 2 looks at the recurrent layer's own shapes; here it is enough
# that it gives one vector per token. `nn.Linear` acts on the last dim, so the scores come out **class-last**:
# `(N, T, V)`. The target holds one id per token: `(N, T)`.

# %%
torch.manual_seed(0)
N, T, V = 4, 7, 5
X = torch.randint(0, 10, (N, T))                 # (N, T) token ids from a vocabulary of 10
embed = nn.Embedding(10, 8)
rnn = nn.GRU(8, 16, batch_first=True)
head = nn.Linear(16, V)
out, _ = rnn(embed(X))                           # (N, T, 16) one vector per token
logits = head(out)                               # (N, T, V)
y = torch.randint(0, V, (N, T))                  # (N, T) one tag id per token
print('X', tuple(X.shape), '| logits', tuple(logits.shape), '| y', tuple(y.shape), y.dtype)

# %% [markdown]
# The picture draws N down the page, the last dim across and the middle dim as depth. After `permute(0, 2, 1)` the last
# dim of the scores is T, as in the target, and the V scores of a token lie behind each other.

# %%
fig = tp.show_shapes({'logits': logits, 'logits.permute(0, 2, 1)': logits.permute(0, 2, 1), 'y': y},
                     axes={'logits': 'N T V', 'logits.permute(0, 2, 1)': 'N V T', 'y': 'N T'})
plt.show()

# %% [markdown]
# ## 2. The classes must be dim 1
#
# Handed over as they come, `(N, T, V)`, the scores are read as T = 7 classes over V = 5 positions, so the loss wants a
# target of shape `(N, 5)`. In the message, "Expected target size [4, 5]" is `[N, V]`, and "got [4, 7]" is `[N, T]`:

# %% tags=["error-demo"]
with tp.show_error('CrossEntropyLoss', logits, y):
    F.cross_entropy(logits, y)

# %% [markdown]
# Two fixes are right, and they give the same number:
#
# 1. move the classes to dim 1: `logits.permute(0, 2, 1)` is `(N, V, T)`, with the target `(N, T)` as it is;
# 2. flatten both so that every token is one sample: `logits.reshape(-1, V)` is `(N·T, V)` and `y.reshape(-1)` is
#    `(N·T,)`. This pairs the right rows only because both tensors list their tokens **in the same order**: both are
#    batch-first, so row i of each is token i of the batch, sequence after sequence.
#
# A loop computes the same loss token by token from its definition, log-sum-exp minus the true score, as a third
# opinion. (`torch.logsumexp(v, 0)` is log(exp(v[0]) + exp(v[1]) + ...), computed without overflow: the log of
# softmax's denominator.)

# %%
loss_permute = F.cross_entropy(logits.permute(0, 2, 1), y)              # (N, V, T) with (N, T)
loss_flat = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))       # (N*T, V) with (N*T,)
loss_loop = torch.stack([torch.logsumexp(logits[n, t], 0) - logits[n, t, y[n, t]]      # token by token
                         for n in range(y.shape[0]) for t in range(y.shape[1])]).mean()
print(f'permute {loss_permute:.6f} | flatten both {loss_flat:.6f} | token by token {loss_loop:.6f}')

# %% [markdown]
# Flattening only one side is the next error: the logits now have N·T rows and the target N.

# %% tags=["error-demo"]
logits_flat = logits.reshape(-1, V)              # (N*T, V)
with tp.show_error('CrossEntropyLoss', logits_flat, y):
    F.cross_entropy(logits_flat, y)

# %% [markdown]
# ### 2.1 The fix that runs and is wrong: `view` instead of `permute`
#
# `logits.view(N, V, T)` (or `reshape(N, V, T)`) has the right shape, so the loss runs. But `view` moves no number: it
# reads the numbers of each sample in the order they lie in memory and cuts them into rows of another length.
# `permute` keeps every number with its own axes and only changes which axis comes first. The picture numbers the
# cells of one small tensor, T = 3 tokens by V = 4 scores, by their place in memory, and shows where each goes:

# %%
one_sample = torch.arange(12.).reshape(3, 4)     # (T, V): 3 tokens, 4 scores each
fig = tp.show_memory_order(one_sample, (4, 3), (1, 0))
plt.show()

# %% [markdown]
# In the permuted tensor, column t holds the four scores of token t (0, 1, 2, 3 are token 0's). In the viewed one,
# column 0 holds cells 0, 3, 6 and 9: scores of three different tokens. On the real logits, the "V scores of token 0"
# that the loss reads after a `view` are not token 0's:

# %%
scores_token0 = logits[0, 0]                                  # (V,) the real scores of token 0 of sample 0
permuted = logits.permute(0, 2, 1)[0, :, 0]                   # (V,) what permute hands to the loss
viewed = logits.view(N, V, T)[0, :, 0]                        # (V,) what view hands to the loss
print('scores of token 0:   ', scores_token0.detach().numpy().round(2))
print('after permute(0,2,1):', permuted.detach().numpy().round(2))
print('after view(N, V, T): ', viewed.detach().numpy().round(2))
print(f'loss with view: {F.cross_entropy(logits.view(N, V, T), y):.6f} (right: {loss_permute:.6f})')

# %% [markdown]
# How much does it matter? We train a tiny tagger twice on the same data: N = 64 sequences of T = 9 tokens, and the tag
# of each token is the token one step earlier (0 at the first step), so the model has to remember. Both runs start from
# the same weights and take 100 Adam steps; only the way the logits reach the loss differs: `permute` (flattening both
# sides gives the identical loss, hence the identical run) or `view`. The accuracy is measured on 64 new sequences.

# %%
class Tagger(nn.Module):
    """Token ids (N, T) -> tag scores (N, T, V)."""

    def __init__(self, n_tokens, n_tags, emb=8, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_tags)

    def forward(self, X):                        # X (N, T)
        out, _ = self.rnn(self.embed(X))         # (N, T, hidden)
        return self.head(out)                    # (N, T, V)


N, T, V = 64, 9, 8
X_train, y_train = checks.tagging_data(N, T, V, seed=0)   # (N, T), (N, T)
X_test, y_test = checks.tagging_data(N, T, V, seed=1)     # (N, T), (N, T)
print('X', tuple(X_train.shape), '| y', tuple(y_train.shape), '\nfirst sequence', X_train[0].tolist(),
      '\nits tags      ', y_train[0].tolist())

LOSSES = {
    'permute(0, 2, 1)': lambda logits, y: F.cross_entropy(logits.permute(0, 2, 1), y),   # (N, V, T) with (N, T)
    'view(N, V, T)': lambda logits, y: F.cross_entropy(logits.view(N, V, T), y),         # runs, scrambled
}


def train_tagger(loss_fn, steps=100, lr=0.03, every=5):
    torch.manual_seed(0)                         # the same initial weights for both runs
    model = Tagger(V, V)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, accs = [], []
    for step in range(1, steps + 1):
        loss = loss_fn(model(X_train), y_train)  # (N, T, V) with (N, T)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % every == 0:
            with torch.no_grad():
                accs.append((model(X_test).argmax(dim=-1) == y_test).float().mean().item())
    return losses, accs


runs = {name: train_tagger(fn) for name, fn in LOSSES.items()}
for name, (losses, accs) in runs.items():
    print(f'{name:17s} final training loss {losses[-1]:.4f} | test accuracy {accs[-1]:.3f}')
print(f'chance: 1/V = {1 / V:.3f}')

# %%
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
for name, (losses, accs) in runs.items():
    ax_loss.plot(range(1, len(losses) + 1), losses, label=name)
    ax_acc.plot(range(5, 5 * len(accs) + 1, 5), accs, marker='o', markersize=3, label=name)
ax_loss.set_yscale('log')
ax_loss.set_xlabel('Adam step')
ax_loss.set_ylabel('training loss (cross-entropy, log scale)')
ax_loss.set_title('The loss falls in both runs')
ax_acc.axhline(1 / V, color='gray', linestyle=':', label='chance 1/V')
ax_acc.set_xlabel('Adam step')
ax_acc.set_ylabel('token accuracy on new sequences')
ax_acc.set_title('Only the permuted run learns the task')
ax_loss.legend()
ax_acc.legend()
plt.show()

# %% [markdown]
# The training loss of the `view` run falls too: the model memorises which scrambled number has to be high for each of
# the 64 training sequences. It has learned nothing about tags, so on new sequences it stays close to chance, while the
# permuted run tags them well. And when **T happens to equal V**, the unpermuted call raises nothing at all. Always
# `permute` (or `transpose`) to move an axis, never `view` or `reshape`; flatten only tensors whose rows are in the
# same order.
#
# ## 3. Padding
#
# Real sequences have different lengths. To stack them into one `(N, T)` tensor, the short ones are padded to the
# longest length T. The padded steps are not tokens: the loss must skip them, and so must every metric.
#
# `nn.utils.rnn.pad_sequence` pads a list of sequences. For the targets, pad with **-100**: it is the default
# `ignore_index` of `CrossEntropyLoss` and `NLLLoss`, the value they skip. The mask of real tokens follows from the
# lengths: position t of row n is real when t < lengths[n].

# %%
torch.manual_seed(19)
V = 5
lengths = torch.tensor([6, 2, 4, 3])                                         # (N,)
tags = [torch.randint(0, V, (int(n),)) for n in lengths]                     # N sequences of different lengths
y_pad = nn.utils.rnn.pad_sequence(tags, batch_first=True, padding_value=-100)  # (N, T)
N, T = y_pad.shape
logits = torch.randn(N, T, V)                                                # (N, T, V) scores from some model
mask = torch.arange(T)[None, :] < lengths[:, None]                           # (N, T) True on real tokens
print(y_pad)
print(mask.int())
print(f'{int(mask.sum())} real tokens out of N·T = {N * T}: real fraction {mask.float().mean():.3f}')

# %% [markdown]
# A pad value that is not a class and not `ignore_index` is out of range. Padding with -1 is common (and fine with
# `ignore_index=-1`); without it (`y.masked_fill(~mask, -1)` is a copy of `y` with -1 wherever the mask is False):

# %% tags=["error-demo"]
y_minus1 = y_pad.masked_fill(~mask, -1)                                      # (N, T) pads are -1
with tp.show_error('CrossEntropyLoss', logits.permute(0, 2, 1), y_minus1):
    F.cross_entropy(logits.permute(0, 2, 1), y_minus1)

# %% [markdown]
# ### 3.1 Averaging over tokens: what each way weighs
#
# The usual loss of a padded batch is the **mean over the real tokens**: every real token weighs the same, and a
# sequence counts in proportion to its length. `CrossEntropyLoss` with `ignore_index` computes exactly that, and so
# does a per-token loss (`reduction='none'`, one loss per target entry, `(N, T)`) summed under the mask and divided by
# the number of real tokens. Three tempting variants give other numbers:
#
# * padding the targets with a **real id** (0 here is a real tag) counts every pad as a token of class 0: wrong;
# * `ignore_index=0` when 0 is also a real tag skips the pads, and the real 0-tags with them: wrong;
# * **`(loss * mask).mean()`** zeroes the pads but still divides by N·T, so the loss shrinks by the real fraction:
#   wrong, and it changes with the amount of padding.
#
# A fourth is not a mistake but **another weighting**: the mean of each sequence's mean. It weighs every *sequence*
# the same, so a token of a short sequence counts more than one of a long sequence. Some code uses it on purpose, when
# each sentence should count once whatever its length; it is simply not the per-token mean. Say which one you mean.

# %%
logits_nvt = logits.permute(0, 2, 1)                                         # (N, V, T)
y_zero = y_pad.masked_fill(~mask, 0)                                         # (N, T) pads are 0, a real tag
per_token = F.cross_entropy(logits_nvt, y_zero, reduction='none')            # (N, T) one loss per step
right = {
    'ignore_index=-100 (default)': F.cross_entropy(logits_nvt, y_pad),
    'ignore_index=-1 on -1 pads': F.cross_entropy(logits_nvt, y_minus1, ignore_index=-1),
    '(loss * mask).sum() / mask.sum()': (per_token * mask).sum() / mask.sum(),
    'token by token, real tokens only': torch.stack([torch.logsumexp(logits[n, t], 0) - logits[n, t, y_pad[n, t]]
                                                     for n in range(N) for t in range(int(lengths[n]))]).mean(),
}
other = {
    'pads as real tag 0': ('wrong', F.cross_entropy(logits_nvt, y_zero)),
    'ignore_index=0, 0 is a real tag': ('wrong', F.cross_entropy(logits_nvt, y_zero, ignore_index=0)),
    '(loss * mask).mean()': ('wrong', (per_token * mask).mean()),
    'mean per sequence, then mean': ('another weighting', ((per_token * mask).sum(1) / lengths).mean()),
}
for name, value in right.items():
    print(f'{name:34s} {value:.4f}   mean over the real tokens')
for name, (verdict, value) in other.items():
    print(f'{name:34s} {value:.4f}   {verdict}')
ratio = other['(loss * mask).mean()'][1] / right['token by token, real tokens only']
print(f'(loss * mask).mean() / mean over the real tokens = {ratio:.3f} = the real fraction {mask.float().mean():.3f}')

# %% [markdown]
# A habit catches `(loss * mask).mean()` before any training: an untrained model spreads its probability evenly
# over the V classes, so its loss per token is about log V. `tp.loss_at_init` measures the loss of a fresh tagger on
# a padded batch (12 steps per row, some of them pads; the cell prints the fraction of real ones) with both averages
# and says what it sees:

# %%
X_pad, y_tags = checks.tagging_data(64, 12, 8, seed=2, padded=True)          # (64, 12) ids, pads 0; tags, pads -100
real = y_tags != -100                                                        # (64, 12)


def mean_over_real_tokens(out, y):                                           # out (N, T, V), y (N, T)
    return F.cross_entropy(out.permute(0, 2, 1), y)


def masked_mean_over_grid(out, y):
    losses = F.cross_entropy(out.permute(0, 2, 1), y.clamp(min=0), reduction='none')   # (N, T)
    return (losses * (y != -100)).mean()


torch.manual_seed(0)
fresh = Tagger(8, 8)
print(f'real fraction of this batch: {real.float().mean():.3f}')
tp.loss_at_init(fresh, X_pad, y_tags, mean_over_real_tokens, C=8)
tp.loss_at_init(fresh, X_pad, y_tags, masked_mean_over_grid, C=8)

# %% [markdown]
# The wrong averages change with the amount of padding, while the right value does not: padding is an accident of how
# the batch was put together. Here the same real tokens get 0 to 30 extra pad steps per row (what a longer sequence
# in the batch would cause):

# %%
def with_extra_padding(extra):
    more = torch.full((N, extra), -100)                                      # (N, extra)
    y_more = torch.cat([y_pad, more], dim=1)                                 # (N, T + extra)
    logits_more = torch.cat([logits, torch.randn(N, extra, V)], dim=1)       # (N, T + extra, V)
    return logits_more.permute(0, 2, 1), y_more                              # (N, V, T'), (N, T')


torch.manual_seed(2)
extras = list(range(0, 31, 2))
curves = {'ignore_index=-100': [], '(loss * mask).mean()': [], 'pads as real tag 0': []}
for extra in extras:
    lg, yy = with_extra_padding(extra)
    real_more = yy != -100                                                   # (N, T')
    curves['ignore_index=-100'].append(F.cross_entropy(lg, yy).item())
    per_tok = F.cross_entropy(lg, yy.clamp(min=0), reduction='none')         # (N, T') pads read as tag 0
    curves['(loss * mask).mean()'].append((per_tok * real_more).mean().item())
    curves['pads as real tag 0'].append(F.cross_entropy(lg, yy.clamp(min=0)).item())

fig, ax = plt.subplots(figsize=(7, 4))
for name, values in curves.items():
    ax.plot(extras, values, marker='o', markersize=3, label=name)
ax.set_xlabel(f'extra pad steps per row (the same {int(mask.sum())} real tokens)')
ax.set_ylabel('loss of the batch')
ax.set_title('Only the mean over real tokens ignores the padding')
ax.legend()
plt.show()
print({name: f'{values[0]:.3f} -> {values[-1]:.3f}' for name, values in curves.items()})

# %% [markdown]
# ### 3.2 Metrics count pads too
#
# The same care applies to accuracy. Take predictions that are **right on every real token** (the argmax of the scores
# is the tag). Compared over the whole `(N, T)` grid, the -100 pads never match, and a perfect tagger looks poor; had
# the targets been padded with 0, every pad predicted as 0 would count as a hit instead, and a weak tagger would look
# good.

# %%
perfect = 10 * F.one_hot(y_pad.clamp(min=0), V).float()                      # (N, T, V) right on every real token
pred = perfect.argmax(dim=-1)                                                # (N, T)
acc_grid = (pred == y_pad).float().mean()                                    # counts the pads as misses
acc_real = (pred == y_pad)[mask].float().mean()                              # real tokens only
print(f'accuracy over the (N, T) grid: {acc_grid:.3f} | over real tokens: {acc_real:.3f}')

# %% [markdown]
# ## Summary
#
# * `CrossEntropyLoss` reads the classes from **dim 1** (channels first, as for images): the class-id target is the
#   input's shape without dim 1. A sequence model's scores are **class-last, `(N, T, V)`**, and the target is
#   **`(N, T)`** int64 ids, so pass **`logits.permute(0, 2, 1)`** `(N, V, T)`, or flatten both,
#   **`logits.reshape(-1, V)`** with **`y.reshape(-1)`**, which is right only because both list their tokens in the
#   same order.
# * The errors and their fixes:
#   * "Expected target size [N, V], got [N, T]": the classes are not in dim 1; permute;
#   * "Expected input batch_size (N·T) to match target batch_size (N)": flatten the target too;
#   * "Target -1 is out of bounds": pad the targets with -100, or pass `ignore_index=-1`.
# * The traps that raise nothing:
#   * `view`/`reshape` to `(N, V, T)` scrambles the scores: the loss falls, the accuracy stays at chance;
#   * padding: average over the real tokens (`ignore_index=-100`, or `sum / mask.sum()`); `(loss * mask).mean()`
#     shrinks with the padding (the loss at initialisation is far below log V), a real id as pad value trains on pads;
#     the mean of per-sequence means is another weighting; **mask the metrics too**.
#
# ## Going further: label smoothing
#
# `CrossEntropyLoss(label_smoothing=ε)` trains against a softened target: 1 - ε on the true class plus ε spread over
# all V classes. It takes the same shapes and still skips `ignore_index`, so the pads stay out. Its value can no longer
# reach 0, even for a perfect model: the floor grows with ε. The cell prints it for the perfect predictions above.

# %%
for eps in (0.0, 0.1, 0.2):
    value = F.cross_entropy(perfect.permute(0, 2, 1), y_pad, label_smoothing=eps)   # (N, V, T) with (N, T)
    print(f'label_smoothing={eps}: loss of the perfect predictions {value:.4f}')

# %% [markdown]
# ## Now the exercises
#
# Exercises 1 to 3 of `exercises/05-sequences-and-padding/` use this part: a time-first model's frames, a batch
# padded on the other side, and a sentence vector built from a padded batch. Then read part 2,
# `course/05-sequences-and-padding-lesson-2.ipynb`, for exercises 4 to 9.
