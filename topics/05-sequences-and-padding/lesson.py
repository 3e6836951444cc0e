# %% [markdown]
# # 05 · Sequences and padding: logits (N, T, V), targets (N, T)
#
# A sequence model scores every time step, so its output gains a time axis T, and so does the target.
# In this lesson you will learn
#
# * why a tagger's `logits` are `(N, T, V)` while `CrossEntropyLoss` wants the classes in dim 1, `(N, V, T)`, and the two
#   correct ways to hand them over (and the one that runs and learns nothing);
# * how to pad sequences of different lengths, and how to keep the padding out of the loss **and** out of the metrics;
# * why an input and a target of different lengths cannot be scored step by step, and how an encoder–decoder with
#   teacher forcing makes the lengths match by construction;
# * the layout traps of `nn.RNN`/`nn.GRU`/`nn.LSTM`: `batch_first`, the shape of `h_n`, `output[-1]`, a hidden state
#   built for one batch size, and token ids fed without an `nn.Embedding`.
#
# The exercises for this lesson are in `exercises/05-sequences-and-padding/`.

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## 1. V scores per token, one id per token
#
# A *tagger* reads N sequences of T token ids and gives every token one of V tags (part of speech, named entity, the
# next word of a language model: V is the size of the output vocabulary). The usual model is an `nn.Embedding` that turns
# each id into a vector, an RNN that reads the sequence, and a `nn.Linear` that scores the V tags at every step.
# `nn.Linear` acts on the last dim, so the scores come out **class-last**: `(N, T, V)`. The target holds one id per token:
# `(N, T)`.

# %%
torch.manual_seed(0)
N, T, V = 4, 7, 5
X = torch.randint(0, 10, (N, T))                 # (N, T) token ids from a vocabulary of 10
embed = nn.Embedding(10, 8)
rnn = nn.GRU(8, 16, batch_first=True)
head = nn.Linear(16, V)
out, h_n = rnn(embed(X))                         # out (N, T, 16), h_n (1, N, 16)
logits = head(out)                               # (N, T, V)
y = torch.randint(0, V, (N, T))                  # (N, T) one tag id per token
print('X', tuple(X.shape), '| logits', tuple(logits.shape), '| y', tuple(y.shape), y.dtype)

# %% [markdown]
# `CrossEntropyLoss` has one rule for every shape (lesson 01): **the classes are dim 1**, and the target is the input's
# shape without dim 1. For `(N, V, T)` scores that is `(N, T)`, our target. For the `(N, T, V)` the model gives, it is
# `(N, V)`: the loss would read the 7 time steps as 7 classes. The picture draws N down the page, the last dim across and
# the middle dim as depth. After `permute(0, 2, 1)` the last dim of the scores is T, as in the target, and the V scores
# of a token lie behind each other.

# %%
fig = tp.show_shapes({'logits': logits, 'logits.permute(0, 2, 1)': logits.permute(0, 2, 1), 'y': y},
                     axes={'logits': 'N T V', 'logits.permute(0, 2, 1)': 'N V T', 'y': 'N T'})
plt.show()

# %% [markdown]
# ## 2. The classes must be dim 1
#
# Handed over as they come, the scores are read as 7 classes over 5 positions, and the target should be `(N, 5)`.
# "Expected target size [4, 5]" is `[N, V]`, and "got [4, 7]" is `[N, T]`:

# %% tags=["error-demo"]
with tp.show_error('CrossEntropyLoss', logits, y):
    F.cross_entropy(logits, y)

# %% [markdown]
# Two fixes are right, and they give the same number:
#
# 1. move the classes to dim 1: `logits.permute(0, 2, 1)` is `(N, V, T)`, with the target `(N, T)` as it is;
# 2. flatten both so that every token is one sample: `logits.reshape(-1, V)` is `(N·T, V)` and `y.reshape(-1)` is `(N·T,)`.
#
# A loop computes the same loss token by token from its definition, log-sum-exp minus the true score, as a third
# opinion.

