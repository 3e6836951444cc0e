# %% [markdown]
# # 05 · Sequences and padding — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error, or a
# result that looks fine and is wrong. None of them is a copy of a lesson example: each puts an idea of
# the lessons (`course/05-sequences-and-padding-lesson-1.ipynb`, tagging and padding, for exercises 1 to 3;
# `course/05-sequences-and-padding-lesson-2.ipynb`, recurrent layers and seq2seq, for exercises 4 to 9)
# into another model, another layout or another loss, so work out the fix from the rule, not from a line
# you remember. The kind of each exercise is in its title: **[silent bug]** (it runs; find what is
# wrong), **[transfer]** (a lesson's idea in a new situation), **[predict, then run]**.
# Fix the code **in place**, in the same cell, then run the check below it.
#
# * Shapes use the lessons' names: `N` sequences, `T` time steps, `V` or `C` classes (tags, words),
#   `F` features per step, `H` hidden size.
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
# ## Exercise 1 · Frame labels from a time-first model [silent bug]
#
# A speech model gives every audio frame one of C phone classes. Its front end works **time-first**, as
# CTC code does, so it returns log-probabilities `log_probs` of shape (T, N, C): `log_softmax` over C
# was already applied. The frame labels `y` come from a batch-first dataset: (N, T) int64, `y[n, t]`
# the class of frame t of recording n.
#
# `tagging_loss` should return the mean negative log-likelihood over all N·T frames, each frame's
# log-probabilities scored against **that frame's** label, for any N, T and C. It runs. The hidden
# check also trains a small time-first model with it for 40 steps and wants 90% of the frames of
# held-out recordings labelled right.

# %% answer tagging_loss
def tagging_loss(log_probs, y):
    """log_probs (T, N, C) log-probabilities, y (N, T) int64 -> mean NLL over the N*T frames, a scalar."""
    ### BEGIN SOLUTION
    return F.nll_loss(log_probs.permute(1, 2, 0), y)          # (N, C, T) with (N, T)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # C = log_probs.shape[-1]
    # return F.nll_loss(log_probs.reshape(-1, C), y.reshape(-1))   # one row per frame, one label per frame
    ### END BROKEN CODE


log_probs, y = checks.frame_batch(3, 5, 4)                    # (T, N, C) = (5, 3, 4), (N, T) = (3, 5)
print("loss", tagging_loss(log_probs, y).item())
sure_and_right = checks.confident_frames(y, 4)              # (T, N, C): every frame sure of its own label
print("loss of log-probabilities sure and right on every frame:", tagging_loss(sure_and_right, y).item())

# %% quick tagging_loss 1
# Quick check (1 point): N = 4 recordings, T = 6 frames, C = 5 classes.
with checks.exercise("tagging_loss"):
    log_probs, y = checks.frame_batch(4, 6, 5, seed=1)        # (6, 4, 5), (4, 6)
    checks.check_frame_loss(tagging_loss, checks.expected("tagging_loss"), {"log_probs": log_probs, "y": y})
    checks.passed("quick check: N = 4 gives the mean over the frames. " + checks.HIDDEN_NOTE)

# %% hidden tagging_loss 2
for N, T, C in ((1, 5, 3), (2, 6, 4), (7, 3, 9), (3, 8, 2)):   # N, T and C never equal: a swapped axis shows
    log_probs, y = checks.frame_batch(N, T, C, seed=10 * N + T)          # (T, N, C), (N, T)
    checks.check_frame_loss(tagging_loss, checks.expected("tagging_loss"), {"log_probs": log_probs, "y": y},
                            label=f" with N = {N}, T = {T}, C = {C}")
X, y = checks.frame_data(48, 5, 7, seed=3)              # (T, N, F) = (5, 48, 6), (48, 5)
X_test, y_test = checks.frame_data(64, 5, 7, seed=4)    # held out: scored after training
checks.check_trains_tokens(checks.tiny_frame_tagger(6, 7), X, y, tagging_loss, test=(X_test, y_test),
                           steps=40, min_accuracy=0.9, time_first=True)

