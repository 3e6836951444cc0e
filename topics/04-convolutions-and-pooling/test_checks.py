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
    assert "Likely fix: a view/reshape with a hard-coded size" in str(table)
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
    assert X.shape == (64, 3, 32, 32) and X.dtype == torch.float32 and y.shape == (64,) and y.dtype == torch.int64
    assert set(y.tolist()) == set(range(10)) and not torch.equal(y, torch.arange(64) % 10)
    Xl, yl = checks.image_data(64, C=10, size=32, seed=0, channels_last=True)
    assert torch.equal(Xl.permute(0, 3, 1, 2), X) and torch.equal(yl, y)
    net = nn.Sequential(features(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    checks.check_trains(net, X, y, F.cross_entropy, steps=30, lr=0.01, min_accuracy=0.95)


def test_check_model_output_fails_a_view_that_changes_the_batch_and_passes_flatten_1():
    X = torch.zeros(64, 3, 32, 32)
    with pytest.raises(checks.CheckFailed, match=r"returned \(16, 10\) .* expected \(64, 10\)") as info:
        checks.check_model_output(ViewCNN(), X, (64, 10))
    assert info.value.tag == "output-shape" and "head        Linear     (16, 4096)" in str(info.value)
    with pytest.raises(checks.CheckFailed, match="own forward code") as info:
        checks.check_model_output(ViewCNN(), torch.zeros(7, 3, 32, 32), (7, 10))
    assert info.value.tag == "view-size"
    with pytest.raises(checks.CheckFailed, match="forget to return"):
        checks.check_model_output(lambda X: None, X, (64, 10))
    for N in (1, 7, 64):
        checks.check_model_output(ViewCNN(16 * 8 * 8, flatten_per_sample=True), torch.zeros(N, 3, 32, 32), (N, 10))


def test_check_model_output_turns_warnings_into_failures():
    def warns(X):
        import warnings
        warnings.warn("something is off")
        return X
    with pytest.raises(checks.CheckFailed, match="something is off"):
        checks.check_model_output(warns, torch.zeros(2, 10), (2, 10))
    assert tp.show_error  # the lesson's context manager is untouched
