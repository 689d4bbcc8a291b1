"""The course map behind ``notebooks/00_start_here.ipynb``: order, times, prerequisites, real data.

- :data:`NOTEBOOKS` -- one :class:`Lesson` per notebook, in the order to take them, with the
  paper sections and equations it covers and the measured run times.
- :func:`lesson_for_equation` -- which notebook introduces Eq. N (where its function lives).
- :data:`REAL_DATA` -- the real models and data sets, where to get them, and how to point the
  suite at a copy; :func:`real_data_status` says which ones this machine has.
- :func:`environment_report` -- Python/torch versions, GPU, FAST and solutions modes.
- :func:`check_course` -- every lesson's notebook exists and opens with its learning goals
  (a test runs it, so this map cannot drift from the notebooks).
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course.

    Attributes:
        number: two digits (``"01"``); file: the notebook's file name; title: what it is about.
        paper: the paper's sections/figures/tables it covers; equations: Eq. numbers it computes
            first (each equation is introduced in exactly one notebook).
        needs: lessons to take before this one.
        cpu_min: default run on a laptop CPU, minutes (measured on the project's 2-core machine);
            fast_s: FAST mode (``M3LRN_FAST=1``, the test command), seconds; gpu: what a GPU
            changes (the notebooks pick CUDA when present).
        library: the modules it introduces.
    """

    number: str
    file: str
    title: str
    paper: str
    equations: tuple = ()
    needs: tuple = ()
    cpu_min: float = 0.0
    fast_s: float = 0.0
    gpu: str = "the same (CPU-sized work)"
    library: tuple = field(default_factory=tuple)


NOTEBOOKS: tuple[Lesson, ...] = (
    Lesson("00", "00_start_here.ipynb", "Start here: the course map, your machine, real data",
           "abstract, Fig. 2", (), (), 0.2, 10, "—", ("m3lrn_lib.course",)),
    Lesson("01", "01_3dmm_basics.ipynb", "3D morphable models, the 62-d parameters, pose, projection, rendering",
           "Sec. 3.1", (1, 2), ("00",), 1, 15, "—",
           ("m3lrn_lib.morphable", "m3lrn_lib.geometry", "m3lrn_lib.render", "m3lrn_lib.viz")),
    Lesson("02", "02_backbone_regression.ipynb",
           "Data layouts, augmentation, MobileNet-V2 regression of 3DMM parameters",
           "Sec. 3.1, Sec. 4", (3, 8), ("01",), 6, 55, "< 1 min",
           ("m3lrn_lib.data", "m3lrn_lib.nn", "m3lrn_lib.metrics")),
    Lesson("03", "03_m2fa_refinement.ipynb", "M2FA: multi-modal landmark refinement", "Sec. 3.2, Fig. 3, Fig. S1",
           (4,), ("02",), 3, 35, "< 1 min", ("m3lrn_lib.nn.m2fa",)),
    Lesson("04", "04_lgs_and_cycle_loss.ipynb", "Landmark geometry (LGS) and the representation cycle",
           "Sec. 3.3, Fig. 4, Fig. S2", (5, 6, 7), ("03",), 9, 70, "< 2 min",
           ("m3lrn_lib.nn.lgs", "m3lrn_lib.nn.losses")),
    Lesson("05", "05_full_gpu_training.ipynb", "Full training: the paper's schedule, face swap, CPU/GPU/multi-GPU",
           "Sec. 4 Procedure, Suppl. B", (), ("04",), 1, 60,
           "runs the chosen preset for real: `paper` ~6 h on one 24 GB GPU (the paper), `cpu` minutes",
           ("m3lrn_lib.train",)),
    Lesson("06", "06_benchmarks.ipynb", "Benchmarks: NME by yaw, head pose, 3D protocols, speed, ONNX, int8",
           "Sec. 4.1-4.3, Tables 1-10, S2", (), ("05",), 3, 25, "< 1 min (adds GPU speed rows)",
           ("m3lrn_lib.benchmark", "m3lrn_lib.protocols", "m3lrn_lib.predict")),
    Lesson("07", "07_texture_gan.ipynb", "UV textures, 3DMM texture fitting and the texture GAN",
           "Suppl. G, Fig. S4-S6", (), ("01",), 2, 20, "< 1 min (paper-size GAN: hours, opt-in)",
           ("m3lrn_lib.uv", "m3lrn_lib.texture")),
)


def lesson(number: str) -> Lesson:
    """The lesson numbered ``number`` (``"03"`` or ``3``)."""
    key = f"{int(number):02d}"
    for item in NOTEBOOKS:
        if item.number == key:
            return item
    raise KeyError(f"no notebook {key}; the course has {[n.number for n in NOTEBOOKS]}")


def lesson_for_equation(eq: int) -> Lesson:
    """The notebook that introduces the paper's Eq. ``eq`` (1-8)."""
    for item in NOTEBOOKS:
        if eq in item.equations:
            return item
    raise KeyError(f"the paper has no Eq. {eq} in this course (Eq. 1-8)")


