"""TensorBoard through ``tf.summary``: the shared sink's tags (``gradmedic/<stat>/<layer>``) without torch.

The shared sink (sinks/tensorboard.py) writes with ``torch.utils.tensorboard``; a Keras run may have no
torch, so this one writes the same scalars and texts with TensorFlow's own summary writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import tensorflow as tf

from ..records import Diagnosis, LayerInfo, Report, StepStats, Treatment
from ..sinks.base import layer_scalars
from ..sinks.tensorboard import diagnosis_markdown, tag


class TfSummarySink:
    def __init__(self, logdir: str | Path) -> None:
        self.writer = tf.summary.create_file_writer(str(logdir), flush_millis=30_000)
        self._closed = False

    def _scalar(self, name: str, value: float, step: int) -> None:
        with self.writer.as_default():
            tf.summary.scalar(name, value, step=step)

    def write_step(self, stats: StepStats, layers: Mapping[str, LayerInfo]) -> None:
        with self.writer.as_default():
            for name, layer_stats in stats.layers.items():
                for stat, value in layer_scalars(layer_stats).items():
                    tf.summary.scalar(tag(stat, name), value, step=stats.step)
            tf.summary.scalar("gradmedic/global/grad_norm", stats.global_grad_norm, step=stats.step)
            if stats.loss is not None:
                tf.summary.scalar("gradmedic/global/loss", stats.loss, step=stats.step)

    def write_diagnosis(self, diagnosis: Diagnosis, step: int) -> None:
        with self.writer.as_default():
            tf.summary.text("gradmedic/diagnoses", diagnosis_markdown(diagnosis), step=step)
        self.writer.flush()

    def write_losses(self, losses: Mapping[int, float]) -> None:
        for step, value in sorted(losses.items()):
            self._scalar("gradmedic/global/loss", value, step)

    def write_treatment(self, treatment: Treatment) -> None:
        text = f"**step {treatment.step}: {treatment.action}** ({treatment.kind})\n\n{treatment.reason}"
        with self.writer.as_default():
            tf.summary.text("gradmedic/treatments", text, step=treatment.step)
        self.writer.flush()

    def close(self, report: Report) -> None:
        if self._closed:
            return
        self._closed = True
        self.writer.flush()
        self.writer.close()
