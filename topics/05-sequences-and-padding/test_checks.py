"""Library additions for topic 05 (sequences and padding): each check fails the wrong code and passes the fix."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks
from targetpractice.instructor import references

from conftest import raised

torch.set_num_threads(1)


# ------------------------------------------------------------------------------ data and references
def test_token_batch_pads_after_each_length_and_keeps_one_full_row():
    logits, y, lengths = checks.token_batch(6, 7, 4, seed=1, pad=-100)
    assert logits.shape == (6, 7, 4) and y.shape == (6, 7) and lengths.shape == (6,) and int(lengths[0]) == 7
    real = checks.padding_mask(lengths, 7)
    assert bool((y[~real] == -100).all()) and bool(((y[real] >= 0) & (y[real] < 4)).all())
    _, y_full, lengths_full = checks.token_batch(3, 5, 4)
    assert bool((y_full >= 0).all()) and lengths_full.tolist() == [5, 5, 5]


def test_reference_token_cross_entropy_equals_torch_with_and_without_padding():
    logits, y, _ = checks.token_batch(5, 6, 4, seed=2, pad=-100)
    want = F.cross_entropy(logits.permute(0, 2, 1), y)
    assert torch.allclose(references.reference_token_cross_entropy(logits, y), want, atol=1e-6)
    per = references.reference_token_cross_entropy(logits, y, reduction="none")
    assert per.shape == (5, 6) and torch.allclose(per, F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none"),
                                                  atol=1e-6)


def test_reference_token_accuracy_skips_the_pads():
    _, y, lengths = checks.token_batch(4, 6, 5, seed=3, pad=-100)
    perfect = 10 * F.one_hot(y.clamp(min=0), 5).float()
    assert references.reference_token_accuracy(perfect, y) == 1.0
    assert (perfect.argmax(-1) == y).float().mean().item() < 1.0          # the grid mean counts the pads


def test_tagging_data_rules_and_padding():
    X, y = checks.tagging_data(8, 6, 10, rule="previous")
    assert bool((y[:, 1:] == X[:, :-1]).all()) and bool((y[:, 0] == 0).all()) and bool((X >= 1).all())
    X, y = checks.tagging_data(8, 6, 10, rule="mod3")
    assert bool((y == X % 3).all())
    X, y = checks.tagging_data(8, 6, 10, padded=True)
    assert bool(((X == 0) == (y == -100)).all()) and bool((y == -100).any())
    with pytest.raises(ValueError):
        checks.tagging_data(2, 3, 4, rule="nope")


def test_sign_of_sum_and_reversal_data():
    X, y = checks.sign_of_sum_data(16, 5, 3)
    assert X.shape == (16, 5, 3) and bool((y == (X[:, :, 0].sum(1) > 0).long()).all())
    src, tgt = checks.reversal_data(4, 6, 3, 9, bos=1)
    assert src.shape == (4, 6) and tgt.shape == (4, 4) and bool((tgt[:, 0] == 1).all())
    assert bool((tgt[:, 1:] == src.flip(1)[:, :3]).all())


# ------------------------------------------------------------------------------ padding invariance
def masked_mean_fix(logits, y, lengths):
    mask = checks.padding_mask(lengths, y.shape[1])
    losses = F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none")
    return (losses * mask).sum() / mask.sum()


def masked_mean_wrong(logits, y, lengths):  # (loss * mask).mean(): divides by N*T
    mask = checks.padding_mask(lengths, y.shape[1])
    return (F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none") * mask).mean()


def test_check_padding_invariance_fails_mask_mean_and_passes_the_fix():
    logits, y, lengths = checks.token_batch(4, 6, 5, seed=4, pad=0)
    args = {"logits": logits, "y": y, "lengths": lengths}
    checks.check_padding_invariance(masked_mean_fix, args, pad_value=0)
    with pytest.raises(checks.CheckFailed, match="Padding must not count") as info:
        checks.check_padding_invariance(masked_mean_wrong, args, pad_value=0)
    assert info.value.tag == "counts-padding"


def test_check_padding_invariance_on_a_metric_and_on_bad_returns():
    logits, y, _ = checks.token_batch(4, 6, 5, seed=5, pad=-100)
    good = lambda logits, y: references.reference_token_accuracy(logits, y)               # noqa: E731
    grid = lambda logits, y: (logits.argmax(-1) == y).float().mean().item()           # noqa: E731
    checks.check_padding_invariance(good, {"logits": logits, "y": y})
    with pytest.raises(checks.CheckFailed, match="counts-padding|Padding must not count"):
        checks.check_padding_invariance(grid, {"logits": logits, "y": y})
    per_token = lambda logits, y: F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none")  # noqa: E731
    with pytest.raises(checks.CheckFailed, match="single number"):                   # never a crash
        checks.check_padding_invariance(per_token, {"logits": logits, "y": y})
    with pytest.raises(checks.CheckFailed, match="raised an error"):
        checks.check_padding_invariance(lambda logits, y: F.cross_entropy(logits, y), {"logits": logits, "y": y})


# ------------------------------------------------------------------------------ training on tokens
def permute_loss(out, y):
    return F.cross_entropy(out.permute(0, 2, 1), y)


def view_loss(out, y):  # the silent scramble
    N, T, V = out.shape
    return F.cross_entropy(out.view(N, V, T), y)


def test_check_trains_tokens_fails_view_and_passes_permute():
    X, y = checks.tagging_data(48, 6, 6, seed=3)
    test = checks.tagging_data(64, 6, 6, seed=4)
    result = checks.check_trains_tokens(checks.tiny_tagger(6, 6), X, y, permute_loss, test=test, steps=40,
                                        min_accuracy=0.9)
    assert result["accuracy"] >= 0.9
    with pytest.raises(checks.CheckFailed, match="accuracy on held-out data") as info:
        checks.check_trains_tokens(checks.tiny_tagger(6, 6), X, y, view_loss, test=test, steps=40, min_accuracy=0.9)
    assert info.value.tag == "does-not-learn"


def test_check_trains_tokens_handles_bad_models_without_crashing():
    X, y = checks.tagging_data(8, 5, 6)
    with pytest.raises(checks.CheckFailed, match="expected a model"):
        checks.check_trains_tokens(None, X, y, permute_loss, steps=1)

    class Pooled(nn.Module):  # one score row per sequence instead of per token
        def __init__(self):
            super().__init__()
            self.inner = checks.tiny_tagger(6, 6)

        def forward(self, X):
            return self.inner(X).mean(1)

    with pytest.raises(checks.CheckFailed):
        checks.check_trains_tokens(Pooled(), X, y, lambda out, y: F.cross_entropy(out, y[:, 0]), steps=2)


# ------------------------------------------------------------------------------ encoder-decoder losses
class EncDec(nn.Module):
    def __init__(self, V=8):
        super().__init__()
        self.embed = nn.Embedding(V, 8)
        self.encoder = nn.GRU(8, 12, batch_first=True)
        self.decoder = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12, V)

    def encode(self, src):
        return self.encoder(self.embed(src))

    def decode(self, tgt_in, state):
        return self.head(self.decoder(self.embed(tgt_in), state)[0])


def teacher_forcing(model, src, tgt):  # the fix
    _, state = model.encode(src)
    return F.cross_entropy(model.decode(tgt[:, :-1], state).permute(0, 2, 1), tgt[:, 1:])


def no_shift(model, src, tgt):  # the decoder reads the token it must predict
    _, state = model.encode(src)
    return F.cross_entropy(model.decode(tgt, state).permute(0, 2, 1), tgt)


def encoder_only(model, src, tgt):  # one row per input step: raises for S != T
    out, _ = model.encode(src)
    return F.cross_entropy(model.head(out).reshape(-1, 8), tgt.reshape(-1))


def cut_to_target(model, src, tgt):  # runs when S >= T - 1, aligns the wrong steps
    out, _ = model.encode(src)
    return F.cross_entropy(model.head(out)[:, :tgt.shape[1] - 1].permute(0, 2, 1), tgt[:, 1:])


def test_reference_teacher_forcing_loss_equals_the_one_call_version():
    torch.manual_seed(0)
    model = EncDec()
    src, tgt = checks.reversal_data(5, 6, 4, 8)
    assert torch.allclose(references.reference_teacher_forcing_loss(model, src, tgt), teacher_forcing(model, src, tgt),
                          atol=1e-6)


@pytest.mark.parametrize("wrong, match", [(no_shift, "computed step by step"), (encoder_only, "raised an error"),
                                          (cut_to_target, "computed step by step")])
def test_check_model_loss_fails_the_wrong_designs_and_passes_teacher_forcing(wrong, match):
    torch.manual_seed(0)
    model = EncDec()
    src, tgt = checks.reversal_data(4, 6, 3, 8)
    checks.check_model_loss(teacher_forcing, references.reference_teacher_forcing_loss, model, {"src": src, "tgt": tgt})
    with pytest.raises(checks.CheckFailed, match=match):
        checks.check_model_loss(wrong, references.reference_teacher_forcing_loss, model, {"src": src, "tgt": tgt})


def test_check_model_loss_catches_a_detached_loss_and_a_wrong_gradient():
    torch.manual_seed(0)
    model = EncDec()
    src, tgt = checks.reversal_data(3, 5, 3, 8)
    detached = lambda model, src, tgt: teacher_forcing(model, src, tgt).detach()      # noqa: E731
    with pytest.raises(checks.CheckFailed, match="does not depend on the model"):
        checks.check_model_loss(detached, references.reference_teacher_forcing_loss, model, {"src": src, "tgt": tgt})

    def frozen_encoder(model, src, tgt):  # the right value, but no gradient reaches the encoder
        _, state = model.encode(src)
        return F.cross_entropy(model.decode(tgt[:, :-1], state.detach()).permute(0, 2, 1), tgt[:, 1:])

    with pytest.raises(checks.CheckFailed, match="the gradient of (embed|encoder)"):
        checks.check_model_loss(frozen_encoder, references.reference_teacher_forcing_loss, model, {"src": src, "tgt": tgt})


def test_greedy_decode_gives_one_token_per_step():
    torch.manual_seed(0)
    src, _ = checks.reversal_data(3, 5, 2, 8)
    out = checks.greedy_decode(EncDec(), src, 4)
    assert out.shape == (3, 4) and out.dtype == torch.long


# ------------------------------------------------------------------------------ RNN error texts
@pytest.mark.parametrize("make, tag, fix", [
    (lambda: nn.GRU(1, 16, batch_first=True)(torch.randint(0, 10, (4, 7, 1))), "token-ids-into-rnn", "nn.Embedding"),
    (lambda: nn.GRU(8, 16, batch_first=True)(torch.randn(5, 7, 8), torch.zeros(1, 8, 16)), "hidden-state-batch",
     "x.size(0)"),
    (lambda: nn.LSTM(8, 16)(torch.randn(7, 5, 8), (torch.zeros(1, 8, 16), torch.zeros(1, 8, 16))),
     "hidden-state-batch", "x.size(0)"),
    (lambda: nn.GRU(8, 16)(torch.randn(4, 7, 3)), "rnn-input-size", "input_size"),
    (lambda: nn.LSTM(8, 16)(torch.randn(2, 4, 7, 8)), "rnn-input-rank", "(N, T, F)"),
])
def test_explain_error_maps_rnn_errors(make, tag, fix):
    exc = raised(make)
    d = tp.explain_error(exc)
    assert d.tag == tag and fix in d.message and d.message.startswith(type(exc).__name__)


def test_existing_sequence_diagnoses_still_apply():
    d = tp.diagnose("CrossEntropyLoss", torch.randn(4, 7, 5), torch.randint(0, 5, (4, 7)))
    assert d.tag == "class-dim-last"
    assert tp.explain_error(raised(lambda: F.cross_entropy(torch.randn(4, 7, 5), torch.randint(0, 5, (4, 7))))).tag \
        == "class-dim-last"