def markdown_table() -> str:
    """The course as a Markdown table: order, topic, paper, prerequisites and times."""
    rows = ["| # | notebook | about | paper | take after | laptop CPU | FAST (CI) | GPU |",
            "|---|---|---|---|---|---|---|---|"]
    for n in NOTEBOOKS:
        rows.append(f"| {n.number} | `{n.file}` | {n.title} | {n.paper} | {', '.join(n.needs) or '—'} | "
                    f"~{n.cpu_min:g} min | ~{n.fast_s:g} s | {n.gpu} |")
    return "\n".join(rows)


def check_course(folder: Path | None = None) -> list[str]:
    """Problems with the course map (empty when fine): a missing notebook, a notebook that is
    not in the map, one without learning goals at the top, an equation claimed twice."""
    import json
    folder = Path(folder) if folder else paths.notebooks_dir()
    problems = []
    for n in NOTEBOOKS:
        path = folder / n.file
        if not path.is_file():
            problems.append(f"{n.file}: missing")
            continue
        cells = json.loads(path.read_text())["cells"]
        head = "".join("".join(c["source"]) for c in cells[:3] if c["cell_type"] == "markdown").lower()
        if "learning goals" not in head:
            problems.append(f"{n.file}: no 'Learning goals' in its first cells")
    listed = {n.file for n in NOTEBOOKS}
    problems += [f"{p.name}: not in the course map" for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))
                 if p.name not in listed]
    eqs = [e for n in NOTEBOOKS for e in n.equations]
    problems += [f"Eq. {e} is introduced twice" for e in sorted({e for e in eqs if eqs.count(e) > 1})]
    return problems


# ----------------------------------------------------------------------------- real data
@dataclass(frozen=True)
class RealData:
    """A real model or data set: where to get it and how the suite reads it."""

    name: str
    what: str
    get: str
    licence: str
    env: str
    use: str


REAL_DATA: tuple[RealData, ...] = (
    RealData("Surrey Face Model", "morphable model (3448 vertices, 6 expression blendshapes)",
             "https://cvssp.org/facemodel (or the share/ folder of the eos project)", "non-commercial",
             "M3LRN_FACE_MODEL",
             "load_face_model('/path/to/sfm')  # folder with sfm_shape_3448.bin, ibug_to_sfm.txt, ..."),
    RealData("BFM (3DDFA layout)", "Basel Face Model as 3DDFA/3DDFA_V2 store it: bfm_noneck_v3.pkl",
             "the 3DDFA_V2 repository's configs/ folder (BFM licence from the University of Basel)",
             "registration with the University of Basel", "M3LRN_FACE_MODEL",
             "load_face_model('/path/to/bfm_noneck_v3.pkl')"),
    RealData("300W-LP", "training set: 61k images + .mat (or 3DDFA's 680k pre-cropped 120x120 crops)",
             "the 3DDFA project page (Zhu et al., CVPR 2016); 3DDFA's train.configs for the crops", "research only",
             "M3LRN_TRAIN_DATA", "python -m m3lrn_lib.train --config paper data.train=/path/to/train_aug_120x120"),
    RealData("AFLW2000-3D", "test set: 2000 images with imageNNNNN.mat (pt3d_68, Pose_Para, ...)",
             "the 3DDFA project page (Zhu et al., CVPR 2016)", "research only", "M3LRN_TEST_DATA",
             "open_dataset('/path/to/AFLW2000')  # or data.test=... in a training config"),
)


def real_data_status(paths: dict | None = None) -> list[dict]:
    """For each entry of :data:`REAL_DATA`: the path given (``paths[name]``, else its environment
    variable) and what was found there (``'not set'``, ``'missing'``, a detected layout, or the
    reader's error message)."""
    from ..data.layouts import detect_layout
    out = []
    for item in REAL_DATA:
        p = (paths or {}).get(item.name) or os.environ.get(item.env, "")
        if not p:
            state = f"not set (set ${item.env})"
        elif not Path(p).exists():
            state = f"missing: {p} does not exist"
        elif item.env == "M3LRN_FACE_MODEL":
            state = "found (loaded by load_face_model)"
        else:
            try:
                state = f"found, layout {detect_layout(p)!r}"
            except Exception as exc:  # the reader's own message says what is wrong
                state = f"unreadable: {exc}"
        out.append({"name": item.name, "path": p, "status": state})
    return out


def environment_report() -> dict:
    """Versions and switches that matter for the course (Python, torch, GPU, cores, FAST, solutions)."""
    import torch

    from ..runtime import fast_mode
    from .exercises import solutions_mode
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__, "gpu": gpu or "none (CPU)",
            "cpu_cores": os.cpu_count(), "fast_mode": fast_mode(), "solutions_mode": solutions_mode()}