# %%
loss_permute = F.cross_entropy(logits.permute(0, 2, 1), y)              # (N, V, T) with (N, T)
loss_flat = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))       # (N*T, V) with (N*T,)
loss_loop = torch.stack([torch.logsumexp(logits[n, t], 0) - logits[n, t, y[n, t]]      # token by token
                         for n in range(y.shape[0]) for t in range(y.shape[1])]).mean()
print(f'permute {loss_permute:.6f} | flatten both {loss_flat:.6f} | token by token {loss_loop:.6f}')

# %% [markdown]
# Flattening only one side is the next error: the logits now have N·T = 28 rows and the target 4.

# %% tags=["error-demo"]
logits_flat = logits.reshape(-1, V)              # (N*T, V)
with tp.show_error('CrossEntropyLoss', logits_flat, y):
    F.cross_entropy(logits_flat, y)

# %% [markdown]
# ### 2.1 The fix that runs and is wrong: `view` instead of `permute`
#
# `logits.view(N, V, T)` (or `reshape(N, V, T)`) has the right shape, so the loss runs. But `view` does not move any
# number: it reads the same 35 numbers of each sample in memory order and cuts them into rows of a different length.
# The "V scores of token 0" are then the first number of each of the five new rows of 7: one score each of tokens 0, 1,
# 2, 4 and 5.

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
# of each token is the token one step earlier (0 at the first step), so the GRU has to remember. Both runs start from
# the same weights and take 100 Adam steps; only the way the logits reach the loss differs: `permute` (`reshape(-1, V)`
# of both sides gives the identical loss, hence the identical run) or `view`. The accuracy is measured on 64 new
# sequences.

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
# permuted run tags them all correctly. Two more cases of the same bug:
# a time-major output `(T, N, V)` flattened against a batch-major target pairs token t of sample n with another token,
# and when **T happens to equal V** the unpermuted call raises nothing at all. Always `permute`, never `view`, to move a dim.
#
# ## 3. Padding
#
# Real sequences have different lengths. To stack them into one `(N, T)` tensor, the short ones are padded to the longest
# length T. The padded steps are not tokens: the loss must skip them, and so must every metric.
#
# `nn.utils.rnn.pad_sequence` pads a list of sequences. For the targets, pad with **-100**: it is the default
# `ignore_index` of `CrossEntropyLoss` and `NLLLoss`, the value they skip. The mask of real tokens follows from the lengths.

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
# `ignore_index=-1`); without it:

# %% tags=["error-demo"]
y_minus1 = y_pad.masked_fill(~mask, -1)                                      # (N, T) pads are -1
with tp.show_error('CrossEntropyLoss', logits.permute(0, 2, 1), y_minus1):
    F.cross_entropy(logits.permute(0, 2, 1), y_minus1)

# %% [markdown]
# The right value is the mean over the real tokens. Four ways of writing it give the same number; four tempting ways do
# not:
#
# * padding the targets with a **real id** (0 here is a real tag) counts every pad as a token of class 0;
# * `ignore_index=0` when 0 is also a real tag skips the pads, and the real 0-tags with them;
# * **`(loss * mask).mean()`** zeroes the pads but still divides by N·T, so the loss shrinks by the real fraction;
# * the mean of each sequence, then the mean over sequences, weights a token of a short sequence more than one of a long one.

# %%
logits_nvt = logits.permute(0, 2, 1)                                         # (N, V, T)
y_zero = y_pad.masked_fill(~mask, 0)                                         # (N, T) pads are 0, a real tag
per_token = F.cross_entropy(logits_nvt, y_zero, reduction='none')            # (N, T)
right = {
    'ignore_index=-100 (default)': F.cross_entropy(logits_nvt, y_pad),
    'ignore_index=-1 on -1 pads': F.cross_entropy(logits_nvt, y_minus1, ignore_index=-1),
    '(loss * mask).sum() / mask.sum()': (per_token * mask).sum() / mask.sum(),
    'token by token, real tokens only': torch.stack([torch.logsumexp(logits[n, t], 0) - logits[n, t, y_pad[n, t]]
                                                     for n, t in (y_pad != -100).nonzero().tolist()]).mean(),
}
wrong = {
    'pads as real tag 0': F.cross_entropy(logits_nvt, y_zero),
    'ignore_index=0, 0 is a real tag': F.cross_entropy(logits_nvt, y_zero, ignore_index=0),
    '(loss * mask).mean()': (per_token * mask).mean(),
    'mean per sequence, then mean': ((per_token * mask).sum(1) / lengths).mean(),
}
for name, value in {**right, **wrong}.items():
    print(f'{name:34s} {value:.4f}' + ('' if name in right else '   wrong'))
