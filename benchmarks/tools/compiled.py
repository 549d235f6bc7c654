"""The compiled rows: the workload's model behind ``torch.compile``, plain against plain and watched.

``watch(torch.compile(model), opt)`` at default settings. A sampled step runs eagerly (the Monitor
holds torch.compile's ``force_eager`` stance from the step before it until its gradients are final),
so a plain block must not start inside such a hold: ``pause`` lets go of it and ``resume`` takes it
back, and the plain blocks run compiled like the user's own loop.
"""

from __future__ import annotations

from .gradmedic_tool import Gradmedic
from .plain import Plain


class PlainCompiled(Plain):
    name = "plain-compiled"
    label = "plain vs plain, torch.compile (noise floor)"
    settings = "torch.compile(model), no tool"
    compiles = True


class GradmedicCompiled(Gradmedic):
    name = "gradmedic-compiled"
    label = "gradmedic, default settings, torch.compile"
    settings = "watch(torch.compile(model), opt): full statistics on steps 0-19, then every 10th, run eagerly"
    compiles = True

    def __init__(self) -> None:
        super().__init__()
        self._held = False

    def pause(self) -> None:
        from gradmedic.probe import eager_steps

        self._held = eager_steps.held(self.monitor)
        eager_steps.release(self.monitor)
        super().pause()

    def resume(self) -> None:
        from gradmedic.probe import eager_steps

        super().resume()
        if self._held:
            eager_steps.hold(self.monitor)
