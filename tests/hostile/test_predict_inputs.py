"""Hostile inputs at the library level of the predictor: oversized and rotated images, integer
pixel types, degenerate boxes, bad Predictor arguments, non-finite outputs, truncated videos.

Every input is made here from code (numpy, OpenCV, Pillow); nothing shipped is read except the
``baseline`` checkpoint."""
import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from m3lrn_lib import paths
from m3lrn_lib.errors import UserError
from m3lrn_lib.predict import InputError, Predictor, check_box, load_image, parse_box, to_rgb8
from m3lrn_lib.predict import inputs as predict_inputs
from m3lrn_lib.predict.predictor import MIN_BOX_SIDE

BASELINE = paths.checkpoints_dir() / "baseline.pt"


def jpeg_claiming(path, width: int, height: int) -> None:
    """A small real JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 100, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")
    assert ok and sof > 0
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pred():
    return Predictor(BASELINE, device="cpu", detector=None, dense=False)


# ----------------------------------------------------------------------------- size limit (defect 1)
@pytest.mark.parametrize("width, height", [(60000, 60000), (12000, 12000), (65000, 2000)])
def test_image_over_the_pixel_limit_is_an_input_error(tmp_path, width, height):
    f = tmp_path / "huge.jpg"
    jpeg_claiming(f, width, height)
    assert width * height > predict_inputs.MAX_IMAGE_PIXELS
    with pytest.raises(InputError) as exc:
        load_image(f)
    msg = str(exc.value)
    assert msg.startswith(str(f)) and f"{width}x{height}" in msg and "megapixel" in msg
    assert list(tmp_path.iterdir()) == [f]  # nothing written beside it


def test_image_just_under_the_limit_is_decoded_by_header_then_body(tmp_path):
    f = tmp_path / "ok.jpg"
    jpeg_claiming(f, 16, 16)  # header and body agree: an ordinary image
    assert load_image(f).shape == (16, 16, 3)


# ----------------------------------------------------------------------------- EXIF orientation (defect 2)
@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied(tmp_path, orientation):
    a = np.zeros((24, 40, 3), np.uint8)
    a[:8, :16] = (255, 0, 0)  # a red block in the top-left corner marks the orientation
    a[16:, 30:] = (0, 0, 255)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    f = tmp_path / f"o{orientation}.jpg"
    im.save(f, quality=100, exif=exif.tobytes())
    got = load_image(f)
    want = np.asarray(ImageOps.exif_transpose(Image.open(f)).convert("RGB"))
    assert got.shape == want.shape
    if orientation in (5, 6, 7, 8):
        assert got.shape[:2] == (40, 24)  # width and height swap
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 3


def test_image_without_exif_is_not_rotated(tmp_path):
    a = np.zeros((24, 40, 3), np.uint8)
    a[:8, :16] = 255
    f = tmp_path / "plain.png"
    cv2.imwrite(str(f), a)
    assert np.array_equal(load_image(f), a)


# ----------------------------------------------------------------------------- integer pixel policy (defect 3)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint32, np.uint64])
def test_integer_images_holding_0_255_are_8_bit(pred, dtype):
    u8 = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb8(u8.astype(dtype)), u8)
    assert np.array_equal(pred.prepare(u8.astype(dtype)), u8)  # not turned black


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint32])
def test_integer_images_holding_0_65535_are_16_bit(dtype):
    a = np.array([[0, 257, 65535, 1000]], dtype)
    assert to_rgb8(a)[0, :, 0].tolist() == [0, 1, 255, 4]


def test_uint16_stays_16_bit_whatever_its_values():
    assert to_rgb8(np.full((2, 2), 200, np.uint16))[0, 0, 0] == 1  # 200 / 257


@pytest.mark.parametrize("values, dtype", [([-1, 10], np.int64), ([0, 70000], np.int32), ([0, 2**40], np.int64),
                                           ([-5, 3], np.int8)])
def test_integer_images_out_of_range_are_input_errors(values, dtype):
    with pytest.raises(InputError, match=r"0\.\.65535"):
        to_rgb8(np.array([values], dtype))


# ----------------------------------------------------------------------------- boxes (defect 4)
@pytest.mark.parametrize("box, match", [
    ([10, 10, 10.000001, 10.000001], "at least"),
    ([0, 0, 7.9, 40], "at least"),
    ([0, 0, 1e300, 1e300], "at most"),
    ([0, 0, math.inf, 50], "finite"),
    ([math.nan, 0, 50, 50], "finite"),
    ([50, 0, 10, 40], "x1 > x0"),
])
def test_bad_boxes_are_refused_without_an_image(box, match):
    with pytest.raises(ValueError, match=match):
        check_box(box)
    with pytest.raises(ValueError, match=match):
        parse_box(",".join(repr(float(v)) for v in box))


@pytest.mark.parametrize("box, match", [
    ([100, 100, 140, 140], "outside"),
    ([-50, -50, -5, -5], "outside"),
    ([60, 0, 100, 60], "overlap"),       # only 4 px of it lie on the 64 px wide image
    ([0, 0, 1000, 1000], "larger than"),  # a face box 15 times the image
])
def test_boxes_must_overlap_the_image(pred, box, match):
    with pytest.raises(ValueError, match=match):
        check_box(box, (64, 64, 3))
    with pytest.raises(ValueError, match=match):
        pred.predict(np.zeros((64, 64, 3), np.uint8), boxes=[box])


def test_smallest_allowed_box_predicts_finite_numbers(pred):
    img = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    faces = pred.predict(img, boxes=[[10, 10, 10 + MIN_BOX_SIDE, 10 + MIN_BOX_SIDE]])
    assert len(faces) == 1
    json.dumps(faces[0].to_dict(), allow_nan=False)


# ----------------------------------------------------------------------------- Predictor arguments
@pytest.mark.parametrize("kwargs, match", [
    ({"max_faces": -1}, "max_faces"), ({"max_faces": 0}, "max_faces"), ({"batch_size": 0}, "batch_size"),
    ({"device": "tpu"}, "tpu"),
])
def test_bad_predictor_arguments(kwargs, match):
    with pytest.raises(UserError, match=match):
        Predictor(BASELINE, detector=None, dense=False, **{"device": "cpu", **kwargs})


# ----------------------------------------------------------------------------- videos (defect 7)
def _video(path, n=10, size=64):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size, size))
    for k in range(n):
        w.write(np.random.default_rng(k).integers(0, 256, (size, size, 3), dtype=np.uint8))
    w.release()


def test_truncated_video_is_reported(tmp_path):
    full, cut = tmp_path / "full.avi", tmp_path / "cut.avi"
    _video(full)
    data = full.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    info: dict = {}
    assert len(list(predict_inputs.iter_video(full, info=info))) == 10
    assert info == {"frames_read": 10, "frame_count": 10, "truncated": False}
    info = {}
    n = len(list(predict_inputs.iter_video(cut, info=info)))
    assert 0 < n < 10 and info == {"frames_read": n, "frame_count": 10, "truncated": True}
    info = {}
    assert len(list(predict_inputs.iter_video(full, max_frames=3, info=info))) == 3
    assert info["truncated"] is False  # stopping early on purpose is not truncation


# ----------------------------------------------------------------------------- drawing non-finite faces
def test_overlay_of_a_non_finite_face_does_not_raise():
    from m3lrn_lib.predict import Face, draw_faces

    nan3 = np.full((68, 3), np.nan)
    face = Face(box=np.array([0, 0, 1e30, np.inf]), crop_box=np.zeros(4), landmarks=nan3, landmarks_coarse=nan3,
                vertices=None, pose_deg=np.full(3, np.nan), rotation=np.full((3, 3), np.nan), params=np.zeros(62),
                source="box")
    img = np.zeros((32, 32, 3), np.uint8)
    assert np.array_equal(draw_faces(img, [face]), img)
