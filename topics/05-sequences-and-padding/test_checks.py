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
    with pytest.raises(checks.CheckFailed, match="pads change the result") as info:
        checks.check_padding_invariance(masked_mean_wrong, args, pad_value=0)
    assert info.value.tag == "counts-padding"


def test_check_padding_invariance_on_a_metric_and_on_bad_returns():
    logits, y, _ = checks.token_batch(4, 6, 5, seed=5, pad=-100)
    good = lambda logits, y: references.reference_token_accuracy(logits, y)               # noqa: E731
    grid = lambda logits, y: (logits.argmax(-1) == y).float().mean().item()           # noqa: E731
    checks.check_padding_invariance(good, {"logits": logits, "y": y})
    with pytest.raises(checks.CheckFailed, match="pads change the result"):
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


@pytest.mark.parametrize("wrong, match", [(no_shift, "one decoder step at a time"),
                                          (encoder_only, "raised an error"),
                                          (cut_to_target, "one decoder step at a time")])
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


# ------------------------------------------------------------------------------ issue 11: what the code produced
# A failing check names what the student's code produced and the rule it breaks, never the code of the fix.
FIX_IDIOMS = ("permute(", "transpose(", "batch_first", "nn.Embedding", "one_hot", "squeeze(", ".item()", "view_as",
              "ignore_index", "mask.sum()", "x.size(0)", "X.size(0)", "torch.zeros(", "tgt[:, :-1]", "tgt[:, 1:]",
              "(layers", ".float()")


def assert_no_fix(message: str) -> None:
    for idiom in FIX_IDIOMS:
        assert idiom not in message, f"the message dictates the fix ({idiom!r}): {message}"


def tag_of(check, *args, **kwargs) -> tuple:
    with pytest.raises(checks.CheckFailed) as info:
        check(*args, **kwargs)
    assert_no_fix(str(info.value))
    return info.value.tag, str(info.value)


def tagging_view(logits, y):
    N, T, V = logits.shape
    return F.cross_entropy(logits.view(N, V, T), y)


def tagging_time_major(logits, y):
    return F.cross_entropy(logits.transpose(0, 1).reshape(-1, logits.shape[-1]), y.reshape(-1))


def tagging_softmax(logits, y):
    return F.cross_entropy(logits.softmax(-1).permute(0, 2, 1), y)


def tagging_per_sequence(logits, y):
    return F.cross_entropy(logits.permute(0, 2, 1), y, reduction="sum") / logits.shape[0]


@pytest.mark.parametrize("wrong, tag", [(tagging_view, "reshape-scrambles"), (tagging_time_major, "misaligned"),
                                        (tagging_softmax, "softmax-before-loss"),
                                        (tagging_per_sequence, "per-sequence-sum")])
def test_check_token_loss_names_the_mistake_of_a_tagging_loss(wrong, tag):
    logits, y, _ = checks.token_batch(3, 7, 5, seed=6)
    args = {"logits": logits, "y": y}
    checks.check_token_loss(permute_loss, references.reference_token_cross_entropy, args)
    assert tag_of(checks.check_token_loss, wrong, references.reference_token_cross_entropy, args)[0] == tag


