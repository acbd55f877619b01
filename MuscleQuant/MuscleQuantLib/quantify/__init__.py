"""Muscle quantification: areas, attenuation, volumes, indices and sarcopenia definitions per case.

Python API: :func:`quantify_files` / :func:`quantify_images` with :class:`QuantifyOptions` and a
:class:`Patient` from :func:`make_patient`; reports in :mod:`.report`, the QA figure in :mod:`.qa`.
"""

from .definitions import DEFINITIONS, Classification, SarcopeniaDefinition, classify
from .engine import CaseResult, QuantifyOptions, quantify_files, quantify_images
from .patient import Patient, make_patient

__all__ = ["DEFINITIONS", "CaseResult", "Classification", "Patient", "QuantifyOptions", "SarcopeniaDefinition",
           "classify", "make_patient", "quantify_files", "quantify_images"]
