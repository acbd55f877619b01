"""Speed changes in the batch path's whole case (issue 16) give the same files as the slower code they replace:
the thumbnail of a known slice reoriented alone equals the one cut from the reoriented volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from MuscleQuantLib.batch.gallery import write_thumbnail
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.pipeline.geometry import canonical_slice_index, to_canonical

DIRECTIONS = {
    "LPS": (1, 0, 0, 0, 1, 0, 0, 0, 1),
    "RAS": (-1, 0, 0, 0, -1, 0, 0, 0, 1),
    "transposed, feet first": (0, 1, 0, 1, 0, 0, 0, 0, -1),
}


def _case(direction: tuple[int, ...]) -> tuple[sitk.Image, sitk.Image]:
    rng = np.random.default_rng(7)
    values = rng.integers(-200, 300, size=(6, 30, 44)).astype(np.int16)
    labels = np.zeros(values.shape, np.uint8)
    labels[2, 5:15, 8:30] = 1
    labels[2, 18:25, 3:12] = 3
    labels[4, 2:9, 30:40] = 2
    image, label_image = sitk.GetImageFromArray(values), sitk.GetImageFromArray(labels)
    for item in (image, label_image):
        item.SetSpacing((0.8, 0.7, 2.5))
        item.SetOrigin((10.0, -20.0, 5.0))
        item.SetDirection(direction)
    return image, label_image


def _whole_volume_thumbnail(image: sitk.Image, labels: sitk.Image, stored: int, path: Path) -> None:
    """The thumbnail as written before: the volume and label map reoriented, then the slice cut out."""
    canonical, canonical_labels = to_canonical(image), to_canonical(labels)
    k = canonical_slice_index(image, canonical, stored)
    values = sitk.GetArrayViewFromImage(canonical)
    label_array = sitk.GetArrayViewFromImage(canonical_labels)
    grey = np.clip((values[k].astype(np.float32) - (40 - 200)) / 400.0, 0, 1)
    rgb = np.stack([grey] * 3, axis=-1)
    mask = label_array[k] > 0
    palette = np.array([[0, 0, 0], [230, 80, 60], [60, 160, 230], [240, 200, 40], [120, 220, 90], [200, 90, 220],
                        [255, 140, 0], [0, 200, 200]], dtype=np.float32) / 255.0
    rgb[mask] = 0.45 * rgb[mask] + 0.55 * palette[1 + (label_array[k][mask].astype(int) - 1) % (len(palette) - 1)]
    sx, sy = canonical.GetSpacing()[:2]
    height = max(1, round(160 * (rgb.shape[0] * sy) / max(rgb.shape[1] * sx, 1e-6)))
    Image.fromarray((rgb * 255).astype(np.uint8)).resize((160, height), Image.NEAREST).save(path, format="PNG")


@pytest.mark.parametrize("name", list(DIRECTIONS))
@pytest.mark.parametrize("stored", [2, 4])
def test_thumbnail_of_a_known_slice_equals_the_whole_volume_one(tmp_path, name, stored):
    image, labels = _case(DIRECTIONS[name])
    write_thumbnail(image, labels, stored, tmp_path / "new.png")
    _whole_volume_thumbnail(image, labels, stored, tmp_path / "old.png")
    new, old = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("new", "old"))
    assert new.shape == old.shape and np.array_equal(new, old)
    assert (new != new[..., :1]).any()  # labels painted in colour: the slice is the labelled one


def test_thumbnail_refuses_a_slice_that_is_not_axial_as_before(tmp_path):
    image, labels = _case((1, 0, 0, 0, 0, 1, 0, 1, 0))  # stored slices are coronal
    with pytest.raises(InputError, match="axial"):
        write_thumbnail(image, labels, 2, tmp_path / "t.png")


def test_files_written_in_synced_together_are_fsynced_together_at_the_end(tmp_path, monkeypatch):
    import os

    from MuscleQuantLib import fileio

    synced: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd))
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", counting_fsync)
    with fileio.synced_together():
        for name in ("a.json", "b.json", "c.txt"):
            fileio.write_atomic(tmp_path / name, lambda p, n=name: p.write_text(n, encoding="utf-8"))
        assert synced == []  # nothing synced while the block runs
    assert len(synced) == 3
    mode = 0o666 & ~fileio._current_umask()
    for name in ("a.json", "b.json", "c.txt"):
        assert (tmp_path / name).read_text(encoding="utf-8") == name
        assert (tmp_path / name).stat().st_mode & 0o777 == mode
    fileio.write_atomic(tmp_path / "d.txt", lambda p: p.write_text("d", encoding="utf-8"))
    assert len(synced) == 4  # outside the block: synced at once, as always


def test_synced_together_syncs_nothing_when_the_block_fails(tmp_path, monkeypatch):
    from MuscleQuantLib import fileio

    calls: list[int] = []
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: calls.append(fd))
    with pytest.raises(RuntimeError), fileio.synced_together():
        fileio.write_atomic(tmp_path / "a.txt", lambda p: p.write_text("a", encoding="utf-8"))
        raise RuntimeError("later step failed")
    assert calls == []


def test_commit_finishes_every_staged_file_and_reports_the_first_failure(tmp_path, monkeypatch):
    import errno

    from MuscleQuantLib import fileio

    with fileio.Commit(tmp_path) as commit:
        for name in ("one.json", "two.csv", "three.png"):
            commit.file(tmp_path / name).write_text(name, encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["one.json", "three.png",
                                                                                        "two.csv"]
    real = fileio._finish_file

    def failing(path, chmod=True):
        if "two" in path.name or "three" in path.name:
            raise OSError(errno.ENOSPC, f"full at {path.name}", str(path))
        real(path, chmod)

    monkeypatch.setattr(fileio, "_finish_file", failing)
    with pytest.raises(OSError, match="two"):  # the first in order, named as its output
        with fileio.Commit(tmp_path) as commit:
            for name in ("one.json", "two.csv", "three.png"):
                commit.file(tmp_path / name).write_text("new " + name, encoding="utf-8")
    assert (tmp_path / "one.json").read_text(encoding="utf-8") == "one.json"  # nothing of the failed commit installed
    assert not list(tmp_path.glob(".*mqstage*"))


def _random_masks(seed: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Blobs with holes, pieces touching the edges and background pockets: what fill-holes must get right."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=shape), (0.0, 1.5, 1.5))
    return noise > rng.uniform(-0.1, 0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fill_holes_per_slice_equals_scipy_slice_by_slice(seed):
    from scipy import ndimage

    from MuscleQuantLib.pipeline.intensity import SLICE_CHUNK, fill_holes_per_slice

    mask = _random_masks(seed, (SLICE_CHUNK * 2 + 3, 41, 37))  # chunk boundaries and a short last chunk
    expected = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    assert (expected != mask).any()  # there are holes to fill
    assert np.array_equal(fill_holes_per_slice(mask), expected)
    copy = mask.copy()
    assert fill_holes_per_slice(copy, out=copy) is copy and np.array_equal(copy, expected)
    ring = np.zeros((1, 9, 9), bool)
    ring[0, 2:7, 2:7], ring[0, 3:6, 3:6] = True, False
    ring[0, 4, 4] = True  # an island inside the hole
    assert np.array_equal(fill_holes_per_slice(ring)[0], ndimage.binary_fill_holes(ring[0]))


def test_plausibility_body_mask_of_a_volume_equals_the_slice_by_slice_one():
    from scipy import ndimage

    from MuscleQuantLib.plausibility.geometry import CT_BODY_HU, body_mask

    rng = np.random.default_rng(4)
    values = np.where(_random_masks(9, (20, 48, 52)), 40.0, -1000.0) + rng.normal(0, 5, (20, 48, 52))
    values[:, :, 24:27] = -1000.0  # two legs
    values[:, 2:4, 2:4] = 40.0  # a speck far smaller than a tenth of the largest region
    mask = values > CT_BODY_HU
    regions, _ = ndimage.label(mask)
    sizes = np.bincount(regions.ravel())
    sizes[0] = 0
    kept = np.isin(regions, np.nonzero(sizes >= 0.1 * sizes.max())[0])
    expected = np.stack([ndimage.binary_fill_holes(s) for s in kept])
    assert np.array_equal(body_mask(values, "CT"), expected)


@pytest.mark.parametrize("with_hu", [True, False])
def test_label_volumes_in_chunks_equal_one_bincount(monkeypatch, with_hu):
    from MuscleQuantLib.quantify import measures

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 9, size=(7, 30, 33)).astype(np.uint8)  # 8: a value not asked for
    values = rng.integers(-200, 300, size=labels.shape).astype(np.int16)
    hu = (-29.0, 150.0) if with_hu else None
    ids = [1, 2, 3, 5, 7]
    flat = labels.ravel().astype(np.intp)
    outline = np.bincount(flat, minlength=8)[:8]
    inside = ((values >= -29) & (values <= 150)).ravel()
    muscle = np.bincount(flat[inside], minlength=8)[:8] if with_hu else outline
    monkeypatch.setattr(measures, "VOLUME_CHUNK", 1000)  # many chunks and a short last one
    got = measures.label_volumes(labels, values, ids, 0.5, hu)
    assert got == {i: {"outline_mm3": float(outline[i]) * 0.5, "volume_mm3": float(muscle[i]) * 0.5} for i in ids}


def test_one_onnx_session_whichever_cpu_device_string_chose_it(tmp_path, monkeypatch):
    """A batch worker asks for "cpu", a command for "auto": on a machine without CUDA both are the same ONNX
    Runtime session, not two (each holds its own memory arena)."""
    from MuscleQuantLib.inference import runtime
    from MuscleQuantLib.models import card, modelfile

    (tmp_path / "model.json").write_text("{}", encoding="utf-8")
    made: list[object] = []
    monkeypatch.setattr(runtime, "runtime_choice", lambda device="auto": "onnx")
    monkeypatch.setattr(card, "read_card", lambda path: {})
    monkeypatch.setattr(modelfile, "check_files", lambda path, c: None)
    monkeypatch.setattr(modelfile, "refuse_pickle", lambda path: None)
    monkeypatch.setattr(runtime, "_onnx_model", lambda path, c: made.append(object()) or made[-1])
    monkeypatch.setattr(runtime, "_LOADED", {})
    first = runtime.load_inference_model(tmp_path, "auto")
    assert runtime.load_inference_model(tmp_path, "cpu") is first and len(made) == 1
