"""Stand-ins for the CTK and qMRML widgets of the ``.ui`` files, driven by the real ``slicer-core`` scene.

Behaviour copied from Slicer v5.12.3 / CTK sources (the same in v5.10.0):

* ``qMRMLNodeComboBox`` (Libs/MRML/Widgets/qMRMLNodeComboBox.cxx): ``setMRMLScene`` fills the list with
  ``SceneSwitchingInProgress`` set, so no ``currentNodeChanged`` is emitted for the node it selects
  (``emitCurrentNodeChanged`` returns early); afterwards a node added to an empty list with ``noneEnabled``
  false becomes current (QComboBox selects the first inserted row) and the removal of the current node
  moves the selection, each emitting ``currentNodeChanged(vtkMRMLNode*)`` then ``currentNodeChanged(bool)``
  then ``currentNodeIDChanged(QString)``.
* ``qMRMLSegmentEditorWidget`` (Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.cxx):
  ``setSegmentationNode`` deactivates the active effect; activating an effect calls
  ``setupViewObservations`` (slice views' events now go to the effect), ``setActiveEffect(None)`` and
  ``removeViewObservations`` end that. ``viewsObserved`` tells a test whether the editor still captures
  slice-view events.
* ``ctkPathLineEdit`` (CTK Libs/Widgets/ctkPathLineEdit.h): ``currentPath`` property,
  ``currentPathChanged(QString)``.
"""

from __future__ import annotations

from typing import Any

from .qtcore import QWidget


class qMRMLWidget(QWidget):
    SIGNALS = {"mrmlSceneChanged": ["mrmlSceneChanged(vtkMRMLScene*)"]}

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        object.__setattr__(self, "_scene", None)

    def setMRMLScene(self, scene: Any) -> None:
        if scene is self._scene:
            return
        object.__setattr__(self, "_scene", scene)
        self._emit("mrmlSceneChanged", scene)

    def mrmlScene(self) -> Any:
        return self._scene


class ctkCollapsibleButton(QWidget):
    SIGNALS = {"contentsCollapsed": ["contentsCollapsed(bool)"], "clicked": ["clicked(bool)", "clicked()"]}
    PROPERTIES = {"text": "", "collapsed": False, "checked": True}

    def setCollapsed(self, value: bool) -> None:
        if bool(value) != self._props["collapsed"]:
            self._props["collapsed"] = bool(value)
            self._emit("contentsCollapsed", bool(value))


class ctkPathLineEdit(QWidget):
    SIGNALS = {"currentPathChanged": ["currentPathChanged(QString)"], "validInputChanged": ["validInputChanged(bool)"]}
    PROPERTIES = {"currentPath": "", "filters": 0, "nameFilters": [], "label": "", "settingKey": "",
                  "showHistoryButton": True}
    Dirs, Files, Drives, NoDot, NoDotDot, Readable, Writable, Executable = 1, 2, 4, 0x2000, 0x4000, 0x10, 0x20, 0x40

    def setCurrentPath(self, path: str) -> None:
        path = str(path)
        if path != self._props["currentPath"]:
            self._props["currentPath"] = path
            self._emit("currentPathChanged", path)


class qMRMLTableView(qMRMLWidget):
    def __init__(self, parent: Any = None):
        super().__init__(parent)
        object.__setattr__(self, "_table", None)

    def setMRMLTableNode(self, node: Any) -> None:
        object.__setattr__(self, "_table", node)

    def mrmlTableNode(self) -> Any:
        return self._table


def _node_observer(widget: Any, handler: Any) -> Any:
    """A scene observer receiving the node as call data (VTK_OBJECT), as qMRMLSceneModel observes."""

    def observer(*arguments: Any) -> None:
        if "_signals" in widget.__dict__:  # not while Python tears the widget down at exit
            handler(arguments[2] if len(arguments) > 2 else None)

    return observer