# %% [markdown]
# ## Exercise 2 · A batch padded on the left [silent bug]
#
# Chat models are often fed batches padded on the **left**: row n holds its `lengths[n]` real tokens at
# the **end**, after T - lengths[n] pads. Here the tags `y` (N, T) of such a batch were padded with
# **0**, which is also a real tag, and `lengths` (N,) gives each row's number of real tokens.
#
# `masked_token_loss` should return the mean cross-entropy over the real tokens only, each real token
# counted once. It runs. The answer must not change when the batch gets more padding (on the left).

# %% answer masked_loss
def masked_token_loss(logits, y, lengths):
    """logits (N, T, V), y (N, T) int64 left-padded with 0, lengths (N,) -> mean loss over the real tokens."""
    T = y.shape[1]
    ### BEGIN SOLUTION
    mask = torch.arange(T)[None, :] >= (T - lengths)[:, None]                # (N, T) True on real tokens
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # mask = torch.arange(T)[None, :] < lengths[:, None]                       # (N, T) True on real tokens
    ### END BROKEN CODE
    losses = F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none")   # (N, T) one loss per step
    return (losses * mask).sum() / mask.sum()


logits, y, lengths = checks.token_batch(3, 6, 4, seed=3, pad=0, side="left")  # (N, T, V), (N, T), (N,)
print("lengths", lengths.tolist(), "| y\n", y)
print("loss", masked_token_loss(logits, y, lengths).item())

# %% quick masked_loss 1
# Quick check (1 point): N = 4, T = 6, padded on the left.
with checks.exercise("masked_loss"):
    logits, y, lengths = checks.token_batch(4, 6, 5, seed=2, pad=0, side="left")   # (4, 6, 5), (4, 6), (4,)
    checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"),
                            {"logits": logits, "y": y, "lengths": lengths}, grad_of=None, side="left")
    checks.passed("quick check: N = 4 gives the mean over the real tokens. " + checks.HIDDEN_NOTE)

# %% hidden masked_loss 2
for N in (1, 2, 7):                                     # T = 6, V = 4: no two axes of the same size
    logits, y, lengths = checks.token_batch(N, 6, 4, seed=20 + N, pad=0, side="left")   # (N, 6, 4), (N, 6)
    checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"),
                            {"logits": logits, "y": y, "lengths": lengths}, label=f" with N = {N}",
                            side="left")
logits, y, _ = checks.token_batch(5, 8, 3, seed=5)      # (5, 8, 3), (5, 8)
lengths = torch.tensor([8, 1, 3, 8, 2])                 # (5,) one token only in row 1
y = y.masked_fill(~checks.padding_mask(lengths, 8, side="left"), 0)   # (5, 8) padded on the left with 0
args = {"logits": logits, "y": y, "lengths": lengths}
checks.check_token_loss(masked_token_loss, checks.expected("masked_loss"), args, label=" with N = 5",
                        side="left")
checks.check_padding_invariance(masked_token_loss, args, pad_value=0, extra=5, side="left")

# %% [markdown]
# ## Exercise 3 · A sentence vector that averages the padding [silent bug]
#
# `SentenceClassifier` gives each sentence C class scores from the **mean** of its GRU outputs over the
# sentence's steps. A batch holds sentences of token ids `X` (N, T), padded on the right with id 0 after
# `lengths[n]` real tokens (real ids are 1 or more). The cell below scores one sentence alone and then the
# same sentence inside the padded batch: compare the two.
#
# Fix `forward` so that each sentence's scores are those the model gives that sentence alone, without
# padding, whatever the padding of its batch. Keep the layers `embed`, `rnn` and `head` as they are: the
# check runs them on each sentence alone to compare. Any N, T and lengths from 1 to T.

