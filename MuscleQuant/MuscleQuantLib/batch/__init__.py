"""``musclequant batch``: a cohort of studies to one measurement table, a QA gallery and DICOM outputs.

One strategy per file: :mod:`.discover` (what is in the input), :mod:`.select` (which series each study
measures and why the others are not), :mod:`.reader` (a series to a volume), :mod:`.case` (one case:
level, segmentation, flags, measurements), :mod:`.store` (resumable per-case state with atomic commits),
:mod:`.local` and :mod:`.dask_executor` (where the cases run), :mod:`.dicom_seg` and :mod:`.dicom_sr`
(PACS outputs), :mod:`.table` and :mod:`.gallery` (the cohort views) and :mod:`.review` (approved values
back into the table).
"""
