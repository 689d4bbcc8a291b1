"""The package works when installed from a wheel, outside the repository.

Builds the wheel, installs it (no dependencies) into a temporary virtual environment that sees
the test environment's packages (torch, numpy, ...) through a ``.pth`` file, and runs a smoke check
from a folder outside the repository: import, the embedded model (re-created from code into a
fresh cache, bit for bit the shipped file), a small synthetic set, and the predictor on a
checkpoint given by path.
"""
import hashlib
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from m3lrn_lib import paths

ROOT = paths.source_root()

SMOKE = r"""
import hashlib, json, sys
from pathlib import Path
import m3lrn_lib
from m3lrn_lib import paths
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.data import generate, AFLW2000Dataset
from m3lrn_lib.predict import Predictor
from m3lrn_lib.train.config import list_presets

out = {"package": m3lrn_lib.__file__, "source_root": str(paths.source_root())}
model = load_face_model()
cached = paths.cached_face_model("2")
out["model_sha256"] = hashlib.sha256(cached.read_bytes()).hexdigest()
out["fingerprint"] = model.fingerprint()
work = Path(sys.argv[1])
generate(model, work / "set", n_train=2, n_test=2, seed=3, workers=1, progress=False)
test = AFLW2000Dataset(work / "set" / "test", model)
from m3lrn_lib.data.io import read_rgb
image = read_rgb(test.paths[0])
faces = Predictor(sys.argv[2], detector=None, dense=False).predict(image, boxes=[test.boxes[0]])
out["faces"] = len(faces)
out["landmarks"] = list(faces[0].landmarks.shape)
out["presets"] = list_presets()
print("SMOKE " + json.dumps(out))
"""


@pytest.mark.skipif(ROOT is None, reason="needs a source checkout to build the wheel from")
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "--disable-pip-version-check", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("m3lrn_lib-*.whl")
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True,
                           text=True).stdout
    assert "m3lrn_lib/presets/cpu.toml" in names and "m3lrn_lib/paths.py" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the test environment's packages (torch ...), but not its editable m3lrn_lib: a .pth line adds
    # the folder to sys.path without running the .pth files inside it
    (site / "reuse-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                              "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, cwd=tmp_path)
    if install.returncode != 0 and "no such option: --python" in install.stderr:
        pytest.skip("pip is too old for --python")
    assert install.returncode == 0, install.stderr[-3000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3LRN_")}
    env.update(M3LRN_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path / "home"), PYTHONNOUSERSITE="1")
    run = subprocess.run([py, "-c", SMOKE, str(outside), str(ROOT / "data" / "checkpoints" / "full.pt")],
                         capture_output=True, text=True, cwd=outside, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("SMOKE "))
    import json
    got = json.loads(line[len("SMOKE "):])
    assert got["package"].startswith(str(site)), got["package"]
    assert got["source_root"] == "None"
    shipped = hashlib.sha256((ROOT / "data" / "face_model_v2.npz").read_bytes()).hexdigest()
    assert got["model_sha256"] == shipped  # re-created from code, bit for bit
    assert got["faces"] == 1 and got["landmarks"] == [68, 3] and "cpu" in got["presets"]
    assert "building the embedded face model" in run.stderr
    # nothing was written into the repository's data/ or the home folder
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*"))


def test_missing_embedded_model_in_a_checkout_says_how_to_recreate_it(monkeypatch, tmp_path):
    from m3lrn_lib.morphable import FaceModelError, embedded_model_path
    monkeypatch.setattr(paths, "shipped_face_model", lambda version: tmp_path / "face_model_v2.npz")
    with pytest.raises(FaceModelError, match="python -m m3lrn_lib.morphable build"):
        embedded_model_path()


def test_path_settings_that_point_at_nothing_name_the_variable(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    for var, fn in (("M3LRN_SFM_PATH", paths.sfm_dir), ("M3LRN_SHARED", paths.shared_dir),
                    ("M3LRN_FACE_MODEL", paths.face_model_setting)):
        monkeypatch.setenv(var, str(missing))
        with pytest.raises(paths.PathSettingError, match=f"{var}={missing}: no such file or folder"):
            fn()
        monkeypatch.delenv(var)


def test_only_the_paths_module_looks_up_files_next_to_the_source():
    offenders = []
    for f in sorted(paths.PACKAGE_DIR.rglob("*.py")):
        if f.name != "paths.py" and "parents[" in f.read_text():
            offenders.append(str(f.relative_to(paths.PACKAGE_DIR)))
    assert not offenders, offenders


def test_installed_layout_resolves_without_a_repository(monkeypatch):
    monkeypatch.setattr(paths, "source_root", lambda: None)
    with pytest.raises(paths.PathSettingError, match="only in a source checkout"):
        paths.sample_dir()
    monkeypatch.setenv("M3LRN_CACHE", "/tmp/m3lrn-cache-test")
    assert paths.generated_data_dir() == Path("/tmp/m3lrn-cache-test/generated")
    assert paths.cached_face_model("2") == Path("/tmp/m3lrn-cache-test/face_model-v2.npz")
    assert (paths.presets_dir("landmarks") / "cpu.toml").is_file()
