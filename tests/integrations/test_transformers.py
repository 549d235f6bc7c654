"""gradmedic.transformers.GradmedicCallback on the real Hugging Face Trainer (CPU, models from small configs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.integration

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import gradmedic  # noqa: E402
from gradmedic.demo import data  # noqa: E402
from gradmedic.demo.scenarios import mlp  # noqa: E402
from gradmedic.transformers import GradmedicCallback  # noqa: E402

from .filings import Filings  # noqa: E402
from .hf import Digits, MLPClassifier, Tokens, bert, gpt2, train  # noqa: E402


def test_healthy_bert_is_quiet(tmp_path: Path) -> None:
    callback = GradmedicCallback(console=False)
    train(bert(), Tokens(), tmp_path, callback)
    report = callback.report
    assert report is not None and report.steps == 40
    assert any(layer.name.startswith("bert.encoder.layer.1.attention") for layer in report.layers)
    assert report.healthy, [(d.kind, d.severity, d.layers) for d in report.diagnoses]


def test_healthy_gpt2_is_quiet(tmp_path: Path) -> None:
    callback = GradmedicCallback(console=False)
    train(gpt2(), Tokens(lm=True), tmp_path, callback)
    report = callback.report
    assert report is not None and report.steps == 40
    assert report.healthy, [(d.kind, d.severity, d.layers) for d in report.diagnoses]


def test_deep_sigmoid_stack_gets_vanishing_gradients(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLPClassifier(mlp([64] + [64] * 10 + [10], nn.Sigmoid))
    callback = GradmedicCallback(console=False)
    train(model, Digits(), tmp_path, callback, optim="sgd", learning_rate=0.1, per_device_train_batch_size=64)
    assert callback.report is not None
    assert "vanishing_gradients" in callback.report.kinds(at_least="warning")


# at lr 300 the clipped norms stay flat: the loss, from its very first steps, tells
@pytest.mark.parametrize(("lr", "clip"), [(5.0, 0.0), (300.0, 1.0)])
def test_far_too_high_learning_rate_is_caught_with_and_without_the_trainers_clipping(
    tmp_path: Path, lr: float, clip: float
) -> None:
    torch.manual_seed(0)
    model = MLPClassifier(mlp([64, 128, 128, 10], nn.Identity))
    callback = GradmedicCallback(console=False)
    train(model, Digits(), tmp_path, callback, optim="sgd", learning_rate=lr, max_grad_norm=clip)
    assert callback.report is not None
    found = callback.report.kinds(at_least="warning")
    assert found & {"exploding_gradients", "non_finite", "loss_divergence"}, found


def test_gradients_are_read_after_the_trainer_clipped_them(tmp_path: Path) -> None:
    callback = GradmedicCallback(logdir=tmp_path / "gm", console=False)
    train(bert(), Tokens(), tmp_path, callback, steps=6, learning_rate=1e-2, max_grad_norm=1e-3)
    records = [json.loads(line) for line in (tmp_path / "gm" / "gradmedic.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    assert len(steps) == 6
    assert all(r["global_grad_norm"] <= 1e-3 * 1.01 for r in steps)  # the norm the optimizer applies
    assert all(0.3 < r["loss"] < 1.5 for r in steps)  # the model's own loss, every step (two classes: ~ln 2)


def test_tensorboard_only_when_report_to_says_so(tmp_path: Path) -> None:
    callback = GradmedicCallback(console=False)
    train(bert(), Tokens(n=64), tmp_path / "quiet", callback, steps=3)
    assert not list((tmp_path / "quiet").rglob("events.out.*"))

    callback = GradmedicCallback(console=False)
    train(bert(), Tokens(n=64), tmp_path / "tb", callback, steps=3, report_to=["tensorboard"])
    folder = tmp_path / "tb" / "runs" / "gradmedic"
    assert (folder / "gradmedic.jsonl").is_file()
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    assert "gradmedic/grad_norm/classifier" in acc.Tags()["scalars"]


def test_accelerate_prepared_model_and_optimizer_can_be_watched() -> None:
    from accelerate import Accelerator

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    model, opt = accelerator.prepare(model, torch.optim.Adam(model.parameters(), 1e-3))
    assert type(opt).__name__ == "AcceleratedOptimizer"
    x, y = data.digits()
    with gradmedic.watch(model, opt, console=False) as monitor:
        for xb, yb in data.batches(x, y, 32, 30):
            with accelerator.accumulate(model):
                loss = nn.functional.cross_entropy(model(xb), yb)
                accelerator.backward(loss)
                opt.step()
                opt.zero_grad()
                monitor.observe_loss(loss)
    report = monitor.close()
    assert report.steps == 15  # accelerate steps the optimizer every second batch
    assert report.healthy


class RecordsFilings(GradmedicCallback):
    def on_train_begin(self, args: object, state: object, control: object, **kwargs: object) -> None:
        super().on_train_begin(args, state, control, **kwargs)
        self.filings = Filings()
        assert self._session.monitor is not None
        self.filings.record(self._session.monitor)


def test_the_loss_the_callback_hands_over_is_not_read_again_at_backward(tmp_path: Path) -> None:
    """The Trainer calls backward() on the loss over the accumulation steps; the model's own losses are filed."""
    torch.manual_seed(0)
    model = MLPClassifier(mlp([64, 64, 10], nn.ReLU))
    callback = RecordsFilings(console=False)
    train(model, Digits(), tmp_path, callback, steps=5, gradient_accumulation_steps=2)
    filings = callback.filings
    assert len(filings.handed) == 10 and all(2.0 < v < 2.6 for v in filings.handed)  # ln(10), not halved
    assert [value for _, value in filings.filed] == filings.handed
