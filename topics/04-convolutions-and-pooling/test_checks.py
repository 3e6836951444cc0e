"""Library additions for 04-convolutions-and-pooling: shape_table, the conv error patterns, image_data and
check_model_output (fails the wrong code, passes the fix)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks
from targetpractice.diagnosis import explain_error, shape_table

from conftest import raised

torch.set_num_threads(1)


def features():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class ViewCNN(nn.Module):
    """in_features worked out as if there were one pool (16 * 16 * 16), flattened with a fixed width."""

    def __init__(self, width=16 * 16 * 16, flatten_per_sample=False):
        super().__init__()
        self.features, self.head = features(), nn.Linear(width, 10)
        self.width, self.flatten_per_sample = width, flatten_per_sample

    def forward(self, X):
        feats = self.features(X)                                    # (N, 16, 8, 8)
        flat = feats.flatten(1) if self.flatten_per_sample else feats.view(-1, self.width)
        return self.head(flat)


def test_shape_table_lists_every_leaf_layer_with_its_input_and_output_shape():
    net = nn.Sequential(features(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    table = shape_table(net, torch.zeros(4, 3, 32, 32))
    assert table.error is None and table.output == (4, 10)
    assert [r.name for r in table.rows] == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "1", "2"]
    assert table["0.2"].type == "MaxPool2d" and table["0.2"].input == (4, 8, 32, 32)
    assert table["0.2"].output == (4, 8, 16, 16) and table["1"].output == (4, 1024)
    text = str(table)
    assert text.splitlines()[0].split() == ["layer", "type", "input", "shape", "output", "shape"]
    assert "(4, 16, 8, 8)" in text and "(output)" in text and repr(table) == text
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules()), "hooks must be removed"


def test_shape_table_stops_at_the_failing_layer_and_shows_the_error():
    net = nn.Sequential(features(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    table = shape_table(net, torch.zeros(2, 3, 64, 64))               # built for 32 x 32
    assert table.failed_at == "2" and table.output is None
    assert table.rows[-1].name == "2" and table.rows[-1].input == (2, 4096) and table.rows[-1].output is None
    assert "mat1 and mat2 shapes cannot be multiplied (2x4096 and 1024x10)" in str(table)
    assert "in layer '2' (Linear)" in str(table)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_shape_table_names_the_forward_code_between_layers_when_a_view_fails():
    table = shape_table(ViewCNN(), torch.zeros(7, 3, 32, 32))          # 7 * 1024 is not a multiple of 4096
    assert table.failed_at == "" and [r.name for r in table.rows][-1] == "features.5"
    assert "own forward code, after layer 'features.5' (MaxPool2d) returned (7, 16, 8, 8)" in str(table)
    assert "a view/reshape asked for a size that does not divide" in str(table)
    assert "Likely fix:" in str(table)                                 # a lesson shows the fix
    table.show_fix = False                                             # as the exercise checks show it
    assert "Likely fix:" not in str(table) and "does not divide" in str(table)
    ok = shape_table(ViewCNN(16 * 8 * 8, flatten_per_sample=True), torch.zeros(7, 3, 32, 32))
    assert ok.error is None and ok["head"].input == (7, 1024) and ok.output == (7, 10)


def test_shape_table_handles_a_tuple_output_a_leaf_model_and_a_plain_function():
    lstm = shape_table(nn.LSTM(3, 4, batch_first=True), torch.zeros(2, 5, 3))
    assert lstm.output == ((2, 5, 4), ((1, 2, 4), (1, 2, 4))) and lstm.rows[0].name == "LSTM"
    assert "[(2, 5, 4), [(1, 2, 4), (1, 2, 4)]]" in str(lstm)
    fn = shape_table(lambda x: x.sum(1), torch.zeros(2, 3))
    assert fn.rows == [] and fn.output == (2,)


@pytest.mark.parametrize("make, tag", [
    (lambda: nn.Conv2d(3, 8, 3)(torch.zeros(2, 32, 32, 3)), "conv-channels"),
    (lambda: nn.Conv2d(3, 8, 3)(torch.zeros(28, 28)), "conv-rank"),
    (lambda: torch.zeros(7, 16, 8, 8).view(-1, 4096), "view-size"),
    (lambda: nn.MaxPool2d(2)(torch.zeros(2, 3, 1, 1)), "too-small"),
    (lambda: nn.Conv2d(3, 8, 5)(torch.zeros(1, 3, 3, 3)), "too-small"),
    (lambda: nn.Conv2d(3, 8, 3)(torch.zeros(1, 3, 8, 8, dtype=torch.float64)), "input-dtype"),
])
def test_conv_errors_are_explained(make, tag):
    assert explain_error(raised(make)).tag == tag


def test_image_data_is_a_tiny_learnable_image_set():
    X, y = checks.image_data(64, C=10, size=32, seed=0)
    assert X.shape == (64, 3, 32, 32) and X.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64
    assert set(y.tolist()) == set(range(10)) and not torch.equal(y, torch.arange(64) % 10)
    Xl, yl = checks.image_data(64, C=10, size=32, seed=0, channels_last=True)
    assert torch.equal(Xl.permute(0, 3, 1, 2), X) and torch.equal(yl, y)
    net = nn.Sequential(features(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    checks.check_trains(net, X, y, F.cross_entropy, steps=30, lr=0.01, min_accuracy=0.95)


def test_check_model_output_fails_a_view_that_changes_the_batch_and_passes_flatten_1():
    X = torch.zeros(64, 3, 32, 32)
    with pytest.raises(checks.CheckFailed, match=r"returned \(16, 10\) .* expected \(64, 10\)") as info:
        checks.check_model_output(ViewCNN(), X, (64, 10))
    assert info.value.tag == "batch-rows" and "head        Linear     (16, 4096)" in str(info.value)
    assert "dim 0, the batch, has 16 rows, but X holds N = 64" in str(info.value)
    with pytest.raises(checks.CheckFailed, match="own forward code") as info:
        checks.check_model_output(ViewCNN(), torch.zeros(7, 3, 32, 32), (7, 10))
    assert info.value.tag == "view-size"
    with pytest.raises(checks.CheckFailed, match="forget to return"):
        checks.check_model_output(lambda X: None, X, (64, 10))
    for N in (1, 7, 64):
        right = ViewCNN(16 * 8 * 8, flatten_per_sample=True)
        checks.check_model_output(right, torch.zeros(N, 3, 32, 32), (N, 10))


def test_check_model_output_turns_warnings_into_failures():
    def warns(X):
        import warnings
        warnings.warn("something is off")
        return X
    with pytest.raises(checks.CheckFailed, match="something is off"):
        checks.check_model_output(warns, torch.zeros(2, 10), (2, 10))
    assert tp.show_error  # the lesson's context manager is untouched


# ----------------------------------------------------------------------------- the checks of issue 11
def test_check_model_output_names_the_dims_that_are_off_and_never_the_fix():
    images = torch.rand(2, 5, 7, 3)                                    # (N, H, W, C), every size different
    with pytest.raises(checks.CheckFailed) as info:
        checks.check_model_output(lambda x: x.transpose(1, 3), images, (2, 3, 5, 7), arg="images")
    text = str(info.value)
    assert info.value.tag == "output-shape" and "returned (2, 3, 7, 5) for images (2, 5, 7, 3)" in text
    assert "dim 2 has size 7 where 5 is expected; dim 3 has size 5 where 7 is expected" in text
    assert "permute" not in text and "layer by layer" not in text      # a plain function: no empty table
    with pytest.raises(checks.CheckFailed, match=r"returned \(10,\) .* it has 1 dim where 2 are expected"):
        squeezed = lambda X: ViewCNN(16 * 8 * 8, True)(X).squeeze()   # noqa: E731 - N = 1 loses dim 0
        checks.check_model_output(squeezed, torch.zeros(1, 3, 32, 32), (1, 10))
    with pytest.raises(checks.CheckFailed) as info:                    # 64 * 1024 features, a view of 4096
        checks.check_model_output(ViewCNN(16 * 16 * 16, True), torch.zeros(64, 3, 32, 32), (64, 10))
    assert info.value.tag == "linear-in-features" and "Likely fix" not in str(info.value)
    assert "flatten(1)" not in str(info.value) and "(64x1024 and 4096x10)" in str(info.value)


def test_check_model_output_fails_a_function_that_changes_its_input_in_place():
    def in_place(images):
        return images.transpose_(1, 3).transpose_(2, 3)               # right values; the caller's moved too

    images = torch.rand(2, 5, 7, 3)
    moved = r"changed its argument images in place: it was \(2, 5, 7, 3\)"
    with pytest.raises(checks.CheckFailed, match=moved) as info:
        checks.check_model_output(in_place, images, (2, 3, 5, 7), arg="images")
    assert info.value.tag == "mutates-input"
    checks.check_model_output(lambda im: im.permute(0, 3, 1, 2), torch.rand(2, 5, 7, 3), (2, 3, 5, 7))


class Handle:
    """What a test cell holds at grading: a handle whose methods answer with plain data or more handles."""

    __tp_remote__ = True

    def __init__(self, module):
        self._module, self._type = module, type(module).__qualname__

    def get_submodule(self, name):
        return Handle(self._module.get_submodule(name))               # AttributeError for a missing name

    def extra_repr(self):
        return self._module.extra_repr()


def given_features():
    return features()


class PoolDeleted(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*list(features())[:5])        # the second MaxPool2d deleted
        self.head = nn.Linear(16 * 16 * 16, 10)


@pytest.mark.parametrize("wrap", [lambda m: m, Handle], ids=["module", "handle"])
def test_check_keeps_layers_fails_a_deleted_or_changed_layer_and_passes_the_given_ones(wrap):
    assert checks.layer_list(wrap(ViewCNN()), "features") == checks.layer_list(given_features())
    assert checks.layer_list(given_features())[2] == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    checks.check_keeps_layers(wrap(ViewCNN()), given_features(), what="TinyCNN()")
    missing = r"layer 5 of the given layers, MaxPool2d\(.*\), is missing"
    with pytest.raises(checks.CheckFailed, match=missing) as info:
        checks.check_keeps_layers(wrap(PoolDeleted()), given_features(), what="TinyCNN()")
    assert info.value.tag == "changed-layers" and "TinyCNN().features has:" in str(info.value)
    ceil = features()
    ceil[2] = nn.MaxPool2d(2, ceil_mode=True)
    model = nn.Sequential(ceil, nn.Flatten(), nn.LazyLinear(4))
    changed = r"make_cnn\(4, 9\)\[0\] differs .* layer 2 is MaxPool2d\(.*ceil_mode=True\)"
    with pytest.raises(checks.CheckFailed, match=changed):
        checks.check_keeps_layers(wrap(model), given_features(), what="make_cnn(4, 9)", paths=("0",),
                                  unpacked=True)
    unpacked = nn.Sequential(*features(), nn.Flatten(), nn.LazyLinear(4))
    checks.check_keeps_layers(wrap(unpacked), given_features(), what="m", paths=("0",), unpacked=True)
    with pytest.raises(checks.CheckFailed, match="changed|differs"):
        checks.check_keeps_layers(wrap(unpacked), given_features(), what="m", paths=("0",), unpacked=False)
    with pytest.raises(checks.CheckFailed, match=r"no layers numbered"):
        checks.check_keeps_layers(wrap(nn.Linear(3, 4)), given_features(), what="m")


def test_check_gradient_flows_back_fails_a_detached_or_rerouted_result():
    to_nchw = lambda images: images.permute(0, 3, 1, 2)               # noqa: E731 - the reference here
    images = torch.rand(2, 4, 6, 3, requires_grad=True)
    checks.check_gradient_flows_back(to_nchw(images), images, to_nchw, what="to_nchw(images)")
    with pytest.raises(checks.CheckFailed, match="cut off from its input") as info:
        checks.check_gradient_flows_back(to_nchw(images).detach(), images, to_nchw, what="to_nchw(images)")
    assert info.value.tag == "no-gradient"
    values_only = to_nchw(images).detach() + 0 * images.sum()          # right values, a gradient of zeros
    with pytest.raises(checks.CheckFailed, match="not the one of those values"):
        checks.check_gradient_flows_back(values_only, images, to_nchw, what="to_nchw(images)")


def test_check_length_wants_the_layers_int():
    checks.check_length(27, 27, call="stem_side(224)", layer="the stem", size=224)
    checks.check_length(27, 27.0, call="stem_side(224)", layer="the stem", size=224)   # a recorded answer
    with pytest.raises(checks.CheckFailed, match=r"returned 27.0, a float: the value is right") as info:
        checks.check_length(27.0, 27, call="stem_side(224)", layer="the stem", size=224)
    assert info.value.tag == "not-an-int"
    with pytest.raises(checks.CheckFailed, match=r"returned 27.875, a float; the stem turns 224 pixels"):
        checks.check_length(27.875, 27, call="stem_side(224)", layer="the stem", size=224)
    with pytest.raises(checks.CheckFailed, match="returned True, a bool"):
        checks.check_length(True, 1, call="stem_side(9)", layer="the stem", size=9)
    with pytest.raises(checks.CheckFailed, match="28, but the stem turns 224 pixels into 27: 1 pixel more") as info:
        checks.check_length(28, 27, call="stem_side(224)", layer="the stem", size=224)
    assert info.value.tag == "conv-formula" and "//" not in str(info.value)
    with pytest.raises(checks.CheckFailed, match="turns 1 pixel into 1: 2 pixels fewer"):
        checks.check_length(-1, 1, call="f(1)", layer="Conv2d", size=1)


# ----------------------------------------------------------------------------- the checks of issue 13
class TwoInputs(nn.Module):
    """A photo and a few numbers: the photo's feature maps flattened per photo (or not), then meta."""

    def __init__(self, n_meta=5, per_photo=True, use_meta=True):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2))   # (N, 4, 3, 3) on 6 x 6
        self.per_photo, self.use_meta = per_photo, use_meta
        self.head = nn.Linear(4 * 3 * 3 + (n_meta if use_meta else 0) if per_photo else 4 * 6 * 6 + n_meta, 3)

    def forward(self, X, meta):
        feats = self.features(X)
        flat = feats.flatten(1) if self.per_photo else feats.view(-1, 4 * 6 * 6)
        return self.head(torch.cat([flat, meta], dim=1) if self.use_meta else flat)


