"""``gradmedic run``: an unmodified script runs as ``python SCRIPT ARGS`` would, and still gets a report.

Small throwaway scripts are written to tmp_path. Behaviour that only a real process shows (exit codes,
stdout and stderr, tracebacks, Ctrl-C) runs ``python -m gradmedic run`` in a subprocess; the rest
calls ``gradmedic.run.run`` or ``exec_script`` in-process, which is much faster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradmedic.cli import main as cli_main
from gradmedic.run import RunOptions, exec_script, run

TIMEOUT = 120
REPORT_KEYS = {"version", "steps", "layers", "diagnoses", "treatments", "incidents", "models"}
DIAGNOSIS_KEYS = {"kind", "severity", "layers", "first_step", "message", "evidence", "remedies"}


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def gradmedic_run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gradmedic", "run", *map(str, args)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def python_run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, env=env(), capture_output=True, text=True, timeout=TIMEOUT
    )


def run_in_process(script: Path, args: list[str] | None = None, **options: object) -> tuple[int, dict]:
    """Run a script under gradmedic in this process; returns (exit code, report JSON)."""
    report = script.parent / f"{script.stem}-report.json"
    code = run(str(script), args or [], RunOptions(json_path=str(report), quiet=True, **options))  # type: ignore[arg-type]
    return code, json.loads(report.read_text())


def kinds(report: dict, at_least: str = "warning") -> set[str]:
    rank = {"info": 0, "warning": 1, "error": 2}
    return {d["kind"] for d in report["diagnoses"] if rank[d["severity"]] >= rank[at_least]}


def assert_report_shape(report: dict) -> None:
    assert set(report) >= REPORT_KEYS, f"missing keys: {REPORT_KEYS - set(report)}"
    for diagnosis in report["diagnoses"]:
        assert set(diagnosis) >= DIAGNOSIS_KEYS
        assert diagnosis["severity"] in {"info", "warning", "error"}


# A few optimizer steps of a tiny ReLU MLP on random data; {extra} is spliced into the loop.
TINY_TRAINING = """
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
for step in range({steps}):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    {extra}
"""


def tiny_training(steps: int = 5, extra: str = "pass") -> str:
    return TINY_TRAINING.format(steps=steps, extra=extra)


# --- the script runs as `python SCRIPT ARGS` would ----------------------------------------------------
def test_argv_is_the_script_and_its_arguments_exactly(tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    script = write(tmp_path / "show_argv.py", f"import json, sys\njson.dump(sys.argv, open({str(out)!r}, 'w'))\n")
    args = ["--lr", "0.1", "two words", "--json", "not-for-gradmedic.json", ""]
    before = list(sys.argv)
    exec_script(str(script), args)
    assert json.loads(out.read_text()) == [str(script), *args]
    assert sys.argv == before, "sys.argv must be restored after the script"


def test_script_sees_main_name_and_its_folder_on_sys_path(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    write(folder / "gm_local_helper_a.py", "VALUE = 42\n")
    out = tmp_path / "seen.json"
    script = write(
        folder / "train.py",
        f"""
        import json, sys
        import gm_local_helper_a  # a module next to the script

        class Config:  # classes defined in the script must live in __main__ (pickle, spawn workers)
            pass

        if __name__ == "__main__":
            json.dump(
                {{
                    "name": __name__,
                    "path0": sys.path[0],
                    "helper": gm_local_helper_a.VALUE,
                    "main_is_me": sys.modules["__main__"].Config is Config,
                    "file": __file__,
                }},
                open({str(out)!r}, "w"),
            )
        """,
    )
    path_before = list(sys.path)
    exec_script(str(script), [])
    seen = json.loads(out.read_text())
    assert seen["name"] == "__main__"
    assert seen["path0"] == str(folder)
    assert seen["helper"] == 42
    assert seen["main_is_me"] is True
    assert Path(seen["file"]) == script
    assert sys.path == path_before, "sys.path must be restored after the script"


PARITY_SCRIPT = """
import json
import sys

import gm_parity_helper

