"""Exercise checkers of notebook 05 (training schedule, linear scaling, resume position)."""
import pytest

from m3lrn_lib.course.exercises import check, list_exercises


def test_registry_has_notebook_05():
    assert {"05.1", "05.2", "05.3"} <= {e.key for e in list_exercises()}


def test_nb05_answers(monkeypatch):
    assert check("05.1", 0.02) and not check("05.1", 0.08)
    assert check("05.1", 0.0025, batch=32) and not check("05.1", 0.02, batch=32)
    assert check("05.2", 59 * 48) and not check("05.2", 48)          # 61225 // 1024 = 59 steps per epoch
    assert check("05.2", 621 * 48, n_images=636252) and not check("05.2", 59 * 48, n_images=636252)
    assert check("05.3", (2, 4800)) and not check("05.3", (2, 150))
    assert check("05.3", (1, 0), step=625) and not check("05.3", "x")
    monkeypatch.setenv("M3LRN_SOLUTIONS", "1")
    with pytest.raises(AssertionError):
        check("05.1", 0.08)
