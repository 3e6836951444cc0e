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
#   "Quick check passed" is not full marks.
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
# layers compute it (the lesson's section 2). The version below is a common half-remembered
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
    assert type(got) is int and got == real, (
        f"conv_out(31, kernel=2, stride=2) returned {got!r}; MaxPool2d(2) turns 31 pixels into {real} "
        "(a whole number of pixels: the formula rounds down)")
    checks.passed("quick check: MaxPool2d(2) on 31 pixels. Hidden checks try other layers and settings.")

# %% hidden conv_out 2
conv_settings = [(3, 1, 1, 1), (5, 1, 0, 1), (5, 2, 2, 1), (3, 2, 1, 1), (3, 1, 2, 2), (4, 3, 1, 1),
                 (3, 2, 0, 2), (7, 2, 3, 1), (1, 1, 0, 1), (3, 1, 0, 3)]
pool_settings = [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 1, 1), (2, 1, 0, 1), (3, 3, 0, 1), (2, 2, 0, 2)]
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
        assert type(got) is int and got == real, (
            f"conv_out({size}, kernel={k}, stride={s}, padding={p}, dilation={d}) returned {got!r}, "
            f"but {type(layer).__name__} gives {real}")
        tried += 1
assert tried > 100

# %% [markdown]
# ## Exercise 2 · A view that changes the batch size
#
# `TinyCNN` classifies 3 × 32 × 32 images into 10 classes. Its author worked out the flattened size
# by hand and forgot one of the two pooling layers; the loss then complains about the batch size.
# Make `TinyCNN()(X)` return logits of shape (N, 10) for **every** N, one row per image.
# Keep the feature layers as they are. (Trimming `y` to the number of logits is not a fix: the
# lesson measured what it does.) Stuck? `print(shape_table(model, X))` and read the row of `head`.

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
    checks.check_model_output(TinyCNN(), torch.randn(64, 3, 32, 32), (64, 10), what="TinyCNN()(X)")
    checks.passed("quick check: (64, 3, 32, 32) -> (64, 10). " + checks.HIDDEN_NOTE)

# %% hidden flatten_head 3
for N in (1, 7, 10):
    checks.check_model_output(TinyCNN(), torch.randn(N, 3, 32, 32), (N, 10), what=f"TinyCNN()(X) with N = {N}")
