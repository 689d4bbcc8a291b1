"""m3lrn_lib: a compact, tested re-implementation of M^3-LRN for teaching and research.

Modules (one idea each, named after the paper's sections):

- :mod:`m3lrn_lib.morphable` -- the 3D morphable model (Sec. 3.1, Eq. 1), the embedded
  default model and readers for real models (Surrey Face Model, BFM in 3DDFA layout).
- :mod:`m3lrn_lib.geometry` -- the 62-d parameter layout, whitening, reconstruction
  (Eq. 1-2), rotations and Euler angles, projection into the 120x120 crop.
- :mod:`m3lrn_lib.render` -- a z-buffered CPU rasteriser with shading and UV rasterisation.
- :mod:`m3lrn_lib.viz` -- Plotly figures and the interactive explorer widget.
"""

__version__ = "0.1.0"
