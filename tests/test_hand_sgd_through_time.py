"""A tanh RNN updated by hand (no optimizer, no clipping) whose gradient explodes through time.

The shape of pytorch/examples' word_language_model with --model RNN_TANH --lr 200 --clip 1e9 (tests/real):
the recurrent weights start with spectral radius ~0.6, the first large updates push it past 1, and from then
on the gradient of the recurrent layer compounds over the 35 time steps, until its tanh saturates and its
gradient collapses while the decoder's stays high. The explosion must be named where it grew, through time,
with the radius of the weights that made the first blown-up gradient (step 0's made the calm one).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.config import Config

VOCAB, EMBED, HIDDEN, SEQ, BATCH, STEPS, LR = 500, 32, 64, 35, 20, 12, 100.0


class WordRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, EMBED)
        self.rnn = nn.RNN(EMBED, HIDDEN, 2)  # tanh
        self.decoder = nn.Linear(HIDDEN, VOCAB)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # word_language_model's init_weights
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [SEQ, BATCH] token ids
        out, _ = self.rnn(self.encoder(x))  # [SEQ, BATCH, HIDDEN]
        return self.decoder(out)  # [SEQ, BATCH, VOCAB]


def _radius(w: torch.Tensor) -> float:
    return float(torch.linalg.eigvals(w.detach().double()).abs().max())


def _train() -> tuple[gradmedic.Report, list[float], list[dict[str, float]]]:
    """The hand-SGD run under watch(model); per step, our own global gradient norm and exact radii."""
    torch.manual_seed(0)
    model = WordRNN()
    data = torch.randint(0, VOCAB, (STEPS * SEQ + 1, BATCH))
    norms: list[float] = []
    radii: list[dict[str, float]] = []
    with gradmedic.watch(model, console=False) as monitor:
        for step in range(STEPS):
            x, y = data[step * SEQ : (step + 1) * SEQ], data[step * SEQ + 1 : (step + 1) * SEQ + 1]
            model.zero_grad()
            loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            monitor.observe_loss(loss)
            norms.append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()))
            radii.append({f"rnn.{n}": _radius(p) for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")})
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-LR)
    return monitor.report(), norms, radii


def test_a_hand_sgd_rnn_that_explodes_through_time_is_named_with_its_recurrent_cause() -> None:
    report, norms, radii = _train()
    cfg = Config()
    # the premise, measured here: a calm start with radius below 1, then a blow-up past 10x step 0's norm
    assert max(radii[0].values()) < 1.0
    onset = next(i for i, n in enumerate(norms) if n > cfg.exploding_spike_factor * norms[0])
    assert max(radii[onset].values()) ** SEQ > cfg.recurrent_growth

    exploding = next(d for d in report.diagnoses if d.kind == "exploding_gradients")
    assert exploding.layers == ("rnn",)
    in_time = exploding.evidence["through_time"]
    assert set(in_time) <= set(radii[onset]) and in_time
    for key, cause in in_time.items():  # the weights that made the first blown-up gradient, not later damage
        # a few warm-started power iterations (probe/recurrent_weights.py) estimate the radius within ~15 %;
        # the next step's weights are already several times larger
        assert cause["radius"] == pytest.approx(radii[onset][key], rel=0.25)
        assert radii[onset + 1][key] > 2 * radii[onset][key]
        assert cause["steps"] == SEQ
    assert "Gradients explode through time in 'rnn'" in exploding.message
