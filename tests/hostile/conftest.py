"""Fixtures shared by the hostile-input tests."""
import pytest

from m3lrn_lib.morphable import load_face_model


@pytest.fixture(scope="session")
def model():
    """The embedded face model (loaded once per test process)."""
    return load_face_model()
