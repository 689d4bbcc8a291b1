"""3DMM texture fitting (supplement Sec. G baseline): exact on in-span textures, over-smooth on detailed ones."""
import dataclasses

import numpy as np
import pytest

from m3lrn_lib.morphable import FaceModelError, load_face_model
from m3lrn_lib.texture.pca_fit import (
    fit_texture,
    fit_texture_to_image,
    light_prior,
    sh_basis,
    texel_normals,
    uv_albedo_basis,
)
from m3lrn_lib.texture.synth import TexturedFaceGenerator, TextureSynthConfig, uv_layout_mask

S = 32


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def face(model):
    return TexturedFaceGenerator(model, 1, TextureSynthConfig(uv_size=S, render_size=96)).face("test", 0)


def _in_span(model, coef):
    texel, mean, basis, _ = uv_albedo_basis(model, S)
    A = np.zeros((S * S, 3))
    A[texel] = mean + basis @ coef
    return A.reshape(S, S, 3)


def test_in_span_texture_recovered(model, face):
    n = texel_normals(face.verts, model, S)
    coef = face.albedo_coef.astype(np.float64)
    A = _in_span(model, coef)
    L = light_prior(0.55, 0.45, (0.3, 0.2, 0.93))
    obs = A * (sh_basis(n) @ L)
    lay = uv_layout_mask(model, S)
    known = fit_texture(obs, face.visible, n, model, lighting=L, noise=1e-3)  # linear: exact
    assert np.abs(known.texture - np.clip(A, 0, 1))[lay].mean() < 1e-4
    assert np.abs(known.coeffs - coef).max() < 1e-2 * np.abs(coef).max()
    free = fit_texture(obs, face.visible, n, model, noise=1e-3)  # light unknown (scale ambiguity)
    assert free.rms < 1e-3 and np.abs(free.texture - np.clip(A, 0, 1))[lay].mean() < 0.01
    np.testing.assert_allclose(free.rendered[face.visible], obs[face.visible], atol=5e-3)


def _roughness(t, mask):
    lap = 4 * t[1:-1, 1:-1] - t[:-2, 1:-1] - t[2:, 1:-1] - t[1:-1, :-2] - t[1:-1, 2:]
    return float(np.abs(lap)[mask[1:-1, 1:-1]].mean())


def test_detailed_texture_fit_is_smoother_than_truth(model, face):
    fit = fit_texture_to_image(face.image, face.verts, model, S)
    lay = uv_layout_mask(model, S)
    # the fit lies in the span of the basis (the truth does not) and is smoother than the truth
    from m3lrn_lib.texture.evaluate import pca_projection
    off_span = lambda t: np.abs(pca_projection(model, t[None])[0] - t)[lay].mean()  # noqa: E731
    assert off_span(fit.texture) < 2e-3 < 5e-3 < off_span(face.texture)
    assert _roughness(fit.texture, lay) < 0.85 * _roughness(face.texture, lay)
    err = np.abs(fit.texture - face.texture)[face.visible & lay].mean()
    assert 0.005 < err < 0.08       # close in colour, but the detail is missing
    assert fit.iterations >= 1 and fit.sh.shape == (9, 3) and fit.texture.shape == (S, S, 3)


def test_bad_inputs(model, face):
    n = texel_normals(face.verts, model, S)
    with pytest.raises(ValueError, match="observed must be an"):
        fit_texture(face.observed[..., :2], face.visible, n, model)
    with pytest.raises(ValueError, match="visible must have shape"):
        fit_texture(face.observed, face.visible[:-1], n, model)
    with pytest.raises(ValueError, match="normals must have shape"):
        fit_texture(face.observed, face.visible, n[:, :, :2], model)
    with pytest.raises(ValueError, match="visible texels"):
        fit_texture(face.observed, np.zeros_like(face.visible), n, model)
    with pytest.raises(ValueError, match="image must be an"):
        fit_texture_to_image(face.image[..., 0], face.verts, model, S)
    with pytest.raises(ValueError, match="verts_img must have shape"):
        fit_texture_to_image(face.image, face.verts[:100], model, S)
    with pytest.raises(ValueError, match="uv_size"):
        fit_texture_to_image(face.image, face.verts, model, 4)
    with pytest.raises(FaceModelError, match="no albedo"):
        uv_albedo_basis(dataclasses.replace(model, albedo_mean=None, albedo_basis=None, albedo_std=None), S)
