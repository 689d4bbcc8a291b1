"""Exercise checkers accept right answers and reject wrong ones (and fail in solutions mode)."""
import math

import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib.exercises import check, list_exercises
from m3lrn_lib.morphable import face_proportions, load_face_model


def test_registry_has_notebook_01():
    keys = [e.key for e in list_exercises()]
    assert {"01.1", "01.2", "01.3"} <= set(keys)


def test_nb01_answers(monkeypatch):
    model = load_face_model()
    iod = face_proportions(model.mean[model.landmarks])["interocular"]
    assert check("01.1", iod) and not check("01.1", iod + 5)
    p = torch.cat([G.make_pose(math.radians(35), math.radians(-12), math.radians(8), 0.5, 60, 60),
                   torch.zeros(1, 50)], 1)
    assert check("01.2", [35, -12, 8], params=p) and not check("01.2", [-35, -12, 8], params=p)
    assert check("01.3", (54, 30)) and not check("01.3", (48, 30))
    pose = G.make_pose(0.3, 0.1, 0.0, 0.42, 60, 60)
    assert check("01.4", 0.42, pose=pose) and not check("01.4", 1.0, pose=pose)
    assert not check("01.1", None)
    monkeypatch.setenv("M3LRN_SOLUTIONS", "1")
    with pytest.raises(AssertionError):
        check("01.1", iod + 5)


def test_unknown_exercise():
    with pytest.raises(KeyError, match="unknown exercise"):
        check("99.9", 1)


def test_nb02_answers():
    from m3lrn_lib.data import sample_datasets
    train, _ = sample_datasets(split=("train", "test"))
    s = train[0]
    raw = G.unwhiten(s["target"], torch.as_tensor(train.param_mean), torch.as_tensor(train.param_std))
    yaw = math.degrees(float(G.params_to_euler(raw[None])[0, 0]))
    ctx = dict(z=s["target"], mean=train.param_mean, std=train.param_std)
    assert check("02.2", yaw, **ctx) and not check("02.2", yaw + 10, **ctx)
    assert check("02.1", 1280 * 62 + 62) and not check("02.1", 1280 * 62)
    assert check("02.3", -35) and not check("02.3", 35)