def masked_per_sequence(logits, y, lengths):
    mask = checks.padding_mask(lengths, y.shape[1])
    return ((F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none") * mask).sum(1) / lengths).mean()


def masked_ignore_zero(logits, y, lengths):
    return F.cross_entropy(logits.permute(0, 2, 1), y, ignore_index=0)


def masked_no_mask(logits, y, lengths):
    return F.cross_entropy(logits.permute(0, 2, 1), y)


def masked_in_place(logits, y, lengths):            # the right value, but the caller's y is changed
    y[~checks.padding_mask(lengths, y.shape[1])] = -100
    return F.cross_entropy(logits.permute(0, 2, 1), y)


@pytest.mark.parametrize("wrong, tag", [(masked_mean_wrong, "counts-padding"),
                                        (masked_no_mask, "counts-padding"),
                                        (masked_per_sequence, "per-sequence-mean"),
                                        (masked_ignore_zero, "drops-real-tokens"),
                                        (masked_in_place, "mutates-input")])
def test_check_token_loss_names_the_mistake_of_a_masked_loss(wrong, tag):
    logits, y, lengths = checks.token_batch(5, 6, 4, seed=7, pad=0)
    args = {"logits": logits, "y": y, "lengths": lengths}
    reference = references._masked_token_cross_entropy              # right padding (EXPECTED's is left)
    checks.check_token_loss(masked_mean_fix, reference, args)
    assert tag_of(checks.check_token_loss, wrong, reference, args)[0] == tag


def accuracy_fix(logits, y):
    real = y != -100
    return (logits.argmax(-1)[real] == y[real]).float().mean().item()


def accuracy_tensor(logits, y):
    real = y != -100
    return ((logits.argmax(-1) == y) & real).sum() / real.sum()


def accuracy_grid(logits, y):
    return (logits.argmax(-1) == y).float().mean().item()


def accuracy_per_sequence(logits, y):
    real = y != -100
    return (((logits.argmax(-1) == y) & real).sum(1) / real.sum(1)).float().mean().item()


def accuracy_percent(logits, y):
    return 100 * accuracy_fix(logits, y)


def accuracy_in_place(logits, y):                   # the right value, but the caller's y is changed
    y[y == -100] = -1
    return accuracy_fix(logits, y.masked_fill(y == -1, -100))


@pytest.mark.parametrize("wrong, tag", [(accuracy_tensor, "not-a-float"), (accuracy_grid, "counts-padding"),
                                        (accuracy_per_sequence, "per-sequence-mean"),
                                        (accuracy_percent, "percentage"),
                                        (accuracy_in_place, "mutates-input")])
def test_check_token_metric_names_the_mistake(wrong, tag):
    logits, y, _ = checks.token_batch(5, 7, 3, seed=8, pad=-100)
    args = {"logits": logits, "y": y}
    assert checks.check_token_metric(accuracy_fix, references.reference_token_accuracy, args) \
        == pytest.approx(references.reference_token_accuracy(logits, y))
    assert tag_of(checks.check_token_metric, wrong, references.reference_token_accuracy, args)[0] == tag


# ---------------------------------------------------------------------- models: shape, independence, state
class SumSign(nn.Module):
    def __init__(self, batch_first=True, read="out[:, -1]"):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.GRU(4, 8, batch_first=batch_first)
        self.head = nn.Linear(8, 2)
        self.read = read

    def forward(self, X):
        out, h_n = self.rnn(X)
        last = {"out[:, -1]": lambda: out[:, -1], "out[-1]": lambda: out[-1],
                "squeeze": lambda: h_n.squeeze()}
        return self.head(last[self.read]())


def test_check_sequence_output_names_the_axis_that_is_off():
    X = torch.randn(7, 5, 4)
    checks.check_sequence_output(SumSign(), X, (7, 2))
    tag, message = tag_of(checks.check_sequence_output, SumSign(read="out[-1]"), X, (7, 2))
    assert tag == "output-shape" and "(5, 2)" in message and "time steps" in message
    one = torch.randn(1, 5, 4)
    tag, message = tag_of(checks.check_sequence_output, SumSign(read="squeeze"), one, (1, 2))
    assert tag == "output-shape" and "N = 1" in message


class Tagger(nn.Module):
    """A TokenTagger with a choice of initial state."""

    def __init__(self, state="zeros", stored=16):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.rnn = nn.Embedding(10, 6), nn.GRU(6, 12, batch_first=True)
        self.head = nn.Linear(12, 3)
        self.state, self.h0 = state, torch.zeros(1, stored, 12)
        self.learned = nn.Parameter(0.1 * torch.randn(1, 1, 12))

    def forward(self, X):
        N = X.shape[0]
        h0 = {"zeros": lambda: torch.zeros(1, N, 12), "none": lambda: None, "stored": lambda: self.h0,
              "random": lambda: torch.randn(1, N, 12),
              "learned": lambda: self.learned.expand(-1, N, -1).contiguous(),
              "time": lambda: torch.zeros(1, X.shape[1], 12),
              "batch-first": lambda: torch.zeros(N, 1, 12)}[self.state]()
        out, _ = self.rnn(self.embed(X), h0) if h0 is not None else self.rnn(self.embed(X))
        return self.head(out)


def test_check_samples_independent_tells_randomness_from_mixing_and_handles_ids():
    X = torch.randn(6, 5, 4)
    checks.check_samples_independent(SumSign(), X)
    assert tag_of(checks.check_samples_independent, SumSign(batch_first=False), X)[0] == "batch-mixing"
    ids, _ = checks.tagging_data(7, 5, 10, seed=1)          # ids 1..9: a changed row stays in range
    checks.check_samples_independent(Tagger("zeros"), ids)
    tag, message = tag_of(checks.check_samples_independent, Tagger("random"), ids)
    assert tag == "not-deterministic" and "same X" in message


@pytest.mark.parametrize("state, tag", [("learned", "nonzero-initial-state"),
                                        ("random", "nonzero-initial-state")])
def test_check_zero_initial_state(state, tag):
    ids, _ = checks.tagging_data(5, 6, 10, seed=2)
    checks.check_zero_initial_state(Tagger("zeros"), ids)
    checks.check_zero_initial_state(Tagger("none"), ids)
    assert tag_of(checks.check_zero_initial_state, Tagger(state), ids)[0] == tag

    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Tagger("zeros")

        def forward(self, X):
            return self.inner(X)

    assert tag_of(checks.check_zero_initial_state, Renamed(), ids)[0] == "layers-changed"


@pytest.mark.parametrize("state, words", [("stored", "built for a batch of 16"), ("time", "time steps"),
                                          ("batch-first", "dim 0")])
def test_call_sequence_model_says_which_axis_of_the_state_is_off(state, words):
    ids, _ = checks.tagging_data(5, 7, 10, seed=3)
    tag, message = tag_of(checks.call_sequence_model, Tagger(state), {"X": ids})
    assert tag == "hidden-state-batch" and words in message


def test_call_sequence_model_explains_token_ids_and_a_small_table():
    ids, _ = checks.tagging_data(4, 6, 12, seed=4)
    gru = nn.GRU(1, 4, batch_first=True)
    tag, message = tag_of(checks.call_sequence_model, lambda X: gru(X.unsqueeze(-1)), {"X": ids})
    assert tag == "token-ids-into-rnn" and "not an amount" in message
    tag, message = tag_of(checks.call_sequence_model, nn.Embedding(5, 3), {"X": ids})
    assert tag == "id-out-of-range" and f"to {int(ids.max())}" in message


# ---------------------------------------------------------------------- encoder-decoder: lengths, training
def shifted_back(model, src, tgt):  # reads t1.., scored against BOS..
    _, state = model.encode(src)
    return F.cross_entropy(model.decode(tgt[:, 1:], state).permute(0, 2, 1), tgt[:, :-1])


def in_place_bos(model, src, tgt):  # the right value, but it writes into the caller's tgt
    value = teacher_forcing(model, src, tgt)
    tgt[:, 0] = 0
    return value


def test_check_model_loss_names_the_two_lengths_and_the_mistake():
    torch.manual_seed(0)
    model = EncDec()
    src, tgt = checks.reversal_data(4, 6, 4, 8)                       # S = 6, T = 5
    args = {"src": src, "tgt": tgt}
    reference = references.reference_teacher_forcing_loss
    tag, message = tag_of(checks.check_model_loss, encoder_only, reference, model, args)
    assert tag == "source-target-length" and "S = 6" in message and "T = 5" in message
    assert "Seq2Seq, not a tensor" not in message and "model a" not in message
    for wrong, want in ((no_shift, "no-shift"), (shifted_back, "shift-reversed"),
                        (in_place_bos, "mutates-input")):
        assert tag_of(checks.check_model_loss, wrong, reference, model,
                      {"src": src.clone(), "tgt": tgt.clone()})[0] == want


def test_check_seq2seq_trains_fails_a_loss_without_the_shift_and_passes_teacher_forcing():
    train = [checks.reversal_data(64, 5, 3, 8, seed=100 + step) for step in range(80)]
    test = checks.reversal_data(128, 5, 3, 8, seed=13)
    torch.manual_seed(0)
    accuracy = checks.check_seq2seq_trains(teacher_forcing, EncDec(), train, test, min_accuracy=0.8)
    assert accuracy >= 0.8
    torch.manual_seed(0)
    assert tag_of(checks.check_seq2seq_trains, no_shift, EncDec(), train, test, steps=20,
                  min_accuracy=0.8)[0] == "does-not-learn"


# ====================================================================== issue 13: the exercises that need transfer
# ---------------------------------------------------------------------- 1 · frames of a time-first model
def frame_fix(log_probs, y):
    return F.nll_loss(log_probs.permute(1, 2, 0), y)


def frame_flat_both(log_probs, y):                  # the starter: time-major against batch-major
    return F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), y.reshape(-1))


