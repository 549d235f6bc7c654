"""``gradmedic run`` on a Keras script: every ``model.fit`` call gets a GradmedicCallback, with no code change.

The runner calls ``install(options)`` before the script starts. Nothing Keras-related is imported then:
when the script itself imports ``keras`` (directly, or through ``tf.keras``), a meta-path finder lets the
import finish and then wraps ``keras.Model.fit``. One callback per model, kept across its ``fit`` calls.
``finish()`` restores ``fit`` and returns the reports, labelled as the runner labels torch models.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any, Callable, Sequence

from ..records import Report

FIT_CALLBACKS_POSITION = 5  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)


class KerasAttach:
    """Wraps ``keras.Model.fit`` once keras is imported; collects one callback per trained model."""

    def __init__(self, options: Any, taken_labels: Callable[[], set[str]] = set) -> None:
        self.options = options
        self.callbacks: list[tuple[str, Any, Any]] = []  # (label, model, callback)
        self._taken = taken_labels
        self._finder: _AfterImport | None = None
        self._undo: Callable[[], None] | None = None

    def install(self) -> None:
        if "keras" in sys.modules:
            self._patch(sys.modules["keras"])
        else:
            self._finder = _AfterImport("keras", self._patch)
            sys.meta_path.insert(0, self._finder)

    def finish(self) -> list[tuple[str, Report]]:
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        if self._undo is not None:
            self._undo()
            self._undo = None
        return [(label, callback.close()) for label, _, callback in self.callbacks]

    def _patch(self, keras: types.ModuleType) -> None:
        model_class = getattr(keras, "Model", None)
        if model_class is None or self._undo is not None:
            return
        original = model_class.fit
        had = "fit" in vars(model_class)
        attach = self

        def fit(model: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                args, kwargs = attach._with_callback(model, args, kwargs)
            except Exception as exc:  # never break the user's script
                print(f"gradmedic: could not watch {type(model).__name__} ({exc}); training goes on", file=sys.stderr)
            return original(model, *args, **kwargs)

        model_class.fit = fit
        self._undo = (lambda: setattr(model_class, "fit", original)) if had else (lambda: delattr(model_class, "fit"))

    def _with_callback(
        self, model: Any, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        from .callback import GradmedicCallback

        callback = next((cb for _, m, cb in self.callbacks if m is model), None)
        if callback is None:
            taken = self._taken() | {label for label, _, _ in self.callbacks}
            label = "" if not taken and not self.callbacks else _label(model, taken | {""})
            logdir = self.options.logdir
            if logdir is not None and label:
                logdir = str(Path(logdir) / label)
            callback = GradmedicCallback(
                logdir=logdir,
                every=self.options.every,
                config=self.options.config,
                treat=self.options.treat,
                console=not self.options.quiet,
            )
            self.callbacks.append((label, model, callback))
        if len(args) > FIT_CALLBACKS_POSITION:
            given = list(args[FIT_CALLBACKS_POSITION] or [])
            args = (*args[:FIT_CALLBACKS_POSITION], [*given, callback], *args[FIT_CALLBACKS_POSITION + 1 :])
        else:
            kwargs = {**kwargs, "callbacks": [*list(kwargs.get("callbacks") or []), callback]}
        return tuple(args), kwargs


def _label(model: Any, taken: set[str]) -> str:
    base = type(model).__name__
    label, n = base, 2
    while label in taken:
        label, n = f"{base}{n}", n + 1
    return label


class _AfterImport(importlib.abc.MetaPathFinder):
    """Lets ``name`` be imported as usual, then hands the finished module to ``then``."""

    def __init__(self, name: str, then: Callable[[types.ModuleType], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _ThenLoader(spec.loader, self.then)
                return spec
        return None


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, then: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.loader  # the module keeps its own loader; this one only runs once
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        try:
            self.then(module)
        except Exception as exc:  # never break the user's import
            print(f"gradmedic: could not hook keras ({type(exc).__name__}: {exc}); training goes on", file=sys.stderr)


def install(options: Any, taken_labels: Callable[[], set[str]] = set) -> KerasAttach:
    """For the runner: start watching every Keras ``fit`` the script will make."""
    attach = KerasAttach(options, taken_labels)
    attach.install()
    return attach
