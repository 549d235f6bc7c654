"""The record survives a full disk: JSONL lines whole or not at all, the closing line attempted after failures,
TensorBoard without a traceback, every switched-off sink an incident in the record.

A file-size limit (``RLIMIT_FSIZE``, what ``ulimit -f`` sets) makes writes fail with EFBIG past a given
size, as a full disk fails them with ENOSPC; the limit is set inside a child process.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gradmedic.records import Incident
from gradmedic.sinks.base import Sink, SinkSet
from gradmedic.sinks.console import ConsoleSink
from gradmedic.sinks.event_file import masked_crc32c
from gradmedic.sinks.jsonl import FILENAME, JsonlSink
from gradmedic.sinks.tensorboard import TensorBoardSink
from gradmedic.sinks.whole_file import WholeFile

from .records import LAYERS, report, step

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (``limit(n)`` caps the size of files it writes), in ``tmp_path``."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        def limit(size):
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]  # raises on a torn line


def test_whole_file_cuts_back_a_piece_that_does_not_fit(tmp_path: Path) -> None:
    done = _child(
        """
        from gradmedic.sinks.whole_file import WholeFile
        f = WholeFile("log", exclusive=True)
        f.write(b"x" * 90 + b"\\n")
        limit(150)
        try:
            f.write(b"y" * 99 + b"\\n")  # 59 bytes fit, then EFBIG
        except OSError as exc:
            print(exc.errno)
        f.write(b"z" * 9 + b"\\n")  # fits after the cut
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == errno.EFBIG
    assert (tmp_path / "log").read_bytes() == b"x" * 90 + b"\n" + b"z" * 9 + b"\n"


def test_whole_file_raises_enospc_on_a_full_device() -> None:
    full = WholeFile("/dev/full", exclusive=False)  # the kernel's always-full device: every write fails ENOSPC
    try:
        with pytest.raises(OSError) as raised:
            full.write(b"line\n")
        assert raised.value.errno == errno.ENOSPC
    finally:
        full.close()


