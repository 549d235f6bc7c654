"""The page built from real logs: plots and cards are there, the pictures show the failure, text is escaped,
nothing is fetched, and a long deep run stays under the size limit."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import gradmedic
from gradmedic.records import ActivationStats, LayerInfo, LayerStats, Report, StepStats, Treatment
from gradmedic.report import build_report, load_log, render
from gradmedic.sinks.jsonl import FILENAME, JsonlSink

from ..models import fit
from .conftest import Run

PLOTS = ("flow", "zeros", "dead", "saturation", "gradnorm", "loss")


def heatmap_pixels(page: str, chart_id: str) -> np.ndarray:
    """The heatmap's inline PNG, decoded: ``uint8[height, width, 3]``."""
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', page, re.S)
    assert svg is not None, f"no svg#{chart_id}"
    uri = re.search(r'href="data:image/png;base64,([^"]+)"', svg.group(0))
    assert uri is not None, f"svg#{chart_id} has no inline PNG"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.group(1)))).convert("RGB"))


def row_bands(pixels: np.ndarray, rows: int) -> list[np.ndarray]:
    height = pixels.shape[0]
    return [pixels[i * height // rows : (i + 1) * height // rows] for i in range(rows)]


def test_page_has_every_plot_and_a_card_per_diagnosis(sigmoid_run: Run) -> None:
    out = build_report(sigmoid_run.logdir)
    assert out == sigmoid_run.logdir / "report.html"
    page = out.read_text()
    for plot in PLOTS:
        assert f'id="m0-{plot}"' in page
    diagnoses = sigmoid_run.report.diagnoses
    assert diagnoses and diagnoses[0].kind == "vanishing_gradients"
    for i, d in enumerate(diagnoses, 1):
        card = re.search(
            rf'<article class="card {d.severity}" id="m0-d{i}" data-kind="{d.kind}">.*?</article>', page, re.S
        )
        assert card is not None
        body = card.group(0)
        assert html.escape(d.message) in body
        assert html.escape(d.remedies[0].snippet) in body
        assert f'id="m0-d{i}-bars"' in body and "Evidence" in body
        assert f'href="#m0-d{i}"' in page  # the marker and the summary link to it
    assert 'class="marker error"' in page
    assert "Vanishing gradients" in page.split("<h2", 1)[0]  # named in the summary, before the plots


def test_gradient_flow_fades_towards_the_input_of_a_vanishing_net(sigmoid_run: Run) -> None:
    page = render([load_log(sigmoid_run.logdir / FILENAME)])
    pixels = heatmap_pixels(page, "m0-flow").astype(float)
    layers = [i.name for i in sigmoid_run.report.layers if i.has_weights]
    bands = row_bands(pixels, len(layers))
    brightness = [band.mean() for band in bands]
    # the colour scale runs from dark (tiny gradient) to bright (large): the first layer is darkest
    assert brightness[0] < brightness[len(layers) // 2] < brightness[-1]


def test_dead_layer_is_dark_in_the_dead_units_heatmap_and_highlighted_in_the_bars(dead_run: Run) -> None:
    log = load_log(dead_run.logdir / FILENAME)
    page = render([log])
    measured = [i.name for i in log.layers if i.activation]  # layers with an activated output
    bands = row_bands(heatmap_pixels(page, "m0-dead").astype(float), len(measured))
    dead = measured.index("2")  # the layer born dead (bias -20)
    darkest = int(np.argmin([band.mean() for band in bands]))
    assert darkest == dead
    card = re.search(r'<article class="card error" id="m0-d1" data-kind="dead_units">.*?</article>', page, re.S)
    assert card is not None
    assert re.search(r'class="bar hit error"[^>]*><title>2: 1</title>', card.group(0))


def test_healthy_run_says_so(healthy_run: Run) -> None:
    page = render([load_log(healthy_run.logdir / FILENAME)])
    assert "Healthy: nothing above info was diagnosed." in page
    assert 'class="card error"' not in page and 'class="card warning"' not in page
    assert 'class="marker' not in page


def test_treatment_shows_before_and_after_in_the_card_of_its_kind(dead_run: Run, tmp_path: Path) -> None:
    treatment = Treatment(
        step=30,
        kind="dead_units",
        action="revived 128 dead units of layer '2'",
        reason="layer '2' was 100% dead for 6 sampled steps",
        before={"dead_fraction": 1.0},
        after={"dead_fraction": 0.0},
        reverse="none needed",
    )
    line = json.dumps({"type": "treatment", **treatment.to_dict()})  # as the sink writes it
    (tmp_path / FILENAME).write_text((dead_run.logdir / FILENAME).read_text() + line + "\n")
    page = render([load_log(tmp_path / FILENAME)])
    card = re.search(r'<article class="card error" id="m0-d1" data-kind="dead_units">.*?</article>', page, re.S)
    assert card is not None
    body = card.group(0)
    assert "Step 30: revived 128 dead units of layer &#x27;2&#x27;" in body
    assert "<tr><th>dead_fraction</th><td>1</td><td>0</td></tr>" in body
    assert 'class="marker treatment"' in page


def test_user_text_is_escaped(tmp_path: Path) -> None:
    model = nn.Sequential()
    model.add_module("<img src=x onerror=alert(1)>", nn.Linear(64, 32))
    model.add_module("act", nn.ReLU())
    model.add_module("out", nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradmedic.watch(model, opt, logdir=tmp_path, console=False) as monitor:
        fit(model, opt, 25, monitor)
    page = build_report(tmp_path).read_text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_page_is_self_contained(sigmoid_run: Run) -> None:
    page = render([load_log(sigmoid_run.logdir / FILENAME)])
    links = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert links and all(link.startswith(("#", "data:image/png;base64,")) for link in links)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {f"#m0-{p}-legend" for p in PLOTS}


def test_several_models_get_a_section_each(sigmoid_run: Run, dead_run: Run, tmp_path: Path) -> None:
    shutil.copy(sigmoid_run.logdir / FILENAME, tmp_path / FILENAME)
    (tmp_path / "Critic").mkdir()
    shutil.copy(dead_run.logdir / FILENAME, tmp_path / "Critic" / FILENAME)
    page = build_report(tmp_path, tmp_path / "out" / "page.html").read_text()
    assert '<section class="model" id="m0">' in page and '<section class="model" id="m1">' in page
    assert "<h2>Critic</h2>" in page
    assert 'data-kind="vanishing_gradients"' in page and 'data-kind="dead_units"' in page


def _synthetic_log(logdir: Path, steps: int, layers: int) -> None:
    """A long, deep run in the real format, written by the JSONL sink from StepStats."""
    rng = np.random.default_rng(0)
    infos = {
        f"blocks.{i}.fc": LayerInfo(f"blocks.{i}.fc", "Linear", i, activation="ReLU", units=16) for i in range(layers)
    }
    sink = JsonlSink(logdir)
    depth = np.arange(layers)
    for step in range(steps):
        norms = 10.0 ** (-depth / 40 + rng.normal(0, 0.2, layers))
        stats = {
            name: LayerStats(
                grad_norm=float(norms[i]),
                activation=ActivationStats("relu", float(rng.random()), None, rng.random(16) > 0.3),
            )
            for i, name in enumerate(infos)
        }
        sink.write_step(StepStats(step, stats, float(norms.sum()), loss=1.0 / (step + 1), losses={step: 1.0}), infos)
    sink.close(Report(steps=steps, layers=list(infos.values()), diagnoses=[]))


@pytest.mark.slow
def test_a_long_deep_run_is_binned_and_stays_small(tmp_path: Path) -> None:
    _synthetic_log(tmp_path, steps=700, layers=210)
    page = build_report(tmp_path).read_text()
    assert len(page.encode()) < 5_000_000
    assert "700 sampled steps × 210 layers" in page  # the footer states the size and the limits
    assert "at most 600 step columns × 200 layer rows" in page
    assert "<title>blocks.0.fc, blocks.1.fc</title>" in page  # 210 layers are merged into 105 rows of two
    pixels = heatmap_pixels(page, "m0-flow")
    assert pixels.shape[0] % 105 == 0 and pixels.shape[1] % 600 == 0
