"""The runner finds models and optimizers among the garbage collector's objects, whatever else lives there."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import nn

from gradmedic.run import find_trained_models, live_optimizers


class Holder:
    """Anything a weak proxy can point at."""


@pytest.mark.slow
def test_a_dead_weak_proxy_among_the_objects_is_skipped() -> None:
    # frameworks (Lightning, TensorFlow) leave weakref.proxy objects around; isinstance() on a dead one raises
    target = Holder()
    proxy = weakref.proxy(target)
    del target
    gc.collect()
    assert any(type(o) is weakref.ProxyType for o in gc.get_objects() if o is proxy)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert find_trained_models(opt) == [model]
    assert any(o is opt for o in live_optimizers())
    del proxy
