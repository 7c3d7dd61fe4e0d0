"""``python -m xemu``: the ``xemu`` command (also what ``torchrun ... -m xemu fit ...`` runs)."""

import sys

from .cli import main

sys.exit(main())
