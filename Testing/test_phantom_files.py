"""The same seed gives byte-identical files for every anatomy (the product's test data must not drift)."""

from __future__ import annotations

import pytest

from MuscleQuantLib.phantoms.registry import ANATOMIES


@pytest.mark.parametrize("anatomy", ANATOMIES)
def test_same_seed_writes_identical_files(anatomy, tmp_path, run_cli):
    folders = []
    for run in ("a", "b"):
        folder = tmp_path / run
        code, _, err = run_cli("phantom", "--anatomy", anatomy, "--n", "1", "--seed", "11", "--resolution", "low",
                               "--out", folder, "--progress", "none")
        assert code == 0, err
        folders.append(folder)
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == sorted(p.name for p in folders[1].iterdir()) and len(names) >= 4
    for name in names:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    code, _, _ = run_cli("phantom", "--anatomy", anatomy, "--n", "1", "--seed", "12", "--resolution", "low",
                         "--out", tmp_path / "c", "--progress", "none")
    image = next(n for n in names if n.endswith("_image.nii.gz"))
    other = next(p for p in (tmp_path / "c").iterdir() if p.name.endswith("_image.nii.gz"))
    assert code == 0 and other.read_bytes() != (folders[0] / image).read_bytes()