def test_check_model_output_takes_several_inputs_and_names_each():
    X, meta = torch.randn(8, 3, 6, 6), torch.randn(8, 5)
    checks.check_model_output(TwoInputs(), (X, meta), (8, 3), arg="X, meta")
    with pytest.raises(checks.CheckFailed) as info:
        checks.check_model_output(TwoInputs(per_photo=False), (X, meta), (8, 3), what="m(X, meta)", arg="X, meta")
    text = str(info.value)
    assert "m(X, meta) raised an error for X (8, 3, 6, 6) float32 and meta (8, 5) float32" in text
    assert "Sizes of tensors must match except in dimension 1" in text and "features.1" in text


def test_check_rows_follow_their_inputs_fails_mixing_and_an_unused_input():
    inputs = {"X": torch.randn(7, 3, 6, 6), "meta": torch.randn(7, 5)}
    checks.check_rows_follow_their_inputs(TwoInputs(), inputs, what="m(X, meta)")
    with pytest.raises(checks.CheckFailed, match="the scores do not depend on meta at all") as info:
        checks.check_rows_follow_their_inputs(TwoInputs(use_meta=False), inputs, what="m(X, meta)")
    assert info.value.tag == "input-unused"

    class Mixing(TwoInputs):
        def forward(self, X, meta):
            return super().forward(X, meta) + meta.mean(0, keepdim=True)[:, :3]   # the batch's mean leaks in

    with pytest.raises(checks.CheckFailed, match="Changing sample 0 of meta .* changed the outputs of other") as info:
        checks.check_rows_follow_their_inputs(Mixing(), inputs, what="m(X, meta)")
    assert info.value.tag == "batch-mixing"


