"""m3lrn_lib: a compact, tested re-implementation of M^3-LRN for teaching and research.

Modules (one idea each, named after the paper's sections):

- :mod:`m3lrn_lib.morphable` -- the 3D morphable model (Sec. 3.1, Eq. 1), the embedded
  default model and readers for real models (Surrey Face Model, BFM in 3DDFA layout).
- :mod:`m3lrn_lib.geometry` -- the 62-d parameter layout, whitening, reconstruction
  (Eq. 1-2), rotations and Euler angles, projection into the 120x120 crop, mirroring.
- :mod:`m3lrn_lib.render` -- a z-buffered CPU rasteriser with shading and UV rasterisation.
- :mod:`m3lrn_lib.uv` -- texture unwrapping into UV space and rendering from it.
- :mod:`m3lrn_lib.data` -- readers of the 3DDFA / AFLW2000-3D / 300W-LP layouts, the
  synthetic generator, augmentations (colour jitter, flip, face swap).
- :mod:`m3lrn_lib.nn` -- backbone, heads, M2FA (Sec. 3.2), LGS (Sec. 3.3), losses (Eq. 3-7)
  and the model with every ablation switch.
- :mod:`m3lrn_lib.train` -- the training loop and evaluation; :mod:`m3lrn_lib.metrics` --
  NME by yaw bin (Eq. 8) and head-pose MAE.
- :mod:`m3lrn_lib.texture` -- texture synthesis of the supplement (Sec. G): synthetic textured
  faces, 3DMM texture fitting and the UV-texture GAN (Fig. S4-S6).
- :mod:`m3lrn_lib.viz` -- Plotly figures and the interactive explorer widget.
- :mod:`m3lrn_lib.exercises` -- checked exercises; :mod:`m3lrn_lib.suite` -- runs the notebooks.
"""

__version__ = "0.1.0"
