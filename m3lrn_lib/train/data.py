"""Data pipeline of the trainer: datasets from the configuration, reproducible augmentation,
a resumable (and distributed) sampler, and the face-swap collate step.

Reproducibility does not depend on the number of DataLoader workers: every sample's
augmentation draws from a generator seeded by ``(run seed, epoch, position in the epoch)``
and every batch's face swap from the seed of its first sample. The sampler is torch's
:class:`~torch.utils.data.DistributedSampler` (a seeded permutation per epoch, sharded over
the processes), wrapped so that a resumed run can start in the middle of an epoch.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from torch.utils.data._utils.collate import default_collate

from .. import data

__all__ = ["build_datasets", "AugmentedSamples", "EpochSampler", "FaceSwapCollate", "build_train_loader",
           "sample_seed"]


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for the augmentation of one sample (independent streams per key)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(position)]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def _subset(ds, n: int):
    if n and n < len(ds):
        return torch.utils.data.Subset(ds, range(n))
    return ds


SKIP_BAD_HINT = "pass skip_bad=True to drop bad samples with a warning"


def _config_hint(exc: Exception, key: str, value) -> data.DatasetError:
    """The readers' error as the trainer reports it: prefixed with the config key and its value,
    and the readers' ``skip_bad=True`` hint spelled as the config key ``data.skip_bad=true``."""
    text = str(exc).replace(SKIP_BAD_HINT, "set data.skip_bad=true (skip_bad=True in code) to drop bad "
                                           "samples with a warning")
    return data.DatasetError(f"{key} = {str(value)!r}: {text}")


def _reopen(reader, model, skip_bad: bool, whitening=None):
    """The same split reader opened again with ``skip_bad`` (for the generated sets)."""
    if not skip_bad or reader is None:
        return reader
    if isinstance(reader, data.ThreeDDFADataset):
        return data.ThreeDDFADataset(reader.root, model, skip_bad=True)
    return data.AFLW2000Dataset(reader.root, model, whitening=whitening, skip_bad=True)


def validate_test_set(test, key: str, value, n: int = 0) -> None:
    """Decode the images of the (first ``n``) test samples now, before training starts: a bad test
    set fails at once, naming the folder and the first bad file (DatasetError), instead of at the
    first validation after an epoch. Readers opened with ``skip_bad`` decoded them already."""
    from ..data.io import read_rgb
    base = test.dataset if isinstance(test, torch.utils.data.Subset) else test
    if len(test) == 0:
        raise data.DatasetError(f"{key} = {str(value)!r}: no test samples (every sample was bad or the folder "
                                "holds none)")
    if getattr(base, "skip_bad", False) or not hasattr(base, "paths"):
        return
    count = len(test)
    bad = []
    for i in range(count):
        p = base.paths[i]
        try:
            read_rgb(p)
        except data.DatasetError as exc:
            bad.append(str(exc))
    if bad:
        more = f" (and {len(bad) - 1} more bad samples)" if len(bad) > 1 else ""
        raise _config_hint(data.DatasetError(bad[0] + more + "; " + SKIP_BAD_HINT), key, value)


def check_same_generator(train, test) -> None:
    """Refuse a training and a test set made by different synthetic-generator versions.

    Both readers' ``manifest`` (empty for real data, which is never refused) name the version;
    the error names both versions and both folders.
    """
    v_train = getattr(train, "manifest", {}).get("generator_version")
    v_test = getattr(test, "manifest", {}).get("generator_version")
    if v_train is not None and v_test is not None and v_train != v_test:
        raise data.DatasetError(
            f"data.train {train.root} was made by synthetic generator version {v_train} but data.test {test.root} by "
            f"version {v_test}: sets of different versions do not mix (generate both with one version: "
            f"python -m m3lrn_lib.data --generator {v_train} ...)")


