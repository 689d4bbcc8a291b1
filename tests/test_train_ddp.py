"""Distributed training on CPU (gloo): two processes with DistributedDataParallel and the trainer's
DistributedSampler shards produce the gradients of one process on the whole batch; torchrun
runs the command line with rank-0-only logging and checkpointing.

BatchNorm: in training mode each process normalises with the statistics of its own half batch,
so per-process BN makes the two-process gradient differ from the one-process gradient by
design (the paper's multi-GPU training has that property too; ``run.sync_bn`` removes it on
CUDA). The exact comparison therefore freezes BN (running statistics, ``freeze_batchnorm``) while
everything else -- M2FA, LGS, all four loss terms -- runs in training mode: then the loss is a
mean over independent samples and the average of the two half-batch gradients must equal the
full-batch gradient. Face swap mixes the faces of a (per-process) batch, so it is off here;
colour jitter and flip are on (their per-sample seeds make both set-ups see identical images).
"""
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from m3lrn_lib.train import Trainer, checkpoint, load_config, read_log, to_toml
from m3lrn_lib.train.engine import freeze_batchnorm

OVERRIDES = ["run.threads=1", "model.preset=full", "data.subset=32", "augment.face_swap=0", "data.test=none",
             "run.deterministic=true"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_batch_grads(cfg):
    tr = Trainer(cfg)
    freeze_batchnorm(tr.net)
    tr.sampler.set_epoch(0)
    batch = next(iter(tr.loader))
    losses = tr.forward_backward(batch)
    grads = {n: p.grad.detach().clone() for n, p in tr.net.named_parameters() if p.grad is not None}
    return grads, batch["index"], float(losses["total"].detach())


def _worker(rank, world, port, cfg_file, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        grads, index, loss = _first_batch_grads(load_config(cfg_file))
        torch.save({"grads": grads, "index": index, "loss": loss}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gradients_equal_single_process(tmp_path):
    torch.set_num_threads(1)
    cfg = load_config("smoke", OVERRIDES + ["optim.batch_size=8", f"run.out_dir={tmp_path}/ddp"])
    cfg_file = tmp_path / "ddp.toml"
    cfg_file.write_text(to_toml(cfg))
    mp.spawn(_worker, args=(2, _port(), str(cfg_file), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert len(r0["index"]) == len(r1["index"]) == 4  # global batch 8 = 4 per process

    single = load_config("smoke", OVERRIDES + ["optim.batch_size=8", f"run.out_dir={tmp_path}/one"])
    grads, index, loss = _first_batch_grads(single)
    assert sorted(index.tolist()) == sorted(r0["index"].tolist() + r1["index"].tolist())
    assert abs(loss - (r0["loss"] + r1["loss"]) / 2) < 1e-5
    assert set(grads) == set(r0["grads"]) and len(grads) > 100
    for k, g in grads.items():
        assert torch.equal(r0["grads"][k], r1["grads"][k]), k  # DDP: all processes hold the average
        assert torch.allclose(r0["grads"][k], g, rtol=1e-4, atol=1e-6), (k, float((r0["grads"][k] - g).abs().max()))


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun not installed")
def test_torchrun_cli_two_processes(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "m3lrn_lib.train", "--config", "smoke",
                        f"run.out_dir={out}", "run.threads=1", "model.preset=baseline", "data.subset=16",
                        "optim.batch_size=8", "optim.epochs=1", "optim.milestones=", "data.test_subset=8"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-3000:]
    assert r.stdout.count("run 'smoke'") == 1  # rank 0 prints, logs and saves
    assert "(4 per process x 2)" in r.stdout
    st = checkpoint.load_file(out / "last.pt")
    assert st["world_size"] == 2 and st["progress"]["step"] == 2  # 16 samples / global batch 8
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.toml", "last.pt", "log.jsonl"]
    assert [x["step"] for x in read_log(out / "log.jsonl") if x["kind"] == "step"] == [1, 2]
