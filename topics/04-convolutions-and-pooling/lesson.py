# %% [markdown]
# # 04 · Convolutions and pooling: images (N, C, H, W) in, logits (N, classes) out
#
# *Time for a novice: about 55 minutes.*
#
# A CNN keeps the batch dim N first through every convolution and pooling layer; only the channels C and the
# spatial size H × W change. Then the feature maps are flattened, one row per image, and a `Linear` layer has to be
# told how many features arrive. In this lesson you will learn
#
# * why a classifier's scores have their classes in dim 1: the channels-first layout `(N, C, H, W)`;
# * how each conv and pool changes `(N, C, H, W)`, the output-size formula (checked against real layers), and how to
#   print a per-layer shape table of any model;
# * what "mat1 and mat2 shapes cannot be multiplied (a×b and c×d)" tells you, why a network built for 32×32 images
#   breaks on 28×28 and 64×64 ones, and three fixes that work for any size;
# * what goes wrong with channels-last images `(N, H, W, C)`: the error, the right fix (`permute`) and the silent
#   wrong one (`view`/`reshape`);
# * how a `view` or a hard-coded batch size changes the number of rows, and why trimming the targets to match is
#   wrong (measured against chance and against a model that ignores the images).
#
# Names: for images, `C` in `(N, C, H, W)` counts **channels** (3 colours, then feature maps), as in the PyTorch
# docs. The number of classes is `n_classes = 10`. The exercises are in `exercises/04-convolutions-and-pooling/`.
# Dilation, `ceil_mode` and the details of `LazyLinear` are left to a final "Going further" section.

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

import targetpractice as tp
from targetpractice import checks
from targetpractice.diagnosis import shape_table

torch.set_num_threads(1)  # tiny tensors: one thread is fastest and never fights for the CPU

# %% [markdown]
# ## The contract on one card, and why the classes are dim 1
#
# A CNN classifier ends the way the classifiers of lesson 01 do: one row of scores per image, and one class id per
# image. So the loss and its contract are those of lesson 01 ("The contract on one card"): for `CrossEntropyLoss`, the
# class-id target has the input's shape *without the class axis, dim 1*. Here, for a batch of N = 4 images and ten
# classes:

# %%
fig = tp.show_contract('CrossEntropyLoss', (4, 10), axes='N classes')
plt.show()

# %% [markdown]
# Why is the class axis dim 1? Because PyTorch lays images out **channels first**: a batch of images is
# `(N, C, H, W)`, and dim 1 holds the channels, the 3 colours of the input and then the feature maps of every
# convolution. A classifier's scores are one more set of channels, one channel per class, so the losses read the
# classes from dim 1 whatever comes after it. In this lesson the image axes are gone by the time the scores come out,
# so the scores are `(N, classes)`. Lesson 05 keeps a time axis and meets the same rule as `(N, V, T)`: the
# vocabulary V is the class axis, in dim 1, and the time steps T come after it.
#
# ## 1. A small CNN for 3×32×32 images, layer by layer
#
# A batch of N = 4 colour images of 32 × 32 pixels, and ten classes. The network has two blocks of
# convolution → ReLU → 2×2 max-pooling, then `Flatten` and one `Linear` layer.

# %%
torch.manual_seed(0)
N, n_classes = 4, 10
X = torch.randn(N, 3, 32, 32)                    # (N, C, H, W): 3 colour channels, 32 x 32 pixels
y = torch.randint(0, n_classes, (N,))            # (N,) class ids


def make_features():
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 8, 16, 16)
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 8, 8)
    )


torch.manual_seed(0)
net = nn.Sequential(make_features(), nn.Flatten(), nn.Linear(16 * 8 * 8, n_classes))
logits = net(X)                                  # (N, n_classes)
print('X', tuple(X.shape), '| logits', tuple(logits.shape), '| y', tuple(y.shape))

# %% [markdown]
# `shape_table(model, x)` (from the course library) runs one forward pass and lists every layer with the shape that
# goes in and the shape that comes out, like a model summary. Layer names are those of `net.named_modules()`:
# `0.3` is layer 3 of the `Sequential` at position 0.

