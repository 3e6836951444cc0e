# %% [markdown]
# # 04 · Convolutions and pooling — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error
# (or the silent wrong result) that the lesson `course/04-convolutions-and-pooling-lesson.ipynb` explains.
# Fix the code **in place**, in the same cell, then run the check below it.
#
# * Shapes use the lesson's names: images `X` (N, C, H, W) with C = 3 colour channels, logits
#   (N, n_classes), class ids `y` (N,).
# * `shape_table(model, X)` prints every layer's input and output shape (and where a model fails):
#   use it whenever a size surprises you.
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the
#   full check also runs hidden checks: N = 1, an odd N, other image sizes, and a few training steps.
#   "Quick check passed" is not full marks. Stuck after a failed check? `tp.hint("<exercise>")` shows
#   the next hint of that exercise (its id is in the check's message).
# * Do not edit the check cells: they are restored from the instructor's copy at grading.

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
# ## Exercise 1 · The output-size formula
#
# `conv_out` should return the length of one spatial dim (H or W) after a `Conv2d` or `MaxPool2d`
# with the given kernel size, stride, padding and dilation, as a Python `int`, exactly as the real
# layers compute it (the lesson's section 2). Left out, stride, padding and dilation take Conv2d's
# defaults, as in the signature: 1, 0 and 1. The version below is a common half-remembered
# formula: it runs, and it is wrong.

# %% answer conv_out
def conv_out(size, kernel, stride=1, padding=0, dilation=1):
    """Length of one spatial dim after Conv2d/MaxPool2d(kernel, stride, padding, dilation): an int."""
    ### BEGIN SOLUTION
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return (size + 2 * padding - kernel) / stride + 1
    ### END BROKEN CODE


print(conv_out(32, 3, padding=1), conv_out(31, 2, stride=2), conv_out(32, 3, padding=2, dilation=2))

# %% quick conv_out 1
# Quick check (1 point): MaxPool2d(2) on 31 pixels.
with checks.exercise("conv_out"):
    real = nn.MaxPool2d(2)(torch.zeros(1, 1, 31, 31)).shape[-1]           # what the layer really gives
    got = checks.call(conv_out, {"size": 31, "kernel": 2, "stride": 2})
    checks.check_length(got, real, call="conv_out(31, kernel=2, stride=2)", layer="MaxPool2d(2)", size=31)
    checks.passed("quick check: MaxPool2d(2) on 31 pixels. Hidden checks try other layers and settings.")

# %% hidden conv_out 2
# (kernel, stride, padding, dilation): strides below, at and above the kernel size, dilated kernels
conv_settings = [(3, 1, 1, 1), (5, 1, 0, 1), (5, 2, 2, 1), (3, 2, 1, 1), (3, 1, 2, 2), (4, 3, 1, 1),
                 (3, 2, 0, 2), (7, 2, 3, 1), (1, 1, 0, 1), (3, 1, 0, 3), (2, 3, 0, 1), (5, 3, 2, 2)]
pool_settings = [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 1, 1), (2, 1, 0, 1), (3, 3, 0, 1), (2, 2, 0, 2),
                 (1, 2, 0, 1)]
layers = [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d) for k, s, p, d in conv_settings]
layers += [nn.MaxPool2d(k, stride=s, padding=p, dilation=d) for k, s, p, d in pool_settings]
tried = 0
for layer, (k, s, p, d) in zip(layers, conv_settings + pool_settings):
    for size in (1, 2, 5, 7, 8, 15, 28, 31, 32, 33):
        if size + 2 * p < d * (k - 1) + 1:
            continue                                            # the layer itself refuses this size
        with torch.no_grad():
            real = layer(torch.zeros(1, 1, size, size)).shape[-1]
        got = checks.call(conv_out, {"size": size, "kernel": k, "stride": s, "padding": p, "dilation": d})
        called = f"conv_out({size}, kernel={k}, stride={s}, padding={p}, dilation={d})"
        checks.check_length(got, real, call=called, layer=repr(layer), size=size)
        tried += 1
