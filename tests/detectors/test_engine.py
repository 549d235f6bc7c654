"""Engine: standing findings per kind, first step kept, severity only up, explain-away of vanishing by dead units."""

from __future__ import annotations

from gradmedic.config import Config
from gradmedic.detectors.engine import Engine
from gradmedic.kinds import get_kind
from gradmedic.records import DEAD, EXPLODING, NON_FINITE, SATURATED, VANISHING

from .helpers import alive, make_step, stack

CFG = Config()
UNITS = 100
LAYERS = stack(5, units=UNITS)
HEALTHY = [0.5, 0.6, 0.8, 0.9, 1.0]
VANISH = [1e-5, 1e-5, 1e-4, 1e-2, 1.0]  # warning
VANISH_ERROR = [1e-5, 1e-8, 1e-8, 1e-2, 1.0]  # error


def step(i, rms, dead=0):
    acts = {f"fc{k}": alive(UNITS) for k in range(4)}
    acts["fc1"] = alive(UNITS, dead=dead)
    return make_step(10 * i, rms, acts=acts)


def feed(engine, steps):
    """Update the engine with each step; return the list of changed findings per update."""
    return [engine.update(s, LAYERS) for s in steps]


def test_stable_kinds_are_registered():
    assert {VANISHING, EXPLODING, DEAD, SATURATED, NON_FINITE} <= set(Engine(CFG).kinds)


def test_healthy_run_raises_nothing():
    engine = Engine(CFG)
    assert all(changed == [] for changed in feed(engine, [step(i, HEALTHY) for i in range(30)]))
    assert engine.findings == {}


def test_finding_raised_once_and_kept():
    engine = Engine(CFG)
    changes = feed(engine, [step(i, VANISH) for i in range(CFG.window)])
    assert all(c == [] for c in changes[:-1])
    assert [f.kind for f in changes[-1]] == [VANISHING]
    raised = engine.findings[VANISHING]
    assert raised.first_step == 0
    # the problem goes on, then clears: nothing new is reported and the finding is kept
    changes = feed(engine, [step(i, VANISH) for i in range(CFG.window, 15)])
    changes += feed(engine, [step(i, HEALTHY) for i in range(15, 30)])
    assert all(c == [] for c in changes)
    assert VANISHING in engine.findings
    assert engine.findings[VANISHING].first_step == 0
    assert engine.findings[VANISHING].severity == "warning"


def test_first_step_stays_at_original():
    engine = Engine(CFG)
    feed(engine, [step(i, HEALTHY) for i in range(3)])
    feed(engine, [step(i, VANISH) for i in range(3, 20)])
    kept = engine.findings[VANISHING]
    assert kept.first_step == 30
    assert kept.step == 190  # the latest step is updated
    # the detector alone only sees the last window
    detect = get_kind(VANISHING).detect  # type: ignore[union-attr]
    assert detect is not None
    fresh = detect(list(engine.history), LAYERS, CFG)
    assert fresh is not None
    assert fresh.first_step == 10 * (20 - CFG.window)


def test_severity_only_goes_up_and_worsening_is_reported_once():
    engine = Engine(CFG)
    feed(engine, [step(i, VANISH) for i in range(CFG.window)])
    assert engine.findings[VANISHING].severity == "warning"

    changes = feed(engine, [step(i, VANISH_ERROR) for i in range(6, 18)])
    worsened = [f for c in changes for f in c]
    assert len(worsened) == 1
    assert worsened[0].kind == VANISHING
    assert worsened[0].severity == "error"
    assert worsened[0].first_step == 0
    error_evidence = engine.findings[VANISHING].evidence

    # milder again: severity and evidence stay at the worst, nothing is reported
    changes = feed(engine, [step(i, VANISH) for i in range(18, 30)])
    assert all(c == [] for c in changes)
    assert engine.findings[VANISHING].severity == "error"
    assert engine.findings[VANISHING].evidence == error_evidence
    assert engine.findings[VANISHING].first_step == 0


def test_non_finite_is_reported_at_once():
    engine = Engine(CFG)
    feed(engine, [step(i, HEALTHY) for i in range(3)])
    changed = engine.update(make_step(30, HEALTHY, layer_fields={"fc2": {"nonfinite_grad": True}}), LAYERS)
    assert [f.kind for f in changed] == [NON_FINITE]
    assert changed[0].first_step == 30


def test_vanishing_explained_by_dead_units_when_both_fire():
    engine = Engine(CFG)
    changes = feed(engine, [step(i, VANISH, dead=95) for i in range(CFG.window)])
    raised = {f.kind: f for f in changes[-1]}
    assert set(raised) == {VANISHING, DEAD}
    assert raised[DEAD].severity == "error"
    assert raised[VANISHING].severity == "info"
    assert raised[VANISHING].evidence["explained_by"] == DEAD
    assert "ratio_to_output" in raised[VANISHING].evidence  # the original evidence is kept
    assert engine.findings[VANISHING].severity == "info"


def test_info_level_dead_units_explain_nothing():
    engine = Engine(CFG)
    feed(engine, [step(i, VANISH, dead=30) for i in range(CFG.window)])
    assert engine.findings[DEAD].severity == "info"
    assert engine.findings[VANISHING].severity == "warning"
    assert "explained_by" not in engine.findings[VANISHING].evidence


def _vanishing_then_dead():
    """Hysteresis differs: vanishing needs 5 of 6 steps, dead units all 6, so vanishing comes one update first."""
    engine = Engine(CFG)
    changes = feed(engine, [step(0, HEALTHY)] + [step(i, VANISH, dead=95) for i in range(1, CFG.window + 1)])
    return engine, changes


def test_vanishing_can_fire_one_update_before_dead_units():
    engine, changes = _vanishing_then_dead()
    assert [f.kind for f in changes[-2]] == [VANISHING]
    assert [f.kind for f in changes[-1]] == [DEAD]
    assert engine.findings[DEAD].severity == "error"


def test_vanishing_explained_by_dead_units_that_fire_one_update_later():
    engine, _ = _vanishing_then_dead()
    assert engine.findings[VANISHING].evidence.get("explained_by") == DEAD
    assert engine.findings[VANISHING].severity == "info"


def test_history_holds_at_least_four_windows():
    assert Engine(CFG, history_size=4).history.maxlen == 4 * CFG.window
    assert Engine(CFG).history.maxlen == 64
