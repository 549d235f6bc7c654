"""The registry of failure kinds: built-in kinds found by name, user kinds added without overwriting, and a
finding of a kind nobody explains still becomes a diagnosis."""

from __future__ import annotations

import warnings
from typing import Iterator

import pytest

from gradmedic.advice import explain
from gradmedic.config import Config
from gradmedic.detectors.engine import Engine
from gradmedic.kinds import (
    Advice,
    FailureKind,
    Family,
    family_of,
    get_kind,
    register_kind,
    registered_kinds,
    unregister_kind,
)
from gradmedic.pipeline import Pipeline
from gradmedic.records import Finding, Kind
from gradmedic.report.cards import about, title
from gradmedic.sinks.base import Sink, SinkSet

from ..detectors.helpers import make_step, stack

STABLE = ["vanishing_gradients", "exploding_gradients", "dead_units", "saturated_units", "non_finite"]


def _finding(kind: str, **evidence: object) -> Finding:
    return Finding(kind=kind, severity="warning", layers=("fc1",), first_step=3, step=9, evidence=evidence)


def _explained(f: Finding, layers: object) -> tuple[str, list[Advice]]:
    return f"custom since {f.first_step}", [Advice("fix_it", "Fix it.", "fix()")]


def _always(history: object, layers: object, cfg: Config) -> Finding:
    return _finding("always_on")


ALWAYS = FailureKind(name="always_on", title="Always on", about="Fires at once.", detect=_always, explain=_explained)


@pytest.fixture
def always() -> Iterator[FailureKind]:
    register_kind(ALWAYS)
    try:
        yield ALWAYS
    finally:
        unregister_kind(ALWAYS.name)


def test_the_stable_kinds_keep_their_names_titles_and_families() -> None:
    names = [k.name for k in registered_kinds()]
    assert set(STABLE) <= set(names) and {"loss_divergence", "update_ratio"} <= set(names)
    assert [str(k) for k in Kind] == [
        *STABLE[:4],
        "non_finite",
        "loss_divergence",
        "update_ratio",
    ]
    assert Kind.DEAD == "dead_units" and f"{Kind.DEAD}" == "dead_units"
    assert title("non_finite") == "NaN or Inf" and title("loss_divergence") == "Diverging loss"
    assert family_of("exploding_gradients") == Family.UNSTABLE == "unstable"
    assert family_of("saturated_units") == "weak_signal" and family_of("update_ratio") is None
    for kind in registered_kinds():
        assert kind.title and kind.about and kind.detect is not None


def test_a_kind_of_that_name_is_refused_unless_overwrite_is_said(always: FailureKind) -> None:
    twin = FailureKind(name="always_on", title="Twin", about="", detect=None, explain=_explained)
    with pytest.raises(ValueError, match="exists already.*overwrite=True"):
        register_kind(twin)
    with pytest.raises(ValueError, match="built-in kind"):
        register_kind(FailureKind(name="dead_units", title="x", about="", detect=None, explain=_explained))
    assert register_kind(always) is always  # the same object again is no conflict
    register_kind(twin, overwrite=True)
    assert get_kind("always_on") is twin and title("always_on") == "Twin"
    with pytest.raises(ValueError, match="cannot be removed"):
        unregister_kind("dead_units")


def test_malformed_kinds_are_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match="lower-case identifier"):
        FailureKind(name="Loss Plateau", title="", about="", detect=None, explain=_explained)
    with pytest.raises(TypeError, match="explain must be a function"):
        FailureKind(name="x", title="", about="", detect=None, explain="words")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FailureKind"):
        register_kind("loss_plateau")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FailureKind"):
        Engine(Config(), detectors=[_always])  # type: ignore[list-item]


def test_a_registered_kind_runs_in_new_engines_and_is_explained_and_titled(always: FailureKind) -> None:
    engine = Engine(Config())
    (found,) = [f for f in engine.update(make_step(0, [1.0, 1.0, 1.0]), stack(3)) if f.kind == "always_on"]
    d = explain(found, stack(3))
    assert d.message == "custom since 3" and [(r.name, r.rank) for r in d.remedies] == [("fix_it", 1)]
    assert title("always_on") == "Always on" and about("always_on") == "Fires at once."


def test_detectors_limit_the_kinds_an_engine_runs() -> None:
    assert Engine(Config(), detectors=[]).update(make_step(0, [1.0, 1.0, 1.0]), stack(3)) == []
    engine = Engine(Config(), detectors=[ALWAYS])  # not registered: the engine still explains it
    assert list(engine.kinds) == ["always_on"] and get_kind("always_on") is None
    pipeline = Pipeline(Config(), SinkSet([]), detectors=[ALWAYS])
    (d,) = pipeline.ingest(make_step(0, [1.0, 1.0, 1.0]), stack(3))
    assert d.message == "custom since 3"


def test_a_kind_nobody_explains_gets_a_plain_message_not_an_error() -> None:
    d = explain(_finding("mystery_kind", x=1), stack(3))
    assert (
        d.message
        == "Mystery kind in 'fc1' since step 3 (no explanation is registered for 'mystery_kind'; see the evidence)."
    )
    assert (
        d.remedies == ()
        and d.evidence == {"x": 1}
        and title("mystery_kind") == "Mystery kind"
        and about("mystery_kind") == ""
    )


def test_an_explanation_that_fails_gives_the_plain_message_and_one_warning() -> None:
    def broken(f: Finding, layers: object) -> tuple[str, list[Advice]]:
        raise KeyError("ratio")

    kind = FailureKind(name="broken_words", title="Broken words", about="", detect=None, explain=broken)
    with pytest.warns(RuntimeWarning, match="explanation of 'broken_words' failed"):
        d = explain(_finding("broken_words"), {}, kind)
    assert d.message.startswith("Broken words in 'fc1' since step 3") and d.remedies == ()


def test_a_detector_that_fails_is_switched_off_and_becomes_an_incident() -> None:
    def crash(history: object, layers: object, cfg: Config) -> Finding | None:
        raise ZeroDivisionError("division by zero")

    crashing = FailureKind(name="crashing", title="Crashing", about="", detect=crash, explain=_explained)

    class Incidents(Sink):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def write_incident(self, incident: object) -> None:
            self.seen.append(str(incident))

    sink = Incidents()
    pipeline = Pipeline(Config(), SinkSet([sink]), detectors=[crashing, ALWAYS])
    with pytest.warns(RuntimeWarning, match="crashing detector failed"):
        first = pipeline.ingest(make_step(0, [1.0, 1.0, 1.0]), stack(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not at every step
        pipeline.ingest(make_step(1, [1.0, 1.0, 1.0]), stack(3))
    assert [d.kind for d in first] == ["always_on"]  # the other detectors go on
    (incident,) = pipeline.sinks.incidents
    assert incident.component == "detector:crashing" and incident.step == 0
    assert incident.error == "ZeroDivisionError: division by zero" and len(sink.seen) == 1
    assert not pipeline.report(2, stack(3), pipeline.sinks.incidents).watched_fully  # a kind went unwatched


def test_a_checkup_finding_is_told_by_its_source_field() -> None:
    f = Finding(
        kind="vanishing_gradients",
        severity="warning",
        layers=("fc1",),
        first_step=0,
        step=0,
        evidence={"ratio_to_output": {"fc1": 1e-5}, "output_layer": "fc2", "mean_gain": 0.1, "layers_compared": 3},
        source="checkup",
    )
    assert "before any training" in explain(f, {}).message
    from dataclasses import replace

    assert "since step 0" in explain(replace(f, source="training"), {}).message
