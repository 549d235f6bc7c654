"""Words and ranked remedies for gradients that explode through time (a recurrent weight) or through depth.

Framework-free: it reads the evidence of ``detectors/growth.py`` (spectral radius, time steps, gain per layer).
"""

from __future__ import annotations

from typing import Any, Mapping

from .config import Config
from .kinds.kind import Advice, RemedyName
from .numbers_text import sci

# the advice names the radius the in-flight cure uses at the default settings
TARGET_RADIUS = Config.treat_recurrent_radius

SNIPPET_RESCALE = """# bring the recurrent matrix's spectral radius below 1 (or re-initialise it orthogonally and scale it)
with torch.no_grad():
    w = model.get_submodule("{layer}").{param}
    radius = torch.linalg.eigvals(w).abs().max()
    w.mul_({target} / radius)                      # or: nn.init.orthogonal_(w); w.mul_({target})"""

SNIPPET_TBPTT = """# truncated backpropagation through time: backpropagate through chunks of k steps, carry the state detached
h = None
for chunk in x.split(k, dim=1):                   # x: [B, T, F], batch_first
    out, h = rnn(chunk, h)
    loss = loss_fn(head(out[:, -1]), y)
    loss.backward()
    optimizer.step(); optimizer.zero_grad()
    h = h.detach()"""

SNIPPET_GATED = (
    "rnn = nn.LSTM(input_size, hidden_size, batch_first=True)   # or nn.GRU: gates keep the gradient in range"
)


def time_text(through_time: Mapping[str, Mapping[str, Any]]) -> str:
    """'rnn.weight_hh_l0 has spectral radius 1.05 over 300 time steps (up to 2.3e+06x)', for each weight."""
    parts = [
        f"'{key}' has spectral radius {c['radius']:.3g} over {c['steps']} time steps "
        f"(the signal can grow {sci(float(c['growth']), infinite='overflow')}x)"
        for key, c in through_time.items()
    ]
    return "; ".join(parts)


def time_remedies(through_time: Mapping[str, Mapping[str, Any]], clip: float) -> list[Advice]:
    """Ranked: rescale the recurrent weight, a gated cell, truncated BPTT, then clipping once the norm is finite."""
    key, first = next(iter(through_time.items()))
    steps = int(first["steps"])
    return [
        Advice(
            RemedyName.RESCALE_RECURRENT,
            f"Rescale '{key}' to spectral radius {TARGET_RADIUS} (or re-initialise it orthogonally and scale it): "
            "below 1 the signal no longer grows with every time step.",
            SNIPPET_RESCALE.format(layer=first["layer"], param=first["param"], target=TARGET_RADIUS),
        ),
        Advice(RemedyName.GATED_RNN, "Use an LSTM or GRU: gates keep the recurrent gradient in range.", SNIPPET_GATED),
        Advice(
            RemedyName.TRUNCATED_BPTT,
            f"Backpropagate through chunks of a few dozen steps instead of all {steps} (truncated BPTT).",
            SNIPPET_TBPTT,
        ),
        Advice(
            RemedyName.CLIP_GRAD_NORM,
            f"Clip the gradient norm (at {clip:.3g}), once the gradient is finite: clipping cannot repair Inf.",
            _clip(clip),
        ),
    ]


def _clip(threshold: float) -> str:
    return f"""loss.backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={threshold:.3g})
optimizer.step()"""
