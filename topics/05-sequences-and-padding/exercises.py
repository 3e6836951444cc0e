# %% [markdown]
# # 05 · Sequences and padding — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error
# (or the silent wrong result) that the lesson `course/05-sequences-and-padding-lesson.ipynb` explains.
# Fix the code **in place**, in the same cell, then run the check below it.
#
# * Shapes use the lesson's names: `N` sequences, `T` time steps, `V` classes (tags or words),
#   `logits` (N, T, V), `y` (N, T), `F` features per step, `H` hidden size.
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the
#   full check also runs hidden checks: N = 1, an odd N, other sizes of every axis, more padding, the
#   gradient, and a few training steps. "Quick check passed" is not full marks.
# * A failing check says what your code produced and which rule it breaks. Stuck? `tp.hint("<exercise>")`
#   shows the next hint of that exercise, the last one with the code.
# * Do not edit the check cells: they are restored from the instructor's copy at grading.

# %% locked setup
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("05-sequences-and-padding")   # tp.hint("<exercise>") shows this notebook's hints

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · Tag scores (N, T, V) into CrossEntropyLoss
#
# A tagger gives `logits` of shape (N, T, V): V scores for each of the T tokens of N sequences.
# The tags `y` are (N, T) int64. Make `tagging_loss` return the mean cross-entropy over all N·T tokens.
# It must work for any N, T and V. The hidden check also trains a small tagger with it for 40 steps and
# wants 90% of the tokens of held-out sequences tagged right.

