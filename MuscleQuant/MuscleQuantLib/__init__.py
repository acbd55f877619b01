"""MuscleQuant engine: segmentation, level finding and quantification of skeletal muscle.

This package never imports ``slicer`` or ``qt``: it runs headless and is what the Slicer
module calls through the ``musclequant`` command line.
"""

__version__ = "0.1.0"
