"""Lesson code of notebook 03 (M2FA): refinement on simulated first-stage errors, on a CPU.

Shapes use B for a batch, N for a data set, D = 12 + K_s + K_e parameters (62 for the
embedded model) and 68 landmarks; "whitened" means ``(alpha - mean) / std`` with the
training set's statistics, "raw" means crop-frame parameters, landmarks are in the 120x120
crop's image frame in pixels (see :mod:`m3lrn_lib.geometry`).

- :func:`stack_labels` -- the labels of a data set as stacked tensors (no images needed).
- :func:`perturb_params` -- a stand-in for an imperfect first stage (shrink + noise);
  :func:`coarse_from_whitened` -- its landmarks L^c (notebook 04 uses both too).
- :func:`train_refiner` / :func:`refine` -- train and apply an :class:`~m3lrn_lib.nn.M2FA` alone;
  :func:`refinement_experiment` runs both for several modality sets.
- :func:`nme_table`, :func:`format_table`, :func:`residual_sign_stats` -- the reports.
- :func:`shipped_refinement` / :func:`movement_table` / :func:`group_gain_table` -- what a
  *trained* network's M2FA does: how far L^r moves from L^c by landmark group and yaw bin, and
  the NME it wins per group.
- :func:`bottleneck_floor` / :func:`format_floors` -- the real leftover of a fuller model: the NME
  that a *perfect* first stage keeps on rendered faces (generator v2), what a refinement can win back.

Elsewhere: the NME per face part is :func:`m3lrn_lib.metrics.group_nme`, the faces from the
priors :func:`m3lrn_lib.data.prior.sample_prior_params`, the public code's last layer
:func:`m3lrn_lib.nn.public_code.public_output_layer`.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ... import geometry, metrics
from ...morphable.model import FaceModel
from .fit import fit_module

__all__ = ["stack_labels", "perturb_params", "coarse_from_whitened", "train_refiner", "refine",
           "refinement_experiment", "nme_table", "format_table", "residual_sign_stats", "shipped_refinement",
           "movement_table", "group_gain_table", "bottleneck_floor", "format_floors"]


# ----------------------------------------------------------------------------- data
def stack_labels(dataset, keys=("target", "params", "landmarks", "pose"), images: bool = False) -> dict:
    """Stack the labels of every sample of ``dataset`` into tensors.

    Returns:
        dict ``target`` (N, D) whitened, ``params`` (N, D) raw, ``landmarks`` (N, 68, 3),
        ``pose`` (N, 3) radians, ``yaw_deg`` (N,); with ``images=True`` also ``image``
        (N, 3, 120, 120). Keys a sample lacks are left out.
    """
    keys = tuple(keys) + (("image",) if images else ())
    samples = [dataset[i] for i in range(len(dataset))]
    out = {k: torch.stack([torch.as_tensor(s[k]) for s in samples]).float() for k in keys if k in samples[0]}
    if "pose" in out:
        out["yaw_deg"] = torch.rad2deg(out["pose"][:, 0])
    return out


def perturb_params(target: torch.Tensor, noise: float = 0.15, shrink: float = 0.85, generator=None,
                   frozen=None) -> torch.Tensor:
    """A stand-in for an imperfect first stage: ``shrink * alpha* + noise * eps`` (whitened).

    A regressor trained with a squared loss and too little information predicts values pulled
    towards the training mean (0 in whitened units) -- that is the ``shrink`` -- and scatters
    around them -- the Gaussian ``noise``. Because the 12 pose entries are perturbed one by one,
    the coarse pose matrix is no longer a scaled rotation, just as the unconstrained 12 outputs
    of the first stage are not.

    Args:
        target: (B, D) whitened ground truth.
        frozen: optional (D,) bool mask of entries left untouched (e.g. constant ones).
    Returns:
        (B, D) whitened "first-stage" parameters.
    """
    eps = torch.randn(target.shape, generator=generator, dtype=target.dtype)
    out = shrink * target + noise * eps.to(target.device)
    if frozen is not None:
        frozen = torch.as_tensor(frozen, dtype=torch.bool, device=target.device)
        out[:, frozen] = target[:, frozen]
    return out


def coarse_from_whitened(model: FaceModel, whitened: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, D) whitened parameters -> (B, 68, 3) landmarks L^c in the crop image frame (Eq. 1-2)."""
    mean, std = torch.as_tensor(mean, dtype=whitened.dtype), torch.as_tensor(std, dtype=whitened.dtype)
    return geometry.project_to_crop(model, geometry.unwhiten(whitened, mean, std), landmarks_only=True)


