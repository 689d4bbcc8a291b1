"""Tables of the paper with our measurements beside the printed numbers: JSON and Markdown.

:func:`build_report` joins :data:`~m3lrn_lib.benchmark.paper_tables.TABLES` with the results of
:func:`~m3lrn_lib.benchmark.evaluate.evaluate_network` (one per checkpoint). Every table keeps
the paper's rows and columns; each number column is followed by an "ours" column. A row's
"ours" cell is filled from the checkpoint(s) whose variant is the row's (several checkpoints of
one variant give one extra row each); rows of other methods show "—"; tables whose data set is
not available offline show "n/a offline" unless a synthetic counterpart was computed. The data
the numbers come from is written in every table's note and in a banner, so that results on
synthetic data cannot be mistaken for the paper's results on real data.
"""
from __future__ import annotations

import json
import math

from ..metrics import BIN_NAMES
from .paper_tables import TABLES, PaperTable

__all__ = ["build_report", "to_markdown", "to_json", "DASH", "NA"]

DASH = "—"
NA = "n/a offline"


def _ours_values(t: PaperTable, res: dict):
    """Our numbers for table ``t`` from one checkpoint's results, in ``t.columns`` order (or None)."""
    m = t.measure
    if m in ("nme68", "nme21"):
        r = res.get(m)
        return None if r is None else [*(r.get(b) for b in BIN_NAMES), r.get("All")]
    if m == "pose":  # the paper's protocol (its code's reading): the column to hold beside its numbers
        r = res.get("pose_paper")
        return None if r is None else [r["yaw"], r["pitch"], r["roll"], r["mean"]]
    if m in ("protocol1", "protocol2"):
        r = res.get(m)
        return None if r is None else [r["nme"]]
    if m == "florence":
        r = res.get("florence")
        return None if r is None else [r["rmse"]]
    return None


def _ours_alt_values(t: PaperTable, res: dict):
    """Head-pose tables only: our numbers in our own angle convention (the second "ours" column)."""
    r = res.get("pose") if t.measure == "pose" else None
    return None if r is None else [r["yaw"], r["pitch"], r["roll"], r["mean"]]


POSE_NOTE = ("'ours' reads the prediction with the paper's code's formulas (geometry convention 'paper_code') and "
             "compares it with Pose_Para as stored (pitch, yaw, roll), as the paper's numbers were measured; "
             "'ours, our convention' reads both with our own (yaw, pitch, roll). See docs/conventions.md")


def _source_note(t: PaperTable, data: dict) -> str:
    kind, label = data["kind"], data["label"]
    if t.measure == "none":
        return f"ours: {NA} -- {t.offline}."
    if t.measure == "florence":
        return f"ours: SYNTHETIC counterpart -- {t.offline}."
    if t.measure == "nme21":
        return (f"ours: {label}, 21-point variant computed from the 68-point labels -- {t.offline}.")
    if t.measure.startswith("protocol"):
        return f"ours: {label} -- {t.offline}." if kind == "synthetic" else \
            f"ours: {NA} on real data -- {t.offline}."
    if t.measure == "pose":
        return f"ours: {label}. {POSE_NOTE}."
    return f"ours: {label}."


