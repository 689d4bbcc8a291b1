"""The 3DMM bottleneck (Sec. 1 and 3.2): what 62 numbers cannot hold of a face drawn from a fuller model.

A network of the 3DDFA family regresses 62 numbers: a 3x4 pose (Eq. 2) and the leading 40 shape
/ 10 expression coefficients (Eq. 1). When the ground truth comes from a model with more
components (BFM's 199 / 29, or the embedded model version 2's 150 / 29), part of every face is
outside that span. This module measures the leftover two ways:

- :func:`landmark_variance_outside_span`: the share of the 3D landmark variance (model frame,
  identity + expression) that no combination of the regressed components reaches;
- :func:`best_fit_62` / :func:`bottleneck_nme`: the 2D NME (Eq. 8) of the best 62-d fit to each
  ground-truth face in its image -- what a *perfect* first stage still gets wrong, i.e. what the
  refinement (M²FA) can win back -- next to the NME of the training target itself (the truncated
  coefficients, 3DDFA's convention).
"""
from __future__ import annotations

import numpy as np

from ..metrics import nme_2d
from .model import FaceModel

__all__ = ["landmark_rows", "landmark_variance_outside_span", "prior_bottleneck", "best_fit_62", "bottleneck_nme"]


def landmark_rows(model: FaceModel) -> np.ndarray:
    """(204,) rows ``3k, 3k+1, 3k+2`` of the flat bases that belong to the 68 landmark vertices."""
    return (3 * model.landmarks[:, None] + np.arange(3)[None, :]).reshape(-1)


def landmark_variance_outside_span(model: FaceModel, alpha_shp_full, alpha_exp_full) -> dict:
    """Share of the 3D landmark variance of faces outside the span of the regressed components.

    Args:
        model: a model with a full basis (``model.full_basis()``; without one the share is 0).
        alpha_shp_full: (B, K_s_full) full shape coefficients of B faces (mm);
        alpha_exp_full: (B, K_e_full) full expression coefficients.
    Returns:
        dict with ``outside_span`` (share of ``sum ||L - mean||^2`` that the least-squares best
        combination of the K_s + K_e regressed landmark columns leaves), ``truncation`` (the share
        the truncated coefficients leave: larger, since truncation is optimal for the whole mesh,
        not for the 68 points), and ``rms_outside_mm`` (root-mean-square leftover per landmark, mm).
    """
    rows = landmark_rows(model)
    full_s, _, full_e, _ = model.full_basis()
    a_s, a_e = np.asarray(alpha_shp_full, np.float64), np.asarray(alpha_exp_full, np.float64)
    D = a_s @ full_s[rows].T.astype(np.float64) + a_e @ full_e[rows].T.astype(np.float64)  # (B, 204)
    A = np.concatenate([model.shape_basis[rows], model.exp_basis[rows]], 1).astype(np.float64)  # (204, 50)
    coef, *_ = np.linalg.lstsq(A, D.T, rcond=None)
    resid = D - (A @ coef).T
    t_s, t_e = model.truncate(a_s, a_e)
    trunc = D - (t_s @ model.shape_basis[rows].T.astype(np.float64) + t_e @ model.exp_basis[rows].T.astype(np.float64))
    total = float((D ** 2).sum())
    return {"outside_span": float((resid ** 2).sum()) / total if total else 0.0,
            "truncation": float((trunc ** 2).sum()) / total if total else 0.0,
            "rms_outside_mm": float(np.sqrt((resid ** 2).sum() / (D.shape[0] * len(model.landmarks))))}


def _landmarks_2d(model: FaceModel, params: np.ndarray) -> np.ndarray:
    """(B, 62) parameters -> (B, 68, 2) landmark x, y in the parameters' own (y-up) frame."""
    rows = landmark_rows(model)
    k = model.n_shape
    P = params[:, :12].reshape(-1, 3, 4)
    flat = (model.mean.reshape(-1)[rows].astype(np.float64) + params[:, 12:12 + k] @ model.shape_basis[rows].T
            + params[:, 12 + k:] @ model.exp_basis[rows].T)
    L = flat.reshape(len(params), -1, 3)
    return np.einsum("bnj,bij->bni", L, P[:, :2, :3]) + P[:, None, :2, 3]


