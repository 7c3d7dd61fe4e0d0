"""``python -m xemu.cli``: the ``xemu`` command (as ``python -m xemu``)."""

import sys

from .app import main

sys.exit(main())