class qMRMLNodeComboBox(qMRMLWidget):
    SIGNALS = {"currentNodeChanged": ["currentNodeChanged(vtkMRMLNode*)", "currentNodeChanged(bool)"],
               "currentNodeIDChanged": ["currentNodeIDChanged(QString)"], "nodeAdded": ["nodeAdded(vtkMRMLNode*)"],
               "nodeAboutToBeRemoved": ["nodeAboutToBeRemoved(vtkMRMLNode*)"],
               "nodeAddedByUser": ["nodeAddedByUser(vtkMRMLNode*)"]}
    PROPERTIES = {"nodeTypes": [], "noneEnabled": False, "addEnabled": True, "removeEnabled": True,
                  "editEnabled": False, "renameEnabled": False, "showHidden": False, "showChildNodeTypes": True,
                  "baseName": "", "selectNodeUponCreation": True, "noneDisplay": "None", "currentNodeID": ""}

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        object.__setattr__(self, "_current", None)
        object.__setattr__(self, "_tags", [])

    # --- scene ---------------------------------------------------------------------------------
    def setMRMLScene(self, scene: Any) -> None:
        if scene is self._scene:
            return
        import vtk

        if self._scene is not None:
            for tag in self._tags:
                self._scene.RemoveObserver(tag)
        object.__setattr__(self, "_scene", scene)
        object.__setattr__(self, "_tags", [])
        object.__setattr__(self, "_current", None)
        if scene is None:
            return
        for event, handler in ((scene.NodeAddedEvent, self._onNodeAdded),
                               (scene.NodeAboutToBeRemovedEvent, self._onNodeAboutToBeRemoved)):
            observer = _node_observer(self, handler)
            observer.CallDataType = vtk.VTK_OBJECT  # type: ignore[attr-defined]
            self._tags.append(scene.AddObserver(event, observer))
            object.__setattr__(self, "_observer_refs", [*getattr(self, "_observer_refs", []), observer])
        nodes = self.nodes()
        if nodes and not self._props["noneEnabled"]:
            object.__setattr__(self, "_current", nodes[0])  # SceneSwitchingInProgress: nothing emitted
        self._props["currentNodeID"] = self._current.GetID() if self._current else ""

    def _accepts(self, node: Any) -> bool:
        if node is None or not any(node.IsA(t) for t in self._props["nodeTypes"]):
            return False
        return self._props["showHidden"] or not node.GetHideFromEditors()

    def nodes(self) -> list[Any]:
        scene = self._scene
        if scene is None:
            return []
        found = []
        for i in range(scene.GetNumberOfNodes()):
            node = scene.GetNthNode(i)
            if self._accepts(node):
                found.append(node)
        return found

    def nodeCount(self) -> int:
        return len(self.nodes())

    def _onNodeAdded(self, node: Any) -> None:
        if not self._accepts(node):
            return
        self._emit("nodeAdded", node)
        if self._current is None and not self._props["noneEnabled"]:
            self._setCurrent(node)

    def _onNodeAboutToBeRemoved(self, node: Any) -> None:
        if not self._accepts(node):
            return
        self._emit("nodeAboutToBeRemoved", node)
        if node is self._current or (self._current is not None and node.GetID() == self._current.GetID()):
            remaining = [n for n in self.nodes() if n.GetID() != node.GetID()]
            self._setCurrent(None if self._props["noneEnabled"] or not remaining else remaining[0])

    # --- selection -----------------------------------------------------------------------------
    def currentNode(self) -> Any:
        return self._current

    def setCurrentNode(self, node: Any) -> None:
        if node is not None and not self._accepts(node):
            raise ValueError(f"{self.name} does not list {node.GetClassName()}")
        if node is None and not self._props["noneEnabled"] and self.nodes():
            return  # Qt: index -1 is not selectable when a node exists and None is not offered
        self._setCurrent(node)

    def setCurrentNodeID(self, node_id: str) -> None:
        self.setCurrentNode(self._scene.GetNodeByID(node_id) if node_id else None)

    def _setCurrent(self, node: Any) -> None:
        old = self._current.GetID() if self._current is not None else None
        new = node.GetID() if node is not None else None
        object.__setattr__(self, "_current", node)
        self._props["currentNodeID"] = new or ""
        if old == new:
            return
        self._signals["currentNodeChanged"].overloads["currentNodeChanged(vtkMRMLNode*)"].emit(node)
        self._signals["currentNodeChanged"].overloads["currentNodeChanged(bool)"].emit(node is not None)
        self._emit("currentNodeIDChanged", new or "")

    def addNode(self, nodeType: str = "") -> Any:
        """The "Create new …" entry: a new node of the first type, selected, ``nodeAddedByUser``."""
        node = self._scene.AddNewNodeByClass(nodeType or self._props["nodeTypes"][0],
                                              self._props["baseName"] or "")
        self._emit("nodeAddedByUser", node)
        self._setCurrent(node)
        return node


