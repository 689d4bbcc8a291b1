"""A small, explicit training loop and the evaluation used for validation.

The loop is plain PyTorch: a DataLoader with a seeded generator, SGD with momentum (the paper's
optimiser) or Adam (the ``cpu`` recipe's; :func:`make_optimizer`, shared with the trainer),
step-wise learning-rate decay, and a guard that skips (and counts) a step whose
gradients contain NaN/inf, as the paper's public code does. Each step's loss terms go into a
history list that notebooks plot.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader

from .. import metrics
from ..nn.losses import LossWeights


@dataclass
class TrainSettings:
    """Hyper-parameters of one run (defaults: a short CPU run; the paper's: presets/paper.toml).

    Attributes:
        steps: optimisation steps; batch_size: images per step.
        optimizer: ``"sgd"`` (the paper's) or ``"adam"`` (the ``cpu`` preset's; ``momentum`` is its beta_1).
        lr, momentum, nesterov, weight_decay: SGD (paper: lr 0.08 at batch 1024, momentum 0.9).
        milestones: steps at which the lr is multiplied by ``gamma`` (paper: epochs 48 and 64 of 80).
        weights: the loss weights lambda_1..4 of Eq. 7.
        num_workers: DataLoader workers; seed: shuffling and initialisation seed.
        device: ``None`` picks CUDA when available; log_every: history granularity.
    """

    steps: int = 200
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    milestones: tuple = ()
    gamma: float = 0.1
    weights: LossWeights = field(default_factory=LossWeights)
    num_workers: int = 0
    seed: int = 0
    device: str | None = None
    log_every: int = 1
    progress: bool = True


OPTIMIZERS = ("sgd", "adam")


def make_optimizer(params, name: str, lr: float, momentum: float = 0.9, nesterov: bool = False,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimiser of a run: ``"sgd"`` (momentum, optional Nesterov; the paper's) or ``"adam"``
    (beta_1 = ``momentum``, beta_2 = 0.999; the ``cpu`` recipe's, docs/cpu-recipe.md).
    ValueError naming the valid ones for another ``name``."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def make_loader(dataset, batch_size: int, seed: int = 0, num_workers: int = 0, shuffle: bool = True,
                drop_last: bool = True) -> DataLoader:
    """A DataLoader with a seeded shuffling generator (same seed -> same batches).

    Raises ValueError when the dataset is empty or smaller than one batch with ``drop_last``.
    """
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty")
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size {batch_size} is larger than the dataset ({n} samples)")
    g = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, generator=g, persistent_workers=num_workers > 0)


def _to(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _finite_grads(params) -> bool:
    return all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)


def train(net: torch.nn.Module, dataset, settings: TrainSettings | None = None, callback=None,
          batch_augment=None, frozen=()) -> list[dict]:
    """Train ``net`` in place (SGD or Adam, ``settings.optimizer``); return the per-step history.

    Args:
        net: an :class:`~m3lrn_lib.nn.M3LRN` (any variant).
        dataset: samples with ``image`` (3,120,120), ``target`` (D,) whitened, ``landmarks`` (68,3).
        settings: :class:`TrainSettings`.
        callback: optional ``callback(record)`` called after every logged step.
        batch_augment: optional transform of a collated batch on the device, e.g. the paper's
            face-swap augmentation :class:`m3lrn_lib.data.FaceSwap` (labels stay untouched).
        frozen: sub-modules of ``net`` that are not trained (e.g. ``(net.backbone, net.heads)`` to
            train M2FA on a fixed first stage): no gradients, and eval mode (BatchNorm keeps its
            running statistics).
    Returns:
        list of dicts: ``step``, ``lr``, ``total`` and every loss term, ``images_per_s``,
        ``skipped`` (steps skipped so far because of non-finite gradients).
    """
    s = settings or TrainSettings()
    device = torch.device(s.device) if s.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net.to(device).train()
    for part in frozen:
        part.requires_grad_(False)
        part.eval()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = make_optimizer(params, s.optimizer, s.lr, s.momentum, s.nesterov, s.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(s.milestones), gamma=s.gamma)
    loader = make_loader(dataset, s.batch_size, s.seed, s.num_workers)
    history, step, skipped = [], 0, 0
    bar = None
    if s.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=s.steps, desc="train", leave=False)
    epoch = 0
    while step < s.steps:
        loader.generator.manual_seed(s.seed + epoch)
        for batch in loader:
            if step >= s.steps:
                break
            t0 = time.perf_counter()
            batch = _to(batch, device)
            if batch_augment is not None:
                batch = batch_augment(batch)
            out = net(batch["image"])
            losses = net.loss(out, batch, s.weights)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            if _finite_grads(params) and torch.isfinite(losses["total"]):
                opt.step()
            else:
                skipped += 1
            sched.step()
            step += 1
            dt = time.perf_counter() - t0
            if step % s.log_every == 0 or step == s.steps:
                rec = {"step": step, "lr": opt.param_groups[0]["lr"], "skipped": skipped,
                       "images_per_s": len(batch["image"]) / max(dt, 1e-9)}
                rec.update({k: float(v.detach()) for k, v in losses.items() if torch.is_tensor(v) and v.ndim == 0})
                history.append(rec)
                if callback:
                    callback(rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(losses['total']):.4f}")
        epoch += 1
    if bar is not None:
        bar.close()
    return history


@torch.inference_mode()
def predict_batches(net: torch.nn.Module, dataset, batch_size: int = 64, device=None, dense: bool = False):
    """Run ``net`` in eval mode over a dataset; return a dict of concatenated numpy arrays
    (``lmk_refined``, ``lmk_coarse``, ``pose`` (deg), ``params_raw``, ``gt_landmarks``, ``gt_pose`` (deg),
    ``box``; ``vertices`` when ``dense``)."""
    device = torch.device(device) if device else next(net.parameters()).device
    net.eval()
    loader = make_loader(dataset, batch_size, shuffle=False, drop_last=False)
    acc: dict = {}
    for batch in loader:
        out = net(batch["image"].to(device), dense=dense)
        items = {"lmk_refined": out["lmk_refined"], "lmk_coarse": out["lmk_coarse"],
                 "pose": torch.rad2deg(out["pose"]), "params_raw": out["params_raw"],
                 "gt_landmarks": batch["landmarks"], "gt_pose": torch.rad2deg(batch["pose"]), "box": batch["box"]}
        if dense:
            items["vertices"] = out["vertices"]
        for k, v in items.items():
            acc.setdefault(k, []).append(v.detach().cpu().numpy())
    return {k: np.concatenate(v) for k, v in acc.items()}


def evaluate(net: torch.nn.Module, dataset, batch_size: int = 64, device=None) -> dict:
    """NME (x100) by |yaw| bin for the refined and the first-stage landmarks, and pose MAE.

    NME is computed in the crop frame: the crop is a uniformly scaled square of the original
    image, and Eq. 8 divides by the landmark box size, so the value equals the one after
    mapping the points back through the crop box.

    Returns:
        dict with ``nme`` (refined, :func:`metrics.nme_by_yaw`), ``nme_coarse``, ``pose`` (:func:`metrics.pose_mae`).
    """
    r = predict_batches(net, dataset, batch_size, device)
    yaw = r["gt_pose"][:, 0]
    return {"nme": metrics.nme_by_yaw(metrics.nme_2d(r["lmk_refined"], r["gt_landmarks"]), yaw),
            "nme_coarse": metrics.nme_by_yaw(metrics.nme_2d(r["lmk_coarse"], r["gt_landmarks"]), yaw),
            "pose": metrics.pose_mae(r["pose"], r["gt_pose"]), "n": int(len(yaw))}


@torch.inference_mode()
def mean_face_nme(net: torch.nn.Module, dataset, batch_size: int = 256) -> dict:
    """The NME (x100, :func:`metrics.nme_by_yaw`) of a network that never leaves its start: every
    face predicted as the training mean ``net.param_mean`` (whitened 0), the reference a first
    stage must beat (Eq. 8). ``dataset`` yields ``landmarks`` (68, 3) and ``pose`` (3,) radians."""
    from .. import geometry
    lmk = geometry.project_to_crop(net.face_model, net.param_mean[None].cpu(), net.config.input_size,
                                   landmarks_only=True)[0].numpy()
    gt, yaw = [], []
    for batch in make_loader(dataset, batch_size, shuffle=False, drop_last=False):
        gt.append(batch["landmarks"].numpy())
        yaw.append(torch.rad2deg(batch["pose"][:, 0]).numpy())
    gt = np.concatenate(gt)
    return metrics.nme_by_yaw(metrics.nme_2d(np.broadcast_to(lmk, gt.shape), gt), np.concatenate(yaw))


def format_eval(result: dict) -> str:
    """One line: NME per bin and All, and the pose MAE."""
    n = result["nme"]
    p = result["pose"]
    f = lambda v: "  nan" if math.isnan(v) else f"{v:5.2f}"  # noqa: E731
    return (f"NME [0,30] {f(n['[0,30]'])} (30,60] {f(n['(30,60]'])} (60,90] {f(n['(60,90]'])} All {f(n['All'])}"
            f" | MAE yaw {p['yaw']:.2f} pitch {p['pitch']:.2f} roll {p['roll']:.2f} mean {p['mean']:.2f}")
