"""One piece per side (issue 14): on an axial L3 slice each muscle group is one piece per side, so a second
piece is where the network ran on into a neighbour (on the real CT: psoas into kidney, the wall into
spleen, rectus into liver). Thin bands are judged before the HU window, which breaks them; thick muscles
after it, which parts them from an organ across a fat plane."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from MuscleQuantLib.inference.segment import _postprocess
from MuscleQuantLib.pipeline.postprocess import (
    grow_to_fat_edge,
    keep_one_piece,
    peel_at_organs,
    resolve_hu_range,
)
from MuscleQuantLib.presets import get_preset


def test_keep_one_piece_keeps_the_largest_piece_of_the_named_values_only():
    labels = np.zeros((20, 20), np.uint16)
    labels[1:6, 1:6] = 3  # 25 voxels
    labels[10:12, 10:12] = 3  # 4 voxels: dropped
    labels[15, 15] = 3
    labels[1:3, 10:12] = 5  # value 5 is not named: both of its pieces stay
    labels[15:17, 1:3] = 5
    labels[6, 6] = 3  # touches the big piece at a corner: 8-connected, so part of it
    out = keep_one_piece(labels, (3, 7))
    assert (out == 3).sum() == 26 and out[6, 6] == 3 and out[10, 10] == 0 and out[15, 15] == 0
    assert np.array_equal(out == 5, labels == 5)
    assert labels[10, 10] == 3  # the input is not changed
    # A piece that borders another muscle is that muscle, mislabelled: it joins it (most-bordered label).
    labels[3, 12] = 3
    labels[0, 19] = 5
    out = keep_one_piece(labels, (3,))
    assert out[3, 12] == 5 and out[0, 19] == 5 and (out == 3).sum() == 26
    assert keep_one_piece(labels, (3,), join=False)[3, 12] == 0  # on raw output: erased, never joined
    # min_share: a further piece of at least that share of the largest stays (a wall drawn apart).
    shared = keep_one_piece(labels, (3,), min_share=0.15)
    assert shared[10, 10] == 3 and shared[15, 15] == 0  # 4 of 26 voxels stays, 1 does not
    single = np.zeros((8, 8), np.uint16)
    single[2:4, 2:4] = 3
    assert keep_one_piece(single, (3,)) is single  # nothing to drop: no copy


def _slice() -> tuple[np.ndarray, np.ndarray, sitk.Image]:
    """A 1 mm body (fat, 60 HU muscle where labelled) with L3 classes drawn on it."""
    y, x = np.mgrid[:120, :160]
    hu = np.where(((x - 80) / 75.0) ** 2 + ((y - 60) / 55.0) ** 2 <= 1, -100.0, -1000.0).astype(np.float32)
    classes = np.zeros(hu.shape, np.uint16)
    # Rectus (class 1) on the patient's right (canonical x < midline): a band broken by a fat stripe.
    classes[100:104, 40:70] = 1
    hu[100:104, 40:70] = 60.0
    hu[100:104, 54:56] = -100.0  # fat inside the band: the HU window breaks it in two
    # The same side's rectus class also runs into an "organ" (muscle HU) that is a separate blob.
    classes[80:90, 45:55] = 1
    hu[80:90, 45:55] = 40.0
    # Psoas (class 3) on the right: the muscle, and a second piece across a fat plane (organ-like).
    classes[50:66, 60:80] = 3  # labelled through the fat column at x 72: one piece before the window
    hu[50:66, 60:72] = 50.0
    hu[50:66, 73:80] = 45.0
    # Abdominal wall (class 2) on the right: a lateral band (120 voxels), a posterior piece (60: 50 %) and
    # a small piece in an "organ" (16: 13 %).
    for rows, cols in ((slice(30, 50), slice(20, 26)), (slice(30, 40), slice(34, 40)), (slice(42, 46), slice(44, 48))):
        classes[rows, cols] = 2
        hu[rows, cols] = 50.0
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((1.0, 1.0))
    return classes, hu, image


def test_the_l3_preset_keeps_one_piece_per_side_with_thin_bands_judged_before_the_window():
    preset = get_preset("l3")
    assert preset.one_piece_before_window and preset.one_piece
    classes, hu, image = _slice()
    sided, midline = _postprocess(classes, hu, image, preset, resolve_hu_range("alberta"))
    names = {o.value: o.name for o in preset.output_labels()}
    rectus = next(v for v, n in names.items() if n == "rectus_abdominis_right")
    psoas = next(v for v, n in names.items() if n == "psoas_major_right")
    assert midline > 70  # the drawn labels lie on the patient's right
    # The rectus band keeps both halves the window parted; the detached blob in the "organ" is gone.
    assert (sided[100:104, 40:54] == rectus).all() and (sided[100:104, 56:70] == rectus).all()
    assert not (sided[80:90, 45:55] == rectus).any()
    # The psoas keeps its larger piece; the piece beyond the fat plane (x 72) is dropped.
    assert (sided[50:66, 60:72] == psoas).all() and not (sided[50:66, 73:80] == psoas).any()
    # The wall (class 2) keeps a second piece of at least 30 % of its largest (its posterior part drawn
    # apart), and loses a small one (spill into an organ).
    wall = next(v for v, n in names.items() if n == "abdominal_wall_right")
    assert preset.piece_share == {"abdominal_wall": 0.3}
    assert (sided[30:50, 20:26] == wall).all() and (sided[30:40, 34:40] == wall).all()
    assert not (sided[42:46, 44:48] == wall).any()


def test_without_the_rule_every_piece_stays():
    """The same slice through a preset that names no groups: what the rule removes above is really there."""
    import dataclasses

    preset = dataclasses.replace(get_preset("l3"), one_piece_before_window=(), one_piece=())
    classes, hu, image = _slice()
    sided, _ = _postprocess(classes, hu, image, preset, resolve_hu_range("alberta"))
    assert (sided[80:90, 45:55] > 0).all() and (sided[50:66, 73:80] > 0).all()


def test_the_segmentation_json_says_which_groups_were_kept_in_one_piece(tmp_path):
    """What was done to the network's output is in the record, not only in the code."""
    from MuscleQuantLib.inference.segment import SegmentRequest, segment
    from MuscleQuantLib.models.starter import starter_for
    from MuscleQuantLib.phantoms.registry import PhantomOptions, generate_case, write_case

    case = generate_case("l3", 5, 0, PhantomOptions(in_view=True, resolution="low"))
    files = write_case(case, tmp_path / "case")
    level = int(round(case.metadata["levels"]["L3"]["center_slice"]))
    summary = segment(SegmentRequest(image=tmp_path / "case" / files["image"], model=starter_for("l3"),
                                     out=tmp_path / "out", slice_index=level, device="cpu"))
    assert summary["postprocessing"]["one_piece_per_side"] == {
        "before_hu_window": ["rectus_abdominis", "abdominal_wall"], "after_hu_window": ["psoas_major", "quadratus_lumborum"],
        "further_piece_share": {"abdominal_wall": 0.3}}
    assert summary["postprocessing"]["grown_to_fat_edge"] == ["rectus_abdominis", "abdominal_wall"]
    assert summary["postprocessing"]["peeled_at_organs"] == {
        "depth_mm": {"rectus_abdominis": 9.0, "abdominal_wall": 9.0, "psoas_major": 3.0}, "organ_min_mm2": 800.0}


