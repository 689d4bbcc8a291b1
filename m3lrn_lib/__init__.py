"""m3lrn_lib: a compact, tested re-implementation of M^3-LRN for teaching and research.

The layout shows the architecture (one module per idea; ``docs/architecture.md`` has a line per module):

- **Science** -- :mod:`~m3lrn_lib.morphable` (the 3D morphable model, Sec. 3.1, Eq. 1; the embedded
  default and readers of real models), :mod:`~m3lrn_lib.geometry` (the 62-d layout, whitening,
  Eq. 1-2, rotations and Euler angles, projection), :mod:`~m3lrn_lib.render` (z-buffered CPU
  rasteriser), :mod:`~m3lrn_lib.uv` (texture unwrapping), :mod:`~m3lrn_lib.nn` (backbone, heads,
  M2FA Sec. 3.2, LGS Sec. 3.3, losses Eq. 3-7, the model), :mod:`~m3lrn_lib.metrics` (Eq. 8 and
  head-pose MAE), :mod:`~m3lrn_lib.protocols` (3D protocols and the Florence benchmark).
- **Machinery** -- :mod:`~m3lrn_lib.data` (layouts, synthetic generator, augmentations),
  :mod:`~m3lrn_lib.train` (trainer, configs, logs, checkpoints, zoo), :mod:`~m3lrn_lib.runtime`
  (threads, seeds, devices, distributed rank), :mod:`~m3lrn_lib.paths` (every file location),
  :mod:`~m3lrn_lib.fileio` (atomic writes), :mod:`~m3lrn_lib.errors` and :mod:`~m3lrn_lib.cli`
  (the user-error convention of every command line).
- **Applications** -- :mod:`~m3lrn_lib.predict` (faces in photos and videos, ONNX),
  :mod:`~m3lrn_lib.benchmark` (the paper's tables), :mod:`~m3lrn_lib.texture` (the UV-texture GAN of
  Suppl. G), :mod:`~m3lrn_lib.viz` (Plotly figures and widgets).
- **Teaching harness** -- :mod:`~m3lrn_lib.course` (course map, exercises, lesson helpers, the suite
  runner, the browser check).

Importing the package does no I/O.
"""

__version__ = "0.1.0"
