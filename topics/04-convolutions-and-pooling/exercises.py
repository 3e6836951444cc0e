# %% [markdown]
# # 04 · Convolutions and pooling — exercises
#
# Each exercise below holds **code that runs**: run its cell and you meet a real error or a wrong
# result that raises nothing. Only one of them (marked `[direct application]`) is close to a lesson
# example (`course/04-convolutions-and-pooling-lesson.ipynb`); in the others the layers, the image
# sizes or the model are other ones, so work out what the shapes are before you change anything. Fix
# the code **in place**, in the same cell, then run the check below it. Each heading ends with the
# kind of exercise:
#
# * `[direct application]`: a lesson example in a new setting; the lesson's fix applies.
# * `[transfer]`: the error is a real one, but the lesson's line is not the fix: derive it.
# * `[silent bug]`: nothing raises. Run the cell, read what it printed, and find what is wrong.
# * `[predict, then run]`: write down what code you cannot run will give, then let the check judge.
#
# Shapes use the lesson's names: images `X` (N, C, H, W), logits (N, n_classes), class ids `y` (N,).
# `shape_table(model, X)` prints every layer's input and output shape (and where a model fails): use it
# whenever a size surprises you in code you can run. A `[predict, then run]` item is the exception:
# there the model exists only as words, and working its shapes out yourself is the exercise. Each
# exercise has a **quick check** you can run now, and a **full check**. At grading time the full check
# also runs hidden checks: N = 1, an odd N, other sizes, and a few training steps. "Quick check passed"
# is not full marks. Stuck after a failed check? `tp.hint("<exercise>")` shows the next hint of that
# exercise (its id is in the check's message). Do not edit the check cells: they are restored from the
# instructor's copy at grading.

# %% locked setup
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("04-convolutions-and-pooling")   # tp.hint("<exercise>") shows this notebook's hints
from targetpractice.diagnosis import shape_table

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · How large must the image be? [silent bug]
#
# Large image classifiers shrink the picture fast, before their main layers, with a *stem*. This stem
# is three layers, in this order:
#
# 1. a 7 × 7 convolution with stride 2 and padding 3;
# 2. a 3 × 3 max-pool with stride 2 and padding 1;
# 3. a 3 × 3 convolution with stride 2 and no padding.
#
# The layers after the stem need feature maps of at least `side` × `side` pixels. `min_size(side)`
# should return the **smallest** side length of a square image for which the stem gives feature maps
# of at least `side` × `side`, for any `side` from 1 up, as a Python `int`: a data loader resizes every
# image to it, so it must be what the real layers need, and not a pixel more. Below, it is printed for
# `side` = 7 and `side` = 1. Do not trust it before you have checked it.

# %% answer conv_out
def min_size(side):
    """The smallest square image size for which the stem gives feature maps of at least side x side."""
    ### BEGIN SOLUTION
    n = side
    for kernel, stride, padding in ((3, 2, 0), (3, 2, 1), (7, 2, 3)):   # the stem's layers, last first
        n = (n - 1) * stride + kernel - 2 * padding         # the smallest input that gives at least n
    return n
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return 8 * side                                         # three layers of stride 2: each halves
    ### END BROKEN CODE


print(min_size(7), min_size(1))

# %% quick conv_out 1
# Quick check (1 point): feature maps of at least 7 x 7.
with checks.exercise("conv_out"):
    real = checks.expected("conv_out")(7)                   # the smallest size the real stem needs
    got = checks.call(min_size, {"side": 7})
    checks.check_smallest_size(got, real, call="min_size(7)", layer="the stem", side=7)
    checks.passed("quick check: side 7. Hidden checks try many other sides, 1 and odd ones included.")

# %% hidden conv_out 2
for side in (1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 14, 16, 20, 27, 28, 31, 32, 45, 64, 99, 100):
    real = checks.expected("conv_out")(side)
    got = checks.call(min_size, {"side": side})
    checks.check_smallest_size(got, real, call=f"min_size({side})", layer="the stem", side=side)

