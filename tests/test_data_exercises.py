"""Notebook 02's exercise checkers accept right answers and reject wrong ones."""
import numpy as np

from m3lrn_lib.course.exercises import check
from m3lrn_lib.data import sample_datasets


def test_nb02_answers():
    assert check("02.D1", (36.3, 36.3), point=(150.5, 100.5), box=(90, 40, 210, 160)) is False
    assert check("02.D1", (60.5, 60.5), point=(150.5, 100.5), box=(90, 40, 210, 160))
    assert check("02.D2", (-20, 5, -3), pose=(20, 5, 3)) and not check("02.D2", (20, -5, 3), pose=(20, 5, 3))
    p, m, s = np.arange(62.0), np.ones(62), np.full(62, 2.0)
    assert check("02.D3", (p - 1) / 2, params=p, mean=m, std=s)
    assert not check("02.D3", p / 2 - 1, params=p, mean=m, std=s)
    test = sample_datasets(split="test")
    yaw = np.abs(np.degrees(test.poses[:, 0]))
    frac = ((yaw > 60) & (yaw <= 90)).mean()
    assert check("02.D4", frac, dataset=test) and not check("02.D4", frac + 0.1, dataset=test)
