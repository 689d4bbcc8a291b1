"""Training of the UV-texture GAN (Sec. G): LSGAN, Adam, constant lr then linear decay to 0.

One step on a batch of (face image resized to S, true UV texture) pairs, both in [-1, 1]:

1. discriminator: ``lsgan_d_loss(D(y | x), D(G(x) | x))`` (conditional PatchGAN; Adam);
2. generator: ``gan_weight * lsgan_g_loss(D(G(x) | x))`` plus, in ``paired`` mode,
   ``l1_weight * mean|G(x) - y|`` over the whole UV map (Adam).

``loss.mode = "adversarial"`` is the paper's set-up (no pixel loss); ``"paired"`` adds the L1
term that synthetic faces make possible (pix2pix's recipe). The learning rate is
``lr * lr_factor(step / steps_per_epoch, epochs, decay_start)`` (:func:`~m3lrn_lib.texture.gan.lr_factor`).

A run folder (``run.out_dir``) receives ``config.toml`` (the resolved configuration), ``log.jsonl``
(step / epoch / eval records), ``last.pt`` (training state, atomically rewritten at every epoch
end: an interrupted run resumes from its last finished epoch, bit-identically on the CPU) and, at
the end, ``generator.pt`` (fp16 export, :func:`~m3lrn_lib.texture.checkpoint.export_generator`)
and ``summary.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import paths
from ..fileio import atomic_write_bytes, remove_temp_files
from ..runtime import pick_device
from ..train.checkpoint import atomic_save
from ..train.logs import MetricsLog, read_log
from ..uv import uv_is_mirror_symmetric
from .checkpoint import TRAIN_FORMAT, VERSION, TextureCheckpointError, export_generator, load_texture_file
from .config import ConfigError, TextureConfig, to_dict, to_toml
from .gan import (
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    TextureGenerator,
    lr_factor,
    lsgan_d_loss,
    lsgan_g_loss,
    template_texture,
    to_unit,
)
from .synth import TexturePairs, TextureSynthConfig, make_pairs, uv_layout_mask

__all__ = ["TextureTrainer", "read_log", "synth_config", "data_cache_dir", "per_step_time"]


def data_cache_dir(cfg: TextureConfig) -> Path | None:
    """The run's data cache folder (``data.cache``, resolved now): None when empty. Caches never go
    into the repository: a relative path lies in :func:`m3lrn_lib.paths.generated_data_dir`
    (``$M3LRN_DATA_DIR``, else ``<user cache>/generated``), ``data/generated/X`` as ``X`` there
    (``data/generated/texture`` -> ``<generated>/texture``), any other relative path below it as
    is; so does an absolute path inside the repository (e.g. one stored in a checkpoint's
    configuration). Another absolute path is used as given."""
    if not cfg.data.cache:
        return None
    p = Path(cfg.data.cache).expanduser()
    root = paths.source_root()
    if p.is_absolute():
        if root is None:
            return p
        try:
            p = p.resolve().relative_to(root.resolve())
        except ValueError:
            return p  # outside the repository: the user's folder
    parts = p.parts[2:] if p.parts[:2] == ("data", "generated") else tuple(x for x in p.parts if x not in ("..", "."))
    return paths.generated_data_dir().joinpath(*parts)


def synth_config(cfg: TextureConfig) -> TextureSynthConfig:
    """The data generator's settings of a run."""
    d = cfg.data
    return TextureSynthConfig(uv_size=d.uv_size, render_size=d.render_size, max_yaw=d.max_yaw, detail=d.detail,
                              crop_scale=d.crop_scale)


