"""Test-session settings.

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