# %% answer mean_pooling
class SentenceClassifier(nn.Module):
    """Token ids X (N, T) right-padded with 0, lengths (N,) -> class scores (N, n_classes)."""

    def __init__(self, n_tokens, n_classes, emb=8, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, X, lengths):
        out, _ = self.rnn(self.embed(X))                    # (N, T, hidden)
        ### BEGIN SOLUTION
        real = (torch.arange(X.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)   # (N, T, 1)
        pooled = (out * real).sum(dim=1) / lengths[:, None]                           # (N, hidden)
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # pooled = out.mean(dim=1)                            # (N, hidden): the mean over the steps
        ### END BROKEN CODE
        return self.head(pooled)                            # (N, n_classes)


torch.manual_seed(0)
model = SentenceClassifier(10, 3)
X, lengths = checks.padded_sentences(4, 7, 10, seed=3)      # (N, T) right-padded with 0, (N,)
n = 1                                                       # a sentence shorter than T
alone = model(X[n:n + 1, :lengths[n]], lengths[n:n + 1])    # (1, 3) sentence n, without padding
in_batch = model(X, lengths)[n]                             # (3,) the same sentence in the padded batch
print(f"sentence {n}, {int(lengths[n])} real tokens of T = {X.shape[1]}:")
print("  scored alone       ", [round(v, 4) for v in alone[0].tolist()])
print("  scored in the batch", [round(v, 4) for v in in_batch.tolist()])

# %% quick mean_pooling 1
# Quick check (1 point): N = 4 sentences of up to T = 7 tokens, each scored as if alone.
with checks.exercise("mean_pooling"):
    torch.manual_seed(1)
    model = SentenceClassifier(10, 3)
    X, lengths = checks.padded_sentences(4, 7, 10, seed=2)  # (4, 7), (4,)
    checks.check_pooled_classifier(model, X, lengths, 3, what="SentenceClassifier(10, 3)(X, lengths)")
    checks.passed("quick check: every sentence gets its own scores. " + checks.HIDDEN_NOTE)

# %% hidden mean_pooling 2
torch.manual_seed(2)
model = SentenceClassifier(12, 4, emb=6, hidden=8)      # 12 token ids, 4 classes, hidden 8
what = "SentenceClassifier(12, 4, emb=6, hidden=8)(X, lengths)"
for N, T, seed in ((1, 5, 3), (2, 6, 5), (7, 3, 6), (11, 10, 7)):    # N = 1 and odd N; T never N
    X, lengths = checks.padded_sentences(N, T, 12, seed=seed, min_length=T if N == 1 else 1)   # (N, T), (N,)
    checks.check_pooled_classifier(model, X, lengths, 4, what=f"{what} with N = {N}, T = {T}")
X = torch.tensor([[4, 9, 0, 0, 0, 0, 0, 0, 0]])        # N = 1: a sentence of 2 tokens padded to T = 9
checks.check_pooled_classifier(model, X, torch.tensor([2]), 4, what=f"{what} with N = 1, T = 9")
X = torch.tensor([[3, 5, 0, 0, 0], [7, 0, 0, 0, 0], [2, 4, 6, 8, 9]])   # (3, 5): lengths 2, 1, 5
checks.check_pooled_classifier(model, X, torch.tensor([2, 1, 5]), 4, what=f"{what} with N = 3, T = 5")

# %% [markdown]
# ## Exercise 4 · Sensor windows stored channels first [transfer]
#
# A data pipeline you cannot change stores windows of sensor readings the way a 1-d convolution reads a
# signal, **channels first**, (N, C, L) (part 1, "The contract on one card"): `X` (N, F, T) holds, for
# each of N windows, F channels of T readings each. One label per window, `y` (N,): is the person
# walking (1) or not (0)? The label is 1 when channel 0, summed over the window, is positive.
#
# `MotionClassifier` must read each window with its recurrent layer in time order, F readings per step,
# take `X` as it comes, (N, F, T), and give 2 class scores per window, (N, 2), for any N, F and T. The
# cell below fails. Fix the model, not the data, and keep its layers under the names `rnn` (an LSTM, or
# a GRU) and `head`: the checks run them on each window alone and compare. The hidden check also trains
# the model for 40 steps: 70% of held-out windows must be right.

# %% answer batch_first
class MotionClassifier(nn.Module):
    """Windows X (N, F, T) float, channels first -> 2 class scores (N, 2)."""

    ### BEGIN SOLUTION
    def __init__(self, n_features, hidden=16):
        super().__init__()
        self.rnn = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, X):
        out, (h_n, c_n) = self.rnn(X.permute(0, 2, 1))     # (N, T, F) in, out (N, T, hidden)
        return self.head(out[:, -1])                        # (N, 2) from each window's last step
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # def __init__(self, n_features, hidden=16):
    #     super().__init__()
    #     self.rnn = nn.LSTM(n_features, hidden, batch_first=True)
    #     self.head = nn.Linear(hidden, 2)
    #
    # def forward(self, X):
    #     out, (h_n, c_n) = self.rnn(X)
    #     return self.head(out[:, -1])                        # each window's last step
    ### END BROKEN CODE


