"""Plain-words explanations and ranked, paste-ready remedies for each problem kind."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

from . import growth_advice
from .numbers_text import sci as _sci
from .records import (
    DEAD,
    EXPLODING,
    LOSS_DIVERGENCE,
    NON_FINITE,
    SATURATED,
    SATURATING_KINDS,
    UPDATE_RATIO,
    VANISHING,
    Diagnosis,
    Finding,
    LayerInfo,
    Remedy,
)

Explainer = Callable[[Finding, Mapping[str, LayerInfo]], tuple[str, list[tuple[str, str, str]]]]


def _names(names: Iterable[object], limit: int = 4) -> str:
    items = list(names)
    shown = ", ".join(f"'{n}'" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _saturating(layers: Mapping[str, LayerInfo], flagged: Iterable[str] = ()) -> list[str]:
    """The saturating activations the flagged layers' backward signal passes through (all layers when
    none are flagged), or [] when the model's other activations outnumber them: one tanh pooler in a
    GELU transformer is not why its gradients are small."""
    orders = [layers[n].order for n in flagged if n in layers]
    start = min(orders, default=-1)
    # activation modules only: what a snippet can swap
    acts = [i for i in layers.values() if i.activation_module and i.activation_kind and i.order >= start]
    saturating = [i.activation for i in acts if i.activation_kind in SATURATING_KINDS]
    return saturating if len(saturating) * 2 >= len(acts) else []


SNIPPET_RELU = """# swap saturating activations for non-saturating ones
for name, module in model.named_modules():
    for child_name, child in module.named_children():
        if isinstance(child, (nn.Sigmoid, nn.Tanh)):
            setattr(module, child_name, nn.ReLU())   # or nn.ELU(), nn.GELU()"""

SNIPPET_BATCHNORM = """# normalise pre-activations: put BatchNorm between each Linear and its activation
nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU())   # Conv2d -> BatchNorm2d"""

SNIPPET_LOWER_LR = """# lower the learning rate (10x here)
for group in optimizer.param_groups:
    group["lr"] *= 0.1"""

SNIPPET_WEIGHT_DECAY = """# weight regularisation: L2 penalty through the optimizer
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)"""

SNIPPET_LEAKY = """# a leaky activation keeps a gradient for negative inputs, so units cannot die
for name, module in model.named_modules():
    for child_name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, child_name, nn.LeakyReLU(0.01))   # or nn.ELU(), nn.PReLU()
# with F.relu in forward(): use F.leaky_relu(x, 0.01)"""


SNIPPET_REVIVE = """# revive dead units (ReDo); or let gradmedic do it in flight: gradmedic run --treat train.py
layer, next_layer = model.get_submodule("{layer}"), ...   # the layer after it, reading its units
with torch.no_grad():
    dead = ~(layer(h) > 0).flatten(0, -2).any(0)   # h: a batch of the layer's inputs; units never positive
    fresh = torch.empty_like(layer.weight)
    nn.init.kaiming_normal_(fresh, nonlinearity="relu")
    layer.weight[dead], layer.bias[dead] = fresh[dead], 0.0
    next_layer.weight[:, dead] = 0.0                          # the function is unchanged at revival"""


def _clip_snippet(threshold: float) -> str:
    return f"""# clip the global gradient norm between backward() and step()
loss.backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={threshold:.3g})
optimizer.step()"""


def _clip_at(evidence: Mapping[str, Any], default: float) -> float:
    """The threshold treatment applied (the pipeline puts it in the evidence), else ``default``."""
    return float(evidence.get("suggested_clip", default))


def _init_snippet(nonlinearity: str) -> str:
    if nonlinearity == "relu":
        call = 'nn.init.kaiming_normal_(m.weight, nonlinearity="relu")'
    else:
        call = "nn.init.xavier_uniform_(m.weight)"
    return f"""# variance-preserving initialisation ({"He" if nonlinearity == "relu" else "Xavier/Glorot"})
for m in model.modules():
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        {call}
        if m.bias is not None:
            nn.init.zeros_(m.bias)"""