# %%
print(shape_table(net, X))

# %% [markdown]
# Read it column by column:
#
# * **N = 4 never changes.** Every layer works on each image separately.
# * A `Conv2d` sets the channels to its `out_channels` (3 → 8, 8 → 16). With `kernel_size=3, padding=1` it keeps
#   H × W: one pixel of padding on each side makes up for the two border pixels a 3 × 3 kernel loses.
# * `ReLU` changes nothing but the values.
# * `MaxPool2d(2)` halves H and W (32 → 16 → 8): it keeps the largest of each 2 × 2 block.
# * `Flatten()` keeps dim 0 and multiplies the rest into one: 16 · 8 · 8 = 1024 features per image.
# * `Linear(1024, 10)` maps the 1024 features of each row to 10 logits. The logits are `(N, 10)`, the targets `(N,)`,
#   as the contract card says: the loss needs nothing else.
#
# Drawn with the batch running down the page: the 4 images stay 4 rows from the feature maps to the logits, and row n
# of the logits belongs to entry n of `y`.

# %%
feats = net[0](X)                                # (N, 16, 8, 8)
flat = feats.flatten(1)                          # (N, 1024)
fig = tp.show_shapes({'feats': feats, 'flat': flat, 'logits': logits, 'y': y},
                     axes={'feats': 'N C H W', 'flat': 'N F', 'logits': 'N classes', 'y': 'N'})
plt.show()

# %% [markdown]
# One habit before any training: a classifier that knows nothing spreads its probability evenly over the classes, so
# its cross-entropy starts near log 10. `tp.loss_at_init` measures it and says whether it is near; a value far from it
# means large initial scores, or targets that do not mean what the loss reads.

# %%
start = tp.loss_at_init(net, X, y, nn.CrossEntropyLoss())

# %% [markdown]
# ## 2. The output-size formula
#
# For `Conv2d`, `MaxPool2d` and `AvgPool2d`, each spatial dim (H and W separately) becomes
#
# $$\text{out} = \left\lfloor \frac{\text{in} + 2p - k}{s} \right\rfloor + 1$$
#
# with kernel size k, stride s and padding p: the kernel fits in `in + 2p` pixels at `in + 2p - k + 1` start
# positions, and a stride s keeps every s-th of them. A conv has stride 1 by default; a pool has **stride = kernel
# size** by default, which is why `MaxPool2d(2)` halves. The floor matters: only whole windows count, so an odd size
# loses its last row and column. Below, the formula is checked against the real layers.

# %%
def conv_out(size, kernel, stride=1, padding=0):
    """The output length along one spatial dim of a Conv2d, MaxPool2d or AvgPool2d (no dilation)."""
    return (size + 2 * padding - kernel) // stride + 1


def settings(layer):
    """(kernel, stride, padding) of a Conv2d or a pooling layer, as ints (square kernels)."""
    first = lambda v: v[0] if isinstance(v, tuple) else v   # noqa: E731
    return tuple(first(getattr(layer, name)) for name in ('kernel_size', 'stride', 'padding'))


cases = [
    (nn.Conv2d(3, 8, kernel_size=3, padding=1), 32),
    (nn.MaxPool2d(2), 32),
    (nn.Conv2d(3, 8, kernel_size=5), 28),
    (nn.Conv2d(3, 8, kernel_size=5, stride=2, padding=2), 32),
    (nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1), 15),
    (nn.MaxPool2d(2), 31),
    (nn.AvgPool2d(4), 30),
]
print(f"{'layer':<34} {'in':>3} {'formula':>7} {'real':>4}")
for layer, size in cases:
    k, s, p = settings(layer)
    real = layer(torch.zeros(1, 3, size, size)).shape[-1]   # run the real layer on one blank image
    name = f'{type(layer).__name__}(k={k}, s={s}, p={p})'   # kernel, stride, padding
    print(f'{name:<34} {size:>3} {conv_out(size, k, s, p):>7} {real:>4}')

