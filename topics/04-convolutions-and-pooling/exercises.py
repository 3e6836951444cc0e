# %% [markdown]
# # 04 · Convolutions and pooling — exercises
#
# Each exercise below holds **code that runs**: run its cell and you meet a real error or a wrong
# result that raises nothing. None of them is a copy of a lesson example
# (`course/04-convolutions-and-pooling-lesson.ipynb`): the layers, the image sizes or the model are
# other ones, so work out what the shapes are before you change anything. Fix the code **in place**,
# in the same cell, then run the check below it. Each heading ends with the kind of exercise:
#
# * `[transfer]`: the error is a real one, but the lesson's line is not the fix: derive it.
# * `[silent bug]`: nothing raises. Run the cell, read what it printed, and find what is wrong.
# * `[predict, then run]`: write down what code you cannot run will give, then let the check judge.
#
# Shapes use the lesson's names: images `X` (N, C, H, W), logits (N, n_classes), class ids `y` (N,).
# `shape_table(model, X)` prints every layer's input and output shape (and where a model fails): use it
# whenever a size surprises you. Each exercise has a **quick check** you can run now, and a **full
# check**. At grading time the full check also runs hidden checks: N = 1, an odd N, other sizes, and a
# few training steps. "Quick check passed" is not full marks. Stuck after a failed check?
# `tp.hint("<exercise>")` shows the next hint of that exercise (its id is in the check's message).
# Do not edit the check cells: they are restored from the instructor's copy at grading.

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
# ## Exercise 1 · How small does the stem make the image? [silent bug]
#
# Large image classifiers shrink the picture fast, before their main layers, with a *stem*. This stem
# is three layers, in this order:
#
# 1. a 7 × 7 convolution with stride 2 and padding 3;
# 2. a 3 × 3 max-pool with stride 2 and padding 1;
# 3. a 3 × 3 convolution with stride 2 and no padding.
#
# `stem_side(size)` should return the side length of the feature maps after all three layers, for
# square images of `size` × `size` pixels (any size from 9 up), as a Python `int`: the next layers
# are built from it, so it must be what the real layers give. Below, it is printed for 224 × 224
# and 64 × 64 images. Do not trust it before you have checked it.

# %% answer conv_out
def stem_side(size):
    """Side length after the stem (7x7 conv stride 2 pad 3, 3x3 max-pool stride 2 pad 1, 3x3 conv stride 2)."""
    ### BEGIN SOLUTION
    def out(n, kernel, stride, padding):                    # one layer: whole windows only, rounded down
        return (n + 2 * padding - kernel) // stride + 1

    return out(out(out(size, 7, 2, 3), 3, 2, 1), 3, 2, 0)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return size // 8                                        # three layers of stride 2
    ### END BROKEN CODE


print(stem_side(224), stem_side(64))

# %% quick conv_out 1
# Quick check (1 point): 224 x 224 images.
with checks.exercise("conv_out"):
    real = checks.expected("conv_out")(224)                 # the side the real stem gives
    got = checks.call(stem_side, {"size": 224})
    checks.check_length(got, real, call="stem_side(224)", layer="the stem", size=224)
    checks.passed("quick check: 224 x 224 images. Hidden checks try many other sizes, odd ones included.")

# %% hidden conv_out 2
for size in (9, 10, 11, 12, 13, 15, 16, 17, 19, 23, 24, 25, 28, 31, 32, 33, 37, 45, 48, 63, 64, 65, 95, 100,
             127, 128, 129, 150, 223, 225, 227, 255, 256, 299, 320, 511):
    real = checks.expected("conv_out")(size)
    got = checks.call(stem_side, {"size": size})
    checks.check_length(got, real, call=f"stem_side({size})", layer="the stem", size=size)

