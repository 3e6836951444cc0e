# %% [markdown]
# # 05 · Part 2 · Recurrent layers and seq2seq: their own layout, their states, targets of another length
#
# *Time for a novice: about 55 minutes.*
#
# Part 1 (`course/05-sequences-and-padding-lesson-1.ipynb`) used a recurrent layer as a black box that gives one
# vector per token. This part opens the box. You will learn
#
# * the layout traps of `nn.RNN`/`nn.GRU`/`nn.LSTM`: `batch_first`, the shape of the final state `h_n`, `output[-1]`,
#   and which step is "the last one" in a padded batch (`gather` at `lengths - 1`, or `pack_padded_sequence`);
# * why an initial hidden state built for one batch size fails, and why token ids need an `nn.Embedding`;
# * why an input and a target of different lengths cannot be scored step by step, and how an encoder–decoder with
#   teacher forcing makes the lengths match by construction.
#
# Exercises 4 to 9 of `exercises/05-sequences-and-padding/` use this part.

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## The contract on one card, again
#
# Every loss in this part is the one of part 1 ("The contract on one card: classes in dim 1"): `CrossEntropyLoss`
# reads the classes from dim 1, and the class-id target is the input's shape without that axis. For a sequence
# classifier (one label per sequence) that is lesson 01's `(N, C)` with `(N,)`; for scores at every step, `(N, V, T)`
# with `(N, T)`. What changes in this part is what comes *before* the loss: the recurrent layer's own layout.

# %%
fig = tp.show_contract('CrossEntropyLoss', (3, 6, 4), axes='N V T')
plt.show()

# %% [markdown]
# ## 1. `batch_first`: the default is time first
#
# A recurrent layer reads a sequence one step at a time, F numbers per step, and keeps a hidden state of H numbers
# that it updates at every step. `nn.RNN`, `nn.GRU` and `nn.LSTM` expect their input as **(T, N, F)**, time first,
# unless built with `batch_first=True`. Fed `(N, T, F)` without it, they raise nothing: the batch is read as time and
# the time steps as the batch, so each sample's output depends on the samples before it. Here is a sequence
# classifier (the label says whether feature 0 sums to a positive number over time), built both ways.
# `checks.check_batch_independence` changes sample 0 and looks at the others.

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
# The swapped model fits its training batch better than new data (it sees the samples before each one and memorises
# them). Fix it with `batch_first=True` for a batch-first X, or by handing a time-first layer its own layout:
# `X.transpose(0, 1)` is `(T, N, F)`. Never `X.view(T, N, F)`: that is the scramble of part 1, §2.1. Which one to pick
# depends on how the data arrives; the layer and its input must agree.
#
# ## 2. `h_n` is batch-second, always; `output[-1]` is not the last step
#
# With `batch_first=True` only the input and `output` are batch-first. The final state `h_n` (and `c_n` of an LSTM,
# and the initial state `h0` you may pass in) stays **(layers · directions, N, H)**. A bidirectional layer reads the
# sequence both ways and puts the two directions' outputs side by side in the last dim of `output`.

# %%
N, T, F_in, H = 3, 7, 8, 16
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
# `output[-1]` is the last step only for a time-first layer. With `batch_first=True` the last step is `output[:, -1]`,
# or `h_n[-1]`, the last layer's final state: they agree for a one-directional layer (for a bidirectional one, `h_n`
# holds the backward direction's state after it has read back to step 0).
#
# ### 2.1 In a padded batch, the last step is not the last real step
#
# Pad the batch (part 1, §3) and "the last step" changes meaning. A right-padded row of length 3 has its last real token
# at step 2; steps 3 and after are pads, and the layer reads them anyway. So **`output[:, -1]` and `h_n[-1]` hold the
# state after the padding** for every row shorter than T. Here the pads are zero vectors, and each row is compared with
# the same sequence run alone, unpadded:

# %%
torch.manual_seed(0)
lengths = torch.tensor([6, 3, 2])                                             # (N,) none fills all T
real = torch.arange(T)[None, :] < lengths[:, None]                           # (N, T) True on real steps
X_pad = torch.randn(N, T, F_in) * real.unsqueeze(-1)                         # (N, T, F) zeros at the pads
out, h_n = gru1(X_pad)                                                       # (N, T, H), (1, N, H)
alone = torch.cat([gru1(X_pad[n:n + 1, :L])[1][-1] for n, L in enumerate(lengths.tolist())])   # (N, H)
gap = (out[:, -1] - alone).abs().amax(dim=1)                                 # (N,) per row
for n, L in enumerate(lengths.tolist()):
    print(f'row {n}, {L} real steps of {T}: output[:, -1] differs from the sequence run alone by {gap[n]:.3f}')

# %% [markdown]
# Two fixes. Either read each row at its own last real step, index `lengths - 1`, with `gather` (its index needs the
# output's number of dims: `(N, 1, H)`, the same step for all H features); or **pack** the batch, so that the layer
# never reads the pads: `nn.utils.rnn.pack_padded_sequence` takes the lengths, and the packed layer's `h_n` is then
# each row's state at its own last real step. `pad_packed_sequence` turns the packed output back into a padded tensor,
# with zeros at the pads, as wide as the **longest** sequence of the batch.

# %%
index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, H)                        # (N, 1, H) step lengths[n] - 1
last_real = out.gather(1, index).squeeze(1)                                  # (N, H)
packed = nn.utils.rnn.pack_padded_sequence(X_pad, lengths, batch_first=True, enforce_sorted=False)
packed_out, h_n_packed = gru1(packed)                                        # a PackedSequence, (1, N, H)
unpacked, unpacked_lengths = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True)   # (N, max length, H)
print(f'gather at lengths - 1: largest difference from the rows run alone {(last_real - alone).abs().max():.1e}')
print(f'packed, h_n[-1]:       largest difference from the rows run alone {(h_n_packed[-1] - alone).abs().max():.1e}')
print('unpacked output', tuple(unpacked.shape), '| lengths', unpacked_lengths.tolist())

