"""The public API is what __init__ exports, nothing more; the package ships its type marker."""

from __future__ import annotations

from importlib import resources

import gradmedic


def test_all_is_the_public_api() -> None:
    assert sorted(gradmedic.__all__) == [
        "Advice",
        "Applied",
        "Config",
        "Cure",
        "Diagnosis",
        "FailureKind",
        "Family",
        "Finding",
        "Incident",
        "Kind",
        "LayerInfo",
        "Monitor",
        "Remedy",
        "Report",
        "Sink",
        "StepStats",
        "checkup",
        "register_activation",
        "register_kind",
        "register_normalization",
        "watch",
    ]
    assert sorted(gradmedic._EXPORTS) == sorted(gradmedic.__all__)  # every name has a lazy source
    for name in gradmedic.__all__:
        assert getattr(gradmedic, name) is not None


def test_py_typed_is_shipped() -> None:
    assert resources.files("gradmedic").joinpath("py.typed").is_file()


def test_checkup_stays_a_function_after_its_package_is_imported() -> None:
    import gradmedic.check_script  # noqa: F401  (imports the checkup's modules first)

    assert callable(gradmedic.checkup) and gradmedic.checkup.__name__ == "checkup"