def build_report(results: list[dict], data: dict) -> dict:
    """The report as a JSON-ready dict.

    Args:
        results: one dict per checkpoint: ``label``, ``variant``, ``params`` (parameter count) and
            the measurements of :func:`~m3lrn_lib.benchmark.evaluate.evaluate_network`.
        data: ``kind`` (``'synthetic'``/``'real'``), ``label`` (one line naming the data), ``path``, ``n``.
    Returns:
        dict ``data``, ``banner``, ``checkpoints``, ``tables`` {key: {name, title, dataset, note,
        label_columns, columns, rows: [{labels, paper, ours, checkpoint, variant}]}}.
    """
    tables = {}
    for key, t in TABLES.items():
        rows = []
        for row in t.rows:
            matches = [r for r in results if row.variant and t.measure != "none"
                       and r["variant"].split("@")[0] == row.variant]
            base = {"labels": list(row.labels), "paper": list(row.values), "variant": row.variant}
            if not matches:
                rows.append({**base, "ours": None, "checkpoint": None,
                             "why": NA if (t.measure == "none" and row.variant) else
                             ("no checkpoint of this variant" if row.variant else "other method (paper's number)")})
            for r in matches:
                vals = _ours_values(t, r)
                alt = {"ours_alt": _ours_alt_values(t, r)} if t.measure == "pose" else {}
                rows.append({**base, **alt, "ours": vals, "checkpoint": r["label"], "variant_measured": r["variant"],
                             "params": r.get("params"),
                             "why": None if vals is not None else "not computed (data lacks what it needs)"})
        tables[key] = {"name": t.name, "title": t.title, "dataset": t.dataset, "measure": t.measure,
                       "note": _source_note(t, data), "label_columns": list(t.label_columns),
                       "columns": list(t.columns), "rows": rows,
                       "alt": "ours, our convention" if t.measure == "pose" else None}
    if data["kind"] == "synthetic":
        banner = (f"OUR NUMBERS ARE MEASURED ON SYNTHETIC DATA ({data['label']}). They are NOT the paper's "
                  "real-data results and are not comparable to them; the 'paper' columns are the numbers "
                  "printed in the paper.")
    else:
        banner = (f"Our numbers are measured on {data['label']}; the 'paper' columns are the numbers printed in "
                  "the paper. Tables whose data set is not available offline say so.")
    return {"data": data, "banner": banner,
            "checkpoints": [{**{k: r.get(k) for k in ("label", "path", "variant", "params", "n", "seconds")},
                             "faces_per_s": (r.get("throughput") or {}).get("faces_per_s")} for r in results],
            "measurements": results, "tables": tables}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{v:.2f}"


def to_markdown(report: dict, tables=None, header: bool = True) -> str:
    """The report as Markdown: a banner, the checkpoints (unless ``header`` is False), then one
    table per paper table (only the keys in ``tables``, e.g. ``("1_original", "6")``, when given)."""
    ours_tag = "ours, SYNTHETIC" if report["data"]["kind"] == "synthetic" else "ours"
    lines = ["# Benchmark: the paper's tables beside our measurements", "",
             f"> **{report['banner']}**", "",
             f"Data: `{report['data']['path']}` ({report['data']['n']} images, {report['data']['kind']}).", "",
             "| checkpoint | variant | parameters | images | seconds | faces/s (NME pass) |",
             "|---|---|---|---|---|---|"]
    if not header:
        lines = [f"> {report['banner']}"]
    for c in (report["checkpoints"] if header else ()):
        params = f"{c['params'] / 1e6:.2f}M" if c.get("params") else DASH
        lines.append(f"| `{c['label']}` | {c['variant']} | {params} | {c.get('n', DASH)} | {c.get('seconds', DASH)} | "
                     f"{c.get('faces_per_s') or DASH} |")
    if tables is not None:
        unknown = [k for k in tables if k not in report["tables"]]
        if unknown:
            raise KeyError(f"unknown table keys {unknown}; the report has {list(report['tables'])}")
    for key, t in report["tables"].items():
        if tables is not None and key not in tables:
            continue
        lines += ["", f"## {t['name']}: {t['title']}", "", f"Paper's data: {t['dataset']}. *{t['note']}*", ""]
        head = list(t["label_columns"])
        alt = t.get("alt")
        for c in t["columns"]:
            head += [f"{c} (paper)", f"{c} ({ours_tag})"] + ([f"{c} ({alt})"] if alt else [])
        head.append("ours from")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in t["rows"]:
            cells = list(r["labels"])
            for j, pv in enumerate(r["paper"]):
                ov = r["ours"][j] if r["ours"] is not None else None
                cells += [_fmt(pv), _fmt(ov) if r["ours"] is not None else (NA if r["why"] == NA else DASH)]
                if alt:
                    cells.append(_fmt(r["ours_alt"][j]) if r.get("ours_alt") is not None else DASH)
            src = f"`{r['checkpoint']}` ({r.get('variant_measured')})" if r["checkpoint"] else (r["why"] or DASH)
            if r.get("params") and "# of params" in t["label_columns"]:
                src += f", {r['params'] / 1e6:.2f}M params"
            cells.append(src)
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_json(report: dict) -> str:
    """The report as indented JSON (NaN written as null; the numpy ``per_face`` arrays left out)."""
    report = {k: v for k, v in report.items() if k != "per_face"}

    def clean(o):
        if isinstance(o, float) and math.isnan(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(report), indent=1, ensure_ascii=False)
