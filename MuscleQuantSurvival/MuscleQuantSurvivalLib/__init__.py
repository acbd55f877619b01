"""MuscleQuant cohort statistics: validated cohort tables, Kaplan–Meier, Cox models, figures and reports.

Headless: never imports ``slicer`` or ``qt``.
"""

from MuscleQuantLib import __version__

__all__ = ["__version__"]