# ----------------------------------------------------------------------------- M2FA alone
def _m2fa_inputs(m2fa, whitened: torch.Tensor, z=None):
    """z (B, F) (zeros if None), alpha_s (B, K_s), alpha_e (B, K_e) from whitened params."""
    B = whitened.shape[0]
    if z is None:
        z = whitened.new_zeros(B, m2fa.z_dim)
    a_s = whitened[:, geometry.POSE_DIM:geometry.POSE_DIM + m2fa.n_shape]
    a_e = whitened[:, geometry.POSE_DIM + m2fa.n_shape:]
    return z, a_s, a_e


def train_refiner(model: FaceModel, target: torch.Tensor, mean, std, modalities: str = "all",
                  steps: int = 300, batch_size: int = 64, lr: float = 3e-3, noise: float = 0.15,
                  shrink: float = 0.85, z: torch.Tensor | None = None, seed: int = 0,
                  log_every: int = 10) -> tuple[nn.Module, list[dict]]:
    """Train an :class:`~m3lrn_lib.nn.M2FA` alone to map coarse to ground-truth landmarks (Eq. 4).

    Every step draws a batch of ground-truth parameters, makes *fresh* coarse parameters with
    :func:`perturb_params` (an endless stream of first-stage mistakes), builds L^c from them,
    and minimises the smooth-L1 landmark loss of Eq. 4 between ``M2FA(L^c, z, alpha_s, alpha_e)``
    and the ground-truth landmarks.

    Args:
        target: (N, D) whitened ground-truth parameters (the training faces). Use many distinct
            faces (e.g. :func:`m3lrn_lib.data.prior.sample_prior_params`): with a few hundred,
            M2FA -- the ``'all'`` variant above all, whose alpha_s / alpha_e identify the face --
            learns to recognise and memorise them.
        mean, std: (D,) whitening statistics.
        modalities: ``'points'`` | ``'points+image'`` | ``'all'`` (Table 2 rows 1-3).
        z: (N, F) image features of the same faces, or None for zeros (no image information).
        lr: Adam learning rate (see :func:`~m3lrn_lib.course.lessons.fit.fit_module`).
    Returns:
        ``(m2fa, history)``; history is a list of dicts ``step``, ``loss_lmk``, ``seconds``.
    """
    from ...nn import M2FA
    from ...nn.losses import loss_lmk

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m2fa = M2FA(n_points=int(model.landmarks.shape[0]), z_dim=1280 if z is None else z.shape[1],
                n_shape=model.n_shape, n_exp=model.n_exp, modalities=modalities)
    gt_all = coarse_from_whitened(model, target, mean, std)  # (N, 68, 3) ground truth

    def batches():
        while True:
            idx = torch.randint(len(target), (batch_size,), generator=g)
            coarse_w = perturb_params(target[idx], noise, shrink, g)
            lmk_c = coarse_from_whitened(model, coarse_w, mean, std)
            yield (lmk_c, *_m2fa_inputs(m2fa, coarse_w, None if z is None else z[idx]), gt_all[idx])

    def loss_fn(net, batch):
        lmk_c, zz, a_s, a_e, gt = batch
        return loss_lmk(net(lmk_c, zz, a_s, a_e), gt)

    return fit_module(m2fa, loss_fn, batches(), steps, lr, log_every, "loss_lmk")


@torch.no_grad()
def refine(m2fa: nn.Module, lmk_coarse: torch.Tensor, coarse_whitened: torch.Tensor,
           z: torch.Tensor | None = None, return_intermediates: bool = False):
    """Apply a trained M2FA in eval mode: (B, 68, 3) L^c and (B, D) whitened first-stage
    parameters -> (B, 68, 3) L^r (and the intermediates dict when asked)."""
    m2fa.eval()
    zz, a_s, a_e = _m2fa_inputs(m2fa, coarse_whitened, z)
    return m2fa(lmk_coarse, zz, a_s, a_e, return_intermediates=return_intermediates)