print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0], "helper": gm_parity_helper.X}))
print("second line", flush=True)
sys.stderr.write("the script's own stderr\\n")
"""


def test_same_argv_main_path_stdout_and_stderr_as_plain_python(tmp_path: Path) -> None:
    """Run from another working directory, with arguments that look like gradmedic options."""
    folder = tmp_path / "scripts"
    write(folder / "gm_parity_helper.py", "X = 'local import works'\n")
    script = write(folder / "parity.py", PARITY_SCRIPT)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    relative = os.path.relpath(script, cwd)
    args = ["--quiet", "--every", "0", "data.csv"]

    plain = python_run(relative, *args, cwd=cwd)
    watched = gradmedic_run("--quiet", relative, *args, cwd=cwd)

    assert plain.returncode == watched.returncode == 0, watched.stderr
    assert watched.stdout == plain.stdout
    seen = json.loads(watched.stdout.splitlines()[0])
    assert seen == {"argv": [relative, *args], "name": "__main__", "path0": str(folder), "helper": "local import works"}
    assert watched.stderr == plain.stderr == "the script's own stderr\n"


def test_console_output_goes_to_stderr_and_quiet_silences_it(tmp_path: Path) -> None:
    # fc2 is born dead, so the console has a diagnosis to announce
    source = (
        tiny_training(30, extra="pass").replace("optimizer = ", "model[2].bias.data.fill_(-50.0)\noptimizer = ")
        + 'print("training done")\n'
    )
    script = write(tmp_path / "dead.py", source)

    loud = gradmedic_run("--json", tmp_path / "loud.json", script, cwd=tmp_path)
    quiet = gradmedic_run("--quiet", "--json", tmp_path / "quiet.json", script, cwd=tmp_path)

    assert loud.returncode == quiet.returncode == 0
    assert loud.stdout == quiet.stdout == "training done\n"
    assert "gradmedic" in loud.stderr and "dead_units" in loud.stderr
    assert "gradmedic" not in quiet.stderr.lower()
    assert quiet.stderr == ""
    assert kinds(json.loads((tmp_path / "quiet.json").read_text())) == {"dead_units"}


# --- exit codes and the report whatever happens ---------------------------------------------------------
def test_exit_code_passes_through_the_process_and_report_is_written(tmp_path: Path) -> None:
    script = write(tmp_path / "exit3.py", tiny_training(5) + "import sys\nsys.exit(3)\n")
    report = tmp_path / "report.json"
    result = gradmedic_run("--quiet", "--json", report, script, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    data = json.loads(report.read_text())
    assert_report_shape(data)
    assert data["steps"] == 5


@pytest.mark.parametrize(
    ("ending", "code", "stderr"),
    [
        ("sys.exit(3)", 3, ""),
        ("sys.exit()", 0, ""),
        ("sys.exit(0)", 0, ""),
        ("sys.exit('fatal: bad config')", 1, "fatal: bad config\n"),
        ("raise SystemExit(None)", 0, ""),
    ],
)
def test_sys_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ending: str, code: int, stderr: str
) -> None:
    script = write(tmp_path / "ends.py", f"import sys\nprint('before')\n{ending}\nprint('never')\n")
    assert run_in_process(script)[0] == code
    captured = capsys.readouterr()
    assert captured.out == "before\n"
    assert captured.err == stderr


def test_uncaught_exception_exits_1_with_the_scripts_traceback_and_a_report(tmp_path: Path) -> None:
    source = tiny_training(12) + "\ndef load_checkpoint(path):\n    raise ValueError(f'corrupt checkpoint: {path}')\n"
    source += "\nload_checkpoint('ckpt.pt')\n"
    script = write(tmp_path / "crash.py", source)
    lines = script.read_text().splitlines()
    raise_line = lines.index("    raise ValueError(f'corrupt checkpoint: {path}')") + 1
    call_line = lines.index("load_checkpoint('ckpt.pt')") + 1
    report = tmp_path / "report.json"

    result = gradmedic_run("--quiet", "--json", report, script, cwd=tmp_path)

    assert result.returncode == 1
    err = result.stderr
    assert err.startswith("Traceback (most recent call last):")
    assert f'File "{script}", line {call_line}, in <module>' in err
    assert f'File "{script}", line {raise_line}, in load_checkpoint' in err
    assert err.rstrip().endswith("ValueError: corrupt checkpoint: ckpt.pt")
    assert "gradmedic" not in err, "the runner's own frames should not show in the script's traceback"
    data = json.loads(report.read_text())
    assert_report_shape(data)
    assert data["steps"] == 12
    assert [m["type"] for m in data["models"]] == ["Sequential"]


def test_keyboard_interrupt_ends_as_python_does_and_report_is_written(tmp_path: Path) -> None:
    script = write(tmp_path / "interrupted.py", tiny_training(8, extra="if step == 6: raise KeyboardInterrupt"))
    report = tmp_path / "report.json"
    result = gradmedic_run("--quiet", "--json", report, script, cwd=tmp_path)
    assert result.returncode == python_run(script, cwd=tmp_path).returncode == -2  # death by SIGINT, not exit 130
    assert "KeyboardInterrupt" in result.stderr
    data = json.loads(report.read_text())
    assert_report_shape(data)
    assert data["steps"] == 7  # steps 0..6 stepped the optimizer before the interrupt


NAN_REGRESSION = """
import math
import sys

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 10) * 3
y = x @ torch.randn(10, 1)
model = nn.Sequential(nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 1))
optimizer = torch.optim.SGD(model.parameters(), lr={lr})
for step in range(200):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    if {stop_on_nan} and not math.isfinite(loss.item()):
        sys.exit(f"loss is {{loss.item()}} at step {{step}}, stopping")
    loss.backward()
    optimizer.step()
