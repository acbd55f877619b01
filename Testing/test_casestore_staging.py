"""An approval killed mid-write leaves a hidden staging folder; the next approval of that case removes it
(never a version, never a live approval's folder), so a store does not fill with orphaned copies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from MuscleQuantLib.slicer_bridge import casestore
from MuscleQuantLib.slicer_bridge.casestore import Approval, CaseStore

LABELS = np.zeros((1, 8, 8), np.uint8)
LABELS[0, 2:5, 2:5] = 3


def _approval(write=None) -> Approval:
    def write_default(path: Path) -> None:
        path.write_bytes(b"seg")

    return Approval("c1", "Dr A", write or write_default, LABELS, LABELS, {3: "psoas_major"}, None, {})


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and the pid probe are POSIX")
def test_kill_mid_approval_leaves_staging_that_the_next_approval_removes(tmp_path):
    ready = tmp_path / "ready"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        import numpy as np
        from MuscleQuantLib.slicer_bridge.casestore import Approval, CaseStore
        labels = np.zeros((1, 8, 8), np.uint8)
        def write(path):
            path.write_bytes(b"half")
            Path({str(ready)!r}).write_text("x", encoding="utf-8")
            time.sleep(60)
        CaseStore({str(tmp_path / 'store')!r}).approve(
            Approval("c1", "Dr A", write, labels, labels, {{3: "psoas_major"}}, None, {{}}))
    """)
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(600):
            if ready.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the segmentation write"
        case_dir = tmp_path / "store" / "c1"
        live = list(case_dir.glob(".approval-*"))
        assert len(live) == 1
        # While the child is alive its folder is an approval in progress: an approval now must not touch it.
        first = CaseStore(tmp_path / "store").approve(_approval())
        assert live[0].is_dir() and first.name == "v001"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert live[0].is_dir()  # what a kill leaves
    second = CaseStore(tmp_path / "store").approve(_approval())
    assert second.name == "v002"
    assert not list(case_dir.glob(".approval-*"))
    assert sorted(p.name for p in case_dir.iterdir()) == ["v001", "v002"]


def test_old_staging_from_another_host_is_removed_and_a_recent_one_kept(tmp_path):
    case_dir = tmp_path / "store" / "c1"
    old = case_dir / ".approval-otherhost-4242-abc"
    recent = case_dir / ".approval-otherhost-4243-def"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "segmentation.seg.nrrd").write_bytes(b"half")
    hours_ago = time.time() - 2 * casestore.STALE_STAGING_SECONDS
    os.utime(old, (hours_ago, hours_ago))
    CaseStore(tmp_path / "store").approve(_approval())
    assert not old.exists()
    assert recent.is_dir()  # maybe another machine's approval on a shared drive, still running
    assert (case_dir / "v001" / "provenance.json").is_file()


def test_a_version_folder_is_never_swept(tmp_path):
    store = CaseStore(tmp_path / "store")
    first = store.approve(_approval())
    long_ago = time.time() - 10 * casestore.STALE_STAGING_SECONDS
    os.utime(first, (long_ago, long_ago))
    assert casestore._sweep_stale_staging(first.parent) == []
    assert store.approve(_approval()).name == "v002"
    assert [p.name for p in store.versions("c1")] == ["v001", "v002"]
