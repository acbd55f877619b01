"""The bridge between the headless engine and 3D Slicer's MRML scene (no ``qt`` anywhere here).

``mrml`` converts volume nodes to engine input and engine output to segmentation nodes, ``process``
runs the ``musclequant`` command line in a background process, ``casestore`` keeps approved results,
``install`` plans first-use package installation and ``widget_logic`` holds everything else the Qt
widgets need. ``slicer`` is imported only inside functions, so this package imports without Slicer and
runs in plain pytest with the ``slicer-core`` wheel.
"""
