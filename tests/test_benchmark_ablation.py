"""Ablation ratios with the seed-to-seed spread (m3lrn_lib.benchmark.ablation), on a hand-made report."""
import math

import pytest

from m3lrn_lib.benchmark.ablation import ablation_rows, format_ablation, seed_spread, verdict


def _row(variant, ckpt, ours, paper):
    return {"variant": variant, "checkpoint": ckpt, "ours": [0.0, ours], "ours_alt": [0.0, ours + 1], "paper": [0.0, paper]}


REPORT = {"tables": {"1_original": {"rows": [
    _row("baseline", "baseline", 7.0, 4.0), _row("baseline", "baseline_seed1", 6.8, 4.0),
    _row("m2fa", "m2fa", 5.94, 3.6), _row("lgs", "lgs", 7.05, 3.8), _row("full", "full", 8.0, 3.5),
    {"variant": "resnet", "checkpoint": None, "ours": None, "paper": [0.0, 3.0]}]}}}


def test_rows_group_seeds_and_divide_by_the_baseline_mean():
    rows = {r.variant: r for r in ablation_rows(REPORT)}
    assert list(rows) == ["baseline", "m2fa", "lgs", "full"]          # unmeasured rows are left out
    assert rows["baseline"].values == [7.0, 6.8] and rows["baseline"].mean == pytest.approx(6.9)
    assert rows["m2fa"].ratio == pytest.approx(5.94 / 6.9) and rows["m2fa"].paper_ratio == pytest.approx(0.9)
    assert rows["baseline"].spread == pytest.approx(0.2 / 6.9) and math.isnan(rows["m2fa"].spread)
    assert seed_spread(list(rows.values())) == pytest.approx(0.2 / 6.9)
    alt = {r.variant: r for r in ablation_rows(REPORT, alt=True)}
    assert alt["baseline"].mean == pytest.approx(7.9)


def test_verdicts_read_the_margin_against_the_spread():
    rows = {r.variant: r for r in ablation_rows(REPORT)}
    s = seed_spread(list(rows.values()))
    assert verdict(rows["m2fa"], s).endswith("agrees with the paper")
    assert verdict(rows["lgs"], s) == "within the spread of the baseline: DISAGREES with the paper"
    assert verdict(rows["full"], s).startswith("worse") and "DISAGREES" in verdict(rows["full"], s)
    assert verdict(rows["baseline"], s) == "-"
    text = format_ablation(list(rows.values()))
    assert "7.00 / 6.80" in text and "0.029" in text
    wide = format_ablation(list(rows.values()), spread=0.2)
    assert "within the spread of the baseline" in wide.splitlines()[2] and "(this table's own: 0.029)" in wide
    other = ablation_rows(REPORT, base="m2fa")
    assert other[1].ratio == 1.0 and "than `m2fa`" in verdict(other[0], seed_spread(other), "m2fa")


def test_missing_table_or_baseline_is_a_clear_error():
    with pytest.raises(ValueError, match="no table '6'"):
        ablation_rows(REPORT, "6")
    with pytest.raises(ValueError, match="no measured 'baseline' row"):
        ablation_rows({"tables": {"t": {"rows": [_row("full", "full", 6.0, 3.4)]}}}, "t")