# %% [markdown]
# ## Exercise 2 · Predict a thermal camera's shapes [predict, then run]
#
# A thermal camera gives grayscale images of **45 rows × 60 columns**. A batch of **6** of them arrives
# from its files as `imgs` of shape (6, 45, 60). The classifier, for **5** classes, does this:
#
# 1. `x = imgs[:, None]` adds the channel axis;
# 2. a 5 × 5 convolution from 1 to 10 channels, no padding, stride 1;
# 3. a 2 × 2 max-pool (`nn.MaxPool2d(2)`);
# 4. a 3 × 3 convolution from 10 to 20 channels, stride 2, padding 1;
# 5. a 3 × 3 max-pool (`nn.MaxPool2d(3)`, so stride 3);
# 6. `nn.Flatten()`;
# 7. an `nn.Linear` to 5 classes, built with the right `in_features`, giving `logits`.
#
# Without running anything, predict each shape as a tuple of ints:
#
# | name | what |
# |---|---|
# | `shape_x` | `x`, after step 1 |
# | `shape_conv1` | after step 2 |
# | `shape_pool1` | after step 3 |
# | `shape_conv2` | after step 4 |
# | `shape_pool2` | after step 5 |
# | `shape_flat` | after step 6 |
# | `shape_weight` | the `weight` of the `Linear` of step 7 |
# | `shape_losses` | `F.cross_entropy(logits, y, reduction="none")`, with `y` the (6,) class ids |
# | `shape_mat2` | mat2 as the tuple (c, d), in the error of a wrong step 7 (below) |
#
# The wrong step 7: had the `Linear` been built as `nn.Linear(20 * 5 * 7, 5)`, it would raise
# "mat1 and mat2 shapes cannot be multiplied (a×b and c×d)".
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
# ## Exercise 3 · A photo and a few numbers [transfer]
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
checks.check_head_width(model, "head", 32 * 3 * 3 + 5, what="BirdNet(5, 4)",
                        reads="the photo's 32 feature maps of 3 x 3 and its 5 meta numbers")
for N, n_meta, n_classes in ((1, 5, 4), (7, 3, 6), (9, 8, 2)):
    torch.manual_seed(N)
    model = BirdNet(n_meta, n_classes)
    inputs = (torch.randn(N, 3, 24, 24), torch.randn(N, n_meta))
    what = f"BirdNet({n_meta}, {n_classes})(X, meta) with N = {N}"
    checks.check_model_output(model, inputs, (N, n_classes), what=what, arg="X, meta")
    checks.check_keeps_layers(model, given, what=f"BirdNet({n_meta}, {n_classes})", paths=("features",))
    checks.check_head_width(model, "head", 32 * 3 * 3 + n_meta, what=f"BirdNet({n_meta}, {n_classes})",
                            reads=f"the photo's 32 feature maps of 3 x 3 and its {n_meta} meta numbers")
model = BirdNet(3, 6)
checks.check_rows_follow_their_inputs(model, {"X": torch.randn(7, 3, 24, 24), "meta": torch.randn(7, 3)},
                                      what="BirdNet(3, 6)(X, meta)")

# %% [markdown]
# ## Exercise 4 · Sound clips of any length [transfer]
#
# A sound clip becomes a *spectrogram*: a one-channel image (N, 1, height, width) whose rows are
# frequency bands and whose columns are time steps, so a longer clip is a wider image.
# `make_cnn(n_classes, height, width)` builds a classifier for spectrograms of one given height and
# width. Its author worked out the head's width by hand, and the first real data set breaks it. Make it
# build a model that maps (N, 1, `height`, `width`) to logits (N, `n_classes`) and trains, for **any**
# height from 6 up and any width from 8 up. Keep `features` exactly as given, as the first part of the
# model: change what comes after it.