ratio = wrong['(loss * mask).mean()'] / right['token by token, real tokens only']
print(f'(loss * mask).mean() / right value = {ratio:.3f} = the real fraction {mask.float().mean():.3f}')

# %% [markdown]
# The mistakes change with the amount of padding, while the right value does not: padding is an accident of how the
# batch was put together. Here the same 15 real tokens get 0 to 30 extra pad steps per row (what a longer sequence in
# the batch would cause):

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
    real = yy != -100                                                        # (N, T')
    curves['ignore_index=-100'].append(F.cross_entropy(lg, yy).item())
    per_tok = F.cross_entropy(lg, yy.clamp(min=0), reduction='none')         # (N, T') pads read as tag 0
    curves['(loss * mask).mean()'].append((per_tok * real).mean().item())
    curves['pads as real tag 0'].append(F.cross_entropy(lg, yy.clamp(min=0)).item())

fig, ax = plt.subplots(figsize=(7, 4))
for name, values in curves.items():
    ax.plot(extras, values, marker='o', markersize=3, label=name)
ax.set_xlabel('extra pad steps per row (same 15 real tokens)')
ax.set_ylabel('loss of the batch')
ax.set_title('Only the mean over real tokens ignores the padding')
ax.legend()
plt.show()
print({name: f'{values[0]:.3f} -> {values[-1]:.3f}' for name, values in curves.items()})

# %% [markdown]
# ### 3.1 Metrics count pads too
#
# The same care applies to accuracy. Take predictions that are **right on every real token** (the argmax of the scores
# is the tag). Compared over the whole `(N, T)` grid, the -100 pads never match, and a perfect tagger looks poor; had the
# targets been padded with 0, every pad predicted as 0 would count as a hit instead, and a weak tagger would look good.

# %%
perfect = 10 * F.one_hot(y_pad.clamp(min=0), V).float()                      # (N, T, V) right on every real token
pred = perfect.argmax(dim=-1)                                                # (N, T)
acc_grid = (pred == y_pad).float().mean()                                    # counts the pads as misses
acc_real = (pred == y_pad)[mask].float().mean()                              # real tokens only
print(f'accuracy over the (N, T) grid: {acc_grid:.3f} | over real tokens: {acc_real:.3f}')

# %% [markdown]
# ## 4. An input and a target of different lengths
#
# A step-by-step model (an RNN over the input, then a Linear) makes **one prediction per input step**. If the target has
# a different length, say a 10-token sentence translated into 8 tokens, there is nothing to pair: flattened, 4 · 10 = 40
# rows of scores meet 4 · 8 = 32 targets.

# %%
torch.manual_seed(3)
N, S, T_tgt, V = 4, 10, 8, 12
src = torch.randint(0, V, (N, S))                                            # (N, S) input ids
tgt = torch.randint(0, V, (N, T_tgt))                                        # (N, T_tgt) target ids
encoder_only = nn.Sequential(nn.Embedding(V, 16), nn.GRU(16, 32, batch_first=True))
enc_out, _ = encoder_only(src)                                               # (N, S, 32)
logits = nn.Linear(32, V)(enc_out)                                           # (N, S, V) one row per input step
print('logits', tuple(logits.shape), '| tgt', tuple(tgt.shape))

# %% tags=["error-demo"]
with tp.show_error('CrossEntropyLoss', logits.reshape(-1, V), tgt.reshape(-1)):
    F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))

