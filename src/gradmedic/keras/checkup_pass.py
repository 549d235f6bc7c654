"""``gradmedic.keras.checkup``: one forward and one backward pass on a sample batch, a verdict before training.

The Keras half only measures: each weight layer's *signal* (its activated output, or its raw output when
no activation follows it) is caught by wrapping the layers' ``call`` for one eager pass under a
``GradientTape``, and one ``tape.gradient`` gives the loss gradient with respect to every signal. The
verdicts are the PyTorch checkup's own (``detectors/init_rules.judge``), explained by ``advice.explain``.

As in the PyTorch checkup, the pass runs in training mode (BatchNormalization normalises over the
batch) with dropout switched off; the model's non-trainable state (moving statistics, seeds) is
restored afterwards and no optimizer step is taken.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import keras
import numpy as np
import tensorflow as tf

from ..advice import explain
from ..config import Config
from ..detectors.init_rules import judge
from ..records import SEVERITY_RANK, ActivationKind, CheckupLayer, CheckupReport
from .activations import reduce_in_graph, unit_axis
from .advice import keras_report
from .layers import find_layers, layer_table, leaves

LossFn = Callable[..., Any]


def checkup(
    model: keras.Model,
    x_batch: Any,
    y_batch: Any = None,
    loss_fn: LossFn | None = None,
    *,
    config: Config | None = None,
    seed: int = 0,
) -> CheckupReport:
    """Diagnose a Keras ``model`` before training, from one pass on ``x_batch`` (ideally 64+ examples).

    The loss: ``loss_fn(y_batch, y_pred)`` when given; else the compiled loss when the model is compiled and
    ``y_batch`` given; else cross-entropy on the raw output for integer targets, mean squared error for
    float targets, and a fixed random projection of the output without targets.
    """
    cfg = config or Config()
    if not getattr(model, "built", False):
        raise ValueError(
            f"{type(model).__name__} is not built yet, so it has no weights to check; "
            "give it a keras.Input(shape), or call it once on a batch (model(x_batch[:1])) first"
        )
    layers, sites = find_layers(model)
    site_of = {site.name: site for site in sites}
    chain = [layer for layer in layers if layer.compares_by_depth]
    watched = {id(site.layer): site for site in sites} | {id(layer.layer): None for layer in chain}
    signals: dict[int, tf.Tensor] = {}  # id(layer) -> its first output in the pass
    saved = [(v, v.numpy()) for v in model.non_trainable_variables]
    undo: list[Callable[[], None]] = []

    def catch(layer: Any) -> None:
        call = layer.call

        def caught(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            if id(layer) not in signals and isinstance(out, tf.Tensor):
                signals[id(layer)] = out
            return out

        object.__setattr__(layer, "call", caught)
        undo.append(lambda: vars(layer).pop("call", None))

    def no_dropout(layer: Any) -> None:
        object.__setattr__(layer, "call", lambda inputs, *a, **k: inputs)
        undo.append(lambda: vars(layer).pop("call", None))

    for _, layer in leaves(model):
        if "Dropout" in type(layer).__name__ and "call" not in vars(layer):
            no_dropout(layer)
        elif id(layer) in watched and "call" not in vars(layer):
            catch(layer)
    x = tf.convert_to_tensor(x_batch) if not isinstance(x_batch, (dict, list, tuple)) else x_batch
    try:
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss, loss_name = _loss(model, x, y_pred, y_batch, loss_fn, seed)
    finally:
        for step in reversed(undo):
            step()
        for variable, value in saved:
            variable.assign(value)

    # each chain layer's signal: the site's activated output, or the layer's raw output
    signal_of: dict[str, tf.Tensor] = {}
    for layer in chain:
        site = site_of.get(layer.name)
        tensor = signals.get(id(site.layer)) if site is not None else None
        if tensor is None:
            tensor = signals.get(id(layer.layer))
        if tensor is not None:
            signal_of[layer.name] = tensor
    names = [layer.name for layer in chain if layer.name in signal_of]
    grads = tape.gradient(loss, [signal_of[n] for n in names], unconnected_gradients=tf.UnconnectedGradients.NONE)
    n = int(_first(x).shape[0])
    records, units = _records(names, signal_of, grads, site_of, {layer.name: layer for layer in chain}, n, cfg)
    nonfinite = [] if bool(tf.reduce_all(tf.math.is_finite(tf.cast(_first(y_pred), tf.float32)))) else ["model output"]
    if not math.isfinite(float(loss)):
        nonfinite.append("loss")
    infos = layer_table(layers, sites, units)
    for record in records:  # the output layer is the last layer with a signal
        infos[record.name] = _replace_output(infos[record.name], record.is_output)
    findings = judge(records, cfg, nonfinite)
    depth = {r.name: i for i, r in enumerate(records)}
    diagnoses = sorted(
        (explain(f, infos) for f in findings),
        key=lambda d: (-SEVERITY_RANK[d.severity], min((depth.get(m, len(depth)) for m in d.layers), default=0)),
    )
    report = CheckupReport(
        steps=0,
        layers=sorted(infos.values(), key=lambda info: info.order),
        diagnoses=diagnoses,
        checkup=records,
        batch_size=n,
        loss=loss_name,
    )
    return keras_report(report)


def _first(value: Any) -> Any:
    while isinstance(value, (list, tuple)):
        value = value[0]
    if isinstance(value, dict):
        return _first(next(iter(value.values())))
    return value


def _replace_output(info: Any, is_output: bool) -> Any:
    from dataclasses import replace

    return replace(info, is_output=is_output)


def _loss(model: Any, x: Any, y_pred: Any, y: Any, loss_fn: LossFn | None, seed: int) -> tuple[tf.Tensor, str]:
    out = tf.cast(_first(y_pred), tf.float32)
    if loss_fn is not None:
        loss = loss_fn(y, y_pred) if y is not None else loss_fn(y_pred)
        return tf.reshape(tf.reduce_mean(loss), []), "loss_fn"
    if y is None:
        rng = np.random.default_rng(seed)
        r = tf.constant(rng.standard_normal(out.shape).astype("float32"))
        return tf.reduce_sum(out * r), "random_projection"
    if getattr(model, "compiled", False) and getattr(model, "loss", None) is not None:
        return tf.cast(model.compute_loss(x=x, y=y, y_pred=y_pred, training=False), tf.float32), "compiled_loss"
    target = tf.convert_to_tensor(y)
    if target.dtype.is_integer:
        ce = keras.losses.sparse_categorical_crossentropy(target, out, from_logits=True)
        return tf.reduce_mean(ce), "cross_entropy"
    return tf.reduce_mean(tf.square(out - tf.reshape(tf.cast(target, tf.float32), out.shape))), "mse"


def _records(
    names: list[str],
    signal_of: dict[str, tf.Tensor],
    grads: list[Any],
    site_of: dict[str, Any],
    chain: dict[str, Any],
    n: int,
    cfg: Config,
) -> tuple[list[CheckupLayer], dict[str, int]]:
    norms: list[float | None] = [
        float(tf.norm(tf.cast(g, tf.float32))) / math.sqrt(max(n, 1)) if g is not None else None for g in grads
    ]
    records: list[CheckupLayer] = []
    units: dict[str, int] = {}
    for i, name in enumerate(names):
        y = signal_of[name]
        site = site_of.get(name)
        rank = y.shape.rank or 1
        axis = unit_axis(chain[name].layer, rank)
        count = int(y.shape[axis]) if rank else 1
        units[name] = count
        dead = saturated = None
        kind: ActivationKind | Literal[""] = ""
        if site is not None:
            packed = reduce_in_graph(y, site.kind, axis, cfg.saturation_margin).numpy()
            kind = site.kind
            active = packed[2:] > 0.5
            dead = int((~active).sum()) if site.kind == "relu" else None
            saturated = float(packed[1]) if site.kind in ("sigmoid", "tanh") else None
        later = [v for v in norms[i + 1 :] if v is not None and math.isfinite(v) and v > 0]
        norm = norms[i]
        records.append(
            CheckupLayer(
                name=name,
                type=chain[name].type,
                units=count,
                activation=kind,
                dead_units=dead,
                saturated_fraction=saturated,
                act_std=float(tf.math.reduce_std(tf.cast(y, tf.float32))),
                grad_norm=norm,
                gain=norm / later[0] if norm is not None and later else None,
                is_output=i == len(names) - 1,
            )
        )
    return records, units