model = MotionClassifier(3)
X, y = checks.motion_windows(6, 9)                          # (N, F, T) = (6, 3, 9), (N,) = (6,)
F.cross_entropy(model(X), y)

# %% quick batch_first 1
# Quick check (1 point): X (8, 3, 6), channels first -> (8, 2), each window read alone in time order.
with checks.exercise("batch_first"):
    torch.manual_seed(1)
    model = MotionClassifier(3)
    X, _ = checks.motion_windows(8, 6, seed=1)              # (N, F, T) = (8, 3, 6)
    checks.check_window_classifier(model, X, what="MotionClassifier(3)(X)")
    checks.passed("quick check: the shape is right and each window is read in time order. " + checks.HIDDEN_NOTE)

# %% hidden batch_first 2
torch.manual_seed(2)
model = MotionClassifier(4, hidden=8)                   # F = 4, hidden 8: no axis the size of another
for N, T in ((1, 5), (3, 9), (7, 3), (11, 6)):         # never N = 2 classes, nor T = N or T = F
    X, _ = checks.motion_windows(N, T, 4, seed=N)       # (N, 4, T)
    checks.check_window_classifier(model, X, what=f"MotionClassifier(4, hidden=8)(X) with N = {N}, T = {T}")
X, y = checks.motion_windows(64, 8, seed=5)             # (64, 3, 8), (64,)
X_test, y_test = checks.motion_windows(64, 8, seed=6)   # held out: scored after training
torch.manual_seed(0)
checks.check_trains_tokens(MotionClassifier(3), X, y, nn.CrossEntropyLoss(), test=(X_test, y_test),
                           steps=40, min_accuracy=0.7)

# %% [markdown]
# ## Exercise 5 · A caption decoder started from the image [silent bug]
#
# `CaptionDecoder` writes a caption for an image. Its GRU has `layers` layers, and each layer starts from
# a state computed from the image's features: `init_state(feats)` gives, for image n, one row of
# `layers * hidden` numbers, **layer 0's initial state first** (its `hidden` numbers), then layer 1's, and
# so on. The decoder then reads the caption so far, ids `X` (N, T), and scores the next word at every
# step, (N, T, V). The cell below changes image 0 only and measures how much the other captions' scores move.
#
# Fix `forward` so that each caption starts from its own image's states, as described, for any N. Keep
# the layers `init_state`, `embed`, `rnn` and `head` as they are: the check runs them on each image alone.

# %% answer hidden_state
class CaptionDecoder(nn.Module):
    """Image features feats (N, n_features), caption ids X (N, T) -> next-word scores (N, T, V)."""

    def __init__(self, n_features, V, layers=2, emb=8, hidden=16):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.init_state = nn.Linear(n_features, layers * hidden)     # every layer's initial state
        self.embed = nn.Embedding(V, emb)
        self.rnn = nn.GRU(emb, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, V)

    def forward(self, feats, X):
        s = self.init_state(feats)                          # (N, layers * hidden): layer 0's, layer 1's, ...
        ### BEGIN SOLUTION
        h0 = s.view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()   # (layers, N, hidden)
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # h0 = s.view(self.layers, -1, self.hidden)            # (layers, N, hidden)
        ### END BROKEN CODE
        out, _ = self.rnn(self.embed(X), h0)                # (N, T, hidden)
        return self.head(out)                               # (N, T, V)


torch.manual_seed(0)
model = CaptionDecoder(6, 10)
feats, X = torch.randn(5, 6), torch.randint(0, 10, (5, 4))  # (N, n_features), (N, T)
before = model(feats, X)                                    # (N, T, V)
feats[0] += 1.0                                             # another image 0; images 1..4 unchanged
print("largest change in the scores of captions 1..4:", (model(feats, X) - before)[1:].abs().max().item())

# %% quick hidden_state 1
# Quick check (1 point): N = 5 images, 2 layers of 16, each caption from its own image.
with checks.exercise("hidden_state"):
    torch.manual_seed(1)
    model = CaptionDecoder(6, 10)
    feats, X = torch.randn(5, 6), torch.randint(0, 10, (5, 4))   # (5, 6), (5, 4)
    checks.check_conditioned_decoder(model, feats, X, layers=2, hidden=16,
                                     what="CaptionDecoder(6, 10)(feats, X)")
    checks.passed("quick check: every caption starts from its own image's states. " + checks.HIDDEN_NOTE)