# %% [markdown]
# Every row agrees. Two more facts worth knowing: a 3 × 3 conv needs `padding=1` (in general `(k - 1) // 2` for odd k)
# to keep the size, and `AdaptiveAvgPool2d((h, w))` ignores the formula and always returns h × w (section 4 uses it).
#
# ### 2.1 Where does the size go? A shape table finds it
#
# Every pool halves the image, so a deep network runs out of pixels on small images. Here are four conv + pool blocks
# on 12 × 12 images. The shape table stops at the layer that fails and shows how the size shrank on the way.

# %%
def block(channels):
    return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=3, padding=1), nn.MaxPool2d(2))


deep = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, padding=1), block(8), block(8), block(8), block(8))
print(shape_table(deep, torch.randn(2, 3, 12, 12)))

# %% [markdown]
# 12 → 6 → 3 → 1 (floor of 3/2) → 0: the fourth pool has nothing left to pool. Fewer pools or larger images fix it
# (so does `ceil_mode=True`, in "Going further"); the table tells you which layer to look at.
#
# ## 3. The flattened size, and what "mat1 and mat2 shapes cannot be multiplied" says
#
# The `Linear` after `Flatten` needs `in_features` = C · H · W of the last feature map. It is easy to get wrong by
# hand. Here someone counted only one pooling layer, 16 · 16 · 16:

# %% tags=["error-demo"]
torch.manual_seed(0)
net_bad = nn.Sequential(make_features(), nn.Flatten(), nn.Linear(16 * 16 * 16, n_classes))
with tp.show_error():
    net_bad(X)

# %% [markdown]
# `Linear` computes `input @ weight.T`, two matrices:
#
# * **mat1** is the input, `(rows × features)`: **4** rows (here the batch, one row per image) of **1024** features
#   (16 · 8 · 8, what really arrives);
# * **mat2** is the weight **transposed**, `weight.T`, of shape `(in_features × out_features)`: **4096 × 10**, what
#   the layer was built for. The layer stores `weight` the other way round, `(out_features, in_features)`:
#
# The inner numbers, 1024 and 4096, must be equal. The second number of mat1 is the value `in_features` needs.

# %%
head = net_bad[2]                                # Linear(4096, 10)
print('weight', tuple(head.weight.shape), '| weight.T = mat2', tuple(head.weight.T.shape))

# %%
torch.manual_seed(0)
net_fixed = nn.Sequential(make_features(), nn.Flatten(), nn.Linear(1024, n_classes))
print('logits', tuple(net_fixed(X).shape))

# %% [markdown]
# Careful: the first number is the batch only when the input of `Linear` is 2-d. `Linear` works on the **last** dim and
# treats every other dim as more rows. Without the `Flatten`, a `Linear` whose `in_features` happens to equal W runs
# without any error and gives a 4-d result: a silent bug, which the loss will meet later.

# %%
unflattened = nn.Linear(8, n_classes)(feats)     # feats is (N, 16, 8, 8): Linear acts on W only
print('feats', tuple(feats.shape), '-> Linear(8, 10) ->', tuple(unflattened.shape))

# %% [markdown]
# ## 4. The same network on 28×28 and 64×64 images
#
# `Linear(1024, 10)` is right for 32 × 32 images only. Feed the working network a batch of 28 × 28 images:

# %% tags=["error-demo"]
X28 = torch.randn(N, 3, 28, 28)                  # (N, 3, 28, 28)
with tp.show_error():
    net_fixed(X28)

# %% [markdown]
# 784 = 16 · 7 · 7 (28 → 14 → 7). With 64 × 64 images, 64 → 32 → 16 gives 16 · 16 · 16 = 4096 features; the shape
# table shows the last good layer and the failing one:

# %%
X64 = torch.randn(N, 3, 64, 64)                  # (N, 3, 64, 64)
print(shape_table(net_fixed, X64))

# %% [markdown]
# Three fixes that never need the arithmetic:
#
# 1. **A dummy forward pass.** Build the feature layers, run them once on `torch.zeros(1, 3, H, W)` and read the width.
# 2. **`nn.LazyLinear(n_classes)`.** It has no `in_features`; the first forward pass fixes it. (Run the model once
#    on a dummy batch right after building it: "Going further" shows why.)
# 3. **Adaptive pooling before the head.** `nn.AdaptiveAvgPool2d((4, 4))` averages any H × W down to 4 × 4, so the
#    head always gets 16 · 4 · 4 = 256 features, whatever the image size.

