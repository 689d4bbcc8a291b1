"""Exercises of notebook 05 (full training). Expected answers are computed from the library."""
from ...train.schedule import lr_at, scaled_lr, steps_per_epoch
from ..exercises import exercise


@exercise("05.1", "The paper trains with lr 0.08 at batch 1024. With the linear-scaling rule, which learning "
          "rate goes with a batch of `batch` images?",
          "lr scales with the batch: lr_b = 0.08 * b / 1024 (m3lrn_lib.train.scaled_lr).",
          solution="scaled_lr(0.08, 256, 1024)")
def _scaling(answer, batch=256):
    want = scaled_lr(0.08, batch, 1024)
    ok = abs(float(answer) - want) <= 1e-9 + 1e-6 * want
    return ok, f"lr {float(answer):.6g} at batch {batch}" + ("" if ok else " does not follow lr * b / 1024")


@exercise("05.2", "With the paper's schedule (batch 1024, lr x0.1 after epochs 48 and 64, drop_last) on "
          "`n_images` training crops, at which optimisation step (0-based) is the learning rate "
          "first 0.008?",
          "Steps per epoch = n_images // 1024 (the last partial batch is dropped); the first decay starts "
          "after 48 whole epochs.",
          solution="48 * steps_per_epoch(61225, 1024)")
def _first_decay(answer, n_images=61225):
    spe = steps_per_epoch(n_images, 1024)
    want = next(s for s in range(80 * spe) if lr_at(s, 0.08, spe, (48, 64)) < 0.08)
    ok = int(answer) == want
    return ok, f"step {int(answer)}" + ("" if ok else f" is not where the rate first drops ({spe} steps per epoch)")


@exercise("05.3", "A run with `steps_per_epoch` steps per epoch and batch `batch` was killed; its last "
          "checkpoint was written after step `step`. Which epoch (0-based) does the resumed run "
          "continue, and how many samples of that epoch's permutation does the sampler skip? "
          "Answer a pair (epoch, skipped).",
          "The checkpoint stores the epoch and the number of batches already done in it; "
          "divmod(step, steps_per_epoch) gives both, and each batch is `batch` samples.",
          solution="resume_epoch, batches_done = divmod(1400, 625)\n"
                   "(resume_epoch, batches_done * 32)")
def _resume(answer, step=1400, steps_per_epoch=625, batch=32):
    epoch, done = divmod(int(step), int(steps_per_epoch))
    want = (epoch, done * int(batch))
    got = tuple(int(x) for x in answer)
    ok = got == want
    return ok, f"epoch {got[0]}, {got[1]} samples skipped" + ("" if ok else " is not where the run stopped")
