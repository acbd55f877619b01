"""Slicer .seg.nrrd input: layered files whose box is smaller than the image, placed by physical origin."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.quantify import QuantifyOptions, make_patient, quantify_files
from MuscleQuantLib.segnrrd import read_seg_nrrd

SPACING = (0.9, 0.8, 2.5)
DIRECTION = np.diag([-1.0, -1.0, 1.0])  # RAS-stored reference
ORIGIN = np.array([50.0, 40.0, -10.0])
SIZE = (30, 20, 5)  # x, y, z
BOX_OFFSET, BOX_SIZE = (4, 3, 1), (10, 8, 3)


def reference_image() -> sitk.Image:
    array = np.full(tuple(reversed(SIZE)), 40, np.int16)
    array[:, 0, :] = -1000  # a row of air: a CT in HU always holds some (values without any are refused)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(tuple(ORIGIN))
    image.SetDirection(tuple(DIRECTION.ravel()))
    return image


def box_layers() -> np.ndarray:
    """(z, y, x, layer) of the stored box: layer 0 holds psoas left (1) and erector (2); layer 1 psoas right (1)."""
    nx, ny, nz = BOX_SIZE
    layers = np.zeros((nz, ny, nx, 2), np.uint8)
    layers[1, 1:4, 1:5, 0] = 1
    layers[1, 5:8, 2:6, 0] = 2
    layers[1, 5:7, 5:9, 1] = 1  # overlaps the erector in 2 voxels (row 5..6, col 5)
    return layers


def write_slicer_style_seg_nrrd(path, layers, spacing=SPACING, offset=BOX_OFFSET, gz=True) -> None:
    """Write the format vtkMRMLSegmentationStorageNode writes (header copied from a slicer-core export)."""
    origin = ORIGIN + DIRECTION @ (np.array(offset) * np.array(spacing))
    directions = " ".join("(" + ",".join(f"{v:.17g}" for v in DIRECTION[:, i] * spacing[i]) + ")" for i in range(3))
    segments = [("Psoas major left", 0, 1, "0.8 0.2 0.2"), ("Erector spinae", 0, 2, "0.2 0.8 0.2"),
                ("Psoas major right", 1, 1, "0.2 0.2 0.8")]
    header = ["NRRD0004", "type: unsigned char", "dimension: 4", "space: left-posterior-superior",
              f"sizes: {layers.shape[3]} {layers.shape[2]} {layers.shape[1]} {layers.shape[0]}",
              f"space directions: none {directions}", "kinds: list domain domain domain",
              f"encoding: {'gzip' if gz else 'raw'}",
              "space origin: (" + ",".join(f"{v:.17g}" for v in origin) + ")"]
    for n, (name, layer, value, color) in enumerate(segments):
        header += [f"Segment{n}_Color:={color}", f"Segment{n}_Extent:=0 9 0 7 0 2", f"Segment{n}_ID:=S_{n}",
                   f"Segment{n}_LabelValue:={value}", f"Segment{n}_Layer:={layer}", f"Segment{n}_Name:={name}"]
    header += ["Segmentation_ContainedRepresentationNames:=Binary labelmap|",
               "Segmentation_MasterRepresentation:=Binary labelmap",
               "Segmentation_ReferenceImageExtentOffset:=" + " ".join(map(str, offset))]
    data = np.ascontiguousarray(layers).tobytes()
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n\n").encode())
        f.write(gzip.compress(data) if gz else data)


def expected_labels() -> np.ndarray:
    labels = np.zeros(tuple(reversed(SIZE)), np.uint8)
    layers = box_layers()
    x0, y0, z0 = BOX_OFFSET
    view = labels[z0:z0 + BOX_SIZE[2], y0:y0 + BOX_SIZE[1], x0:x0 + BOX_SIZE[0]]
    view[layers[..., 0] == 1] = 1
    view[layers[..., 0] == 2] = 2
    view[layers[..., 1] == 1] = 3
    return labels


def test_layered_seg_nrrd_with_small_box_lands_on_the_image_grid(tmp_path):
    path = tmp_path / "case.seg.nrrd"
    write_slicer_style_seg_nrrd(path, box_layers())
    seg = read_seg_nrrd(path, reference_image())
    assert seg.names == {1: "Psoas major left", 2: "Erector spinae", 3: "Psoas major right"}
    np.testing.assert_array_equal(seg.labels, expected_labels())
    assert seg.overlaps == {("Erector spinae", "Psoas major right"): 2}
    assert seg.colors[1] == (0.8, 0.2, 0.2)


def test_seg_nrrd_names_reach_the_measurements(tmp_path):
    image_path, seg_path = tmp_path / "ct.nrrd", tmp_path / "case.seg.nrrd"
    sitk.WriteImage(reference_image(), str(image_path))
    write_slicer_style_seg_nrrd(seg_path, box_layers(), gz=False)
    result = quantify_files(image_path, seg_path, QuantifyOptions(preset="l3", slice_index=2), make_patient())
    pixel = SPACING[0] * SPACING[1]
    assert result.row["csa_psoas_major_left_mm2"] == pytest.approx(12 * pixel)
    assert result.row["csa_erector_spinae_mm2"] == pytest.approx((12 - 2) * pixel)
    assert result.row["psoas_area_mm2"] == pytest.approx((12 + 8) * pixel)
    assert result.record["inputs"]["labels_format"] == "seg.nrrd"
    assert any("overlap in 2 voxels" in w for w in result.record["warnings"])


@pytest.mark.parametrize("spacing, offset, message", [((1.0, 0.8, 2.5), BOX_OFFSET, "spacing"),
                                                      (SPACING, (25, 3, 1), "outside the image grid")])
def test_seg_nrrd_on_another_grid_is_refused(tmp_path, spacing, offset, message):
    path = tmp_path / "bad.seg.nrrd"
    write_slicer_style_seg_nrrd(path, box_layers(), spacing=spacing, offset=offset)
    with pytest.raises(InputError, match=message):
        read_seg_nrrd(path, reference_image())


@pytest.mark.slicer
def test_file_written_by_slicer_storage_node(tmp_path):
    slicer = pytest.importorskip("slicer")
    vtk = pytest.importorskip("vtk")
    from vtk.util import numpy_support

    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    node = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(node)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    ras_dir, ras_origin = lps_to_ras @ DIRECTION, lps_to_ras @ ORIGIN
    full = expected_labels()
    for value, name in ((1, "Psoas major left"), (2, "Erector spinae"), (3, "Psoas major right")):
        mask = (full == value).astype(np.uint8)
        oriented = slicer.vtkOrientedImageData()
        oriented.SetExtent(0, SIZE[0] - 1, 0, SIZE[1] - 1, 0, SIZE[2] - 1)
        oriented.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
        numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars())[:] = mask.ravel()
        oriented.SetOrigin(tuple(ras_origin))
        oriented.SetSpacing(SPACING)
        oriented.SetDirections([list(row) for row in ras_dir])
        segment = slicer.vtkSegment()
        segment.SetName(name)
        segment.AddRepresentation("Binary labelmap", oriented)
        node.GetSegmentation().AddSegment(segment)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    path = tmp_path / "slicer.seg.nrrd"
    storage.SetFileName(str(path))
    assert storage.WriteData(node)
    seg = read_seg_nrrd(path, reference_image())
    assert sorted(seg.names.values()) == ["Erector spinae", "Psoas major left", "Psoas major right"]
    for value, name in seg.names.items():
        truth = {"Psoas major left": 1, "Erector spinae": 2, "Psoas major right": 3}[name]
        np.testing.assert_array_equal(seg.labels == value, full == truth)
