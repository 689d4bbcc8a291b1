"""Small, CPU-sized experiments behind notebooks 03 (M2FA) and 04 (LGS and the losses).

Each function here is what a notebook cell calls when the logic is longer than a few lines.
Shapes use B for a batch, N for a data set, D = 12 + K_s + K_e parameters (62 for the
embedded model) and 68 landmarks; "whitened" means ``(alpha - mean) / std`` with the
training set's statistics, "raw" means crop-frame parameters, landmarks are in the 120x120
crop's image frame in pixels (see :mod:`m3lrn_lib.geometry`).

Notebook 03 -- refinement on simulated first-stage errors:

- :func:`stack_labels` -- the labels of a data set as stacked tensors (no images needed).
- :func:`perturb_params` -- a stand-in for an imperfect first stage (shrink + noise).
- :func:`train_refiner` / :func:`refine` -- train and apply an :class:`~m3lrn_lib.nn.M2FA` alone;
  :func:`refinement_experiment` runs both for several modality sets.
- :func:`nme_table`, :func:`group_nme`, :func:`residual_sign_stats` -- the reports.
- :func:`public_output_layer` -- the public code's last layer (BN + ReLU), to show its defect.

Notebook 04 -- landmark geometry and L_g:

- :func:`sample_prior_params` -- faces drawn from the model's priors and the generator's
  pose distribution, framed like the training crops (unlimited landmark/parameter pairs).
- :func:`train_lgs` / :func:`evaluate_lgs` / :func:`report_alpha_hat` -- LGS alone: landmarks -> alpha_hat.
- :func:`losses_by_hand` -- Eq. 3-7 written out on one forward pass's tensors;
  :func:`lg_gradient_flow` -- which modules L_g trains.
- :func:`public_loss_geometry` -- the public code's mis-indexed L_g (:func:`param_name` names entries).
- :func:`lg_experiment` -- short joint trainings with different lambda_4.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import geometry as G
from . import metrics as M
from .morphable.model import FaceModel

__all__ = ["LANDMARK_GROUPS", "stack_labels", "perturb_params", "coarse_from_whitened", "train_refiner",
           "refine", "refinement_experiment", "nme_table", "format_table", "group_nme", "residual_sign_stats",
           "public_output_layer", "sample_prior_params", "part_errors", "train_lgs", "report_alpha_hat",
           "evaluate_lgs", "param_name", "lg_gradient_flow", "losses_by_hand", "public_loss_geometry",
           "LgRun", "lg_experiment"]

#: iBUG-68 landmark groups (0-based indices).
LANDMARK_GROUPS = {"jaw": list(range(0, 17)), "brows": list(range(17, 27)), "nose": list(range(27, 36)),
                   "eyes": list(range(36, 48)), "mouth": list(range(48, 68))}


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
    return G.project_to_crop(model, G.unwhiten(whitened, mean, std), landmarks_only=True)


# ----------------------------------------------------------------------------- notebook 03
def _m2fa_inputs(m2fa, whitened: torch.Tensor, z=None):
    """z (B, F) (zeros if None), alpha_s (B, K_s), alpha_e (B, K_e) from whitened params."""
    B = whitened.shape[0]
    if z is None:
        z = whitened.new_zeros(B, m2fa.z_dim)
    a_s = whitened[:, G.POSE_DIM:G.POSE_DIM + m2fa.n_shape]
    a_e = whitened[:, G.POSE_DIM + m2fa.n_shape:]
    return z, a_s, a_e


def train_refiner(model: FaceModel, target: torch.Tensor, mean, std, modalities: str = "all",
                  steps: int = 300, batch_size: int = 64, lr: float = 3e-3, noise: float = 0.15,
                  shrink: float = 0.85, z: torch.Tensor | None = None, seed: int = 0,
                  log_every: int = 10) -> tuple[nn.Module, list[dict]]:
    """Train an :class:`~m3lrn_lib.nn.M2FA` alone to map coarse to ground-truth landmarks (Eq. 4).

    Every step draws a batch of ground-truth parameters, makes *fresh* coarse parameters with
    :func:`perturb_params` (an endless stream of first-stage mistakes), builds L^c from them, and minimises the smooth-L1 landmark loss of Eq. 4 between
    ``M2FA(L^c, z, alpha_s, alpha_e)`` and the ground-truth landmarks.

    Args:
        target: (N, D) whitened ground-truth parameters (the training faces). Use many distinct
            faces (e.g. :func:`sample_prior_params`): with a few hundred, M2FA -- the ``'all'``
            variant above all, whose alpha_s / alpha_e identify the face -- learns to recognise
            and memorise them.
        mean, std: (D,) whitening statistics.
        modalities: ``'points'`` | ``'points+image'`` | ``'all'`` (Table 2 rows 1-3).
        z: (N, F) image features of the same faces, or None for zeros (no image information).
        lr: Adam learning rate (Adam rather than the paper's SGD: it converges in the few
            hundred steps a CPU notebook can afford).
    Returns:
        ``(m2fa, history)``; history is a list of dicts ``step``, ``loss_lmk``, ``seconds``.
    """
    from .nn import M2FA
    from .nn.losses import loss_lmk

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m2fa = M2FA(n_points=int(model.landmarks.shape[0]), z_dim=1280 if z is None else z.shape[1],
                n_shape=model.n_shape, n_exp=model.n_exp, modalities=modalities)
    opt = torch.optim.Adam(m2fa.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gt_all = coarse_from_whitened(model, target, mean, std)  # (N, 68, 3) ground truth
    history, t0 = [], time.perf_counter()
    m2fa.train()
    for step in range(1, steps + 1):
        idx = torch.randint(len(target), (batch_size,), generator=g)
        coarse_w = perturb_params(target[idx], noise, shrink, g)
        lmk_c = coarse_from_whitened(model, coarse_w, mean, std)
        zz, a_s, a_e = _m2fa_inputs(m2fa, coarse_w, None if z is None else z[idx])
        loss = loss_lmk(m2fa(lmk_c, zz, a_s, a_e), gt_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            history.append({"step": step, "loss_lmk": float(loss.detach()), "seconds": time.perf_counter() - t0})
    return m2fa.eval(), history


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


def nme_table(predictions: dict, gt, yaw_deg) -> dict:
    """NME (x100) by |yaw| bin for several (N, 68, 3) landmark sets: ``{name: nme_by_yaw}``."""
    return {k: M.nme_by_yaw(M.nme_2d(v, gt), yaw_deg) for k, v in predictions.items()}


def format_table(table: dict, columns=("[0,30]", "(30,60]", "(60,90]", "All"), width: int = 24) -> str:
    """Rows ``name  v1  v2 ...`` of a ``{name: {column: value}}`` dict (values to 2 decimals)."""
    lines = [f"{'':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    for name, row in table.items():
        lines.append(f"{name:<{width}}" + "".join(f"{row[c]:>10.2f}" for c in columns))
    return "\n".join(lines)


def group_nme(pred, gt, groups: dict | None = None) -> dict:
    """Mean 2D error per landmark group, normalised like Eq. 8 (x100).

    Args:
        pred, gt: (N, 68, >=2) landmarks. groups: ``{name: [indices]}`` (default :data:`LANDMARK_GROUPS`).
    Returns:
        ``{group: value}`` -- the part of the NME that group's points contribute on average.
    """
    p, g = np.asarray(pred, np.float64)[..., :2], np.asarray(gt, np.float64)[..., :2]
    wh = g.max(axis=1) - g.min(axis=1)
    norm = np.sqrt(wh[:, 0] * wh[:, 1])[:, None]
    err = np.linalg.norm(p - g, axis=2) / norm  # (N, 68)
    return {k: float(err[:, idx].mean() * 100) for k, idx in (groups or LANDMARK_GROUPS).items()}


def residual_sign_stats(residual: torch.Tensor) -> dict:
    """Signs of a (B, 68, 3) residual L^r - L^c: min, max and the share of negative entries
    per coordinate (x, y, z)."""
    r = residual.detach()
    return {"min": float(r.min()), "max": float(r.max()),
            "negative_share": [float((r[..., i] < 0).float().mean()) for i in range(3)]}


def public_output_layer(channels: int = 128) -> nn.Module:
    """The public code's last M2FA layer: ``Conv1d(128, 3) + BatchNorm1d(3) + ReLU`` -- its
    output (the residual added to L^c) can never be negative. (B, 128, N) -> (B, 3, N)."""
    return nn.Sequential(nn.Conv1d(channels, 3, 1), nn.BatchNorm1d(3), nn.ReLU())


# ----------------------------------------------------------------------------- notebook 04
def sample_prior_params(model: FaceModel, n: int, seed: int = 0, split: str = "train",
                        size: int = G.CROP_SIZE) -> torch.Tensor:
    """Draw ``n`` faces from the priors and frame them like the training crops.

    Shape and expression come from the model's priors (clipped at 3 / 2.5 sd, expression
    switched off for 20% of the faces), the angles from the synthetic generator's pose
    distribution for ``split`` (:class:`m3lrn_lib.data.SynthConfig`), and the crop from the
    benchmark policy on the face's own landmarks with the generator's scale/centre jitter --
    the same recipe as the shipped training crops, without rendering any image.

    Returns:
        (n, D) float32 raw crop-frame parameters.
    """
    from .data.crop import box_from_landmarks, params_to_crop
    from .data.synth import SynthConfig

    cfg = SynthConfig()
    rng = np.random.default_rng([seed, 7])
    a_s = np.clip(rng.standard_normal((n, model.n_shape)), -3, 3) * model.shape_std
    a_e = (np.clip(rng.standard_normal((n, model.n_exp)), -2.5, 2.5) * model.exp_std
           * (rng.random((n, 1)) < cfg.p_expression))
    mix = np.asarray(cfg.train_yaw_mix if split == "train" else cfg.test_yaw_mix)
    b = rng.choice(3, size=n, p=mix / mix.sum())
    lo, hi = np.array([0.0, 30.0, 60.0])[b], np.array([30.0, 60.0, cfg.max_yaw])[b]
    yaw = rng.uniform(lo, hi) * np.where(rng.random(n) < 0.5, 1, -1)
    pitch = np.clip(rng.normal(0, cfg.pitch_std, n), -cfg.pitch_max, cfg.pitch_max)
    roll = np.clip(rng.normal(0, cfg.roll_std, n), -cfg.roll_max, cfg.roll_max)
    Rm = G.euler_to_matrix(torch.as_tensor(np.radians(np.stack([yaw, pitch, roll], 1)))).numpy()  # (n,3,3)
    coef = np.concatenate([a_s, a_e], 1)
    lmk = (model.mean[model.landmarks].reshape(1, -1).astype(np.float64)
           + coef @ np.concatenate([model.shape_basis, model.exp_basis], 1)[
               (3 * model.landmarks[:, None] + np.arange(3)).reshape(-1)].T).reshape(n, -1, 3)
    out = np.empty((n, model.n_params), np.float32)
    for i in range(n):
        L = lmk[i] @ Rm[i].T  # view frame, 1 px per mm
        box0 = box_from_landmarks(np.stack([L[:, 0], -L[:, 1]], 1))  # image frame of a height-0 image
        side0, c0 = box0[2] - box0[0], (box0[:2] + box0[2:]) / 2
        side = side0 * np.exp(rng.normal(0, cfg.crop_scale_jitter))
        c = c0 + rng.normal(0, cfg.crop_shift_jitter * side0, 2)
        unit = np.concatenate([np.concatenate([Rm[i], np.zeros((3, 1))], 1).reshape(-1), coef[i]])
        out[i] = params_to_crop(unit, np.concatenate([c - side / 2, c + side / 2]), 0.0, size)
    return torch.from_numpy(out)


def part_errors(pred: torch.Tensor, target: torch.Tensor, n_shape: int = 40) -> dict:
    """Mean squared error per parameter block (whitened (B, D) inputs): pose / shape / expr / all."""
    d = (pred - target) ** 2
    return {"pose": float(d[:, :G.POSE_DIM].mean()), "shape": float(d[:, G.POSE_DIM:G.POSE_DIM + n_shape].mean()),
            "expr": float(d[:, G.POSE_DIM + n_shape:].mean()), "all": float(d.mean())}


def train_lgs(model: FaceModel, mean, std, source: torch.Tensor | None = None, targets: str = "all",
              steps: int = 300, batch_size: int = 64, lr: float = 1e-3, input_noise: float = 0.0,
              n_prior: int = 20000, seed: int = 0, log_every: int = 10) -> tuple[nn.Module, list[dict]]:
    """Train an :class:`~m3lrn_lib.nn.LGS` alone: 68 3D landmarks -> alpha_hat (Eq. 5).

    Args:
        mean, std: (D,) whitening statistics (the training set's).
        source: (N, D) raw parameters to learn from, or None to draw ``n_prior`` faces with
            :func:`sample_prior_params` (landmarks are computed from the parameters, Eq. 1-2).
        targets: ``'pose'`` | ``'shape+exp'`` | ``'all'`` (Table 2 rows 4-6); the loss uses
            only the predicted entries.
        input_noise: std (px) of Gaussian noise added to the input landmarks at every step --
            in the full model LGS reads the *predicted* L^r, never clean landmarks.
        lr: Adam learning rate.
    Returns:
        ``(lgs, history)``; history: dicts ``step``, ``loss_3dmm_lmk``, ``seconds``.
    """
    from .nn import LGS
    from .nn.losses import loss_3dmm_lmk

    mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    raw = sample_prior_params(model, n_prior, seed) if source is None else torch.as_tensor(source, dtype=torch.float32)
    target = G.whiten(raw, mean, std)
    lmk = G.project_to_crop(model, raw, landmarks_only=True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    lgs = LGS(int(model.landmarks.shape[0]), model.n_shape, model.n_exp, targets=targets)
    opt = torch.optim.Adam(lgs.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    history, t0 = [], time.perf_counter()
    lgs.train()
    for step in range(1, steps + 1):
        idx = torch.randint(len(raw), (batch_size,), generator=g)
        x = lmk[idx]
        if input_noise:
            x = x + input_noise * torch.randn(x.shape, generator=g)
        loss = loss_3dmm_lmk(lgs(x), target[idx], lgs.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            history.append({"step": step, "loss_3dmm_lmk": float(loss.detach()), "seconds": time.perf_counter() - t0})
    return lgs.eval(), history


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
        raw = G.unwhiten(alpha_hat, mean, std)
        rebuilt = G.project_to_crop(model, raw, landmarks_only=True)
        gt_lmk = G.project_to_crop(model, G.unwhiten(target, mean, std), landmarks_only=True)
        out["landmarks"] = rebuilt
        out["nme"] = M.nme_by_yaw(M.nme_2d(rebuilt, gt_lmk), pose_deg[:, 0])
        out["pose"] = M.pose_mae(torch.rad2deg(G.params_to_euler(raw.double())), pose_deg)
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
    if i < G.POSE_DIM:
        r, c = divmod(i, 4)
        return f"P[{r},{c}]" + (f" (t_{'xyz'[r]})" if c == 3 else "")
    if i < G.POSE_DIM + n_shape:
        return f"shape {i - G.POSE_DIM}"
    return f"expr {i - G.POSE_DIM - n_shape}"


def lg_gradient_flow(net: nn.Module, images: torch.Tensor, detach: str | None = None) -> dict:
    """Which sub-modules does L_g (Eq. 6) alone train? Gradient norm per top-level module.

    Runs ``net`` (an :class:`~m3lrn_lib.nn.M3LRN` with LGS, kept in its current train/eval
    mode) on (B, 3, 120, 120) ``images``, back-propagates only
    :func:`~m3lrn_lib.nn.losses.loss_geometry` with ``detach`` (None, ``'alpha'`` or
    ``'alpha_hat'``) and returns ``{module name: gradient L2 norm}``; gradients are cleared after.
    """
    from .nn.losses import loss_geometry

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
    from .nn.losses import LossWeights

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


def public_loss_geometry(alpha: torch.Tensor, alpha_hat: torch.Tensor) -> torch.Tensor:
    """The public code's L_g: ``mse(alpha_hat[:, :50], alpha[:, 12:62])`` -- the first 50
    entries of one vector (12 pose + 38 shape) against shape+expression of the other."""
    return F.mse_loss(alpha_hat[:, :50], alpha[:, 12:62])


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
                  test_labels: dict | None = None) -> list[LgRun]:
    """Train ``M3LRN(model, preset)`` once per (seed, lambda_4) and measure on ``test_set``.

    Runs with the same seed share the initial weights and the batches; only lambda_4 (the
    weight of L_g, Eq. 6-7) differs, the other weights are the paper's.

    Args:
        train_set, test_set: readers (see :func:`m3lrn_lib.data.sample_datasets`).
        test_labels: optional :func:`stack_labels` of ``test_set`` with images (saves a pass).
    Returns:
        list of :class:`LgRun`, seeds outer, lambda_4 inner.
    """
    from .nn import M3LRN, LossWeights, M3LRNConfig
    from .runtime import seed_everything
    from .train import TrainSettings, train

    lab = test_labels or stack_labels(test_set, ("target", "landmarks", "pose"), images=True)
    runs = []
    for seed in seeds:
        for w_g in w_g_values:
            seed_everything(seed)
            net = M3LRN(model, M3LRNConfig.preset(preset, width_mult=width_mult), train_set.param_mean,
                        train_set.param_std)
            t0 = time.perf_counter()
            hist = train(net, train_set, TrainSettings(steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                                        weights=LossWeights(w_g=w_g), progress=False,
                                                        device="cpu"))
            sec = time.perf_counter() - t0
            net.eval()
            with torch.no_grad():
                out = net(lab["image"], with_lgs=True)
            a, hat, t = out["params"], out["params_lgs"], lab["target"]
            gt_deg = torch.rad2deg(lab["pose"])
            runs.append(LgRun(w_g, seed, hist, float(((a - hat) ** 2).mean()), float(((a - t) ** 2).mean()),
                              float(((hat - t) ** 2).mean()),
                              M.nme_by_yaw(M.nme_2d(out["lmk_refined"], lab["landmarks"]), gt_deg[:, 0]),
                              M.pose_mae(torch.rad2deg(out["pose"]), gt_deg), sec))
    return runs