def frame_view(log_probs, y):
    T, N, C = log_probs.shape
    return F.nll_loss(log_probs.view(N, C, T), y)


def frame_labels_reshaped(log_probs, y):
    T, N, _ = log_probs.shape
    return F.nll_loss(log_probs.permute(0, 2, 1), y.reshape(T, N))


def frame_probabilities(log_probs, y):
    return F.nll_loss(log_probs.exp().permute(1, 2, 0), y)


def frame_cross_entropy(log_probs, y):             # log_softmax of log-probabilities changes nothing: right
    return F.cross_entropy(log_probs.permute(0, 2, 1), y.T)


def test_frame_data_and_the_frame_reference():
    log_probs, y = checks.frame_batch(3, 5, 4, seed=1)
    assert log_probs.shape == (5, 3, 4) and y.shape == (3, 5)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(5, 3))
    want = F.nll_loss(log_probs.permute(1, 2, 0), y)
    assert torch.allclose(references.reference_frame_nll(log_probs, y), want, atol=1e-6)
    X, y = checks.frame_data(6, 4, 3, seed=2)
    assert X.shape == (4, 6, 6) and y.shape == (6, 4)
    assert checks.tiny_frame_tagger(6, 3)(X).shape == (4, 6, 3)


@pytest.mark.parametrize("wrong, tag", [(frame_flat_both, "misaligned"), (frame_view, "reshape-scrambles"),
                                        (frame_labels_reshaped, "misaligned"),
                                        (frame_probabilities, "probabilities")])
