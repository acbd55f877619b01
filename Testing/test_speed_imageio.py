"""The one-inflation .nii.gz reader (issue 16) gives exactly the image ITK's reader gives, and refuses what the
two-pass reader refused: truncated, corrupt and CRC-damaged streams, with one line."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib import imageio, imageio_nifti
from MuscleQuantLib.errors import InputError
from MuscleQuantLib.imageio import read_image


def _volume(pixel: int, shape: tuple[int, int, int] = (7, 9, 11)) -> sitk.Image:
    rng = np.random.default_rng(3)
    dtype = sitk.GetArrayViewFromImage(sitk.Image(2, 2, 2, pixel)).dtype
    if np.issubdtype(dtype, np.floating):
        array = rng.normal(0, 300, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(max(info.min, -2000), min(info.max, 3000), shape, endpoint=True).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.75, 0.8, 1.5))
    image.SetOrigin((-12.5, 30.25, -400.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # RAS-stored
    return image


def _assert_same(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetPixelID() == b.GetPixelID() and a.GetSize() == b.GetSize()
    assert a.GetSpacing() == b.GetSpacing() and a.GetOrigin() == b.GetOrigin() and a.GetDirection() == b.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


@pytest.mark.parametrize("pixel", [sitk.sitkInt16, sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkInt32, sitk.sitkFloat32,
                                   sitk.sitkFloat64, sitk.sitkInt8])
def test_one_pass_read_equals_itk(tmp_path: Path, pixel: int) -> None:
    path = tmp_path / "image.nii.gz"
    sitk.WriteImage(_volume(pixel), str(path), True)
    fast = imageio_nifti.read_nifti_gz_once(_info(path), path, imageio._claimed_bytes(_info(path), path))
    assert fast is not None  # the plain scalar types take the one-inflation path
    _assert_same(fast, sitk.ReadImage(str(path)))
    _assert_same(read_image(path), sitk.ReadImage(str(path)))
    # the header's metadata (descrip, qform_code_name …); nothing downstream reads ITK's own bookkeeping keys
    assert set(fast.GetMetaDataKeys()) <= set(sitk.ReadImage(str(path)).GetMetaDataKeys())


def _info(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def _raw_nifti(tmp_path: Path, pixel: int = sitk.sitkInt16, shape: tuple[int, int, int] = (7, 9, 11)) -> bytes:
    plain = tmp_path / "plain.nii"
    sitk.WriteImage(_volume(pixel, shape), str(plain), False)
    return plain.read_bytes()


def test_big_endian_multi_member_and_padded_streams_read_as_itk(tmp_path: Path) -> None:
    raw = _raw_nifti(tmp_path)
    reference = sitk.ReadImage(str(tmp_path / "plain.nii"))
    # a big-endian copy of the same file: every header field and voxel byte-swapped
    header = bytearray(raw[:352])
    swapped = bytearray(header)
    for start, fmt in ((0, "i"), (40, "8h"), (70, "2h"), (76, "8f"), (108, "f"), (112, "2f"), (252, "2h"),
                       (256, "8f"), (280, "12f")):
        size = struct.calcsize("<" + fmt)
        swapped[start:start + size] = struct.pack(">" + fmt, *struct.unpack("<" + fmt, header[start:start + size]))
    big = bytes(swapped) + np.frombuffer(raw[352:], "<i2").astype(">i2").tobytes()
    members = gzip.compress(raw[:1000]) + gzip.compress(raw[1000:])  # two gzip members, as `cat a.gz b.gz`
    for name, data in (("big.nii.gz", gzip.compress(big)), ("members.nii.gz", members),
                       ("padded.nii.gz", gzip.compress(raw) + b"\0" * 64)):
        (tmp_path / name).write_bytes(data)
        _assert_same(read_image(tmp_path / name), reference)


def test_nan_voxels_are_kept(tmp_path: Path) -> None:
    image = _volume(sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(image)
    array[2, 3, 4] = np.nan
    with_nan = sitk.GetImageFromArray(array)
    with_nan.CopyInformation(image)
    sitk.WriteImage(with_nan, str(tmp_path / "nan.nii.gz"), True)
    back = sitk.GetArrayViewFromImage(read_image(tmp_path / "nan.nii.gz"))
    assert np.isnan(back[2, 3, 4]) and np.isnan(back).sum() == 1


def test_scaled_values_take_the_general_path(tmp_path: Path) -> None:
    raw = bytearray(_raw_nifti(tmp_path))
    raw[112:120] = struct.pack("<2f", 2.0, -1024.0)  # scl_slope, scl_inter: ITK returns rescaled floats
    (tmp_path / "scaled.nii.gz").write_bytes(gzip.compress(bytes(raw)))
    path = tmp_path / "scaled.nii.gz"
    assert imageio_nifti.read_nifti_gz_once(_info(path), path, imageio._claimed_bytes(_info(path), path)) is None
    _assert_same(read_image(path), sitk.ReadImage(str(path)))


@pytest.mark.parametrize("damage", ["truncated", "crc", "trailing_garbage", "short_data"])
def test_damaged_streams_are_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    raw = _raw_nifti(tmp_path, shape=(40, 64, 64))  # larger than ITK's header read, so the damage is ours to see
    packed = gzip.compress(raw)
    if damage == "truncated":
        data = packed[: len(packed) * 2 // 3]
    elif damage == "crc":
        data = packed[:-8] + bytes([packed[-8] ^ 0xFF]) + packed[-7:]
    elif damage == "trailing_garbage":
        data = packed + b"not a gzip member"
    else:  # a complete stream whose data is shorter than the header says
        data = gzip.compress(raw[:-100])
    path = tmp_path / f"{damage}.nii.gz"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_image(path)
    message = str(caught.value)
    assert "\n" not in message and path.name in message and "truncated or corrupt" in message


def test_written_label_map_is_proven_complete_by_its_trailer_and_a_cut_copy_is_not(tmp_path: Path) -> None:
    image = _volume(sitk.sitkUInt8, (40, 64, 64))
    path = tmp_path / "labels.nii.gz"
    imageio.write_image(image, path)
    expected = image.GetNumberOfPixels()
    assert imageio._written_intact(image, path, expected)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[:-100])
    assert not imageio._written_intact(image, cut, expected)
    other = sitk.Image(image)
    other[0, 0, 0] = int(other[0, 0, 0]) ^ 1  # the file does not hold these voxels: the CRC says so
    assert not imageio._written_intact(other, path, expected)
