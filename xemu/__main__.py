"""``python -m xemu``: the ``xemu`` command (also what ``torchrun ... -m xemu fit ...`` runs)."""

import sys

from .cli.main import main

sys.exit(main())
