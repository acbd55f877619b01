"""Randomised synthetic training images are not in HU by design (SynthSeg-style: air may get +200), so the
training loader must not refuse them with the HU check that guards users' scans; a user's folder with the
same image is still refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.errors import InputError
from MuscleQuantLib.presets import get_preset
from MuscleQuantLib.training.data import discover_cases, load_pair


def _pair(folder, dataset_kind: str | None) -> None:
    folder.mkdir()
    image = np.full((1, 32, 32), 180.0, np.float32)  # randomised "air": nothing below -150
    image[0, 8:24, 8:24] = -40.0
    labels = np.zeros((1, 32, 32), np.uint8)
    labels[0, 10:14, 10:14] = 3
    for array, name in ((image, "s0_image.nii.gz"), (labels, "s0_labels.nii.gz")):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(folder / name))
    if dataset_kind:
        manifest = {"kind": dataset_kind, "cases": [{"case_id": "s0", "image": "s0_image.nii.gz",
                                                     "labels": "s0_labels.nii.gz"}]}
        (folder / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_synthetic_training_images_skip_the_hu_check(tmp_path):
    _pair(tmp_path / "synth", "synthetic_training")
    case = discover_cases(tmp_path / "synth")[0]
    assert case.synthetic_intensities
    image, labels = load_pair(case, get_preset("l3"))
    assert float(sitk.GetArrayViewFromImage(image).min()) > -150
    assert int((sitk.GetArrayViewFromImage(labels) > 0).sum()) == 16


@pytest.mark.parametrize("kind", [None, "phantoms"])
def test_users_images_without_air_or_fat_are_still_refused(tmp_path, kind):
    _pair(tmp_path / "user", kind)
    case = discover_cases(tmp_path / "user")[0]
    assert not case.synthetic_intensities
    with pytest.raises(InputError, match="not Hounsfield units"):
        load_pair(case, get_preset("l3"))