@pytest.mark.parametrize("wrap", [lambda m: m, Handle], ids=["module", "handle"])
def test_check_head_width_reports_what_arrives_and_never_the_width_it_needs(wrap):
    model = TwoInputs()
    X, meta = torch.randn(2, 3, 6, 6), torch.randn(2, 5)
    model(X, meta)
    arrives = {"self.features(X)": model.features(X), "meta": meta}
    rule = "the head reads every value of both"
    checks.check_head_width(wrap(model), "head", 41, what="m", arrives=arrives, rule=rule)
    with pytest.raises(checks.CheckFailed, match="m.head reads 41 features per row, fewer than it should") as info:
        checks.check_head_width(wrap(model), "head", 300, what="m", arrives=arrives, rule=rule)
    text = str(info.value)
    assert info.value.tag == "linear-in-features" and "300" not in text
    assert "self.features(X) is (2, 4, 3, 3) and meta is (2, 5); the head reads every value of both." in text
    with pytest.raises(checks.CheckFailed, match="reads 41 features per row, more than it should"):
        checks.check_head_width(wrap(model), "head", 36, what="m", arrives=arrives, rule=rule)
    with pytest.raises(checks.CheckFailed, match="has no layer 'tail'"):
        checks.check_head_width(wrap(model), "tail", 41, what="m", arrives=arrives, rule=rule)
    with pytest.raises(checks.CheckFailed, match=r"m.features is Sequential\(\); the exercise's head is a Linear"):
        checks.check_head_width(wrap(model), "features", 41, what="m", arrives=arrives, rule=rule)