# %%
def make_cnn_dummy(image_size):
    features = make_features()
    with torch.no_grad():
        n_flat = features(torch.zeros(1, 3, image_size, image_size)).flatten(1).shape[1]   # C * H * W
    return nn.Sequential(features, nn.Flatten(), nn.Linear(n_flat, n_classes))


def make_cnn_lazy():
    return nn.Sequential(make_features(), nn.Flatten(), nn.LazyLinear(n_classes))


def make_cnn_adaptive():
    return nn.Sequential(make_features(), nn.AdaptiveAvgPool2d((4, 4)),   # (N, 16, 4, 4) for any H, W
                         nn.Flatten(), nn.Linear(16 * 4 * 4, n_classes))


adaptive = make_cnn_adaptive()                   # one model for every size
print(f"{'image':>7} | {'dummy forward':>16} | {'LazyLinear':>16} | {'adaptive pooling':>16}")
for size in (28, 32, 64, 17):
    Xs = torch.randn(N, 3, size, size)           # (N, 3, size, size)
    dummy, lazy = make_cnn_dummy(size), make_cnn_lazy()
    shapes = [tuple(model(Xs).shape) for model in (dummy, lazy, adaptive)]
    cells = [f'{str(s)} in={m[-1].in_features}' for s, m in zip(shapes, (dummy, lazy, adaptive))]
    print(f'{size:>3}x{size:<3} | ' + ' | '.join(f'{c:>16}' for c in cells))

# %% [markdown]
# All three give `(N, 10)` for every size (`in=` is the `in_features` each head ended up with). They differ in one way:
# the dummy pass and `LazyLinear` fix the width **once per model**. A `LazyLinear` model that has seen 28 × 28 images
# is a `Linear(784, 10)` model from then on:

# %% tags=["error-demo"]
lazy = make_cnn_lazy()
lazy(X28)                                        # fixes in_features = 784
with tp.show_error():
    lazy(X64)

# %% [markdown]
# Only adaptive pooling gives one model that takes every size (at least 4 × 4 here, so that the pools have something
# left). Which to choose: adaptive pooling when the image size varies, a dummy pass or `LazyLinear` when it is fixed
# but you do not want to do the arithmetic.
#
# ## 5. Channels-last images (N, H, W, C)
#
# PIL, NumPy, matplotlib and most image files store a picture as **H × W × C**: row, column, then the colour.
# `Conv2d` wants **C × H × W**. Let us build a small image that shows every mistake: red grows from left to right,
# green from top to bottom, and blue is an 8 × 8 checkerboard.

