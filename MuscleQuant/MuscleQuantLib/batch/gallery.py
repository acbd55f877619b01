"""The QA gallery: one self-contained HTML page (thumbnails inlined as data URIs, no network, no
external script), flagged cases first and highlighted, sortable by every measure and filterable by flag,
status and measure ranges; every card links its case folder's files.

Filters can also be set in the URL fragment (``gallery.html#flag=area&status=done&min=csa_total_cm2:100``),
which is how a reviewer shares a view and how the browser test drives it."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..fileio import write_atomic

GALLERY = "gallery.html"
THUMB_PX = 160
SORTABLE = ("csa_total_cm2", "smi_cm2_m2", "muscle_hu_mean", "imat_total_cm2", "psoas_area_cm2",
            "volume_total_cm3", "level_confidence", "plausibility_flag_count")


def write_thumbnail(image: sitk.Image, labels: sitk.Image, slice_index: int | None, path: Path) -> Path:
    """The measured slice (3D: the slice with most labels), soft-tissue window, labels overlaid,
    in radiological display (canonical LPS: patient left on the image right, anterior up)."""
    from PIL import Image

    from ..pipeline.geometry import canonical_geometry, canonical_slice_index, grid_proxy, to_canonical

    if slice_index is not None and not (isinstance(slice_index, float) and math.isnan(slice_index)):
        # The known slice alone is reoriented (the volume took 0.4 s for a 40-Mvoxel CT); the check that it
        # is axial is the one the whole-volume path made, on the canonical grid computed from the header.
        stored = int(slice_index)
        canonical_slice_index(image, grid_proxy(canonical_geometry(image)), stored)
        canonical = to_canonical(image[:, :, stored:stored + 1])
        canonical_labels = to_canonical(labels[:, :, stored:stored + 1])
        values = sitk.GetArrayViewFromImage(canonical)
        label_array = sitk.GetArrayViewFromImage(canonical_labels)
        k = 0
    else:
        canonical, canonical_labels = to_canonical(image), to_canonical(labels)
        values = sitk.GetArrayViewFromImage(canonical)
        label_array = sitk.GetArrayViewFromImage(canonical_labels)
        k = int(np.argmax((label_array > 0).reshape(label_array.shape[0], -1).sum(axis=1)))
    grey = np.clip((values[k].astype(np.float32) - (40 - 200)) / 400.0, 0, 1)
    rgb = np.stack([grey] * 3, axis=-1)
    mask = label_array[k] > 0
    palette = np.array([[0, 0, 0], [230, 80, 60], [60, 160, 230], [240, 200, 40], [120, 220, 90], [200, 90, 220],
                        [255, 140, 0], [0, 200, 200]], dtype=np.float32) / 255.0
    colours = palette[1 + (label_array[k][mask].astype(int) - 1) % (len(palette) - 1)]
    rgb[mask] = 0.45 * rgb[mask] + 0.55 * colours
    sx, sy = canonical.GetSpacing()[:2]
    height = max(1, round(THUMB_PX * (rgb.shape[0] * sy) / max(rgb.shape[1] * sx, 1e-6)))
    picture = Image.fromarray((rgb * 255).astype(np.uint8)).resize((THUMB_PX, height), Image.NEAREST)
    write_atomic(path, lambda p: picture.save(p, format="PNG"))
    return path


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    """A table cell as text; a missing value (None, NaN from a CSV) is empty."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _flags_html(flags: str) -> str:
    """The first flags in view, all of them one click away (a case can carry dozens)."""
    items = [f.strip() for f in flags.split(";") if f.strip()]
    if not items:
        return '<p class="flags"></p>'
    shown = html.escape("; ".join(items[:3]))
    if len(items) <= 3:
        return f'<p class="flags">{shown}</p>'
    rest = "".join(f"<li>{html.escape(f)}</li>" for f in items)
    return (f'<p class="flags">{shown} …</p><details><summary>{len(items)} flags</summary>'
            f'<ul class="allflags">{rest}</ul></details>')