class Gap(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.features, self.head, self.pool = features(), nn.LazyLinear(3), pool

    def forward(self, X):
        return self.head(self.pool(self.features(X)))


def test_check_global_average_names_a_max_or_a_sum_and_passes_any_average():
    X = torch.randn(5, 3, 12, 20)                                      # features (5, 16, 3, 5)
    for right in (lambda f: f.mean(dim=(2, 3)), lambda f: F.adaptive_avg_pool2d(f, 1).flatten(1),
                  lambda f: f.flatten(2).mean(-1)):
        checks.check_global_average(Gap(right), X, what="GapCNN(3)(X)")
    for wrong, said in ((lambda f: f.amax(dim=(2, 3)), "it gets the maximum of each feature map"),
                        (lambda f: f.sum(dim=(2, 3)), "it gets the sum of each feature map (H x W = 15 times"),
                        (lambda f: f.mean(dim=(2, 3)) * 2, "what it gets is not one average per feature map")):
        with pytest.raises(checks.CheckFailed) as info:
            checks.check_global_average(Gap(wrong), X, what="GapCNN(3)(X)")
        assert info.value.tag == "global-pool" and said in str(info.value)
        assert "mean(" not in str(info.value) and "dim=" not in str(info.value)


def test_check_time_average_passes_either_order_and_names_a_max_a_sum_or_a_global_average():
    X = torch.randn(3, 3, 12, 20)                                      # features (3, 16, 3, 5)
    for right in (lambda f: f.mean(dim=3).flatten(1), lambda f: F.adaptive_avg_pool2d(f, (None, 1)).flatten(1),
                  lambda f: f.mean(dim=3).transpose(1, 2).flatten(1)):
        checks.check_time_average(Gap(right), X, what="ClipNet(3, 12)(X)")
    for wrong, said in ((lambda f: f.amax(dim=3).flatten(1), "it gets the maximum of each row over its 5 time"),
                        (lambda f: f.sum(dim=3).flatten(1), "it gets the sum of each row over time (5 times"),
                        (lambda f: f.mean(dim=(2, 3)), "it gets one average per feature map over both"),
                        (lambda f: F.adaptive_avg_pool2d(f, (2, 2)).flatten(1), "what it gets is not those")):
        with pytest.raises(checks.CheckFailed) as info:
            checks.check_time_average(Gap(wrong), X, what="ClipNet(3, 12)(X)")
        text = str(info.value)
        assert info.value.tag == "time-pool" and said in text and "(3, 16, 3, 5)" in text
        assert "mean(" not in text and "dim=" not in text


def test_check_smallest_size_wants_the_smallest_int_and_never_gives_it():
    checks.check_smallest_size(57, 57, call="min_size(7)", layer="the stem", side=7)
    checks.check_smallest_size(57, 57.0, call="min_size(7)", layer="the stem", side=7)   # a recorded answer
    with pytest.raises(checks.CheckFailed, match=r"returned 57.0, a float: the value is right") as info:
        checks.check_smallest_size(57.0, 57, call="min_size(7)", layer="the stem", side=7)
    assert info.value.tag == "not-an-int"
    with pytest.raises(checks.CheckFailed, match="returned 56, but on images of 56 x 56 pixels the stem gives less "
                                                 "than 7 x 7") as info:
        checks.check_smallest_size(56, 57, call="min_size(7)", layer="the stem", side=7)
    assert info.value.tag == "conv-formula" and "57" not in str(info.value)
    with pytest.raises(checks.CheckFailed, match="so does a smaller image: 64 is not the smallest") as info:
        checks.check_smallest_size(64, 57, call="min_size(7)", layer="the stem", side=7)
    assert "57" not in str(info.value)


def test_check_channel_mix_judges_every_pixel_and_never_the_fix():
    feats, weight = torch.randn(2, 4, 3, 5), torch.randn(6, 4)          # N, C, H, W, C_out all different
    right = torch.einsum("nchw,oc->nohw", feats, weight)
    checks.check_channel_mix(F.linear(feats.permute(0, 2, 3, 1), weight).permute(0, 3, 1, 2), feats, right,
                             what="mix_channels(feats, weight)")
    scrambled = F.linear(feats.reshape(2, 3, 5, 4), weight).reshape(2, 6, 3, 5)
    with pytest.raises(checks.CheckFailed) as info:
        checks.check_channel_mix(scrambled, feats, right, what="mix_channels(feats, weight)")
    text = str(info.value)
    assert info.value.tag == "scrambled-pixels" and "mix_channels(feats, weight)[0, :, 0, 0] is" in text
    assert "permute" not in text and "reshape" not in text and "of the pixels are wrong" in text
    with pytest.raises(checks.CheckFailed, match="dim 2 has size 5 where 3 is expected") as info:
        checks.check_channel_mix(right.transpose(2, 3), feats, right, what="mix_channels(feats, weight)")
    assert info.value.tag == "output-shape"
    with pytest.raises(checks.CheckFailed, match="should return a tensor"):
        checks.check_channel_mix(right.numpy(), feats, right, what="mix_channels(feats, weight)")
