"""Exercise checkers of notebooks 03 (M2FA) and 04 (LGS, losses)."""

import pytest
import torch

from m3lrn_lib import paths
from m3lrn_lib.course.exercise_sets.nb04 import example_alphas
from m3lrn_lib.course.exercises import check, list_exercises
from m3lrn_lib.morphable import load_face_model

torch.set_num_threads(2)


def test_registry_has_notebooks_03_04():
    keys = {e.key for e in list_exercises()}
    assert {"03.1", "03.2", "03.3", "04.1", "04.2", "04.3"} <= keys


def test_nb03_answers():
    assert check("03.1", (68, 2418)) and not check("03.1", (68, 2354))
    assert check("03.1", (68, 1088), modalities="points") and not check("03.1", (68, 2418), modalities="points")
    assert check("03.2", 68 * 2418 * 512) and not check("03.2", 2418 * 512)
    assert check("03.3", 0) and not check("03.3", -1)


def test_nb04_answers(monkeypatch):
    alpha, hat = example_alphas()
    right = ((alpha[:, 12:] - hat[:, 12:]) ** 2).mean().item()
    buggy = ((hat[:, :50] - alpha[:, 12:62]) ** 2).mean().item()
    assert check("04.1", right, alpha=alpha, alpha_hat=hat) and not check("04.1", buggy, alpha=alpha, alpha_hat=hat)
    terms = {"loss_3dmm": 1.0, "loss_lmk": 2.0, "loss_3dmm_lmk": 3.0, "loss_g": 4.0}
    assert check("04.2", 0.02 + 0.06 + 0.06 + 0.004, terms=terms) and not check("04.2", 10.0, terms=terms)
    assert check("04.3", 50, model=load_face_model("embedded")) and not check("04.3", 62, model="embedded")
    monkeypatch.setenv("M3LRN_SOLUTIONS", "1")
    with pytest.raises(AssertionError):
        check("04.2", 10.0, terms=terms)


@pytest.mark.skipif(not paths.sfm_dir().is_dir(), reason=f"the Surrey Face Model is not at {paths.sfm_dir()}")
def test_nb04_other_model():
    assert check("04.3", 46, model=str(paths.sfm_dir()))