def _summary_html(summary: dict[str, Any]) -> str:
    keys = ("cases", "done", "excluded", "failed", "flagged", "seconds_per_case", "executor")
    return " · ".join(f"{k.replace('_', ' ')}: <b>{html.escape(str(summary[k]))}</b>" for k in keys if k in summary)


def _review_html(row: dict[str, Any]) -> str:
    """Who approved the values shown (the table's approved row), so the gallery never passes an approved
    correction off as the automatic result or the other way round."""
    if row.get("review_status") != "approved":
        return ""
    return (f'<p class="review" data-review-version="{html.escape(_text(row.get("review_version")))}">approved '
            f'v{html.escape(_text(row.get("review_version")))} by {html.escape(_text(row.get("approved_by")))}</p>')


def _card(row: dict[str, Any], case_dir: Path, out: Path) -> str:
    flagged = row.get("plausibility_status") == "needs_review" or row.get("status") != "done"
    thumb = case_dir / "thumbnail.png"
    if thumb.exists():
        data = base64.b64encode(thumb.read_bytes()).decode()
        picture = f'<img alt="case {html.escape(str(row["case_id"]))}" src="data:image/png;base64,{data}">'
    else:
        picture = '<div class="noimg">no image</div>'
    measures = {k: _number(row.get(k)) for k in SORTABLE}
    data_attrs = " ".join(f'data-{k.replace("_", "-")}="{"" if v is None else v}"' for k, v in measures.items())
    flags = _text(row.get("plausibility_flags"))
    checks = sorted({f.split(":")[0].strip() for f in flags.split(";") if f.strip()})
    links = []
    if case_dir.is_dir():
        for name in sorted(p.name for p in case_dir.iterdir() if p.is_file()):
            links.append(f'<a href="{html.escape(str(case_dir.relative_to(out) / name))}">{html.escape(name)}</a>')
    shown = [(k, measures[k]) for k in ("csa_total_cm2", "smi_cm2_m2", "muscle_hu_mean", "volume_total_cm3")
             if measures[k] is not None]
    values = "".join(f"<li>{k} = {v:.2f}</li>" for k, v in shown)
    return (f'<div class="case{" flagged" if flagged else ""}" data-case="{html.escape(str(row["case_id"]))}" '
            f'data-status="{html.escape(str(row.get("status", "")))}" data-flagged="{int(flagged)}" '
            f'data-checks="{html.escape(" ".join(checks))}" {data_attrs}>'
            f'{picture}<h3>{html.escape(str(row["case_id"]))}</h3>'
            f'<p class="status">{html.escape(str(row.get("status", "")))} '
            f'{html.escape(_text(row.get("reason")))}</p>{_review_html(row)}'
            f'{_flags_html(flags)}<ul>{values}</ul>'
            f'<p class="files">{" ".join(links)}</p></div>')