# %% [markdown]
# `ignore_index` cannot fix this. It skips target positions that exist; it never creates or removes a step, so 10 steps
# still meet 8 (now as "Expected target size [4, 10], got [4, 8]" after a permute). The two patches that do run are
# both wrong: cutting the output to 8 steps, or padding the target to 10 with -100, pairs target token j with **input
# step j**, as if the translation were word for word in the same order. When the target depends on input that comes
# later, step j has not read it yet.
#
# The measurement: a task where the target is shorter than the input and reversed. The model reads S = 5 tokens and
# must answer with the last 3 in reverse order (`checks.reversal_data`; the target starts with a start token BOS = 1).

# %%
BOS = 1
src, tgt = checks.reversal_data(4, S=5, K=3, V=8, seed=0)                    # (4, 5), (4, 4)
print('src', src[0].tolist(), '-> tgt', tgt[0].tolist(), '(BOS, then the last 3 reversed)')

# %% [markdown]
# **The design that fits: an encoder–decoder with teacher forcing.** The encoder reads the whole input into a state;
# the decoder starts from that state and produces the target one token at a time. In training the decoder is fed the
# target itself, shifted by one ("teacher forcing"): it reads `tgt[:, :-1]` (BOS and the first tokens) and at each step
# predicts the next one, `tgt[:, 1:]`. Its output has one step per decoder input, so its length is the target's by
# construction, whatever the input length.

# %%
class Seq2Seq(nn.Module):
    """src (N, S) ids -> encoder state; the decoder reads tgt_in (N, T_in) ids -> logits (N, T_in, V)."""

    def __init__(self, V, emb=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(V, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, V)

    def forward(self, src, tgt_in):
        _, h = self.encoder(self.embed(src))                 # h (1, N, hidden): the whole input
        out, _ = self.decoder(self.embed(tgt_in), h)         # (N, T_in, hidden)
        return self.head(out)                                # (N, T_in, V)


model = Seq2Seq(8)
tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]                    # (N, 3) BOS + first 2 | (N, 3) the 3 to predict
logits = model(src, tgt_in)                                  # (N, 3, V)
print('src', tuple(src.shape), '| tgt_in', tuple(tgt_in.shape), '| logits', tuple(logits.shape),
      '| tgt_out', tuple(tgt_out.shape))
print(f'loss {F.cross_entropy(logits.permute(0, 2, 1), tgt_out):.4f}')
fig = tp.show_shapes({'src': src, 'tgt_in': tgt_in, 'logits': logits, 'tgt_out': tgt_out},
                     axes={'src': 'N S', 'tgt_in': 'N T', 'logits': 'N T V', 'tgt_out': 'N T'})
plt.show()

# %% [markdown]
# Now the comparison, 120 Adam steps each on fresh batches of 64: the encoder-only model with its output cut to the
# target length, and the encoder–decoder. At test time the decoder has no target to read, so we decode *greedily*: start
# from BOS, append the predicted token, repeat.

# %%
def greedy(model, src, steps):
    ys = torch.full((src.shape[0], 1), BOS)                  # (N, 1)
    for _ in range(steps):
        nxt = model(src, ys)[:, -1].argmax(-1, keepdim=True)  # (N, 1) the next token
        ys = torch.cat([ys, nxt], dim=1)                     # (N, t + 1)
    return ys[:, 1:]                                         # (N, steps)