def refinement_experiment(model: FaceModel, train_target: torch.Tensor, test_target: torch.Tensor, mean, std,
                          modalities=("points", "all"), steps: int = 300, batch_size: int = 64, lr: float = 3e-3,
                          noise: float = 0.15, shrink: float = 0.85, seed: int = 0, test_seed: int = 123) -> dict:
    """Notebook 03's experiment: one simulated first stage, one M2FA per modality set.

    Args:
        train_target, test_target: (N, D) whitened ground-truth parameters.
        modalities: the M2FA variants to train (z is zeros: no image information).
        noise, shrink: the simulated first stage (:func:`perturb_params`); the test set's
            coarse parameters are drawn once with ``test_seed``.
    Returns:
        dict ``coarse_w`` (N_test, D) whitened first-stage parameters, ``coarse`` (N_test, 68, 3)
        L^c, ``gt`` (N_test, 68, 3), ``refined`` {modality: (N_test, 68, 3) L^r},
        ``models`` {modality: M2FA}, ``history`` {modality: list}, ``seconds`` {modality: float}.
    """
    g = torch.Generator().manual_seed(test_seed)
    coarse_w = perturb_params(test_target, noise, shrink, g)
    out = {"coarse_w": coarse_w, "coarse": coarse_from_whitened(model, coarse_w, mean, std),
           "gt": coarse_from_whitened(model, test_target, mean, std),
           "refined": {}, "models": {}, "history": {}, "seconds": {}}
    for mod in modalities:
        t0 = time.perf_counter()
        m2fa, hist = train_refiner(model, train_target, mean, std, mod, steps, batch_size, lr, noise, shrink,
                                   seed=seed)
        out["seconds"][mod] = time.perf_counter() - t0
        out["models"][mod], out["history"][mod] = m2fa, hist
        out["refined"][mod] = refine(m2fa, out["coarse"], coarse_w)
    return out


# ----------------------------------------------------------------------------- reports
def nme_table(predictions: dict, gt, yaw_deg) -> dict:
    """NME (x100) by |yaw| bin for several (N, 68, 3) landmark sets: ``{name: nme_by_yaw}``."""
    return {k: metrics.nme_by_yaw(metrics.nme_2d(v, gt), yaw_deg) for k, v in predictions.items()}


def format_table(table: dict, columns=(*metrics.BIN_NAMES, "All"), width: int = 24) -> str:
    """Rows ``name  v1  v2 ...`` of a ``{name: {column: value}}`` dict (values to 2 decimals)."""
    w = {c: max(10, len(str(c)) + 2) for c in columns}
    lines = [f"{'':<{width}}" + "".join(f"{c:>{w[c]}}" for c in columns)]
    for name, row in table.items():
        lines.append(f"{name:<{width}}" + "".join(f"{row[c]:>{w[c]}.2f}" for c in columns))
    return "\n".join(lines)


def residual_sign_stats(residual: torch.Tensor) -> dict:
    """Signs of a (B, 68, 3) residual L^r - L^c: min, max and the share of negative entries
    per coordinate (x, y, z)."""
    r = residual.detach()
    return {"min": float(r.min()), "max": float(r.max()),
            "negative_share": [float((r[..., i] < 0).float().mean()) for i in range(3)]}


# ----------------------------------------------------------------------------- a trained network's refinement
def shipped_refinement(net: nn.Module, dataset, batch_size: int = 64) -> dict:
    """Run a trained :class:`~m3lrn_lib.nn.M3LRN` with M2FA (e.g. the shipped ``full``) over a data set.

    Returns numpy arrays: ``coarse`` L^c and ``refined`` L^r (N, 68, 3), ``gt`` (N, 68, 3) ground-truth
    landmarks, ``yaw_deg`` (N,) ground-truth yaw (all in the crop frame, as Eq. 8 needs them)."""
    from ...train.loop import predict_batches
    r = predict_batches(net, dataset, batch_size)
    return {"coarse": r["lmk_coarse"], "refined": r["lmk_refined"], "gt": r["gt_landmarks"],
            "yaw_deg": r["gt_pose"][:, 0]}


