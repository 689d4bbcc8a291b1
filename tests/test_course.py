"""The course map of notebook 00 matches the notebooks, and the real-data status reads real folders."""
import pytest

from m3lrn_lib.course import map as course_map


def test_course_map_matches_the_notebooks():
    assert course_map.check_course() == []
    assert [n.number for n in course_map.NOTEBOOKS] == [f"{i:02d}" for i in range(len(course_map.NOTEBOOKS))]
    assert course_map.lesson_for_equation(6).file == "04_lgs_and_cycle_loss.ipynb"
    assert {course_map.lesson_for_equation(e).number for e in range(1, 9)} <= {n.number for n in course_map.NOTEBOOKS}
    table = course_map.markdown_table()
    assert table.count("\n") == len(course_map.NOTEBOOKS) + 1 and "07_texture_gan.ipynb" in table


def test_course_map_reports_problems(tmp_path):
    (tmp_path / "09_extra.ipynb").write_text('{"cells": []}')
    problems = course_map.check_course(tmp_path)
    assert "00_start_here.ipynb: missing" in problems and "09_extra.ipynb: not in the course map" in problems


def test_unknown_lesson_and_equation():
    with pytest.raises(KeyError, match="no notebook 12"):
        course_map.lesson(12)
    with pytest.raises(KeyError, match="no Eq. 9"):
        course_map.lesson_for_equation(9)
    assert course_map.lesson("3").file == "03_m2fa_refinement.ipynb"


def test_real_data_status(tmp_path, monkeypatch):
    for d in course_map.REAL_DATA:
        monkeypatch.delenv(d.env, raising=False)
    rows = {r["name"]: r["status"] for r in course_map.real_data_status()}
    assert rows["AFLW2000-3D"] == "not set (set $M3LRN_TEST_DATA)"
    empty = tmp_path / "aflw"
    empty.mkdir()
    rows = {r["name"]: r["status"] for r in course_map.real_data_status(
        {"AFLW2000-3D": str(empty), "300W-LP": str(tmp_path / "nope")})}
    assert rows["AFLW2000-3D"].startswith("unreadable:") and "empty" in rows["AFLW2000-3D"]
    assert rows["300W-LP"].startswith("missing:")
    (empty / "image00002.mat").write_bytes(b"")
    rows = {r["name"]: r["status"] for r in course_map.real_data_status({"AFLW2000-3D": str(empty)})}
    assert rows["AFLW2000-3D"] == "found, layout 'aflw2000'"


def test_environment_report():
    env = course_map.environment_report()
    assert set(env) == {"python", "torch", "gpu", "cpu_cores", "fast_mode", "solutions_mode"}
