"""Training without an optimizer (weights updated by hand), and blow-ups that end a run, in real torch loops.

``gradmedic.watch(model)`` without an optimizer counts a step per backward pass that reaches the
model's parameters; gradients are read at the end of the backward pass and the update from the
weights before and after it.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.probe.clock import WATCHED_PARAMETERS

from .test_step_cost import OpCounter


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 8, generator=g)
    return x, (x[:, 0] > 0).long()


def test_hand_updated_loop_counts_a_step_per_backward_and_measures_the_update() -> None:
    model, (x, y), lr = _mlp(), _data(), 0.1
    expected: dict[int, float] = {}  # step -> ||dw|| / ||w|| of model[2], computed here
    with gradmedic.watch(model, console=False) as monitor:
        for step in range(25):
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            monitor.observe_loss(loss)
            before = model[2].weight.detach().clone()
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            expected[step] = float((model[2].weight.detach() - before).norm() / before.norm())
    report = monitor.report()
    assert report.steps == 25
    assert report.healthy, report.diagnoses
    history = list(monitor._pipeline.history)
    sampled = [s for s in history if s.layers]
    assert [s.step for s in sampled] == list(range(21))  # dense first 20 steps, then every 10th
    assert history[-1].step == 24 and not history[-1].layers  # the losses after step 20, judged at close
    for s in sampled:
        assert s.layers["2"].update_ratio == pytest.approx(expected[s.step], rel=1e-3)
        assert s.loss is not None and s.layers["2"].grad_norm


def test_no_grad_subtraction_going_nan_at_the_second_step_is_diagnosed() -> None:
    model, (x, y) = _mlp(), _data()
    with gradmedic.watch(model, console=False) as monitor:
        for _ in range(12):
            model.zero_grad()
            loss = ((model(x)[:, 0] - y.float() * 1e4) ** 2).mean()
            loss.backward()
            monitor.observe_loss(loss)
            with torch.no_grad():
                for p in model.parameters():
                    p -= 1e30 * p.grad
    report = monitor.report()
    assert report.steps == 12
    bad = [d for d in report.diagnoses if d.kind == "non_finite"]
    assert bad and bad[0].severity == "error" and bad[0].first_step <= 1


def test_lbfgs_closure_is_one_step_per_optimizer_step() -> None:
    model, (x, y) = _mlp(), _data()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        calls += 1
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    with gradmedic.watch(model, console=False) as monitor:  # no optimizer handed over: backward passes count
        for _ in range(6):
            optimizer.step(closure)
    assert calls > 6
    assert monitor.report().steps == 6


def test_parts_called_one_by_one_still_count_and_get_their_update() -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict({"body": nn.Linear(8, 16), "head": nn.Linear(16, 2)})  # the root is never called
    x, y = _data()
    with gradmedic.watch(model, console=False) as monitor:
        for _ in range(5):
            model.zero_grad()
            F.cross_entropy(model["head"](torch.relu(model["body"](x))), y).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
    assert monitor.report().steps == 5
    ratios = [s.layers["head"].update_ratio for s in monitor._pipeline.history if s.layers]
    assert len(ratios) == 5 and all(r is not None and r > 0 for r in ratios)


def test_a_backward_that_misses_the_model_is_not_a_step() -> None:
    model, (x, y) = _mlp(), _data()
    other = nn.Linear(8, 2)
    with gradmedic.watch(model, console=False) as monitor:
        for _ in range(3):
            F.cross_entropy(other(x), y).backward()
    assert monitor.report().steps == 0


def test_the_end_of_backward_is_seen_through_a_few_parameters_only() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(20)])
    monitor = gradmedic.watch(model, console=False)
    hooked = [p for p in model.parameters() if getattr(p, "_post_accumulate_grad_hooks", None)]
    assert 1 <= len(hooked) <= WATCHED_PARAMETERS
    monitor.close()
    assert not [p for p in model.parameters() if getattr(p, "_post_accumulate_grad_hooks", None)]


def test_an_unsampled_hand_updated_step_costs_no_op_when_the_loss_is_handed_over() -> None:
    def ops(watched: bool) -> list[str]:
        model, (x, y) = _mlp(), _data()
        monitor = gradmedic.watch(model, console=False) if watched else None

        def step() -> None:
            model.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if monitor is not None:
                monitor.observe_loss(loss)
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.01 * p.grad

        for _ in range(23):
            step()
        with OpCounter() as counter:
            step()
        if monitor is not None:
            assert not monitor.config.is_sampled(monitor.step - 1)
            monitor.close()
        return counter.ops

    plain = ops(watched=False)
    assert plain
    assert ops(watched=True) == plain


# --- blow-ups that happen early or end the run ----------------------------------------------------------
def test_adamw_at_lr_1_with_clipping_is_caught() -> None:
    """The script's own clipping keeps the gradient norm at 1; the updates and the loss still blow up."""

    def train(lr: float) -> gradmedic.Report:
        torch.manual_seed(0)
        x = torch.randn(512, 32)
        y = (x[:, :4].sum(1) > 0).long()
        model = nn.Sequential(
            nn.Linear(32, 64), nn.GELU(), nn.LayerNorm(64), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 2)
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        with gradmedic.watch(model, optimizer, console=False) as monitor:
            for _ in range(40):
                idx = torch.randint(0, 512, (64,))
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                monitor.observe_loss(loss)
                optimizer.step()
        return monitor.report()

    blown = train(lr=1.0)
    assert {"loss_divergence", "update_ratio"} <= blown.kinds(at_least="warning"), blown.diagnoses
    divergence = next(d for d in blown.diagnoses if d.kind == "loss_divergence")
    assert divergence.first_step <= 3
    assert "exploding_gradients" not in blown.kinds()  # clipping keeps the norm flat: the old rules saw nothing
    assert train(lr=1e-3).healthy


