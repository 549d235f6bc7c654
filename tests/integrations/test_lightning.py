"""gradmedic.lightning.GradmedicCallback on real Lightning trainers (CPU, tiny models, the bundled digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("lightning")

pytestmark = pytest.mark.integration

import lightning.pytorch as L  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import gradmedic  # noqa: E402
from gradmedic.demo.scenarios import mlp  # noqa: E402
from gradmedic.kinds.registry import get_kind  # noqa: E402
from gradmedic.lightning import GradmedicCallback  # noqa: E402

from .filings import Filings  # noqa: E402
from .lit import Classifier, GradNorms, TwoOptimizers, digits_loader, trainer  # noqa: E402


def _adam(params: object) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, 1e-3)  # type: ignore[arg-type]


def _fit(module: L.LightningModule, root: Path, steps: int, **kw: object) -> GradmedicCallback:
    callback = GradmedicCallback(console=False)
    trainer(root, steps, [callback], **kw).fit(module, digits_loader())
    return callback


def test_healthy_run_is_quiet_and_logs_into_the_trainer_loggers_folder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    logger = TensorBoardLogger(str(tmp_path), name="lit")
    callback = _fit(
        Classifier(mlp([64, 128, 128, 10], nn.ReLU), _adam), tmp_path, 40, logger=logger, log_every_n_steps=10
    )
    report = callback.report
    assert report is not None and report.steps == 40
    assert report.healthy, [(d.kind, d.severity) for d in report.diagnoses]
    assert [layer.name for layer in report.layers] == ["net.0", "net.2", "net.4"]
    folder = Path(logger.log_dir)
    assert (folder / "gradmedic.jsonl").is_file()
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"gradmedic/grad_norm/net.0", "gradmedic/zero_fraction/net.0", "gradmedic/global/loss"} <= tags
    assert "train_loss" in tags  # Lightning's own scalars share the folder


def test_deep_sigmoid_stack_gets_vanishing_gradients(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = mlp([64] + [64] * 10 + [10], nn.Sigmoid)
    callback = _fit(Classifier(net, lambda p: torch.optim.SGD(p, 0.1, momentum=0.9)), tmp_path, 40)
    assert callback.report is not None
    assert "vanishing_gradients" in callback.report.kinds(at_least="warning")


def test_far_too_high_learning_rate_is_caught(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = mlp([64, 128, 128, 10], nn.Identity)  # a deep linear net: nothing dies or saturates, it blows up
    callback = _fit(Classifier(net, lambda p: torch.optim.SGD(p, 5.0, momentum=0.9)), tmp_path, 40)
    assert callback.report is not None
    found = callback.report.kinds(at_least="warning")
    assert found & {"exploding_gradients", "non_finite", "loss_divergence"}, found


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_gradients_are_this_steps_under_accumulation_and_mixed_precision(tmp_path: Path, precision: str) -> None:
    """A step is an optimizer step; its gradients are the ones the optimizer applies (not the last step's)."""
    torch.manual_seed(0)
    norms = GradNorms()
    callback = GradmedicCallback(logdir=tmp_path / "gm", console=False)
    lit = trainer(tmp_path, 12, [callback, norms], accumulate_grad_batches=2, precision=precision)
    lit.fit(Classifier(mlp([64, 64, 10], nn.ReLU), _adam), digits_loader(32))
    assert callback.report is not None and callback.report.steps == 12 == len(norms.norms)
    steps = [json.loads(line) for line in (tmp_path / "gm" / "gradmedic.jsonl").read_text().splitlines()]
    steps = [r for r in steps if r["type"] == "step"]
    assert [r["step"] for r in steps] == list(range(12))
    for record, norm in zip(steps, norms.norms):
        assert record["global_grad_norm"] == pytest.approx(norm, rel=1e-3)
    first_loss = steps[0]["loss"]
    assert 2.0 < first_loss < 2.6  # ln(10): the full loss, not Lightning's loss / accumulate_grad_batches


def test_two_optimizers_under_manual_optimisation_give_one_monitor(tmp_path: Path) -> None:
    torch.manual_seed(0)
    callback = _fit(TwoOptimizers(), tmp_path, 30)
    report = callback.report
    assert report is not None and report.steps == 15  # Lightning's max_steps counts both optimizers' steps
    assert {layer.name for layer in report.layers} == {"encoder.0", "head"}
    assert report.healthy


def test_an_exception_in_training_closes_the_monitor_and_keeps_the_report(tmp_path: Path) -> None:
    callback = GradmedicCallback(console=False)
    module = Classifier(mlp([64, 32, 10], nn.ReLU), _adam, fail_at=7)
    with pytest.raises(RuntimeError, match="the user's bug"):
        trainer(tmp_path, 20, [callback]).fit(module, digits_loader())
    assert callback.report is not None and callback.report.steps == 7
    assert not module._forward_hooks and not module._forward_pre_hooks  # nothing of gradmedic is left behind


def test_without_a_tensorboard_logger_or_logdir_no_files_are_written(tmp_path: Path) -> None:
    callback = _fit(Classifier(mlp([64, 32, 10], nn.ReLU), _adam), tmp_path, 5)
    assert callback.report is not None and callback.report.steps == 5
    assert not list(tmp_path.rglob("gradmedic.jsonl")) and not list(tmp_path.rglob("events.out.*"))


def test_bad_arguments_are_refused_before_training() -> None:
    with pytest.raises(ValueError, match="every must be >= 1"):
        GradmedicCallback(every=0)


def test_the_pytorch_lightning_package_gets_its_own_callback(tmp_path: Path) -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from gradmedic.pytorch_lightning import GradmedicCallback as PLCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp([64, 32, 10], nn.ReLU)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            return nn.functional.cross_entropy(self.net(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return _adam(self.parameters())

    callback = PLCallback(console=False)
    assert isinstance(callback, pl.Callback)
    pl.Trainer(
        max_steps=5,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[callback],
    ).fit(Module(), digits_loader())
    assert callback.report is not None and callback.report.steps == 5


class KeepsMonitor(GradmedicCallback):
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self.kept = self._session.monitor


def test_treatment_acts_inside_lightnings_closure(tmp_path: Path) -> None:
    """treat=True: the step gate reads this step's gradients (after the closure) and keeps NaN out of the weights."""
    torch.manual_seed(0)
    net = mlp([64, 128, 128, 10], nn.Identity)
    callback, norms = KeepsMonitor(console=False, treat=True), GradNorms()
    module = Classifier(net, lambda p: torch.optim.SGD(p, 5.0, momentum=0.9))
    trainer(tmp_path, 40, [callback, norms]).fit(module, digits_loader())
    report = callback.report
    assert report is not None and report.treatments, report
    assert all(torch.isfinite(p).all() for p in module.parameters())
    gate = callback.kept._doctor.gate  # type: ignore[union-attr]
    assert [step for step, _ in gate.norms[:5]] == [0, 1, 2, 3, 4]
    assert [n for _, n in gate.norms[:5]] == pytest.approx(norms.norms[:5], rel=1e-4)


class StepsSeen(gradmedic.Sink):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def write_step(self, stats: gradmedic.StepStats, layers: object) -> None:
        self.steps.append(stats.step)


def test_the_callback_takes_sinks_and_detectors_of_ones_own(tmp_path: Path) -> None:
    """The deep sigmoid stack above, watched for dead units only: no vanishing_gradients, and the sink sees steps."""
    dead_units = get_kind("dead_units")
    assert dead_units is not None
    torch.manual_seed(0)
    net = mlp([64] + [64] * 10 + [10], nn.Sigmoid)
    sink = StepsSeen()
    callback = GradmedicCallback(console=False, sinks=[sink], detectors=[dead_units])
    module = Classifier(net, lambda p: torch.optim.SGD(p, 0.1, momentum=0.9))
    trainer(tmp_path, 40, [callback]).fit(module, digits_loader())
    assert callback.report is not None and callback.report.steps == 40
    assert "vanishing_gradients" not in callback.report.kinds()
    assert sink.steps and sink.steps == sorted(sink.steps)


class RecordsFilings(GradmedicCallback):
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self.filings = Filings()
        assert self._session.monitor is not None
        self.filings.record(self._session.monitor)


def test_the_loss_the_callback_hands_over_is_not_read_again_at_backward(tmp_path: Path) -> None:
    """Under accumulation Lightning calls backward() on loss / 2; only the callback's full losses are filed."""
    torch.manual_seed(0)
    callback = RecordsFilings(console=False)
    lit = trainer(tmp_path, 6, [callback], accumulate_grad_batches=2)
    lit.fit(Classifier(mlp([64, 64, 10], nn.ReLU), _adam), digits_loader(32))
    filings = callback.filings
    assert len(filings.handed) == 12  # once per batch: two per optimizer step
    assert [value for _, value in filings.filed] == filings.handed
    assert [step for step, _ in filings.filed] == [s for s in range(6) for _ in range(2)]
