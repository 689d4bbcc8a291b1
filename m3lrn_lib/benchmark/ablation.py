"""Ablation ratios with their seed-to-seed spread (Tables 1, 6 and S2 of the paper).

A report of :func:`m3lrn_lib.benchmark.run` has one row per checkpoint; several checkpoints of
the same variant (the zoo's ``baseline`` and ``baseline_seed1``, say) are seeds of one row. Here
each row becomes the mean over its seeds, divided by the baseline's mean, beside the paper's
ratio; the spread is the largest seed-to-seed range of any row, in the same ratio units, so a
margin can be read against it (a row "agrees" only when it beats the baseline by more than the
spread)."""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AblationRow", "ablation_rows", "seed_spread", "verdict", "format_ablation"]


@dataclass
class AblationRow:
    """One variant of an ablation table.

    Attributes:
        variant: the network variant (preset name); checkpoints: the labels of its seeds.
        values: the measured value (e.g. NME All, %) of each seed; mean: their mean.
        ratio: ``mean / baseline mean``; paper_ratio: the paper's row / the paper's baseline.
        spread: (max - min) of ``values`` / baseline mean (ratio units; NaN for one seed).
    """

    variant: str
    checkpoints: list
    values: list
    mean: float
    ratio: float
    paper_ratio: float
    spread: float


def ablation_rows(report: dict, table: str = "1_original", column: int = -1, base: str = "baseline",
                  alt: bool = False) -> list[AblationRow]:
    """Rows of ``report["tables"][table]`` grouped by variant, as :class:`AblationRow` (in the
    table's order). ``column``: which value (default the last: NME "All", pose "Mean");
    ``alt``: our second measure (``ours_alt``: the pose in our own convention). ValueError when
    the table or the baseline has no measured row."""
    tables = report.get("tables", {})
    if table not in tables:
        raise ValueError(f"the report has no table {table!r}; it has: {', '.join(tables)}")
    key = "ours_alt" if alt else "ours"
    groups: dict = {}
    for r in tables[table]["rows"]:
        if r.get("checkpoint") and r.get(key):
            g = groups.setdefault(r["variant"], {"checkpoints": [], "values": [], "paper": r["paper"][column]})
            g["checkpoints"].append(r["checkpoint"])
            g["values"].append(float(r[key][column]))
    if base not in groups:
        raise ValueError(f"table {table!r} has no measured {base!r} row (variants: {', '.join(groups) or 'none'})")
    b = sum(groups[base]["values"]) / len(groups[base]["values"])
    pb = groups[base]["paper"]
    rows = []
    for variant, g in groups.items():
        v = g["values"]
        mean = sum(v) / len(v)
        rows.append(AblationRow(variant, g["checkpoints"], v, mean, mean / b, g["paper"] / pb,
                                (max(v) - min(v)) / b if len(v) > 1 else math.nan))
    return rows


def seed_spread(rows: list[AblationRow]) -> float:
    """The largest seed-to-seed spread of any row with two or more seeds (ratio units; NaN if none)."""
    s = [r.spread for r in rows if not math.isnan(r.spread)]
    return max(s) if s else math.nan


def verdict(row: AblationRow, spread: float, base: str = "baseline") -> str:
    """How a row's ratio reads against the paper's, with the spread as the margin of noise."""
    if row.variant == base:
        return "-"
    margin = 0.0 if math.isnan(spread) else spread
    paper_gain = row.paper_ratio < 0.99
    ref = "the baseline" if base == "baseline" else f"`{base}`"
    if row.ratio < 1 - margin:
        ours = f"better than {ref} by more than the spread"
    elif row.ratio > 1 + margin:
        ours = f"worse than {ref} by more than the spread"
    else:
        ours = f"within the spread of {ref}"
    agrees = (row.ratio < 1 - margin) == paper_gain  # a paper row without a gain agrees with any row that has none
    return f"{ours}: {'agrees with' if agrees else 'DISAGREES with'} the paper"


def format_ablation(rows: list[AblationRow], unit: str = "NME All", base: str = "baseline",
                    spread: float | None = None) -> str:
    """A text table: variant, each seed's value, the mean, ours / ``base``, the paper's, the verdict.
    ``spread``: the margin of noise (default :func:`seed_spread` of ``rows``; pass another table's
    when this one has no baseline seeds of its own, e.g. Table 2 with Table 1's)."""
    own = seed_spread(rows)
    used = own if spread is None else spread
    lines = [f"{'row':20s}{unit + ' per seed':>22s}{'mean':>7s}{'ours/base':>10s}{'paper/base':>11s}  verdict"]
    for r in rows:
        seeds = " / ".join(f"{v:.2f}" for v in r.values)
        lines.append(f"{r.variant:20s}{seeds:>22s}{r.mean:7.2f}{r.ratio:10.3f}{r.paper_ratio:11.3f}  {verdict(r, used, base)}")
    note = "" if spread is None or math.isnan(own) else f" (this table's own: {own:.3f})"
    lines.append(f"seed-to-seed spread used (largest range over the rows with two seeds, / {base}): "
                 + ("none measured" if math.isnan(used) else f"{used:.3f}") + note)
    return "\n".join(lines)
