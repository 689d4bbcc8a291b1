"""Mesh export: per-vertex colours sampled from the image, OBJ and PLY writers (atomic).

Exported coordinates are the image's y-up frame, in pixels: ``x = column``, ``y = H - row``,
``z = depth`` (larger = towards the viewer). That frame is right-handed, so the morphable
model's counter-clockwise triangles face outwards and a viewer (MeshLab, Blender) shows the
face as it appears in the image. Colours are sampled bilinearly at each vertex's image
position; vertices hidden behind the face (e.g. the far cheek of a profile) take the colour of
whatever is in front of them -- there is no texture completion.
"""
from __future__ import annotations

import io

import numpy as np

from ..fileio import atomic_write_bytes

__all__ = ["sample_colors", "to_export_frame", "obj_bytes", "ply_bytes", "write_obj", "write_ply"]


def sample_colors(image: np.ndarray, points) -> np.ndarray:
    """Bilinear colours of an (H, W, 3) uint8 image at (N, 2+) image-frame points
    (pixel centres at +0.5) -> (N, 3) uint8; points outside the image take the border colour."""
    import cv2

    p = np.asarray(points, np.float32)
    mx = (p[:, 0] - 0.5).reshape(1, -1)
    my = (p[:, 1] - 0.5).reshape(1, -1)
    out = cv2.remap(np.ascontiguousarray(image), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3)


def to_export_frame(vertices, image_height: float) -> np.ndarray:
    """(N, 3) image-frame vertices -> (N, 3) float32 in the exported y-up frame."""
    v = np.array(vertices, np.float64)
    v[:, 1] = image_height - v[:, 1]
    return v.astype(np.float32)


def _check(vertices, triangles, colors):
    v = np.asarray(vertices, np.float32)
    t = np.asarray(triangles, np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"vertices must be finite (N, 3), got {v.shape}")
    if t.ndim != 2 or t.shape[1] != 3 or (t.size and (t.min() < 0 or t.max() >= len(v))):
        raise ValueError(f"triangles must be (F, 3) indices into {len(v)} vertices")
    c = None
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != v.shape:
            raise ValueError(f"colors must be (N, 3) like the vertices, got {c.shape}")
        c = c.astype(np.uint8) if c.dtype == np.uint8 else np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)
    return v, t, c


def obj_bytes(vertices, triangles, colors=None) -> bytes:
    """Wavefront OBJ: ``v x y z [r g b]`` (colours in [0, 1], the common vertex-colour extension)
    and 1-based ``f a b c``. colors: (N, 3) uint8 or floats in [0, 1]."""
    v, t, c = _check(vertices, triangles, colors)
    buf = io.StringIO()
    buf.write("# m3lrn_lib mesh (y-up image frame, pixels)\n")
    if c is None:
        np.savetxt(buf, v, fmt="v %.4f %.4f %.4f")
    else:
        np.savetxt(buf, np.hstack([v, c / 255.0]), fmt="v %.4f %.4f %.4f %.4f %.4f %.4f")
    np.savetxt(buf, t + 1, fmt="f %d %d %d")
    return buf.getvalue().encode()


def ply_bytes(vertices, triangles, colors=None) -> bytes:
    """Binary little-endian PLY: float x, y, z (+ uchar red, green, blue) per vertex;
    ``uchar, int`` vertex_indices lists per face."""
    v, t, c = _check(vertices, triangles, colors)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("red", "u1"), ("green", "u1"), ("blue", "u1")]
                                                             if c is not None else [])
    vert = np.empty(len(v), fields)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    if c is not None:
        vert["red"], vert["green"], vert["blue"] = c[:, 0], c[:, 1], c[:, 2]
    face = np.empty(len(t), [("n", "u1"), ("i", "<i4", (3,))])
    face["n"], face["i"] = 3, t
    props = "".join(f"property {'float' if k in 'xyz' else 'uchar'} {k}\n" for k, _ in fields)
    header = (f"ply\nformat binary_little_endian 1.0\ncomment m3lrn_lib mesh (y-up image frame, pixels)\n"
              f"element vertex {len(v)}\n{props}element face {len(t)}\n"
              "property list uchar int vertex_indices\nend_header\n")
    return header.encode() + vert.tobytes() + face.tobytes()


def write_obj(path, vertices, triangles, colors=None) -> None:
    """:func:`obj_bytes` written atomically to ``path``."""
    atomic_write_bytes(path, obj_bytes(vertices, triangles, colors))


def write_ply(path, vertices, triangles, colors=None) -> None:
    """:func:`ply_bytes` written atomically to ``path``."""
    atomic_write_bytes(path, ply_bytes(vertices, triangles, colors))