# %% answer any_size
def make_cnn(n_classes, height, width):
    """A classifier for spectrograms (N, 1, height, width) -> logits (N, n_classes)."""
    features = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=3), nn.ReLU(), nn.MaxPool2d((2, 3)),    # pools 2 rows x 3 columns
        nn.Conv2d(6, 12, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    ### BEGIN SOLUTION
    with torch.no_grad():                                   # a dummy forward pass measures the width
        n_flat = features(torch.zeros(1, 1, height, width)).flatten(1).shape[1]
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # n_flat = 12 * (height // 4) * (width // 6)              # two pools: rows / (2 * 2), columns / (3 * 2)
    ### END BROKEN CODE
    return nn.Sequential(features, nn.Flatten(), nn.Linear(n_flat, n_classes))


model = make_cnn(10, 40, 101)
logits = model(torch.randn(4, 1, 40, 101))                  # should be (4, 10)
print(tuple(logits.shape))

# %% quick any_size 1
# Quick check (1 point): 40 x 101 and 64 x 50 spectrograms.
with checks.exercise("any_size"):
    torch.manual_seed(1)
    given = nn.Sequential(                                  # the layers the exercise gives
        nn.Conv2d(1, 6, kernel_size=3), nn.ReLU(), nn.MaxPool2d((2, 3)),
        nn.Conv2d(6, 12, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    for height, width in ((40, 101), (64, 50)):
        made = f"make_cnn(10, {height}, {width})"
        model = checks.call(make_cnn, {"n_classes": 10, "height": height, "width": width}, what=made)
        checks.check_model_output(model, torch.randn(4, 1, height, width), (4, 10), what=f"{made}(X)")
        checks.check_keeps_layers(model, given, what=made, paths=("0",), unpacked=True)
    checks.passed("quick check: 40 x 101 and 64 x 50 give (N, 10). Hidden checks try other sizes, the smallest "
                  "ones, N = 1, an odd N and a few training steps.")

# %% hidden any_size 3
for height, width in ((6, 8), (7, 9), (6, 31), (13, 8), (33, 17), (21, 100), (9, 14)):   # the smallest, odd
    made = f"make_cnn(4, {height}, {width})"
    for N in (1, 11):
        model = checks.call(make_cnn, {"n_classes": 4, "height": height, "width": width}, what=made)
        checks.check_model_output(model, torch.randn(N, 1, height, width), (N, 4), what=f"{made}(X) with N = {N}")
    checks.check_keeps_layers(model, given, what=made, paths=("0",), unpacked=True)
model = checks.call(make_cnn, {"n_classes": 2, "height": 30, "width": 45}, what="make_cnn(2, 30, 45)")
checks.check_model_output(model, torch.randn(5, 1, 30, 45), (5, 2), what="make_cnn(2, 30, 45)(X)")
checks.check_batch_independence(model, torch.randn(7, 1, 30, 45))
X, y = checks.image_data(45, C=5, size=30, seed=4)         # (45, 3, 30, 30), (45,)
X = X[:, :1, :18]                                           # (45, 1, 18, 30): one channel, 18 rows
torch.manual_seed(2)
model = checks.call(make_cnn, {"n_classes": 5, "height": 18, "width": 30}, what="make_cnn(5, 18, 30)")
checks.check_model_output(model, X[:2], (2, 5), what="make_cnn(5, 18, 30)(X)")   # sets a LazyLinear's size
checks.check_trains(model, X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 5 · One number per feature map [silent bug]
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
        checks.check_model_output(model, torch.randn(6, 3, size, size), (6, 5),
                                  what=f"GapCNN(5)(X) with X (6, 3, {size}, {size})")
    given = nn.Sequential(                                  # the feature layers the exercise gives
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    checks.check_keeps_layers(model, given, what="GapCNN(5)", paths=("features",))
    checks.check_head_width(model, "head", 16, what="GapCNN(5)", reads="the 16 averages, one per feature map,")
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
checks.check_head_width(model, "head", 16, what="GapCNN(7)", reads="the 16 averages, one per feature map,")
checks.check_batch_independence(model, torch.randn(11, 3, 24, 16))
X, y = checks.image_data(45, C=4, size=24, seed=3)         # (45, 3, 24, 24), (45,)
torch.manual_seed(2)
model = GapCNN(4)
checks.check_model_output(model, X[:2], (2, 4), what="GapCNN(4)(X)")   # sets the LazyLinear's size
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