def test_thin_bands_grow_one_pixel_to_their_fat_edge_and_never_into_an_organ():
    """The rim of a band between its outline and the fat: in the HU window and bordering fat, it is grown
    into (the protocols outline at the fascia and let the window decide); a pixel against an organ is not."""
    hu = np.full((12, 12), -100.0, np.float32)  # fat
    labels = np.zeros(hu.shape, np.uint16)
    labels[4:7, 2:10] = 2  # the band the network drew
    hu[3:8, 2:10] = 50.0  # the muscle reaches one pixel beyond it on both sides
    hu[8:12, 2:10] = 45.0  # an "organ" against the lower rim: those rim pixels border no fat
    hu[8, 2:10] = 45.0
    hu[3, 5] = 400.0  # bone-like: outside the window, never grown into
    window = resolve_hu_range("alberta")
    out = grow_to_fat_edge(labels, hu, window, (2,))
    assert (out[3, 2:10][[0, 1, 2, 4, 5, 6, 7]] == 2).all() and out[3, 5] == 0  # the rim against fat
    assert (out[4:7, 2:10] == 2).all() and not out[2].any()  # one pixel only
    # Row 7 is muscle between the band and the organ: its pixels at the band's ends touch fat, its middle not.
    assert out[7, 4:8].sum() == 0 and out[7, 2] == 2
    assert not out[8:].any()  # never into the organ
    assert labels[3, 2] == 0  # the input is not changed
    assert grow_to_fat_edge(labels, hu, None, (2,)) is labels  # MR (no window): nothing to do
    assert grow_to_fat_edge(labels, hu, window, (1,)) is labels  # only the named values grow