class Truncated(nn.Module):
    """Encoder only: one prediction per input step, cut to the target length."""

    def __init__(self, V, emb=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(V, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, V)

    def forward(self, src, tgt_in):
        out, _ = self.encoder(self.embed(src))              # (N, S, hidden)
        return self.head(out)[:, :tgt_in.shape[1]]          # (N, T_in, V): step j scored against target j


def train_seq(model, steps=120, lr=0.03):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    accs = []
    src_test, tgt_test = checks.reversal_data(128, 5, 3, 8, seed=999)
    for step in range(steps):
        src, tgt = checks.reversal_data(64, 5, 3, 8, seed=step)
        loss = F.cross_entropy(model(src, tgt[:, :-1]).permute(0, 2, 1), tgt[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            with torch.no_grad():
                accs.append((greedy(model, src_test, 3) == tgt_test[:, 1:]).float().mean().item())
    return accs


torch.manual_seed(0)
acc_seq2seq = train_seq(Seq2Seq(8))
torch.manual_seed(0)
acc_truncated = train_seq(Truncated(8))
print(f'encoder-decoder: {acc_seq2seq[-1]:.3f} | encoder only, cut to the target: {acc_truncated[-1]:.3f} '
      f'(chance 1/6 = {1 / 6:.3f})')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
steps = list(range(10, 121, 10))
ax.plot(steps, acc_seq2seq, marker='o', label='encoder–decoder, teacher forcing')
ax.plot(steps, acc_truncated, marker='s', label='encoder only, output cut to the target length')
ax.axhline(1 / 6, color='gray', linestyle=':', label='chance (6 possible tokens)')
ax.set_xlabel('Adam step')
ax.set_ylabel('token accuracy, greedy decoding, new inputs')
ax.set_title('Target = the last 3 of 5 input tokens, reversed')
ax.legend()
plt.show()

# %% [markdown]
# The cut model gets the last token right (at its step 2 it has read input 2, the third from the end, which is target 2)
# and guesses the other two: about (1 + 1/6 + 1/6)/3 ≈ 0.44. The encoder–decoder reads everything before it answers.
#
# ## 5. The RNN's own layout
#
# ### 5.1 `batch_first`: the default is time first
#
# `nn.RNN`, `nn.GRU` and `nn.LSTM` expect **(T, N, F)** unless built with `batch_first=True`. Fed `(N, T, F)` without it,
# they raise nothing: the batch is read as time and the time steps as the batch, so each sample's output depends on the
# samples before it. Here is a sequence classifier (the label says whether feature 0 sums to a positive number over
# time), built both ways. `checks.check_batch_independence` changes sample 0 and looks at the others.

# %%
class SumSign(nn.Module):
    """X (N, T, F) -> 2 class scores (N, 2), from the output at the last step."""

    def __init__(self, n_features, batch_first, hidden=16):
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden, batch_first=batch_first)
        self.head = nn.Linear(hidden, 2)

    def forward(self, X):
        out, _ = self.rnn(X)                                # meant as (N, T, hidden)
        return self.head(out[:, -1])                        # (N, 2)


for batch_first in (True, False):
    torch.manual_seed(0)
    model = SumSign(3, batch_first)
    try:
        checks.check_batch_independence(model, torch.randn(6, 8, 3))
        print(f'batch_first={batch_first}: the samples are independent')
    except checks.CheckFailed as failure:
        print(f'batch_first={batch_first}: {failure}')

# %%
X_train, y_train = checks.sign_of_sum_data(32, 8, seed=0)   # (32, 8, 3), (32,)
X_test, y_test = checks.sign_of_sum_data(32, 8, seed=1)     # (32, 8, 3), (32,)


def train_sum_sign(batch_first, steps=100, lr=0.03, every=5):
    torch.manual_seed(0)
    model = SumSign(3, batch_first)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(1, steps + 1):
        loss = F.cross_entropy(model(X_train), y_train)     # (N, 2) with (N,)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                history.append(((model(X_train).argmax(1) == y_train).float().mean().item(),
                                (model(X_test).argmax(1) == y_test).float().mean().item()))
    return history


hist_right, hist_wrong = train_sum_sign(True), train_sum_sign(False)
print(f'batch_first=True:  train accuracy {hist_right[-1][0]:.3f} | test accuracy {hist_right[-1][1]:.3f}')
print(f'batch_first=False: train accuracy {hist_wrong[-1][0]:.3f} | test accuracy {hist_wrong[-1][1]:.3f}')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
steps = list(range(5, 101, 5))
ax.plot(steps, [a for a, _ in hist_right], color='C0', linestyle='--', label='batch_first=True, training data')
ax.plot(steps, [b for _, b in hist_right], color='C0', label='batch_first=True, new data')
ax.plot(steps, [a for a, _ in hist_wrong], color='C3', linestyle='--', label='default (time first), training data')
ax.plot(steps, [b for _, b in hist_wrong], color='C3', label='default (time first), new data')
ax.axhline(0.5, color='gray', linestyle=':', label='chance 1/2')
ax.set_xlabel('Adam step')
ax.set_ylabel('accuracy')
ax.set_title('(N, T, F) into a GRU without batch_first')
ax.legend()
plt.show()

