"""The trainer: configuration in, a trained :class:`~m3lrn_lib.nn.M3LRN` and a run folder out.

One optimisation step (Sec. 4 "Procedure", Eq. 7)::

    batch  <- DataLoader(EpochSampler: seeded permutation, this process's shard)
              + colour jitter, flip (per sample)  + face swap (per batch, in the workers)
    out    <- net(images)          [under torch.autocast on CUDA: the backbone runs in bf16/fp16,
                                    M3LRN runs the rest in float32; channels-last]
    L      <- l1 L_3DMM + l2 L_lmk + l3 L_3DMM_lmk + l4 L_g
    grads  <- dL/dtheta            [DDP: averaged over the processes during backward]
    skip the step if L or any gradient is not finite (counted), else SGD with
    lr(step) = lr * batch/1024 * 0.1^(#milestones passed) (* warm-up)

Run folder (``cfg.out_dir()``): ``config.toml`` (the resolved configuration), ``log.jsonl`` or
``log.csv``, ``last.pt`` (written at every epoch end and every ``run.save_every`` steps) and
``best.pt`` (lowest validation NME). A checkpoint holds everything needed to continue the run
exactly: model, optimizer, gradient scaler, step / epoch / position in the epoch, the running
epoch loss, best metric, RNG states. With ``run.deterministic`` and a fixed thread count a
resumed run ends with the same weights as an uninterrupted one.

Distributed: under ``torchrun`` (env ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``) the CLI starts the
process group (NCCL on GPUs, gloo on CPU); the trainer wraps the network in
DistributedDataParallel, shards the data with a DistributedSampler, and only rank 0 logs,
validates and writes files. ``optim.batch_size`` is the global batch.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..fileio import atomic_write_bytes, remove_temp_files
from ..morphable import load_face_model
from ..nn import M3LRN, M3LRNConfig
from ..nn.losses import LOSS_NAMES
from ..runtime import dist_info, limit_blas_threads, pick_device, restore_blas_threads, rng_state, set_rng_state
from .budget import BudgetWarning, budget_warnings, term_budgets
from .checkpoint import TRAIN_FORMAT, VERSION, CheckpointError, atomic_save, load_file
from .config import ConfigError, TrainConfig, apply_overrides, load_config, to_dict, to_toml
from .data import AugmentedSamples, build_datasets, build_train_loader
from .logs import MetricsLog, eval_record
from .loop import make_optimizer
from .schedule import effective_lr, lr_at, lr_curve

__all__ = ["Trainer", "fit", "freeze_batchnorm"]


# ----------------------------------------------------------------------------- helpers
def freeze_batchnorm(net: nn.Module) -> nn.Module:
    """Put every BatchNorm layer in eval mode (running statistics), leaving the rest in training
    mode: the loss then is a plain mean over independent samples (used by the DDP test)."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return net


