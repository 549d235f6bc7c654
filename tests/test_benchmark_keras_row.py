"""The Keras row of benchmarks/overhead.py: per-round ratios summarised, and the section it prints (no timing asserted)."""

from __future__ import annotations

from benchmarks import overhead, overhead_keras


def test_rows_give_per_round_ratio_quartiles_against_plain() -> None:
    plain = [(0.010, 0.008), (0.020, 0.008), (0.010, 0.008), (0.010, 0.008)]
    watched = [(0.011, 0.0084), (0.020, 0.0084), (0.012, 0.0080), (0.010, 0.0088)]
    rows = overhead_keras.summarize({overhead_keras.PLAIN: plain, overhead_keras.WATCHED: watched})
    mine = next(r for r in rows if r["run"] == overhead_keras.WATCHED)
    assert [round(v, 6) for v in mine["wall_ratio"]] == [1.0, 1.05, 1.125]  # ratios 1.1, 1.0, 1.2, 1.0 by round
    assert round(mine["cpu_ratio"][1], 6) == 1.05 and mine["rounds"] == 4
    assert "**1.050** (1.000-1.125)" in overhead_keras.table(rows)


def test_keras_section_shows_the_table_or_why_it_is_missing() -> None:
    rows = overhead_keras.summarize({overhead_keras.PLAIN: [(0.01, 0.01)], overhead_keras.WATCHED: [(0.0102, 0.0103)]})
    done = {"ok": True, "model": "MLP", "rounds": 1, "steps": 60, "threads": 1, "rows": rows}
    text = overhead.keras_section(done)
    assert "### Keras" in text and "| gradmedic defaults | 10.20 | **1.020**" in text
    failed = overhead.keras_section({"ok": False, "error": "tensorflow not installed (pip install 'gradmedic[keras]')"})
    assert "not measured: tensorflow not installed" in failed
