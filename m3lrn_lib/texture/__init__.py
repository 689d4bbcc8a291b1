"""Texture synthesis of the supplement (Sec. G, Fig. S4-S6): UV maps, 3DMM texture fitting, the UV-texture GAN.

- :mod:`.synth` -- synthetic textured faces with known UV textures (PCA albedo + out-of-span detail).
- :mod:`.pca_fit` -- the baseline: albedo basis + SH lighting fitted to the visible texels.
- :mod:`.gan` -- ResNet generator with template input and shortcut (Fig. S4) or without (Fig. S6),
  PatchGAN discriminator, LSGAN losses, the lr schedule.
- :mod:`.config`, :mod:`.train`, :mod:`.checkpoint`, :mod:`.zoo` -- presets (``m3lrn_lib/presets/texture``), the
  trainer, checkpoints, the shipped generators (``data/checkpoints/texture``).
- :mod:`.evaluate` -- L1 / PSNR / SSIM over visible and all texels, the Fig. S5/S6 grid.
- :mod:`.infer` -- textures of faces in arbitrary photos.

UV tools shared with the face-swap augmentation live in :mod:`m3lrn_lib.uv` (unwrap with z-buffer
visibility, render a UV texture onto a mesh / into an image); textured Plotly meshes in
:func:`m3lrn_lib.viz.textured_mesh_figure`. Command line: ``python -m m3lrn_lib.texture``.
"""
from .checkpoint import TextureCheckpointError, export_generator, generator_info, load_generator
from .config import ConfigError, TextureConfig, load_texture_config
from .evaluate import (
    comparison_figure,
    evaluate_methods,
    format_table,
    generate_textures,
    pca_fit_textures,
    pca_projection,
    texture_metrics,
)
from .gan import (
    SUPPORTED_UV_SIZES,
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    TextureGenerator,
    lr_factor,
    lsgan_d_loss,
    lsgan_g_loss,
    template_texture,
)
from .infer import face_input, predict_texture
from .pca_fit import TextureFit, fit_texture, fit_texture_to_image, texel_normals
from .synth import TexturedFace, TexturedFaceGenerator, TexturePairs, TextureSynthConfig, make_pairs, uv_layout_mask
from .train import TextureTrainer, read_log
from .zoo import ZOO, load_texture_zoo, train_zoo, zoo_index

__all__ = ["TextureCheckpointError", "export_generator", "generator_info", "load_generator", "ConfigError",
           "TextureConfig", "load_texture_config", "comparison_figure", "evaluate_methods", "format_table",
           "generate_textures", "pca_fit_textures", "pca_projection", "texture_metrics", "SUPPORTED_UV_SIZES",
           "DiscriminatorConfig", "GeneratorConfig", "PatchDiscriminator", "TextureGenerator", "lr_factor",
           "lsgan_d_loss", "lsgan_g_loss", "template_texture", "face_input", "predict_texture", "TextureFit",
           "fit_texture", "fit_texture_to_image", "texel_normals", "TexturedFace", "TexturedFaceGenerator",
           "TexturePairs", "TextureSynthConfig", "make_pairs", "uv_layout_mask", "TextureTrainer", "read_log",
           "ZOO", "load_texture_zoo", "train_zoo", "zoo_index"]
