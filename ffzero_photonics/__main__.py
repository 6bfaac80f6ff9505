"""``python -m ffzero_photonics``: the ``ffzero`` command."""

import sys

from .cli import main

sys.exit(main())
