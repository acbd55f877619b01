"""NIfTI checks ITK's reader does not make: raw voxel sizes, byte counts of (gzipped) files, NaN voxels,
and a one-inflation read of a plain .nii.gz proven complete by its gzip trailer. Split from ``imageio``,
which decides when each applies."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

MAX_COMPRESSION_RATIO = 1100  # deflate cannot do better than ~1032:1, even on zeros


def first_line(exc: BaseException) -> str:
    """ITK's exception text without its source paths and banner lines, squeezed to one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Exception" not in ln and not ln.startswith(("sitk::", "/", "Reason:"))]
    return " ".join(useful or lines or ["unknown error"])[:240]


# NIfTI datatype -> (numpy type, the SimpleITK pixel type ITK's reader gives it without scaling)
NIFTI_SCALARS = {2: (np.uint8, sitk.sitkUInt8), 4: (np.int16, sitk.sitkInt16), 8: (np.int32, sitk.sitkInt32),
                 16: (np.float32, sitk.sitkFloat32), 64: (np.float64, sitk.sitkFloat64), 256: (np.int8, sitk.sitkInt8),
                 512: (np.uint16, sitk.sitkUInt16), 768: (np.uint32, sitk.sitkUInt32),
                 1024: (np.int64, sitk.sitkInt64), 1280: (np.uint64, sitk.sitkUInt64)}


def read_nifti_gz_once(reader: sitk.ImageFileReader, path: Path, data_bytes: int) -> sitk.Image | None:
    """A plain scalar 3D .nii.gz inflated once, by ITK (whose zlib-ng inflates 1.7× faster than Python's zlib),
    and proven complete and intact without a second inflation: the gzip trailer's length must be the header
    plus the voxels, and its CRC-32 that of the header bytes plus the voxels ITK returned (the stored bytes, as
    the file is unscaled and in this machine's byte order). A truncated file ends in deflate data, not in that
    trailer; a corrupt one fails the CRC. None: a file this path cannot prove so (scaled or big-endian values,
    NaN that ITK zeroes, several gzip members, trailing bytes, 2D/4D/vector images): the general path decides."""
    try:
        with gzip.open(path, "rb") as handle:
            head = handle.read(544)
    except (EOFError, OSError, zlib.error):
        return None  # the general path says what is wrong
    check_nifti_header_fields(nifti_header_fields(head), path)
    if data_bytes > MAX_COMPRESSION_RATIO * path.stat().st_size + (1 << 20):
        raise InputError(f"header claims {data_bytes / 1e6:.0f} MB of voxels but the compressed file holds only "
                         f"{path.stat().st_size} bytes (corrupt header or truncated file)", path=path)
    fields = nifti_scalar_fields(head)
    if fields is None or reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        return None
    order, offset, datatype, dim = fields
    native = "<" if np.little_endian else ">"
    pixel = NIFTI_SCALARS.get(datatype, (None, None))[1]
    if order != native or pixel != reader.GetPixelID() or tuple(dim) != tuple(reader.GetSize()) or offset < 348:
        return None
    crc, length = gzip_trailer(path)
    if length != (offset + data_bytes) & 0xFFFFFFFF:
        return None
    try:
        image = reader.Execute()
    except (RuntimeError, MemoryError) as exc:
        raise InputError(f"image data could not be read (truncated or corrupt file): {first_line(exc)}", path=path) from None
    voxels = sitk.GetArrayViewFromImage(image)
    if voxels.nbytes != data_bytes or not voxels.flags.c_contiguous:
        return None
    with gzip.open(path, "rb") as handle:
        stored_head = handle.read(offset)  # header, extensions and padding: a few hundred bytes
    if zlib.crc32(voxels.reshape(-1).view(np.uint8), zlib.crc32(stored_head)) != crc:
        return None
    return image


def gzip_trailer(path: Path) -> tuple[int, int]:
    """(CRC-32, uncompressed length mod 2**32) from a gzip file's last eight bytes."""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 8))
        tail = handle.read(8)
    return struct.unpack("<II", tail) if len(tail) == 8 else (-1, -1)


