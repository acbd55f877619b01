"""``python -m MuscleQuantLib`` is the same as the ``musclequant`` command (used by Slicer's background process)."""

import sys

from .cli import main

sys.exit(main())