# %% [markdown]
# ## Exercise 2 · Predict a thermal camera's shapes [predict, then run]
#
# A thermal camera gives grayscale images of **45 rows × 60 columns**. A batch of **6** of them arrives
# from its files as `imgs`, one 45 × 60 table of numbers per image, with no channel axis. The classifier,
# for **5** classes, does this:
#
# 1. it adds a channel axis of size one right after the batch axis, giving `x`;
# 2. a convolution with a square kernel of 5 pixels turns the 1 channel into 10, without padding,
#    moving one pixel at a time;
# 3. max-pooling over square windows of 2 pixels, with the stride a pooling layer has by default;
# 4. a convolution with a square kernel of 3 pixels turns the 10 channels into 20, moving two pixels
#    at a time, with one pixel of padding on every side;
# 5. max-pooling over square windows of 3 pixels, again with the default stride;
# 6. the feature maps of each image are flattened into one row;
# 7. a fully connected (`Linear`) layer, built for exactly the features that arrive, gives 5 scores
#    per image, `logits`.
#
# Without running anything (and without building the model to find out), predict each shape as a
# tuple of ints:
#
# | name | what |
# |---|---|
# | `shape_x` | `x`, after step 1 |
# | `shape_conv1` | after step 2 |
# | `shape_pool1` | after step 3 |
# | `shape_conv2` | after step 4 |
# | `shape_pool2` | after step 5 |
# | `shape_flat` | after step 6 |
# | `shape_weight` | the `weight` of the `Linear` layer of step 7 |
# | `shape_losses` | the cross-entropy of `logits` against the 6 class ids `y`, one loss per image (no reduction) |
# | `shape_mat2` | mat2 as the tuple (c, d), in the error of a wrong step 7 (below) |
#
# The wrong step 7: had the `Linear` layer been built for 20 × 5 × 7 input features (and 5 outputs), it
# would raise "mat1 and mat2 shapes cannot be multiplied (a×b and c×d)".
#
# Then run the check. It judges all nine at once; for each miss, write one sentence in `why` saying which
# step you misread (e.g. `why["shape_pool1"] = "..."`), correct the prediction, and run it again.

# %% answer predict_cnn
### BEGIN SOLUTION
shape_x = (6, 1, 45, 60)
shape_conv1 = (6, 10, 41, 56)
shape_pool1 = (6, 10, 20, 28)
shape_conv2 = (6, 20, 10, 14)
shape_pool2 = (6, 20, 3, 4)
shape_flat = (6, 240)
shape_weight = (5, 240)
shape_losses = (6,)
shape_mat2 = (700, 5)
why = {}
### END SOLUTION
### BEGIN BROKEN CODE
# shape_x = None
# shape_conv1 = None
# shape_pool1 = None
# shape_conv2 = None
# shape_pool2 = None
# shape_flat = None
# shape_weight = None
# shape_losses = None
# shape_mat2 = None
# why = {}
### END BROKEN CODE

# %% quick predict_cnn 2
# Quick check (2 points): every prediction, judged at once.
with checks.exercise("predict_cnn"):
    predictions = {"shape_x": shape_x, "shape_conv1": shape_conv1, "shape_pool1": shape_pool1,
                   "shape_conv2": shape_conv2, "shape_pool2": shape_pool2, "shape_flat": shape_flat,
                   "shape_weight": shape_weight, "shape_losses": shape_losses, "shape_mat2": shape_mat2}
    checks.check_predictions(predictions, checks.expected("predict_cnn")(), why)
    checks.passed("quick check: all 9 predictions are right. The full check at grading judges them again; "
                  "nothing about them is hidden.")

# %% hidden predict_cnn 2
# Full check (2 points): the same predictions, judged again at grading.
checks.check_predictions(predictions, checks.expected("predict_cnn")(), why)

