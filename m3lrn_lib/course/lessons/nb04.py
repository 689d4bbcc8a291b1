"""Lesson code of notebook 04: landmark geometry (LGS), the losses of Eq. 3-7 and L_g, on a CPU.

Shapes and frames as in :mod:`m3lrn_lib.course.lessons.nb03` (B batch, N data set, D parameters,
68 landmarks in the crop's image frame; "whitened" / "raw" parameters).

- :func:`train_lgs` / :func:`evaluate_lgs` / :func:`report_alpha_hat` -- LGS alone: landmarks ->
  alpha_hat; :func:`part_errors` -- the error per parameter block.
- :func:`losses_by_hand` -- Eq. 3-7 written out on one forward pass's tensors;
  :func:`lg_gradient_flow` -- which modules L_g trains.
- :func:`param_name` -- names the entries of the parameter vector (e.g. for the public code's
  mis-indexed L_g, :func:`m3lrn_lib.nn.public_code.public_loss_geometry`).
- :func:`lg_experiment` -- short joint trainings (or fine-tunings of a shipped network) with
  different lambda_4; :func:`lg_effect` -- the difference it makes, per seed, with its spread.

The training pairs drawn from the priors come from :func:`m3lrn_lib.data.prior.sample_prior_params`;
the labels and the simulated first stage from :mod:`~m3lrn_lib.course.lessons.nb03`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ... import geometry, metrics
from ...data.prior import sample_prior_params
from ...morphable.model import FaceModel
from .fit import fit_module

__all__ = ["part_errors", "train_lgs", "report_alpha_hat", "evaluate_lgs", "param_name", "lg_gradient_flow",
           "losses_by_hand", "LgRun", "lg_experiment", "rewhitening", "LG_KEYS", "lg_effect"]


# ----------------------------------------------------------------------------- LGS alone
def part_errors(pred: torch.Tensor, target: torch.Tensor, n_shape: int = 40) -> dict:
    """Mean squared error per parameter block (whitened (B, D) inputs): pose / shape / expr / all."""
    d = (pred - target) ** 2
    P = geometry.POSE_DIM
    return {"pose": float(d[:, :P].mean()), "shape": float(d[:, P:P + n_shape].mean()),
            "expr": float(d[:, P + n_shape:].mean()), "all": float(d.mean())}


def train_lgs(model: FaceModel, mean, std, source: torch.Tensor | None = None, targets: str = "all",
              steps: int = 300, batch_size: int = 64, lr: float = 1e-3, input_noise: float = 0.0,
              n_prior: int = 20000, seed: int = 0, log_every: int = 10) -> tuple[nn.Module, list[dict]]:
    """Train an :class:`~m3lrn_lib.nn.LGS` alone: 68 3D landmarks -> alpha_hat (Eq. 5).

    Args:
        mean, std: (D,) whitening statistics (the training set's).
        source: (N, D) raw parameters to learn from, or None to draw ``n_prior`` faces with
            :func:`~m3lrn_lib.data.prior.sample_prior_params` (landmarks are computed from the
            parameters, Eq. 1-2).
        targets: ``'pose'`` | ``'shape+exp'`` | ``'all'`` (Table 2 rows 4-6); the loss uses
            only the predicted entries.
        input_noise: std (px) of Gaussian noise added to the input landmarks at every step --
            in the full model LGS reads the *predicted* L^r, never clean landmarks.
        lr: Adam learning rate (see :func:`~m3lrn_lib.course.lessons.fit.fit_module`).
    Returns:
        ``(lgs, history)``; history: dicts ``step``, ``loss_3dmm_lmk``, ``seconds``.
    """
    from ...nn import LGS
    from ...nn.losses import loss_3dmm_lmk

    mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    raw = sample_prior_params(model, n_prior, seed) if source is None else torch.as_tensor(source, dtype=torch.float32)
    target = geometry.whiten(raw, mean, std)
    lmk = geometry.project_to_crop(model, raw, landmarks_only=True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    lgs = LGS(int(model.landmarks.shape[0]), model.n_shape, model.n_exp, targets=targets)

    def batches():
        while True:
            idx = torch.randint(len(raw), (batch_size,), generator=g)
            x = lmk[idx]
            if input_noise:
                x = x + input_noise * torch.randn(x.shape, generator=g)
            yield x, target[idx]

    def loss_fn(net, batch):
        x, t = batch
        return loss_3dmm_lmk(net(x), t, net.mask)

    return fit_module(lgs, loss_fn, batches(), steps, lr, log_every, "loss_3dmm_lmk")


@torch.no_grad()
def report_alpha_hat(alpha_hat: torch.Tensor, model: FaceModel, target: torch.Tensor, mean, std,
                     pose_deg: torch.Tensor, mask=None) -> dict:
    """Judge a (N, D) whitened parameter estimate against the ground truth.

    Args:
        alpha_hat: (N, D) whitened estimate; target: (N, D) whitened ground truth;
        pose_deg: (N, 3) ground-truth (yaw, pitch, roll) in degrees; mask: (D,) bool of the
        predicted entries (None: all).
    Returns:
        dict ``alpha_hat``; ``part_mse`` (:func:`part_errors`; the mean predictor scores ~1);
        when every entry is predicted also ``landmarks`` (N, 68, 3) rebuilt with Eq. 1-2,
        ``nme`` (:func:`m3lrn_lib.metrics.nme_by_yaw` against the landmarks of ``target``) and
        ``pose`` (:func:`m3lrn_lib.metrics.pose_mae` of the angles of alpha_hat_p).
    """
    out = {"alpha_hat": alpha_hat, "part_mse": part_errors(alpha_hat, target, model.n_shape)}
    if mask is None or bool(torch.as_tensor(mask).all()):
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        raw = geometry.unwhiten(alpha_hat, mean, std)
        rebuilt = geometry.project_to_crop(model, raw, landmarks_only=True)
        gt_lmk = geometry.project_to_crop(model, geometry.unwhiten(target, mean, std), landmarks_only=True)
        out["landmarks"] = rebuilt
        out["nme"] = metrics.nme_by_yaw(metrics.nme_2d(rebuilt, gt_lmk), pose_deg[:, 0])
        out["pose"] = metrics.pose_mae(torch.rad2deg(geometry.params_to_euler(raw.double())), pose_deg)
    return out


@torch.no_grad()
def evaluate_lgs(lgs: nn.Module, model: FaceModel, landmarks: torch.Tensor, target: torch.Tensor, mean, std,
                 pose_deg: torch.Tensor) -> dict:
    """Landmark geometry as an output (supplement D): alpha_hat = LGS(landmarks), judged by
    :func:`report_alpha_hat`.

    Args:
        landmarks: (N, 68, 3) input landmarks (ground truth, or predicted ones).
        target: (N, D) whitened ground-truth parameters; pose_deg: (N, 3) ground-truth angles.
    Returns:
        :func:`report_alpha_hat`'s dict (``nme`` and ``pose`` only when LGS predicts every block).
    """
    lgs.eval()
    return report_alpha_hat(lgs(landmarks), model, target, mean, std, pose_deg, lgs.mask)


def param_name(i: int, n_shape: int = 40) -> str:
    """Human name of entry ``i`` of the parameter vector: ``'P[0,3] (t_x)'``, ``'shape 5'``, ``'expr 2'``."""
    if i < geometry.POSE_DIM:
        r, c = divmod(i, 4)
        return f"P[{r},{c}]" + (f" (t_{'xyz'[r]})" if c == 3 else "")
    if i < geometry.POSE_DIM + n_shape:
        return f"shape {i - geometry.POSE_DIM}"
    return f"expr {i - geometry.POSE_DIM - n_shape}"


# ----------------------------------------------------------------------------- the losses
def lg_gradient_flow(net: nn.Module, images: torch.Tensor, detach: str | None = None) -> dict:
    """Which sub-modules does L_g (Eq. 6) alone train? Gradient norm per top-level module.

    Runs ``net`` (an :class:`~m3lrn_lib.nn.M3LRN` with LGS, kept in its current train/eval
    mode) on (B, 3, 120, 120) ``images``, back-propagates only
    :func:`~m3lrn_lib.nn.losses.loss_geometry` with ``detach`` (None, ``'alpha'`` or
    ``'alpha_hat'``) and returns ``{module name: gradient L2 norm}``; gradients are cleared after.
    """
    from ...nn.losses import loss_geometry

    net.zero_grad(set_to_none=True)
    out = net(images, with_lgs=True)
    loss_geometry(out["params"], out["params_lgs"], out["lgs_mask"], detach=detach).backward()
    norms = {}
    for name, mod in net.named_children():
        g = [p.grad.norm() ** 2 for p in mod.parameters() if p.grad is not None]
        norms[name] = float(torch.stack(g).sum().sqrt()) if g else 0.0
    net.zero_grad(set_to_none=True)
    return norms


def losses_by_hand(outputs: dict, target: torch.Tensor, landmarks: torch.Tensor, weights=None) -> dict:
    """Eq. 3-7 written out with plain tensor operations (reduction 'mean', smooth L1 with beta=1).

    Args:
        outputs: an :class:`~m3lrn_lib.nn.M3LRN` forward pass with LGS (``params``,
            ``lmk_refined``, ``params_lgs``, ``lgs_mask``).
        target: (B, D) whitened ground truth; landmarks: (B, 68, 3) ground truth.
    Returns:
        dict ``loss_3dmm``, ``loss_lmk``, ``loss_3dmm_lmk``, ``loss_g``, ``total`` (floats).
    """
    from ...nn.losses import LossWeights

    w = weights or LossWeights()
    a, hat, m = outputs["params"], outputs["params_lgs"], outputs["lgs_mask"]
    d = (outputs["lmk_refined"] - landmarks).abs()
    terms = {
        "loss_3dmm": ((a - target) ** 2).mean(),                                 # Eq. 3
        "loss_lmk": torch.where(d < 1.0, 0.5 * d ** 2, d - 0.5).mean(),          # Eq. 4, smooth L1
        "loss_3dmm_lmk": ((hat[:, m] - target[:, m]) ** 2).mean(),               # Eq. 5
        "loss_g": ((a[:, m] - hat[:, m]) ** 2).mean(),                           # Eq. 6
    }
    terms["total"] = (w.w_3dmm * terms["loss_3dmm"] + w.w_lmk * terms["loss_lmk"]  # Eq. 7
                      + w.w_3dmm_lmk * terms["loss_3dmm_lmk"] + w.w_g * terms["loss_g"])
    return {k: float(v) for k, v in terms.items()}


# ----------------------------------------------------------------------------- the L_g experiment
@dataclass
class LgRun:
    """One run of :func:`lg_experiment` (test-set numbers: whitened mean squared errors over
    entries and faces; NME x100 by yaw bin of L^r; pose MAE in degrees)."""

    w_g: float
    seed: int
    history: list
    agreement: float  # mean (alpha - alpha_hat)^2
    err_alpha: float  # mean (alpha - alpha*)^2
    err_alpha_hat: float  # mean (alpha_hat - alpha*)^2
    nme: dict
    pose: dict
    seconds: float


def lg_experiment(model: FaceModel, train_set, test_set, w_g_values=(0.0, 0.1), seeds=(0,), steps: int = 40,
                  batch_size: int = 16, lr: float = 0.02, width_mult: float = 1.0, preset: str = "full",
                  start: nn.Module | None = None,
                  optimizer: str = "sgd") -> list[LgRun]:
    """Train ``M3LRN(model, preset)`` (or fine-tune a copy of ``start``) once per (seed, lambda_4)
    and measure on ``test_set``.

    Runs with the same seed share the initial weights and the batches; only lambda_4 (the
    weight of L_g, Eq. 6-7) differs, the other weights are the paper's. The training is the
    library's :func:`m3lrn_lib.train.train` (the full model's loop, not :func:`.fit.fit_module`).

    Args:
        train_set, test_set: readers (see :func:`m3lrn_lib.data.sample_datasets`); the test set is
            read in batches of 64 (any size).
        start: a trained network with LGS (e.g. the shipped ``full``): every run starts from a
            copy of its weights, so the seed only changes the batches (the spread is data order).
        optimizer: ``"sgd"`` or ``"adam"`` (:func:`m3lrn_lib.train.loop.make_optimizer`).
    Returns:
        list of :class:`LgRun`, seeds outer, lambda_4 inner.
    """
    import copy

    from ...nn import M3LRN, LossWeights, M3LRNConfig
    from ...runtime import seed_everything
    from ...train import TrainSettings, make_loader, train

    runs = []
    for seed in seeds:
        for w_g in w_g_values:
            seed_everything(seed)
            if start is not None:
                net = copy.deepcopy(start)
            else:
                net = M3LRN(model, M3LRNConfig.preset(preset, width_mult=width_mult), train_set.param_mean,
                            train_set.param_std)
            to_net = rewhitening(train_set, net)
            t0 = time.perf_counter()
            hist = train(net, train_set, TrainSettings(steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                                        optimizer=optimizer, weights=LossWeights(w_g=w_g),
                                                        progress=False, device="cpu"),
                         batch_augment=to_net)
            sec = time.perf_counter() - t0
            runs.append(_measure_lg(net, make_loader(test_set, 64, shuffle=False, drop_last=False),
                                    rewhitening(test_set, net), w_g, seed, hist, sec))
    return runs


def rewhitening(dataset, net: nn.Module):
    """A batch transform that re-expresses ``dataset``'s whitened ``target`` (B, D) in ``net``'s
    whitening statistics, ``whiten(unwhiten(t, ds), net)``; None when they are the same (a network
    fine-tuned on a set whose statistics differ from its training set's, e.g. the sample)."""
    m_ds = torch.as_tensor(np.asarray(dataset.param_mean), dtype=torch.float32)
    s_ds = torch.as_tensor(np.asarray(dataset.param_std), dtype=torch.float32)
    m_n, s_n = net.param_mean.detach().cpu().float(), net.param_std.detach().cpu().float()
    if torch.allclose(m_ds, m_n) and torch.allclose(s_ds, s_n):
        return None
    return lambda b: {**b, "target": geometry.whiten(geometry.unwhiten(b["target"], m_ds, s_ds), m_n, s_n)}


@torch.no_grad()
def _measure_lg(net: nn.Module, loader, to_net, w_g: float, seed: int, hist: list, sec: float) -> LgRun:
    net.eval()
    acc: dict = {k: [] for k in ("a", "hat", "t", "lmk", "gt", "pose", "gt_pose")}
    for b in loader:
        b = to_net(b) if to_net is not None else b
        out = net(b["image"], with_lgs=True)
        for k, v in (("a", out["params"]), ("hat", out["params_lgs"]), ("t", b["target"]),
                     ("lmk", out["lmk_refined"]), ("gt", b["landmarks"]), ("pose", out["pose"]),
                     ("gt_pose", b["pose"])):
            acc[k].append(v)
    a, hat, t, lmk, gt, pose, gt_pose = (torch.cat(acc[k]) for k in ("a", "hat", "t", "lmk", "gt", "pose", "gt_pose"))
    gt_deg = torch.rad2deg(gt_pose)
    return LgRun(w_g, seed, hist, float(((a - hat) ** 2).mean()), float(((a - t) ** 2).mean()),
                 float(((hat - t) ** 2).mean()), metrics.nme_by_yaw(metrics.nme_2d(lmk, gt), gt_deg[:, 0]),
                 metrics.pose_mae(torch.rad2deg(pose), gt_deg), sec)


LG_KEYS = ("agreement", "err_alpha", "err_alpha_hat", "nme", "pose")


def lg_effect(runs: list[LgRun], key: str, on: float, off: float = 0.0) -> dict:
    """The effect of L_g on one measure of :func:`lg_experiment`'s runs, with its spread.

    ``key``: one of :data:`LG_KEYS` (``nme`` is NME All of L^r, ``pose`` the mean pose MAE).
    Returns ``{"diffs": [per seed: value(lambda_4 = on) - value(off)], "mean": their mean,
    "diff_std": their standard deviation over seeds (ddof 1; nan for one seed), "spread": the
    largest seed-to-seed range at a fixed lambda_4, "consistent": True when every seed's
    difference has the same sign and |mean| exceeds the spread}``."""
    if key not in LG_KEYS:
        raise ValueError(f"unknown key {key!r}; valid: {', '.join(LG_KEYS)}")
    get = {"nme": lambda r: r.nme["All"], "pose": lambda r: r.pose["mean"]}.get(key, lambda r: getattr(r, key))
    by = {}
    for r in runs:
        by.setdefault(r.seed, {})[r.w_g] = get(r)
    seeds = [s for s in sorted(by) if on in by[s] and off in by[s]]
    if not seeds:
        raise ValueError(f"no seed has runs with lambda_4 = {on:g} and {off:g}")
    diffs = [by[s][on] - by[s][off] for s in seeds]
    spread = max(max(by[s][w] for s in seeds) - min(by[s][w] for s in seeds) for w in (on, off))
    mean = float(np.mean(diffs))
    return {"diffs": diffs, "mean": mean, "diff_std": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan"),
            "spread": float(spread),
            "consistent": bool(len(set(np.sign(diffs))) == 1 and abs(mean) > spread)}
