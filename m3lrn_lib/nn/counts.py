"""Parameter counts per module, and how ours compare with the paper's "3.0M + 0.8M".

Measured for the default (embedded 40/10) face model, MobileNet-V2 width 1.0 (run
``python -m m3lrn_lib.nn [preset] [depth]`` to print the table for the full model)::

    backbone (MobileNet-V2 features)      2,223,872
    heads (3 FC: 1280 -> 12/40/10)           79,422
    first stage                           2,303,294   paper: "3.0M"
    M2FA                                  1,556,171
      point encoder 3-64-64 | 64-128-1024   150,336
      FC adaptation alpha_s, alpha_e          1,800
      decoder 2418-512-256-128-3          1,404,035   (2418 x 512 alone: 1,238,016)
    LGS (3-64-64-64-128-1024 + 1024->62)    213,886
    M2FA + LGS                            1,770,057   paper: "0.8M"
    total                                 4,073,351   paper: "3.8M"
    inference network (no LGS)            3,859,465

Why they differ. MobileNet-V2 1.0 has 2.22M parameters without its ImageNet classifier
(3.50M with it) and the three heads add 1280 x 62 + 62 = 0.08M, so a first stage of 3.0M is
not MobileNet-V2 + FC heads as described; and the M2FA decoder that Fig. S1 specifies
(68 x 2418 -> 512 -> 256 -> 128 -> 3) has 1.24M parameters in its first layer alone, more than
the whole 0.8M quoted for M2FA + LGS. The *sum* is close, though: our inference network
(first stage + M2FA, the LGS branch is dropped at test time) has 3.86M parameters, and the
paper's 3.8M most likely counts that network, split differently between the stages. Our
layer sizes follow the paper's figures exactly (the walk-through test checks them), so we keep
them and report our own numbers. The Table S2 control (``baseline_extra_mlp``) is sized
against *our* M2FA + LGS (1.77M), so both models have ~4.07M parameters, as in the study.
"""
from __future__ import annotations

from torch import nn

__all__ = ["count_parameters", "parameter_table", "describe", "PAPER_COUNTS"]

#: The paper's numbers (supplement B, Table S2).
PAPER_COUNTS = {"first_stage": 3.0e6, "m2fa+lgs": 0.8e6, "total": 3.8e6}


def _n(module: nn.Module | None, trainable_only: bool) -> int:
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_parameters(module: nn.Module, depth: int = 1, trainable_only: bool = False) -> dict[str, int]:
    """Parameters per sub-module: ``{'backbone': ..., 'heads': ..., ..., 'total': ...}``.

    ``depth=2`` adds dotted entries for the children of each child (``'m2fa.low'`` ...).
    Absent (None) sub-modules do not appear; ``total`` counts every parameter once.
    """
    out: dict[str, int] = {}

    def walk(mod, prefix, level):
        for name, child in mod.named_children():
            key = f"{prefix}{name}"
            out[key] = _n(child, trainable_only)
            if level < depth:
                walk(child, key + ".", level + 1)

    walk(module, "", 1)
    out["total"] = _n(module, trainable_only)
    return out


def parameter_table(module: nn.Module, depth: int = 1, paper: bool = True) -> str:
    """A printable table of :func:`count_parameters` (with the paper's numbers for an M3LRN)."""
    counts = count_parameters(module, depth)
    rows = [(k, v) for k, v in counts.items() if k != "total"]
    if hasattr(module, "backbone") and hasattr(module, "heads"):
        first = _n(module.backbone, False) + _n(module.heads, False)
        second = _n(getattr(module, "m2fa", None), False) + _n(getattr(module, "lgs", None), False)
        rows += [("first stage (backbone + heads)", first), ("M2FA + LGS", second)]
        if getattr(module, "lgs", None) is not None:
            rows.append(("inference network (no LGS)", counts["total"] - _n(module.lgs, False)))
    rows.append(("total", counts["total"]))
    w = max(len(k) for k, _ in rows) + 2
    lines = [f"{'module':<{w}}{'parameters':>12}{'share':>8}", "-" * (w + 20)]
    for k, v in rows:
        lines.append(f"{k:<{w}}{v:>12,}{100 * v / max(counts['total'], 1):>7.1f}%")
    if paper and hasattr(module, "backbone"):
        lines.append(f"paper (supplement B): first stage {PAPER_COUNTS['first_stage'] / 1e6:.1f}M, "
                     f"M2FA + LGS {PAPER_COUNTS['m2fa+lgs'] / 1e6:.1f}M, total {PAPER_COUNTS['total'] / 1e6:.1f}M "
                     "(see m3lrn_lib.nn.counts for why ours differ)")
    return "\n".join(lines)


def describe() -> str:
    """The comparison with the paper's counts (this module's docstring)."""
    return __doc__
