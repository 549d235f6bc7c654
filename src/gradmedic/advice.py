"""The advice's shared vocabulary, and ``explain``: a finding -> a diagnosis in plain words with ranked remedies.

Each failure kind's own words live in its file under ``kinds/``; this module holds what several of them
say (the snippets, the init and clipping advice, how layer names and numbers are written) and finds the
kind's explanation in the registry. A kind nobody explained gets a plain fallback, never an error.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Mapping

from .kinds.kind import Advice, FailureKind, RemedyName
from .kinds.registry import get_kind, title_of
from .records import SATURATING_KINDS, Diagnosis, Finding, LayerInfo, Remedy


def names(items: Iterable[object], limit: int = 4) -> str:
    """'a', 'b', 'c', 'd' and 3 more."""
    shown_items = list(items)
    shown = ", ".join(f"'{n}'" for n in shown_items[:limit])
    return shown + (f" and {len(shown_items) - limit} more" if len(shown_items) > limit else "")


def saturating_activations(layers: Mapping[str, LayerInfo], flagged: Iterable[str] = ()) -> list[str]:
    """The saturating activations the flagged layers' backward signal passes through (all layers when
    none are flagged), or [] when the model's other activations outnumber them: one tanh pooler in a
    GELU transformer is not why its gradients are small."""
    orders = [layers[n].order for n in flagged if n in layers]
    start = min(orders, default=-1)
    # activation modules only: what a snippet can swap
    acts = [i for i in layers.values() if i.activation_module and i.activation_kind and i.order >= start]
    found = [i.activation for i in acts if i.activation_kind in SATURATING_KINDS]
    return found if len(found) * 2 >= len(acts) else []


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


def clip_snippet(threshold: float) -> str:
    return f"""# clip the global gradient norm between backward() and step()
loss.backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={threshold:.3g})
optimizer.step()"""


def clip_at(evidence: Mapping[str, Any], default: float) -> float:
    """The threshold treatment applied (the pipeline puts it in the evidence), else ``default``."""
    return float(evidence.get("suggested_clip", default))


def init_snippet(nonlinearity: str) -> str:
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


LOWER_LR = Advice(RemedyName.LOWER_LR, "Lower the learning rate.", SNIPPET_LOWER_LR)
BATCH_NORM = Advice(RemedyName.BATCH_NORM, "Normalise each layer's pre-activations with BatchNorm.", SNIPPET_BATCHNORM)
NORMALISE_INPUTS = Advice(
    RemedyName.NORMALISE_INPUTS,
    "Standardise the inputs (zero mean, unit variance).",
    "x = (x - x.mean(0)) / (x.std(0) + 1e-8)",
)
STABLE_LOSS = Advice(
    RemedyName.STABLE_LOSS,
    "Use numerically stable losses: logits into CrossEntropyLoss or BCEWithLogitsLoss, never log(softmax).",
    "loss = nn.functional.cross_entropy(logits, targets)   # not torch.log(torch.softmax(...))",
)


# --- the checkup: the same kinds, found on one pass before training --------------------------------------


def checkup_activations(f: Finding) -> set[str]:
    """The activation kinds ("relu", "tanh", ...) of the layers in a checkup finding's evidence."""
    return set(f.evidence.get("activation", {}).values())


def init_for(kinds: set[str]) -> Advice:
    """The variance-preserving init remedy for the activations at hand: Xavier/Glorot for tanh, else He."""
    if "tanh" in kinds or "sigmoid" in kinds:
        return Advice(
            RemedyName.INIT,
            "Use Xavier/Glorot init: it keeps a tanh layer's forward and backward gain near 1.",
            init_snippet("tanh"),
        )
    return Advice(
        RemedyName.INIT,
        "Use He (Kaiming) init: it keeps a ReLU layer's forward and backward gain near 1.",
        init_snippet("relu"),
    )


def gain_profile(evidence: Mapping[str, object]) -> str:
    """'(a mean backward gain of 0.41 per layer over 6 layers, where 1 keeps the signal steady)'."""
    return (
        f"(a mean backward gain of {evidence['mean_gain']:.2f} per layer over {evidence['layers_compared']} layers, "
        "where 1 keeps the signal steady)"
    )


# --- from finding to diagnosis -------------------------------------------------------------------------------


def explain(finding: Finding, layers: Mapping[str, LayerInfo], kind: FailureKind | None = None) -> Diagnosis:
    """Turn a detector's finding into a diagnosis with a message and ranked remedies.

    The explanation is ``kind``'s, else that of the kind registered under ``finding.kind``. Findings of the
    checkup (``finding.source == "checkup"``) get the kind's ``explain_checkup`` when it has one: they are
    predictions made before training. A kind without an explanation, or whose explanation fails, gets a
    plain one made from the finding itself.
    """
    kind = kind if kind is not None else get_kind(finding.kind)
    message, advice = _explained(finding, layers, kind)
    if finding.evidence.get("explained_by"):
        message += f" Likely a consequence of {finding.evidence['explained_by']}; treat that first."
    return Diagnosis(
        kind=finding.kind,
        severity=finding.severity,
        layers=finding.layers,
        first_step=finding.first_step,
        message=message,
        evidence=finding.evidence,
        remedies=tuple(Remedy(a.name, a.summary, a.snippet, rank) for rank, a in enumerate(advice, 1)),
        last_step=finding.step,
    )


def _explained(finding: Finding, layers: Mapping[str, LayerInfo], kind: FailureKind | None) -> tuple[str, list[Advice]]:
    if kind is None:
        return fallback_explanation(finding), []
    explainer = kind.explain
    if finding.source == "checkup" and kind.explain_checkup is not None:
        explainer = kind.explain_checkup
    try:
        message, advice = explainer(finding, layers)
        return str(message), [a if isinstance(a, Advice) else Advice(*a) for a in advice]
    except Exception as exc:  # a diagnosis must still be made: the finding speaks for itself
        warnings.warn(
            f"gradmedic: the explanation of {finding.kind!r} failed ({type(exc).__name__}: {exc}); "
            "the diagnosis is shown with its evidence only",
            RuntimeWarning,
            stacklevel=3,
        )
        return fallback_explanation(finding), []


def fallback_explanation(finding: Finding) -> str:
    """The message of a finding whose kind has no explanation here: what, where, since when."""
    where = f" in {names(finding.layers)}" if finding.layers else ""
    return (
        f"{title_of(finding.kind)}{where} since step {finding.first_step} "
        f"(no explanation is registered for {finding.kind!r}; see the evidence)."
    )
