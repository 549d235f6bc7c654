"""No false alarms on modern architectures, and gradients read unscaled per optimizer.

Healthy transformers (Hugging Face BERT and GPT-2 from small configs, nn.TransformerEncoder) get
nothing above info; two optimizers with one GradScaler see the head's gradients unscaled; attention,
embeddings, norms and a transformer's head stay out of the vanishing rule's depth profile.
"""

from __future__ import annotations

from typing import Any, Mapping

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradmedic
from gradmedic.probe.layers import activation_kind, find_layers
from gradmedic.records import ActivationKind, LayerInfo, StepStats

ALARM = ("warning", "error")


class Steps:
    """A sink that keeps every sampled step's record."""

    def __init__(self) -> None:
        self.steps: list[StepStats] = []

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        self.steps.append(stats)

    def write_diagnosis(self, *args: Any) -> None: ...

    def write_treatment(self, *args: Any) -> None: ...

    def close(self, *args: Any) -> None: ...


def _alarms(report: gradmedic.Report) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(d.kind, d.severity, d.layers[:3]) for d in report.diagnoses if d.severity in ALARM]


def test_two_optimizers_and_a_gradscaler_read_the_head_unscaled() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
    opt_body = torch.optim.SGD(list(model[:4].parameters()), lr=0.05)
    opt_head = torch.optim.SGD(model[4].parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    steps = Steps()
    x, y = torch.randn(256, 10), torch.randint(0, 3, (256,))
    head_norms = []
    with gradmedic.watch(model, [opt_body, opt_head], console=False, sinks=[steps]) as monitor:
        for _ in range(30):
            opt_body.zero_grad()
            opt_head.zero_grad()
            scaler.scale(F.cross_entropy(model(x), y)).backward()
            scaler.step(opt_body)
            scaler.step(opt_head)
            head_norms.append(float(model[4].weight.grad.norm()))  # unscaled by now
            scaler.update()
    assert scaler.get_scale() > 1000, "the scaler kept scaling: the test exercises scaled gradients"
    seen = {s.step: s.layers["4"].grad_norm for s in steps.steps}
    assert len(seen) >= 20
    for step, norm in seen.items():
        assert norm == pytest.approx(head_norms[step], rel=1e-3), f"step {step}: read scaled"
    assert not _alarms(monitor.report())


@pytest.mark.slow
def test_runner_watches_a_sequential_and_its_head_as_one_model(tmp_path: Any) -> None:
    from gradmedic.run import RunOptions, run

    script = tmp_path / "two.py"
    script.write_text(
        "import torch, torch.nn.functional as F\n"
        "from torch import nn\n"
        "torch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))\n"
        "opt_all = torch.optim.SGD(model.parameters(), lr=0.05)\n"
        "opt_head = torch.optim.Adam(model[2].parameters(), lr=1e-3)\n"
        "x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))\n"
        "for _ in range(10):\n"
        "    opt_all.zero_grad(); opt_head.zero_grad()\n"
        "    F.cross_entropy(model(x), y).backward()\n"
        "    opt_head.step(); opt_all.step()\n"
    )
    out = tmp_path / "report.json"
    assert run(str(script), [], RunOptions(json_path=str(out), quiet=True)) == 0
    import json

    models = json.loads(out.read_text())["models"]
    assert [(m["type"], m["steps"]) for m in models] == [("Sequential", 10)]


def _train(model: nn.Module, batches: Any, steps: int, lr: float = 1e-3) -> gradmedic.Report:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    with gradmedic.watch(model, optimizer, console=False) as monitor:
        for step in range(steps):
            loss = batches(step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.observe_loss(loss)
    return monitor.report()


@pytest.mark.slow
def test_hugging_face_bert_is_healthy_and_its_gelu_is_known() -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=2
    )
    model = transformers.BertForSequenceClassification(config)
    ids, labels = torch.randint(6, 64, (256, 12)), torch.randint(0, 2, (256,))
    ids[labels == 1, 3] = 5
    report = _train(model, lambda s: model(input_ids=ids[s % 8 * 32 :][:32], labels=labels[s % 8 * 32 :][:32]).loss, 60)
    assert not _alarms(report)
    layers = {layer.name: layer for layer in find_layers(model)}
    assert not layers["bert.encoder.layer.0.attention.self.query"].compares_by_depth
    assert not layers["classifier"].compares_by_depth  # a head outside the blocks
    assert layers["bert.encoder.layer.1.output.dense"].compares_by_depth
    gelu = model.bert.encoder.layer[0].intermediate.intermediate_act_fn
    assert activation_kind(gelu) == "other"


@pytest.mark.slow
def test_hugging_face_gpt2_is_healthy() -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=50, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    )
    data = torch.randint(0, 50, (64, 32))
    report = _train(model, lambda s: model(input_ids=data[s % 4 * 16 :][:16], labels=data[s % 4 * 16 :][:16]).loss, 60)
    assert not _alarms(report)


@pytest.mark.slow
def test_torch_transformer_encoder_is_healthy() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(40, 32)
            self.encoder = nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False)
            self.head = nn.Linear(32, 40)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(self.embed(x)))  # [B, T, V]

    model = Net()
    x = torch.randint(0, 40, (128, 16))
    y = torch.roll(x, 1, dims=1)
    report = _train(
        model, lambda s: F.cross_entropy(model(x[s % 4 * 32 :][:32]).transpose(1, 2), y[s % 4 * 32 :][:32]), 60
    )
    assert not _alarms(report)


KINDS: dict[str, ActivationKind] = {"GELU": "other", "Tanh": "tanh"}


def _info(name: str, order: int, activation: str) -> LayerInfo:
    kind = KINDS.get(activation)
    module = f"{name}.act" if activation else ""
    return LayerInfo(name, "Linear", order, activation=activation, activation_module=module, activation_kind=kind)


def test_vanishing_advice_blames_tanh_only_where_it_dominates() -> None:
    from gradmedic.advice import explain
    from gradmedic.records import VANISHING, Finding

    finding = Finding(
        kind=VANISHING,
        severity="warning",
        layers=("fc1", "fc2"),
        first_step=5,
        step=20,
        evidence={"ratio_to_output": {"fc1": 1e-4, "fc2": 1e-4}, "output_layer": "out", "threshold": 1e-3},
    )
    gelu_model = {
        n: _info(n, i, a)
        for i, (n, a) in enumerate([("fc1", "GELU"), ("fc2", "GELU"), ("fc3", "GELU"), ("pool", "Tanh"), ("out", "")])
    }
    tanh_model = {
        n: _info(n, i, a) for i, (n, a) in enumerate([("fc1", "Tanh"), ("fc2", "Tanh"), ("fc3", "Tanh"), ("out", "")])
    }
    gelu = explain(finding, gelu_model)
    assert "non_saturating_activation" not in [r.name for r in gelu.remedies]
    assert "Tanh" not in gelu.message
    tanh = explain(finding, tanh_model)
    swap = [r for r in tanh.remedies if r.name == "non_saturating_activation"]
    assert swap and "GELU" not in swap[0].summary and "Tanh" in swap[0].summary
