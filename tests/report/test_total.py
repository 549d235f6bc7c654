"""The reader is total: ``gradmedic report`` gives a page or one line on stderr with exit code 2, whatever
the path holds (arbitrary bytes, arbitrary JSON per line, a cut log, wrong types, huge numbers), and it
never writes over a log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradmedic.cli import main as cli_main
from gradmedic.records import REPORT_VERSION, Incident
from gradmedic.report import NotALogError, load_log, render
from gradmedic.sinks.base import SinkSet
from gradmedic.sinks.jsonl import FILENAME, JsonlSink

from ..sinks.records import LAYERS, report, step

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write_log(folder: Path, steps: int = 6, *, incident: bool = False) -> Path:
    sinks = SinkSet([JsonlSink(folder)])
    for n in range(steps):
        sinks.write_step(step(n), LAYERS)
    for d in report(steps, diagnoses=1).diagnoses:
        sinks.write_diagnosis(d, 3)
    if incident:
        sinks.write_incident(Incident(steps - 1, "monitor", "stopped: RuntimeError: boom"))
    sinks.close(report(steps, diagnoses=1))
    return folder / FILENAME


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = cli_main(["report", *args])
    err = capsys.readouterr().err.splitlines()
    assert not any("gradmedic bug" in line for line in err), err
    return code, err


def _replace_closing_line(log: Path, closing: dict[str, object]) -> None:
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1] + [json.dumps(closing)]) + "\n")


@pytest.mark.parametrize(
    "closing",
    [
        {"type": "report", "steps": "x"},
        {"type": "report", "steps": 6, "diagnoses": "oops", "treatments": {"a": 1}},
        {"type": "report", "steps": 6, "diagnoses": [{"kind": ["a"]}], "treatments": [7], "incidents": [[]]},
        {"type": "report", "steps": 1e30, "layers": "x", "version": {"v": 2}},
    ],
)
def test_a_malformed_closing_line_still_gives_a_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], closing: dict[str, object]
) -> None:
    log = _write_log(tmp_path)
    _replace_closing_line(log, closing)
    code, err = _report(capsys, str(tmp_path))
    assert code == 0 and err[-1].startswith("gradmedic report: wrote"), err
    page = (tmp_path / "report.html").read_text()
    assert "unreadable field(s)" in page
    assert "6 steps watched" in page  # taken from the step lines when the closing line's count is unreadable
    assert "Dead units" in page  # the streamed diagnosis stands in for an unreadable list


def test_a_step_number_of_1e30_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write_log(tmp_path)
    with log.open("a") as f:
        f.write(json.dumps({"type": "step", "step": 1e30, "layers": {"block0.fc": {"grad_norm": 1e308}}}) + "\n")
        f.write(json.dumps({"type": "losses", "losses": {"1e400": 1.0, "7": "inf"}}) + "\n")
    code, _ = _report(capsys, str(log))
    assert code == 0
    read = load_log(log)
    assert read.series.steps.tolist() == list(range(6)) and read.skipped_lines == 2


def test_the_page_never_overwrites_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write_log(tmp_path)
    (tmp_path / "gradmedic.1.jsonl").write_bytes(log.read_bytes())
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    for target in (log, tmp_path / "gradmedic.1.jsonl", tmp_path / "." / FILENAME, tmp_path / "new.jsonl"):
        for source in (str(tmp_path), str(log)):
            code, err = _report(capsys, source, "--html", str(target))
            assert code == 2 and len(err) == 1, err
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == before
    assert "the log being read" in err[0] or "looks like a log" in err[0]


def test_a_folder_or_unwritable_html_target_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_log(tmp_path / "logs")
    (tmp_path / "page").mkdir()
    (tmp_path / "file").write_text("not a folder")
    cases = {
        str(tmp_path / "page"): "is a folder",
        str(tmp_path / "file" / "report.html"): "cannot write",
        "/proc/gradmedic-report.html": "cannot write",
    }
    for target, said in cases.items():
        code, err = _report(capsys, str(tmp_path / "logs"), "--html", target)
        assert code == 2 and len(err) == 1 and said in err[0], err
    assert list((tmp_path / "page").iterdir()) == []


def test_a_path_that_is_not_a_log_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    code, err = _report(capsys, str(tmp_path / "notes.txt"))
    assert code == 2 and err == [
        f"gradmedic report: {tmp_path / 'notes.txt'} holds no gradmedic record (2 line(s) could not be read): "
        "is it a gradmedic.jsonl written by gradmedic.watch or gradmedic run --logdir?"
    ]


def test_a_newer_log_version_is_said_on_stderr_and_on_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path)
    closing = json.loads(log.read_text().splitlines()[-1])
    _replace_closing_line(log, {**closing, "version": str(int(REPORT_VERSION) + 1)})
    code, err = _report(capsys, str(tmp_path))
    assert code == 0
    assert any("newer than" in line and "upgrade gradmedic" in line for line in err), err
    assert "upgrade gradmedic" in (tmp_path / "report.html").read_text()
    _replace_closing_line(log, closing)
    code, err = _report(capsys, str(tmp_path))
    assert code == 0 and not any("newer than" in line for line in err), err


def test_incidents_are_shown_on_top_and_the_run_is_not_called_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write_log(tmp_path, incident=True)
    closing = json.loads(log.read_text().splitlines()[-1])
    _replace_closing_line(log, {**closing, "diagnoses": []})
    read = load_log(log)
    assert read.incidents == (Incident(5, "monitor", "stopped: RuntimeError: boom"),)  # line and report: one
    page = render([read])
    assert "1 incident:" in page and "stopped: RuntimeError: boom" in page
    assert page.index('class="incidents"') < page.index('class="verdict')
    assert "Healthy" not in page and "<title>gradmedic report: record incomplete</title>" in page


def test_a_folder_with_several_runs_shows_the_newest_and_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for steps in (3, 4, 5):
        _write_log(tmp_path, steps)
    capsys.readouterr()
    code, err = _report(capsys, str(tmp_path))
    assert code == 0
    [listing] = [line for line in err if "holds 3 runs" in line]
    assert "1 (gradmedic.1.jsonl" in listing and "3 (gradmedic.jsonl" in listing and "showing run 3" in listing
    assert "5 steps watched" in (tmp_path / "report.html").read_text()
    code, err = _report(capsys, str(tmp_path), "--run", "1")
    assert code == 0 and "3 steps watched" in (tmp_path / "report.html").read_text()
    code, err = _report(capsys, str(tmp_path), "--run", "9")
    assert code == 2 and err == [f"gradmedic report: {tmp_path} has no run 9; it holds run(s) 1, 2, 3"]


# --- arbitrary input -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from([1e308, -1e308, 2**63, 2**64 + 1, 10**30, "nan", "inf", "-inf", "", "0", "x"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "step", "steps", "layers", "global_grad_norm", "loss", "losses", "nonfinite", "kind", "severity",
    "first_step", "last_step", "message", "evidence", "remedies", "diagnoses", "treatments", "incidents",
    "version", "component", "error", "action", "before", "after", "name", "order", "units",
]  # fmt: skip
TYPES = ["run", "layers", "step", "diagnosis", "treatment", "incident", "losses", "report"]
records = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)}, optional={name: json_values for name in FIELDS}
) | json_values.map(lambda v: {"type": "step", "step": 1, "layers": {"a": {"grad_norm": v}}})


def _page_or_not_a_log(path: Path) -> None:
    try:
        read = load_log(path)
    except NotALogError:
        return
    assert render([read]).startswith("<!DOCTYPE html>")


@pytest.mark.slow
@SETTINGS
@given(lines=st.lists(records, min_size=1, max_size=8))
def test_any_json_records_give_a_page(tmp_path: Path, lines: list[dict[str, object]]) -> None:
    path = tmp_path / FILENAME
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    _page_or_not_a_log(path)


@pytest.fixture(scope="module")
def sink_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A log as the sink writes it (one run, an incident, a diagnosis), line by line."""
    return _write_log(tmp_path_factory.mktemp("sink"), 4, incident=True).read_text().splitlines()


@SETTINGS
@given(data=st.data())
def test_a_real_log_cut_anywhere_or_with_a_field_replaced_gives_a_page(
    tmp_path: Path, sink_lines: list[str], data: st.DataObject
) -> None:
    log = tmp_path / FILENAME
    lines = [json.loads(line) for line in sink_lines]
    k = data.draw(st.integers(0, len(lines) - 1))
    field = data.draw(st.sampled_from(sorted(lines[k])))
    lines[k][field] = data.draw(json_values)
    body = "".join(json.dumps(r) + "\n" for r in lines).encode()
    log.write_bytes(body[: data.draw(st.integers(0, len(body)))])
    _page_or_not_a_log(log)


@SETTINGS
@given(content=st.binary(max_size=300))
def test_arbitrary_bytes_give_a_page_or_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    code, err = _report(capsys, str(path), "--html", str(tmp_path / "out.html"))
    assert (code, len(err)) in ((0, 1), (2, 1)), err