_SCRIPT = """
const grid = document.getElementById('grid');
const cards = Array.from(grid.children);
function num(card, key) { const v = card.dataset[key]; return v === '' || v === undefined ? NaN : parseFloat(v); }
function camel(k) { return k.replace(/_([a-z])/g, (m, c) => c.toUpperCase()); }
function apply() {
  const flag = document.getElementById('flag').value, status = document.getElementById('status').value;
  const key = document.getElementById('sort').value, desc = document.getElementById('desc').checked;
  const rangeKey = camel(document.getElementById('rangekey').value);
  const lo = parseFloat(document.getElementById('min').value), hi = parseFloat(document.getElementById('max').value);
  let shown = 0;
  for (const c of cards) {
    let ok = true;
    if (flag === 'flagged') ok = c.dataset.flagged === '1';
    else if (flag === 'unflagged') ok = c.dataset.flagged === '0';
    else if (flag) ok = c.dataset.checks.split(' ').includes(flag);
    if (status && c.dataset.status !== status) ok = false;
    const v = num(c, rangeKey);
    if (!isNaN(lo) && !(v >= lo)) ok = false;
    if (!isNaN(hi) && !(v <= hi)) ok = false;
    c.style.display = ok ? '' : 'none';
    if (ok) shown++;
  }
  const sorted = cards.slice().sort((a, b) => {
    if (a.dataset.flagged !== b.dataset.flagged) return b.dataset.flagged - a.dataset.flagged;
    if (key === 'case') return a.dataset.case.localeCompare(b.dataset.case);
    const x = num(a, camel(key)), y = num(b, camel(key));
    if (isNaN(x) !== isNaN(y)) return isNaN(x) ? 1 : -1;
    return desc ? y - x : x - y;
  });
  for (const c of sorted) grid.appendChild(c);
  document.getElementById('count').textContent = shown + ' of ' + cards.length + ' cases shown';
  document.body.dataset.order = sorted.filter(c => c.style.display !== 'none').map(c => c.dataset.case).join(',');
}
function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [id, value] of params) {
    if (id === 'min' || id === 'max') {
      const [k, v] = value.split(':'); document.getElementById('rangekey').value = k;
      document.getElementById(id).value = v;
    } else if (id === 'desc') document.getElementById('desc').checked = value === '1';
    else if (document.getElementById(id)) document.getElementById(id).value = value;
  }
}
for (const id of ['flag', 'status', 'sort', 'desc', 'rangekey', 'min', 'max'])
  document.getElementById(id).addEventListener('input', apply);
window.addEventListener('hashchange', () => { fromHash(); apply(); });
fromHash(); apply();
"""


def build_gallery(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> Path:
    """Write ``out/gallery.html`` for the table rows (case folders under ``out/cases``)."""
    cases = out / "cases"
    flagged_first = sorted(rows, key=lambda r: (not (r.get("plausibility_status") == "needs_review"
                                                     or r.get("status") != "done"), str(r["case_id"])))
    cards = "\n".join(_card(r, cases / str(r["case_id"]), out) for r in flagged_first)
    checks = sorted({f.split(":")[0].strip() for r in rows for f in _text(r.get("plausibility_flags")).split(";")
                     if f.strip()})
    statuses = sorted({str(r.get("status")) for r in rows})
    option = lambda v, label=None: f'<option value="{html.escape(v)}">{html.escape(label or v)}</option>'  # noqa: E731
    flag_options = option("", "all cases") + option("flagged", "flagged only") + option("unflagged", "not flagged") \
        + "".join(option(c, f"flag: {c}") for c in checks)
    sort_options = option("case", "case id") + "".join(option(k) for k in SORTABLE)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>MuscleQuant batch gallery</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
#grid {{ display: flex; flex-wrap: wrap; gap: 8px; }}
.case {{ width: 190px; border: 2px solid #ccc; padding: 4px; font-size: 12px; }}
.case.flagged {{ border-color: #d33; background: #fff0f0; }}
.case img {{ width: {THUMB_PX}px; image-rendering: pixelated; }}
.case h3 {{ margin: 2px 0; font-size: 13px; word-break: break-all; }}
.case .flags, .case details {{ overflow-wrap: anywhere; color: #a00; }}
.noimg {{ width: {THUMB_PX}px; height: 120px; background: #eee; }}
</style></head><body>
<h1>MuscleQuant batch gallery</h1>
<p id="summary" data-summary="{html.escape(json.dumps(summary, sort_keys=True))}">{_summary_html(summary)}</p>
<p>filter <select id="flag">{flag_options}</select>
status <select id="status">{option("", "any")}{"".join(option(s) for s in statuses)}</select>
sort by <select id="sort">{sort_options}</select> <label><input type="checkbox" id="desc"> descending</label>
range <select id="rangekey">{"".join(option(k) for k in SORTABLE)}</select>
<input id="min" size="6" placeholder="min"> .. <input id="max" size="6" placeholder="max">
<span id="count"></span></p>
<div id="grid">
{cards}
</div>
<script>{_SCRIPT}</script>
</body></html>
"""
    return write_atomic(out / GALLERY, lambda p: p.write_text(page, encoding="utf-8"))