assert tried > 100
for size, k in ((9, 4), (13, 2), (6, 5)):                   # the defaults: stride 1, no padding or dilation
    real = nn.Conv2d(1, 1, k)(torch.zeros(1, 1, size, size)).shape[-1]
    got = checks.call(conv_out, {"size": size, "kernel": k})
    checks.check_length(got, real, call=f"conv_out({size}, kernel={k}) with the default stride, padding and "
                        "dilation", layer=f"Conv2d(1, 1, kernel_size={k})", size=size)

# %% [markdown]
# ## Exercise 2 · A view that changes the batch size
#
# `TinyCNN(n_classes)` classifies 3 × 32 × 32 images into `n_classes` classes (10 by default). Its
# author worked out the flattened size by hand and forgot one of the two pooling layers; the loss
# then complains about the batch size. Make `TinyCNN(n_classes)(X)` return logits of shape
# (N, n_classes) for **every** N, one row per image, and keep `self.features`, the feature layers,
# exactly as given: the fix belongs in the head and in `forward`. (Trimming `y` to the number of
# logits is not a fix: the lesson measured what it does.) Stuck? `print(shape_table(model, X))` and
# read the row of `head`.

# %% answer flatten_head
class TinyCNN(nn.Module):
    """Images (N, 3, 32, 32) -> logits (N, n_classes)."""

    ### BEGIN SOLUTION
    def __init__(self, n_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 8, 16, 16)
            nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 8, 8)
        )
        self.head = nn.Linear(16 * 8 * 8, n_classes)            # C * H * W of the (N, 16, 8, 8) features

    def forward(self, X):
        feats = self.features(X)                                # (N, 16, 8, 8)
        return self.head(feats.flatten(1))                      # (N, 1024) -> (N, n_classes)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # def __init__(self, n_classes=10):
    #     super().__init__()
    #     self.features = nn.Sequential(
    #         nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 8, 16, 16)
    #         nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 8, 8)
    #     )
    #     self.head = nn.Linear(16 * 16 * 16, n_classes)
    #
    # def forward(self, X):
    #     feats = self.features(X)                                # (N, 16, 8, 8)
    #     return self.head(feats.view(-1, 16 * 16 * 16))
    ### END BROKEN CODE


X, y = checks.image_data(64, seed=0)                        # (64, 3, 32, 32), (64,)
model = TinyCNN()
logits = model(X)                                           # should be (64, 10)
loss = F.cross_entropy(logits, y)                           # (N, n_classes) with (N,)
print(f"logits {tuple(logits.shape)}, loss {loss.item():.3f}")