def build_datasets(cfg, model, progress: bool = True):
    """(train, test) readers for ``cfg.data`` (test may be None); raw, unaugmented.

    Every reader is opened with ``skip_bad=cfg.data.skip_bad``; the test set's images are decoded
    now (:func:`validate_test_set`), so a bad test set fails before training starts. Raises
    :class:`m3lrn_lib.data.DatasetError` naming the config key and the folder for a folder without
    (good) data, or a training set without 3DMM targets for ``model``.
    """
    d = cfg.data
    skip = bool(getattr(d, "skip_bad", False))
    test_key, test_value = "data.test", d.test or d.train
    if d.train == "synthetic":
        try:
            train, test = data.default_datasets(model, d.n_train, d.n_test, workers=max(1, d.workers),
                                                progress=progress)
        except data.DatasetError as exc:
            raise _config_hint(exc, "data.train", d.train) from None
        train = _reopen(train, model, skip)
        test = _reopen(test, model, skip, whitening=train)
    elif d.train == "sample":
        from .. import paths
        folder = paths.sample_dir()
        try:
            train = data.ThreeDDFADataset(folder / "train", model, skip_bad=skip)
            test = data.AFLW2000Dataset(folder / "test", model, whitening=train, skip_bad=skip)
        except data.DatasetError as exc:
            raise _config_hint(exc, "data.train", d.train) from None
    else:
        try:
            train = data.open_dataset(d.train, model=model, skip_bad=skip)
        except data.DatasetError as exc:
            raise _config_hint(exc, "data.train", d.train) from None
        test = None
        if getattr(train, "layout", "") == "300wlp":
            raise data.DatasetError(f"data.train = {d.train!r} is a 300W-LP folder: its BFM fits are no targets for "
                                    f"face model {model.name!r}; train on a 3DDFA-layout folder (crops + parameters)")
    if d.test == "none":
        test = None
    elif d.test and d.test != "none":
        try:
            test = data.AFLW2000Dataset(d.test, model, whitening=train, skip_bad=skip)
        except data.DatasetError as exc:
            raise _config_hint(exc, "data.test", d.test) from None
        test_value = d.test
    if len(train) == 0:
        raise data.DatasetError(f"data.train = {d.train!r}: no training samples")
    if test is not None:
        check_same_generator(train, test)
    test = _subset(test, d.test_subset) if test is not None else None
    if test is not None:
        validate_test_set(test, test_key, test_value)
    return train, test


class AugmentedSamples(Dataset):
    """Training samples ``base[indices]`` whose augmentation is seeded per request.

    ``dataset[(i, seed)]`` applies ``transform`` (built on a private generator, reseeded with
    ``seed``) to ``base.raw(indices[i])`` and ends with the ``ToTensor`` step; the sample gets an
    ``aug_seed`` entry. Datasets without ``raw`` are returned unaugmented.

    Args:
        base: a reader from :mod:`m3lrn_lib.data` (or any dataset of sample dicts).
        model: the face model (for the flip's mirror operators).
        color_jitter, flip: the augmentations (flip = probability).
        subset: use only the first ``subset`` samples (0: all).
    """

    def __init__(self, base, model=None, color_jitter: bool = False, flip: float = 0.0, subset: int = 0):
        self.base, self.model, self.color_jitter, self.flip = base, model, color_jitter, flip
        self.n = min(subset, len(base)) if subset else len(base)
        self._build()
        self.can_augment = hasattr(base, "raw") and hasattr(base, "param_mean")
        if self.transform is not None and not self.can_augment:
            warnings.warn(f"{type(base).__name__} has no raw samples; training without colour jitter / flip",
                          stacklevel=2)
        self.param_mean = getattr(base, "param_mean", None)
        self.param_std = getattr(base, "param_std", None)

    def _build(self):
        self.generator = torch.Generator()
        ts = []
        if self.color_jitter:
            ts.append(data.ColorJitter(generator=self.generator))
        if self.flip > 0:
            ts.append(data.RandomHorizontalFlip(self.model, p=self.flip, generator=self.generator))
        self.transform = data.Compose(ts) if ts else None

    # a torch.Generator does not survive pickling into spawned workers: rebuild it there
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("generator", "transform")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        i, seed = key if isinstance(key, tuple) else (key, 0)
        if self.transform is not None and self.can_augment:
            self.generator.manual_seed(int(seed))
            s = data.to_sample(self.transform(self.base.raw(i)), self.base.param_mean, self.base.param_std)
        else:
            s = dict(self.base[i])
        s["aug_seed"] = int(seed)
        return s