checks.check_model_output(TinyCNN(4), torch.randn(3, 3, 32, 32), (3, 4), what="TinyCNN(4)(X) with N = 3")
checks.check_batch_independence(TinyCNN(), torch.randn(7, 3, 32, 32))
X, y = checks.image_data(32, C=4, size=32, seed=3)        # (32, 3, 32, 32), (32,)
torch.manual_seed(2)
checks.check_trains(TinyCNN(4), X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 3 · One recipe for any image size
#
# `make_cnn(n_classes, image_size)` builds the lesson's CNN for square images of side `image_size`.
# It was written for 32 × 32 images, and a 28 × 28 data set breaks it. Make it build a working
# model for **any** `image_size` from 4 up, odd sizes included, using one of the lesson's three
# robust fixes (no arithmetic by hand). Keep the two conv + pool blocks.

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
    for size in (28, 64):
        model = checks.call(make_cnn, {"n_classes": 10, "image_size": size}, what=f"make_cnn(10, {size})")
        checks.check_model_output(model, torch.randn(4, 3, size, size), (4, 10), what=f"make_cnn(10, {size})(X)")
    checks.passed("quick check: 28 x 28 and 64 x 64 give (N, 10). Hidden checks try odd sizes, N = 1, "
                  "an odd N and a few training steps.")

# %% hidden any_size 3
for size in (4, 9, 17, 30, 31, 32):
    for N in (1, 7):
        model = checks.call(make_cnn, {"n_classes": 5, "image_size": size}, what=f"make_cnn(5, {size})")
        checks.check_model_output(model, torch.randn(N, 3, size, size), (N, 5),
                                  what=f"make_cnn(5, {size})(X) with N = {N}")
model = checks.call(make_cnn, {"n_classes": 3, "image_size": 30}, what="make_cnn(3, 30)")
checks.check_model_output(model, torch.randn(2, 3, 30, 30), (2, 3), what="make_cnn(3, 30)(X)")
checks.check_batch_independence(model, torch.randn(7, 3, 30, 30))
X, y = checks.image_data(32, C=5, size=18, seed=4)        # (32, 3, 18, 18), (32,)
torch.manual_seed(2)
model = checks.call(make_cnn, {"n_classes": 5, "image_size": 18}, what="make_cnn(5, 18)")
checks.check_model_output(model, X[:2], (2, 5), what="make_cnn(5, 18)(X)")   # sets a LazyLinear's size
checks.check_trains(model, X, y, F.cross_entropy, steps=20, lr=0.01, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 4 · Images stored channels-last
#
# Images read from files come as (N, H, W, C): row, column, then the colour. `to_nchw` must return
# the same images in the layout `nn.Conv2d` reads, (N, C, H, W), with every pixel keeping its own
# three colours.

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
    images = torch.rand(2, 5, 7, 3)                         # (N, H, W, C)
    checks.check_model_output(to_nchw, images, (2, 3, 5, 7), what="to_nchw(images)")
    checks.passed("quick check: (2, 5, 7, 3) -> (2, 3, 5, 7). Hidden checks compare every pixel, N = 1 and N = 3.")

# %% hidden channels_last 2
for N, Hh, Ww in ((1, 4, 6), (3, 5, 5), (2, 3, 8)):
    checks.check_model_output(to_nchw, torch.rand(N, Hh, Ww, 3), (N, 3, Hh, Ww), what=f"to_nchw with N = {N}")
    images = torch.rand(N, Hh, Ww, 3, requires_grad=True)   # (N, H, W, C)
    out = checks.call(to_nchw, {"images": images}, what=f"to_nchw with N = {N}")   # (N, 3, H, W)
    for n in range(N):
        for i in range(Hh):
            for j in range(Ww):
                assert torch.equal(out[n, :, i, j].detach(), images[n, i, j, :].detach()), (
                    f"pixel (row {i}, column {j}) of image {n} should keep its colours "
                    f"{images[n, i, j, :].tolist()}, but to_nchw(images)[{n}, :, {i}, {j}] is "
                    f"{out[n, :, i, j].tolist()}: view/reshape scramble pixels, permute moves whole dims")
    weights = torch.randn(N, 3, Hh, Ww)                 # a gradient that differs at every position
    (out * weights).sum().backward()
    assert images.grad is not None and torch.equal(images.grad, weights.permute(0, 2, 3, 1)), (
        "the gradient does not flow back to the right pixels of the images")
images, _ = checks.image_data(3, size=9, channels_last=True)   # (3, 9, 9, 3)
checks.check_model_output(lambda X: nn.Conv2d(3, 4, kernel_size=3)(to_nchw(X)), images, (3, 4, 7, 7),
                          what="Conv2d(3, 4, 3)(to_nchw(images))")

# %% [markdown]
# ## Exercise 5 · Predict the shapes
#
# Before running anything, predict the shape after each layer and write it as a tuple of ints.
# The broken answers are common guesses; at most a few are right. Check your tuples afterwards
# with `shape_table(net, X)`, not before.
#
# ```python
# N = 2
# X = torch.randn(N, 3, 32, 32)                           # (N, C, H, W)
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
shape_conv1 = (2, 8, 28, 28)
shape_pool1 = (2, 8, 14, 14)
shape_conv2 = (2, 16, 7, 7)
shape_pool2 = (2, 16, 3, 3)
shape_flat = (2, 144)
shape_logits = (2, 10)
### END SOLUTION
### BEGIN BROKEN CODE
# shape_conv1 = (2, 8, 32, 32)
# shape_pool1 = (2, 8, 16, 16)
# shape_conv2 = (2, 16, 8, 8)
# shape_pool2 = (2, 16, 4, 4)
# shape_flat = (2, 16, 16)
# shape_logits = (2, 10)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions, against the real layers.
with checks.exercise("predict_shape"):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, kernel_size=5), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1), nn.MaxPool2d(2),
                        nn.Flatten(), nn.LazyLinear(10))
    table = shape_table(net, torch.randn(2, 3, 32, 32))     # the real shape after each layer
    assert table.error is None, str(table)
    checks.check_shape("shape_conv1", shape_conv1, table["0"].output)
    checks.check_shape("shape_pool1", shape_pool1, table["1"].output)
    checks.passed("quick check: the first two shapes are right. The other four are checked at grading.")

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
checks.check_shape("shape_conv2", shape_conv2, table["2"].output)
checks.check_shape("shape_pool2", shape_pool2, table["3"].output)
checks.check_shape("shape_flat", shape_flat, table["4"].output)
checks.check_shape("shape_logits", shape_logits, table["5"].output)
