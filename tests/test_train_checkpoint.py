"""Checkpoints: atomic writes under a full disk, weights_only loading, fp16 export, clear errors for
another variant or morphable model; trainer bad input (empty dataset folder, batch > dataset)."""
import dataclasses
import errno

import pytest
import torch
from smoke_training import smoke_config

from m3lrn_lib.data import DatasetError
from m3lrn_lib.morphable import load_face_model
from m3lrn_lib.nn import M3LRN
from m3lrn_lib.train import (
    CheckpointError,
    Trainer,
    apply_overrides,
    checkpoint,
    checkpoint_info,
    export_weights,
    load_checkpoint,
)


def tiny(tmp_path, *overrides):
    return smoke_config(tmp_path, "augment.face_swap=0", *overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpt")
    tr = Trainer(tiny(tmp, "run.max_steps=2"))
    tr.fit()
    return tr


def test_training_state_loads_weights_only(trained):
    st = checkpoint.load_file(trained.out_dir / "last.pt")  # torch.load(weights_only=True) inside
    assert st["format"] == checkpoint.TRAIN_FORMAT and st["progress"]["step"] == 2
    assert st["config"]["model"]["preset"] == "baseline" and "optimizer" in st and "rng" in st
    net = load_checkpoint(trained.out_dir / "last.pt")
    for k, v in trained.net.state_dict().items():
        if torch.is_tensor(v):
            assert torch.equal(v.cpu(), net.state_dict()[k]), k
    assert checkpoint_info(trained.out_dir / "last.pt")["progress"]["step"] == 2
    assert (trained.out_dir / "config.toml").is_file() and (trained.out_dir / "best.pt").is_file()


def test_fp16_export_matches(trained, tmp_path):
    size = export_weights(trained.out_dir / "last.pt", tmp_path / "w.pt", log=[{"kind": "epoch", "epoch": 1}],
                          wall_time_s=1.5)
    obj = checkpoint.load_file(tmp_path / "w.pt")
    assert obj["format"] == checkpoint.WEIGHTS_FORMAT and obj["wall_time_s"] == 1.5 and obj["config"]["run"]["name"] == "smoke"
    assert obj["model"]["backbone.features.0.0.weight"].dtype == torch.float16
    assert obj["model"]["param_mean"].dtype == torch.float32
    assert size == (tmp_path / "w.pt").stat().st_size
    net = load_checkpoint(tmp_path / "w.pt")
    ref = trained.net.float().eval()
    x = torch.stack([trained.samples[(i, 0)]["image"] for i in range(2)])
    with torch.no_grad():
        a, b = ref(x)["lmk_refined"], net(x)["lmk_refined"]
    assert net.param_std.dtype == torch.float32 and (a - b).abs().max() < 0.5  # pixels, fp16 weights


def test_compressed_packing_round_trip_and_damage(tmp_path):
    state = {"a": torch.randn(5, 3).half(), "b": torch.arange(7), "c": torch.randn(4), "n": 3}
    packed = checkpoint._pack(state, compress=True)
    assert set(packed) == {"zlib_tensors", "index", "other"}
    assert all(t.dtype == torch.uint8 for t in packed["zlib_tensors"].values())
    back = checkpoint._unpack(packed)
    assert back["n"] == 3 and all(torch.equal(back[k], state[k]) and back[k].dtype == state[k].dtype for k in "abc")
    assert all(torch.equal(checkpoint._unpack(checkpoint._pack(state))[k], state[k]) for k in "abc")  # uncompressed layout too
    obj = {"format": checkpoint.WEIGHTS_FORMAT, "version": 1, "packed_model": packed}
    bad = dict(packed, zlib_tensors={k: v.clone() for k, v in packed["zlib_tensors"].items()})
    bad["zlib_tensors"]["float16"][2:12] = 0
    checkpoint.atomic_save(dict(obj, packed_model=bad), tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"bad\.pt: damaged weights"):
        checkpoint.load_file(tmp_path / "bad.pt")


def test_full_model_fits_in_8_mb(tmp_path):
    model = load_face_model()
    net = M3LRN(model, "full")
    fm = {"name": model.name, "fingerprint": model.fingerprint(), "n_params": model.n_params, "source": ""}
    st = {"format": checkpoint.TRAIN_FORMAT, "version": 1, "model": net.state_dict(), "model_config": net.config.to_dict(),
          "face_model": fm, "config": {}}
    assert export_weights(st, tmp_path / "full.pt") <= 8_000_000  # the repository keeps no file over 8 MB
    assert load_checkpoint(tmp_path / "full.pt").config == net.config


def test_other_variant_or_face_model_is_refused(trained, tmp_path):
    model = load_face_model()
    with pytest.raises(CheckpointError, match="another model variant: .*refine: checkpoint False, network True"):
        load_checkpoint(trained.out_dir / "last.pt", M3LRN(model, "full"))
    other = dataclasses.replace(model, mean=model.mean * 1.01)
    with pytest.raises(CheckpointError, match="trained for face model"):
        load_checkpoint(trained.out_dir / "last.pt", other)
    with pytest.raises(CheckpointError, match="trained for face model"):
        load_checkpoint(trained.out_dir / "last.pt", M3LRN(other, "baseline"))
    with pytest.raises(CheckpointError, match="another model variant"):  # and resuming a run of another variant
        Trainer(tiny(tmp_path, "model.preset=m2fa"), resume=trained.out_dir / "last.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


class Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_untrusted_or_foreign_files(tmp_path, capsys):
    torch.save({"format": checkpoint.WEIGHTS_FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "pickled code ran" not in capsys.readouterr().out
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an m3lrn checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def _full_disk(fh, data):
    fh.write(bytes(data[: len(data) // 2]))
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_keeps_previous_checkpoint(trained, monkeypatch):
    path = trained.out_dir / "last.pt"
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint, "_write", _full_disk)
    with pytest.raises(OSError, match="no space left .* previous checkpoint is unchanged") as e:
        trained.save("last.pt")
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and checkpoint.load_file(path)["progress"]["step"] == 2
    assert not list(trained.out_dir.glob(".tmp-*"))


def test_disk_full_during_training(tmp_path, monkeypatch):
    cfg = tiny(tmp_path, "optim.epochs=2", "run.eval_every=0", "data.test=none")
    Trainer(apply_overrides(cfg, ["run.max_steps=4"])).fit()  # epoch 1 ends at step 4 -> last.pt
    monkeypatch.setattr(checkpoint, "_write", _full_disk)
    tr2 = Trainer(cfg, resume="auto")
    with pytest.raises(OSError, match="no space left"):
        tr2.fit()
    assert checkpoint.load_file(tmp_path / "run" / "last.pt")["progress"]["step"] == 4  # still the valid old one


def test_bad_dataset_path_and_batch(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="data.train = .*empty"):
        Trainer(tiny(tmp_path, f"data.train={tmp_path / 'empty'}"))
    with pytest.raises(DatasetError, match="does not exist"):
        Trainer(tiny(tmp_path, f"data.train={tmp_path / 'nowhere'}"))
    with pytest.raises(ValueError, match="batch_size 32 is larger than the training set \\(16 samples\\)"):
        Trainer(tiny(tmp_path, "optim.batch_size=32"))
