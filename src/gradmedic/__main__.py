"""``python -m gradmedic``: the same as the ``gradmedic`` command."""

from .cli import main

raise SystemExit(main())