# %% [markdown]
# The swapped model fits its training batch (it sees the samples before each one and memorises them) and stays barely
# above chance on new sequences. Fix it with `batch_first=True`, or with `X.transpose(0, 1)` for a time-first RNN; never with
# `X.view(T, N, F)`, which is the same mistake as section 2.1.
#
# ### 5.2 `h_n` is batch-second, always; `output[-1]` is not the last step
#
# With `batch_first=True` only the input and `output` are batch-first. The final state `h_n` (and `c_n` of an LSTM, and
# the `h0` you pass in) stays **(layers · directions, N, H)**.

# %%
N, T, F_in, H = 4, 7, 8, 16
X = torch.randn(N, T, F_in)                                  # (N, T, F)
gru = nn.GRU(F_in, H, num_layers=2, bidirectional=True, batch_first=True)
out, h_n = gru(X)
print('output', tuple(out.shape), '(N, T, directions·H) | h_n', tuple(h_n.shape), '(layers·directions, N, H)')
gru1 = nn.GRU(F_in, H, batch_first=True)
out, h_n = gru1(X)                                           # (N, T, H), (1, N, H)
print('output[-1]   ', tuple(out[-1].shape), '<- the LAST SAMPLE, all its time steps')
print('output[:, -1]', tuple(out[:, -1].shape), '<- the last step of every sample')
print('h_n[-1]      ', tuple(h_n[-1].shape), '| equal to output[:, -1]:', torch.allclose(h_n[-1], out[:, -1]))

# %% [markdown]
# `output[-1]` is the right last step only for a time-first RNN. With `batch_first=True` use `output[:, -1]` or
# `h_n[-1]` (they agree for a one-directional RNN; for a bidirectional one, `h_n` holds the backward direction's state
# at step 0 too).
#
# ### 5.3 A hidden state made for one batch size
#
# Building `h0` once, with the training batch size, works until a batch of another size arrives: the last batch of an
# epoch, or one example at inference. Note that `h0` is `(1, N, H)`, batch-second, as above.

# %% tags=["error-demo"]
batch_size = 8
h0 = torch.zeros(1, batch_size, H)                           # (1, 8, H) made once, for batches of 8
last_batch = torch.randn(5, T, F_in)                         # (5, T, F) the last batch of the epoch
with tp.show_error():
    gru1(last_batch, h0)

# %% [markdown]
# The first shape in the message is what this input needs. Size `h0` from the input,
# `torch.zeros(1, X.size(0), H)`, or leave it out: the default is zeros of the right size. (`drop_last=True` only moves
# the crash to inference.)

# %%
out, h_n = gru1(last_batch)                                  # (5, T, H), (1, 5, H)
h0 = torch.zeros(1, last_batch.size(0), H)                   # (1, 5, H)
print(tuple(out.shape), tuple(h_n.shape), '| same as with h0 from the input:', torch.allclose(gru1(last_batch, h0)[0], out))

# %% [markdown]
# ### 5.4 Token ids are not features
#
# An RNN reads F numbers per step. Token ids, given straight to it, are int64, and the error message suggests a cast:

# %% tags=["error-demo"]
X_ids = torch.randint(0, 10, (N, T, 1))                      # (N, T, 1) token ids as one "feature"
rnn_1 = nn.GRU(1, H, batch_first=True)
with tp.show_error():
    rnn_1(X_ids)