def test_jsonl_cut_at_its_last_whole_line_and_the_short_closing_line_still_fits(tmp_path: Path) -> None:
    done = _child(
        """
        import os, warnings
        from gradmedic.sinks.base import SinkSet
        from gradmedic.sinks.jsonl import JsonlSink
        from tests.sinks.records import LAYERS, report, step
        warnings.simplefilter("ignore")
        sink = JsonlSink("logs")
        sinks = SinkSet([sink])
        sinks.write_step(step(0), LAYERS)
        limit(os.path.getsize(sink.path) + 1500)  # room for a step line or two, not for 40 diagnoses
        for n in range(1, 10):
            sinks.write_step(step(n), LAYERS)
        limit(os.path.getsize(sink.path) + 600)  # then room for the short closing line only
        sinks.close(report(10, diagnoses=40))
        """,
        tmp_path,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    records = _records(tmp_path / "logs" / FILENAME)
    steps = [r["step"] for r in records if r["type"] == "step"]
    assert steps == list(range(len(steps))) and 1 <= len(steps) < 10
    closing = records[-1]
    assert closing["type"] == "report" and closing["steps"] == 10 and closing["partial"] is True
    [incident] = closing["incidents"]
    assert incident["component"] == "sink:JsonlSink" and incident["step"] == len(steps)
    assert incident["error"] == "switched off: OSError: [Errno 27] File too large"


def test_tensorboard_under_a_file_size_limit_prints_no_traceback(tmp_path: Path) -> None:
    done = _child(
        """
        import warnings
        from gradmedic.sinks.base import SinkSet
        from gradmedic.sinks.tensorboard import TensorBoardSink
        from tests.sinks.records import LAYERS, report, step
        sinks = SinkSet([TensorBoardSink("tb", flush_secs=0)])  # flush_secs=0: every record goes to disk at once
        limit(4000)
        for n in range(200):
            sinks.write_step(step(n), LAYERS)
        sinks.close(report(200))
        print([i.component for i in sinks.incidents])
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception in thread" not in done.stderr
    assert "TensorBoardSink failed" in done.stderr and "switched off" in done.stderr
    assert done.stdout.strip() == "['sink:TensorBoardSink']"
    acc = EventAccumulator(str(tmp_path / "tb"))  # what was written reads back: whole records only
    acc.Reload()
    assert acc.Scalars("gradmedic/grad_norm/block0.fc")[0].step == 0


def test_sinks_opened_on_a_full_disk_start_and_are_switched_off_at_the_first_step(tmp_path: Path) -> None:
    done = _child(
        """
        from gradmedic.sinks.base import SinkSet
        from gradmedic.sinks.jsonl import JsonlSink
        from gradmedic.sinks.tensorboard import TensorBoardSink
        from tests.sinks.records import LAYERS, report, step
        limit(0)  # no file may grow: every write fails with EFBIG
        sinks = SinkSet([JsonlSink("logs"), TensorBoardSink("logs")])
        for n in range(3):
            sinks.write_step(step(n), LAYERS)
        sinks.close(report(3))
        print(sorted(i.component for i in sinks.incidents))
        """,
        tmp_path,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip() == "['sink:JsonlSink', 'sink:TensorBoardSink']"
    assert all(p.stat().st_size == 0 for p in (tmp_path / "logs").iterdir())


def test_tensorboard_closed_or_folder_removed_never_breaks_training(tmp_path: Path) -> None:
    closed = TensorBoardSink(tmp_path / "a")
    closed.close(report(0))
    sinks = SinkSet([closed])
    with pytest.warns(RuntimeWarning, match="TensorBoardSink failed"):
        sinks.write_step(step(0), LAYERS)
    assert [i.component for i in sinks.incidents] == ["sink:TensorBoardSink"]

    gone = TensorBoardSink(tmp_path / "b")
    for path in (tmp_path / "b").iterdir():
        path.unlink()
    (tmp_path / "b").rmdir()
    sinks = SinkSet([gone])
    sinks.write_step(step(0), LAYERS)  # the open file lives on without its folder: no error, no traceback
    sinks.close(report(1))
    assert sinks.incidents == []


def test_our_crc_matches_tensorboards() -> None:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as theirs

    for data in (b"", b"a", b"123456789", bytes(range(256)) * 3):
        assert masked_crc32c(data) == theirs(data)


class _Breaks(Sink):
    """Raises at its third step."""

    def __init__(self) -> None:
        self.steps = 0

    def write_step(self, stats: object, layers: object) -> None:
        self.steps += 1
        if self.steps == 3:
            raise OSError(errno.ENOSPC, "No space left on device")


class _Old:
    """A duck-typed user sink from before incidents (no write_incident, no base class)."""

    def __init__(self) -> None:
        self.closed_with: object = None

    def write_step(self, stats: object, layers: object) -> None: ...
    def write_diagnosis(self, diagnosis: object, step: int) -> None: ...
    def close(self, report: object) -> None:
        self.closed_with = report


def test_a_switched_off_sink_is_an_incident_in_every_other_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _Old()
    sinks = SinkSet([_Breaks(), JsonlSink(tmp_path), TensorBoardSink(tmp_path), ConsoleSink(), old])
    with pytest.warns(RuntimeWarning, match=r"_Breaks failed \(OSError: \[Errno 28\] No space left on device\)"):
        for n in range(5):
            sinks.write_step(step(n), LAYERS)
    expected = Incident(2, "sink:_Breaks", "switched off: OSError: [Errno 28] No space left on device")
    assert sinks.incidents == [expected] and len(sinks.sinks) == 4
    sinks.close(report(5))
    records = _records(tmp_path / FILENAME)
    assert {"type": "incident", **expected.to_dict()} in records
    assert records[-1]["incidents"] == [expected.to_dict()]
    assert old.closed_with is not None and list(old.closed_with.incidents) == [expected]  # type: ignore[attr-defined]
    assert "INCIDENT sink:_Breaks" in capsys.readouterr().err
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    acc.Reload()
    [text] = acc.Tensors("gradmedic/incidents/text_summary")
    assert text.step == 2 and b"No space left on device" in text.tensor_proto.string_val[0]


def test_the_sink_base_class_does_nothing_by_default() -> None:
    sinks = SinkSet([Sink()])
    sinks.write_step(step(0), LAYERS)
    sinks.write_incident(Incident(0, "monitor", "stopped"))
    sinks.close(report(1))
    assert len(sinks.sinks) == 1 and sinks.incidents == [Incident(0, "monitor", "stopped")]
