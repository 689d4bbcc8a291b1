"""Benchmark of :func:`m3lrn_lib.render.render` on ONE core (a script, not a test).

Renders a face-like mesh (a half-ellipsoid height field with a nose bump on an n x n grid,
~4k vertices / ~8k triangles by default) into a 120x120 image, covering ~90x100 px::

    python benchmarks/bench_render.py [--vertices 4096] [--size 120] [--yaw 0] [--repeats 300]

Goal: >= 150 lit renders per second of a 120x120 face on one core. BLAS/OpenMP pools are
pinned to one thread (numpy's element-wise work is single-threaded anyway); ``--cpu N``
also pins the process to one CPU.

Note: a render allocates a few MB of numpy temporaries, which glibc hands back to the OS
after each call, so every call page-faults them in again (printed below). Where faults are
expensive (VMs) raising glibc's thresholds, e.g. ``MALLOC_TRIM_THRESHOLD_=268435456
MALLOC_MMAP_THRESHOLD_=67108864``, can speed rendering up severalfold.
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


def face_mesh(n_vertices: int = 4096, size: int = 120, yaw_deg: float = 0.0, seed: int = 0):
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


def timeit(fn, repeats: int) -> float:
    for _ in range(10):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vertices", type=int, default=4096)
    ap.add_argument("--size", type=int, default=120)
    ap.add_argument("--yaw", type=float, default=0.0, help="turn the face by this many degrees")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--cpu", type=int, default=None, help="also pin the process to this CPU")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    verts, tris, colors = face_mesh(args.vertices, args.size, args.yaw)
    s, light = args.size, Lighting()
    res = render(verts, tris, colors, s, s, lighting=light)
    ys, xs = np.nonzero(res.mask)
    print(f"mesh: {len(verts)} vertices, {len(tris)} triangles; image {s}x{s}; "
          f"covered {res.mask.sum()} px, bbox {np.ptp(xs) + 1}x{np.ptp(ys) + 1} px")
    for name, fn in [("render (lit)", lambda: render(verts, tris, colors, s, s, lighting=light)),
                     ("render (unlit)", lambda: render(verts, tris, colors, s, s)),
                     ("rasterize", lambda: rasterize(verts, tris, s, s))]:
        f0 = minor_faults()
        dt = timeit(fn, args.repeats)
        faults = (minor_faults() - f0) / (args.repeats + 10)
        print(f"{name:15s} {1 / dt:8.1f} /s  {dt * 1e3:7.3f} ms   ({faults:.0f} page faults/call)")
        if name == "render (lit)":
            lit = 1 / dt
    print(f"goal >= 150 lit renders/s: {'met' if lit >= 150 else 'NOT met'} ({lit:.0f}/s)")


if __name__ == "__main__":
    main()
