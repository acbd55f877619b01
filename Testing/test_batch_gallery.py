"""The batch QA gallery (issue 15 item 7) opened in headless Chromium: flagged cases first, filters by flag,
status and measure range, sorting by a measure, thumbnails inlined, every case linking its files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MuscleQuantLib.batch.gallery import build_gallery, write_thumbnail

ROWS = [  # case, status, plausibility, flags, csa
    ("c01", "done", "ok", "", 150.0),
    ("c02", "done", "needs_review", "area:psoas_major_left(error)", 90.0),
    ("c03", "excluded", None, "", None),
    ("c04", "done", "ok", "", 120.0),
    ("c05", "done", "needs_review", "symmetry:erector_spinae(warning); area:psoas_major_right(warning)", 210.0),
    ("c06", "done", "ok", "", 80.0),
]


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gallery")
    image = sitk.GetImageFromArray(np.full((3, 40, 50), 40, dtype=np.int16))
    labels_array = np.zeros((3, 40, 50), dtype=np.uint8)
    labels_array[1, 10:20, 10:30] = 2
    labels = sitk.GetImageFromArray(labels_array)
    rows = []
    for case, status, plausibility, flags, csa in ROWS:
        folder = out / "cases" / case
        folder.mkdir(parents=True)
        (folder / "case.json").write_text("{}", encoding="utf-8")
        if status == "done":
            write_thumbnail(image, labels, 1, folder / "thumbnail.png")
        rows.append({"case_id": case, "status": status, "reason": "" if status == "done" else "level not in view",
                     "plausibility_status": plausibility, "plausibility_flags": flags,
                     "plausibility_flag_count": flags.count("(") if flags else 0, "csa_total_cm2": csa})
    build_gallery(out, rows, {"done": 5, "excluded": 1})
    return out / "gallery.html"


def test_gallery_is_self_contained_with_flagged_cases_first(gallery):
    page = gallery.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert page.count("data:image/png;base64,") == 5
    order = re.findall(r'data-case="(c\d+)"', page)
    assert order == ["c02", "c03", "c05", "c01", "c04", "c06"]  # flagged or not measured first, then by id
    assert 'href="cases/c01/thumbnail.png"' in page and 'href="cases/c03/case.json"' in page


def _dom(gallery: Path, fragment: str, profile: Path) -> str:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
               gallery.as_uri() + (f"#{fragment}" if fragment else "")]
    return subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=120, check=True).stdout


def _shown(dom: str) -> list[str]:
    match = re.search(r'<body[^>]*data-order="([^"]*)"', dom)
    assert match, "the page's script did not run"
    return [c for c in match.group(1).split(",") if c]


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("fragment, expected", [
    ("", ["c02", "c03", "c05", "c01", "c04", "c06"]),
    ("flag=flagged", ["c02", "c03", "c05"]),
    ("flag=area", ["c02", "c05"]),
    ("flag=symmetry", ["c05"]),
    ("status=excluded", ["c03"]),
    ("sort=csa_total_cm2&desc=1", ["c05", "c02", "c03", "c01", "c04", "c06"]),
    ("sort=csa_total_cm2", ["c02", "c05", "c03", "c06", "c04", "c01"]),
    ("min=csa_total_cm2:100", ["c05", "c01", "c04"]),
    ("flag=unflagged&max=csa_total_cm2:130", ["c04", "c06"]),
])
def test_gallery_filters_and_sorting_work_in_headless_chromium(gallery, tmp_path, fragment, expected):
    dom = _dom(gallery, fragment, tmp_path / "profile")
    assert _shown(dom) == expected
    assert re.search(rf'id="count">{len(expected)} of {len(ROWS)} cases shown<', dom)