print("finished", loss.item())
"""


def test_nan_diverging_script_gets_a_non_finite_diagnosis(tmp_path: Path) -> None:
    script = write(tmp_path / "diverge.py", NAN_REGRESSION.format(lr=1.0, stop_on_nan=False))
    code, report = run_in_process(script)
    assert code == 0
    assert_report_shape(report)
    assert "non_finite" in kinds(report, "error")
    non_finite = next(d for d in report["diagnoses"] if d["kind"] == "non_finite")
    assert 0 <= non_finite["first_step"] < 200
    json.dumps(report, allow_nan=False)  # NaN evidence is written as strings, the file stays strict JSON


def test_script_that_stops_at_the_first_non_finite_loss_is_still_diagnosed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loss overflows and the script exits at once, before backward(): the report still says why."""
    script = write(tmp_path / "stop_on_nan.py", NAN_REGRESSION.format(lr=1.0, stop_on_nan=True))
    code, report = run_in_process(script)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("loss is ") and err.endswith(", stopping\n")
    step = int(err.split(" at step ")[1].split(",")[0])
    assert report["steps"] == step > 0
    assert kinds(report, "error") & {"non_finite", "exploding_gradients"}


def test_healthy_control_for_the_nan_script(tmp_path: Path) -> None:
    script = write(tmp_path / "converge.py", NAN_REGRESSION.format(lr=0.01, stop_on_nan=True))
    code, report = run_in_process(script)
    assert code == 0
    assert report["steps"] == 200
    assert kinds(report) == set()


# --- several models and optimizers ----------------------------------------------------------------------
TWO_MODELS = """
import torch
import torch.nn.functional as F
from torch import nn


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 32)
        self.fc2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 3)

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 32)
        self.fc2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 3)
        nn.init.constant_(self.fc2.bias, -30.0)  # the student's fc2 is born dead

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


torch.manual_seed(0)
teacher, student = Teacher(), Student()
opt_t = torch.optim.Adam(teacher.parameters(), lr=1e-2)
opt_s = torch.optim.SGD(student.parameters(), lr=0.1)
x, y = torch.rand(128, 8), torch.randint(0, 3, (128,))
for step in range(40):
    opt_t.zero_grad()
    loss_t = F.cross_entropy(teacher(x), y)
    loss_t.backward()
    opt_t.step()
    opt_s.zero_grad()
    loss_s = F.kl_div(F.log_softmax(student(x), 1), F.softmax(teacher(x).detach(), 1), reduction="batchmean")
    loss_s.backward()
    opt_s.step()
"""