def test_check_frame_loss_names_the_mistake(wrong, tag):
    log_probs, y = checks.frame_batch(4, 6, 5, seed=1)
    args = {"log_probs": log_probs, "y": y}
    checks.check_frame_loss(frame_fix, references.reference_frame_nll, args)
    checks.check_frame_loss(frame_cross_entropy, references.reference_frame_nll, args)
    assert tag_of(checks.check_frame_loss, wrong, references.reference_frame_nll, args)[0] == tag


def test_check_trains_tokens_reads_a_time_first_model():
    X, y = checks.frame_data(48, 5, 7, seed=3)
    test = checks.frame_data(64, 5, 7, seed=4)
    result = checks.check_trains_tokens(checks.tiny_frame_tagger(6, 7), X, y, frame_fix, test=test, steps=40,
                                        min_accuracy=0.9, time_first=True)
    assert result["accuracy"] >= 0.9
    assert tag_of(checks.check_trains_tokens, checks.tiny_frame_tagger(6, 7), X, y, frame_flat_both, test=test,
                  steps=40, min_accuracy=0.9, time_first=True)[0] == "does-not-learn"


# ---------------------------------------------------------------------- 2 · a batch padded on the left
def left_fix(logits, y, lengths):
    T = y.shape[1]
    mask = torch.arange(T)[None, :] >= (T - lengths)[:, None]
    return (F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none") * mask).sum() / mask.sum()


def left_with_right_mask(logits, y, lengths):      # the starter
    return masked_mean_fix(logits, y, lengths)


def left_off_by_one(logits, y, lengths):
    T = y.shape[1]
    mask = torch.arange(T)[None, :] > (T - lengths)[:, None]
    return (F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none") * mask).sum() / mask.sum()


def left_per_sequence(logits, y, lengths):
    T = y.shape[1]
    mask = torch.arange(T)[None, :] >= (T - lengths)[:, None]
    return ((F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none") * mask).sum(1) / lengths).mean()


def test_left_padding_mask_and_batch():
    mask = checks.padding_mask(torch.tensor([3, 1]), 4, side="left")
    assert mask.int().tolist() == [[0, 1, 1, 1], [0, 0, 0, 1]]
    _, y, lengths = checks.token_batch(5, 6, 4, seed=3, pad=-100, side="left")
    assert bool((y[~checks.padding_mask(lengths, 6, "left")] == -100).all())


@pytest.mark.parametrize("wrong, tag", [(left_with_right_mask, "wrong-side-mask"),
                                        (left_off_by_one, "drops-real-tokens"),
                                        (masked_ignore_zero, "drops-real-tokens"),
                                        (left_per_sequence, "per-sequence-mean")])
def test_check_token_loss_on_a_left_padded_batch(wrong, tag):
    logits, y, lengths = checks.token_batch(5, 6, 4, seed=2, pad=0, side="left")
    args = {"logits": logits, "y": y, "lengths": lengths}
    reference = references.EXPECTED["masked_loss"]
    checks.check_token_loss(left_fix, reference, args, side="left")
    assert tag_of(checks.check_token_loss, wrong, reference, args, side="left")[0] == tag


def test_check_padding_invariance_adds_the_pads_on_the_left():
    logits, y, lengths = checks.token_batch(4, 6, 5, seed=4, pad=0, side="left")
    args = {"logits": logits, "y": y, "lengths": lengths}
    checks.check_padding_invariance(left_fix, args, pad_value=0, side="left")
    with pytest.raises(checks.CheckFailed, match="at the start"):
        checks.check_padding_invariance(left_with_right_mask, args, pad_value=0, side="left")


# ---------------------------------------------------------------------- 3 · a pooled sentence vector
class Pooled(nn.Module):
    def __init__(self, how="masked"):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.rnn, self.head = nn.Embedding(10, 6), nn.GRU(6, 8, batch_first=True), nn.Linear(8, 3)
        self.how = how

    def forward(self, X, lengths):
        out, _ = self.rnn(self.embed(X))
        real = (torch.arange(X.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        return self.head({"masked": lambda: (out * real).sum(1) / lengths[:, None],
                          "mean": lambda: out.mean(1), "last": lambda: out[:, -1],
                          "over T": lambda: (out * real).sum(1) / X.shape[1],
                          "batch": lambda: (out * real).sum(1) / real.sum(),
                          "squeeze": lambda: ((out * real).sum(1) / lengths[:, None]).squeeze()}[self.how]())


@pytest.mark.parametrize("how, tag", [("mean", "counts-padding"), ("last", "state-after-padding"),
                                      ("over T", "counts-padding"), ("batch", "batch-count")])
def test_check_pooled_classifier_names_the_pooling(how, tag):
    X, lengths = checks.padded_sentences(5, 7, 10, seed=2)
    assert bool((X[~checks.padding_mask(lengths, 7)] == 0).all()) and bool((X[checks.padding_mask(lengths, 7)] > 0).all())
    checks.check_pooled_classifier(Pooled(), X, lengths, 3)
    assert tag_of(checks.check_pooled_classifier, Pooled(how), X, lengths, 3)[0] == tag


def test_check_pooled_classifier_on_one_sentence_and_renamed_layers():
    X = torch.tensor([[4, 9, 0, 0, 0]])
    tag, message = tag_of(checks.check_pooled_classifier, Pooled("squeeze"), X, torch.tensor([2]), 3)
    assert tag == "output-shape" and "N = 1" in message

    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Pooled()

        def forward(self, X, lengths):
            return self.inner(X, lengths)

    assert tag_of(checks.check_pooled_classifier, Renamed(), X, torch.tensor([2]), 3)[0] == "layers-changed"


# ---------------------------------------------------------------------- 4 · windows stored channels first
class Motion(nn.Module):
    def __init__(self, batch_first=True, feed="permute(0, 2, 1)", read="out[:, -1]"):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.LSTM(3, 8, batch_first=batch_first), nn.Linear(8, 2)
        self.feed, self.read = feed, read

    def forward(self, X):
        N, F_in, T = X.shape
        steps = {"permute(0, 2, 1)": lambda: X.permute(0, 2, 1), "permute(2, 0, 1)": lambda: X.permute(2, 0, 1),
                 "view": lambda: X.view(N, T, F_in)}[self.feed]()
        out, (h_n, _) = self.rnn(steps)
        return self.head({"out[-1]": lambda: out[-1], "out[:, -1]": lambda: out[:, -1],
                          "h_n[-1]": lambda: h_n[-1], "out[:, 0]": lambda: out[:, 0]}[self.read]())


def test_check_window_classifier_passes_both_layouts_and_names_the_mistake():
    X, y = checks.motion_windows(6, 5, seed=1)
    assert X.shape == (6, 3, 5) and y.shape == (6,)
    assert torch.equal(y, (X[:, 0].sum(1) > 0).long())
    for good in (Motion(), Motion(read="h_n[-1]"), Motion(False, "permute(2, 0, 1)", "out[-1]"),
                 Motion(False, "permute(2, 0, 1)", "h_n[-1]")):
        checks.check_window_classifier(good, X)
    tag, message = tag_of(checks.check_window_classifier, Motion(feed="view"), X)
    assert tag == "reshape-scrambles" and "memory order" in message
    tag, message = tag_of(checks.check_window_classifier, Motion(False, "permute(0, 2, 1)", "h_n[-1]"), X)
    assert tag == "output-shape" and "time-first (the default)" in message and "N = 6 windows in dim 0" in message
    tag, message = tag_of(checks.check_window_classifier, Motion(read="out[-1]"), X)
    assert tag == "output-shape" and "built batch-first" in message and "T = 5 time steps in dim 2" in message
    assert tag_of(checks.check_window_classifier, Motion(read="out[:, 0]"), X)[0] == "wrong-value"
    tag, message = tag_of(checks.check_window_classifier, Motion(feed="permute(2, 0, 1)"), X)
    assert tag == "output-shape"
    tag, message = tag_of(checks.check_window_classifier, Motion(feed="permute(2, 0, 1)", read="h_n[-1]"), X)
    assert tag == "output-shape"


def test_an_unpermuted_window_batch_is_explained_by_the_dim_that_holds_the_features():
    X, _ = checks.motion_windows(6, 9, seed=1)                       # (6, 3, 9)

    class Unpermuted(Motion):
        def forward(self, X):
            out, _ = self.rnn(X)
            return self.head(out[:, -1])

    tag, message = tag_of(checks.check_window_classifier, Unpermuted(), X)
    assert tag == "rnn-input-size" and "Expected 3, got 9" in message and "3 is the size of dim 1" in message


def test_check_sequence_output_refuses_a_model_that_changes_its_input():
    class InPlace(nn.Module):
        def forward(self, X):
            X[..., 0] = 0.0
            return X.mean(1)

    assert tag_of(checks.check_sequence_output, InPlace(), torch.randn(4, 5, 2), (4, 2))[0] == "mutates-input"


# ---------------------------------------------------------------------- 5 · an initial state from features
class Caption(nn.Module):
    def __init__(self, how="transpose", layers=2, hidden=6):
        super().__init__()
        torch.manual_seed(0)
        self.layers, self.hidden, self.how = layers, hidden, how
        self.init_state = nn.Linear(4, layers * hidden)
        self.embed, self.rnn = nn.Embedding(7, 5), nn.GRU(5, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 7)

    def forward(self, feats, X):
        s = self.init_state(feats)
        L, H = self.layers, self.hidden
        h0 = {"transpose": lambda: s.view(-1, L, H).transpose(0, 1).contiguous(),
              "view": lambda: s.view(L, -1, H), "stack": lambda: torch.stack(s.split(H, dim=1)),
              "first layer only": lambda: torch.stack([s[:, :H]] + [torch.zeros_like(s[:, :H])] * (L - 1))}[self.how]()
        return self.head(self.rnn(self.embed(X), h0)[0])


@pytest.mark.parametrize("how, tag", [("view", "reshape-scrambles"), ("first layer only", "wrong-value")])
def test_check_conditioned_decoder(how, tag):
    feats, X = torch.randn(5, 4), torch.randint(0, 7, (5, 3))
    for good in ("transpose", "stack"):
        checks.check_conditioned_decoder(Caption(good), feats, X, layers=2, hidden=6)
    assert tag_of(checks.check_conditioned_decoder, Caption(how), feats, X, layers=2, hidden=6)[0] == tag
    checks.check_conditioned_decoder(Caption("view", layers=1), feats, X, layers=1, hidden=6)   # one layer: same


# ---------------------------------------------------------------------- 6 · an id stored as a float
def test_station_data_needs_the_identity_of_a_station():
    X, y = checks.station_data(8, 5, 12, seed=1)
    assert X.shape == (8, 5, 2) and y.shape == (8, 5) and X.dtype == torch.float32
    ids = X[..., 0]
    assert bool((ids == ids.round()).all()) and 0 <= int(ids.min()) and int(ids.max()) < 12
    assert set(y.unique().tolist()) <= {0, 1, 2}


class Station(nn.Module):
    def __init__(self, n_stations, embed=True):
        super().__init__()
        self.embed = nn.Embedding(n_stations, 8) if embed else None
        self.rnn, self.head = nn.GRU(9 if embed else 2, 16, batch_first=True), nn.Linear(16, 3)

    def forward(self, X):
        steps = torch.cat([self.embed(X[..., 0].long()), X[..., 1:]], -1) if self.embed is not None else X
        return self.head(self.rnn(steps)[0])


def test_check_trains_tokens_says_when_the_ids_are_read_as_amounts():
    X, y = checks.station_data(256, 5, 10, seed=2)
    test = checks.station_data(256, 5, 10, seed=3)
    torch.manual_seed(0)
    checks.check_trains_tokens(Station(10), X, y, checks.token_cross_entropy, test=test, steps=40,
                               min_accuracy=0.85, id_column=0)
    torch.manual_seed(0)
    tag, message = tag_of(checks.check_trains_tokens, Station(10, embed=False), X, y, checks.token_cross_entropy,
                          test=test, steps=40, min_accuracy=0.85, id_column=0)
    assert tag == "ids-as-amounts" and "(256, 5, 2) float32" in message and "as values in column 0" in message


def test_confident_frames_are_sure_and_right_on_every_frame():
    _, y = checks.frame_batch(3, 5, 4, seed=1)
    log_probs = checks.confident_frames(y, 4)
    assert log_probs.shape == (5, 3, 4)
    assert torch.equal(log_probs.argmax(-1), y.T) and float(references.reference_frame_nll(log_probs, y)) < 1e-3


def test_report_training_prints_what_it_measured(capsys):
    X, y = checks.tagging_data(32, 5, 6, seed=1)
    result = checks.report_training(checks.tiny_tagger(6, 6), (X, y), checks.tagging_data(32, 5, 6, seed=2), steps=3)
    assert set(result) == {"loss", "train_accuracy", "test_accuracy"} and "after 3 Adam steps" in capsys.readouterr().out


# ---------------------------------------------------------------------- 7 · targets padded with -100
def padded_fix(model, src, tgt):
    _, state = model.encode(src)
    return F.cross_entropy(model.decode(tgt[:, :-1].clamp(min=0), state).permute(0, 2, 1), tgt[:, 1:])


def padded_unmasked(model, src, tgt):                # the starter: -100 into the embedding
    return teacher_forcing(model, src, tgt)


def padded_counted(model, src, tgt):
    tgt = tgt.clamp(min=0)
    return teacher_forcing(model, src, tgt)


def test_padded_targets_data_and_reference():
    src, tgt = checks.padded_reversal_data(6, 5, 3, 8, seed=5)
    assert src.shape == (6, 5) and tgt.shape == (6, 4) and bool((tgt[:, 0] == 1).all())
    assert bool((tgt[0] != -100).all()) and bool((tgt == -100).any())
    src, tgt = checks.seq2seq_batch(4, 3, 6, 8, seed=1)
    assert src.shape == (4, 3) and tgt.shape == (4, 6) and bool((tgt[:, 1] != -100).all())
    torch.manual_seed(0)
    model = EncDec()
    assert torch.allclose(references.reference_padded_teacher_forcing(model, src, tgt), padded_fix(model, src, tgt),
                          atol=1e-6)


@pytest.mark.parametrize("wrong, tag", [(padded_unmasked, "pad-into-embedding"), (padded_counted, "counts-padding")])
def test_check_model_loss_on_padded_targets(wrong, tag):
    torch.manual_seed(0)
    model = EncDec()
    src, tgt = checks.padded_reversal_data(4, 6, 4, 8, seed=3)
    args = {"src": src, "tgt": tgt}
    checks.check_model_loss(padded_fix, references.reference_padded_teacher_forcing, model, args)
    assert tag_of(checks.check_model_loss, wrong, references.reference_padded_teacher_forcing, model, args)[0] == tag


# ---------------------------------------------------------------------- 8 · a language model's loss
class LM(nn.Module):
    def __init__(self, V=9):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(V, 8), nn.GRU(8, 16, batch_first=True), nn.Linear(16, V)

    def forward(self, x):
        return self.head(self.rnn(self.embed(x))[0])


def lm_fix(model, x):
    return F.cross_entropy(model(x[:, :-1]).permute(0, 2, 1), x[:, 1:])


def lm_copy(model, x):
    return F.cross_entropy(model(x).permute(0, 2, 1), x)


def lm_previous(model, x):
    return F.cross_entropy(model(x)[:, 1:].permute(0, 2, 1), x[:, :-1])


def lm_roll(model, x):
    return F.cross_entropy(model(x).permute(0, 2, 1), x.roll(-1, dims=1))


def test_counting_data_and_greedy_continuation():
    x = checks.counting_data(5, 6, 11, seed=2)
    steps = (x[:, 1:] - x[:, :-1]) % 11
    assert x.shape == (5, 6) and bool((steps == steps[:, :1]).all()) and set(steps[:, 0].tolist()) <= {1, 2, 3}
    torch.manual_seed(0)
    assert checks.continue_greedy(LM(11), x[:, :3], 4).shape == (5, 4)


@pytest.mark.parametrize("wrong, tag", [(lm_copy, "no-shift"), (lm_previous, "shift-reversed"),
                                        (lm_roll, "wrap-around")])
def test_check_model_loss_names_a_language_model_mistake(wrong, tag):
    torch.manual_seed(0)
    model = LM()
    x = checks.counting_data(4, 6, 9, seed=5)
    checks.check_model_loss(lm_fix, references.reference_next_token_loss, model, {"x": x})
    found, message = tag_of(checks.check_model_loss, wrong, references.reference_next_token_loss, model, {"x": x})
    assert found == tag and "one prefix at a time" in message


def test_check_lm_trains_fails_a_copying_loss_whose_value_reaches_zero():
    train = [checks.counting_data(64, 8, 10, seed=100 + step) for step in range(60)]
    test = checks.counting_data(128, 8, 10, seed=999)
    torch.manual_seed(0)
    assert checks.check_lm_trains(lm_fix, LM(10), train, test) >= 0.9
    torch.manual_seed(0)
    tag, message = tag_of(checks.check_lm_trains, lm_copy, LM(10), train, test)
    assert tag == "does-not-learn" and "loss near 0" in message


# ---------------------------------------------------------------------- 8 · the same, time-first
class TimeFirstLM(nn.Module):
    def __init__(self, V=9):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(V, 8), nn.GRU(8, 16), nn.Linear(16, V)

    def forward(self, x):                                    # x (T, N) -> (T, N, V)
        return self.head(self.rnn(self.embed(x))[0])


def tf_fix(model, x):
    return F.cross_entropy(model(x[:-1]).permute(1, 2, 0), x[1:].T)


def tf_flat(model, x):
    logits = model(x[:-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[1:].reshape(-1))


def tf_copy(model, x):
    return F.cross_entropy(model(x).permute(1, 2, 0), x.T)


def tf_batch_shift(model, x):
    return F.cross_entropy(model(x[:, :-1]).permute(1, 2, 0), x[:, 1:].T)


def tf_previous(model, x):
    return F.cross_entropy(model(x)[1:].permute(1, 2, 0), x[:-1].T)


def tf_roll(model, x):
    return F.cross_entropy(model(x).permute(1, 2, 0), x.roll(-1, dims=0).T)


def tf_misaligned(model, x):
    logits = model(x[:-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[1:].T.reshape(-1))


def test_time_first_counting_data_reference_and_continuation():
    x = checks.counting_data(5, 6, 11, seed=2)
    assert torch.equal(checks.counting_data(5, 6, 11, seed=2, time_first=True), x.T)
    torch.manual_seed(0)
    model = TimeFirstLM(11)
    batch_first = checks.continue_greedy(lambda ids: model(ids.T).transpose(0, 1), x[:, :3], 4)   # (5, 4)
    assert torch.equal(checks.continue_greedy(model, x[:, :3].T, 4, time_first=True), batch_first.T)
    want = references.reference_next_token_loss(lambda ids: model(ids.T).transpose(0, 1), x)
    assert torch.allclose(references.reference_next_token_loss_time_first(model, x.T), want, atol=1e-6)


@pytest.mark.parametrize("wrong, tag", [(tf_copy, "no-shift"), (tf_batch_shift, "shift-on-batch"),
                                        (tf_previous, "shift-reversed"), (tf_roll, "wrap-around"),
                                        (tf_misaligned, "misaligned")])
def test_check_model_loss_names_a_time_first_language_model_mistake(wrong, tag):
    torch.manual_seed(0)
    model = TimeFirstLM()
    x = checks.counting_data(4, 6, 9, seed=5, time_first=True)     # (6, 4)
    ref = references.reference_next_token_loss_time_first
    for good in (tf_fix, tf_flat):
        checks.check_model_loss(good, ref, model, {"x": x}, time_first=True)
    found, message = tag_of(checks.check_model_loss, wrong, ref, model, {"x": x}, time_first=True)
    assert found == tag and "one prefix at a time" in message


def test_check_lm_trains_time_first():
    train = [checks.counting_data(64, 8, 10, seed=100 + step, time_first=True) for step in range(60)]
    test = checks.counting_data(128, 8, 10, seed=999, time_first=True)
    torch.manual_seed(0)
    assert checks.check_lm_trains(tf_fix, TimeFirstLM(10), train, test, time_first=True) >= 0.9
    torch.manual_seed(0)
    tag, message = tag_of(checks.check_lm_trains, tf_copy, TimeFirstLM(10), train, test, time_first=True)
    assert tag == "does-not-learn" and "loss near 0" in message


# ---------------------------------------------------------------------- 9 · predictions
def test_predicted_ner_shapes_come_from_the_described_tagger():
    shapes = references.predicted_ner_shapes()
    assert shapes["shape_h_n"] == (6, 27, 36) and shapes["shape_unpacked"] == (27, 37, 72)
    assert shapes["shape_out_minus_1"] == (41, 72) and shapes["shape_last_real"] == (27, 1, 72)
    with pytest.raises(checks.CheckFailed, match="1 of 9 predictions missed"):
        checks.check_predictions({**shapes, "shape_h_n": (27, 6, 36)}, shapes, {})
