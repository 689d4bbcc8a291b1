"""Inference: faces in images, folders and videos -> 68 refined landmarks (2D and 3D),
dense meshes in image coordinates, yaw/pitch/roll, overlays, OBJ/PLY export; ONNX export.

- :class:`Predictor` -- detection -> crop -> network -> outputs mapped back to the image
  (:mod:`.predictor`); :class:`Face` -- one face's outputs.
- :func:`load_network` -- an M3LRN from an instance, a trainer checkpoint or a state-dict file
  (:mod:`.network`); :func:`variant_of` -- its preset name.
- :class:`FaceDetector` -- the best installed detector whose weights ship in a package: MTCNN
  (facenet-pytorch's weights, run by our code), dlib's HOG detector, or the LBP cascade bundled
  with scikit-image as the fallback; pass boxes for faces it misses (:mod:`.detect`).
- :mod:`.draw` overlays, :mod:`.export` OBJ/PLY with per-vertex colours, :mod:`.inputs` robust
  image/video reading, :mod:`.onnx_export` ONNX export and checks.

Command line: ``python -m m3lrn_lib.predict IMAGE|FOLDER|VIDEO --checkpoint CKPT --out DIR``.
"""
from .detect import FaceDetector
from .draw import draw_faces
from .export import obj_bytes, ply_bytes, sample_colors
from .inputs import InputError, load_image, to_rgb8
from .network import NetworkLoadError, load_network, save_state_dict, variant_of
from .predictor import Face, Predictor, check_box, parse_box

__all__ = ["Predictor", "Face", "load_network", "save_state_dict", "variant_of", "NetworkLoadError",
           "FaceDetector", "InputError", "load_image", "to_rgb8", "draw_faces", "obj_bytes", "ply_bytes",
           "sample_colors", "parse_box", "check_box"]
