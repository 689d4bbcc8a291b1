"""Exercises of notebook 07 (UV textures, 3DMM texture fitting, the UV-texture GAN). Expected answers
are computed from the library."""
import math

import numpy as np

from ..exercises import exercise


@exercise("07.1", "A predicted texture is off by exactly `err` in every channel of every texel (colours in "
          "[0, 1]). What is its PSNR in dB?",
          "PSNR = 10 * log10(MAX^2 / MSE) with MAX = 1; a constant error err gives MSE = err^2.",
          solution="float(10 * np.log10(1.0 / 0.05 ** 2))")
def _psnr(answer, err=0.05):
    want = 10 * math.log10(1.0 / float(err) ** 2)
    ok = abs(float(answer) - want) <= 1e-3
    return ok, f"{float(answer):.3f} dB" + ("" if ok else " is not 10 log10(1 / MSE)")


@exercise("07.2", "The paper trains the UV-texture GAN for `epochs` epochs with Adam at lr `lr`, kept for the "
          "first `decay_start` epochs and then decayed linearly to 0. Which learning rate is used at epoch "
          "`epoch`?",
          "After decay_start the rate falls linearly: lr * (epochs - epoch) / (epochs - decay_start) "
          "(m3lrn_lib.texture.lr_factor).",
          solution="2e-4 * lr_factor(250, 300, 100)")
def _lr(answer, epoch=250, epochs=300, decay_start=100, lr=2e-4):
    from ...texture.gan import lr_factor
    want = lr * lr_factor(epoch, epochs, decay_start)
    ok = abs(float(answer) - want) <= 1e-9 + 1e-6 * abs(want)
    return ok, f"lr {float(answer):.3g} at epoch {epoch}" + ("" if ok else " does not follow the linear decay")


@exercise("07.3", "Fit the 3DMM texture (default settings) to `face` and report the mean absolute error of the "
          "fitted texture against the true texture over the *visible* texels of the UV layout.",
          "fit_texture(face.observed, face.visible, texel_normals(face.verts, model, S), model).texture, then "
          "np.abs(fit - face.texture).mean(-1) averaged where face.visible & uv_layout_mask(model, S).",
          solution="fit_ex = fit_texture(face.observed, face.visible, texel_normals(face.verts, model, S), model)\n"
                   "visible_layout = face.visible & uv_layout_mask(model, S)\n"
                   "float(np.abs(fit_ex.texture - face.texture).mean(-1)[visible_layout].mean())")
def _fit_l1(answer, face=None, model=None):
    from ...texture.pca_fit import fit_texture, texel_normals
    from ...texture.synth import uv_layout_mask
    S = face.texture.shape[0]
    fit = fit_texture(face.observed, face.visible, texel_normals(face.verts, model, S), model)
    m = face.visible & uv_layout_mask(model, S)
    want = float(np.abs(fit.texture - face.texture).mean(-1)[m].mean())
    ok = abs(float(answer) - want) <= 1e-4
    return ok, f"L1 {float(answer):.4f}" + ("" if ok else " differs from the fit's error on the visible texels")
