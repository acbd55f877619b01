"""DICOM SEG of a batch result, written with highdicom (which Slicer 5.12 ships): one segment per output
label with its SNOMED CT terminology (``presets/terminology.py``), frames referencing the source
instances they were segmented on (2D presets: the measured slice only), so a PACS or Slicer overlays it on
the source series exactly, oblique or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import InputError

SEG_FILE = "seg.dcm"


def coded(code: Any) -> Any:
    """A terminology Code as a highdicom CodedConcept."""
    from highdicom.sr import CodedConcept

    return CodedConcept(value=code.code, scheme_designator=code.scheme, meaning=code.meaning)


def segment_descriptions(label_names: dict[int, str], model_card: dict[str, Any]) -> list[Any]:
    """A description for every value 1..max (a label-map SEG needs them all), terminology included."""
    from highdicom.content import AlgorithmIdentificationSequence
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentDescription
    from pydicom.sr.codedict import codes

    from ..presets.terminology import terminology_for

    algorithm = AlgorithmIdentificationSequence(name=f"MuscleQuant {model_card['model_id']}",
                                                family=codes.cid7162.ArtificialIntelligence,
                                                version=str(model_card.get("version", __version__)))
    descriptions = []
    for value in range(1, max(label_names) + 1):
        name = label_names.get(value, f"label_{value}")
        term = terminology_for(name)
        description = SegmentDescription(
            segment_number=value, segment_label=name[:64], segmented_property_category=coded(term.category),
            segmented_property_type=coded(term.type), algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, tracking_uid=None, tracking_id=None)
        if term.type_modifier is not None:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                coded(term.type_modifier)]
        descriptions.append(description)
    return descriptions


def write_seg(folder: Path, volume: Any, labels: sitk.Image, summary: dict[str, Any], model_card: dict[str, Any]
              ) -> tuple[Path, Any]:
    """``folder/seg.dcm`` and the written dataset."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    if len({s.file for s in volume.slices}) != len(volume.slices):
        raise InputError("DICOM SEG is written for single-frame source series only (this one is multi-frame)")
    array = sitk.GetArrayFromImage(labels).astype(np.uint16)
    by_file = {h.SOPInstanceUID: h for h in volume.headers}
    if summary.get("slice"):
        ks = [int(summary["slice"]["index"])]
    else:
        ks = list(range(array.shape[0]))
    sources = [by_file[volume.slices[k].sop_instance_uid] for k in ks]
    names = {entry["value"]: entry["name"] for entry in summary["labels"]}
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=array[ks], segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(names, model_card), series_instance_uid=generate_uid(),
        series_number=9001, sop_instance_uid=generate_uid(), instance_number=1, manufacturer="MuscleQuant",
        manufacturer_model_name=str(model_card["model_id"])[:64], software_versions=__version__,
        device_serial_number="0", omit_empty_frames=False, series_description="MuscleQuant muscle segmentation")
    path = folder / SEG_FILE
    seg.save_as(path)
    return path, seg