def test_the_l3_preset_grows_rectus_and_wall_only():
    """Growing erector or psoas as well cost the real CT (erector 0.849, psoas 0.661): only the bands grow."""
    import dataclasses

    preset = get_preset("l3")
    assert preset.grow_to_fat == ("rectus_abdominis", "abdominal_wall")
    assert set(preset.grow_to_fat) <= set(preset.label_by_name())
    classes = np.zeros((12, 20), np.uint16)
    classes[4:7, 2:14] = 1  # rectus
    classes[4:7, 15:19] = 3  # psoas, with the same muscle-HU rim against fat
    hu = np.full(classes.shape, -100.0, np.float32)
    hu[3:8, 1:20] = 50.0
    image = sitk.GetImageFromArray(hu)
    out, _ = _postprocess(classes, hu, image, preset, resolve_hu_range("alberta"))
    assert (out[3, 2:14] > 0).all() and not out[3, 15:19].any()
    everything = dataclasses.replace(preset, grow_to_fat=("rectus_abdominis", "psoas_major"))
    out, _ = _postprocess(classes, hu, image, everything, resolve_hu_range("alberta"))
    assert (out[3, 15:19] > 0).all()  # what the preset leaves out would grow


def test_a_muscle_against_an_organ_loses_its_pixels_next_to_it_up_to_its_depth():
    """A large unlabelled muscle-HU region is an organ the network left out; the labelled pixels against it
    are its edge the network ran into (rectus over the liver, psoas into the kidney on the real CT)."""
    hu = np.full((30, 30), -100.0, np.float32)  # fat
    labels = np.zeros(hu.shape, np.uint16)
    hu[2:8, 2:28] = 50.0
    labels[2:8, 2:28] = 1  # a band: its rows 6-7 lie on an organ (rows 8-19, 240 px)
    hu[8:20, 2:28] = 55.0
    hu[24:27, 2:10] = 50.0
    labels[24:26, 2:10] = 3  # psoas on a small unlabelled region (row 26: 8 px): not an organ
    window = resolve_hu_range("alberta")
    out = peel_at_organs(labels, hu, window, {1: 3, 3: 3}, min_region_px=100)
    assert (out[2:5, 2:28] == 1).all() and not out[5:8].any()  # three rows peeled, layer by layer
    assert (out[24:26, 2:10] == 3).all()  # the small region is no organ
    assert (peel_at_organs(labels, hu, window, {1: 1}, 100)[2:7, 2:28] == 1).all()  # depth 1: one row
    assert (peel_at_organs(labels, hu, window, {3: 3}, 100) == labels).all()  # only the named values peel
    assert (peel_at_organs(labels, hu, window, {3: 3, 1: 3}, 5)[25] == 0).all()  # a smaller organ size: it is one
    assert labels[7, 5] == 1  # the input is not changed
    assert peel_at_organs(labels, hu, None, {1: 3}, 100) is labels  # MR (no window): nothing to do
    fat_only = labels.copy()
    fat_only[:] = 0
    fat_only[2:8, 2:28] = 1
    hu2 = np.where(hu == 55.0, -100.0, hu).astype(np.float32)
    assert peel_at_organs(fat_only, hu2, window, {1: 3}, 100) is fat_only  # no organ beside it: untouched


def test_the_l3_preset_peels_bands_deeper_than_psoas_at_organs():
    """L3: rectus and wall 9 mm, psoas 3 mm (it truly abuts the kidney), quadratus and erector never."""
    preset = get_preset("l3")
    assert preset.peel_at_organs_mm == {"rectus_abdominis": 9.0, "abdominal_wall": 9.0, "psoas_major": 3.0}
    classes = np.zeros((70, 60), np.uint16)
    hu = np.full(classes.shape, -100.0, np.float32)
    hu[15:45, 10:50] = 55.0  # an organ, 1200 px of 1 mm: over 800 mm²
    classes[3:15, 10:50] = 1  # rectus, 12 mm thick, on its front
    hu[3:15, 10:50] = 50.0
    classes[45:51, 10:25] = 3  # psoas on its back
    hu[45:51, 10:25] = 50.0
    classes[45:51, 30:45] = 5  # erector on its back: never peeled
    hu[45:51, 30:45] = 50.0
    image = sitk.GetImageFromArray(hu)
    out, _ = _postprocess(classes, hu, image, preset, resolve_hu_range("alberta"))
    assert (out[3:6, 10:50] > 0).all() and not out[6:15, 12:48].any()  # rectus: 9 px of 1 mm peeled
    assert not out[45:48, 10:25].any() and (out[48:51, 10:25] > 0).all()  # psoas: 3 px
    assert (out[45:51, 30:45] > 0).all()