def _vanishing(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ratios: Mapping[str, float] = f.evidence["ratio_to_output"]
    worst = min(ratios.values())
    saturating = _saturating(layers, f.layers)
    why = (
        f"{'/'.join(sorted(set(saturating)))} derivatives are at most 0.25 (sigmoid) or 1 (tanh), "
        "so the gradient shrinks at every layer on the way back"
        if saturating
        else "each layer scales the backward signal down (too small an init, or too deep a plain stack)"
    )
    message = (
        f"Gradients vanish toward the input: the weight gradients of {_names(f.layers)} are "
        f"{_sci(worst)}x those of the output layer '{f.evidence['output_layer']}' (RMS per weight), "
        f"since step {f.first_step}. These layers barely learn: {why}."
    )
    remedies = []
    if saturating:
        names = "/".join(sorted(set(saturating)))
        remedies.append(("non_saturating_activation", f"Use ReLU or ELU instead of {names}.", SNIPPET_RELU))
    remedies.append(("batch_norm", "Normalise each layer's pre-activations with BatchNorm.", SNIPPET_BATCHNORM))
    remedies.append(
        (
            "init",
            "Re-initialise with a variance-preserving scale for the activation.",
            _init_snippet("tanh" if saturating else "relu"),
        )
    )
    return message, remedies


def _exploding(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ev = f.evidence
    parts = []
    rules = ev.get("rules", [])
    if "spike" in rules:
        parts.append(
            f"the global gradient norm is {ev['spike_factor']:.0f}x its earlier median ({_sci(ev['baseline_norm'])})"
        )
    if "early" in rules:
        rose = " while the loss rose" if ev.get("loss_rose") else ""
        parts.append(
            f"the global gradient norm is {ev['early_factor']:.0f}x its first value ({_sci(ev['first_norm'])}){rose}"
        )
    if "growth" in rules:
        parts.append(f"it grew {_sci(ev['growth_in_window'])}x within a few sampled steps")
    if "overflow" in rules:
        parts.append(f"it reached {_sci(ev['max_norm'])}, on its way to overflow")
    if "depth" in rules:
        parts.append(
            f"early layers' gradients are {_names(f'{k} {v:.0f}x' for k, v in ev['ratio_to_output'].items())} the output layer's"
        )
    in_time = ev.get("through_time") or {}
    in_depth = ev.get("through_depth") or {}
    if in_time:
        parts.append(growth_advice.time_text(in_time))
    if ev.get("from_start"):
        parts.insert(0, "the gradient overflowed at the first step, before any update was applied")
    if "per_layer_gain" in ev and not in_depth:  # the depth cause says it in its why
        parts.append(f"each layer multiplies the backward signal by about {ev['per_layer_gain']:.2f}")
    recurrent = [i.name for i in layers.values() if i.type in ("RNN", "RNNCell")]
    if in_time:
        why = (
            "backpropagation through time multiplies the gradient by the recurrent weights at every time step, "
            "and a spectral radius above 1 compounds over the sequence"
        )
        if ev.get("from_start"):
            why += "; the learning rate is not the cause (no step had been taken yet), so lowering it cures nothing"
    elif in_depth:
        why = (
            f"each of {in_depth['layers']} layers multiplies the signal by about {in_depth['per_layer_gain']:.2f} "
            f"(its weights are that many times the variance-preserving scale), compounding to "
            f"{_sci(in_depth['growth'])}x through depth; the learning rate is not the cause (no step had been taken "
            "yet), so lowering it cures nothing"
        )
    elif recurrent:
        why = "backpropagation through time multiplies by the recurrent weights at every time step"
    else:
        why = "each layer or step multiplies the gradient by a factor above one, and large updates feed back"
    where = f" (grew most in {_names(f.layers)})" if f.layers else ""
    if in_time:
        where = f" through time in {_names(f.layers)}"
    elif in_depth:
        where = f" through depth ({in_depth['layers']} layers)"
    message = f"Gradients explode{where} since step {f.first_step}: {'; '.join(parts)}. Why: {why}."
    clip = float(ev.get("suggested_clip", 1.0))
    remedies: list[tuple[str, str, str]]
    if in_time:
        remedies = growth_advice.time_remedies(in_time, clip)
        if not ev.get("from_start"):
            remedies.append(("lower_lr", "Lower the learning rate.", SNIPPET_LOWER_LR))
    elif in_depth:
        remedies = [
            (
                "init",
                "Re-initialise with a variance-preserving scale (He for ReLU, Xavier for tanh): "
                "each layer's gain is then about 1.",
                _init_snippet("tanh" if "Tanh" in {i.activation for i in layers.values()} else "relu"),
            ),
            ("batch_norm", "Normalise each layer's pre-activations, so the scale cannot compound.", SNIPPET_BATCHNORM),
            (
                "clip_grad_norm",
                f"Clip the gradient norm (at {clip:.3g}), once the gradient is finite: clipping cannot repair Inf.",
                _clip_snippet(clip),
            ),
        ]
    else:
        remedies = [
            (
                "clip_grad_norm",
                f"Clip the gradient norm at {clip:.3g} ({ev.get('suggested_clip_basis', 'from the calm norms')}).",
                _clip_snippet(clip),
            ),
            ("lower_lr", "Lower the learning rate.", SNIPPET_LOWER_LR),
        ]
        if recurrent:
            remedies.append(
                (
                    "gated_rnn",
                    "Use an LSTM or GRU: gates keep the recurrent gradient in range.",
                    growth_advice.SNIPPET_GATED,
                )
            )
    remedies.append(("weight_decay", "Regularise the weights so they cannot grow unchecked.", SNIPPET_WEIGHT_DECAY))
    remedies.append(
        (
            "smaller_batches",
            "Use smaller batches (and a learning rate scaled with them).",
            "loader = DataLoader(dataset, batch_size=32, shuffle=True)",
        )
    )
    return message, remedies


def _dead(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    fractions: Mapping[str, float] = f.evidence["dead_fraction"]
    cause = f.evidence["cause"]
    cascade = f.evidence["cascade"]
    info = layers.get(cause)
    act = f" (through {info.activation} module '{info.activation_module}')" if info and info.activation_module else ""
    message = (
        f"Dead units: {fractions[cause]:.0%} of the units of layer '{cause}'{act} output zero for every example "
        f"since step {f.first_step}. A ReLU whose input is negative for every example passes no gradient, "
        "so it never recovers."
    )
    if cascade:
        message += " The zeros cascade into " + ", ".join(f"'{n}' ({fractions[n]:.0%} dead)" for n in cascade) + "."
    remedies = [
        ("leaky_activation", "Use LeakyReLU, PReLU or ELU: they keep a gradient for negative inputs.", SNIPPET_LEAKY),
        (
            "revive_units",
            "Revive the dead units (ReDo): fresh incoming weights, zero outgoing weights.",
            SNIPPET_REVIVE.format(layer=cause),
        ),
        ("lower_lr", "Lower the learning rate: large updates push units into the dead zone.", SNIPPET_LOWER_LR),
        ("init", "Re-initialise with He init and zero (or small positive) biases.", _init_snippet("relu")),
        ("batch_norm", "Normalise pre-activations so they stay centred.", SNIPPET_BATCHNORM),
    ]
    return message, remedies


def _saturated(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    fractions: Mapping[str, float] = f.evidence["saturated_fraction"]
    first = f.layers[0]
    message = (
        f"Saturated units: {fractions[first]:.0%} of the {f.evidence['activation'][first]} outputs of {_names(f.layers)} "
        f"sit at their asymptotes since step {f.first_step}, where the derivative is below 1 % of its maximum. "
        "Gradients through them vanish."
    )
    remedies = [
        ("non_saturating_activation", "Use ReLU, ELU or GELU.", SNIPPET_RELU),
        ("init", "Use Xavier/Glorot init so pre-activations start in the linear range.", _init_snippet("tanh")),
        ("batch_norm", "Normalise pre-activations with BatchNorm.", SNIPPET_BATCHNORM),
        (
            "normalise_inputs",
            "Standardise the inputs (zero mean, unit variance).",
            "x = (x - x.mean(0)) / (x.std(0) + 1e-8)",
        ),
    ]
    return message, remedies


def _nonfinite(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    where = " and ".join(f.evidence["in"])
    origin = f" (first in {_names(f.layers)})" if f.layers else ""
    last = f.evidence.get("last_finite_grad_norm")
    before = f" The last finite gradient norm was {_sci(last)}." if last is not None else ""
    message = (
        f"NaN or Inf in the {where}{origin} from step {f.first_step}. Once a weight is non-finite, "
        f"every later step is lost.{before}"
    )
    lower_lr = ("lower_lr", "Lower the learning rate: too large a step overflows the weights.", SNIPPET_LOWER_LR)
    if f.evidence.get("explained_by") == EXPLODING:
        # the gradient overflowed through time or depth, not through a large step: see that diagnosis first
        lower_lr = (
            "lower_lr",
            "Lower the learning rate only if the step size is the cause (see exploding_gradients for where it grows).",
            SNIPPET_LOWER_LR,
        )
    remedies = [
        lower_lr,
        (
            "clip_grad_norm",
            "Clip the gradient norm.",
            _clip_snippet(_clip_at(f.evidence, float(last) if last else 1.0)),
        ),
        (
            "stable_loss",
            "Use numerically stable losses: logits into CrossEntropyLoss or BCEWithLogitsLoss, never log(softmax).",
            "loss = nn.functional.cross_entropy(logits, targets)   # not torch.log(torch.softmax(...))",
        ),
        (
            "check_data",
            "Check the inputs and targets for NaN.",
            "assert torch.isfinite(x).all() and torch.isfinite(y).all()",
        ),
    ]
    if f.evidence.get("explained_by") == EXPLODING:
        remedies = remedies[1:] + remedies[:1]
    return message, remedies


def _divergence(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ev = f.evidence
    if ev.get("reference") == "initial loss":
        message = (
            f"The loss blew up from step {f.first_step}: {ev['loss']:.3g} now, {ev['factor']:.0f}x where it "
            f"started ({ev['initial_loss']:.3g}). The learning rate is most likely far too high."
        )
    else:
        message = (
            f"The loss diverges since step {f.first_step}: {ev['loss']:.3g} now, {ev['factor']:.0f}x its best "
            f"({ev['best_loss']:.3g}) and above where it started ({ev['initial_loss']:.3g})."
        )
    remedies = [
        ("lower_lr", "Lower the learning rate.", SNIPPET_LOWER_LR),
        ("clip_grad_norm", "Clip the gradient norm.", _clip_snippet(_clip_at(ev, 1.0))),
    ]
    return message, remedies


def _update_ratio(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ratios = f.evidence["update_ratio"]
    worst = max(ratios, key=ratios.get)
    message = (
        f"Each step changes the weights of {_names(ratios)} by {ratios[worst]:.2g} of their norm "
        f"(median, '{worst}'), since step {f.first_step}; healthy training moves them by about 1e-3 of it. "
        "The learning rate is far too high for these weights, even where gradients look tame (clipping bounds "
        "the gradient, not the step an adaptive optimizer takes)."
    )
    factor = max(10.0, 10 ** math.ceil(math.log10(max(ratios[worst], 1e-12) / 1e-2)))
    snippet = f"""# lower the learning rate until ||dw|| / ||w|| sits near 1e-3 ({factor:.0f}x lower here)
for group in optimizer.param_groups:
    group["lr"] /= {factor:.0f}"""
    remedies = [
        ("lower_lr", f"Lower the learning rate about {factor:.0f}x.", snippet),
        (
            "lr_warmup",
            "Warm the learning rate up over the first steps.",
            """# a linear warm-up over the first 1000 steps
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 1000))
# ... after optimizer.step():
scheduler.step()""",
        ),
    ]
    return message, remedies


# --- the checkup: the same kinds, found on one pass before training --------------------------------------

SNIPPET_REDRAW = """# a narrow ReLU stack can be born dead by bad luck of the draw: widen it, or redraw until it is alive
for attempt in range(20):
    report = gradmedic.checkup(model, x_sample)
    if "dead_units" not in report.kinds(at_least="warning"):
        break
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()"""


def _checkup_kinds(f: Finding) -> set[str]:
    return set(f.evidence.get("activation", {}).values())


def _init_for(kinds: set[str]) -> tuple[str, str, str]:
    """The variance-preserving init remedy for the activations at hand: Xavier/Glorot for tanh, else He."""
    if "tanh" in kinds or "sigmoid" in kinds:
        return (
            "init",
            "Use Xavier/Glorot init: it keeps a tanh layer's forward and backward gain near 1.",
            _init_snippet("tanh"),
        )
    return (
        "init",
        "Use He (Kaiming) init: it keeps a ReLU layer's forward and backward gain near 1.",
        _init_snippet("relu"),
    )


def _checkup_dead(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ev = f.evidence
    fractions: Mapping[str, float] = ev["dead_fraction"]
    cause = ev["cause"]
    if ev["born_dead"]:
        first = ev["dead_layers"][0]
        message = (
            f"Born dead: every unit of layer '{first}' is zero for every example of the batch, before any training. "
            "The layers after it see a constant, so the output does not depend on the input, and no gradient "
            "reaches the layers below it: training cannot start."
        )
        if cause != first:
            message += f" The dying starts in '{cause}' ({fractions[cause]:.0%} of its units dead)."
    else:
        message = (
            f"Dead at birth: {fractions[cause]:.0%} of the units of layer '{cause}' are zero for every example of "
            "the batch, before any training. A ReLU whose input is negative for every example passes no gradient, "
            "so these units may never learn."
        )
    cascade = [n for n in ev["cascade"] if n != cause]
    if cascade:
        message += " Also dead: " + ", ".join(f"'{n}' ({fractions[n]:.0%})" for n in cascade[:4])
        message += f" and {len(cascade) - 4} more." if len(cascade) > 4 else "."
    remedies = [
        ("leaky_activation", "Use LeakyReLU, PReLU or ELU: they pass a gradient for negative inputs.", SNIPPET_LEAKY),
        (
            "init",
            "Use He init with zero biases: a negative bias or a bad scale starts units dead.",
            _init_snippet("relu"),
        ),
        (
            "batch_norm",
            "Normalise pre-activations with BatchNorm: each unit is then positive for part of the batch.",
            SNIPPET_BATCHNORM,
        ),
        (
            "widen_or_redraw",
            "Widen narrow layers (a ReLU layer of width N is all zero at an input with probability 2^-N at init), "
            "or redraw the init until the checkup passes.",
            SNIPPET_REDRAW,
        ),
    ]
    return message, remedies


def _checkup_gradients(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ev = f.evidence
    if ev.get("through_time"):
        return _checkup_through_time(f)
    ratios: Mapping[str, float] = ev["ratio_to_output"]
    kinds = _checkup_kinds(f)
    saturating = sorted(kinds & {"sigmoid", "tanh"})
    profile = (
        f"(a mean backward gain of {ev['mean_gain']:.2f} per layer over {ev['layers_compared']} layers, "
        "where 1 keeps the signal steady)"
    )
    if f.kind == VANISHING:
        worst = min(ratios.values())
        bounds = {"sigmoid": "a sigmoid's derivative is at most 0.25", "tanh": "a tanh's derivative is at most 1"}
        why = (
            " and ".join(bounds[k] for k in saturating) + ", so each layer scales the gradient down"
            if saturating
            else "each layer scales the backward signal down: the initial weights are too small for this depth"
        )
        message = (
            f"Gradients will vanish: before any training, the backpropagated signal at {_names(f.layers)} is "
            f"{_sci(worst)}x that at the output layer '{ev['output_layer']}' {profile}. Those layers will barely "
            f"learn: {why}."
        )
        remedies = []
        if saturating:
            remedies.append(
                (
                    "non_saturating_activation",
                    "Use ReLU (with He init), ELU or GELU instead of sigmoid/tanh.",
                    SNIPPET_RELU,
                )
            )
        remedies.append(_init_for(kinds))
        remedies.append(("batch_norm", "Normalise each layer's pre-activations with BatchNorm.", SNIPPET_BATCHNORM))
        return message, remedies
    worst = max(ratios.values())
    message = (
        f"Gradients will explode: before any training, the backpropagated signal at {_names(f.layers)} is "
        f"{_sci(worst)}x that at the output layer '{ev['output_layer']}' {profile}. Each layer multiplies the "
        "gradient by more than one: the initial weights are too large for this depth."
    )
    remedies = [
        _init_for(kinds),
        ("batch_norm", "Normalise each layer's pre-activations with BatchNorm.", SNIPPET_BATCHNORM),
        ("clip_grad_norm", "Clip the gradient norm while the init is being fixed.", _clip_snippet(1.0)),
    ]
    return message, remedies


def _checkup_through_time(f: Finding) -> tuple[str, list[tuple[str, str, str]]]:
    in_time = f.evidence["through_time"]
    grown = [
        f"the hidden state of '{c['layer']}' grows {c['hidden_growth']:.3g}x per time step"
        for c in in_time.values()
        if c.get("hidden_growth") is not None
    ]
    message = (
        f"Gradients will explode through time in {_names(f.layers)}: before any training, "
        f"{growth_advice.time_text(in_time)}"
        + (f"; {'; '.join(grown)}" if grown else "")
        + ". Backpropagation through time multiplies the gradient by the recurrent weights at every time step, "
        "so a spectral radius above 1 compounds over the sequence, whatever the learning rate."
    )
    return message, growth_advice.time_remedies(in_time, 1.0)


def _checkup_saturated(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    ev = f.evidence
    first = f.layers[0]
    message = (
        f"Saturated at birth: {ev['saturated_fraction'][first]:.0%} of the {ev['activation'][first]} outputs of "
        f"{_names(f.layers)} sit at their asymptotes on the sample batch, before any training, where the derivative "
        "is below 1 % of its maximum. The initial weights (or the inputs) are too large, and gradients through "
        "these units vanish."
    )
    remedies = [
        ("init", "Use Xavier/Glorot init so pre-activations start in the linear range.", _init_snippet("tanh")),
        ("batch_norm", "Normalise pre-activations with BatchNorm.", SNIPPET_BATCHNORM),
        (
            "normalise_inputs",
            "Standardise the inputs (zero mean, unit variance).",
            "x = (x - x.mean(0)) / (x.std(0) + 1e-8)",
        ),
        ("non_saturating_activation", "Use ReLU (with He init), ELU or GELU.", SNIPPET_RELU),
    ]
    return message, remedies


def _checkup_nonfinite(f: Finding, layers: Mapping[str, LayerInfo]) -> tuple[str, list[tuple[str, str, str]]]:
    where = " and ".join(f.evidence["in"])
    origin = f" (first in {_names(f.layers)})" if f.layers else ""
    message = (
        f"NaN or Inf in the {where}{origin} of the sample pass, before any training: the first step would "
        "spread it into every weight."
    )
    remedies = [
        (
            "check_data",
            "Check the inputs and targets for NaN and Inf.",
            "assert torch.isfinite(x).all() and torch.isfinite(y).all()",
        ),
        (
            "stable_loss",
            "Use numerically stable losses: logits into CrossEntropyLoss or BCEWithLogitsLoss, never log(softmax).",
            "loss = nn.functional.cross_entropy(logits, targets)   # not torch.log(torch.softmax(...))",
        ),
        ("init", "Re-initialise with a variance-preserving scale: an oversized init overflows.", _init_snippet("relu")),
    ]
    return message, remedies


CHECKUP_EXPLAINERS: dict[str, Explainer] = {
    VANISHING: _checkup_gradients,
    EXPLODING: _checkup_gradients,
    DEAD: _checkup_dead,
    SATURATED: _checkup_saturated,
    NON_FINITE: _checkup_nonfinite,
}


EXPLAINERS: dict[str, Explainer] = {
    VANISHING: _vanishing,
    EXPLODING: _exploding,
    DEAD: _dead,
    SATURATED: _saturated,
    NON_FINITE: _nonfinite,
    LOSS_DIVERGENCE: _divergence,
    UPDATE_RATIO: _update_ratio,
}


def explain(finding: Finding, layers: Mapping[str, LayerInfo]) -> Diagnosis:
    """Turn a detector's finding into a diagnosis with a message and ranked remedies.

    Findings of the checkup (evidence ``"source": "checkup"``) are explained as predictions made before training.
    """
    table = CHECKUP_EXPLAINERS if finding.evidence.get("source") == "checkup" else EXPLAINERS
    message, remedies = table[finding.kind](finding, layers)
    if finding.evidence.get("explained_by"):
        message += f" Likely a consequence of {finding.evidence['explained_by']}; treat that first."
    return Diagnosis(
        kind=finding.kind,
        severity=finding.severity,
        layers=finding.layers,
        first_step=finding.first_step,
        message=message,
        evidence=finding.evidence,
        remedies=tuple(
            Remedy(name, summary, snippet, rank) for rank, (name, summary, snippet) in enumerate(remedies, 1)
        ),
        last_step=finding.step,
    )