def test_a_run_that_dies_right_after_a_blow_up_still_gets_the_diagnosis() -> None:
    """A plain loop whose loss goes 0.69 -> ~500 -> ~3700; the script then dies of an OverflowError."""
    torch.manual_seed(0)
    x = torch.randn(256, 20)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    monitor = gradmedic.watch(model, optimizer, console=False, every=10)
    losses = []
    with pytest.raises(OverflowError):
        for _ in range(100):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            monitor.observe_loss(loss)
            optimizer.step()
            losses.append(loss.item())
            math.exp(losses[-1])  # the script's own perplexity log
    report = monitor.close()
    assert losses[0] < 1 and losses[-1] > 700
    found = [d for d in report.diagnoses if d.kind == "loss_divergence"]
    assert found and found[0].severity == "error" and found[0].first_step == 1, report.diagnoses


def test_losses_after_the_last_sampled_step_are_judged_at_close() -> None:
    """Sampled at step 0 only (warm-up off): the blow-up is seen only in the losses handed over after it."""
    model, (x, y) = _mlp(), _data()
    config = gradmedic.Config(warmup_steps=1, every=1000)
    with gradmedic.watch(model, console=False, config=config) as monitor:
        for loss_value in [0.69, 0.68, 24.0, 201.0, 900.0, 2500.0, 6000.0]:
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            monitor.observe_loss(loss_value)
    assert len(monitor._pipeline.history) == 2  # step 0, and the loss-only record made at close
    assert "loss_divergence" in monitor.report().kinds(at_least="error")


def test_update_by_replacing_the_storage_is_measured() -> None:
    """``p.data = p.data - lr * p.grad`` gives each weight new storage at every step."""
    model, (x, y), lr = _mlp(), _data(), 0.1
    expected: dict[int, float] = {}
    with gradmedic.watch(model, console=False) as monitor:
        for step in range(4):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            before = model[0].weight.detach().clone()
            for p in model.parameters():
                p.data = p.data - lr * p.grad
            expected[step] = float((model[0].weight.detach() - before).norm() / before.norm())
    ratios = {s.step: s.layers["0"].update_ratio for s in monitor._pipeline.history if s.layers}
    assert ratios == pytest.approx(expected, rel=1e-3)


def test_a_hand_updated_model_can_be_saved_and_copied_mid_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import copy

    model, (x, y) = _mlp(), _data()
    with gradmedic.watch(model, console=False):
        F.cross_entropy(model(x), y).backward()
        torch.save(model, tmp_path / "model.pt")
        twin = copy.deepcopy(model)
    assert not [p for p in twin.parameters() if getattr(p, "_post_accumulate_grad_hooks", None)]
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    assert not [p for p in loaded.parameters() if getattr(p, "_post_accumulate_grad_hooks", None)]
