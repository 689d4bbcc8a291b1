"""Benchmark of :func:`m3lrn_lib.render.render` on ONE core (a script, not a test).

Renders a face-like mesh (a half-ellipsoid height field with a nose bump on an n x n grid,
~4.9k vertices / ~9.5k triangles by default, like the morphable face grid) into a 120x120
image (a training crop: the face covers ~90x100 px, triangles of ~1 px^2) and a 224x224 one
(a test image: ~2-3 px^2 per triangle)::

    python benchmarks/bench_render.py [--vertices 4900] [--size 120 224] [--yaw 0] [--repeats 300]

Per call it prints ms, ns per triangle and page faults, and the time relative to a peer
measured in the same run, interleaved: ``cv2.fillPoly`` of the same triangles (snapped to
1/256 px like the renderer's) into a uint8 image of the same size -- coverage only, no
z-buffer, barycentrics or shading, so a ratio below 1 means the whole numpy render beats
OpenCV's C++ polygon filler on these tiny triangles. Whole heads (face + cranium, hair,
ears, ...): ``--vertices 8000``.

Goal: >= 150 lit renders per second of a 120x120 face on one core. BLAS/OpenMP pools are
pinned to one thread (numpy's element-wise work is single-threaded anyway), so is OpenCV;
``--cpu N`` also pins the process to one CPU.

Note: a render allocates a few MB of numpy temporaries, which glibc may hand back to the OS
after each call, so every call page-faults them in again (printed below; in a long-running
process that also allocates larger arrays, e.g. the data generator, glibc's dynamic
thresholds usually keep them). Where faults are expensive (VMs) raising glibc's thresholds,
e.g. ``MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=67108864``, speeds this up.
"""
import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import numpy as np  # noqa: E402

from m3lrn_lib.render import Lighting, rasterize, render  # noqa: E402

try:
    import cv2
except ImportError:  # the reference is optional
    cv2 = None


def face_mesh(n_vertices: int = 4900, size: int = 120, yaw_deg: float = 0.0, seed: int = 0):
    """Image-space (N, 3) verts, (F, 3) int32 tris (CCW from outside, y up), (N, 3) colours;
    ``yaw_deg`` turns the face about the vertical axis (self-occlusion at the nose)."""
    n = max(2, int(round(np.sqrt(n_vertices))))
    u, v = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))   # v up
    z = np.sqrt(np.clip(1 - u ** 2 - v ** 2, 0, None)) + 0.25 * np.exp(-(u ** 2 + (v + 0.1) ** 2) / 0.02)
    sx, sy = 0.75 * size / 2, 0.83 * size / 2                           # ~90 x 100 px at 120
    a = np.deg2rad(yaw_deg)
    xr, zr = np.cos(a) * sx * u + np.sin(a) * 0.8 * sx * z, -np.sin(a) * sx * u + np.cos(a) * 0.8 * sx * z
    verts = np.stack([size / 2 + xr, size / 2 - sy * v, zr], -1).reshape(-1, 3)  # image y down
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]  # row k+1 is higher v
    tris = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                           np.stack([a, d, c], -1).reshape(-1, 3)]).astype(np.int32)
    colors = np.random.default_rng(seed).uniform(0.3, 0.9, (n * n, 3))
    return verts, tris, colors


def minor_faults() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else float("nan")


def time_interleaved(fns: dict, repeats: int, batch: int = 10) -> dict:
    """name -> (seconds per call: the minimum over rounds of ``batch`` calls, page faults per
    call); the functions take turns, round after round, so they share the machine's state."""
    for fn in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    faults = {k: 0.0 for k in fns}
    rounds = max(1, repeats // batch)
    for _ in range(rounds):
        for name, fn in fns.items():
            f0 = minor_faults()
            t0 = time.perf_counter()
            for _ in range(batch):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / batch)
            faults[name] += (minor_faults() - f0) / (batch * rounds)
    return {k: (best[k], faults[k]) for k in fns}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=4900)
    ap.add_argument("--size", type=int, nargs="+", default=[120, 224])
    ap.add_argument("--yaw", type=float, default=0.0, help="turn the face by this many degrees")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--cpu", type=int, default=None, help="also pin the process to this CPU")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if cv2 is not None:
        cv2.setNumThreads(1)
    light = Lighting()
    lit = None
    for s in args.size:
        verts, tris, colors = face_mesh(args.vertices, s, args.yaw)
        res = render(verts, tris, colors, s, s, lighting=light)
        ys, xs = np.nonzero(res.mask)
        print(f"mesh: {len(verts)} vertices, {len(tris)} triangles; image {s}x{s}; "
              f"covered {res.mask.sum()} px, bbox {np.ptp(xs) + 1}x{np.ptp(ys) + 1} px")
        fns = {"render (lit)": lambda: render(verts, tris, colors, s, s, lighting=light),
               "render (unlit)": lambda: render(verts, tris, colors, s, s),
               "rasterize": lambda: rasterize(verts, tris, s, s)}
        if cv2 is not None:
            polys = list(np.rint(verts[:, :2] * 256).astype(np.int32)[tris])   # (3, 2) each, 1/256 px
            canvas = np.zeros((s, s), np.uint8)
            fns["cv2.fillPoly"] = lambda: cv2.fillPoly(canvas, polys, 255, cv2.LINE_8, 8)
        times = time_interleaved(fns, args.repeats)
        ref = times.get("cv2.fillPoly", (None,))[0]
        for name, (dt, faults) in times.items():
            peer = f"  = {dt / ref:5.2f} x cv2.fillPoly" if ref and name != "cv2.fillPoly" else ""
            print(f"  {name:15s} {dt * 1e3:7.3f} ms  {dt / len(tris) * 1e9:6.1f} ns/triangle  "
                  f"{1 / dt:7.1f} /s  ({faults:.0f} page faults/call){peer}")
        if s == 120:
            lit = 1 / times["render (lit)"][0]
        if ref:
            print("  (cv2.fillPoly: the same triangles, coverage only -- no z-buffer, barycentrics or shading)")
    if lit is not None:
        print(f"goal >= 150 lit renders/s of a 120x120 face: {'met' if lit >= 150 else 'NOT met'} ({lit:.0f}/s)")


if __name__ == "__main__":
    main()
