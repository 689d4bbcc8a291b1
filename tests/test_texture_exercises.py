"""Exercise checkers of notebook 07 (PSNR, the GAN's lr schedule, the texture fit's error) and the
helpers for real photos (face_input / predict_texture) with their input checks."""
import numpy as np
import pytest

from m3lrn_lib.course.exercises import check, list_exercises
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.texture import (
    GeneratorConfig,
    TextureGenerator,
    face_input,
    fit_texture,
    predict_texture,
    template_texture,
    texel_normals,
    uv_layout_mask,
)
from m3lrn_lib.texture.synth import TexturedFaceGenerator, TextureSynthConfig


def test_registry_has_notebook_07():
    assert {"07.1", "07.2", "07.3"} <= {e.key for e in list_exercises()}


def test_nb07_answers(monkeypatch):
    assert check("07.1", 26.0206) and not check("07.1", 13.01)
    assert check("07.1", 20.0, err=0.1) and not check("07.1", 26.02, err=0.1)
    assert check("07.2", 5e-5) and not check("07.2", 2e-4)
    assert check("07.2", 2e-4, epoch=50) and check("07.2", 1e-4, epoch=200)
    model = load_face_model()
    face = TexturedFaceGenerator(model, 0, TextureSynthConfig(uv_size=32, render_size=64)).face("test", 1)
    fit = fit_texture(face.observed, face.visible, texel_normals(face.verts, model, 32), model)
    m = face.visible & uv_layout_mask(model, 32)
    l1 = float(np.abs(fit.texture - face.texture).mean(-1)[m].mean())
    assert check("07.3", l1, face=face, model=model)
    assert not check("07.3", float(np.abs(fit.texture - face.texture).mean()), face=face, model=model)
    monkeypatch.setenv("M3LRN_SOLUTIONS", "1")
    with pytest.raises(AssertionError):
        check("07.2", 2e-4)


def test_face_input_and_predict_texture():
    model = load_face_model()
    img = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    x, box = face_input(img, 32, box=[20, 10, 80, 70])
    assert x.shape == (32, 32, 3) and x.dtype == np.uint8 and np.allclose(box, [20, 10, 80, 70])
    lm = np.stack([np.linspace(30, 90, 68), np.linspace(20, 70, 68)], 1)
    x2, box2 = face_input(img, 32, landmarks=lm)
    assert box2[2] - box2[0] == pytest.approx(1.3 * 60)
    g = TextureGenerator(GeneratorConfig(32, ngf=4, n_blocks=1), template_texture(model, 32)).eval()
    t = predict_texture(g, img, box=[20, 10, 80, 70])
    assert t.shape == (32, 32, 3) and 0 <= t.min() and t.max() <= 1
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\) RGB image, got shape \(90, 120\)"):
        face_input(img[..., 0], 32, box=[0, 0, 10, 10])
    with pytest.raises(ValueError, match="RGB image"):
        face_input(np.zeros((90, 120, 4), np.uint8), 32, box=[0, 0, 10, 10])
    with pytest.raises(ValueError, match="exactly one of"):
        face_input(img, 32)
    with pytest.raises(ValueError, match="landmarks must be"):
        face_input(img, 32, landmarks=lm[:10])
    with pytest.raises(ValueError, match=r"images must be \(n, 32, 32, 3\)"):
        from m3lrn_lib.texture import generate_textures
        generate_textures(g, np.zeros((2, 64, 64, 3), np.uint8))
