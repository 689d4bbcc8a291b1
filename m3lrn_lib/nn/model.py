"""The M^3-LRN network (Fig. 2) with a switch for every ablation of the paper.

Data flow of :meth:`M3LRN.forward` (B faces, D = 12 + K_s + K_e, 68 landmarks)::

    images (B,3,120,120) --backbone--> z (B,1280) --3 FC heads--> params (B,D) whitened alpha
    params_raw = params * std + mean                                   (unwhiten)
    lmk_coarse = project_to_crop(model, params_raw, landmarks_only=True)  L^c (B,68,3)
    lmk_refined = M2FA(L^c, z, alpha_s, alpha_e)                        L^r (B,68,3)  [refine]
    params_lgs = LGS(L^r)            alpha_hat (B,D) whitened    [lgs; training, or with_lgs=True]
    pose = params_to_euler(params_raw)  (B,3) radians (yaw, pitch, roll)
    vertices = project_to_crop(model, params_raw)  (B,N,3)                [dense=True]

All landmarks live in the 120x120 crop's image frame in pixels (x right, y down, z depth,
see :mod:`m3lrn_lib.geometry`); M2FA and LGS read them in that frame. alpha_s, alpha_e fed to
M2FA (and to LGS setting2) are the *whitened* first-stage outputs.

Presets (:meth:`M3LRNConfig.preset`) and the paper's tables:

=====================  ===============================================  ==================
preset                 what                                             paper
=====================  ===============================================  ==================
``baseline``           first stage only                                 Table 1/6 row 1
``m2fa``               + M2FA (all modalities)                          Table 1/6 row 2
``lgs``                + LGS from L^c, no refinement                    Table 1/6 row 3
``full``               M2FA + LGS (all targets, default setting)        Table 1/6 row 4
``points_only``        M2FA with point features only                    Table 2/7 row 1
``points_image``       M2FA with point + image features                 Table 2/7 row 2
(``m2fa``)             M2FA with all modalities (MMPF)                  Table 2/7 row 3
``lgs_pose``           full, LGS regresses pose only                    Table 2/7 row 4
``lgs_shape_exp``      full, LGS regresses shape + expression           Table 2/7 row 5
(``full``)             full, LGS regresses all                          Table 2/7 row 6
``setting1``           LGS reads L^c (at the refinement step)           Table 3 row 1
``setting2``           LGS also aggregates z, alpha_s, alpha_e          Table 3 row 2
``baseline_extra_mlp`` first stage with MLP heads, ~ full model size    Table S2 (params)
``resnet50``           full model on a ResNet-50 backbone               Table S2 (backbone)
=====================  ===============================================  ==================
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import geometry
from ..morphable.model import FaceModel
from .backbone import build_backbone
from .heads import ExtraMLPHeads, ParamHeads, hidden_for_budget
from .lgs import LGS, LGS_SETTINGS, LGS_TARGETS
from .losses import LossWeights, total_loss
from .m2fa import M2FA, MODALITIES, check_points

__all__ = ["M3LRNConfig", "M3LRN", "PRESETS", "default_param_stats", "infer"]

PRESETS: dict[str, dict] = {
    "baseline": dict(refine=False, lgs=False),
    "m2fa": dict(refine=True, lgs=False),
    "lgs": dict(refine=False, lgs=True),
    "full": dict(),
    "baseline_extra_mlp": dict(refine=False, lgs=False, extra_mlp=True),
    "points_only": dict(lgs=False, mmpf="points"),
    "points_image": dict(lgs=False, mmpf="points+image"),
    "lgs_pose": dict(lgs_targets="pose"),
    "lgs_shape_exp": dict(lgs_targets="shape+exp"),
    "setting1": dict(lgs_setting="setting1"),
    "setting2": dict(lgs_setting="setting2"),
    "resnet50": dict(backbone="resnet50"),
}


@dataclass(frozen=True)
class M3LRNConfig:
    """Switches of :class:`M3LRN` (defaults: the full model of the paper).

    Attributes:
        backbone: ``'mobilenet_v2'`` | ``'resnet50'``; width_mult: MobileNet-V2 width (1.0).
        refine: use M2FA (L^r = M2FA(L^c, ...)); False -> L^r = L^c.
        lgs: build the landmark-to-3DMM regressor (run in training / with ``with_lgs=True``).
        mmpf: M2FA modalities ``'points'`` | ``'points+image'`` | ``'all'``.
        lgs_targets: ``'pose'`` | ``'shape+exp'`` | ``'all'``.
        lgs_setting: ``'default'`` (reads L^r) | ``'setting1'`` (reads L^c) | ``'setting2'``
            (reads L^r and z, alpha_s, alpha_e).
        extra_mlp: first-stage heads are MLPs (Table S2); extra_mlp_hidden: their width, or
            None to match the parameter count of M2FA + LGS of this model.
        adapt_image: an FC adaptation layer for z inside M2FA (+1.6M parameters, off).
        factorized_mmpf: M2FA's first decoder layer without materialising the 68x2418 MMPF
            (identical result, 25x fewer multiply-adds for that layer).
        g_detach: default ``detach`` of L_g in :meth:`M3LRN.loss` (None: both sides learn).
        lgs_detach_input: LGS reads a detached copy of its landmarks, so Eq. 5 (and Eq. 6 through
            alpha_hat) train LGS but do not reach the landmarks' producer through them (off: the
            paper says nothing of a stop-gradient; docs/cpu-recipe.md measures both for ``lgs``).
        lmk_kind: landmark loss, ``'smooth_l1'`` (paper) or ``'wing'`` (public code).
        input_size: crop size in pixels (120).
    """

    backbone: str = "mobilenet_v2"
    width_mult: float = 1.0
    refine: bool = True
    lgs: bool = True
    mmpf: str = "all"
    lgs_targets: str = "all"
    lgs_setting: str = "default"
    extra_mlp: bool = False
    extra_mlp_hidden: int | None = None
    adapt_image: bool = False
    factorized_mmpf: bool = True
    g_detach: str | None = None
    lgs_detach_input: bool = False
    lmk_kind: str = "smooth_l1"
    input_size: int = geometry.CROP_SIZE

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError for unknown values or switches that have no effect."""
        if self.backbone not in ("mobilenet_v2", "resnet50"):
            raise ValueError(f"backbone must be 'mobilenet_v2' or 'resnet50', got {self.backbone!r}")
        if self.mmpf not in MODALITIES:
            raise ValueError(f"mmpf must be one of {MODALITIES}, got {self.mmpf!r}")
        if self.lgs_targets not in LGS_TARGETS:
            raise ValueError(f"lgs_targets must be one of {LGS_TARGETS}, got {self.lgs_targets!r}")
        if self.lgs_setting not in LGS_SETTINGS:
            raise ValueError(f"lgs_setting must be one of {LGS_SETTINGS}, got {self.lgs_setting!r}")
        if self.g_detach not in (None, "alpha", "alpha_hat"):
            raise ValueError(f"g_detach must be None, 'alpha' or 'alpha_hat', got {self.g_detach!r}")
        if self.lmk_kind not in ("smooth_l1", "wing"):
            raise ValueError(f"lmk_kind must be 'smooth_l1' or 'wing', got {self.lmk_kind!r}")
        if not self.refine and self.mmpf != "all":
            raise ValueError("mmpf selects M2FA's modalities and needs refine=True")
        if not self.lgs and (self.lgs_targets != "all" or self.lgs_setting != "default" or self.lgs_detach_input):
            raise ValueError("lgs_targets / lgs_setting / lgs_detach_input need lgs=True")
        if self.extra_mlp_hidden is not None and not self.extra_mlp:
            raise ValueError("extra_mlp_hidden needs extra_mlp=True")

    @classmethod
    def preset(cls, name: str, **overrides) -> M3LRNConfig:
        """A named configuration (see the module docstring), optionally with overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @staticmethod
    def presets() -> list[str]:
        """Names accepted by :meth:`preset`."""
        return list(PRESETS)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_param_stats(model: FaceModel, size: int = geometry.CROP_SIZE, n: int = 4096, seed: int = 0):
    """Placeholder whitening statistics (mean, std), each (D,) float32, from the model's priors.

    Poses are sampled (yaw +-75 deg, pitch +-30, roll +-20, the face about 3/4 of the crop
    wide and centred, t_z ~ N(0, 10)); shape and expression have mean 0 and the model's prior
    std. Training code should pass the statistics of its training set instead.
    """
    g = np.random.default_rng(seed)
    lmk = model.mean[model.landmarks]
    s0 = 0.75 * size / float(np.linalg.norm(lmk[0] - lmk[16]))
    cy = float(lmk[:, 1].mean())
    deg = np.pi / 180
    s = s0 * g.uniform(0.85, 1.15, n)
    P = geometry.make_pose(g.uniform(-75, 75, n) * deg, g.uniform(-30, 30, n) * deg, g.uniform(-20, 20, n) * deg,
                    s, size / 2 + g.normal(0, 3, n), size / 2 - s * cy + g.normal(0, 3, n), g.normal(0, 10, n))
    mean = torch.cat([P.mean(0).float(), torch.zeros(model.n_shape + model.n_exp)])
    std = torch.cat([P.std(0).float(), torch.as_tensor(model.shape_std, dtype=torch.float32),
                     torch.as_tensor(model.exp_std, dtype=torch.float32)])
    return mean, std


def _float32(device_type: str):
    """Autocast switched off inside an autocast region (else nothing): what follows the backbone
    runs in float32."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def infer(net, images: torch.Tensor, lgs: bool = False, dense: bool = False, pose: bool = True) -> dict:
    """The one inference function: :meth:`M3LRN.forward` (after its checks) and the exported ONNX
    graph (:class:`m3lrn_lib.predict.onnx_export.InferenceGraph`, which runs it on BatchNorm-folded
    copies of the parts) both run it, so the export cannot drift from the model. See the module
    docstring for the data flow.

    Under :func:`torch.autocast` only the backbone runs in reduced precision: its features come
    back as float32, and the heads, the 3DMM reconstruction, M2FA and LGS run in float32 (pixel
    coordinates would lose ~0.4 px in bf16).

    Args:
        net: an :class:`M3LRN`, or a module holding its parts (``backbone``, ``heads``, ``m2fa``,
            ``lgs``, the ``param_mean`` / ``param_std`` buffers, ``face_model``, ``n_shape``, ``config``).
        images: (B, 3, 120, 120) normalised images of the network's dtype (not checked).
        lgs: run LGS (needs ``net.lgs``); dense: also the dense mesh; pose: also the Euler angles
            (False leaves ``pose`` out: no work on an output nobody asked for).
    Returns:
        the dict of :meth:`M3LRN.forward` (without ``losses``).
    """
    cfg = net.config
    z = net.backbone(images)  # (B, F)
    with _float32(images.device.type):
        z = z if z.dtype == torch.float32 else z.float()
        params = net.heads(z)  # (B, D) whitened
        params_raw = geometry.unwhiten(params, net.param_mean, net.param_std)
        a_s = params[:, geometry.POSE_DIM:geometry.POSE_DIM + net.n_shape]
        a_e = params[:, geometry.POSE_DIM + net.n_shape:]
        lmk_c = geometry.project_to_crop(net.face_model, params_raw, cfg.input_size, landmarks_only=True)
        lmk_r = net.m2fa(lmk_c, z, a_s, a_e) if net.m2fa is not None else lmk_c
        out = {"params": params, "params_raw": params_raw, "z": z, "lmk_coarse": lmk_c, "lmk_refined": lmk_r,
               "has_refinement": net.m2fa is not None}
        if pose:
            out["pose"] = geometry.params_to_euler(params_raw)
        if lgs:
            src = lmk_c if cfg.lgs_setting == "setting1" else lmk_r
            src = src.detach() if cfg.lgs_detach_input else src
            out["params_lgs"] = net.lgs(src, z, a_s, a_e)
            out["lgs_mask"] = net.lgs.mask
        if dense:
            out["vertices"] = geometry.project_to_crop(net.face_model, params_raw, cfg.input_size)
    return out


