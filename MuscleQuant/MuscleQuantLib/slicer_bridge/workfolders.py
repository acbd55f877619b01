"""Temporary folders of the widget's runs (the engine's uncompressed copy of the CT, its label map,
downloads): each is registered when made and removed when its run is over, when the scene closes and
when the module is unloaded, so no copy of patient data is left in the temp folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class WorkFolders:
    """The temporary folders one widget made and has not removed yet."""

    def __init__(self, prefix: str = "musclequant-"):
        self.prefix = prefix
        self.folders: list[Path] = []

    def make(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.folders.append(folder)
        return folder

    def remove(self, folder: str | Path | None) -> None:
        if folder is None:
            return
        folder = Path(folder)
        shutil.rmtree(folder, ignore_errors=True)
        self.folders = [f for f in self.folders if f != folder]

    def drop_input_copy(self, folder: str | Path) -> None:
        """Remove the engine's input copy (the large uncompressed volume) once the engine has read it;
        the label map it wrote stays until :meth:`remove` (approval compares against it)."""
        for path in Path(folder).glob("input.*"):
            path.unlink(missing_ok=True)

    def remove_all(self, keep: set[Path] | None = None) -> None:
        for folder in list(self.folders):
            if keep is None or folder not in keep:
                self.remove(folder)
