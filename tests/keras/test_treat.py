"""GradmedicCallback(treat=True): the cures Keras supports in flight, each recorded as a Treatment."""

from __future__ import annotations

import numpy as np

from gradmedic.keras import GradmedicCallback

from .nets import dense_stack, fit


def test_overflowing_run_gets_a_lower_rate_and_the_nonfinite_guard() -> None:
    # at lr 50 the early divergence rule now catches the run before any NaN; at 1e8 the first steps overflow
    model = dense_stack("relu", 3, lr=1e8)
    callback = GradmedicCallback(console=False, treat=True)
    fit(model, callback, epochs=1)
    report = callback.report
    remedies = {t.remedy for t in report.treatments}
    assert {"lower_lr", "skip_nonfinite"} <= remedies
    assert float(np.array(model.optimizer.learning_rate)) < 1e8
    assert all(np.isfinite(w).all() for w in model.get_weights())  # updates with NaN gradients were skipped
    first = report.treatments[0]
    assert first.kind == "non_finite" and first.reason and first.reverse
    non_finite = next(d for d in report.diagnoses if d.kind == "non_finite")
    assert any(r.applied for r in non_finite.remedies)


def test_a_run_diverging_early_is_caught_before_it_overflows_and_slowed() -> None:
    model = dense_stack("relu", 3, lr=50.0)
    callback = GradmedicCallback(console=False, treat=True)
    fit(model, callback, epochs=1)
    first = callback.report.treatments[0]
    assert first.kind in ("loss_divergence", "exploding_gradients", "non_finite") and first.remedy == "lower_lr"
    assert float(np.array(model.optimizer.learning_rate)) < 50.0
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_exploding_run_is_clipped_at_the_learned_threshold() -> None:
    model = dense_stack("relu", 3, lr=3.0)
    callback = GradmedicCallback(console=False, treat=True)
    fit(model, callback, epochs=1)
    clip = next(t for t in callback.report.treatments if t.remedy == "clip_grad_norm")
    assert clip.kind == "exploding_gradients"
    assert model.optimizer.global_clipnorm == clip.after["global_clipnorm"] > 0


def test_healthy_run_is_left_untreated() -> None:
    model = dense_stack("relu", 3, lr=0.05)
    callback = GradmedicCallback(console=False, treat=True)
    fit(model, callback, epochs=1)
    assert not callback.report.treatments
    assert float(np.array(model.optimizer.learning_rate)) == np.float32(0.05)
    assert model.optimizer.global_clipnorm is None
