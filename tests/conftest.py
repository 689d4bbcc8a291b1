"""Test-session settings and shared helpers.

Every test runs with one torch intra-op thread: the suite runs two test processes (xdist) on a
shared 2-core machine, where two OpenMP threads per process stall at every operation's barrier
whenever another process holds a core (a 20 s test then takes minutes).
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def smoke_config(tmp_path, *overrides):
    """The ``smoke`` training preset shrunk to seconds (16 training / 8 test faces, batch 4, one
    epoch, one thread), writing into ``tmp_path/run``; ``overrides`` as on the command line."""
    from m3lrn_lib.train import load_config
    return load_config("smoke", ["run.threads=1", f"run.out_dir={tmp_path}/run", "data.subset=16",
                                 "optim.batch_size=4", "optim.epochs=1", "optim.milestones=", "data.test_subset=8",
                                 *overrides])