class qMRMLSegmentEditorWidget(qMRMLWidget):
    PROPERTIES = {"segmentationNodeSelectorVisible": True, "sourceVolumeNodeSelectorVisible": True,
                  "switchToSegmentationsButtonVisible": True, "maximumNumberOfUndoStates": 10}
    EFFECTS = ("Paint", "Draw", "Erase", "Threshold", "Scissors", "Islands", "Smoothing", "Level tracing")

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        for name, value in (("_editorNode", None), ("_activeEffect", None), ("viewsObserved", False),
                            ("keyboardShortcutsInstalled", False)):
            object.__setattr__(self, name, value)

    def setMRMLSegmentEditorNode(self, node: Any) -> None:
        object.__setattr__(self, "_editorNode", node)

    def mrmlSegmentEditorNode(self) -> Any:
        return self._editorNode

    def _require_editor_node(self) -> Any:
        if self._editorNode is None:
            raise RuntimeError("qMRMLSegmentEditorWidget: no segment editor node set "
                               "(setMRMLSegmentEditorNode must come first)")
        return self._editorNode

    def setSegmentationNode(self, node: Any) -> None:
        editor = self._require_editor_node()
        if editor.GetSegmentationNode() is node:
            return
        editor.SetAndObserveSegmentationNode(node)
        self.setActiveEffect(None)

    def segmentationNode(self) -> Any:
        return self._editorNode.GetSegmentationNode() if self._editorNode else None

    def segmentationNodeID(self) -> str:
        node = self.segmentationNode()
        return node.GetID() if node else ""

    def setSourceVolumeNode(self, node: Any) -> None:
        self._require_editor_node().SetAndObserveSourceVolumeNode(node)

    def sourceVolumeNode(self) -> Any:
        return self._editorNode.GetSourceVolumeNode() if self._editorNode else None

    def sourceVolumeNodeID(self) -> str:
        node = self.sourceVolumeNode()
        return node.GetID() if node else ""

    def setActiveEffectByName(self, name: str) -> None:
        if name not in self.EFFECTS:
            raise ValueError(f"no segment editor effect {name!r}")
        if self.segmentationNode() is None or self.sourceVolumeNode() is None:
            return  # the real widget cannot activate an effect without both
        object.__setattr__(self, "_activeEffect", name)
        self.setupViewObservations()

    def setActiveEffect(self, effect: Any) -> None:
        if effect is not None:
            raise TypeError("the harness only deactivates effects with setActiveEffect(None)")
        object.__setattr__(self, "_activeEffect", None)
        self.removeViewObservations()

    def activeEffectName(self) -> str:
        return self._activeEffect or ""

    def activeEffect(self) -> Any:
        return self._activeEffect

    def setupViewObservations(self) -> None:
        object.__setattr__(self, "viewsObserved", True)

    def removeViewObservations(self) -> None:
        object.__setattr__(self, "viewsObserved", False)

    def installKeyboardShortcuts(self, parent: Any = None) -> None:
        object.__setattr__(self, "keyboardShortcutsInstalled", True)

    def uninstallKeyboardShortcuts(self) -> None:
        object.__setattr__(self, "keyboardShortcutsInstalled", False)

    def updateWidgetFromMRML(self) -> None:
        pass

    def setMaximumNumberOfUndoStates(self, value: int) -> None:
        self._props["maximumNumberOfUndoStates"] = int(value)
