"""Series selection per study and preset: which series is measured, and for every other series the reason
it is not. Header rules run here (cheap, in the main process); whether the target level is in view is
asked of the level finder by the worker, which then falls back to the next candidate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .discover import Case, SeriesInfo
from .settings import SelectionSettings

CHOSEN = "chosen"
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image",
}
# Transfer syntaxes whose pixels pydicom decodes here: native, deflated, and the compressed ones through
# pylibjpeg / pyjpegls (JPEG baseline, extended, lossless, JPEG-LS, JPEG 2000, HTJ2K) and its own RLE.
SUPPORTED_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline",
    "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
    "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}
_NOT_IMAGES = (("1.2.840.10008.5.1.4.1.1.88.", "structured report (e.g. a dose report)"),
               ("1.2.840.10008.5.1.4.1.1.7", "secondary capture"),
               ("1.2.840.10008.5.1.4.1.1.66", "segmentation or registration object"),
               ("1.2.840.10008.5.1.4.1.1.481", "radiotherapy object"),
               ("1.2.840.10008.5.1.4.1.1.11", "presentation state"),
               ("1.2.840.10008.5.1.4.1.1.104", "encapsulated document"))


@dataclass
class SeriesChoice:
    """A series and what selection said about it (``status`` is CHOSEN, 'candidate' or 'rejected')."""

    series: SeriesInfo
    status: str
    reason: str = ""


def tilt_deg(orientation: tuple[float, ...]) -> float:
    """Angle between the slice normal and the body (z) axis: 0 axial, 90 coronal or sagittal."""
    row, col = orientation[:3], orientation[3:6]
    normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0])
    length = math.sqrt(sum(v * v for v in normal)) or 1.0
    return math.degrees(math.acos(min(1.0, abs(normal[2]) / length)))


def header_reason(info: SeriesInfo, modality: str, settings: SelectionSettings) -> str | None:
    """Why a series cannot be measured, from its headers alone (None: it can be a candidate)."""
    if info.kind == "file":
        return None
    for prefix, what in _NOT_IMAGES:
        if info.sop_class.startswith(prefix):
            return what
    if info.sop_class not in IMAGE_SOP_CLASSES:
        return f"not a CT/MR image series (SOP class {info.sop_class or 'missing'})"
    if info.modality.upper() != modality:
        return f"modality {info.modality or 'missing'}; the preset measures {modality}"
    if "LOCALIZER" in info.image_type:
        return "localizer (ImageType LOCALIZER)"
    if info.image_type and (info.image_type[0] != "ORIGINAL" or (len(info.image_type) > 1
                                                                  and info.image_type[1] != "PRIMARY")):
        return f"derived or secondary image (ImageType {'/'.join(info.image_type[:2])})"
    unsupported = [ts for ts in info.transfer_syntaxes if ts not in SUPPORTED_TRANSFER_SYNTAXES]
    if unsupported:
        return f"unsupported transfer syntax {unsupported[0]}"
    if info.orientation is None or len(info.orientation) < 6:
        return "no ImageOrientationPatient"
    tilt = tilt_deg(info.orientation)
    if tilt > settings.max_tilt_deg:
        return f"not axial (slice normal {tilt:.0f} deg from the body axis; at most {settings.max_tilt_deg:g})"
    if info.frames < settings.min_slices:
        return f"too few slices ({info.frames}; at least {settings.min_slices})"
    return None


def _rank(info: SeriesInfo, settings: SelectionSettings) -> tuple:
    thickness = info.thickness_mm if info.thickness_mm is not None else math.inf
    kernel = info.kernel.lower()
    kernel_rank = next((i for i, k in enumerate(settings.prefer_kernels) if k.lower() in kernel),
                       len(settings.prefer_kernels))
    return (round(abs(thickness - settings.prefer_thickness_mm), 3), kernel_rank, -info.frames,
            info.series_number if info.series_number is not None else 1 << 30, info.key)


def select_series(case: Case, modality: str, settings: SelectionSettings) -> list[SeriesChoice]:
    """Every series of the case with its status; candidates in preference order, the first CHOSEN."""
    rejected, candidates = [], []
    for info in case.series:
        reason = header_reason(info, modality, settings)
        if reason is None:
            candidates.append(info)
        else:
            rejected.append(SeriesChoice(info, "rejected", reason))
    candidates.sort(key=lambda s: _rank(s, settings))
    choices = []
    for i, info in enumerate(candidates):
        if i == 0:
            choices.append(SeriesChoice(info, CHOSEN))
        else:
            best = candidates[0]
            why = (f"another series preferred (slice thickness {_mm(info.thickness_mm)} vs "
                   f"{_mm(best.thickness_mm)}, preferred {settings.prefer_thickness_mm:g} mm)"
                   if info.thickness_mm != best.thickness_mm else "another series preferred (kernel, slices)")
            choices.append(SeriesChoice(info, "candidate", why))
    return choices + rejected


def no_series_reason(choices: list[SeriesChoice]) -> str:
    """The case's reason when nothing can be measured."""
    if not choices:
        return "no matching series: the study holds no image series"
    reasons = "; ".join(sorted({c.reason for c in choices}))
    return f"no matching series ({len(choices)} considered: {reasons})"


def _mm(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} mm"
