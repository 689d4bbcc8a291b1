"""Exercise checkers accept right answers and reject wrong ones (and fail in solutions mode)."""
import math

import pytest
import torch

from m3lrn_lib import geometry, paths
from m3lrn_lib.course.exercises import check, list_exercises
from m3lrn_lib.morphable import face_proportions, load_face_model


def test_registry_has_notebook_01():
    keys = [e.key for e in list_exercises()]
    assert {"01.1", "01.2", "01.3"} <= set(keys)


def test_nb01_answers(monkeypatch):
    model = load_face_model()
    iod = face_proportions(model.mean[model.landmarks])["interocular"]
    assert check("01.1", iod) and not check("01.1", iod + 5)
    p = torch.cat([geometry.make_pose(math.radians(35), math.radians(-12), math.radians(8), 0.5, 60, 60),
                   torch.zeros(1, 50)], 1)
    assert check("01.2", [35, -12, 8], params=p) and not check("01.2", [-35, -12, 8], params=p)
    assert check("01.3", (54, 30)) and not check("01.3", (48, 30))
    pose = geometry.make_pose(0.3, 0.1, 0.0, 0.42, 60, 60)
    assert check("01.4", 0.42, pose=pose) and not check("01.4", 1.0, pose=pose)
    assert not check("01.1", None)
    monkeypatch.setenv("M3LRN_SOLUTIONS", "1")
    with pytest.raises(AssertionError):
        check("01.1", iod + 5)


def test_unknown_exercise():
    with pytest.raises(KeyError, match="unknown exercise"):
        check("99.9", 1)


def test_nb02_answers():
    from m3lrn_lib.data import sample_datasets
    train, _ = sample_datasets(split=("train", "test"))
    s = train[0]
    raw = geometry.unwhiten(s["target"], torch.as_tensor(train.param_mean), torch.as_tensor(train.param_std))
    yaw = math.degrees(float(geometry.params_to_euler(raw[None])[0, 0]))
    ctx = dict(z=s["target"], mean=train.param_mean, std=train.param_std)
    assert check("02.2", yaw, **ctx) and not check("02.2", yaw + 10, **ctx)
    assert check("02.1", 1280 * 62 + 62) and not check("02.1", 1280 * 62)
    assert check("02.3", -35) and not check("02.3", 35)


def _notebook_answer_keys():
    import re
    keys = set()
    for nb in sorted(paths.notebooks_dir().glob("*.ipynb")):
        keys |= {f"{a}.{b}" for a, b in re.findall(r"answer_(\d\d)_(\d+) = None\b", nb.read_text())}
    return keys


def test_every_notebook_exercise_has_a_solution():
    keys = _notebook_answer_keys()
    assert len(keys) >= 21, sorted(keys)
    registry = {e.key: e for e in list_exercises()}
    missing = sorted(k for k in keys if k not in registry)
    assert not missing, f"exercises used by the notebooks but not registered: {missing}"
    unsolved = sorted(k for k in keys if not registry[k].solution.strip())
    assert not unsolved, f"exercises without a solution: {unsolved}"


def test_teacher_copy(tmp_path):
    import nbformat

    from m3lrn_lib.course.exercises import teacher_copy
    solution = {e.key: e for e in list_exercises()}["01.3"].solution.strip()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"),
                nbformat.v4.new_code_cell('answer_01_3 = None   # x\ncheck("01.3", answer_01_3)')]
    src, dst = tmp_path / "tiny.ipynb", tmp_path / "out" / "tiny.ipynb"
    nbformat.write(nb, src)
    assert teacher_copy(src, dst) == 1
    out = nbformat.read(dst, as_version=4)
    sources = [c.source for c in out.cells if c.cell_type == "code"]
    assert any(f"answer_01_3 = {solution.splitlines()[-1]}" in s and 'check("01.3", answer_01_3)' in s
               for s in sources), sources
    assert not any("= None" in s for s in sources)
    assert any("M3LRN_SOLUTIONS" in s for s in sources)
    assert "answer_01_3 = None" in src.read_text()           # the student's notebook is left alone

    nb.cells[1] = nbformat.v4.new_code_cell('answer_99_9 = None\ncheck("99.9", answer_99_9)')
    bad = tmp_path / "bad_exercise.ipynb"
    nbformat.write(nb, bad)
    with pytest.raises(ValueError, match="bad_exercise.ipynb"):
        teacher_copy(bad, tmp_path / "out" / "bad_exercise.ipynb")


def test_cli_list_shows_solutions():
    # run as `python -m`, the module is `__main__`: it must still see the registered exercises
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "m3lrn_lib.course.exercises", "list"], capture_output=True, text=True,
                         check=True).stdout
    assert "01.1  " in out and "solution: float(np.linalg.norm(" in out
