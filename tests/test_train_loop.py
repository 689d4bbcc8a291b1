"""The training loop: loss goes down, NaN gradients are skipped, evaluation runs."""
import math

import numpy as np
import pytest
import torch

from m3lrn_lib import geometry, render
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN
from m3lrn_lib.train import TrainSettings, evaluate, make_loader, train


class RenderedFaces(torch.utils.data.Dataset):
    """A handful of rendered faces with exact labels (enough to test the loop)."""

    def __init__(self, model, n=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        yaw = (torch.rand(n, generator=g) - 0.5) * 2.0
        P = geometry.make_pose(yaw, torch.zeros(n), torch.zeros(n), 0.5, 60.0, 58.0)
        shp = torch.randn(n, 40, generator=g) * torch.as_tensor(model.shape_std)
        self.params = torch.cat([P, shp, torch.zeros(n, 10)], 1)
        self.mean, self.std = self.params.mean(0), self.params.std(0) + 1e-3
        self.lmk = geometry.project_to_crop(model, self.params, landmarks_only=True)
        V = geometry.project_to_crop(model, self.params).numpy()
        self.images = torch.stack([torch.as_tensor(render.render(v, model.triangles, model.albedo_mean, 120, 120,
                                                            lighting=render.Lighting()).image).permute(2, 0, 1)
                                   for v in V]) * 255
        self.images = (self.images - 127.5) / 128

    def __len__(self):
        return len(self.params)

    def __getitem__(self, i):
        return {"image": self.images[i], "target": (self.params[i] - self.mean) / self.std,
                "landmarks": self.lmk[i], "pose": geometry.params_to_euler(self.params[i:i + 1])[0],
                "box": torch.tensor([0.0, 0, 120, 120])}


@pytest.fixture(scope="module")
def data():
    model = load_face_model()
    return model, RenderedFaces(model)


def test_loss_decreases_and_history(data):
    model, ds = data
    torch.manual_seed(0)
    net = M3LRN(model, "full", ds.mean, ds.std)
    hist = train(net, ds, TrainSettings(steps=25, batch_size=4, lr=0.01, progress=False, device="cpu"))
    assert len(hist) == 25 and {"total", "loss_3dmm", "loss_lmk", "loss_g", "step", "lr"} <= set(hist[0])
    first = np.mean([h["total"] for h in hist[:3]])
    last = np.mean([h["total"] for h in hist[-3:]])
    assert last < first
    r = evaluate(net, ds, batch_size=4)
    assert r["n"] == 8 and math.isfinite(r["nme"]["mean"]) and set(r["pose"]) >= {"yaw", "pitch", "roll"}


def test_nan_gradients_are_skipped(data):
    model, ds = data
    net = M3LRN(model, "baseline", ds.mean, ds.std)
    calls = {"n": 0}

    def poison(grad):
        calls["n"] += 1
        return grad * float("nan") if calls["n"] == 2 else grad
    net.heads.parameters().__next__().register_hook(poison)
    before = [p.detach().clone() for p in net.parameters()]
    hist = train(net, ds, TrainSettings(steps=3, batch_size=4, progress=False, device="cpu"))
    assert hist[-1]["skipped"] == 1
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_loader_errors(data):
    _, ds = data
    with pytest.raises(ValueError, match="larger than the dataset"):
        make_loader(ds, 64)
    with pytest.raises(ValueError, match="empty"):
        make_loader([], 4)


def test_make_optimizer_is_shared_and_names_the_valid_ones():
    import torch

    from m3lrn_lib.train.loop import OPTIMIZERS, make_optimizer
    p = [torch.nn.Parameter(torch.zeros(3))]
    adam = make_optimizer(p, "adam", 1e-3, momentum=0.8)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["betas"] == (0.8, 0.999)
    sgd = make_optimizer(p, "sgd", 0.1, momentum=0.9, nesterov=True)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]
    with pytest.raises(ValueError, match="valid: sgd, adam"):
        make_optimizer(p, "rmsprop", 0.1)
    assert OPTIMIZERS == ("sgd", "adam")