# %%
H = W = 32
rows = torch.arange(H).float()[:, None].expand(H, W) / (H - 1)          # (H, W) 0 at the top, 1 at the foot
cols = torch.arange(W).float()[None, :].expand(H, W) / (W - 1)          # (H, W) 0 at the left, 1 at right
checker = ((torch.arange(H)[:, None] // 8 + torch.arange(W)[None, :] // 8) % 2).float()   # (H, W)
image_hwc = torch.stack([cols, rows, checker], dim=-1)                  # (H, W, 3): how image files store it
images_hwc = torch.stack([image_hwc, image_hwc.flip(1)])                # (2, H, W, 3) a batch of two
print('images_hwc', tuple(images_hwc.shape))

# %% [markdown]
# Fed straight into the network, `Conv2d` reads dim 1 as the channels, and dim 1 is H = 32:

# %% tags=["error-demo"]
with tp.show_error():
    net_fixed(images_hwc)

# %% [markdown]
# "expected input[2, 32, 32, 3] to have 3 channels, but got 32 channels instead": the conv's weight is
# `[8, 3, 3, 3]` (out, in, kH, kW), so it wants 3 channels in dim 1. The right fix moves the last dim to position 1:
# `permute(0, 3, 1, 2)` takes dims (0, 3, 1, 2) of `(N, H, W, C)`, i.e. `(N, C, H, W)`. Every pixel keeps its three
# colours:

# %%
right = images_hwc.permute(0, 3, 1, 2)           # (N, C, H, W)
print('right', tuple(right.shape), '| pixel (5, 7) of image 0:', right[0, :, 5, 7].tolist(),
      '==', images_hwc[0, 5, 7, :].tolist())
print('net(right)', tuple(net_fixed(right).shape))

# %% [markdown]
# The tempting fix is `view` or `reshape` to the shape the error asks for. It runs, the shape is right, and the network
# trains on garbage: `reshape` keeps the numbers in memory order (r, g, b, r, g, b, ...) and cuts them into three new
# "channels" of 32 × 32.
#
# First at a size we can read: one image of 4 pixels with 3 colours each, stored channels-last as a `(4, 3)` table
# (a row per pixel, a column per colour; each cell shows its place in memory). `view(3, 4)` cuts the memory into 3
# rows of 4: its "channel 0" holds pixel 0's red, green and blue, and pixel 1's red. `permute(1, 0)` moves the colour
# axis to the front: its channel 0 holds the reds of the 4 pixels, 0, 3, 6 and 9.

# %%
pixels = torch.arange(12.).reshape(4, 3)         # (H * W, C): 4 pixels, 3 colours, channels last
fig = tp.show_memory_order(pixels, (3, 4), (1, 0), title='4 pixels x 3 colours: view(3, 4) against permute(1, 0)')
plt.show()

# %% [markdown]
# The same happens to the whole batch:

# %%
wrong = images_hwc.reshape(2, 3, H, W)           # (N, C, H, W) in shape only
print('wrong', tuple(wrong.shape), '| net(wrong) runs:', tuple(net_fixed(wrong).shape))
print(f'values in a different place than with permute: {(wrong != right).float().mean().item():.1%}')
print('pixel (5, 7) of image 0:', [round(v, 3) for v in wrong[0, :, 5, 7].tolist()],
      'instead of', [round(v, 3) for v in right[0, :, 5, 7].tolist()])
colour_of = torch.arange(3).expand(2, H, W, 3)   # (N, H, W, 3) which colour each number was
held = colour_of.reshape(2, 3, H, W)[0, 0].flatten().bincount(minlength=3)   # (3,) counts per colour
print(f'"channel 0" after reshape holds {held[0]} red, {held[1]} green and {held[2]} blue values: the first '
      f'{H * W} numbers in memory, {H * W / (W * 3):.2f} rows of the original image')

# %% [markdown]
# To look at an image, matplotlib wants H × W × C again, so each panel below permutes back with `permute(1, 2, 0)`.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 4))
panels = [(images_hwc[0], 'original (H, W, C)'),
          (right[0].permute(1, 2, 0), 'permute(0, 3, 1, 2): right'),
          (wrong[0].permute(1, 2, 0), 'reshape(N, 3, H, W): scrambled')]
for ax, (img, title) in zip(axes, panels):
    ax.imshow(img.clamp(0, 1).numpy())
    ax.set_title(title)
    ax.set_xlabel('W (column)')
    ax.set_ylabel('H (row)')
fig.suptitle('The same numbers as (N, C, H, W): permuted versus reshaped (image 0)')
plt.show()

# %% [markdown]
# The scrambled picture is a mosaic: each of its "channels" is the first, second or last third of the numbers in
# memory, a third of the rows of the original with the three colours interleaved (the count is printed above). No
# error will ever tell you; only looking at the data (or a test that compares a pixel with the original, as above)
# does. The same goes for grayscale `(N, H, W)` images: add the channel dim with
# `x[:, None]` (or `unsqueeze(1)`), not with a `view`.
#
# ## 6. A flatten that changes the batch size
#
# Back to the arithmetic of section 3, this time in a model that flattens with `view(-1, k)`. With k = 16 · 16 · 16 =
# 4096 instead of 1024, `view` does not fail on a batch of 64 images: 64 · 1024 numbers are exactly 16 rows of 4096.
# The logits have 16 rows, and the loss sees it:

# %%
class ViewCNN(nn.Module):
    def __init__(self, n_flat):
        super().__init__()
        self.features = make_features()
        self.n_flat = n_flat
        self.head = nn.Linear(n_flat, n_classes)

    def forward(self, X):
        feats = self.features(X)                 # (N, 16, 8, 8)
        flat = feats.view(-1, self.n_flat)       # (N * 1024 / n_flat, n_flat): N rows only if n_flat = 1024
        return self.head(flat)


X_all, y_all = checks.image_data(320, C=n_classes, size=32, seed=0)   # (320, 3, 32, 32), (320,)
X_train, y_train, X_test, y_test = X_all[:64], y_all[:64], X_all[64:], y_all[64:]   # 64 train, 256 test
torch.manual_seed(0)
model = ViewCNN(16 * 16 * 16)
logits = model(X_train)                          # (16, n_classes), not (64, n_classes)
print('X_train', tuple(X_train.shape), '| logits', tuple(logits.shape), '| y_train', tuple(y_train.shape))

# %% tags=["error-demo"]
with tp.show_error('CrossEntropyLoss', logits, y_train):
    F.cross_entropy(logits, y_train)

# %% [markdown]
# The tempting fix makes the error go away: `y_train[:logits.shape[0]]`, "use as many targets as there are logits".
# But row i of the logits is made of the features of images 4i, 4i + 1, 4i + 2 and 4i + 3, and it is now scored
# against the label of image i. We train both models for 30 Adam steps on the same 64 images (10 classes: a smooth
# colour pattern per class plus noise) and test them on 256 other images of the same classes, in batches of 64.

# %%
def train(model, steps=30, lr=0.01):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits = model(X_train)                              # (rows, n_classes)
        loss = F.cross_entropy(logits, y_train[:logits.shape[0]])   # the trim (a no-op for the right model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def evaluate(model, X, y, batch_size=64):
    """Accuracy and mean cross-entropy over X in batches, with the same trim of the targets."""
    hits = rows = 0
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            logits = model(X[i:i + batch_size])                        # (rows, n_classes)
            target = y[i:i + batch_size][:len(logits)]                 # (rows,) the same trim
            hits += (logits.argmax(dim=1) == target).sum().item()
            total += F.cross_entropy(logits, target, reduction='sum').item()
            rows += len(target)
    return hits / rows, total / rows


torch.manual_seed(0)
right_model = ViewCNN(16 * 8 * 8)                            # 1024 features per row: one row per image
torch.manual_seed(0)
trimmed_model = ViewCNN(16 * 16 * 16)                        # 4 images per row, targets trimmed
losses_right, losses_trimmed = train(right_model), train(trimmed_model)
results = {}
for name, model, losses in (('right in_features', right_model, losses_right),
                            ('trimmed targets', trimmed_model, losses_trimmed)):
    train_acc, _ = evaluate(model, X_train, y_train)
    results[name], test_loss = evaluate(model, X_test, y_test)
    print(f'{name:<18} final train loss {losses[-1]:.4f} | train accuracy {train_acc:.3f} | '
          f'test accuracy {results[name]:.3f} | test loss {test_loss:.4f}')
print(f'chance: {1 / n_classes:.3f}')
print(f'the trimmed model: {sum(p.numel() for p in trimmed_model.parameters())} weights, '
      f'{trimmed_model(X_train).shape[0]} rows of logits per batch of {len(X_train)} images')

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(losses_right, label='right in_features (64 rows)')
ax1.plot(losses_trimmed, label='view(-1, 4096) + trimmed targets (16 rows)')
ax1.set_xlabel('Adam step')
ax1.set_ylabel('training loss (cross-entropy)')
ax1.set_yscale('log')
ax1.set_title('Both losses fall')
ax1.legend(loc='lower left')
ax2.bar(list(results), list(results.values()), color=['tab:blue', 'tab:orange'], label='test accuracy')
ax2.axhline(1 / n_classes, color='gray', linestyle='--', label=f'chance = {1 / n_classes:.2f}')
ax2.set_ylim(0, 1.05)
ax2.set_ylabel('accuracy on 256 unseen images')
ax2.set_title('Only one model learned the classes')
ax2.legend()
plt.show()

# %% [markdown]
# Both training losses fall, so the trimmed model looks as if it learns: it has far more weights than rows of logits
# (both printed above), so it memorises its 16 arbitrary labels. On unseen images it is at chance. (It also throws
# away three of every four labels.)
#
# A second yardstick makes the bug loud: the loss of a model that ignores the images and always predicts how often
# each class occurs. `tp.baseline_loss` computes it from the labels alone. A model that learnt something from the
# images must beat it; compare the two test losses printed above with it.

# %%
baseline = tp.baseline_loss(y_test, nn.CrossEntropyLoss(), C=n_classes)

# %% [markdown]
# The right model is far below the baseline; the trimmed one is above it, worse than knowing nothing, because it is
# confident about labels it memorised for other images. The fix is where the rows were lost: flatten per image with
# `feats.flatten(1)` (or `feats.view(feats.size(0), -1)`) and give the head the real width, 1024, as `right_model`
# does.
#
# ### 6.1 A hard-coded batch size, and the last, smaller batch
#
# A related habit: `feats.view(64, -1)` "because the batch size is 64". Every full batch works. A data set of 74
# images ends with a batch of 10, and `view(64, -1)` still finds a shape: 10 · 1024 = 64 · 160. The error only comes
# one layer later, and the shape table shows where the 64 rows came from.

# %%
class FixedBatchCNN(ViewCNN):
    def forward(self, X):
        feats = self.features(X)                 # (N, 16, 8, 8)
        return self.head(feats.view(64, -1))     # (64, N * 16): right only when N = 64


torch.manual_seed(0)
fixed_batch = FixedBatchCNN(16 * 8 * 8)
X_more, y_more = checks.image_data(74, C=n_classes, size=32, seed=1)    # (74, 3, 32, 32), (74,)
last_batch = X_more[64:]                         # (10, 3, 32, 32)
print('full batch:', tuple(fixed_batch(X_more[:64]).shape))
print(shape_table(fixed_batch, last_batch))

# %% tags=["error-demo"]
with tp.show_error():
    fixed_batch(last_batch)

# %% [markdown]
# The 64 rows in "64x160" are not 64 images: the batch has 10. When the first number of mat1 is not your batch size,
# a `view` made it up. The fix is the same as above: `feats.flatten(1)`, or `feats.view(feats.size(0), -1)`, never a
# number. (`drop_last=True` in the training `DataLoader` hides it until the first single image at inference: the
# batch of one of lesson 01, section 3.2.)

# %%
print('with flatten(1):', tuple(right_model(last_batch).shape), tuple(right_model(X_more[:1]).shape))

# %% [markdown]
# ## Summary
#
# * Class scores live in dim 1, like the channels of `(N, C, H, W)`: a CNN classifier gives `(N, classes)` and takes
#   `(N,)` class ids, the contract of lesson 01.
# * A CNN keeps **N first**: conv and pool change only C, H, W. Per spatial dim,
#   `out = floor((in + 2p - k) / s) + 1`; `MaxPool2d(k)` has stride k, so `MaxPool2d(2)` halves (rounding
#   down); `kernel_size=3, padding=1` keeps the size.
# * `shape_table(model, x)` lists every layer's input and output shape and stops at the failing layer with the error:
#   use it whenever a size surprises you.
# * `Flatten()` (or `x.flatten(1)`) keeps N and gives C · H · W features; the first `Linear` needs exactly that many.
#   "mat1 and mat2 shapes cannot be multiplied (a×b and c×d)": a = rows reaching `Linear` (normally the batch), b = the
#   features that arrive, c = `in_features`, d = `out_features`. Set `in_features` to b.
# * A network built for 32 × 32 fails on 28 × 28 and 64 × 64. Robust fixes: compute the width with a dummy forward
#   pass, `nn.LazyLinear`, or `nn.AdaptiveAvgPool2d` before the head (the only one where one model takes any size).
# * Channels-last `(N, H, W, C)` into `Conv2d`: "expected input[N, H, W, C] to have 3 channels, but got H channels".
#   Fix with `x.permute(0, 3, 1, 2)`. `view`/`reshape` to `(N, C, H, W)` runs and scrambles every image: it keeps the
#   memory order and re-cuts it, where `permute` moves whole axes.
# * A `view(-1, k)` with the wrong k, or `view(64, -1)` with a hard-coded batch size, changes the number of rows.
#   Trimming the targets to match hides the error, not the bug: the model memorises its training rows, is at chance
#   on new images, and its test loss is worse than `tp.baseline_loss`. Flatten with `flatten(1)` or
#   `view(x.size(0), -1)`.
#
# ## Going further
#
# ### Dilation and `ceil_mode`
#
# Two settings change the formula of section 2. **Dilation** d spreads a kernel's taps d pixels apart (1 = no gap), so
# a kernel of size k spans `d(k - 1) + 1` pixels, and that span takes the place of k:
#
# $$\text{out} = \left\lfloor \frac{\text{in} + 2p - d(k - 1) - 1}{s} \right\rfloor + 1$$
#
# (with d = 1 it is the formula of section 2). **`ceil_mode=True`** on a pool rounds up instead of down, so an odd
# size keeps its last, partial window. And `padding='same'` keeps the size, for stride 1 only.

# %%
def conv_out_dilated(size, kernel, stride=1, padding=0, dilation=1):
    """The general formula of the Conv2d and MaxPool2d docs."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


for layer, size in [(nn.Conv2d(3, 8, kernel_size=3, padding=2, dilation=2), 32),
                    (nn.Conv2d(3, 8, kernel_size=3, dilation=3), 20),
                    (nn.MaxPool2d(2), 31),
                    (nn.MaxPool2d(2, ceil_mode=True), 31)]:
    k, s, p = settings(layer)
    d = layer.dilation if isinstance(layer.dilation, int) else layer.dilation[0]
    real = layer(torch.zeros(1, 3, size, size)).shape[-1]
    mode = ', ceil_mode' if getattr(layer, 'ceil_mode', False) else ''
    print(f'{type(layer).__name__}(k={k}, s={s}, p={p}, d={d}{mode}) on {size}: '
          f'formula {conv_out_dilated(size, k, s, p, d)}, real {real}')

# %% [markdown]
# The formula agrees with every layer except the last: `ceil_mode=True` rounds up, which the floor formula does not.
#
# ### A dry run before training a `LazyLinear` model
#
# A `LazyLinear` holds no weight until its first forward pass. An optimizer created before that pass still trains it:
# the weight is filled in place, and the optimizer holds that same tensor.

# %%
torch.manual_seed(0)
lazy = make_cnn_lazy()
opt = torch.optim.Adam(lazy.parameters(), lr=0.01)   # created before any forward pass
print('before:', lazy[-1])
loss = F.cross_entropy(lazy(X), y)               # the first forward pass sets in_features = 1024
loss.backward()
opt.step()
same = opt.param_groups[0]['params'][-2] is lazy[-1].weight   # the optimizer's tensor is the layer's weight
print('after: ', lazy[-1], '| the optimizer holds that weight:', same)

# %% [markdown]
# So the dry run is not needed for the optimizer. It is still good practice, for three reasons: it shows the
# feature count and every shape (a `shape_table`) before training starts; a wrong size fails at once, not in the
# middle of a training loop; and anything that reads or copies the parameters before the first forward pass fails
# or goes wrong: counting them, a custom initialisation, `copy.deepcopy` (the copy stays lazy and later gets weights
# of its own). Counting them, on a model that has not run yet:

# %% tags=["error-demo"]
with tp.show_error():
    sum(p.numel() for p in make_cnn_lazy().parameters())

# %%
lazy = make_cnn_lazy()
print(shape_table(lazy, torch.zeros(1, 3, 28, 28)))   # the dry run: one blank image sets in_features = 784
print('parameters:', sum(p.numel() for p in lazy.parameters()))

# %% [markdown]
# ## Now the exercises
#
# Open `exercises/04-convolutions-and-pooling/` and work through the notebook there. One of its exercises, marked
# `[direct application]`, applies a fix of this lesson in a new setting; the others use other layers, other image
# sizes, other models, and a twist this lesson did not show. Work out the shapes before you change a line.
# The checks also run your code with N = 1, an odd N and other image sizes: a number typed for one of them must be
# right for all of them.
