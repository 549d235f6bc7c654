"""The checkup (``gradmedic.checkup``): find the failures decided at initialisation, before the first step.

The package is called ``preflight`` so that its name never shadows the ``gradmedic.checkup`` function,
which the package's lazy ``__init__`` resolves on first use.
"""

from .core import checkup, run_checkup

__all__ = ["checkup", "run_checkup"]