# %% hidden hidden_state 2
torch.manual_seed(2)
model = CaptionDecoder(5, 11, layers=3, emb=4, hidden=12)     # 3 layers of 12, V = 11, 5 features
for N, T in ((1, 4), (2, 6), (7, 8), (13, 2)):          # never T = 3 layers, nor N = T
    feats, X = torch.randn(N, 5), torch.randint(0, 11, (N, T))   # (N, 5), (N, T)
    checks.check_conditioned_decoder(model, feats, X, layers=3, hidden=12,
                                     what=f"CaptionDecoder(5, 11, layers=3, hidden=12)(feats, X), N = {N}")
model = CaptionDecoder(5, 11, layers=1, hidden=12)            # one layer
feats, X = torch.randn(6, 5), torch.randint(0, 11, (6, 3))
checks.check_conditioned_decoder(model, feats, X, layers=1, hidden=12,
                                 what="CaptionDecoder(5, 11, layers=1)(feats, X)")

# %% [markdown]
# ## Exercise 6 · A station id stored as a number [silent bug]
#
# A monitoring log records, at every step, which station sent a reading and the reading itself: `X`
# (N, T, 2) float, where **column 0 is the station's id** (0 to n_stations - 1, stored as a float in the
# log file) and column 1 the reading. Every station has its own base alarm level, set by hand, and the
# alarm level to predict at a step, `y` (N, T) in 0..2, is that base level, plus 1 when the reading is
# positive (mod 3).
#
# `StationTagger` runs, but learns little: the cell below trains it and measures it on new logs. Change
# the model so that it **learns** the levels: the hidden check trains it for 40 steps and wants 85% of
# the steps of held-out logs right, for any number of stations. Keep the input `X` (N, T, 2) float and
# the output (N, T, 3).

