"""``python -m provara_desktop``: the same entry point as ``provara-desktop``."""

import sys

from provara_desktop.cli import main

sys.exit(main())