class EpochSampler(Sampler):
    """Yields ``(index, seed)`` pairs of one epoch: a :class:`DistributedSampler` order (seed +
    epoch), this process's shard, starting at position ``start`` (for a resumed run).

    Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, n: int, world_size: int = 1, rank: int = 0, seed: int = 0, shuffle: bool = True):
        self.inner = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle,
                                        seed=seed, drop_last=True)
        self.world_size, self.rank, self.seed = world_size, rank, seed
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Epoch (reshuffles) and the number of this process's samples to skip."""
        self.epoch, self.start = int(epoch), int(start)
        self.inner.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.inner) - self.start

    def __iter__(self):
        for k, i in enumerate(self.inner):
            if k >= self.start:  # global position k * world + rank (DistributedSampler interleaves)
                yield int(i), sample_seed(self.seed, self.epoch, k * self.world_size + self.rank)


class FaceSwapCollate:
    """``default_collate`` then the paper's face swap (:class:`m3lrn_lib.data.FaceSwap`), seeded by
    the batch's first ``aug_seed``. Runs inside the DataLoader workers (CPU), in parallel with
    the training step."""

    def __init__(self, model=None, p: float = 0.0, texture_size: int = 128):
        self.model, self.p, self.texture_size = model, p, texture_size
        self._build()
        self._warned = False

    def _build(self):
        self.generator = torch.Generator()
        self.swap = (data.FaceSwap(self.model, p=self.p, texture_size=self.texture_size, generator=self.generator)
                     if self.p > 0 else None)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("generator", "swap")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    def __call__(self, samples):
        batch = default_collate(samples)
        if self.swap is None:
            return batch
        if "params" not in batch or "has_target" not in batch:
            if not self._warned:
                warnings.warn("batches have no 'params'/'has_target'; face swap is skipped", stacklevel=2)
                self._warned = True
            return batch
        self.generator.manual_seed(int(batch["aug_seed"][0]) ^ 0x5DEECE66D)
        return self.swap(batch)


def _worker_init(_, fresh: bool = True):
    """One thread per worker. Only in a fresh (spawned) process: after a fork, OpenCV's and
    OpenBLAS's thread pools are copies of the parent's, and resizing them can deadlock."""
    torch.set_num_threads(1)
    if fresh:
        from ..runtime import limit_blas_threads
        limit_blas_threads(1)
        try:
            import cv2
            cv2.setNumThreads(1)
        except ImportError:  # pragma: no cover
            pass


def build_train_loader(samples: AugmentedSamples, cfg, model, world_size: int = 1, rank: int = 0,
                       pin_memory: bool = False):
    """(DataLoader, EpochSampler) for ``cfg`` (per-process batch = ``batch_size // world_size``).

    Raises ConfigError (a ValueError) when the batch does not divide over the processes or is larger than the
    (per-process) training set.
    """
    bs, n = cfg.optim.batch_size, len(samples)
    from .configfiles import ConfigError
    if bs % world_size:
        raise ConfigError(f"optim.batch_size {bs} must be divisible by the number of processes ({world_size})")
    per_rank = bs // world_size
    if per_rank > n // world_size:
        raise ConfigError(f"optim.batch_size {bs} is larger than the training set ({n} samples"
                         + (f", {n // world_size} per process" if world_size > 1 else "")
                         + "); lower optim.batch_size or use more data")
    sampler = EpochSampler(n, world_size, rank, cfg.run.seed)
    a = cfg.augment
    collate = FaceSwapCollate(model, a.face_swap, a.face_swap_texture)
    w, method = cfg.data.workers, cfg.data.start_method
    init = functools.partial(_worker_init, fresh=method != "fork")
    kw = dict(num_workers=w, persistent_workers=w > 0, worker_init_fn=init if w > 0 else None,
              prefetch_factor=cfg.data.prefetch if w > 0 else None,
              multiprocessing_context=method if w > 0 else None)
    loader = DataLoader(samples, batch_size=per_rank, sampler=sampler, drop_last=True, collate_fn=collate,
                        pin_memory=pin_memory, generator=torch.Generator().manual_seed(cfg.run.seed), **kw)
    return loader, sampler