def _amp_dtype(mode: str, device: torch.device):
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def _to(batch: dict, device, non_blocking: bool) -> dict:
    return {k: (v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _describe(rec: dict, epochs: int) -> str:
    if rec["kind"] == "epoch":
        return (f"epoch {rec['epoch']}/{epochs} (step {rec['step']}): train loss {rec['train_loss']:.4f}, "
                f"{rec['elapsed_s'] / 60:.1f} min")
    return (f"  validation after epoch {rec['epoch']}: NME {rec['nme_all']:.2f} (first stage "
            f"{rec['nme_coarse_all']:.2f}), yaw MAE {rec['yaw_mae']:.2f} deg, n={rec['n_eval']}")


# which configuration changes a resumed run may make without breaking it
_RESUME_FREE = ("run.progress", "run.max_steps", "run.out_dir", "run.name", "run.log_every", "run.eval_every",
                "run.save_every", "run.eval_batch", "data.workers", "data.prefetch", "data.pin_memory", "data.start_method",
                "run.compile", "optim.epochs")


def _flat(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "options":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Set up a run from a :class:`TrainConfig`; :meth:`fit` trains it.

    Args:
        cfg: the configuration (see :mod:`m3lrn_lib.train.config`).
        train_set, test_set: datasets to use instead of ``cfg.data`` (sample dicts as in
            :mod:`m3lrn_lib.data`; readers with ``raw`` get the configured augmentation).
        face_model: a :class:`~m3lrn_lib.morphable.FaceModel` (default: ``cfg.model.face_model``).
        callbacks: ``callback(trainer, record)`` for every log record (rank 0); may raise to stop.
        resume: a checkpoint path, ``"auto"`` (``last.pt`` of the run folder when it exists) or None.

    Attributes: ``net`` (the M3LRN), ``model`` (``net`` or its DDP wrapper), ``optimizer``,
    ``loader``, ``sampler``, ``steps_per_epoch``, ``total_steps``, ``state`` (progress counters),
    ``out_dir``, ``log_path``, ``history`` (the records of this process's run).
    """

    def __init__(self, cfg: TrainConfig, train_set=None, test_set=None, face_model=None, callbacks=(),
                 resume=None):
        self.cfg = cfg.validate()
        r = cfg.run
        self.world, self.rank, self.local_rank = dist_info()
        self.is_main = self.rank == 0
        self.device = pick_device(r.device, self.local_rank)
        self.callbacks = list(callbacks)
        self.history: list[dict] = []
        self.face_model = load_face_model(face_model if face_model is not None else (cfg.model.face_model or None))

        # data (rank 0 first: it may generate the synthetic set; the others then read it)
        if train_set is None:
            if self.world > 1 and not self.is_main:
                dist.barrier()
            train_set, default_test = build_datasets(cfg, self.face_model, progress=self.is_main and r.progress)
            if self.world > 1 and self.is_main:
                dist.barrier()
            test_set = default_test if test_set is None else test_set
        self.train_set, self.test_set = train_set, test_set
        a = cfg.augment
        self.samples = AugmentedSamples(train_set, self.face_model, a.color_jitter, a.flip, cfg.data.subset)
        pin = cfg.data.pin_memory and self.device.type == "cuda"
        self.loader, self.sampler = build_train_loader(self.samples, cfg, self.face_model, self.world,
                                                       self.rank, pin)
        self.steps_per_epoch = len(self.loader)
        self.total_steps = cfg.optim.epochs * self.steps_per_epoch
        self.stop_at = min(self.total_steps, r.max_steps) if r.max_steps else self.total_steps
        self.base_lr = effective_lr(cfg.optim)
        mcfg = M3LRNConfig.preset(cfg.model.preset, **cfg.model.options)
        total_lr = sum(lr_curve(cfg.optim, self.steps_per_epoch))
        self.budgets = term_budgets(cfg.loss, total_lr)
        if self.is_main and cfg.optim.optimizer == "sgd":  # Adam's step does not scale with lambda
            for line in budget_warnings(cfg.loss, total_lr, mcfg):
                warnings.warn(line, BudgetWarning, stacklevel=2)

        # network
        mean = getattr(self.samples, "param_mean", None)
        std = getattr(self.samples, "param_std", None)
        torch.manual_seed(r.seed)
        net = M3LRN(self.face_model, mcfg, mean, std).to(self.device)
        if r.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if r.sync_bn and self.world > 1:
            if self.device.type != "cuda":
                raise ConfigError("run.sync_bn needs CUDA (set run.sync_bn=false on the CPU)")
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.amp_dtype = _amp_dtype(r.amp, self.device)
        if r.compile:
            net.backbone.compile()
        self.net = net
        o = cfg.optim
        params = [p for p in net.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(params, o.optimizer, self.base_lr, o.momentum, o.nesterov, o.weight_decay)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.state = {"epoch": 0, "step": 0, "batch_in_epoch": 0, "skipped": 0, "best_nme": None,
                      "best_epoch": None, "wall_time_s": 0.0, "epoch_loss_sum": 0.0, "epoch_loss_n": 0,
                      "last_eval_step": None}
        self.metrics: dict | None = None

        # resume
        self.out_dir = cfg.out_dir()
        self.resumed_from = None
        if resume == "auto":
            resume = self.out_dir / "last.pt" if (self.out_dir / "last.pt").is_file() else None
        if resume is not None:
            self._load_resume(resume)

        self.model = net
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(net, device_ids=ids,
                                                             find_unused_parameters=r.ddp_find_unused)

        self.log_path = self.out_dir / f"log.{r.log_format}"
        self.log: MetricsLog | None = None  # opened by fit() / save(): the constructor writes nothing

    def _open_run(self) -> None:
        """Prepare the run folder on rank 0, once: remove the checkpoints of an earlier run that is
        not being resumed (with a warning), write ``config.toml``, open the log."""
        if self.log is not None or not self.is_main:
            return
        r = self.cfg.run
        self.out_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_temp_files(self.out_dir)  # debris of a save killed mid-write (SIGKILL, power loss)
        if removed:
            warnings.warn(f"{self.out_dir}: removed {removed} temporary file(s) of an interrupted checkpoint "
                          "write", stacklevel=3)
        old = [p for p in (self.out_dir / "last.pt", self.out_dir / "best.pt") if p.is_file()]
        if old and not self.resumed_from:
            warnings.warn(f"{self.out_dir} holds an earlier run; starting a new one over it (its checkpoints "
                          "are removed; resume=... / --resume continues it instead)", stacklevel=3)
            for p in old:
                p.unlink()
        atomic_write_bytes(self.out_dir / "config.toml", to_toml(
            self.cfg, header=f"resolved configuration of run {r.name!r} (m3lrn_lib.train)",
            derived=self.derived()).encode())
        self.log = MetricsLog(self.log_path, r.log_format,
                              resume_step=self.state["step"] if self.resumed_from else None)

    def autocast(self):
        """The mixed-precision context of the forward pass (``run.amp`` on CUDA; else a no-op):
        the backbone runs in bf16 / fp16, :class:`~m3lrn_lib.nn.M3LRN` keeps the 3DMM
        reconstruction, M2FA and LGS in float32 (pixel coordinates lose ~0.4 px in bf16)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------ description
    def derived(self) -> dict:
        """Numbers computed from the configuration and the machine (written to config.toml)."""
        return {"effective_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps, "stop_at_step": self.stop_at, "world_size": self.world,
                "per_process_batch": self.cfg.optim.batch_size // self.world, "train_samples": len(self.samples),
                "test_samples": len(self.test_set) if self.test_set is not None else 0,
                **{f"budget_{b.key}": round(b.budget, 4) for b in self.budgets},
                "device": str(self.device), "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype
                else "off", "torch": torch.__version__}

    def lr_at(self, step: int) -> float:
        o = self.cfg.optim
        return lr_at(step, self.base_lr, self.steps_per_epoch, o.milestones, o.gamma, o.warmup_epochs)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> dict:
        fm = self.face_model
        return {"format": TRAIN_FORMAT, "version": VERSION, "config": to_dict(self.cfg),
                "model": self.net.state_dict(), "model_config": self.net.config.to_dict(),
                "face_model": {"name": fm.name, "fingerprint": fm.fingerprint(), "n_params": fm.n_params,
                               "source": self.cfg.model.face_model},
                "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "progress": dict(self.state), "rng": rng_state(), "metrics": self.metrics,
                "world_size": self.world, "steps_per_epoch": self.steps_per_epoch}

    def save(self, name: str = "last.pt") -> Path:
        """Write a checkpoint into the run folder (rank 0 only); returns its path."""
        path = self.out_dir / name
        if self.is_main:
            self._open_run()
            atomic_save(self.checkpoint_state(), path)
        return path

    def _load_resume(self, path) -> None:
        st = load_file(path)
        if st["format"] != TRAIN_FORMAT:
            raise CheckpointError(f"{path} holds exported weights, not a training state: it cannot be "
                                    "resumed (train from it with a new run instead)")
        if st["model_config"] != self.net.config.to_dict():
            raise CheckpointError(f"{path} was trained with another model variant "
                                    f"({st['model_config']}) than this run ({self.net.config.to_dict()})")
        if st["face_model"]["fingerprint"] != self.face_model.fingerprint():
            raise CheckpointError(f"{path} was trained for face model {st['face_model']['name']!r} "
                                    f"({st['face_model']['fingerprint']}), not {self.face_model.name!r}")
        old, new = _flat(st["config"]), _flat(to_dict(self.cfg))
        defaults = _flat(to_dict(TrainConfig()))  # a key added since the checkpoint was written: its default
        old.update({k: v for k, v in defaults.items() if k not in old})
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in _RESUME_FREE)
        if changed:
            warnings.warn(f"resuming {path} with a changed configuration: "
                          + ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
                          + " (the run is no longer the same run)", stacklevel=3)
        prog = st["progress"]
        if prog["batch_in_epoch"] and (st.get("steps_per_epoch") != self.steps_per_epoch
                                       or st.get("world_size") != self.world):
            raise CheckpointError(f"{path} stopped inside an epoch with {st.get('steps_per_epoch')} steps per "
                                    f"epoch on {st.get('world_size')} process(es); this run has "
                                    f"{self.steps_per_epoch} on {self.world}: the position cannot be restored")
        self.net.load_state_dict(st["model"], strict=True)
        self.optimizer.load_state_dict(st["optimizer"])
        if st.get("scaler"):
            self.scaler.load_state_dict(st["scaler"])
        self.state.update(prog)
        self.metrics = st.get("metrics")
        set_rng_state(st["rng"])
        self.resumed_from = Path(path)

    # ------------------------------------------------------------------ steps
    def _emit(self, record: dict) -> None:
        self.history.append(record)
        if self.is_main:
            self._open_run()
            self.log.write(record)
            if self.cfg.run.progress and record["kind"] != "step":
                from tqdm.auto import tqdm
                tqdm.write(_describe(record, self.cfg.optim.epochs))
            for cb in self.callbacks:
                cb(self, record)

    def forward_backward(self, batch: dict) -> dict:
        """Move a batch to the device, run the network and the loss, back-propagate
        (gradients averaged over the processes under DDP). Returns the loss terms."""
        nb = self.device.type == "cuda"
        batch = _to(batch, self.device, nb)
        if self.cfg.run.channels_last:
            batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = self.model(batch["image"])
        losses = self.net.loss(out, batch, self.cfg.loss)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        return losses

    def _all_finite(self, loss: torch.Tensor) -> bool:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        bad = (~torch.isfinite(loss.detach())).float()
        if grads:
            bad = bad + (~torch.isfinite(torch.stack(torch._foreach_norm(grads)).sum())).float()
        if self.world > 1:
            dist.all_reduce(bad)
        return float(bad) == 0.0

    def _params(self) -> list:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def _snapshot(self) -> dict:
        """Copies of the parameters and the optimiser's per-parameter state before a step (into
        buffers kept between steps: no allocation after the first)."""
        params = self._params()
        keep = getattr(self, "_backup", None)
        if keep is None or len(keep["params"]) != len(params):
            keep = self._backup = {"params": [torch.empty_like(p) for p in params], "state": {}}
        with torch.no_grad():
            torch._foreach_copy_(keep["params"], [p.detach() for p in params])
            present = []
            for i, p in enumerate(params):
                st = self.optimizer.state.get(p)
                if not st:
                    continue
                present.append(i)
                saved = keep["state"].setdefault(i, {})
                for k, v in st.items():
                    if torch.is_tensor(v):
                        if k not in saved or saved[k].shape != v.shape:
                            saved[k] = torch.empty_like(v)
                        saved[k].copy_(v)
                    else:
                        saved[k] = v
            keep["present"] = set(present)
        return keep

    def _restore(self, keep: dict) -> None:
        """Undo a step: the parameters and the optimiser state as :meth:`_snapshot` saved them."""
        params = self._params()
        with torch.no_grad():
            torch._foreach_copy_([p.data for p in params], keep["params"])
            for i, p in enumerate(params):
                if i not in keep["present"]:
                    self.optimizer.state.pop(p, None)
                    continue
                st = self.optimizer.state[p]
                for k, v in keep["state"][i].items():
                    if torch.is_tensor(v) and torch.is_tensor(st.get(k)):
                        st[k].copy_(v)
                    else:
                        st[k] = v.clone() if torch.is_tensor(v) else v

    def _params_finite(self) -> bool:
        params = [p.detach() for p in self._params()]
        bad = (~torch.isfinite(torch.stack(torch._foreach_norm(params)).sum())).float()
        if self.world > 1:
            dist.all_reduce(bad)
        return float(bad) == 0.0

    def train_step(self, batch: dict) -> dict:
        """One optimisation step at the current lr. A step whose loss or gradients are not finite,
        or whose update makes a parameter non-finite (e.g. an overflowing update), is skipped and
        counted (``state["skipped"]``): the parameters and the optimiser state are restored to
        what they were before it (``optim.skip_nonfinite``)."""
        lr = self.lr_at(self.state["step"])
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        losses = self.forward_backward(batch)
        self.scaler.unscale_(self.optimizer)
        guard = self.cfg.optim.skip_nonfinite
        if not guard or self._all_finite(losses["total"]):
            keep = self._snapshot() if guard else None
            self.scaler.step(self.optimizer)
            if guard and not self._params_finite():
                self._restore(keep)
                self.state["skipped"] += 1
        else:
            self.state["skipped"] += 1
        self.scaler.update()
        return losses

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> dict | None:
        """Validation on the test set (rank 0): NME by yaw bin and pose MAE; logs an ``eval`` record."""
        from .loop import evaluate
        rec = None
        if self.is_main and self.test_set is not None:
            with self.autocast():  # the precision of the training forward pass
                res = evaluate(self.net, self.test_set, batch_size=self.cfg.run.eval_batch, device=self.device)
            rec = {"kind": "eval", "epoch": self.state["epoch"], "step": self.state["step"], **eval_record(res)}
            self.metrics = {k: v for k, v in rec.items() if k != "kind"}
            nme = rec["nme_all"]
            better = math.isfinite(nme) and (self.state["best_nme"] is None or nme < self.state["best_nme"])
            if better:
                self.state["best_nme"], self.state["best_epoch"] = nme, self.state["epoch"]
            self._emit(rec)
            if better:
                self.save("best.pt")
        self.state["last_eval_step"] = self.state["step"]  # on every rank: they must agree on the next call
        self.net.train()
        if self.world > 1:
            dist.barrier()
        return rec

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        """Train until the schedule ends (or ``run.max_steps``); returns a summary dict."""
        r = self.cfg.run
        self._open_run()
        prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        prev_bench = torch.backends.cudnn.benchmark
        prev_blas = limit_blas_threads(1)
        if r.threads:
            torch.set_num_threads(r.threads)
        if r.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        try:
            return self._fit()
        finally:
            torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det)
            torch.backends.cudnn.benchmark = prev_bench
            restore_blas_threads(prev_blas)

    def _fit(self) -> dict:
        from tqdm.auto import tqdm
        r, st, spe = self.cfg.run, self.state, self.steps_per_epoch
        per_rank = self.cfg.optim.batch_size // self.world
        t_start, wall0 = time.perf_counter(), st["wall_time_s"]
        bar = tqdm(total=self.stop_at, initial=st["step"], unit="step", leave=False, dynamic_ncols=True,
                   disable=not (r.progress and self.is_main))
        self.net.train()
        last_t, last_step, wait = time.perf_counter(), st["step"], 0.0
        while st["epoch"] < self.cfg.optim.epochs and st["step"] < self.stop_at:
            bar.set_description(f"{r.name} epoch {st['epoch'] + 1}/{self.cfg.optim.epochs}")
            self.sampler.set_epoch(st["epoch"], start=st["batch_in_epoch"] * per_rank)
            it = iter(self.loader)
            loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
            while st["step"] < self.stop_at:
                t0 = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                wait += time.perf_counter() - t0
                losses = self.train_step(batch)
                loss_sum += losses["total"].detach().double()
                st["step"] += 1
                st["batch_in_epoch"] += 1
                st["epoch_loss_n"] += 1
                bar.update(1)
                if st["step"] % r.log_every == 0 or st["step"] == self.stop_at:
                    now = time.perf_counter()
                    dt = max(now - last_t, 1e-9)
                    rec = {"kind": "step", "epoch": st["epoch"], "step": st["step"],
                           "lr": self.optimizer.param_groups[0]["lr"], "skipped": st["skipped"],
                           "images_per_s": (st["step"] - last_step) * self.cfg.optim.batch_size / dt,
                           "data_frac": min(1.0, wait / dt), "elapsed_s": wall0 + now - t_start}
                    rec.update({k: float(losses[k].detach()) for k in ("total", *LOSS_NAMES, "loss_lmk_coarse")})
                    last_t, last_step, wait = now, st["step"], 0.0
                    bar.set_postfix(loss=f"{rec['total']:.4f}", img_s=f"{rec['images_per_s']:.0f}",
                                    lr=f"{rec['lr']:.2g}")
                    self._emit(rec)
                if st["batch_in_epoch"] >= spe:
                    break
                if r.save_every and st["step"] % r.save_every == 0:
                    st["epoch_loss_sum"] += float(loss_sum)
                    loss_sum.zero_()
                    st["wall_time_s"] = wall0 + time.perf_counter() - t_start
                    self.save()
            st["epoch_loss_sum"] += float(loss_sum)
            st["wall_time_s"] = wall0 + time.perf_counter() - t_start
            if st["batch_in_epoch"] >= spe:  # epoch finished
                st["epoch"] += 1
                rec = {"kind": "epoch", "epoch": st["epoch"], "step": st["step"],
                       "train_loss": st["epoch_loss_sum"] / max(st["epoch_loss_n"], 1),
                       "elapsed_s": st["wall_time_s"]}
                st["batch_in_epoch"], st["epoch_loss_sum"], st["epoch_loss_n"] = 0, 0.0, 0
                self._emit(rec)
                if r.eval_every and st["epoch"] % r.eval_every == 0:
                    self.evaluate()
                st["wall_time_s"] = wall0 + time.perf_counter() - t_start
                self.save()
        bar.close()
        if self.test_set is not None and st["last_eval_step"] != st["step"]:
            self.evaluate()  # final validation (max_steps, or eval_every not dividing the epochs)
        st["wall_time_s"] = wall0 + time.perf_counter() - t_start
        self.save()
        return self.summary()

    def close(self) -> None:
        """Stop the DataLoader's persistent worker processes now (they otherwise live as long as the
        trainer, and a process that made several trainers would keep all their workers). The
        trainer can still be evaluated and saved; a later :meth:`fit` starts new workers."""
        it = getattr(self.loader, "_iterator", None)  # torch keeps the persistent workers' iterator here
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        if it is not None:
            self.loader._iterator = None

    def summary(self) -> dict:
        st = self.state
        best = self.out_dir / "best.pt"
        return {"name": self.cfg.run.name, "step": st["step"], "epoch": st["epoch"], "skipped": st["skipped"],
                "wall_time_s": st["wall_time_s"], "metrics": self.metrics, "best_nme": st["best_nme"],
                "best_epoch": st["best_epoch"], "out_dir": str(self.out_dir), "last": str(self.out_dir / "last.pt"),
                "best": str(best) if best.is_file() else None, "log": str(self.log_path),
                "resumed_from": str(self.resumed_from) if self.resumed_from else None}


def fit(config="cpu", overrides=(), **kwargs) -> Trainer:
    """Load a configuration (preset name, file or :class:`TrainConfig`), apply ``overrides``,
    train, and return the :class:`Trainer` (``trainer.net`` is the trained network,
    ``trainer.summary()`` the result). ``kwargs`` go to :class:`Trainer`."""
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    cfg = apply_overrides(cfg, overrides).validate()
    trainer = Trainer(cfg, **kwargs)
    trainer.fit()
    return trainer
