"""Head-pose angle conventions (geometry.matrix_to_angles / angles_to_matrix / convert_angles) on
hand-made rotations: ours, the paper's code's, 3DDFA_V2's and AFLW2000-3D's Pose_Para."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from m3lrn_lib import geometry as G
from m3lrn_lib.data.layouts import euler_from_pose_para, matrix_from_pose_para, pose_para_angles


def deg(*a):
    return torch.tensor([math.radians(v) for v in a], dtype=torch.float64)


def as_deg(t):
    return np.degrees(t.numpy())


# one elementary rotation at a time, ours = (yaw, pitch, roll); worked out by hand from
# R = Rz(roll) Ry(yaw) Rx(pitch): the paper's code reads yaw = asin(R[2,0]) = -yaw, and its
# pitch = atan2(R[1,2], R[2,2]) = -pitch, roll = atan2(R[0,1], R[0,0]) = -roll for a single angle.
ELEMENTARY = [
    ((30, 0, 0), {"paper_code": (-30, 0, 0), "3ddfa_v2": (-30, 0, 0), "pose_para": (0, -30, 0)}),
    ((0, 20, 0), {"paper_code": (0, -20, 0), "3ddfa_v2": (0, 20, 0), "pose_para": (-20, 0, 0)}),
    ((0, 0, 10), {"paper_code": (0, 0, -10), "3ddfa_v2": (0, 0, 10), "pose_para": (0, 0, -10)}),
]


@pytest.mark.parametrize("ours, expected", ELEMENTARY)
def test_elementary_rotations_in_every_convention(ours, expected):
    R = G.euler_to_matrix(deg(*ours))
    assert np.allclose(as_deg(G.matrix_to_angles(R, "ours")), ours, atol=1e-9)
    for conv, want in expected.items():
        assert np.allclose(as_deg(G.matrix_to_angles(R, conv)), want, atol=1e-9), conv
        assert np.allclose(as_deg(G.convert_angles(deg(*want), conv, "ours")), ours, atol=1e-9), conv


def test_worked_example_of_docs_conventions():
    """docs/conventions.md: ours (30, 20, 10) deg in every convention."""
    got = {c: as_deg(G.convert_angles(deg(30, 20, 10), "ours", c)) for c in G.ANGLE_CONVENTIONS}
    assert np.allclose(got["ours"], (30, 20, 10))
    assert np.allclose(got["3ddfa_v2"], (-30, 20, 10))
    assert np.allclose(got["paper_code"], (-30.0, -17.413, 0.352), atol=1e-3)
    assert np.allclose(got["pose_para"], (-17.413, -31.473, 0.352), atol=1e-3)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "conventions.md").read_text()
    for cell in ("−30.00", "−17.41", "0.35", "−31.47"):
        assert cell in doc, cell


def test_round_trips_on_random_rotations():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(2000, 3, generator=g, dtype=torch.float64) - 0.5) * torch.tensor([3.1, 6.28, 6.28],
                                                                                       dtype=torch.float64)
    R = G.euler_to_matrix(a)
    lock = R[:, 2, 0].abs() > 0.998                     # 3DDFA_V2's gimbal branch drops roll: not invertible there
    assert 0 < int(lock.sum()) < 100
    for conv in G.ANGLE_CONVENTIONS:
        err = (G.angles_to_matrix(G.matrix_to_angles(R, conv), conv) - R).abs().flatten(1).max(1).values
        rows = ~lock if conv == "3ddfa_v2" else torch.ones_like(lock)
        assert float(err[rows].max()) < 1e-8, conv


def test_the_paper_codes_pitch_and_roll_are_not_ours():
    """Its yaw is exactly ours negated; its pitch and roll are ours of R^T: up to ~7 deg apart even when
    every angle is within +-20 deg, and up to ~180 deg on general rotations."""
    g = torch.Generator().manual_seed(1)
    small = (torch.rand(5000, 3, generator=g, dtype=torch.float64) * 2 - 1) * math.radians(20)
    p = G.convert_angles(small, "ours", "paper_code")
    assert float((p[:, 0] + small[:, 0]).abs().max()) < 1e-12
    gap = np.degrees((p[:, 1:] + small[:, 1:]).abs().max().item())
    assert 5.0 < gap < 8.0, gap
    wide = (torch.rand(5000, 3, generator=g, dtype=torch.float64) - 0.5) * torch.tensor([3.1, 6.28, 6.28],
                                                                                          dtype=torch.float64)
    q = G.convert_angles(wide, "ours", "paper_code")
    d = torch.remainder(q[:, 1:] + wide[:, 1:] + math.pi, 2 * math.pi) - math.pi
    assert np.degrees(float(d.abs().max())) > 170


def test_pose_para_reader_and_writer_use_the_same_convention():
    R = G.euler_to_matrix(deg(25, -12, 7))
    pp = pose_para_angles(R.numpy())
    assert np.allclose(pp, G.matrix_to_angles(R, "pose_para").numpy())
    assert np.allclose(matrix_from_pose_para(pp), R.numpy(), atol=1e-12)
    assert np.allclose(np.degrees(euler_from_pose_para(pp)), (25, -12, 7), atol=1e-4)


def test_gimbal_branch_of_3ddfa_v2():
    R = G.euler_to_matrix(deg(89.99, 10, 5))            # |R[2,0]| > 0.998: 3DDFA_V2's lock branch, roll := 0
    a = as_deg(G.matrix_to_angles(R, "3ddfa_v2"))
    assert abs(a[0] + 89.99) < 1e-6 and a[2] == 0.0
    assert abs(a[1] - (5 - 10)) < 0.01          # near the lock only pitch - roll is defined: it keeps it in pitch
    assert np.allclose(as_deg(G.matrix_to_angles(R, "ours")), (89.99, 10, 5), atol=1e-4)   # ours has no such branch


def test_a_triple_that_no_rotation_reads_as_gives_nan_and_unknown_names_list_the_valid_ones():
    R = G.angles_to_matrix(deg(80, -60, 60), "paper_code")    # sin(y') would be (0.98 + 0.75) / 0.25 > 1
    assert torch.isnan(R).all()
    with pytest.raises(ValueError, match="valid: ours, paper_code, 3ddfa_v2, pose_para"):
        G.matrix_to_angles(torch.eye(3), "synergynet")
    with pytest.raises(ValueError, match="unknown angle convention 'zyx'"):
        G.convert_angles(deg(1, 2, 3), "ours", "zyx")