# %% [markdown]
# Differences this small are float rounding: the same numbers. (For a bidirectional layer packing matters even more:
# unpacked, its backward direction starts reading at the padding.)
#
# ## 3. A hidden state made for one batch size
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
print(tuple(out.shape), tuple(h_n.shape), '| same as with h0 from the input:',
      torch.allclose(gru1(last_batch, h0)[0], out))

# %% [markdown]
# ## 4. Token ids are not features
#
# A recurrent layer reads F numbers per step. Token ids, given straight to it, are int64, and the error message
# suggests a cast:

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
# ## 5. An input and a target of different lengths
#
# A step-by-step model (a recurrent layer over the input, then a Linear) makes **one prediction per input step**. If
# the target has a different length, say a 10-token sentence translated into 8 tokens, there is nothing to pair:
# flattened, N · S rows of scores meet N · T targets.

# %%
torch.manual_seed(3)
N, S, T_tgt, V = 4, 10, 8, 12
src = torch.randint(0, V, (N, S))                                            # (N, S) input ids
tgt = torch.randint(0, V, (N, T_tgt))                                        # (N, T_tgt) target ids
encoder_only = nn.Sequential(nn.Embedding(V, 16), nn.GRU(16, 32, batch_first=True))
enc_out, _ = encoder_only(src)                                               # (N, S, 32)
logits = nn.Linear(32, V)(enc_out)                                           # (N, S, V) one row per input step
print('logits', tuple(logits.shape), '| tgt', tuple(tgt.shape), f'| N·S = {N * S}, N·T = {N * T_tgt}')

# %% tags=["error-demo"]
with tp.show_error('CrossEntropyLoss', logits.reshape(-1, V), tgt.reshape(-1)):
    F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))

# %% [markdown]
# `ignore_index` cannot fix this. It skips target positions that exist; it never creates or removes a step, so S steps
# of scores still meet T target tokens, whichever way they are handed to the loss. The two patches that do run are
# both wrong: cutting the output to T steps, or padding the target to S with -100, pairs target token j with **input
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
# predicts the next one, `tgt[:, 1:]`. The shift matters: at step t the decoder has read the tokens up to t, so it is
# scored against token t + 1, which it has not seen. Its output has one step per decoder input, so its length is the
# target's by construction, whatever the input length. The picture shows the shift for the first target above:

# %%
fig = tp.show_teacher_forcing(tgt[0])
plt.show()

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
# target length, and the encoder–decoder. At test time the decoder has no target to read, so we decode *greedily*:
# start from BOS, append the predicted token, repeat.

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
n_ids = 8 - 2                                                # ids 2..7 can appear in a target
print(f'encoder-decoder: {acc_seq2seq[-1]:.3f} | encoder only, cut to the target: {acc_truncated[-1]:.3f} '
      f'(chance 1/{n_ids} = {1 / n_ids:.3f})')
print(f'right on the last target token only, guessing the other two: (1 + 2/{n_ids}) / 3 = '
      f'{(1 + 2 / n_ids) / 3:.3f}')

# %%
fig, ax = plt.subplots(figsize=(7, 4))
steps = list(range(10, 121, 10))
ax.plot(steps, acc_seq2seq, marker='o', label='encoder–decoder, teacher forcing')
ax.plot(steps, acc_truncated, marker='s', label='encoder only, output cut to the target length')
ax.axhline(1 / n_ids, color='gray', linestyle=':', label=f'chance ({n_ids} possible tokens)')
ax.set_xlabel('Adam step')
ax.set_ylabel('token accuracy, greedy decoding, new inputs')
ax.set_title('Target = the last 3 of 5 input tokens, reversed')
ax.legend()
plt.show()

# %% [markdown]
# The cut model can get only the last target token right: at its step 2 it has read input 2, the third from the end,
# which is target token 2; for the other two it must guess, which is what the second printed line scores. The
# encoder–decoder reads everything before it answers.
#
# ## Summary
#
# * Recurrent layers read **(T, N, F)** unless built with `batch_first=True`; fed the other layout they raise nothing
#   and mix the samples. Make the layer and its input agree: `batch_first=True`, or `X.transpose(0, 1)`, never a `view`.
# * `h_n` (and `c_n`, and `h0`) is **(layers · directions, N, H)** in every layout. With `batch_first=True` the last
#   step is `output[:, -1]` (or `h_n[-1]`), not `output[-1]`; in a **padded** batch both hold the state after the
#   padding: `gather` at `lengths - 1`, or `pack_padded_sequence` (then `h_n[-1]` is the last real step).
# * The errors and their fixes:
#   * "Expected hidden size (1, n, H), got [1, batch_size, H]": size `h0` from `X.size(0)`, or leave it out;
#   * "RNN input dtype (torch.int64) does not match weight dtype": add an `nn.Embedding`; do not cast ids to float;
#   * "Expected input batch_size (N·S) to match target batch_size (N·T)": input and target lengths differ. No padding,
#     cutting or `ignore_index` fixes that; use an encoder–decoder, decoder input `tgt[:, :-1]`, target `tgt[:, 1:]`.
#
# ## Now the exercises
#
# Exercises 4 to 9 of `exercises/05-sequences-and-padding/` use this part. Each puts one of its ideas into another
# situation: windows stored channels first, a state computed from other inputs, an id hidden in a float column,
# padded targets, a time-first model with no encoder, and shapes you predict before you run them. The checks also
# run your code with N = 1 and an odd N, and with batches of other sizes.
