"""Evaluation of Sec. G on held-out synthetic faces with known UV textures (Fig. S5 / S6 numbers).

Methods compared on the same faces (all predict the *unlit* UV texture):

- ``pca_fit`` -- 3DMM texture fitting (:mod:`m3lrn_lib.texture.pca_fit`) to the visible texels of
  the image unwrapped with the ground-truth mesh;
- GAN generators (:class:`~m3lrn_lib.texture.gan.TextureGenerator`): with template (Fig. S4) and
  without (Fig. S6), from the face image alone;
- references: ``template`` (the mean albedo, what every method starts from) and
  ``pca_oracle`` -- the true texture projected on the albedo basis (least squares over the UV
  layout): the best any 3DMM fit could reach, whatever its lighting estimate.

Metrics per face, averaged over faces (colours in [0, 1]): L1 and PSNR (``10 log10(1 / MSE)``) over
the *visible* texels and over *all* texels of the UV layout, and SSIM (scikit-image, Gaussian
window) averaged over the layout.
"""
from __future__ import annotations

import numpy as np
import torch

from .gan import TextureGenerator, from_unit, template_texture, to_unit
from .pca_fit import fit_texture, texel_normals, uv_albedo_basis
from .synth import TexturePairs, uv_layout_mask

__all__ = ["texture_metrics", "generate_textures", "pca_fit_textures", "pca_projection", "evaluate_methods",
           "format_table", "comparison_figure", "METRICS"]

METRICS = ("l1_visible", "l1_all", "psnr_visible", "psnr_all", "ssim_all")


def _f(a) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float64) / 255 if a.dtype == np.uint8 else a.astype(np.float64)


def texture_metrics(pred, truth, visible, layout) -> dict:
    """Per-face metrics of (n, S, S, 3) predictions against (n, S, S, 3) true textures.

    Args:
        pred, truth: uint8 or float in [0, 1]; visible: (n, S, S) bool; layout: (S, S) bool.
    Returns:
        dict metric name -> (n,) float64 array (see :data:`METRICS`).
    """
    p, t = _f(pred), _f(truth)
    if p.shape != t.shape or p.ndim != 4 or p.shape[-1] != 3:
        raise ValueError(f"pred and truth must both be (n, S, S, 3), got {p.shape} and {t.shape}")
    vis = np.asarray(visible, bool) & np.asarray(layout, bool)[None]
    lay = np.broadcast_to(np.asarray(layout, bool)[None], vis.shape)
    p = np.clip(p, 0, 1)
    ae, se = np.abs(p - t).mean(-1), ((p - t) ** 2).mean(-1)
    out = {k: np.zeros(len(p)) for k in METRICS}
    from skimage.metrics import structural_similarity
    for i in range(len(p)):
        for name, m in (("visible", vis[i]), ("all", lay[i])):
            n = max(int(m.sum()), 1)
            out[f"l1_{name}"][i] = ae[i][m].sum() / n
            out[f"psnr_{name}"][i] = 10 * np.log10(1.0 / max(se[i][m].sum() / n, 1e-12))
        _, smap = structural_similarity(p[i], t[i], channel_axis=2, data_range=1.0, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False, full=True)
        out["ssim_all"][i] = smap.mean(-1)[lay[i]].mean()
    return out