def movement_table(result: dict, groups: dict | None = None) -> dict:
    """How far the refinement moves the points: mean 2D distance |L^r - L^c| per point, divided by
    Eq. 8's box size of the ground truth (x100, the NME's unit), per landmark group (rows; plus
    ``"all 68"``) and |yaw| bin (columns, :func:`m3lrn_lib.metrics.nme_by_yaw`'s keys).

    Args:
        result: :func:`shipped_refinement`'s dict. groups: ``{name: [indices]}`` (default the iBUG parts).
    Returns:
        ``{group: {bin: value, "All": mean of the bins, ...}}``."""
    if groups is None:
        from ...morphable.model import IBUG_PARTS as groups
    move = metrics.point_errors(result["refined"], result["coarse"], box_of=result["gt"])  # (N, 68)
    rows = {**groups, "all 68": list(range(move.shape[1]))}
    return {k: metrics.nme_by_yaw(move[:, idx].mean(1), result["yaw_deg"]) for k, idx in rows.items()}


def group_gain_table(result: dict, groups: dict | None = None) -> dict:
    """Per landmark group: the coarse and refined error (:func:`m3lrn_lib.metrics.group_nme`, x100),
    the gain (coarse - refined) and the share of faces whose group error the refinement lowers.
    ``{group: {"coarse", "refined", "gain", "faces_better"}}``, with an ``"all 68"`` row."""
    if groups is None:
        from ...morphable.model import IBUG_PARTS as groups
    err_c = metrics.point_errors(result["coarse"], result["gt"])                           # (N, 68)
    err_r = metrics.point_errors(result["refined"], result["gt"])
    rows = {**groups, "all 68": list(range(err_c.shape[1]))}
    out = {}
    for k, idx in rows.items():
        ec, er = err_c[:, idx].mean(1), err_r[:, idx].mean(1)                               # (N,)
        out[k] = {"coarse": float(100 * ec.mean()), "refined": float(100 * er.mean()),
                  "gain": float(100 * (ec - er).mean()), "faces_better": float((er < ec).mean())}
    return out


# ----------------------------------------------------------------------------- the bottleneck floor
def bottleneck_floor(model: FaceModel, synth, n: int, split: str = "test") -> dict:
    """Eq. 8 NME floors of a perfect first stage on ``n`` rendered faces of ``synth``.

    Faces ``0 .. n-1`` of ``split`` are rendered by ``synth`` (a
    :class:`~m3lrn_lib.data.synth.FaceSynthesizer` of ``model``); their stored parameters are the
    training target (for generator v2 the truncation of the full face) and their landmarks come
    from the full face. :func:`m3lrn_lib.morphable.bottleneck.bottleneck_nme` scores the target
    itself and the best 62-d fit against those landmarks.

    Returns:
        dict ``target_nme`` and ``best_fit_nme`` (n,) fractions, ``yaw_deg`` (n,), ``n``,
        ``version`` (the generator version).
    """
    from ...morphable.bottleneck import bottleneck_nme

    faces = [synth.face(split, i) for i in range(int(n))]
    res = bottleneck_nme(model, np.stack([f.params for f in faces]), np.stack([f.landmarks for f in faces]),
                         np.array([f.image.shape[0] for f in faces], np.float64))
    return {"target_nme": res["target_nme"], "best_fit_nme": res["best_fit_nme"],
            "yaw_deg": np.degrees([float(f.pose[0]) for f in faces]), "n": len(faces),
            "version": str(getattr(synth, "version", "?"))}


def format_floors(floors: dict, width: int = 14) -> str:
    """Rows ``world  faces  target NME  best 62-d fit`` as ``mean % +- std`` of ``{name: bottleneck_floor}``."""
    lines = [f"{'':<{width}}{'faces':>6}{'NME of the target (%)':>26}{'NME of the best 62-d fit (%)':>32}"]
    for name, f in floors.items():
        t, b = 100 * np.asarray(f["target_nme"]), 100 * np.asarray(f["best_fit_nme"])
        lines.append(f"{name:<{width}}{f['n']:>6}{f'{t.mean():.2f} +- {t.std():.2f}':>26}"
                     f"{f'{b.mean():.2f} +- {b.std():.2f}':>32}")
    return "\n".join(lines)