def _stat(x, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32).reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} entries but the face model has {n} parameters "
                         f"(12 pose + shape + expression); statistics of another morphable model?")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


class M3LRN(nn.Module):
    """M^3-LRN: first-stage 3DMM regression, M2FA refinement, LGS (Fig. 2; Sec. 3).

    Args:
        model: the :class:`~m3lrn_lib.morphable.FaceModel`; K_s and K_e size the heads and
            M2FA/LGS (D = 62 for the embedded 40/10 model, 58 for the Surrey model's 40/6).
        config: :class:`M3LRNConfig` or a preset name (default: ``'full'``).
        param_mean, param_std: (D,) whitening statistics of the training set (default:
            :func:`default_param_stats`). Stored as buffers (they travel with the state dict).

    The face model's :meth:`~FaceModel.fingerprint` is stored in the state dict (extra state);
    loading weights trained for another morphable model raises ValueError.
    """

    def __init__(self, model: FaceModel, config: M3LRNConfig | str | None = None, param_mean=None,
                 param_std=None):
        super().__init__()
        if isinstance(config, str) or config is None:
            config = M3LRNConfig.preset(config or "full")
        self.config, self.face_model = config, model
        self.fingerprint = model.fingerprint()
        self.n_shape, self.n_exp, self.n_params = model.n_shape, model.n_exp, model.n_params
        self.n_points = int(model.landmarks.shape[0])
        if param_mean is None or param_std is None:
            if param_mean is not None or param_std is not None:
                raise ValueError("give both param_mean and param_std, or neither")
            param_mean, param_std = default_param_stats(model, config.input_size)
        mean, std = _stat(param_mean, self.n_params, "param_mean"), _stat(param_std, self.n_params, "param_std")
        if (std <= 0).any():
            raise ValueError("param_std must be positive")
        self.register_buffer("param_mean", mean)
        self.register_buffer("param_std", std)

        kw = dict(width_mult=config.width_mult) if config.backbone == "mobilenet_v2" else {}
        self.backbone = build_backbone(config.backbone, **kw)
        zd = self.backbone.out_dim
        if config.extra_mlp:
            hidden = config.extra_mlp_hidden
            if hidden is None:  # match M2FA + LGS of the full model on this backbone / face model
                budget = sum(p.numel() for m in (M2FA(self.n_points, zd, self.n_shape, self.n_exp),
                                                 LGS(self.n_points, self.n_shape, self.n_exp, z_dim=zd))
                             for p in m.parameters())
                hidden = hidden_for_budget(zd, self.n_shape, self.n_exp, budget)
            self.heads = ExtraMLPHeads(zd, self.n_shape, self.n_exp, hidden)
        else:
            self.heads = ParamHeads(zd, self.n_shape, self.n_exp)
        self.m2fa = M2FA(self.n_points, zd, self.n_shape, self.n_exp, config.mmpf, config.adapt_image,
                         config.factorized_mmpf) if config.refine else None
        self.lgs = LGS(self.n_points, self.n_shape, self.n_exp, config.lgs_targets, config.lgs_setting,
                       zd) if config.lgs else None

    # ------------------------------------------------------------------ state dict
    def get_extra_state(self):
        return {"fingerprint": self.fingerprint, "n_params": self.n_params, "config": self.config.to_dict()}

    def set_extra_state(self, state):
        fp = state.get("fingerprint") if isinstance(state, dict) else None
        if fp is not None and fp != self.fingerprint:
            raise ValueError(f"these weights were trained for face model {fp} (D={state.get('n_params')}), "
                             f"but this network is built for {self.fingerprint} (D={self.n_params})")

    # ------------------------------------------------------------------ checks
    def check_images(self, images: torch.Tensor) -> None:
        """Raise ValueError unless ``images`` is a finite (B, 3, 120, 120) float batch
        (B >= 2 in training mode, where BatchNorm needs more than one sample)."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if not images.is_floating_point():
            raise ValueError(f"images must be floating point, normalised as (x - 127.5) / 128; got {images.dtype}")
        s = self.config.input_size
        if images.ndim != 4:
            raise ValueError(f"images must have shape (B, 3, {s}, {s}), got {tuple(images.shape)}")
        if images.shape[1] != 3:
            raise ValueError(f"images must have 3 (RGB) channels, got {images.shape[1]} "
                             f"(shape {tuple(images.shape)}; channels first)")
        if tuple(images.shape[2:]) != (s, s):
            raise ValueError(f"images must be {s}x{s} crops, got {images.shape[2]}x{images.shape[3]}")
        if images.shape[0] == 0:
            raise ValueError("empty batch")
        if self.training and images.shape[0] == 1:
            raise ValueError("a batch of one in training mode: BatchNorm needs B >= 2 "
                             "(call model.eval() for single images)")
        if not torch.isfinite(images).all():
            raise ValueError("images contain NaN or inf")

    def check_face_model(self, model: FaceModel) -> None:
        """Raise ValueError unless ``model`` is the morphable model this network was built for."""
        if model.fingerprint() != self.fingerprint:
            raise ValueError(f"face model {model.name!r} (D={model.n_params}, fingerprint {model.fingerprint()}) "
                             f"is not the one this network was built for (D={self.n_params}, "
                             f"fingerprint {self.fingerprint})")

    # ------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, targets=None, with_lgs: bool | None = None,
                dense: bool = False) -> dict:
        """Predict; see the module docstring for the data flow.

        Args:
            images: (B, 3, 120, 120) normalised ``(x - 127.5) / 128``.
            targets: optional batch dict (``target`` (B, D) whitened, ``landmarks`` (B, 68, 3))
                or a (B, D) whitened tensor; when given, ``outputs['losses']`` holds
                :meth:`loss` of it.
            with_lgs: run LGS; default: in training mode only. True needs ``config.lgs``.
            dense: also return the dense mesh.
        Returns:
            dict: ``params`` (B,D) whitened alpha, ``params_raw`` (B,D), ``z`` (B,F),
            ``lmk_coarse`` L^c and ``lmk_refined`` L^r (B,68,3), ``pose`` (B,3) radians
            (yaw, pitch, roll), ``has_refinement`` (bool); with LGS ``params_lgs`` (B,D)
            whitened alpha_hat (zeros outside ``lgs_mask``) and ``lgs_mask`` (D,) bool; with
            ``dense`` ``vertices`` (B,N,3) crop image frame.
        """
        self.check_images(images)
        if with_lgs and self.lgs is None:
            raise ValueError("with_lgs=True but this model has no LGS branch (config lgs=False)")
        run_lgs = self.lgs is not None and (self.training if with_lgs is None else bool(with_lgs))
        out = self.infer(images.to(self.param_mean.dtype), lgs=run_lgs, dense=dense)
        if targets is not None:
            out["losses"] = self.loss(out, targets)
        return out

    def infer(self, images: torch.Tensor, lgs: bool = False, dense: bool = False) -> dict:
        """:func:`infer` of this network: :meth:`forward` without its checks and losses."""
        return infer(self, images, lgs=lgs, dense=dense)

    # ------------------------------------------------------------------ losses
    def loss(self, outputs: dict, batch, weights: LossWeights | None = None, **kwargs) -> dict:
        """:func:`~m3lrn_lib.nn.losses.total_loss` against a batch.

        ``batch``: dict with ``target`` (B, D) whitened ground truth and optionally
        ``landmarks`` (B, 68, 3) in the crop image frame; without them (or for a bare (B, D)
        tensor) the ground-truth landmarks are reconstructed from the target parameters, as
        3DDFA's training set does. ``kwargs`` go to ``total_loss`` (``lmk_kind``, ``g_detach``,
        ``reduction``); defaults come from the config.
        """
        target = batch["target"] if isinstance(batch, dict) else batch
        geometry.check_params(target, self.n_params, "target parameters")
        target = target.to(outputs["params"])
        lmk = batch.get("landmarks") if isinstance(batch, dict) else None
        if lmk is None:
            raw = geometry.unwhiten(target, self.param_mean, self.param_std)
            lmk = geometry.project_to_crop(self.face_model, raw, self.config.input_size, landmarks_only=True)
        else:
            check_points(lmk, self.n_points, "ground-truth landmarks")
            lmk = lmk.to(outputs["params"])
        kwargs.setdefault("lmk_kind", self.config.lmk_kind)
        kwargs.setdefault("g_detach", self.config.g_detach)
        return total_loss(outputs, target, lmk, weights, **kwargs)

    # ------------------------------------------------------------------ reporting
    def parameter_counts(self) -> dict:
        """Parameters per sub-module (see :func:`m3lrn_lib.nn.counts.count_parameters`)."""
        from .counts import count_parameters
        return count_parameters(self)

    def extra_repr(self) -> str:
        return f"face_model={self.face_model.name!r}, D={self.n_params}, config={self.config}"
