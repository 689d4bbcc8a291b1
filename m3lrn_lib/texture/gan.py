"""The UV-texture GAN of the supplement (Sec. G, Fig. S4): networks, LSGAN losses, lr schedule.

Fig. S4: the generator maps a face image *resized to the UV size* together with a *template
UV map* (the model's mean albedo in UV space) -- six input channels -- to the residual UV
space; the template is short-cut to the output, so the generator only learns what differs
from the mean face. Fig. S6's ablation drops the template: three input channels and the
texture predicted directly. Both use a ResNet backbone (the pix2pix / CycleGAN "ResNet
generator": 7x7 stem, two stride-2 downsamplings, residual blocks, two upsamplings, 7x7
head), trained against a PatchGAN discriminator with the least-squares GAN loss (LSGAN).

Tensors: images and textures are (B, 3, S, S) in [-1, 1] (``2 * x - 1`` of [0, 1] colours);
texel row ``(1 - v) * S``, column ``u * S`` (:mod:`m3lrn_lib.uv`).

- :class:`GeneratorConfig` / :class:`TextureGenerator` -- ``variant="template"`` (Fig. S4) or
  ``"no_template"`` (Fig. S6). A zero residual returns the template exactly.
- :class:`PatchDiscriminator` -- 70x70-style PatchGAN (fewer layers for small UV maps),
  conditional on the input image by default (pix2pix).
- :func:`lsgan_d_loss`, :func:`lsgan_g_loss` -- LSGAN with targets 1 (real) / 0 (fake).
- :func:`lr_factor` -- Adam's lr kept for the first part of training, then linearly to 0
  (paper: 300 epochs, decay after 100).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

__all__ = ["VARIANTS", "SUPPORTED_UV_SIZES", "GeneratorConfig", "DiscriminatorConfig", "TextureGenerator",
           "PatchDiscriminator", "lsgan_d_loss", "lsgan_g_loss", "lr_factor", "check_uv_size", "template_texture",
           "to_unit", "from_unit"]

VARIANTS = ("template", "no_template")
#: UV sizes the networks accept (powers of two; the generator halves the size twice).
SUPPORTED_UV_SIZES = (32, 64, 128, 256, 512)


def check_uv_size(uv_size, name: str = "uv_size") -> int:
    """``uv_size`` as an int, or ValueError naming ``name`` and the supported sizes."""
    if isinstance(uv_size, bool) or not isinstance(uv_size, (int, np.integer)) or int(uv_size) not in SUPPORTED_UV_SIZES:
        raise ValueError(f"{name}={uv_size!r} is not supported; choose one of {list(SUPPORTED_UV_SIZES)}")
    return int(uv_size)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] colours -> the networks' [-1, 1]."""
    return x * 2 - 1


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """The networks' [-1, 1] -> [0, 1] colours (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def template_texture(model, uv_size: int) -> torch.Tensor:
    """The Fig. S4 template: the model's mean albedo rendered into UV space -> (3, S, S) in [0, 1].

    Texels outside the UV layout take the nearest layout colours (push-pull fill), so the
    template has no black border. A model without albedo gets a constant skin colour.
    Raises :class:`~m3lrn_lib.morphable.FaceModelError` when the model has no UV coordinates.
    """
    from .. import render
    from ..uv import fill_texture_holes

    S = check_uv_size(uv_size)
    uv = model.require_uv()
    albedo = model.albedo_mean if model.albedo_mean is not None else np.tile([0.80, 0.60, 0.50], (model.n_vertices, 1))
    ras = render.rasterize_uv(uv, model.triangles, S)
    tex = torch.from_numpy(render.interpolate(ras, albedo)).permute(2, 0, 1)[None]
    vis = torch.from_numpy(ras.tri_id >= 0)[None]
    return fill_texture_holes(tex, vis)[0].clamp(0, 1).float()


# ----------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class GeneratorConfig:
    """Generator hyper-parameters (stored in checkpoints).

    Attributes:
        uv_size: S, one of :data:`SUPPORTED_UV_SIZES`.
        variant: ``template`` (Fig. S4: 6 input channels, residual + template shortcut) or
            ``no_template`` (Fig. S6: 3 input channels, texture predicted directly).
        ngf: channels after the stem (x2 per downsampling); n_blocks: residual blocks.
        norm: ``batch`` or ``instance`` (instance normalisation after the stem removes the image's
            global colour, which a texture needs).
    """

    uv_size: int = 64
    variant: str = "template"
    ngf: int = 16
    n_blocks: int = 6
    norm: str = "batch"

    def __post_init__(self):
        check_uv_size(self.uv_size, "uv_size")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is not one of {list(VARIANTS)}")
        if not (isinstance(self.ngf, int) and self.ngf >= 1 and isinstance(self.n_blocks, int) and self.n_blocks >= 0):
            raise ValueError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={self.ngf}, n_blocks={self.n_blocks}")
        if self.norm not in ("instance", "batch"):
            raise ValueError(f"norm={self.norm!r} must be 'instance' or 'batch'")

    @property
    def in_channels(self) -> int:
        return 6 if self.variant == "template" else 3

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PatchGAN hyper-parameters: ndf channels in the first layer, n_layers stride-2 blocks,
    ``conditional``: the discriminator also sees the input image (6 channels, pix2pix)."""

    ndf: int = 32
    n_layers: int = 2
    conditional: bool = True
    norm: str = "batch"

    def __post_init__(self):
        if not (self.ndf >= 1 and 1 <= self.n_layers <= 5):
            raise ValueError(f"ndf must be >= 1 and n_layers in [1, 5], got ndf={self.ndf}, n_layers={self.n_layers}")
        if self.norm not in ("instance", "batch"):
            raise ValueError(f"norm={self.norm!r} must be 'instance' or 'batch'")

    def to_dict(self) -> dict:
        return asdict(self)