def test_two_models_with_two_optimizers_each_get_an_entry_and_a_prefix(tmp_path: Path) -> None:
    script = write(tmp_path / "distill.py", TWO_MODELS)
    code, report = run_in_process(script, logdir=str(tmp_path / "logs"))
    assert code == 0
    assert_report_shape(report)
    assert [(m["label"], m["type"], m["steps"]) for m in report["models"]] == [
        ("", "Teacher", 40),
        ("Student", "Student", 40),
    ]
    names = [layer["name"] for layer in report["layers"]]
    assert {"fc1", "fc2", "out"} <= set(names)
    assert {"Student/fc1", "Student/fc2", "Student/out"} <= set(names)
    dead = [d for d in report["diagnoses"] if d["kind"] == "dead_units" and d["severity"] != "info"]
    assert len(dead) == 1 and dead[0]["severity"] == "error"
    assert dead[0]["layers"][0] == "Student/fc2", "the dead layer belongs to the student, named with its prefix"
    assert (tmp_path / "logs" / "gradmedic.jsonl").is_file()
    assert (tmp_path / "logs" / "Student" / "gradmedic.jsonl").is_file()


WRAPPED_GAN = """
import torch
import torch.nn.functional as F
from torch import nn


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)


torch.manual_seed(0)
G, D = Generator(), Discriminator()
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3)
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
for step in range(5):
    real, fake = torch.randn(32, 2) + 2, G(torch.randn(32, 4))
    opt_d.zero_grad()
    d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    F.softplus(-D(fake)).mean().backward()
    opt_g.step()
"""


def test_models_are_named_by_the_users_class_not_an_inner_wrapper(tmp_path: Path) -> None:
    script = write(tmp_path / "gan.py", WRAPPED_GAN)
    code, report = run_in_process(script)
    assert code == 0
    # the discriminator's optimizer steps first, so it is the first model and keeps plain names
    assert [m["type"] for m in report["models"]] == ["Discriminator", "Generator"]
    assert "Generator/net.0" in [layer["name"] for layer in report["layers"]]


def test_wrapped_gan_still_watches_both_models(tmp_path: Path) -> None:
    script = write(tmp_path / "gan.py", WRAPPED_GAN)
    code, report = run_in_process(script)
    assert code == 0
    assert len(report["models"]) == 2
    assert [m["steps"] for m in report["models"]] == [5, 5]
    prefixed = [layer["name"] for layer in report["layers"] if "/" in layer["name"]]
    assert prefixed and all(name.startswith(report["models"][1]["label"] + "/") for name in prefixed)


CONTAINER_SCRIPT = """
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
encoder = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
classifier = nn.Linear(32, 3)
nn.init.constant_(encoder[2].bias, -30.0)  # the encoder's second layer is born dead
{layout}
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.rand(128, 8), torch.randint(0, 3, (128,))
for step in range(40):
    optimizer.zero_grad()
    loss = F.cross_entropy({forward}, y)
    loss.backward()
    optimizer.step()
"""
CONTAINER_NEVER_CALLED = CONTAINER_SCRIPT.format(
    layout='model = nn.ModuleDict({"encoder": encoder, "classifier": classifier})',
    forward='model["classifier"](model["encoder"](x))',  # the container itself is never called
)


def test_parts_called_through_one_forward_control(tmp_path: Path) -> None:
    """The same net as one nn.Sequential called as a whole: the dead layer is found."""
    source = CONTAINER_SCRIPT.format(layout="model = nn.Sequential(encoder, classifier)", forward="model(x)")
    code, report = run_in_process(write(tmp_path / "called.py", source))
    assert code == 0
    assert "dead_units" in kinds(report, "error")


def test_parts_called_one_by_one_are_still_diagnosed(tmp_path: Path) -> None:
    code, report = run_in_process(write(tmp_path / "container.py", CONTAINER_NEVER_CALLED))
    assert code == 0
    assert "dead_units" in kinds(report, "error")


FROZEN_DEAD_MIDDLE = """
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(8, 32), nn.Linear(32, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


torch.manual_seed(0)
model = Net()
nn.init.constant_(model.fc2.bias, -30.0)  # fc2's 16 units are dead ...
model.fc2.requires_grad_(False)  # ... and frozen; fc1's 32 units are alive
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.rand(128, 8), torch.randint(0, 3, (128,))
for step in range(40):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
"""


