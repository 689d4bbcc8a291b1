"""Geometry of the 3DMM parameters (Sec. 3.1, Eq. 1-2), batched in torch (CPU or CUDA).

Parameter layout (62 numbers for a 40/10 model, as in the paper and 3DDFA_V2)::

    params[:, 0:12]   pose, the 3x4 matrix P = [s*R | t] row-major   (alpha_p)
    params[:, 12:52]  shape coefficients alpha_s (K_s = 40)
    params[:, 52:62]  expression coefficients alpha_e (K_e = 10)

Frames:

- *model frame*: right-handed, millimetres, x towards the subject's left, y up, z towards
  the camera (see :mod:`m3lrn_lib.morphable`).
- *view frame*: ``R_v = P[:, :3] R_f + t`` (Eq. 2) -- the face in pixel units of the crop,
  still right-handed with y up.
- *image frame*: the crop's pixel coordinates, x right, y down, origin at the top-left
  corner of the top-left pixel (pixel centres at integer + 0.5): ``x_img = x_v``,
  ``y_img = size - y_v``, ``z_img = z_v`` (larger z is closer to the camera). 3DDFA writes
  ``size + 1 - y`` because it puts pixel centres at integers starting at 1; ours differs from
  it by exactly one pixel in y.

Euler angles (one convention everywhere in this library), radians, ordered
``(yaw, pitch, roll)``::

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch)

acting on column vectors of the model frame. Positive yaw turns the nose towards image
right (the subject turns to their left); positive pitch turns the nose down; positive roll
rotates the face counter-clockwise as the viewer sees it. ``matrix_to_euler`` inverts this
with yaw in [-90, 90] deg; at gimbal lock (|yaw| = 90 deg) roll is set to 0. Other codebases read
the same matrix differently: :func:`matrix_to_angles` / :func:`angles_to_matrix` /
:func:`convert_angles` convert between ours, the paper's code's, 3DDFA_V2's and AFLW2000-3D's
``Pose_Para`` (:data:`ANGLE_CONVENTIONS`; worked example in ``docs/conventions.md``).

Bad numbers are never turned into made-up angles: a rotation with a NaN or inf entry gives NaN
for all three angles (:func:`matrix_to_euler`, :func:`params_to_euler`), and a degenerate pose
(a zero-norm row, or the first two rows parallel: no rotation can be read from it) is a
ValueError in :func:`params_to_euler`. Every batched function accepts an empty (0, D) batch and
returns an empty result of the right shape.
"""
from __future__ import annotations

import math

import torch

from .morphable.model import FaceModel

POSE_DIM = 12
CROP_SIZE = 120


# ----------------------------------------------------------------------------- checks
def check_params(params: torch.Tensor, n_params: int | None = None, name: str = "params") -> torch.Tensor:
    """Validate a (B, D) float parameter tensor; raise ValueError naming ``name``.

    Args:
        params: (B, D) floating tensor.
        n_params: expected D (e.g. ``model.n_params`` = 62), or None to skip the check.
    """
    if not isinstance(params, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(params).__name__}")
    if not params.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {params.dtype}")
    if params.ndim != 2:
        raise ValueError(f"{name} must have shape (B, {n_params or 'D'}), got {tuple(params.shape)}")
    if n_params is not None and params.shape[1] != n_params:
        raise ValueError(f"{name} must have {n_params} columns (12 pose + shape + expression), "
                         f"got {params.shape[1]}")
    if not torch.isfinite(params).all():
        bad = (~torch.isfinite(params)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name} contains NaN or inf (rows {bad[:10]})")
    return params


def split_params(params: torch.Tensor, n_shape: int = 40):
    """Split (B, 12+K_s+K_e) parameters into pose P (B,3,4), alpha_s (B,K_s), alpha_e (B,K_e)."""
    P = params[:, :POSE_DIM].reshape(-1, 3, 4)
    return P, params[:, POSE_DIM:POSE_DIM + n_shape], params[:, POSE_DIM + n_shape:]