def best_fit_62(model: FaceModel, target_2d, init_params, iterations: int = 12) -> np.ndarray:
    """The 62-d parameters whose 2D landmarks are closest (least squares) to ``target_2d``.

    Alternating least squares, both steps exact: with the shape fixed the first two rows of the
    3x4 pose are a linear fit (the third row does not move 2D points and is kept); with the
    pose fixed the 50 coefficients are a linear fit. Started from ``init_params`` (e.g. the
    training target), every step can only lower the error.

    Args:
        model: the morphable model whose regression basis the parameters use.
        target_2d: (B, 68, 2) ground-truth landmarks in the parameters' frame (x right, y up).
        init_params: (B, 62) starting parameters (unwhitened).
        iterations: alternations.
    Returns:
        (B, 62) float64 best-fit parameters.
    """
    rows = landmark_rows(model)
    n = len(model.landmarks)
    mean = model.mean.reshape(-1)[rows].astype(np.float64).reshape(n, 3)
    U = np.concatenate([model.shape_basis[rows], model.exp_basis[rows]], 1).astype(np.float64).reshape(n, 3, -1)
    y = np.asarray(target_2d, np.float64)[..., :2]
    p = np.array(init_params, np.float64)
    for _ in range(iterations):
        L = mean[None] + np.einsum("njk,bk->bnj", U, p[:, 12:])  # (B, n, 3) shape in the model frame
        H = np.concatenate([L, np.ones((len(p), n, 1))], 2)  # (B, n, 4)
        rows2, *_ = zip(*[np.linalg.lstsq(H[b], y[b], rcond=None) for b in range(len(p))])
        P = p[:, :12].reshape(-1, 3, 4)
        P[:, :2] = np.stack(rows2).transpose(0, 2, 1)
        p[:, :12] = P.reshape(-1, 12)
        # pose fixed: y - (A mean + t) = A U alpha, (2n) x 50 per face
        A, t = P[:, :2, :3], P[:, :2, 3]
        rhs = (y - np.einsum("bij,nj->bni", A, mean) - t[:, None]).reshape(len(p), -1)
        M = np.einsum("bij,njk->bnik", A, U).reshape(len(p), 2 * n, -1)
        p[:, 12:] = np.stack([np.linalg.lstsq(M[b], rhs[b], rcond=None)[0] for b in range(len(p))])
    return p


def bottleneck_nme(model: FaceModel, params_img, landmarks_img, heights, iterations: int = 12) -> dict:
    """Eq. 8 NME of the training target and of the best 62-d fit against the full-face landmarks.

    Args:
        model: the regression model of the parameters.
        params_img: (B, 62) image-frame parameters of the training target (the truncated
            coefficients; what an AFLW2000-layout test set stores as ``params_img``).
        landmarks_img: (B, 68, >=2) ground-truth landmarks of the full face, image frame (y down).
        heights: (B,) image heights (the image frame is the view frame with ``y -> height - y``).
    Returns:
        dict ``target_nme`` and ``best_fit_nme``: (B,) arrays (fractions), ``best_params`` (B, 62).
    """
    params = np.asarray(params_img, np.float64)
    gt = np.array(landmarks_img, np.float64)[..., :2]
    gt[..., 1] = np.asarray(heights, np.float64).reshape(-1, 1) - gt[..., 1]  # view frame, y up
    fit = best_fit_62(model, gt, params, iterations)
    return {"target_nme": nme_2d(_landmarks_2d(model, params), gt),
            "best_fit_nme": nme_2d(_landmarks_2d(model, fit), gt), "best_params": fit}


def prior_bottleneck(model: FaceModel, n: int = 2000, seed: int = 0) -> dict:
    """:func:`landmark_variance_outside_span` for ``n`` faces drawn from the full prior.

    Coefficients are standard normal times the full basis's std (shape and expression), so the
    shares are those of the model itself, before any data-set choice (pose, expression rate).
    """
    full_s, std_s, full_e, std_e = model.full_basis()
    rng = np.random.default_rng(seed)
    return landmark_variance_outside_span(model, rng.standard_normal((n, full_s.shape[1])) * std_s,
                                          rng.standard_normal((n, full_e.shape[1])) * std_e)
