"""Hostile checkpoint files for every reader (trainer, texture GAN, predictor): empty, truncated,
random bytes, a PNG, a folder, a pickle payload whose unpickling would run code. Each gives one
line naming the file (a UserError), and the payload never runs."""
import pickle

import numpy as np
import pytest
import torch

from m3lrn_lib.errors import UserError
from m3lrn_lib.predict.network import NetworkLoadError, load_network
from m3lrn_lib.texture.checkpoint import TextureCheckpointError, load_generator, load_texture_file
from m3lrn_lib.train.checkpoint import TRAIN_FORMAT, CheckpointError, load_checkpoint, load_file, read_checkpoint

READERS = {
    "train.load_file": (load_file, CheckpointError),
    "train.load_checkpoint": (load_checkpoint, CheckpointError),
    "texture.load_texture_file": (load_texture_file, TextureCheckpointError),
    "texture.load_generator": (load_generator, TextureCheckpointError),
    "predict.load_network": (load_network, NetworkLoadError),
}


class Payload:
    """Unpickling this creates (opens for writing) the marker file: code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _good_bytes(tmp_path) -> bytes:
    torch.save({"format": TRAIN_FORMAT, "version": 1, "model": {"w": torch.zeros(20000)}}, tmp_path / "good.pt")
    return (tmp_path / "good.pt").read_bytes()


def make_file(kind: str, tmp_path):
    path = tmp_path / f"{kind}.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = _good_bytes(tmp_path)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(1).integers(1, 127, 4096, dtype=np.uint8).tobytes())
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind == "folder":
        path.mkdir()
    return path


KINDS = {"empty": "empty file", "truncated": "truncated", "random": "not a PyTorch checkpoint",
         "png": "not a PyTorch checkpoint", "folder": "is a folder"}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_bad_file_is_one_line_naming_it(kind, reader, tmp_path):
    load, error = READERS[reader]
    path = make_file(kind, tmp_path)
    with pytest.raises(error) as info:
        load(path)
    text = str(info.value)
    assert isinstance(info.value, UserError)
    assert str(path) in text and KINDS[kind] in text, text
    assert "\n" not in text and len(text) < 400, text


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("wrapper", ["torch_save", "plain_pickle"])
def test_pickle_payload_is_refused_and_never_runs(reader, wrapper, tmp_path):
    load, error = READERS[reader]
    marker = tmp_path / "PAYLOAD_RAN"
    path = tmp_path / "evil.pt"
    obj = {"format": TRAIN_FORMAT, "version": 1, "model": {"w": torch.zeros(3)}, "x": Payload(marker)}
    if wrapper == "torch_save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    with pytest.raises(error) as info:
        load(path)
    text = str(info.value)
    assert isinstance(info.value, UserError) and "\n" not in text
    assert str(path) in text and "refused" in text and "run code" in text, text
    assert not marker.exists()


def test_the_payload_is_real(tmp_path):
    """Control: the same file loaded *without* weights_only does run the payload."""
    marker = tmp_path / "PAYLOAD_RAN"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_cli_prints_the_file_in_one_line(tmp_path, capsys):
    """The predictor's loader through a command line convention: exit 2, one line, no traceback."""
    from m3lrn_lib import cli
    path = make_file("empty", tmp_path)

    def main(argv):
        read_checkpoint(path, (TRAIN_FORMAT,))

    assert cli.run_main(main, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(path) in err and "Traceback" not in err
