"""``python -m MuscleQuantLib`` is the same as the ``musclequant`` command."""

import sys

from .cli import main

sys.exit(main())