class TextureTrainer:
    """Builds data, networks and optimisers from a :class:`~m3lrn_lib.texture.config.TextureConfig`;
    :meth:`fit` trains.

    Args:
        cfg: the configuration (validated).
        resume: ``"auto"`` (continue ``last.pt`` of the run folder when present and compatible),
            None (start fresh; an existing ``last.pt`` is overwritten), or a path to a training state.
        model: a FaceModel (default: ``data.face_model`` or the default model).
        train_data, val_data: pre-built :class:`~m3lrn_lib.texture.synth.TexturePairs` (else generated).
        log: callable for one-line messages (None: silent).
    """

    def __init__(self, cfg: TextureConfig, resume="auto", model=None, train_data: TexturePairs | None = None,
                 val_data: TexturePairs | None = None, log=print):
        from ..morphable import load_face_model
        self.cfg = cfg.validate()
        self.say = log or (lambda *a, **k: None)
        r, d, m, o = cfg.run, cfg.data, cfg.model, cfg.optim
        self.out_dir = Path(r.out_dir.format(name=r.name))
        self.model = model if model is not None else load_face_model(d.face_model or None)
        self.model.require_uv()
        if r.threads:
            torch.set_num_threads(r.threads)
        self.device = pick_device(r.device)
        cache = data_cache_dir(cfg)
        scfg = synth_config(cfg)
        t0 = time.time()
        self.train_data = train_data if train_data is not None else make_pairs(
            self.model, d.n_train, "train", d.seed, scfg, cache_dir=cache)
        self.val_data = val_data if val_data is not None else (
            make_pairs(self.model, d.n_val, "val", d.seed, scfg, cache_dir=cache) if d.n_val else None)
        for name, ds in (("train_data", self.train_data), ("val_data", self.val_data)):
            if ds is not None and ds.images.shape[1] != d.uv_size:
                raise ConfigError(f"{name} has {ds.images.shape[1]}x{ds.images.shape[1]} images, but data.uv_size="
                                 f"{d.uv_size}")
        self.data_s = time.time() - t0
        torch.manual_seed(r.seed)
        self.gen_config = GeneratorConfig(d.uv_size, m.variant, m.ngf, m.n_blocks, m.norm)
        tpl = template_texture(self.model, d.uv_size) if m.variant == "template" else None
        self.G = TextureGenerator(self.gen_config, tpl).to(self.device)
        self.use_gan = cfg.loss.gan_weight > 0
        self.D = PatchDiscriminator(DiscriminatorConfig(m.ndf, m.d_layers, m.conditional, m.norm)).to(self.device)
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr, betas=betas)
        self.steps_per_epoch = max(1, len(self.train_data) // o.batch_size)
        self.flip = d.flip if uv_is_mirror_symmetric(self.model) else 0.0
        self.layout = torch.from_numpy(uv_layout_mask(self.model, d.uv_size))
        self.epoch, self.step, self.wall = 0, 0, 0.0
        self.resumed_from = None
        path = self.out_dir / "last.pt"
        if resume not in (None, "auto"):
            path = Path(resume)
        if resume is not None and path.is_file():
            self._load_state(path)
        elif resume not in (None, "auto"):
            raise TextureCheckpointError(f"resume={str(resume)!r}: no such training state")
        self.log_path = self.out_dir / "log.jsonl"
        self.log: MetricsLog | None = None  # opened by fit(): the constructor writes nothing

    def _open_run(self) -> None:
        """Create the run folder, write ``config.toml`` and open the log (records after a resumed
        state's step are dropped); once."""
        if self.log is not None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_temp_files(self.out_dir)  # debris of a checkpoint write killed mid-way
        if removed:
            self.say(f"[texture {self.cfg.run.name}] removed {removed} temporary file(s) of an interrupted write "
                     f"in {self.out_dir}")
        atomic_write_bytes(self.out_dir / "config.toml", to_toml(self.cfg, f"texture GAN run {self.cfg.run.name!r} "
                                                                 "(resolved)", self.derived()).encode())
        self.log = MetricsLog(self.log_path, "jsonl", resume_step=self.step if self.resumed_from else None,
                              fields=None)

    # ------------------------------------------------------------------ info
    def derived(self) -> dict:
        """Numbers computed at start-up (written to ``config.toml``'s ``[derived]`` table)."""
        n_g = sum(p.numel() for p in self.G.parameters())
        n_d = sum(p.numel() for p in self.D.parameters())
        return {"train_faces": len(self.train_data), "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.steps_per_epoch * self.cfg.optim.epochs, "generator_params": n_g,
                "discriminator_params": n_d, "flip": self.flip, "device": str(self.device)}

    def _state(self) -> dict:
        return {"format": TRAIN_FORMAT, "version": VERSION, "generator": self.G.state_dict(),
                "discriminator": self.D.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "epoch": self.epoch, "step": self.step, "wall_time_s": self.wall, "rng": torch.get_rng_state(),
                "config": to_dict(self.cfg), "generator_config": self.gen_config.to_dict(),
                "face_model": {"name": self.model.name, "fingerprint": self.model.fingerprint()},
                "mode": self.cfg.loss.mode}

    def _load_state(self, path: Path) -> None:
        st = load_texture_file(path)
        if st["format"] != TRAIN_FORMAT:
            raise TextureCheckpointError(f"{path}: a generator export cannot be resumed (need a training state)")
        mine, theirs = to_dict(self.cfg), st["config"]
        skip = {("run", k) for k in ("progress", "log_every", "eval_every", "max_steps", "threads", "device", "out_dir")}
        skip.add(("data", "cache"))  # where the data are cached does not change them
        diff = [f"{s}.{k}: {theirs[s].get(k)!r} -> {v!r}" for s in mine for k, v in mine[s].items()
                if (s, k) not in skip and theirs.get(s, {}).get(k) != v]
        if diff:
            raise ConfigError(f"{path} was made with another configuration ({'; '.join(diff)}); "
                              "start fresh (--fresh / resume=None) or use another run.name")
        if st["face_model"]["fingerprint"] != self.model.fingerprint():
            raise TextureCheckpointError(f"{path} was trained for face model {st['face_model']['name']!r}")
        self.G.load_state_dict(st["generator"])
        self.D.load_state_dict(st["discriminator"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.epoch, self.step, self.wall = int(st["epoch"]), int(st["step"]), float(st["wall_time_s"])
        torch.set_rng_state(st["rng"])
        self.resumed_from = path

    # ------------------------------------------------------------------ training
    def _batch(self, idx: torch.Tensor, flips: torch.Tensor):
        x, y, _ = self.train_data.tensors(idx.numpy())
        if flips.any():
            x[flips], y[flips] = x[flips].flip(-1), y[flips].flip(-1)
        return to_unit(x).to(self.device), to_unit(y).to(self.device)

    def _set_lr(self) -> float:
        o = self.cfg.optim
        lr = o.lr * lr_factor(self.step / self.steps_per_epoch, o.epochs, o.decay_start)
        for opt in (self.opt_g, self.opt_d):
            for g in opt.param_groups:
                g["lr"] = lr
        return lr

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        """One D + G update on (B, 3, S, S) inputs ``x`` and true textures ``y`` in [-1, 1]."""
        lo = self.cfg.loss
        lr = self._set_lr()
        self.G.train()
        self.D.train()
        fake = self.G(x)
        out = {"lr": lr}
        if self.use_gan:
            loss_d = lsgan_d_loss(self.D(y, x), self.D(fake.detach(), x))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            g_gan = lsgan_g_loss(self.D(fake, x))
            out.update(loss_d=loss_d.item(), loss_g_gan=g_gan.item())
        else:
            g_gan = fake.new_zeros(())
        l1 = (fake - y).abs().mean()
        loss_g = lo.gan_weight * g_gan + (lo.l1_weight * l1 if lo.mode == "paired" else 0.0)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        out.update(loss_g=loss_g.item(), l1=l1.item() / 2)  # l1 in [0, 1] colour units
        self.step += 1
        return out

    @torch.no_grad()
    def validate(self) -> dict:
        """L1 (colour units) of the generator on the held-out faces: all layout texels and visible ones."""
        if self.val_data is None:
            return {}
        self.G.eval()
        e_all, e_vis, n_all, n_vis = 0.0, 0.0, 0, 0
        for i in range(0, len(self.val_data), 32):
            x, y, vis = self.val_data.tensors(slice(i, i + 32))
            p = (self.G(to_unit(x).to(self.device)).cpu() + 1) / 2
            err = (p.clamp(0, 1) - y).abs().mean(1)  # (B, S, S)
            lay = self.layout.expand_as(err)
            e_all += float(err[lay].sum())
            n_all += int(lay.sum())
            e_vis += float(err[vis & lay].sum())
            n_vis += int((vis & lay).sum())
        return {"val_l1_all": e_all / max(n_all, 1), "val_l1_visible": e_vis / max(n_vis, 1)}

    def _epoch_order(self, epoch: int):
        g = torch.Generator().manual_seed(self.cfg.run.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.train_data), generator=g)
        flips = torch.rand(len(self.train_data), generator=g) < self.flip
        return perm, flips

    def fit(self) -> dict:
        """Train to ``optim.epochs`` (or ``run.max_steps``); returns a summary dict."""
        r, o = self.cfg.run, self.cfg.optim
        self._open_run()
        total = self.steps_per_epoch * o.epochs
        stop = min(total, r.max_steps) if r.max_steps else total
        bar = None
        if r.progress:
            try:
                from tqdm.auto import tqdm
                bar = tqdm(total=stop, initial=self.step, desc=f"texture GAN {r.name}", unit="step")
            except ImportError:
                bar = None
        t_start, last_t, agg = time.time(), time.time(), {}
        wall0 = self.wall
        metrics = {}
        while self.epoch < o.epochs and self.step < stop:
            perm, flips = self._epoch_order(self.epoch)
            t_epoch, ep_loss, n_ep = time.time(), 0.0, 0
            for b in range(self.steps_per_epoch):
                if self.step >= stop:
                    break
                idx = perm[b * o.batch_size:(b + 1) * o.batch_size]
                rec = self.train_step(*self._batch(idx, flips[idx]))
                ep_loss += rec["l1"]
                n_ep += 1
                for k, v in rec.items():
                    agg[k] = agg.get(k, 0.0) + v
                agg["_n"] = agg.get("_n", 0) + 1
                if bar is not None:
                    bar.update(1)
                if self.step % r.log_every == 0:
                    now = time.time()
                    n = agg.pop("_n")
                    row = {"kind": "step", "epoch": self.epoch, "step": self.step,
                           **{k: v / n for k, v in agg.items()},
                           "steps_per_s": n / max(now - last_t, 1e-9), "elapsed_s": wall0 + now - t_start}
                    self.log.write(row)
                    if bar is not None:
                        bar.set_postfix(l1=f"{row['l1']:.4f}", lr=f"{row['lr']:.2e}")
                    elif r.progress:  # no tqdm installed: a plain line
                        self.say(f"[texture {r.name}] step {self.step}/{stop} epoch {self.epoch} "
                                 f"l1 {row['l1']:.4f} lr {row['lr']:.2e} {row['steps_per_s']:.2f} steps/s")
                    agg, last_t = {}, now
            finished = n_ep == self.steps_per_epoch
            if finished:
                self.epoch += 1
            self.wall = wall0 + time.time() - t_start
            ep = {"kind": "epoch", "epoch": self.epoch, "step": self.step, "train_l1": ep_loss / max(n_ep, 1),
                  "epoch_s": time.time() - t_epoch, "elapsed_s": self.wall}
            self.log.write(ep)
            last = self.epoch >= o.epochs or self.step >= stop
            if self.val_data is not None and (last or (r.eval_every and self.epoch % r.eval_every == 0 and finished)):
                metrics = self.validate()
                self.log.write({"kind": "eval", "epoch": self.epoch, "step": self.step, **metrics})
                self.say(f"[texture {r.name}] epoch {self.epoch}/{o.epochs} step {self.step}: "
                         + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if finished:
                atomic_save(self._state(), self.out_dir / "last.pt")
        if bar is not None:
            bar.close()
        self.wall = wall0 + time.time() - t_start
        state = self._state()  # last.pt stays at the last finished epoch (resume granularity)
        if not metrics and self.val_data is not None:
            metrics = self.validate()
        epochs_log = [x for x in read_log(self.log_path) if x.get("kind") in ("epoch", "eval")]
        size = export_generator(state, self.out_dir / "generator.pt", fp16=True, log=epochs_log, metrics=metrics,
                                wall_time_s=self.wall, mode=self.cfg.loss.mode, data_s=self.data_s)
        summary = {"name": r.name, "out_dir": str(self.out_dir), "epoch": self.epoch, "step": self.step,
                   "wall_time_s": round(self.wall, 2), "metrics": metrics, "generator": str(self.out_dir / "generator.pt"),
                   "generator_bytes": size, "mode": self.cfg.loss.mode, "variant": self.gen_config.variant,
                   "resumed_from": str(self.resumed_from) if self.resumed_from else None}
        atomic_write_bytes(self.out_dir / "summary.json", (json.dumps(summary, indent=1) + "\n").encode())
        return summary


def per_step_time(cfg: TextureConfig, steps: int = 5, model=None) -> float:
    """Seconds per training step of ``cfg``'s networks on random tensors (for ETAs)."""
    from ..morphable import load_face_model
    m = model if model is not None else load_face_model(cfg.data.face_model or None)
    d, mm = cfg.data, cfg.model
    G = TextureGenerator(GeneratorConfig(d.uv_size, mm.variant, mm.ngf, mm.n_blocks, mm.norm),
                         template_texture(m, d.uv_size) if mm.variant == "template" else None)
    D = PatchDiscriminator(DiscriminatorConfig(mm.ndf, mm.d_layers, mm.conditional, mm.norm))
    og, od = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    B, S = cfg.optim.batch_size, d.uv_size
    x, y = torch.rand(B, 3, S, S) * 2 - 1, torch.rand(B, 3, S, S) * 2 - 1
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        f = G(x)
        ld = lsgan_d_loss(D(y, x), D(f.detach(), x))
        od.zero_grad()
        ld.backward()
        od.step()
        lg = lsgan_g_loss(D(f, x)) + (f - y).abs().mean()
        og.zero_grad()
        lg.backward()
        og.step()
        if i:
            times.append(time.perf_counter() - t)
    return float(np.median(times))
