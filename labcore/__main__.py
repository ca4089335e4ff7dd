"""``python -m labcore`` is the ``labcore`` command."""

import sys

from .cli import main

sys.exit(main())
