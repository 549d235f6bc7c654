"""The plans and the kinds agree: every family a built-in kind names has a plan, and every cure names the
advice it carries out."""

from __future__ import annotations

from gradmedic.kinds import Family, registered_kinds
from gradmedic.kinds.kind import RemedyName
from gradmedic.remedies.lower_lr import LowerLearningRate
from gradmedic.remedies.plans import plans, with_plans


def test_every_family_of_a_kind_has_a_plan_and_every_cure_a_remedy_name() -> None:
    built_in = plans()
    assert {k.family for k in registered_kinds() if k.family is not None} == set(built_in) == set(Family)
    for cures in built_in.values():
        assert cures and all(cure.name in set(RemedyName) for cure in cures)


def test_a_plan_of_ones_own_replaces_that_family_only() -> None:
    mine = [LowerLearningRate()]
    merged = with_plans({"unstable": mine, "plateau": []})
    assert merged["unstable"] == mine and merged["plateau"] == []
    assert [c.name for c in merged["dead"]] == [c.name for c in plans()["dead"]]