# %% answer embedding
class StationTagger(nn.Module):
    """Logged steps X (N, T, 2) float: station id (as a float), reading -> alarm-level scores (N, T, 3)."""

    ### BEGIN SOLUTION
    def __init__(self, n_stations, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(n_stations, 8)            # one learned vector per station
        self.rnn = nn.GRU(8 + 1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def forward(self, X):
        ids = X[..., 0].long()                              # (N, T) station ids
        steps = torch.cat([self.embed(ids), X[..., 1:]], dim=-1)   # (N, T, 8 + 1)
        out, _ = self.rnn(steps)                            # (N, T, hidden)
        return self.head(out)                               # (N, T, 3)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # def __init__(self, n_stations, hidden=16):
    #     super().__init__()
    #     self.rnn = nn.GRU(2, hidden, batch_first=True)       # the two columns of a step
    #     self.head = nn.Linear(hidden, 3)
    #
    # def forward(self, X):
    #     out, _ = self.rnn(X)                                 # (N, T, hidden)
    #     return self.head(out)                                # (N, T, 3)
    ### END BROKEN CODE


X, y = checks.station_data(256, 5, 10, seed=0)              # (N, T, 2), (N, T): 10 stations
X_new, y_new = checks.station_data(256, 5, 10, seed=1)      # new logs
torch.manual_seed(0)
checks.report_training(StationTagger(10), (X, y), (X_new, y_new), steps=40)
print("chance: 1/3 =", round(1 / 3, 3))

# %% quick embedding 1
# Quick check (1 point): X (4, 6, 2) -> float scores (4, 6, 3), and 85% right on new logs after 40 steps.
with checks.exercise("embedding"):
    X, _ = checks.station_data(4, 6, 10, seed=1)            # (4, 6, 2)
    checks.check_sequence_output(StationTagger(10), X, (4, 6, 3), what="StationTagger(10)(X)")
    X, y = checks.station_data(256, 5, 10, seed=2)          # (256, 5, 2), (256, 5): 10 stations
    X_test, y_test = checks.station_data(256, 5, 10, seed=3)   # new logs: scored after training
    torch.manual_seed(0)
    checks.check_trains_tokens(StationTagger(10), X, y, checks.token_cross_entropy,
                               test=(X_test, y_test), steps=40, min_accuracy=0.85, id_column=0)
    checks.passed("quick check: the shape is right and it learns 10 stations. " + checks.HIDDEN_NOTE)

# %% hidden embedding 2
for N, T in ((1, 4), (7, 5)):                           # 12 stations, 3 levels: no two axes alike
    X, _ = checks.station_data(N, T, 12, seed=50 + N)   # (N, T, 2) ids up to 11
    checks.check_sequence_output(StationTagger(12), X, (N, T, 3),
                                 what=f"StationTagger(12)(X) with N = {N}, T = {T}")
X, y = checks.station_data(256, 5, 12, seed=10)         # (256, 5, 2), (256, 5)
X_test, y_test = checks.station_data(256, 5, 12, seed=11)   # held out: scored after training
torch.manual_seed(0)
checks.check_trains_tokens(StationTagger(12), X, y, checks.token_cross_entropy,
                           test=(X_test, y_test), steps=40, min_accuracy=0.85, id_column=0)

# %% [markdown]
# ## Exercise 7 · Targets of different lengths [transfer]
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
# A source `src` (N, S) is turned into a target `tgt` (N, T) that starts with `BOS`. The targets of a batch
# have **different lengths**: each row was padded with **-100** after its last real token, so that the loss
# can skip the pads. Real tokens are ids 2 to V - 1 (id 0 is never a real token, id 1 is BOS).
#
# `seq2seq_loss` should return the teacher-forced loss: the decoder reads the target without its last
# step and is scored, at each step, against the next token of the target; the mean is over the **real**
# target tokens after BOS, each counted once. The cell below fails. Fix it for any N, S and T and any
# lengths. The hidden check also trains a model with it for 100 steps; greedy decoding of held-out sources
# must then get 85% of the target tokens right.

# %% answer seq2seq
def seq2seq_loss(model, src, tgt):
    """model: Seq2Seq, src (N, S) ids, tgt (N, T) ids from BOS, padded with -100 -> mean loss, a scalar."""
    _, state = model.encode(src)                            # (1, N, hidden): the whole source
    ### BEGIN SOLUTION
    tgt_in = tgt[:, :-1].clamp(min=0)                       # (N, T-1): the decoder's input, pads as id 0
    logits = model.decode(tgt_in, state)                    # (N, T-1, V)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # logits = model.decode(tgt[:, :-1], state)               # (N, T-1, V): reads BOS, t1, ..., t_{T-2}
    ### END BROKEN CODE
    return F.cross_entropy(logits.permute(0, 2, 1), tgt[:, 1:])   # scored against t1, ..., t_{T-1}


src, tgt = checks.padded_reversal_data(4, 7, 4, 12, seed=0)  # (N, S) = (4, 7), (N, T) = (4, 5)
print(tgt)
seq2seq_loss(Seq2Seq(12), src, tgt)

# %% quick seq2seq 1
# Quick check (1 point): N = 4, S = 6, T = 5, against the loss computed one decoder step at a time.
with checks.exercise("seq2seq"):
    torch.manual_seed(3)
    src, tgt = checks.padded_reversal_data(4, 6, 4, 9, seed=3)   # (4, 6), (4, 5)
    checks.check_model_loss(seq2seq_loss, checks.expected("seq2seq"), Seq2Seq(9), {"src": src, "tgt": tgt})
    checks.passed("quick check: N = 4 gives the teacher-forced loss. " + checks.HIDDEN_NOTE)

# %% hidden seq2seq 3
torch.manual_seed(4)
model = Seq2Seq(11, emb=8, hidden=12)                   # V = 11
for N, S, T in ((1, 4, 3), (2, 3, 6), (7, 5, 4), (3, 6, 2)):   # targets shorter and longer than the source
    src, tgt = checks.seq2seq_batch(N, S, T, 11, seed=N + S + T)  # (N, S), (N, T) padded with -100
    checks.check_model_loss(seq2seq_loss, checks.expected("seq2seq"), model, {"src": src, "tgt": tgt},
                            label=f" with N = {N}, S = {S}, T = {T}")
src = torch.randint(2, 11, (1, 4))                      # N = 1 with a padded target: BOS and one token
checks.check_model_loss(seq2seq_loss, checks.expected("seq2seq"), model,
                        {"src": src, "tgt": torch.tensor([[BOS, 5, -100, -100]])},
                        label=" with N = 1, one token")
train = [checks.padded_reversal_data(64, 5, 3, 8, seed=100 + step) for step in range(100)]  # (64, 5), (64, 4)
test = checks.reversal_data(128, 5, 3, 8, seed=13)      # held out, full length: the last 3 tokens, reversed
torch.manual_seed(0)
checks.check_seq2seq_trains(seq2seq_loss, Seq2Seq(8), train, test, steps=100, min_accuracy=0.85, bos=BOS)

# %% [markdown]
# ## Exercise 8 · A language model with a perfect loss [silent bug]
#
# `CharLM` (locked) works **time-first**, the default layout of its GRU: it reads token ids `x` (T, N),
# step t of sequence n in `x[t, n]`, and gives one row of V scores at every position, (T, N, V). The
# scores at position t have read the tokens of their sequence up to and including step t, and nothing
# after it. It is used to **continue** a sequence: the scores at the last position give the next token,
# which is appended, and so on (`checks.continue_greedy`).

# %% locked char_lm
class CharLM(nn.Module):
    """Token ids x (T, N), time-first -> scores (T, N, V); position t has read steps 0 to t."""

    def __init__(self, V, emb=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(V, emb)
        self.rnn = nn.GRU(emb, hidden)                      # time-first: its default layout
        self.head = nn.Linear(hidden, V)

    def forward(self, x):
        out, _ = self.rnn(self.embed(x))                    # (T, N, hidden)
        return self.head(out)                               # (T, N, V)

# %% [markdown]
# The training sequences count modulo V with a step of 1, 2 or 3 (`3, 5, 7, 9, 0, 2, ...` for V = 11): the
# next token follows from the last two, but the second token of a sequence cannot be known from the first.
# `lm_loss(model, x)` should be the mean loss of the model's predictions of each **next** token of `x`,
# over every position that has a next token. The cell below trains a model with it and continues new
# sequences: read both numbers.
#
# Fix `lm_loss` for any N, T and V; `x` stays time-first. The hidden check also trains a model with it for
# 60 steps; continuing held-out 3-token prefixes must then get 90% of the next 5 tokens right.

# %% answer next_token
def lm_loss(model, x):
    """model: CharLM, x (T, N) token ids, time-first -> mean loss of predicting each next token, a scalar."""
    ### BEGIN SOLUTION
    logits = model(x[:-1])                                  # (T-1, N, V): steps 0 .. T-2 read
    return F.cross_entropy(logits.permute(1, 2, 0), x[1:].T)   # (N, V, T-1) with (N, T-1): the next steps
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # logits = model(x)                                       # (T, N, V): one row of scores per position
    # return F.cross_entropy(logits.permute(1, 2, 0), x.T)    # (N, V, T) with (N, T)
    ### END BROKEN CODE


torch.manual_seed(0)
checks.train_and_continue(CharLM(11), lm_loss, V=11, steps=60, time_first=True)

# %% quick next_token 1
# Quick check (1 point): N = 4 sequences of T = 6 tokens, V = 9, against the loss one prefix at a time.
with checks.exercise("next_token"):
    torch.manual_seed(5)
    x = checks.counting_data(4, 6, 9, seed=5, time_first=True)   # (T, N) = (6, 4)
    checks.check_model_loss(lm_loss, checks.expected("next_token"), CharLM(9), {"x": x}, time_first=True)
    checks.passed("quick check: N = 4 gives the next-token loss. " + checks.HIDDEN_NOTE)

# %% hidden next_token 3
torch.manual_seed(6)
model = CharLM(13, emb=8, hidden=12)                    # V = 13
for N, T in ((1, 5), (2, 3), (7, 9), (3, 2)):           # T = 2: one prediction per sequence
    x = checks.counting_data(N, T, 13, seed=N + T, time_first=True)   # (T, N)
    checks.check_model_loss(lm_loss, checks.expected("next_token"), model, {"x": x},
                            label=f" with N = {N}, T = {T}", time_first=True)
train = [checks.counting_data(64, 8, 10, seed=100 + step, time_first=True) for step in range(60)]   # (8, 64)
test = checks.counting_data(128, 8, 10, seed=999, time_first=True)   # (8, 128) held out
torch.manual_seed(0)
checks.check_lm_trains(lm_loss, CharLM(10), train, test, steps=60, min_accuracy=0.9, time_first=True)

# %% [markdown]
# ## Exercise 9 · Shapes in a tagger you cannot run [predict, then run]
#
# Nothing in this notebook builds the tagger described below, so work each shape out on paper and write
# it as a tuple of ints (`()` for a scalar). Then run the check: it judges all predictions at once and
# names the ones that miss, never their answer. For each miss the check asks for one sentence in `why`
# saying which step you misread (`why["shape_h_n"] = "..."`); correct the prediction and run it again.
#
# **The tagger.** A named-entity tagger for a vocabulary of 5,000 words and 17 entity tags. One batch holds
# **27 sentences**, padded by the loader to **41 tokens**; the longest sentence of this batch has **37**
# real tokens. So `X` holds one row of 41 word ids per sentence, `lengths` the 27 real lengths, and `y` one
# tag per token position, -100 at the pads. Its layers:
#
# * `embed`, an embedding that turns each of the 5,000 word ids into a vector of 56 numbers;
# * `lstm`, an LSTM that reads those 56 numbers per step, with 36 hidden units, 3 layers, bidirectional,
#   built with `batch_first=True`;
# * `head`, a linear layer from the LSTM's output features to the 17 tags.
#
# `emb` is `embed(X)`; `out, (h_n, c_n)` is what `lstm(emb)` returns; `logits` is `head(out)`. `unpacked`
# is the output of the same LSTM run on `emb` packed with `lengths` (`pack_padded_sequence`, batch-first,
# `enforce_sorted=False`), then turned back into a padded tensor by `pad_packed_sequence` (batch-first).
# Predict the shape of:
#
# | name | the shape of |
# |---|---|
# | `shape_emb` | `emb` |
# | `shape_out` | `out` |
# | `shape_h_n` | `h_n` |
# | `shape_out_minus_1` | `out[-1]` |
# | `shape_h_n_last` | `h_n[-1]` |
# | `shape_loss_none` | the cross-entropy of `logits`, its class axis moved to dim 1, against `y`, with no reduction |
# | `shape_flat_logits` | `logits` reshaped to one row per token position of the batch, each row the 17 tag scores |
# | `shape_unpacked` | `unpacked` |
# | `shape_last_real` | `out` gathered along dim 1 at each sentence's last real step: the index holds `lengths - 1`, given two more dims of size 1 and then expanded along the last one to every feature of `out` |

# %% answer predict_rnn
### BEGIN SOLUTION
shape_emb = (27, 41, 56)
shape_out = (27, 41, 72)
shape_h_n = (6, 27, 36)
shape_out_minus_1 = (41, 72)
shape_h_n_last = (27, 36)
shape_loss_none = (27, 41)
shape_flat_logits = (1107, 17)
shape_unpacked = (27, 37, 72)
shape_last_real = (27, 1, 72)
why = {}
### END SOLUTION
### BEGIN BROKEN CODE
# shape_emb = None
# shape_out = None
# shape_h_n = None
# shape_out_minus_1 = None
# shape_h_n_last = None
# shape_loss_none = None
# shape_flat_logits = None
# shape_unpacked = None
# shape_last_real = None
# why = {}
### END BROKEN CODE

# %% quick predict_rnn 2
# Quick check (2 points): every prediction, judged at once.
with checks.exercise("predict_rnn"):
    predictions = {"shape_emb": shape_emb, "shape_out": shape_out, "shape_h_n": shape_h_n,
                   "shape_out_minus_1": shape_out_minus_1, "shape_h_n_last": shape_h_n_last,
                   "shape_loss_none": shape_loss_none, "shape_flat_logits": shape_flat_logits,
                   "shape_unpacked": shape_unpacked, "shape_last_real": shape_last_real}
    checks.check_predictions(predictions, checks.expected("predict_rnn")(), why)
    checks.passed("quick check: all 9 predictions are right. The full check at grading judges them again; "
                  "nothing about them is hidden.")

# %% hidden predict_rnn 2
# Full check (2 points): the same predictions, judged again at grading.
checks.check_predictions(predictions, checks.expected("predict_rnn")(), why)
