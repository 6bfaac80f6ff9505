"""``python -m ffzero_photonics.cli``."""

import sys

from .main import main

sys.exit(main())