# %% [markdown]
# ## Exercise 3 · A photo and a few numbers [direct application]
#
# `BirdNet(n_meta, n_classes)` names a bird from a colour photo `X` (N, 3, 24, 24) and `n_meta` numbers
# about where and when the photo was taken, `meta` (N, n_meta) (latitude, longitude, month, ...). The
# photo goes through three conv + pool blocks; its feature maps, flattened, are put side by side with
# the sample's `meta` by `torch.cat([a, b], dim=1)` (two tables with the same rows, their columns one
# after the other), and one `Linear` layer, `head`, reads that row. The cell below fails. Make
# `BirdNet(n_meta, n_classes)(X, meta)` return logits (N, n_classes) for **every** N, where row n
# depends on photo n and `meta[n]` alone, and `head` reads every value of the photo's feature maps and
# all `n_meta` numbers. Keep `self.features` exactly as given, and the name `head`.

# %% answer flatten_head
class BirdNet(nn.Module):
    """Photos X (N, 3, 24, 24) and meta (N, n_meta) -> logits (N, n_classes)."""

    def __init__(self, n_meta=5, n_classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
    ### BEGIN SOLUTION
        self.head = nn.Linear(32 * 3 * 3 + n_meta, n_classes)   # 32 maps of 3 x 3 per photo, then meta

    def forward(self, X, meta):
        flat = self.features(X).flatten(1)                      # (N, 288): one row per photo
        return self.head(torch.cat([flat, meta], dim=1))        # (N, 288 + n_meta) -> (N, n_classes)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    #     self.head = nn.Linear(32 * 6 * 6 + n_meta, n_classes)
    #
    # def forward(self, X, meta):
    #     flat = self.features(X).view(-1, 32 * 6 * 6)            # the photo's features, one row each
    #     return self.head(torch.cat([flat, meta], dim=1))        # photo features, then meta
    ### END BROKEN CODE


X, _ = checks.image_data(12, C=4, size=24, seed=0)         # (12, 3, 24, 24) photos
meta = torch.randn(12, 5)                                   # (12, 5) where and when
logits = BirdNet(5, 4)(X, meta)                             # should be (12, 4)
print(tuple(logits.shape))

# %% quick flatten_head 1
# Quick check (1 point): 12 photos give 12 rows of logits.
with checks.exercise("flatten_head"):
    torch.manual_seed(1)
    model = BirdNet(5, 4)
    X, meta = torch.randn(12, 3, 24, 24), torch.randn(12, 5)
    checks.check_model_output(model, (X, meta), (12, 4), what="BirdNet(5, 4)(X, meta)", arg="X, meta")
    given = nn.Sequential(                                  # the feature layers the exercise gives
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    checks.check_keeps_layers(model, given, what="BirdNet(5, 4)", paths=("features",))
    checks.passed("quick check: (12, 3, 24, 24) and (12, 5) -> (12, 4), feature layers as given. "
                  "Hidden checks try N = 1, odd N, other n_meta, and which inputs each row depends on.")

# %% hidden flatten_head 3
READS = "the head reads every value of one photo's feature maps and every one of its meta numbers, once"
checks.check_head_width(model, "head", 32 * 3 * 3 + 5, what="BirdNet(5, 4)",
                        arrives={"self.features(X)": given(X), "meta": meta}, rule=READS)
for N, n_meta, n_classes in ((1, 5, 4), (7, 3, 6), (9, 8, 2)):
    torch.manual_seed(N)
    model = BirdNet(n_meta, n_classes)
    inputs = (torch.randn(N, 3, 24, 24), torch.randn(N, n_meta))
    what = f"BirdNet({n_meta}, {n_classes})(X, meta) with N = {N}"
    checks.check_model_output(model, inputs, (N, n_classes), what=what, arg="X, meta")
    checks.check_keeps_layers(model, given, what=f"BirdNet({n_meta}, {n_classes})", paths=("features",))
    checks.check_head_width(model, "head", 32 * 3 * 3 + n_meta, what=f"BirdNet({n_meta}, {n_classes})",
                            arrives={"self.features(X)": given(inputs[0]), "meta": inputs[1]}, rule=READS)
model = BirdNet(3, 6)
checks.check_rows_follow_their_inputs(model, {"X": torch.randn(7, 3, 24, 24), "meta": torch.randn(7, 3)},
                                      what="BirdNet(3, 6)(X, meta)")

# %% [markdown]
# ## Exercise 4 · One number per feature map [silent bug]
#
# `GapCNN(n_classes)` is meant to take images of **any** size (from 8 × 8 up) with **one** model. After
# its two conv + pool blocks, which give 16 feature maps, it averages each feature map over all of its
# H × W positions. That leaves 16 numbers per image whatever the image size (this is called *global
# average pooling*), and its head, `nn.LazyLinear(n_classes)`, reads those 16 numbers. Below, the model
# runs on a batch of 20 × 20 images and gives logits of the right shape and a loss. Find out what its
# head really reads, and make the model do what this text says. Keep `features` and `head` as given.

# %% answer gap_head
class GapCNN(nn.Module):
    """Images (N, 3, H, W) of any size -> logits (N, n_classes)."""

    def __init__(self, n_classes=5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.LazyLinear(n_classes)

    def forward(self, X):
        feats = self.features(X)                            # (N, 16, H // 4, W // 4)
        ### BEGIN SOLUTION
        pooled = feats.mean(dim=(2, 3))                     # (N, 16): each map averaged over H and W
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # pooled = feats.mean(dim=1).flatten(1)               # global average pooling
        ### END BROKEN CODE
        return self.head(pooled)                            # (N, n_classes)


X, y = checks.image_data(8, C=5, size=20, seed=0)          # (8, 3, 20, 20), (8,)
model = GapCNN(5)
logits = model(X)                                           # (8, 5)
print(tuple(logits.shape), f"loss {F.cross_entropy(logits, y).item():.3f}")

# %% quick gap_head 1
# Quick check (1 point): one model, images of 20 x 20 and then 36 x 36.
with checks.exercise("gap_head"):
    torch.manual_seed(1)
    model = GapCNN(5)
    for size in (20, 36):
        X = torch.randn(6, 3, size, size)
        checks.check_model_output(model, X, (6, 5), what=f"GapCNN(5)(X) with X (6, 3, {size}, {size})")
    given = nn.Sequential(                                  # the feature layers the exercise gives
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    checks.check_keeps_layers(model, given, what="GapCNN(5)", paths=("features",))
    checks.check_head_width(model, "head", 16, what="GapCNN(5)", arrives={"self.features(X)": given(X)},
                            rule="the head reads one average per feature map")
    checks.check_global_average(model, torch.randn(6, 3, 20, 20), what="GapCNN(5)(X)")
    checks.passed("quick check: one model takes 20 x 20 and 36 x 36 images, and its head reads one average per "
                  "feature map. " + checks.HIDDEN_NOTE)

# %% hidden gap_head 3
torch.manual_seed(3)
model = GapCNN(7)                                       # one model for every size below; N, H, W never equal
for N, H, W in ((1, 8, 12), (9, 28, 44), (1, 33, 17), (5, 40, 24)):
    what = f"GapCNN(7)(X) with X ({N}, 3, {H}, {W})"
    checks.check_model_output(model, torch.randn(N, 3, H, W), (N, 7), what=what)
    checks.check_global_average(model, torch.randn(N, 3, H, W), what=what)
checks.check_keeps_layers(model, given, what="GapCNN(7)", paths=("features",))
X = torch.randn(5, 3, 40, 24)
checks.check_head_width(model, "head", 16, what="GapCNN(7)", arrives={"self.features(X)": given(X)},
                        rule="the head reads one average per feature map")
checks.check_batch_independence(model, torch.randn(11, 3, 24, 16))
X, y = checks.image_data(45, C=4, size=24, seed=3)         # (45, 3, 24, 24), (45,)
torch.manual_seed(2)
model = GapCNN(4)
checks.check_model_output(model, X[:2], (2, 4), what="GapCNN(4)(X)")   # sets the LazyLinear's size
checks.check_trains(model, X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 5 · Sound clips of any length [transfer]
#
# A sound clip becomes a *spectrogram*: a one-channel image (N, 1, n_mels, T) whose rows are `n_mels`
# frequency bands and whose columns are T time steps, so a longer clip is a wider image. A bird is
# known by the pitch of its call, the rows, whenever in the clip it sings. `ClipNet(n_classes, n_mels)`
# should be **one** model that classifies clips of **any** length T (from 8 time steps up) with `n_mels`
# frequency bands (from 6 up). Its author measured the head's width with a dummy pass on a clip of 101
# time steps, and the first shorter clip breaks it. Make one `ClipNet(n_classes, n_mels)` map
# (N, 1, n_mels, T) to logits (N, n_classes) for every T, with a head that reads, for each feature map
# and each frequency row left after `features`, the **average over all the time steps**: which band a
# sound was in is kept, when it happened is not. Keep `self.features` exactly as given, and the name
# `head`.

# %% answer any_size
class ClipNet(nn.Module):
    """Spectrograms (N, 1, n_mels, T) of any length T -> logits (N, n_classes)."""

    def __init__(self, n_classes=10, n_mels=40):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=3), nn.ReLU(), nn.MaxPool2d((2, 3)),    # pools 2 rows x 3 columns
            nn.Conv2d(6, 12, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
    ### BEGIN SOLUTION
        with torch.no_grad():                                   # the frequency rows left after features
            rows = self.features(torch.zeros(1, 1, n_mels, 8)).shape[2]
        self.head = nn.Linear(12 * rows, n_classes)

    def forward(self, X):
        feats = self.features(X)                                # (N, 12, rows, steps)
        return self.head(feats.mean(dim=3).flatten(1))          # each row averaged over time: (N, 12 * rows)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    #     with torch.no_grad():                                   # a dummy pass on a clip of 101 time steps
    #         n_flat = self.features(torch.zeros(1, 1, n_mels, 101)).flatten(1).shape[1]
    #     self.head = nn.Linear(n_flat, n_classes)
    #
    # def forward(self, X):
    #     return self.head(self.features(X).flatten(1))
    ### END BROKEN CODE


model = ClipNet(10, 40)
for T in (101, 50):                                         # a one-second clip, then a half-second one
    logits = model(torch.randn(4, 1, 40, T))                # should be (4, 10) both times
    print(T, tuple(logits.shape))

# %% quick any_size 1
# Quick check (1 point): one ClipNet(10, 40), clips of 101 and then 50 time steps.
with checks.exercise("any_size"):
    torch.manual_seed(1)
    model = ClipNet(10, 40)
    for T in (101, 50):
        X = torch.randn(4, 1, 40, T)
        checks.check_model_output(model, X, (4, 10), what=f"ClipNet(10, 40)(X) with X (4, 1, 40, {T})")
    given = nn.Sequential(                                  # the feature layers the exercise gives
        nn.Conv2d(1, 6, kernel_size=3), nn.ReLU(), nn.MaxPool2d((2, 3)),
        nn.Conv2d(6, 12, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    checks.check_keeps_layers(model, given, what="ClipNet(10, 40)", paths=("features",))
    checks.check_time_average(model, X, what="ClipNet(10, 40)(X)")
    checks.passed("quick check: one model takes clips of 101 and 50 time steps, and its head reads averages over "
                  "time. Hidden checks try other band counts, the shortest clips, N = 1, an odd N and a few "
                  "training steps.")

# %% hidden any_size 3
READS = "the head reads one number per feature map and frequency row: that row's average over time"
for n_mels, n_classes in ((6, 3), (13, 4), (64, 7)):       # the fewest bands, an odd count, many
    torch.manual_seed(n_mels)
    model = ClipNet(n_classes, n_mels)                      # one model for every length below
    for N, T in ((1, 8), (5, 9), (9, 31), (1, 100)):
        X = torch.randn(N, 1, n_mels, T)
        what = f"ClipNet({n_classes}, {n_mels})(X) with X {tuple(X.shape)}"
        checks.check_model_output(model, X, (N, n_classes), what=what)
        checks.check_time_average(model, X, what=what)
    checks.check_keeps_layers(model, given, what=f"ClipNet({n_classes}, {n_mels})", paths=("features",))
    feats = given(X)                                        # (N, 12, rows, steps)
    checks.check_head_width(model, "head", feats.shape[1] * feats.shape[2], what=f"ClipNet({n_classes}, {n_mels})",
                            arrives={"self.features(X)": feats}, rule=READS)
checks.check_batch_independence(model, torch.randn(11, 1, 64, 45))
X, y = checks.image_data(45, C=5, size=30, seed=4)         # (45, 3, 30, 30), (45,)
X = X[:, :1, :18]                                           # (45, 1, 18, 30): one channel, 18 bands
torch.manual_seed(2)
model = ClipNet(5, 18)
checks.check_model_output(model, X[:2], (2, 5), what="ClipNet(5, 18)(X)")   # sets a LazyLinear's size
checks.check_trains(model, X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 6 · A `Linear` layer across the channels [silent bug]
#
# Some networks (ConvNeXt, for one) mix the channels of every pixel with a `Linear` layer instead of a
# 1 × 1 convolution. `F.linear(v, weight)` computes `v @ weight.T` on the **last** dim of `v` and treats
# every other dim as more rows (the lesson's section 3), so the channels must be the last dim while it
# runs. `mix_channels(feats, weight)` gets feature maps `feats` (N, C, H, W) and a `weight` (C_out, C),
# and should return (N, C_out, H, W) where `out[n, :, i, j]` is `weight @ feats[n, :, i, j]`: the mix
# of the C channels of pixel (i, j) of image n. Gradients must flow back to `feats`, and `feats` must
# stay as it was. The version below returns the right shape.

# %% answer channels_last
def mix_channels(feats, weight):
    """feats (N, C, H, W), weight (C_out, C) -> (N, C_out, H, W): each pixel's channels mixed by weight."""
    N, C, H, W = feats.shape
    ### BEGIN SOLUTION
    x = feats.permute(0, 2, 3, 1)                           # (N, H, W, C): channels last
    x = F.linear(x, weight)                                 # (N, H, W, C_out)
    return x.permute(0, 3, 1, 2)                            # (N, C_out, H, W)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # x = feats.reshape(N, H, W, C)                           # channels last, for F.linear
    # x = F.linear(x, weight)                                 # (N, H, W, C_out)
    # return x.reshape(N, -1, H, W)                           # back to (N, C_out, H, W)
    ### END BROKEN CODE


feats = torch.randn(2, 4, 6, 6)                             # (N, C, H, W)
weight = torch.randn(8, 4)                                  # (C_out, C)
out = mix_channels(feats, weight)                           # (N, C_out, H, W)
print(tuple(out.shape))

# %% quick channels_last 1
# Quick check (1 point): N = 2, C = 4, H = 5, W = 7, C_out = 6.
with checks.exercise("channels_last"):
    gen = torch.Generator().manual_seed(0)
    feats, weight = torch.randn(2, 4, 5, 7, generator=gen), torch.randn(6, 4, generator=gen)
    before = feats.clone()
    out = checks.call(mix_channels, {"feats": feats, "weight": weight})
    checks.check_not_mutated("mix_channels(feats, weight)", {"feats": before}, {"feats": feats})
    checks.check_channel_mix(out, feats, checks.expected("channels_last")(feats, weight),
                             what="mix_channels(feats, weight)")
    checks.passed("quick check: every pixel of (2, 4, 5, 7) mixed right. Hidden checks try N = 1, odd N, other "
                  "sizes, and the gradient.")

# %% hidden channels_last 2
for N, C, Hh, Ww, C_out in ((1, 3, 4, 6, 5), (5, 6, 3, 2, 4), (7, 2, 6, 5, 3)):   # all different
    gen = torch.Generator().manual_seed(N)
    feats, weight = torch.rand(N, C, Hh, Ww, generator=gen), torch.randn(C_out, C, generator=gen)
    what = f"mix_channels(feats, weight) with feats {tuple(feats.shape)}, weight {tuple(weight.shape)}"
    before = feats.clone()
    feats.requires_grad_(True)
    out = checks.call(mix_channels, {"feats": feats, "weight": weight}, what=what)
    checks.check_not_mutated(what, {"feats": before}, {"feats": feats.detach()})
    checks.check_channel_mix(out, feats, checks.expected("channels_last")(feats.detach(), weight), what=what)
    reference = checks.expected("channels_last")
    checks.check_gradient_flows_back(out, feats, lambda f: reference(f, weight), what=what)