def _norm(kind: str, ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=True) if kind == "instance" else nn.BatchNorm2d(ch)


# ----------------------------------------------------------------------------- generator
class _ResBlock(nn.Module):
    def __init__(self, ch: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), _norm(norm, ch),
                                  nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False),
                                  _norm(norm, ch))

    def forward(self, x):
        return x + self.body(x)


class TextureGenerator(nn.Module):
    """ResNet generator of Fig. S4 (``variant="template"``) or Fig. S6 (``"no_template"``).

    Args:
        config: a :class:`GeneratorConfig`.
        template: (3, S, S) template UV map in [0, 1] (:func:`template_texture`); required for
            the template variant (stored as a buffer, so it travels with the checkpoint).

    ``forward(image)``: (B, 3, S, S) face images in [-1, 1] (resized to the UV size) ->
    (B, 3, S, S) UV textures in [-1, 1] (not clamped; :func:`from_unit` clamps). The template
    variant computes ``template + residual(cat(image, template))``.
    """

    def __init__(self, config: GeneratorConfig, template: torch.Tensor | None = None):
        super().__init__()
        self.config = c = config
        S = c.uv_size
        if c.variant == "template":
            if template is None:
                raise ValueError("the template variant needs the template UV map (template_texture(model, uv_size))")
            t = torch.as_tensor(template, dtype=torch.float32)
            if t.shape != (3, S, S):
                raise ValueError(f"template must have shape (3, {S}, {S}) for uv_size={S}, got {tuple(t.shape)}")
            self.register_buffer("template", to_unit(t))
        else:
            self.template = None
        ngf = c.ngf
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(c.in_channels, ngf, 7, bias=False), _norm(c.norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=False), _norm(c.norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [_ResBlock(ch, c.norm) for _ in range(c.n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=False),
                       _norm(c.norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7))
        if c.variant == "template":  # start at the template: the residual begins near zero
            nn.init.normal_(self.head[1].weight, 0.0, 1e-3)
            nn.init.zeros_(self.head[1].bias)

    def check_input(self, image: torch.Tensor, name: str = "image") -> None:
        """ValueError naming ``name`` unless it is a (B, 3, S, S) float tensor."""
        S = self.config.uv_size
        if not torch.is_tensor(image) or not image.is_floating_point():
            raise ValueError(f"{name} must be a float tensor of shape (B, 3, {S}, {S})")
        if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[2:]) != (S, S):
            raise ValueError(f"{name} must have shape (B, 3, {S}, {S}) (3 channels, resized to uv_size={S}), "
                             f"got {tuple(image.shape)}")

    def residual(self, image: torch.Tensor) -> torch.Tensor:
        """The head's output: the residual (template variant) or the texture itself."""
        x = image
        if self.template is not None:
            x = torch.cat([image, self.template.expand(len(image), -1, -1, -1).to(image.dtype)], 1)
        return self.head(self.body(x))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        self.check_input(image)
        r = self.residual(image)
        if self.template is None:
            return torch.tanh(r)
        return self.template.to(r.dtype) + r