def test_frozen_layers_output_is_not_blamed_on_the_layer_before_it(tmp_path: Path) -> None:
    code, report = run_in_process(write(tmp_path / "frozen.py", FROZEN_DEAD_MIDDLE))
    assert code == 0
    blamed = {name for d in report["diagnoses"] if d["kind"] == "dead_units" for name in d["layers"]}
    assert "fc1" not in blamed
    fc1 = next(layer for layer in report["layers"] if layer["name"] == "fc1")
    assert fc1["units"] in (0, 32)


# --- the script's own gradient clipping --------------------------------------------------------------
RNN_SCRIPT = """
import sys

import torch
import torch.nn.functional as F
from torch import nn


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 32, batch_first=True)
        self.head = nn.Linear(32, 1)
        nn.init.orthogonal_(self.rnn.weight_hh_l0)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


clip = "--clip" in sys.argv
torch.manual_seed(0)
model = Regressor()
optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)  # too high for a plain RNN
x = torch.randn(256, 60, 1)
y = x[:, -3:, 0].sum(1, keepdim=True)
for step in range(40):
    idx = torch.randint(0, 256, (32,))
    optimizer.zero_grad()
    loss = F.mse_loss(model(x[idx]), y[idx])
    loss.backward()
    if clip:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
print(f"final loss {loss.item():.3g}")
"""


def test_script_that_clips_its_own_gradients_is_not_flagged_exploding(tmp_path: Path) -> None:
    script = write(tmp_path / "rnn.py", RNN_SCRIPT)
    code, unclipped = run_in_process(script)
    assert code == 0
    assert "exploding_gradients" in kinds(unclipped), f"control: without clipping it explodes {unclipped['diagnoses']}"

    code, clipped = run_in_process(script, ["--clip"])
    assert code == 0
    assert not kinds(clipped) & {"exploding_gradients", "non_finite"}, clipped["diagnoses"]


# --- bad command lines ------------------------------------------------------------------------------------
def test_missing_script_is_a_clear_error(tmp_path: Path) -> None:
    result = gradmedic_run("--quiet", "no_such_train.py", cwd=tmp_path)
    assert result.returncode != 0
    assert "no such script: no_such_train.py" in result.stderr


def test_missing_script_error_has_no_internal_traceback(tmp_path: Path) -> None:
    result = gradmedic_run("--quiet", "--json", tmp_path / "r.json", "no_such_train.py", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert "gradmedic/run.py" not in result.stderr


@pytest.mark.parametrize("every", ["0", "-3", "ten"])
def test_every_below_one_is_rejected_by_the_cli(every: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["run", "--every", every, "train.py"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--every" in err
    if every != "ten":
        assert f"must be a whole number >= 1, got {every}" in err


def test_every_is_honoured(tmp_path: Path) -> None:
    script = write(tmp_path / "every.py", tiny_training(50))
    logdir = tmp_path / "logs"
    code, report = run_in_process(script, every=7, logdir=str(logdir))
    assert code == 0
    steps = [
        json.loads(line)["step"]
        for line in (logdir / "gradmedic.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "step"
    ]
    assert steps == list(range(20)) + [21, 28, 35, 42, 49]  # dense warm-up, then every 7th step


# --- logs -------------------------------------------------------------------------------------------------
def test_logdir_writes_jsonl_and_tensorboard_zero_fractions(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    script = write(tmp_path / "logged.py", tiny_training(25))
    logdir = tmp_path / "logs"
    code, report = run_in_process(script, logdir=str(logdir))
    assert code == 0

    records = [json.loads(line) for line in (logdir / "gradmedic.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "report"
    assert records[-1]["steps"] == 25
    assert sum(r["type"] == "step" for r in records) == 21  # steps 0..19 and 20

    events = list(logdir.glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"gradmedic/zero_fraction/0", "gradmedic/zero_fraction/2"} <= tags
    assert "gradmedic/zero_fraction/4" not in tags, "the output layer has no activation to measure"
    values = acc.Scalars("gradmedic/zero_fraction/0")
    steps = [v.step for v in values]
    # the runner attaches at the first optimizer step, after the first forward pass: step 0 has no activations
    assert steps == list(range(1, 21)), steps
    assert all(0.0 <= v.value <= 1.0 for v in values)
    assert 0.1 < values[0].value < 0.9  # a ReLU layer at init: about half of its outputs are zero