def nifti_stored_bytes(path: Path) -> int | None:
    """Voxel bytes a NIfTI header says the file stores (dim × bitpix), None if it does not parse."""
    try:
        with open_maybe_gzip(path) as handle:
            header = handle.read(544)
    except (EOFError, OSError, zlib.error):
        return None
    for order in "<>":
        if len(header) >= 348 and struct.unpack(f"{order}i", header[:4])[0] == 348:
            dim, bitpix = struct.unpack(f"{order}8h", header[40:56]), struct.unpack(f"{order}h", header[72:74])[0]
        elif len(header) >= 540 and struct.unpack(f"{order}i", header[:4])[0] == 540:
            dim, bitpix = struct.unpack(f"{order}8q", header[16:80]), struct.unpack(f"{order}h", header[14:16])[0]
        else:
            continue
        if not 1 <= dim[0] <= 7 or bitpix <= 0 or bitpix % 8 or any(d < 1 for d in dim[1:dim[0] + 1]):
            return None
        return int(np.prod([int(d) for d in dim[1:dim[0] + 1]], dtype=object)) * (bitpix // 8)
    return None


def nifti_scalar_fields(header: bytes) -> tuple[str, int, int, list[int]] | None:
    """(byte order, vox_offset, datatype, the three grid sizes) of an unscaled 3D NIfTI-1/2 header; None when the
    header scales its values (ITK would return floats), is not 3D, or is neither NIfTI-1 nor NIfTI-2."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(f"{order}i", header[:4])[0] == 348:
            dim = list(struct.unpack(f"{order}8h", header[40:56]))
            datatype = struct.unpack(f"{order}h", header[70:72])[0]
            offset = struct.unpack(f"{order}f", header[108:112])[0]
            slope, inter = struct.unpack(f"{order}2f", header[112:120])
        elif len(header) >= 540 and struct.unpack(f"{order}i", header[:4])[0] == 540:
            dim = list(struct.unpack(f"{order}8q", header[16:80]))
            datatype = struct.unpack(f"{order}h", header[12:14])[0]
            offset = struct.unpack(f"{order}q", header[168:176])[0]
            slope, inter = struct.unpack(f"{order}2d", header[176:192])
        else:
            continue
        if dim[0] != 3 or slope not in (0.0, 1.0) or inter != 0.0 or not float(offset).is_integer():
            return None
        return order, int(offset), int(datatype), [int(v) for v in dim[1:4]]
    return None


def restore_non_finite(path: Path, image: sitk.Image) -> sitk.Image:
    """ITK's NIfTI reader turns NaN voxels into 0 without a word (an all-NaN CT read as all 0 HU); put
    them back from the raw data, so that the value checks see them and ``info`` reports them."""
    with open_maybe_gzip(path) as handle:
        header = handle.read(544)
        order = "<" if struct.unpack("<i", header[:4])[0] in (348, 540) else ">"
        nifti2 = struct.unpack(f"{order}i", header[:4])[0] == 540
        datatype = struct.unpack(f"{order}h", header[12:14] if nifti2 else header[70:72])[0]
        dtype = {16: np.float32, 64: np.float64}.get(datatype)
        if dtype is None:
            return image
        handle.seek(nifti_vox_offset(header))
        raw = np.frombuffer(handle.read(image.GetNumberOfPixels() * np.dtype(dtype).itemsize),
                            dtype=np.dtype(dtype).newbyteorder(order))
    bad = ~np.isfinite(raw)
    if not bad.any() or raw.size != image.GetNumberOfPixels():
        return image
    array = sitk.GetArrayFromImage(image)
    array.reshape(-1)[bad] = raw[bad]
    restored = sitk.GetImageFromArray(array, isVector=False)
    restored.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        restored.SetMetaData(key, image.GetMetaData(key))
    return restored


def nifti_header_fields(header: bytes) -> tuple[list[int], list[float], list[float]] | None:
    """(dim, pixdim, srow x/y/z) of a NIfTI-1 or NIfTI-2 header in either byte order; None if neither."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(f"{order}i", header[:4])[0] == 348:
            dim = list(struct.unpack(f"{order}8h", header[40:56]))
            pixdim = list(struct.unpack(f"{order}8f", header[76:108]))
            sform = struct.unpack(f"{order}h", header[254:256])[0]
            srow = list(struct.unpack(f"{order}12f", header[280:328])) if sform > 0 else []
            return dim, pixdim, srow
        if len(header) >= 540 and struct.unpack(f"{order}i", header[:4])[0] == 540:
            dim = list(struct.unpack(f"{order}8q", header[16:80]))
            pixdim = list(struct.unpack(f"{order}8d", header[104:168]))
            sform = struct.unpack(f"{order}i", header[348:352])[0]
            srow = list(struct.unpack(f"{order}12d", header[400:496])) if sform > 0 else []
            return dim, pixdim, srow
    return None


def check_nifti_header(path: Path) -> None:
    """The raw voxel sizes: ITK's NIfTI reader replaces a zero or NaN pixdim by 1 mm and takes a negative
    one as a flip, which would silently change every area and swap left and right."""
    with open_maybe_gzip(path) as handle:
        check_nifti_header_fields(nifti_header_fields(handle.read(544)), path)


def check_nifti_header_fields(fields: tuple[list[int], list[float], list[float]] | None, path: Path) -> None:
    """See :func:`check_nifti_header`."""
    if fields is None:
        return
    dim, pixdim, srow = fields
    for axis in range(1, min(max(dim[0], 1), 3) + 1):
        value = pixdim[axis]
        if not np.isfinite(value) or value <= 0:
            what = "not a number" if np.isnan(value) else "infinite" if not np.isfinite(value) else (
                "0" if value == 0 else f"negative ({value:g})")
            raise InputError(f"voxel size pixdim[{axis}] is {what}; the true spacing is unknown (a reader would "
                             "assume 1 mm or flip the axis), so the image is refused", path=path, field="pixdim")
    if srow and not all(np.isfinite(v) for v in srow):
        raise InputError("sform matrix holds NaN or infinite values", path=path, field="srow")


def check_nifti_complete(path: Path, data_bytes: int) -> None:
    """ITK's NIfTI reader pads a truncated file with zeros instead of failing; check the byte count."""
    if path.name.lower().endswith(".gz"):
        if data_bytes > MAX_COMPRESSION_RATIO * path.stat().st_size + (1 << 20):
            raise InputError(f"header claims {data_bytes / 1e6:.0f} MB of voxels but the compressed file holds only "
                             f"{path.stat().st_size} bytes (corrupt header or truncated file)", path=path)
        available, complete = gzip_length(path)
        if not complete:
            raise InputError("truncated or corrupt file (compressed stream ends early)", path=path)
    else:
        available = path.stat().st_size
    with open_maybe_gzip(path) as handle:
        header = handle.read(544)
    offset = nifti_vox_offset(header)
    if available < offset + data_bytes:
        raise InputError(f"truncated or corrupt file ({available} bytes, {offset + data_bytes} expected)", path=path)


def open_maybe_gzip(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def gzip_length(path: Path) -> tuple[int, bool]:
    """Uncompressed length of a gzip file and whether its stream ended properly (CRC checked)."""
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return total, False
    return total, True


def nifti_vox_offset(header: bytes) -> int:
    """Where the voxel data starts (NIfTI-1 or NIfTI-2, either byte order)."""
    for order in "<>":
        if len(header) >= 4 and struct.unpack(f"{order}i", header[:4])[0] == 348:
            return int(struct.unpack(f"{order}f", header[108:112])[0])
        if len(header) >= 176 and struct.unpack(f"{order}i", header[:4])[0] == 540:
            return int(struct.unpack(f"{order}q", header[168:176])[0])
    return 0