def join_params(P: torch.Tensor, alpha_s: torch.Tensor, alpha_e: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_params`: (B,3,4), (B,K_s), (B,K_e) -> (B, 12+K_s+K_e)."""
    return torch.cat([P.reshape(-1, POSE_DIM), alpha_s, alpha_e], dim=1)


def whiten(params: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Whitened parameters ``(alpha - mean) / std``; all (B, D) or (D,) broadcastable."""
    return (params - mean) / std


def unwhiten(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Network output to parameters: ``alpha = z * std + mean`` (the 3DDFA convention)."""
    return z * std + mean


# ----------------------------------------------------------------------------- Eq. 1-2
def _points(flat: torch.Tensor, n: int) -> torch.Tensor:
    """(B, 3n) -> (B, n, 3); ``-1`` for the batch so that an exported graph has a constant shape here."""
    return flat.reshape(-1, n, 3) if flat.shape[0] else flat.reshape(0, n, 3)


def reconstruct_shape(model: FaceModel, alpha_s: torch.Tensor, alpha_e: torch.Tensor) -> torch.Tensor:
    """Eq. 1: frontal face ``R_f = Mat(M + U_s alpha_s + U_e alpha_e)``.

    Args:
        alpha_s: (B, K_s); alpha_e: (B, K_e).
    Returns:
        (B, N, 3) vertices in the model frame (mm).
    """
    t = model.tensors(alpha_s.device, alpha_s.dtype)
    flat = t.mean + alpha_s @ t.shape_basis.T + alpha_e @ t.exp_basis.T
    return _points(flat, model.n_vertices)


def apply_pose(P: torch.Tensor, verts: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``R_v = P[:, :3] R_f + t`` for (B,3,4) poses and (B,N,3) points -> (B,N,3)."""
    return verts @ P[:, :, :3].transpose(1, 2) + P[:, None, :, 3]


def reconstruct_vertices(model: FaceModel, params: torch.Tensor) -> torch.Tensor:
    """Dense mesh in the view frame (Eq. 1 then Eq. 2): (B, 62) -> (B, N, 3)."""
    check_params(params, model.n_params)
    P, a_s, a_e = split_params(params, model.n_shape)
    return apply_pose(P, reconstruct_shape(model, a_s, a_e))


def reconstruct_landmarks(model: FaceModel, params: torch.Tensor) -> torch.Tensor:
    """Fast path: only the 68 landmark rows of the bases (Eq. 1-2): (B, 62) -> (B, 68, 3).

    Equals ``reconstruct_vertices(model, params)[:, model.landmarks]`` at 68/N of the cost.
    """
    check_params(params, model.n_params)
    t = model.tensors(params.device, params.dtype)
    P = params[:, :POSE_DIM].reshape(-1, 3, 4)
    flat = t.lmk_mean + params[:, POSE_DIM:] @ t.lmk_basis.T  # U_s alpha_s + U_e alpha_e in one product
    return apply_pose(P, _points(flat, len(model.landmarks)))


def to_image(points: torch.Tensor, size: float = CROP_SIZE) -> torch.Tensor:
    """View frame -> image frame of a ``size`` crop: ``(x, size - y, z)``; (..., 3) -> (..., 3).

    Written as one multiply-add with constants (``-y + size`` is ``size - y`` exactly in IEEE
    arithmetic), so the exported graph has two nodes here, not eight."""
    sign = points.new_tensor([1.0, -1.0, 1.0])
    offset = points.new_tensor([0.0, float(size), 0.0])
    return points * sign + offset


def from_image(points: torch.Tensor, size: float = CROP_SIZE) -> torch.Tensor:
    """Image frame -> view frame (the y flip is its own inverse)."""
    return to_image(points, size)


def project_to_crop(model: FaceModel, params: torch.Tensor, size: float = CROP_SIZE,
                    landmarks_only: bool = False) -> torch.Tensor:
    """Scaled-orthographic projection into the crop: (B, 62) -> (B, N or 68, 3) image frame.

    x, y are pixels of the ``size`` x ``size`` crop (y down); z is depth in the same pixel
    units (larger = closer). Drop z for 2D landmarks.
    """
    pts = reconstruct_landmarks(model, params) if landmarks_only else reconstruct_vertices(model, params)
    return to_image(pts, size)


# ----------------------------------------------------------------------------- rotations
def _rx(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*a.shape, 3, 3)


def _ry(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*a.shape, 3, 3)


def _rz(a):
    c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*a.shape, 3, 3)


def euler_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) radians ``(yaw, pitch, roll)`` -> (..., 3, 3) ``Rz(roll) Ry(yaw) Rx(pitch)``."""
    yaw, pitch, roll = angles.unbind(-1)
    return _rz(roll) @ _ry(yaw) @ _rx(pitch)


def matrix_to_euler(R: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(..., 3, 3) rotation -> (..., 3) radians ``(yaw, pitch, roll)``, inverse of
    :func:`euler_to_matrix` with yaw in [-pi/2, pi/2].

    At gimbal lock (|yaw| = pi/2) only pitch -/+ roll is defined: roll is set to 0. A matrix
    with a NaN or inf entry gives NaN for all three angles (never a made-up 0).
    """
    sy = (-R[..., 2, 0]).clamp(-1.0, 1.0)
    yaw = torch.asin(sy)
    cos_y = torch.sqrt(torch.clamp(1 - sy * sy, min=0.0))
    regular = cos_y > eps
    pitch = torch.where(regular, torch.atan2(R[..., 2, 1], R[..., 2, 2]),
                        torch.atan2(sy.sign() * R[..., 0, 1], R[..., 1, 1]))
    roll = torch.where(regular, torch.atan2(R[..., 1, 0], R[..., 0, 0]), torch.zeros_like(yaw))
    out = torch.stack([yaw, pitch, roll], dim=-1)
    bad = ~torch.isfinite(R).flatten(-2).all(-1)
    return torch.where(bad[..., None], torch.full_like(out, float("nan")), out)


def matrix_to_euler_3ddfa_v2(R: torch.Tensor) -> torch.Tensor:
    """Angles as 3DDFA_V2 reports them for the same matrix, (..., 3) ``(yaw, pitch, roll)``.

    Its formula: yaw = asin(R[2,0]) (gimbal-lock branch at |R[2,0]| > 0.998),
    pitch = atan2(R[2,1], R[2,2]), roll = atan2(R[1,0], R[0,0]). Away from gimbal lock
    this is ours with the sign of yaw flipped (see :func:`euler_from_3ddfa_v2`).
    """
    r20 = R[..., 2, 0].clamp(-1.0, 1.0)
    yaw = torch.asin(r20)
    c = torch.cos(yaw)
    lock = r20.abs() > 0.998
    pitch = torch.where(lock, torch.atan2(r20.sign() * R[..., 0, 1], R[..., 1, 1]),
                        torch.atan2(R[..., 2, 1] / c, R[..., 2, 2] / c))
    roll = torch.where(lock, torch.zeros_like(yaw), torch.atan2(R[..., 1, 0] / c, R[..., 0, 0] / c))
    return torch.stack([yaw, pitch, roll], dim=-1)


def euler_from_3ddfa_v2(angles: torch.Tensor) -> torch.Tensor:
    """3DDFA_V2 ``(yaw, pitch, roll)`` -> ours: yaw changes sign, pitch and roll agree."""
    return angles * angles.new_tensor([-1.0, 1.0, 1.0])


def euler_to_3ddfa_v2(angles: torch.Tensor) -> torch.Tensor:
    """Ours -> 3DDFA_V2 ``(yaw, pitch, roll)`` (the inverse of :func:`euler_from_3ddfa_v2`)."""
    return euler_from_3ddfa_v2(angles)


# ----------------------------------------------------------------------------- angle conventions
#: Head-pose angle conventions :func:`matrix_to_angles` / :func:`angles_to_matrix` read and write.
#: Each one's angles come in its own order (radians):
#:
#: - ``"ours"``: ``(yaw, pitch, roll)`` of ``R = Rz(roll) Ry(yaw) Rx(pitch)`` (:func:`matrix_to_euler`);
#: - ``"paper_code"``: ``(yaw, pitch, roll)`` as the paper's public code reads a rotation: yaw =
#:   asin(R[2,0]), pitch = atan2(R[1,2], R[2,2]), roll = atan2(R[0,1], R[0,0]). Its yaw is ours
#:   negated; its pitch and roll are our formulas applied to R^T, so they are not ours, not even
#:   in sign, once the other angles are non-zero;
#: - ``"3ddfa_v2"``: ``(yaw, pitch, roll)`` as 3DDFA_V2 reads it (:func:`matrix_to_euler_3ddfa_v2`,
#:   with its gimbal-lock branch at |R[2,0]| > 0.998): ours with yaw negated elsewhere;
#: - ``"pose_para"``: ``(pitch, yaw, roll)``, the first three numbers of AFLW2000-3D / 300W-LP
#:   ``Pose_Para``: our angles of R^T (Zhu et al.'s transposed elementary rotations; see
#:   :mod:`m3lrn_lib.data.layouts`), reordered.
ANGLE_CONVENTIONS = ("ours", "paper_code", "3ddfa_v2", "pose_para")


def check_angle_convention(name: str) -> str:
    """``name`` if it is one of :data:`ANGLE_CONVENTIONS`; else a ValueError that lists them."""
    if name not in ANGLE_CONVENTIONS:
        raise ValueError(f"unknown angle convention {name!r}; valid: {', '.join(ANGLE_CONVENTIONS)}")
    return name


def matrix_to_angles(R: torch.Tensor, convention: str = "ours") -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) radians in ``convention``'s order (:data:`ANGLE_CONVENTIONS`)."""
    check_angle_convention(convention)
    if convention == "ours":
        return matrix_to_euler(R)
    if convention == "3ddfa_v2":
        return matrix_to_euler_3ddfa_v2(R)
    if convention == "pose_para":
        return matrix_to_euler(R.transpose(-1, -2))[..., [1, 0, 2]]
    yaw = torch.asin(R[..., 2, 0].clamp(-1.0, 1.0))
    pitch = torch.atan2(R[..., 1, 2], R[..., 2, 2])
    roll = torch.atan2(R[..., 0, 1], R[..., 0, 0])
    return torch.stack([yaw, pitch, roll], dim=-1)


def angles_to_matrix(angles: torch.Tensor, convention: str = "ours") -> torch.Tensor:
    """(..., 3) radians in ``convention``'s order -> (..., 3, 3) rotations; the inverse of
    :func:`matrix_to_angles` (away from gimbal lock).

    Not every triple of the paper's code is the reading of a rotation: its pitch and roll fix R^T's,
    and then sin(yaw) = cos(roll) sin(y') cos(pitch) + sin(roll) sin(pitch) must have a solution y' in
    [-90, 90] deg. Triples without one give a NaN matrix (never a made-up rotation).
    """
    check_angle_convention(convention)
    a = angles
    if convention == "ours":
        return euler_to_matrix(a)
    if convention == "3ddfa_v2":
        return euler_to_matrix(euler_from_3ddfa_v2(a))
    if convention == "pose_para":
        return euler_to_matrix(a[..., [1, 0, 2]]).transpose(-1, -2)
    yaw, pitch, roll = a.unbind(-1)
    denom = torch.cos(roll) * torch.cos(pitch)
    sy = (torch.sin(yaw) - torch.sin(roll) * torch.sin(pitch)) / denom
    tol = 1e-6
    ok = torch.isfinite(sy) & (sy.abs() <= 1 + tol)
    y_t = torch.asin(sy.clamp(-1.0, 1.0))
    Rt = euler_to_matrix(torch.stack([y_t, pitch, roll], -1))       # R^T in our convention
    R = Rt.transpose(-1, -2)
    return torch.where(ok[..., None, None], R, torch.full_like(R, float("nan")))


def convert_angles(angles: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """(..., 3) radians of convention ``src`` -> the same rotations' angles in ``dst``
    (both of :data:`ANGLE_CONVENTIONS`; each in its own order), through the matrix."""
    check_angle_convention(src)
    check_angle_convention(dst)
    return matrix_to_angles(angles_to_matrix(angles, src), dst)


def pose_to_sRt(P: torch.Tensor):
    """Decompose (B,3,4) ``[sR | t]`` into scale (B,), rotation (B,3,3), translation (B,3).

    Follows 3DDFA: normalise the first two rows of ``P[:, :3]``, ``r3 = r1 x r2``; the
    scale is the mean norm of those two rows. Exact for a true scaled rotation and a
    projection onto SO(3) for a noisy (predicted) one.
    """
    A = P[:, :, :3]
    n1, n2 = A[:, 0].norm(dim=1), A[:, 1].norm(dim=1)
    r1 = A[:, 0] / n1[:, None]
    r2 = A[:, 1] / n2[:, None]
    r3 = torch.linalg.cross(r1, r2, dim=1)
    return (n1 + n2) / 2, torch.stack([r1, r2, r3], dim=1), P[:, :, 3]


def sRt_to_pose(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B,), (B,3,3), (B,3) -> (B,3,4) ``[s R | t]``."""
    return torch.cat([s[:, None, None] * R, t[:, :, None]], dim=2)


def params_to_euler(params: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Head pose of (B, D >= 12) parameters as (B, 3) radians ``(yaw, pitch, roll)``.

    A row whose 3x3 block holds NaN or inf gives NaN for all three angles. A degenerate pose (a
    zero-norm first or second row of the 3x3 block, or the two rows parallel, up to ``eps``
    relative) raises ValueError naming the rows; so does a tensor that is not (B, 12+).
    """
    if not isinstance(params, torch.Tensor):
        raise TypeError(f"params must be a torch.Tensor, got {type(params).__name__}")
    if params.ndim != 2 or params.shape[1] < POSE_DIM:
        raise ValueError(f"params must have shape (B, 12+) (12 pose numbers first), got {tuple(params.shape)}")
    P = params[:, :POSE_DIM].reshape(-1, 3, 4)
    A = P[:, :, :3]
    finite = torch.isfinite(A).flatten(1).all(1)
    n1, n2 = A[:, 0].norm(dim=1), A[:, 1].norm(dim=1)
    cross = torch.linalg.cross(A[:, 0], A[:, 1], dim=1).norm(dim=1)
    degenerate = finite & ((n1 <= eps) | (n2 <= eps) | (cross <= eps * n1 * n2))
    if bool(degenerate.any()):
        rows = degenerate.nonzero().flatten().tolist()
        raise ValueError(f"params: degenerate rotation in rows {rows[:10]} (a zero-norm or parallel row of the "
                         "3x3 pose block; no head pose can be read from it)")
    _, R, _ = pose_to_sRt(P)
    out = matrix_to_euler(R)
    return torch.where(finite[:, None], out, torch.full_like(out, float("nan")))


def make_pose(yaw, pitch, roll, scale, tx, ty, tz=0.0) -> torch.Tensor:
    """Build (B, 12) pose parameters from angles (radians), scale (px/mm) and translation.

    Scalars or 1-D tensors of equal length; returns float32 row-major ``[sR | t]``.
    """
    vals = [torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (yaw, pitch, roll, scale, tx, ty, tz)]
    vals = torch.broadcast_tensors(*vals)
    R = euler_to_matrix(torch.stack(vals[:3], -1))
    P = sRt_to_pose(vals[3], R, torch.stack(vals[4:], -1))
    return P.reshape(-1, POSE_DIM)


def degrees(x):
    """Radians -> degrees for tensors or floats."""
    return x * (180.0 / math.pi)


# ----------------------------------------------------------------------------- mirroring
def mirror_points(points: torch.Tensor, perm, size: float = CROP_SIZE) -> torch.Tensor:
    """Flip image-frame points of a ``size``-wide crop horizontally and re-label them.

    Args:
        points: (B, K, 2 or 3) in the image frame; perm: (K,) mirror permutation
        (``model.landmark_mirror`` for the 68 landmarks).
    Returns:
        (B, K, 2 or 3): ``x -> size - x``, then point i takes the flipped point ``perm[i]``.
    """
    out = points.clone()
    out[..., 0] = size - out[..., 0]
    return out[:, torch.as_tensor(perm, device=points.device)]


def mirror_params(model: FaceModel, params: torch.Tensor, size: float = CROP_SIZE) -> torch.Tensor:
    """Parameters of the horizontally flipped crop: (B, 62) -> (B, 62).

    With F = diag(-1, 1, 1): ``P3' = F P3 F``, ``t' = F t + (size, 0, 0)``, and the
    coefficients go through the model's mirror operators (``shape_mirror``,
    ``exp_mirror``). Then ``reconstruct_landmarks(mirror_params(p))`` equals
    ``mirror_points(reconstruct_landmarks(p), model.landmark_mirror)`` (exactly for a
    symmetric model such as the embedded default).
    """
    check_params(params, model.n_params)
    if model.shape_mirror is None or model.exp_mirror is None:
        raise ValueError(f"face model {model.name!r} has no coefficient-space mirror operator")
    P, a_s, a_e = split_params(params, model.n_shape)
    F = params.new_tensor([-1.0, 1.0, 1.0])
    A = P[:, :, :3] * F[None, :, None] * F[None, None, :]
    t = P[:, :, 3] * F + params.new_tensor([size, 0.0, 0.0])
    Ms = torch.as_tensor(model.shape_mirror, dtype=params.dtype, device=params.device)
    Me = torch.as_tensor(model.exp_mirror, dtype=params.dtype, device=params.device)
    return join_params(torch.cat([A, t[:, :, None]], 2), a_s @ Ms.T, a_e @ Me.T)