# %% quick flatten_head 1
# Quick check (1 point): a batch of 64 images gives 64 rows of logits.
with checks.exercise("flatten_head"):
    torch.manual_seed(1)
    model = TinyCNN()
    checks.check_model_output(model, torch.randn(64, 3, 32, 32), (64, 10), what="TinyCNN()(X)")
    given = nn.Sequential(                                  # the feature layers the exercise gives
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    checks.check_keeps_layers(model, given, what="TinyCNN()", paths=("features",))
    checks.passed("quick check: (64, 3, 32, 32) -> (64, 10), feature layers as given. " + checks.HIDDEN_NOTE)

# %% hidden flatten_head 3
for N in (1, 7, 5):
    checks.check_model_output(TinyCNN(), torch.randn(N, 3, 32, 32), (N, 10),
                              what=f"TinyCNN()(X) with N = {N}")
checks.check_model_output(TinyCNN(6), torch.randn(9, 3, 32, 32), (9, 6), what="TinyCNN(6)(X) with N = 9")
checks.check_keeps_layers(TinyCNN(6), given, what="TinyCNN(6)", paths=("features",))
checks.check_batch_independence(TinyCNN(), torch.randn(7, 3, 32, 32))
X, y = checks.image_data(45, C=4, size=32, seed=3)        # (45, 3, 32, 32), (45,)
torch.manual_seed(2)
checks.check_trains(TinyCNN(4), X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 3 · One recipe for any image size
#
# `make_cnn(n_classes, image_size)` builds the lesson's CNN for square images of side `image_size`.
# It was written for 32 × 32 images, and a 28 × 28 data set breaks it. Make it build a model that
# maps images (N, 3, `image_size`, `image_size`) to logits (N, `n_classes`) and trains, for **any**
# `image_size` from 4 up, odd sizes included. Keep `features`, its two conv + pool blocks exactly
# as given, as the first part of the model: change what comes after it. Any fix that is right for
# every size counts; the lesson's three robust fixes never need the arithmetic.

# %% answer any_size
def make_cnn(n_classes, image_size):
    """The lesson's CNN for images (N, 3, image_size, image_size) -> logits (N, n_classes)."""
    features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    ### BEGIN SOLUTION
    with torch.no_grad():                                   # a dummy forward pass measures the width
        n_flat = features(torch.zeros(1, 3, image_size, image_size)).flatten(1).shape[1]
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # n_flat = 16 * 8 * 8                                     # (16, 8, 8) after two pools of 32 x 32
    ### END BROKEN CODE
    return nn.Sequential(features, nn.Flatten(), nn.Linear(n_flat, n_classes))


model = make_cnn(10, 28)
logits = model(torch.randn(4, 3, 28, 28))                   # should be (4, 10)
print(tuple(logits.shape))

# %% quick any_size 1
# Quick check (1 point): 28 x 28 and 64 x 64 images.
with checks.exercise("any_size"):
    torch.manual_seed(1)
    given = nn.Sequential(                                  # the two conv + pool blocks the exercise gives
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )
    for size in (28, 64):
        model = checks.call(make_cnn, {"n_classes": 10, "image_size": size}, what=f"make_cnn(10, {size})")
        checks.check_model_output(model, torch.randn(4, 3, size, size), (4, 10),
                                  what=f"make_cnn(10, {size})(X)")
        checks.check_keeps_layers(model, given, what=f"make_cnn(10, {size})", paths=("0",), unpacked=True)
    checks.passed("quick check: 28 x 28 and 64 x 64 give (N, 10). Hidden checks try odd sizes, N = 1, "
                  "an odd N and a few training steps.")

# %% hidden any_size 3
for size in (4, 5, 7, 9, 17, 30, 31, 33):
    for N in (1, 11):
        model = checks.call(make_cnn, {"n_classes": 6, "image_size": size}, what=f"make_cnn(6, {size})")
        checks.check_model_output(model, torch.randn(N, 3, size, size), (N, 6),
                                  what=f"make_cnn(6, {size})(X) with N = {N}")
    checks.check_keeps_layers(model, given, what=f"make_cnn(6, {size})", paths=("0",), unpacked=True)
model = checks.call(make_cnn, {"n_classes": 2, "image_size": 30}, what="make_cnn(2, 30)")
checks.check_model_output(model, torch.randn(5, 3, 30, 30), (5, 2), what="make_cnn(2, 30)(X)")
checks.check_batch_independence(model, torch.randn(7, 3, 30, 30))
X, y = checks.image_data(45, C=5, size=18, seed=4)        # (45, 3, 18, 18), (45,)
torch.manual_seed(2)
model = checks.call(make_cnn, {"n_classes": 5, "image_size": 18}, what="make_cnn(5, 18)")
checks.check_model_output(model, X[:2], (2, 5), what="make_cnn(5, 18)(X)")   # sets a LazyLinear's size
checks.check_trains(model, X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 4 · Images stored channels-last
#
# Images read from files come as (N, H, W, C): row, column, then the colour. `to_nchw` must return
# the same images in the layout `nn.Conv2d` reads, (N, C, H, W), with every pixel keeping its own
# three colours, and with gradients flowing back to `images`; the caller's `images` stay as they were.

# %% answer channels_last
def to_nchw(images):
    """images (N, H, W, 3) float -> the same images as (N, 3, H, W)."""
    ### BEGIN SOLUTION
    return images.permute(0, 3, 1, 2)                       # dims (N, H, W, C) taken in the order N, C, H, W
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return images
    ### END BROKEN CODE


images, _ = checks.image_data(2, size=32, channels_last=True)   # (2, 32, 32, 3) as image files store them
conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
feats = conv(to_nchw(images))                               # should be (2, 8, 32, 32)
print(tuple(feats.shape))

# %% quick channels_last 1
# Quick check (1 point): the shape, on images that are not square.
with checks.exercise("channels_last"):
    images = torch.rand(2, 5, 7, 3, generator=torch.Generator().manual_seed(0))   # (N, H, W, C)
    checks.check_model_output(to_nchw, images, (2, 3, 5, 7), what="to_nchw(images)", arg="images")
    checks.passed("quick check: (2, 5, 7, 3) -> (2, 3, 5, 7). Hidden checks compare every pixel and the "
                  "gradient, with N = 1, 5 and 7.")

# %% hidden channels_last 2
for N, Hh, Ww in ((1, 4, 6), (5, 7, 2), (7, 6, 4)):                # N, H, W and C = 3 all different
    gen = torch.Generator().manual_seed(N)
    images = torch.rand(N, Hh, Ww, 3, generator=gen)        # (N, H, W, C)
    what = f"to_nchw(images) with images {tuple(images.shape)}"
    checks.check_model_output(to_nchw, images, (N, 3, Hh, Ww), what=what, arg="images")
    images.requires_grad_(True)
    out = checks.call(to_nchw, {"images": images}, what=what)   # (N, 3, H, W)
    checks.check_same_pixels(out, images, checks.expected("channels_last")(images.detach()),
                             what="to_nchw(images)")
    checks.check_gradient_flows_back(out, images, checks.expected("channels_last"), what=what)

# %% [markdown]
# ## Exercise 5 · Predict the shapes
#
# Before running anything, predict the shape after each layer and write it as a tuple of ints.
# The broken answers are common guesses; at most a few are right. Check your tuples afterwards
# with `shape_table(net, X)`, not before.
#
# ```python
# N = 5
# X = torch.randn(N, 3, 32, 40)                           # (N, C, H, W): 32 rows, 40 columns
# net = nn.Sequential(
#     nn.Conv2d(3, 8, kernel_size=5),                     # shape_conv1
#     nn.MaxPool2d(2),                                    # shape_pool1
#     nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1),   # shape_conv2
#     nn.MaxPool2d(2),                                    # shape_pool2
#     nn.Flatten(),                                       # shape_flat
#     nn.LazyLinear(10),                                  # shape_logits
# )
# ```

# %% answer predict_shape
### BEGIN SOLUTION
shape_conv1 = (5, 8, 28, 36)
shape_pool1 = (5, 8, 14, 18)
shape_conv2 = (5, 16, 7, 9)
shape_pool2 = (5, 16, 3, 4)
shape_flat = (5, 192)
shape_logits = (5, 10)
### END SOLUTION
### BEGIN BROKEN CODE
# shape_conv1 = (5, 8, 32, 40)
# shape_pool1 = (5, 8, 16, 20)
# shape_conv2 = (5, 16, 8, 10)
# shape_pool2 = (5, 16, 4, 5)
# shape_flat = (5, 16, 20)
# shape_logits = (5, 10)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions, against the real layers.
with checks.exercise("predict_shape"):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, kernel_size=5), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1), nn.MaxPool2d(2),
                        nn.Flatten(), nn.LazyLinear(10))
    table = shape_table(net, torch.randn(5, 3, 32, 40))     # the real shape after each layer
    assert table.error is None, str(table)
    checks.check_layer_shape("shape_conv1", shape_conv1, table["0"].output,
                             layer="nn.Conv2d(3, 8, kernel_size=5)")
    checks.check_layer_shape("shape_pool1", shape_pool1, table["1"].output, layer="nn.MaxPool2d(2)")
    checks.passed("quick check: the first two shapes are right. The other four are checked at grading.")

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
checks.check_layer_shape("shape_conv2", shape_conv2, table["2"].output,
                         layer="nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1)")
checks.check_layer_shape("shape_pool2", shape_pool2, table["3"].output, layer="nn.MaxPool2d(2)")
checks.check_layer_shape("shape_flat", shape_flat, table["4"].output, layer="nn.Flatten()")
checks.check_layer_shape("shape_logits", shape_logits, table["5"].output, layer="nn.LazyLinear(10)")
