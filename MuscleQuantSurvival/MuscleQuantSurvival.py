"""MuscleQuantSurvival Slicer module: cohort survival analysis of approved muscle measurements.

Thin by design: all logic lives in ``MuscleQuantSurvivalLib``.
"""

from slicer.ScriptedLoadableModule import ScriptedLoadableModule


class MuscleQuantSurvival(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MuscleQuant Survival"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["MuscleQuant developers"]
        self.parent.helpText = (
            "Join approved muscle measurements with clinical data and run Kaplan–Meier, log-rank and Cox "
            "analyses, sarcopenia definitions side by side, and export a report."
        )
        self.parent.acknowledgementText = "Statistics by lifelines."
