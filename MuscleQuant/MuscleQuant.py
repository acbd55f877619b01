"""MuscleQuant Slicer module: segment, correct, approve and measure skeletal muscle.

Thin by design: all logic lives in ``MuscleQuantLib`` (engine, headless) and its MRML adapter.
"""

from slicer.ScriptedLoadableModule import ScriptedLoadableModule


class MuscleQuant(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MuscleQuant"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["MuscleQuant developers"]
        self.parent.helpText = (
            "Segment skeletal muscle (temporalis MRI, C3 CT, L3 CT five groups, thigh CT 27 muscles), "
            "correct and approve it, and export CSA, SMI, attenuation and volumes."
        )
        self.parent.acknowledgementText = "Reproduces Mi 2022, Naser 2022, Kreher 2022 and Kim 2024."
