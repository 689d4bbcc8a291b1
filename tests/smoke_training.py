"""The ``smoke`` training preset shrunk to seconds, shared by the trainer tests.

A plain module rather than ``conftest.py``: ``tests/hostile/conftest.py`` is also importable as
``conftest``, so ``from conftest import ...`` depends on which one pytest loaded first.
"""


def smoke_config(tmp_path, *overrides):
    """The ``smoke`` training preset shrunk to seconds (16 training / 8 test faces, batch 4, one
    epoch, one thread), writing into ``tmp_path/run``; ``overrides`` as on the command line."""
    from m3lrn_lib.train import load_config
    return load_config("smoke", ["run.threads=1", f"run.out_dir={tmp_path}/run", "data.subset=16",
                                 "optim.batch_size=4", "optim.epochs=1", "optim.milestones=", "data.test_subset=8",
                                 *overrides])
