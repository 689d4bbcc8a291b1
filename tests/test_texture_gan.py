"""UV-texture GAN pieces (supplement Sec. G, Fig. S4/S6): shapes, the template shortcut, LSGAN, the lr
schedule, checkpoints and their refusals."""
import dataclasses

import pytest
import torch

from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.texture.checkpoint import TextureCheckpointError, export_generator, load_generator, load_texture_file
from m3lrn_lib.texture.gan import (
    SUPPORTED_UV_SIZES,
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    TextureGenerator,
    lr_factor,
    lsgan_d_loss,
    lsgan_g_loss,
    template_texture,
    to_unit,
)

S = 32


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.fixture(scope="module")
def tpl(model):
    return template_texture(model, S)


def _gen(tpl, variant="template", norm="batch"):
    torch.manual_seed(0)
    return TextureGenerator(GeneratorConfig(S, variant, ngf=4, n_blocks=1, norm=norm),
                            tpl if variant == "template" else None)


def test_template_texture(model, tpl):
    assert tpl.shape == (3, S, S) and 0 <= float(tpl.min()) and float(tpl.max()) <= 1
    # it is the mean albedo: texel colours lie within the range of the vertex colours
    lo, hi = model.albedo_mean.min(0), model.albedo_mean.max(0)
    t = tpl.permute(1, 2, 0).reshape(-1, 3).numpy()
    assert (t >= lo - 1e-4).all() and (t <= hi + 1e-4).all()


@pytest.mark.parametrize("variant,channels", [("template", 6), ("no_template", 3)])
def test_generator_shapes(tpl, variant, channels):
    g = _gen(tpl, variant)
    assert g.body[1].weight.shape[1] == channels          # the stem sees image (+ template)
    out = g(torch.rand(2, 3, S, S) * 2 - 1)
    assert out.shape == (2, 3, S, S)
    if variant == "no_template":
        assert out.abs().max() < 1                         # tanh output


def test_zero_residual_returns_template(tpl):
    g = _gen(tpl).eval()
    with torch.no_grad():
        g.head[1].weight.zero_()
        g.head[1].bias.zero_()
    out = g(torch.rand(3, 3, S, S) * 2 - 1)
    assert torch.equal(out, to_unit(tpl).expand(3, -1, -1, -1))
    # a fresh template generator starts next to the template (tiny residual)
    fresh = _gen(tpl).eval()
    assert (fresh(torch.zeros(1, 3, S, S)) - to_unit(tpl)).abs().max() < 0.05


def test_discriminator_patches():
    d = PatchDiscriminator(DiscriminatorConfig(ndf=8, n_layers=2))
    x = torch.rand(2, 3, 64, 64)
    assert d(x, x).shape == (2, 1, 14, 14)                # 64 -> 32 -> 16 -> 15 -> 14 patches
    with pytest.raises(ValueError, match="conditional"):
        d(x)
    assert PatchDiscriminator(DiscriminatorConfig(8, 1, conditional=False))(x).shape == (2, 1, 30, 30)


def test_lsgan_hand_cases():
    one, zero, half = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    assert float(lsgan_d_loss(one, zero)) == 0.0           # perfect discriminator
    assert float(lsgan_d_loss(zero, one)) == 1.0           # 0.5 * (1 + 1)
    assert float(lsgan_d_loss(half, half)) == 0.25         # 0.5 * (0.25 + 0.25)
    assert float(lsgan_g_loss(one)) == 0.0 and float(lsgan_g_loss(zero)) == 1.0
    assert float(lsgan_g_loss(half)) == 0.25
    assert float(lsgan_g_loss(torch.tensor([3.0, -1.0]))) == pytest.approx((4 + 4) / 2)


def test_lr_schedule_values():
    assert [lr_factor(e, 300, 100) for e in (0, 50, 99.9, 100)] == [1.0, 1.0, 1.0, 1.0]
    assert lr_factor(200, 300, 100) == 0.5 and lr_factor(250, 300, 100) == 0.25 and lr_factor(300, 300, 100) == 0.0
    assert lr_factor(10, 45, 15) == 1.0 and lr_factor(30, 45, 15) == 0.5
    assert lr_factor(5, 10, 10) == 1.0 and lr_factor(10, 10, 10) == 0.0
    with pytest.raises(ValueError):
        lr_factor(0, 10, 11)


def test_bad_uv_size_and_image(tpl):
    for bad in (48, 0, 1000, "64", True):
        with pytest.raises(ValueError, match="uv_size"):
            GeneratorConfig(uv_size=bad)
    assert 64 in SUPPORTED_UV_SIZES
    with pytest.raises(ValueError, match="variant"):
        GeneratorConfig(variant="pix2pix")
    with pytest.raises(ValueError, match=r"template must have shape \(3, 64, 64\)"):
        TextureGenerator(GeneratorConfig(64), tpl)
    with pytest.raises(ValueError, match="needs the template"):
        TextureGenerator(GeneratorConfig(S))
    g = _gen(tpl)
    with pytest.raises(ValueError, match=r"image must have shape \(B, 3, 32, 32\).*got \(1, 3, 64, 64\)"):
        g(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"3 channels"):
        g(torch.zeros(1, 4, S, S))
    with pytest.raises(ValueError, match="float tensor"):
        g(torch.zeros(1, 3, S, S, dtype=torch.uint8))


def _state(g, model):
    return {"generator": g.state_dict(), "generator_config": g.config.to_dict(),
            "face_model": {"name": model.name, "fingerprint": model.fingerprint()}, "config": {}, "epoch": 1, "step": 4}


def test_checkpoint_round_trip_and_refusals(tmp_path, model, tpl):
    g = _gen(tpl).eval()
    with torch.no_grad():
        g.head[1].weight.normal_(0, 0.05)
    path = tmp_path / "g.pt"
    size = export_generator(_state(g, model), path, mode="paired")
    obj = torch.load(path, weights_only=True)              # plain tensors and types only
    assert obj["generator"]["body.1.weight"].dtype == torch.float16 and obj["generator"]["template"].dtype == torch.float32
    back = load_generator(path, uv_size=S, variant="template", model=model)
    x = torch.rand(2, 3, S, S) * 2 - 1
    with torch.no_grad():
        assert (back(x) - g(x)).abs().max() < 2e-2          # fp16 weights
    assert back.meta["mode"] == "paired" and size == path.stat().st_size
    assert not list(tmp_path.glob(".tmp-*"))               # atomic write left no debris
    with pytest.raises(TextureCheckpointError, match="uv_size=32, not uv_size=64"):
        load_generator(path, uv_size=64)
    with pytest.raises(TextureCheckpointError, match="variant='no_template'"):
        load_generator(path, variant="no_template")
    other = dataclasses.replace(model, mean=model.mean + 1)
    with pytest.raises(TextureCheckpointError, match="face model"):
        load_generator(path, model=other)
    with pytest.raises(TextureCheckpointError, match="not found.*texture zoo"):
        load_generator(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TextureCheckpointError, match="not a readable checkpoint"):
        load_texture_file(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(TextureCheckpointError, match="not a texture-GAN checkpoint"):
        load_texture_file(tmp_path / "other.pt")
    # a no-template checkpoint for the same size loads as that variant
    g2 = _gen(tpl, "no_template")
    export_generator(_state(g2, model), tmp_path / "nt.pt")
    assert load_generator(tmp_path / "nt.pt").config.variant == "no_template"
    with pytest.raises(TextureCheckpointError, match="holds the 'no_template' variant"):
        load_generator(tmp_path / "nt.pt", variant="template")