# ----------------------------------------------------------------------------- discriminator
class PatchDiscriminator(nn.Module):
    """PatchGAN: a fully convolutional classifier of overlapping patches.

    ``forward(texture, image=None)``: (B, 3, S, S) textures (and the (B, 3, S, S) input images
    when conditional) in [-1, 1] -> (B, 1, h, w) real/fake scores, one per patch (LSGAN: no
    sigmoid). With ``n_layers`` stride-2 layers the receptive field is 16 * 2**(n_layers-1) - 2
    + 18 texels (34 for 2 layers, 70 for 3).
    """

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        self.config = c = config or DiscriminatorConfig()
        ch_in = 6 if c.conditional else 3
        layers = [nn.Conv2d(ch_in, c.ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = c.ndf
        for i in range(1, c.n_layers):
            nxt = c.ndf * min(2 ** i, 8)
            layers += [nn.Conv2d(ch, nxt, 4, stride=2, padding=1, bias=False), _norm(c.norm, nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        nxt = c.ndf * min(2 ** c.n_layers, 8)
        layers += [nn.Conv2d(ch, nxt, 4, stride=1, padding=1, bias=False), _norm(c.norm, nxt), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(nxt, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, texture: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.conditional:
            if image is None:
                raise ValueError("this discriminator is conditional: pass the input image too")
            texture = torch.cat([image, texture], 1)
        return self.net(texture)


# ----------------------------------------------------------------------------- losses, schedule
def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Discriminator LSGAN loss ``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))`` (Mao et al. 2017)."""
    return 0.5 * (((real_scores - 1) ** 2).mean() + (fake_scores ** 2).mean())


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator LSGAN loss ``mean((D(G(x)) - 1)^2)``: fakes should be scored as real."""
    return ((fake_scores - 1) ** 2).mean()


def lr_factor(epoch: float, epochs: float, decay_start: float) -> float:
    """Multiplier of the initial lr at (fractional) ``epoch``: 1 before ``decay_start``, then
    linear to 0 at ``epochs`` (Sec. G: 300 epochs, lr 2e-4 kept for 100, then linearly to 0).

    >>> lr_factor(0, 300, 100), lr_factor(100, 300, 100), lr_factor(200, 300, 100), lr_factor(300, 300, 100)
    (1.0, 1.0, 0.5, 0.0)
    """
    if not 0 <= decay_start <= epochs or epochs <= 0:
        raise ValueError(f"need 0 <= decay_start <= epochs and epochs > 0, got decay_start={decay_start}, epochs={epochs}")
    if epoch < decay_start:
        return 1.0
    if epochs == decay_start:
        return 0.0
    return float(max(0.0, (epochs - epoch) / (epochs - decay_start)))