# %% answer tagging_loss
def tagging_loss(logits, y):
    """logits (N, T, V) float, y (N, T) int64 -> mean cross-entropy over the tokens, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits.permute(0, 2, 1), y)      # (N, V, T) with (N, T)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)                       # (N, T, V) with (N, T)
    ### END BROKEN CODE


logits, y, _ = checks.token_batch(4, 7, 5)                  # (N, T, V), (N, T)
tagging_loss(logits, y)

# %% quick tagging_loss 1
# Quick check (1 point): N = 4, T = 7, V = 5.
with checks.exercise("tagging_loss"):
    logits, y, _ = checks.token_batch(4, 7, 5, seed=1)      # (4, 7, 5), (4, 7)
    checks.check_token_loss(tagging_loss, checks.expected("tagging_loss"), {"logits": logits, "y": y},
                            loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 4 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden tagging_loss 2
for T, V in ((6, 4), (5, 3), (3, 9)):                   # N, T and V never equal: a swapped axis shows
    for N in (1, 2, 7):
        logits, y, _ = checks.token_batch(N, T, V, seed=10 * N + T)   # (N, T, V), (N, T)
        checks.check_token_loss(tagging_loss, checks.expected("tagging_loss"), {"logits": logits, "y": y},
                                loss="CrossEntropyLoss", label=f" with N = {N}, T = {T}, V = {V}")
X, y = checks.tagging_data(48, 5, 7, seed=3)            # (48, 5), (48, 5): tag = the previous token
X_test, y_test = checks.tagging_data(64, 5, 7, seed=4)  # held out: scored after training
checks.check_trains_tokens(checks.tiny_tagger(7, 7), X, y, tagging_loss, test=(X_test, y_test),
                           steps=40, min_accuracy=0.9)

# %% [markdown]
# ## Exercise 2 · A loss that does not count the padding
#
# The sequences of a batch have different lengths, `lengths` (N,), and were padded to T steps.
# The tags `y` (N, T) were padded with **0**, which is also a real tag. Make `masked_token_loss`
# return the mean cross-entropy over the **real tokens only**: the first `lengths[n]` steps of row n.
# The answer must not change when the batch gets more padding.

# %% answer masked_loss
def masked_token_loss(logits, y, lengths):
    """logits (N, T, V), y (N, T) int64 padded with 0, lengths (N,) -> mean loss over the real tokens."""
    mask = torch.arange(y.shape[1])[None, :] < lengths[:, None]              # (N, T) True on real tokens
    losses = F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none")   # (N, T) one loss per step
    ### BEGIN SOLUTION
    return (losses * mask).sum() / mask.sum()                                # over real tokens only
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return (losses * mask).mean()                                            # pads zeroed, but divides by N*T
    ### END BROKEN CODE


logits, y, lengths = checks.token_batch(4, 6, 5, pad=0)                      # (N, T, V), (N, T), (N,)
print("lengths", lengths.tolist(), "| loss", masked_token_loss(logits, y, lengths).item())

# %% quick masked_loss 1
# Quick check (1 point): N = 4, T = 6, with padding.
with checks.exercise("masked_loss"):
    logits, y, lengths = checks.token_batch(4, 6, 5, seed=2, pad=0)  # (4, 6, 5), (4, 6), (4,)
    checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"),
                            {"logits": logits, "y": y, "lengths": lengths}, grad_of=None)
    checks.passed("quick check: N = 4 gives the mean over the real tokens. " + checks.HIDDEN_NOTE)

# %% hidden masked_loss 2
for N in (1, 2, 7):                                     # T = 6, V = 4: no two axes of the same size
    logits, y, lengths = checks.token_batch(N, 6, 4, seed=20 + N, pad=0)   # (N, 6, 4), (N, 6), (N,)
    checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"),
                            {"logits": logits, "y": y, "lengths": lengths}, label=f" with N = {N}")
logits, y, _ = checks.token_batch(5, 8, 3, seed=5)      # (5, 8, 3), (5, 8)
lengths = torch.tensor([8, 1, 3, 8, 2])                 # (5,) one token only in row 1
y = y.masked_fill(~checks.padding_mask(lengths, 8), 0)  # (5, 8) padded with 0
args = {"logits": logits, "y": y, "lengths": lengths}
checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"), args, label=" with N = 5")
checks.check_padding_invariance(masked_token_loss, args, pad_value=0, extra=5)

# %% [markdown]
# ## Exercise 3 · A token accuracy that counts the padding
#
# `token_accuracy` gets tag scores (N, T, V) and tags `y` (N, T) padded with **-100**, and should
# return the fraction of **real** tokens whose highest score is their tag, as a Python float.
# Right now it reports far less than 1.0 for predictions that are right on every real token.
# More padding must not change the answer.

# %% answer token_accuracy
def token_accuracy(logits, y):
    """logits (N, T, V) float, y (N, T) int64 padded with -100 -> fraction of real tokens right, a float."""
    pred = logits.argmax(dim=-1)                            # (N, T)
    ### BEGIN SOLUTION
    real = y != -100                                        # (N, T) True on real tokens
    return (pred[real] == y[real]).float().mean().item()
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return (pred == y).float().mean().item()                # every pad counts as a miss
    ### END BROKEN CODE


_, y, _ = checks.token_batch(4, 6, 5, pad=-100)              # (N, T) padded with -100
perfect = 10 * F.one_hot(y.clamp(min=0), 5).float()          # (N, T, V) right on every real token
token_accuracy(perfect, y)

# %% quick token_accuracy 1
# Quick check (1 point): predictions right on every real token score exactly 1.0.
with checks.exercise("token_accuracy"):
    _, y, _ = checks.token_batch(4, 6, 5, seed=3, pad=-100)  # (4, 6)
    perfect = 10 * F.one_hot(y.clamp(min=0), 5).float()     # (4, 6, 5) right on every real token
    checks.check_token_metric(token_accuracy, 1.0, {"logits": perfect, "y": y},
                              what="token_accuracy of predictions right on every real token")
    checks.passed("quick check: perfect predictions give 1.0. " + checks.HIDDEN_NOTE)

# %% hidden token_accuracy 2
for N, T, V in ((1, 5, 3), (2, 6, 4), (7, 8, 3), (5, 4, 6)):   # no two axes of the same size
    logits, y, _ = checks.token_batch(N, T, V, seed=30 + N, pad=-100)   # (N, T, V), (N, T)
    logits[..., 0] += 1.0                               # predicts tag 0 often: pads must not count as hits
    args = {"logits": logits, "y": y}
    checks.check_token_metric(token_accuracy, checks.expected("token_accuracy"), args,
                              what=f"token_accuracy with N = {N}, T = {T}, V = {V}")
    checks.check_padding_invariance(token_accuracy, args, pad_value=-100)
    wrong = -10 * F.one_hot(y.clamp(min=0), V).float()  # (N, T, V) every real token wrong
    checks.check_token_metric(token_accuracy, 0.0, {"logits": wrong, "y": y},
                              what=f"token_accuracy of predictions wrong on every real token, N = {N}")

# %% [markdown]
# ## Exercise 4 · A sequence classifier that mixes its samples
#
# `SumSignClassifier` reads sequences `X` of shape (N, T, F) and gives 2 class scores per sequence,
# (N, 2): is feature 0, summed over time, positive? It runs, but the scores of one sample depend on
# the other samples of the batch (the cell below shows it). Fix the model. It must take `X` as
# (N, T, F) and give (N, 2), for any N, T and F; the hidden check also trains it for 40 steps and
# wants 70% of held-out sequences right.

# %% answer batch_first
class SumSignClassifier(nn.Module):
    """X (N, T, F) float -> 2 class scores (N, 2)."""

    def __init__(self, n_features, hidden=16):
        super().__init__()
        ### BEGIN SOLUTION
        self.rnn = nn.GRU(n_features, hidden, batch_first=True)     # reads (N, T, F)
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # self.rnn = nn.GRU(n_features, hidden)                       # reads (T, N, F)
        ### END BROKEN CODE
        self.head = nn.Linear(hidden, 2)

    def forward(self, X):
        out, h_n = self.rnn(X)                              # out meant as (N, T, hidden)
        return self.head(out[:, -1])                        # (N, 2) from the last step of each sample


model = SumSignClassifier(3)
X = torch.randn(6, 8, 3)                                    # (N, T, F)
before = model(X)                                           # (N, 2)
X[0] += 1.0                                                 # change sample 0 only
print("largest change in the scores of samples 1..5:", (model(X) - before)[1:].abs().max().item())

# %% quick batch_first 1
# Quick check (1 point): (8, 6, 3) -> (8, 2), and the samples do not affect each other.
with checks.exercise("batch_first"):
    torch.manual_seed(1)
    model = SumSignClassifier(3)
    checks.check_sequence_output(model, torch.randn(8, 6, 3), (8, 2), what="SumSignClassifier(3)(X)")
    checks.check_samples_independent(model, torch.randn(8, 6, 3), what="SumSignClassifier(3)(X)")
    checks.passed("quick check: the shape is right and the samples are independent. " + checks.HIDDEN_NOTE)

# %% hidden batch_first 3
torch.manual_seed(2)
model = SumSignClassifier(4, hidden=8)                  # F = 4, hidden 8: no axis the size of another
for N, T in ((1, 5), (2, 9), (7, 3), (11, 6)):
    checks.check_sequence_output(model, torch.randn(N, T, 4), (N, 2),
                                 what=f"SumSignClassifier(4, hidden=8)(X) with N = {N}, T = {T}")
checks.check_samples_independent(model, torch.randn(7, 5, 4), what="SumSignClassifier(4, hidden=8)(X)")
X, y = checks.sign_of_sum_data(64, 8, seed=5)           # (64, 8, 3), (64,)
X_test, y_test = checks.sign_of_sum_data(64, 8, seed=6)  # held out: scored after training
torch.manual_seed(0)
checks.check_trains_tokens(SumSignClassifier(3), X, y, nn.CrossEntropyLoss(), test=(X_test, y_test),
                           steps=40, min_accuracy=0.7)            # mixing samples scores about 0.45 here

# %% [markdown]
# ## Exercise 5 · A hidden state made for one batch size
#
# `TokenTagger` was trained in batches of 16, and its initial hidden state was built once for that
# size. The last batch of an epoch is smaller, and the loop below crashes on it. Make the model
# work for **any** number of sequences N, smaller or larger than 16, starting every call from a
# **zero** initial state. Keep its layers `embed`, `rnn` and `head` as they are: the checks run them
# from a zero state to compare. The hidden check also trains it for 40 steps on batches of 48 and
# wants 90% of the tokens of held-out sequences tagged right.

# %% answer hidden_state
class TokenTagger(nn.Module):
    """Token ids X (N, T) int64 -> tag scores (N, T, n_tags)."""

    def __init__(self, n_tokens, n_tags, batch_size=16, emb=8, hidden=32):
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(n_tokens, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_tags)
        self.h0 = torch.zeros(1, batch_size, hidden)        # (1, batch_size, hidden)

    def forward(self, X):
        ### BEGIN SOLUTION
        h0 = torch.zeros(1, X.size(0), self.hidden)         # (1, N, hidden): sized from this batch
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # h0 = self.h0                                        # (1, 16, hidden) whatever N is
        ### END BROKEN CODE
        out, _ = self.rnn(self.embed(X), h0)                # (N, T, hidden)
        return self.head(out)                               # (N, T, n_tags)


model = TokenTagger(10, 10)
X, y = checks.tagging_data(40, 6, 10)                       # (40, 6), (40, 6)
for start in range(0, 40, 16):                              # batches of 16, 16 and 8
    logits = model(X[start:start + 16])                     # (n, T, V)
    print(f"batch of {logits.shape[0]}: logits {tuple(logits.shape)}")

# %% quick hidden_state 1
# Quick check (1 point): batches of 16 and of 5.
with checks.exercise("hidden_state"):
    model = TokenTagger(10, 4)
    for N in (16, 5):
        X, _ = checks.tagging_data(N, 7, 10, seed=N)        # (N, 7)
        checks.check_sequence_output(model, X, (N, 7, 4), what=f"TokenTagger(10, 4)(X) with N = {N}")
    checks.check_samples_independent(model, X, what="TokenTagger(10, 4)(X)")
    checks.check_zero_initial_state(model, X, what="TokenTagger(10, 4)(X)")
    checks.passed("quick check: batches of 16 and 5 work, from a zero state. " + checks.HIDDEN_NOTE)

# %% hidden hidden_state 2
model = TokenTagger(8, 3, batch_size=4, hidden=12)      # built for batches of 4
for N, T in ((1, 5), (7, 6), (40, 9)):                  # smaller and larger than 4; N, T, 3 tags distinct
    X, _ = checks.tagging_data(N, T, 8, seed=40 + N)    # (N, T)
    what = f"TokenTagger(8, 3, batch_size=4, hidden=12)(X) with N = {N}, T = {T}"
    checks.check_sequence_output(model, X, (N, T, 3), what=what)
    checks.check_zero_initial_state(model, X, what=what)
X, _ = checks.tagging_data(7, 5, 8, seed=7)             # (7, 5)
checks.check_samples_independent(model, X, what="TokenTagger(8, 3, batch_size=4, hidden=12)(X)")
X, y = checks.tagging_data(48, 5, 7, seed=8)            # (48, 5), (48, 5): more than 16 at once
X_test, y_test = checks.tagging_data(64, 5, 7, seed=9)  # held out: scored after training
torch.manual_seed(0)
checks.check_trains_tokens(TokenTagger(7, 7), X, y, checks.token_cross_entropy,
                           test=(X_test, y_test), steps=40, min_accuracy=0.9)

# %% [markdown]
# ## Exercise 6 · Token ids fed straight into the RNN
#
# `IdTagger` tags each token id with the id mod 3 (a made-up part of speech): ids `X` (N, T) int64
# in 0..n_tokens-1, for any vocabulary size n_tokens, in; float scores (N, T, 3) out. The cell below
# fails, and the error message suggests a cast. Fix the model so that it **learns** the tags: the
# hidden check trains it for 40 steps and wants 95% of the tokens of held-out sequences tagged right.

# %% answer embedding
class IdTagger(nn.Module):
    """Token ids X (N, T) int64 in 0..n_tokens-1 -> tag scores (N, T, n_tags)."""

    ### BEGIN SOLUTION
    def __init__(self, n_tokens, n_tags, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, 8)              # one learned vector per id
        self.rnn = nn.GRU(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_tags)

    def forward(self, X):
        out, _ = self.rnn(self.embed(X))                    # (N, T, 8) -> (N, T, hidden)
        return self.head(out)                               # (N, T, n_tags)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # def __init__(self, n_tokens, n_tags, hidden=32):
    #     super().__init__()
    #     self.rnn = nn.GRU(1, hidden, batch_first=True)      # one "feature" per step: the id
    #     self.head = nn.Linear(hidden, n_tags)
    #
    # def forward(self, X):
    #     out, _ = self.rnn(X.unsqueeze(-1))                  # (N, T, 1) int64 ids
    #     return self.head(out)                               # (N, T, n_tags)
    ### END BROKEN CODE


X, y = checks.tagging_data(4, 6, 10, rule="mod3")           # (N, T), (N, T)
IdTagger(10, 3)(X)

# %% quick embedding 1
# Quick check (1 point): ids (4, 6) -> float scores (4, 6, 3).
with checks.exercise("embedding"):
    X, _ = checks.tagging_data(4, 6, 10, seed=1, rule="mod3")    # (4, 6)
    checks.check_sequence_output(IdTagger(10, 3), X, (4, 6, 3), what="IdTagger(10, 3)(X)")
    checks.passed("quick check: the shape is right. " + checks.HIDDEN_NOTE)

# %% hidden embedding 2
for N, T in ((1, 4), (7, 5)):                           # 12 token ids, 3 tags: no two axes alike
    X, _ = checks.tagging_data(N, T, 12, seed=50 + N, rule="mod3")   # (N, T) ids up to 11
    checks.check_sequence_output(IdTagger(12, 3), X, (N, T, 3),
                                 what=f"IdTagger(12, 3)(X) with N = {N}, T = {T}")
X, y = checks.tagging_data(64, 6, 10, seed=10, rule="mod3")  # (64, 6), (64, 6)
X_test, y_test = checks.tagging_data(128, 6, 10, seed=11, rule="mod3")
torch.manual_seed(0)
checks.check_trains_tokens(IdTagger(10, 3), X, y, checks.token_cross_entropy,
                           test=(X_test, y_test), steps=40, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 7 · An input and a target of different lengths
#
# The model below is an encoder–decoder (this cell is locked: do not change it). `encode(src)` reads the
# whole input; `decode(tgt_in, state)` reads decoder input ids `tgt_in` (N, T_in) and gives one row of V
# scores per decoder step, (N, T_in, V).

# %% locked seq2seq_model
BOS = 1                                                     # every target starts with this token


class Seq2Seq(nn.Module):
    """src (N, S) ids -> encode -> state; decode(tgt_in (N, T_in) ids, state) -> scores (N, T_in, V)."""

    def __init__(self, V, emb=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(V, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, V)

    def encode(self, src):
        return self.encoder(self.embed(src))                # outputs (N, S, hidden), state (1, N, hidden)

    def decode(self, tgt_in, state):
        out, _ = self.decoder(self.embed(tgt_in), state)    # (N, T_in, hidden)
        return self.head(out)                               # (N, T_in, V)

# %% [markdown]
# A source `src` (N, S) is to be turned into a target `tgt` (N, T) that starts with `BOS`; S and T differ.
# `seq2seq_loss` scores the source's encoder outputs against the target, which cannot work (the cell
# below fails). Make it return the mean cross-entropy of the **decoder's** predictions with teacher forcing:
# the decoder reads `tgt` without its last token and at each step predicts the next token of `tgt`.
# It must work for any N, S and T (T shorter or longer than S). The hidden check also trains a model
# with it for 80 steps; greedy decoding of held-out sources must then get 90% of the target tokens right.

# %% answer seq2seq
def seq2seq_loss(model, src, tgt):
    """model: Seq2Seq, src (N, S) ids, tgt (N, T) ids starting with BOS -> mean next-token loss, a scalar."""
    ### BEGIN SOLUTION
    _, state = model.encode(src)                            # (1, N, hidden): the whole source
    logits = model.decode(tgt[:, :-1], state)               # (N, T-1, V): reads BOS, t1, ..., t_{T-2}
    return F.cross_entropy(logits.permute(0, 2, 1), tgt[:, 1:])   # predicts t1, ..., t_{T-1}
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # enc_out, state = model.encode(src)                      # (N, S, hidden), (1, N, hidden)
    # logits = model.head(enc_out)                            # (N, S, V): one row per *input* step
    # V = logits.shape[-1]
    # return F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))
    ### END BROKEN CODE


src = torch.randint(2, 12, (4, 10))                         # (N, S) a 10-token input
tgt = torch.cat([torch.full((4, 1), BOS), torch.randint(2, 12, (4, 7))], dim=1)  # (N, T) BOS + 7 tokens
seq2seq_loss(Seq2Seq(12), src, tgt)

# %% quick seq2seq 1
# Quick check (1 point): N = 4, S = 6, T = 5, against the loss computed one decoder step at a time.
with checks.exercise("seq2seq"):
    torch.manual_seed(3)
    src, tgt = checks.reversal_data(4, 6, 4, 9, seed=3)     # (4, 6), (4, 5)
    checks.check_model_loss(seq2seq_loss, checks.expected("seq2seq"), Seq2Seq(9), {"src": src, "tgt": tgt})
    checks.passed("quick check: N = 4 gives the teacher-forced loss. " + checks.HIDDEN_NOTE)

# %% hidden seq2seq 3
torch.manual_seed(4)
model = Seq2Seq(11, emb=8, hidden=12)                   # V = 11
for N, S, T in ((1, 4, 3), (2, 3, 6), (7, 5, 4), (3, 6, 2)):   # targets shorter and longer than the input
    src = torch.randint(2, 11, (N, S))                                               # (N, S)
    tgt = torch.cat([torch.full((N, 1), BOS), torch.randint(2, 11, (N, T - 1))], dim=1)  # (N, T)
    checks.check_model_loss(seq2seq_loss, checks.expected("seq2seq"), model, {"src": src, "tgt": tgt},
                            label=f" with N = {N}, S = {S}, T = {T}")
train = [checks.reversal_data(64, 5, 3, 8, seed=100 + step) for step in range(80)]  # (64, 5), (64, 4) each
test = checks.reversal_data(128, 5, 3, 8, seed=13)      # held out: the last 3 source tokens, reversed
torch.manual_seed(0)
checks.check_seq2seq_trains(seq2seq_loss, Seq2Seq(8), train, test, steps=80, min_accuracy=0.9, bos=BOS)

# %% [markdown]
# ## Exercise 8 · Predict the shape
#
# Predict each shape and write it as a tuple of ints (`()` for a scalar). Work it out from the code
# first: that is the exercise; running it afterwards is how you check yourself.
# The broken answers are common guesses; at most a few are right.
#
# ```python
# N, T, F_in, H, V = 4, 7, 8, 16, 5
# X = torch.randn(N, T, F_in)                                # (N, T, F)
# gru = nn.GRU(F_in, H, num_layers=2, batch_first=True)
# out, h_n = gru(X)
# logits = nn.Linear(H, V)(out)
# y = torch.randint(0, V, (N, T))
# ```
#
# | name | expression |
# |---|---|
# | `shape_out` | `out` |
# | `shape_h_n` | `h_n` |
# | `shape_out_minus_1` | `out[-1]` |
# | `shape_out_last_step` | `out[:, -1]` |
# | `shape_loss_none` | `F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none")` |
# | `shape_flat_logits` | `logits.reshape(-1, V)` |

# %% answer predict_shape
### BEGIN SOLUTION
shape_out = (4, 7, 16)
shape_h_n = (2, 4, 16)
shape_out_minus_1 = (7, 16)
shape_out_last_step = (4, 16)
shape_loss_none = (4, 7)
shape_flat_logits = (28, 5)
### END SOLUTION
### BEGIN BROKEN CODE
# shape_out = (4, 7, 16)
# shape_h_n = (4, 2, 16)
# shape_out_minus_1 = (4, 16)
# shape_out_last_step = (4, 16)
# shape_loss_none = (4, 5, 7)
# shape_flat_logits = (4, 35)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions.
with checks.exercise("predict_shape"):
    N, T, F_in, H, V = 4, 7, 8, 16, 5
    X = torch.randn(N, T, F_in)                             # (N, T, F)
    gru = nn.GRU(F_in, H, num_layers=2, batch_first=True)
    out, h_n = gru(X)                                       # (N, T, H), (layers, N, H)
    checks.check_shape("shape_out", shape_out, out.shape)
    checks.check_shape("shape_h_n", shape_h_n, h_n.shape)
    checks.passed("quick check: the first two shapes are right. " + checks.HIDDEN_NOTE)

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
logits = nn.Linear(H, V)(out)                           # (N, T, V)
y = torch.randint(0, V, (N, T))                         # (N, T)
checks.check_shape("shape_out_minus_1", shape_out_minus_1, out[-1].shape)
checks.check_shape("shape_out_last_step", shape_out_last_step, out[:, -1].shape)
checks.check_shape("shape_loss_none", shape_loss_none,
                   F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none").shape)
checks.check_shape("shape_flat_logits", shape_flat_logits, logits.reshape(-1, V).shape)
