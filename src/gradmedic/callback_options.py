"""``CallbackOptions``: the arguments every framework callback takes (Lightning, the Hugging Face Trainer,
Keras), the same as ``gradmedic.watch``'s besides the model and optimizer, checked when the callback is made
so that a wrong one fails before training does. Framework-free.

A callback subclasses its framework's own callback class with this one first, and sets up its own state in
``_setup`` (called once the options are checked), so that every callback has one signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .config import Config, resolve_config
from .kinds.kind import FailureKind
from .option_checks import check_detectors, check_flag, check_logdir, check_sinks, check_treat_form
from .sinks.base import Sink


@dataclass(frozen=True)
class WatchOptions:
    """The options once checked (``CallbackOptions`` checks them): ``treat`` is True, False, or plans
    (family -> cures; PyTorch only)."""

    logdir: Path | None = None
    config: Config = Config()
    treat: bool | Mapping[str, Sequence[Any]] = False
    console: bool = True
    detectors: tuple[FailureKind, ...] | None = None
    sinks: tuple[Sink, ...] = ()


class CallbackOptions:
    """Takes the options of ``gradmedic.watch`` (see there), checks them into ``self.options``, then calls
    ``_setup``."""

    def __init__(
        self,
        logdir: str | Path | None = None,
        every: int | None = None,
        config: Config | None = None,
        treat: bool | Mapping[str, Sequence[Any]] = False,
        console: bool = True,
        detectors: Iterable[FailureKind] | None = None,
        sinks: Iterable[Sink] = (),
    ) -> None:
        super().__init__()
        check_flag(console, "console")
        check_treat_form(treat)
        kinds = check_detectors(detectors)
        self.options = WatchOptions(
            logdir=check_logdir(logdir),
            config=resolve_config(config, every),
            treat=treat,
            console=console,
            detectors=tuple(kinds) if kinds is not None else None,
            sinks=tuple(check_sinks(sinks)),
        )
        self._setup()

    def _setup(self) -> None:
        """The callback's own state, set up once its options are checked."""