# %% [markdown]
# `input.to(torch.float32)` runs. But then token 7 is "seven times token 1", and tokens 6 and 7 look almost the same to
# the network, although ids are just names. The right fix is a lookup table: `nn.Embedding(n_tokens, E)` gives each id
# its own learned vector, `(N, T)` ids to `(N, T, E)` floats. (`F.one_hot(X, n_tokens).float()` is a fixed version of
# the same idea.) The measurement: tag each token with its id mod 3, a rule that does not follow the size of the id.

# %%
class IdTagger(nn.Module):
    def __init__(self, n_tokens, n_tags, use_embedding, emb=8, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, emb) if use_embedding else None
        self.rnn = nn.GRU(emb if use_embedding else 1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_tags)

    def forward(self, X):                                    # X (N, T) ids
        x = self.embed(X) if self.embed is not None else X.unsqueeze(-1).float()  # (N, T, E) or (N, T, 1)
        out, _ = self.rnn(x)                                 # (N, T, hidden)
        return self.head(out)                                # (N, T, 3)


X_train, y_train = checks.tagging_data(64, 6, 10, seed=0, rule='mod3')    # (64, 6), (64, 6)
X_test, y_test = checks.tagging_data(256, 6, 10, seed=1, rule='mod3')     # (256, 6), (256, 6)
results = {}
for use_embedding in (True, False):
    torch.manual_seed(0)
    model = IdTagger(10, 3, use_embedding)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        loss = F.cross_entropy(model(X_train).permute(0, 2, 1), y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        results[use_embedding] = (model(X_test).argmax(-1) == y_test).float().mean().item()
print(f'nn.Embedding: test accuracy {results[True]:.3f} | ids cast to float: {results[False]:.3f} (chance 1/3)')

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.bar(['nn.Embedding(10, 8)', 'ids .float()'], [results[True], results[False]], color=['C0', 'C3'],
       label='after 60 Adam steps')
ax.axhline(1 / 3, color='gray', linestyle=':', label='chance 1/3')
ax.set_ylabel('token accuracy on new sequences')
ax.set_title('Tag = token id mod 3')
ax.set_ylim(0, 1.05)
ax.legend()
plt.show()

# %% [markdown]
# ## Summary
#
# * A sequence model's scores are **class-last, `(N, T, V)`**; the target is **`(N, T)`** int64 ids. `CrossEntropyLoss`
#   reads the classes from dim 1, so pass **`logits.permute(0, 2, 1)`** `(N, V, T)`, or flatten both:
#   **`logits.reshape(-1, V)`** with **`y.reshape(-1)`**. Both give the same loss.
# * The errors and their fixes:
#   * "Expected target size [N, V], got [N, T]": the classes are not in dim 1, permute;
#   * "Expected input batch_size (N·T) to match target batch_size (N)": flatten the target too;
#   * "Target -1 is out of bounds": pad the targets with -100, or pass `ignore_index=-1`;
#   * "Expected input batch_size (N·S) to match target batch_size (N·T)": input and target lengths differ. No padding,
#     cutting or `ignore_index` fixes that; use an encoder–decoder, decoder input `tgt[:, :-1]`, target `tgt[:, 1:]`;
#   * "Expected hidden size (1, n, H), got [1, batch_size, H]": size `h0` from `X.size(0)`, or leave it out;
#   * "RNN input dtype (torch.int64) does not match weight dtype": add an `nn.Embedding`; do not cast ids to float.
# * The traps that raise nothing:
#   * `view`/`reshape` to `(N, V, T)` scrambles the scores: the loss falls, the accuracy stays at chance;
#   * padding: average over the real tokens only (`ignore_index=-100` or `sum / mask.sum()`); `(loss * mask).mean()`
#     shrinks with the padding, a real id as pad value trains on pads; **mask the metrics too**;
#   * an RNN without `batch_first=True` fed `(N, T, F)` mixes the samples; `h_n` is `(layers·dirs, N, H)` anyway, and
#     with `batch_first=True` the last step is `output[:, -1]` (or `h_n[-1]`), not `output[-1]`.
#
# ## Now the exercises
#
# Open `exercises/05-sequences-and-padding/` and work through the notebook there. The checks also run your code with
# N = 1 and an odd N, with more padding than you tried, and with batches of another size.