@torch.no_grad()
def generate_textures(generator: TextureGenerator, images, batch: int = 32) -> np.ndarray:
    """Run a generator on (n, S, S, 3) uint8 (or float [0, 1]) face images -> (n, S, S, 3) float32 [0, 1]."""
    x = _f(images).astype(np.float32)
    S = generator.config.uv_size
    if x.ndim != 4 or x.shape[1:] != (S, S, 3):
        raise ValueError(f"images must be (n, {S}, {S}, 3) (RGB, resized to uv_size={S}), got {x.shape}")
    dev = next(generator.parameters()).device
    generator.eval()
    out = []
    for i in range(0, len(x), batch):
        t = torch.from_numpy(x[i:i + batch]).permute(0, 3, 1, 2).to(dev)
        out.append(from_unit(generator(to_unit(t))).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def pca_fit_textures(model, pairs: TexturePairs, **fit_kw) -> np.ndarray:
    """3DMM texture fits of every face of ``pairs`` (needs ``geometry=True`` pairs) -> (n, S, S, 3)."""
    if pairs.verts is None or pairs.observed is None:
        raise ValueError("pairs has no geometry: make it with make_pairs(..., geometry=True)")
    S = pairs.textures.shape[1]
    return np.stack([fit_texture(o, v, texel_normals(vt, model, S), model, **fit_kw).texture
                     for o, v, vt in zip(pairs.observed, pairs.visible, pairs.verts)])


def pca_projection(model, textures) -> np.ndarray:
    """The in-span texture closest (least squares over the UV layout) to each (n, S, S, 3) texture."""
    t = _f(textures)
    S = t.shape[1]
    texel, mean, basis, std = uv_albedo_basis(model, S)
    Bf = basis.reshape(-1, basis.shape[2])
    out = np.zeros_like(t)
    for i in range(len(t)):
        r = (t[i].reshape(-1, 3)[texel] - mean).reshape(-1)
        a = np.linalg.lstsq(Bf, r, rcond=None)[0] if Bf.shape[1] else np.zeros(0)
        full = t[i].reshape(-1, 3).copy()
        full[texel] = mean + (basis @ a if Bf.shape[1] else 0)
        out[i] = full.reshape(S, S, 3)
    return np.clip(out, 0, 1).astype(np.float32)


def evaluate_methods(model, pairs: TexturePairs, generators: dict | None = None, pca: bool = True,
                     references: bool = True, labels: dict | None = None) -> tuple[list[dict], dict]:
    """Score every method on ``pairs`` (with geometry when ``pca``).

    Args:
        generators: name -> :class:`TextureGenerator` (e.g. ``{"gan": g, "gan_no_template": g2}``).
        labels: name -> a note for the table (e.g. the training mode ``paired`` / ``adversarial``).
    Returns:
        rows (one dict per method: ``method``, ``note``, the mean of each metric, ``n``) and the
        predictions: name -> (n, S, S, 3) float32.
    """
    S = pairs.textures.shape[1]
    lay = uv_layout_mask(model, S)
    preds, notes = {}, dict(labels or {})
    if references:
        preds["template"] = np.broadcast_to(template_texture(model, S).permute(1, 2, 0).numpy(),
                                            pairs.textures.shape).astype(np.float32)
        notes.setdefault("template", "mean albedo (reference)")
    if pca:
        preds["pca_fit"] = pca_fit_textures(model, pairs)
        notes.setdefault("pca_fit", "3DMM albedo + SH lighting, least squares")
    for name, g in (generators or {}).items():
        preds[name] = generate_textures(g, pairs.images)
    if references:
        preds["pca_oracle"] = pca_projection(model, pairs.textures)
        notes.setdefault("pca_oracle", "truth projected on the basis (bound for any 3DMM fit)")
    rows = []
    for name, p in preds.items():
        m = texture_metrics(p, pairs.textures, pairs.visible, lay)
        rows.append({"method": name, "note": notes.get(name, ""), **{k: float(v.mean()) for k, v in m.items()},
                     "n": len(p)})
    return rows, preds


def format_table(rows: list[dict]) -> str:
    """Markdown table of :func:`evaluate_methods` rows."""
    head = "| method | L1 visible | L1 all | PSNR visible (dB) | PSNR all (dB) | SSIM all | note |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['l1_visible']:.4f} | {r['l1_all']:.4f} | {r['psnr_visible']:.2f} | "
                     f"{r['psnr_all']:.2f} | {r['ssim_all']:.3f} | {r.get('note', '')} |")
    return "\n".join(lines)


def comparison_figure(pairs: TexturePairs, preds: dict, indices=(0, 1, 2, 3), columns=None, titles=None,
                      size: float = 1.7):
    """Fig. S5/S6-style grid: one row per face; columns input image, the methods, truth.

    Args:
        preds: name -> (n, S, S, 3) predictions (:func:`evaluate_methods`).
        columns: which ``preds`` to show, in order (default all but references).
    Returns:
        a matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    cols = list(columns or [k for k in preds if k not in ("template", "pca_oracle")])
    names = ["input"] + cols + ["truth"]
    titles = dict(titles or {})
    idx = list(indices)
    fig, axes = plt.subplots(len(idx), len(names), figsize=(size * len(names), size * len(idx)), squeeze=False)
    for r, i in enumerate(idx):
        imgs = [pairs.renders[i] if pairs.renders is not None else pairs.images[i]] + \
               [preds[c][i] for c in cols] + [pairs.textures[i]]
        for c, (im, nm) in enumerate(zip(imgs, names)):
            ax = axes[r, c]
            ax.imshow(np.clip(_f(im), 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles.get(nm, nm), fontsize=8)
    fig.tight_layout()
    return fig
