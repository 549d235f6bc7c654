"""The demo's Keras case: caught and quiet as labelled, and skipped with one line where it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradmedic.demo import keras_case, show


def test_keras_pair_is_skipped_with_the_reason_when_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(show, "missing", lambda: "tensorflow is not installed (pip install 'gradmedic[keras]')")
    assert show.main(str(tmp_path), only=["keras"]) == 0
    out = capsys.readouterr().out
    assert "skipped: tensorflow is not installed" in out
    assert not (tmp_path / "keras_deep_sigmoid").exists()


def test_missing_names_a_backend_other_than_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert "KERAS_BACKEND is 'jax'" in (keras_case.missing() or "")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert keras_case.missing() is None  # tensorflow and keras are in the test extra


@pytest.mark.slow
def test_deep_sigmoid_is_caught_and_its_relu_twin_is_quiet(tmp_path: Path) -> None:
    sick = keras_case.KERAS_SCENARIOS["keras_deep_sigmoid"]
    _, report = keras_case.train_keras(sick, tmp_path / "sick")
    assert "vanishing_gradients" in report.kinds(at_least="warning")
    assert report.steps == sick.steps
    assert (tmp_path / "sick" / "gradmedic.jsonl").stat().st_size > 0
    _, twin = keras_case.train_keras(keras_case.KERAS_SCENARIOS["keras_deep_relu"], tmp_path / "twin")
    assert twin.healthy, [(d.kind, d.severity) for d in twin.diagnoses]
