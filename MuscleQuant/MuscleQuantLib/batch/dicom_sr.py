"""DICOM SR measurement report (TID 1500, Comprehensive 3D SR) of a batch result, written with highdicom:
muscle CSA, mean attenuation, SMI and volumes with UCUM units, the measured level as the finding site,
referencing the source instances (and the SEG when one was written) as evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__

SR_FILE = "sr.dcm"
LEVEL_SITES = {"l3": "L3Vertebra", "c3": "C3Vertebra"}
MUSCLEQUANT_SCHEME = "99MUSCLEQUANT"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def measurements(row: dict[str, Any]) -> list[Any]:
    """TID 300 measurements for the values the row holds (a not-applicable value is left out)."""
    from highdicom.sr import CodedConcept, Measurement
    from pydicom.sr.codedict import codes

    ucum = lambda code, meaning: CodedConcept(value=code, scheme_designator="UCUM", meaning=meaning)  # noqa: E731
    own = lambda code, meaning: CodedConcept(value=code, scheme_designator=MUSCLEQUANT_SCHEME, meaning=meaning)  # noqa: E731
    wanted = [
        ("csa_total_cm2", codes.SCT.Area, ucum("cm2", "square centimeter"), None),
        ("muscle_hu_mean", codes.DCM.AttenuationCoefficient, ucum("[hnsf'U]", "Hounsfield unit"), codes.SCT.Mean),
        ("smi_cm2_m2", own("SMI", "Skeletal muscle index"), ucum("cm2/m2", "square centimeter per square meter"),
         None),
        ("imat_total_cm2", own("IMAT", "Intermuscular adipose tissue area"), ucum("cm2", "square centimeter"), None),
        ("volume_total_cm3", codes.SCT.Volume, ucum("cm3", "cubic centimeter"), None),
    ]
    found = []
    for column, name, unit, derivation in wanted:
        value = _number(row.get(column))
        if value is not None:
            found.append(Measurement(name=name, value=value, unit=unit, derivation=derivation))
    return found


def write_sr(folder: Path, volume: Any, summary: dict[str, Any], row: dict[str, Any], preset: str,
             seg: Any | None) -> Path:
    """``folder/sr.dcm``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    by_uid = {h.SOPInstanceUID: h for h in volume.headers}
    if summary.get("slice"):
        sources = [by_uid[volume.slices[int(summary["slice"]["index"])].sop_instance_uid]]
    else:
        sources = [by_uid[s.sop_instance_uid] for s in volume.slices]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="MuscleQuant", model_name=str(summary["model"]["model_id"])[:64]))
    sites = [hd.sr.FindingSite(anatomic_location=getattr(codes.SCT, LEVEL_SITES[preset]))] \
        if preset in LEVEL_SITES else None
    slice_text = f", slice {summary['slice']['index']}" if summary.get("slice") else ""
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier=f"skeletal muscle, {preset}{slice_text}"[:64]),
        finding_type=codes.SCT.SkeletalMuscle, finding_sites=sites, measurements=measurements(row),
        algorithm_id=hd.sr.AlgorithmIdentification(name="MuscleQuant", version=__version__),
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(s) for s in sources])
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion if row.get("modality", "CT") == "CT"
        else codes.LN.MRIUnspecifiedBodyRegion if hasattr(codes.LN, "MRIUnspecifiedBodyRegion")
        else codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group])
    evidence = [*sources, *([seg] if seg is not None else [])]
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_instance_uid=generate_uid(), series_number=9002,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="MuscleQuant", is_complete=True,
        series_description="MuscleQuant muscle measurements")
    path = folder / SR_FILE
    sr.save_as(path)
    return path
