"""TensorBoard: per-layer scalars tagged ``gradmedic/<stat>/<layer>``; diagnoses, treatments and incidents as text.

A custom-scalars layout, written once, puts every layer's series of one stat in a single chart.
Written with ``EventFile`` and TensorBoard's protos (no torch, no writer thread): a write error
reaches ``SinkSet``, which switches this sink off and records an incident.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Mapping

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata

from ..records import Diagnosis, Incident, LayerInfo, Report, StepStats, Treatment
from .base import LAYER_STATS, Sink, layer_scalars
from .event_file import EventFile

LAYOUT_CATEGORY = "gradmedic"


def tag(stat: str, layer: str) -> str:
    return f"gradmedic/{stat}/{layer}"


def custom_scalars_layout() -> dict[str, dict[str, list[object]]]:
    """For the custom-scalars plugin: one chart per stat, matching ``gradmedic/<stat>/.*`` (all layers)."""
    return {LAYOUT_CATEGORY: {stat: ["Multiline", [f"gradmedic/{stat}/.*"]] for stat in LAYER_STATS}}


def layout_summary() -> Summary:
    charts = [
        layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=patterns))
        for category in custom_scalars_layout().values()
        for title, (_, patterns) in category.items()
    ]
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title=LAYOUT_CATEGORY, chart=charts)])
    value = Summary.Value(
        tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
        metadata=custom_scalar_metadata.create_summary_metadata(),
        tensor=TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()]),
    )
    return Summary(value=[value])


def text_summary(name: str, text: str) -> Summary:
    """Markdown for the text dashboard, under ``<name>/text_summary`` as ``torch.utils.tensorboard`` names it."""
    value = Summary.Value(
        tag=f"{name}/text_summary",
        metadata=text_metadata.create_summary_metadata(display_name="", description=""),
        tensor=TensorProto(
            dtype="DT_STRING",
            string_val=[text.encode("utf-8")],
            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
        ),
    )
    return Summary(value=[value])


def scalars(values: Mapping[str, float]) -> Summary:
    return Summary(value=[Summary.Value(tag=name, simple_value=value) for name, value in values.items()])


def diagnosis_markdown(d: Diagnosis) -> str:
    lines = [
        f"**{d.severity.upper()} {d.kind}** (layers: {', '.join(d.layers) or '-'}, since step {d.first_step})",
        "",
        d.message,
    ]
    if d.remedies:
        best = d.remedies[0]
        lines += ["", f"Remedy: {best.summary}", "", "    " + best.snippet.replace("\n", "\n    ")]
    return "\n".join(lines)


class TensorBoardSink(Sink):
    def __init__(self, logdir: str | Path, flush_secs: float = 30.0) -> None:
        self.events = EventFile(logdir, flush_secs=flush_secs)
        with contextlib.suppress(OSError):  # a full disk: kept, and tried again with the first step
            self.events.add(layout_summary(), 0)

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        values = {
            tag(stat, name): value
            for name, layer_stats in stats.layers.items()
            for stat, value in layer_scalars(layer_stats).items()
        }
        values["gradmedic/global/grad_norm"] = stats.global_grad_norm
        if stats.loss is not None:
            values["gradmedic/global/loss"] = stats.loss
        self.events.add(scalars(values), stats.step)

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        self.events.add(text_summary("gradmedic/diagnoses", diagnosis_markdown(diagnosis)), step)
        self.events.flush()

    def write_losses(self, losses: Mapping[int, float]) -> None:
        for step, value in sorted(losses.items()):
            self.events.add(scalars({"gradmedic/global/loss": value}), step)

    def write_treatment(self, treatment: Treatment) -> None:
        text = f"**step {treatment.step}: {treatment.action}** ({treatment.kind})\n\n{treatment.reason}"
        if treatment.reverse:
            text += f"\n\nTo reverse: {treatment.reverse}"
        self.events.add(text_summary("gradmedic/treatments", text), treatment.step)
        self.events.flush()

    def write_incident(self, incident: Incident) -> None:
        text = f"**step {incident.step}: {incident.component}**\n\n{incident.error}"
        self.events.add(text_summary("gradmedic/incidents", text), max(incident.step, 0))
        self.events.flush()

    def close(self, report: Report) -> None:
        self.events.close()
