"""The paper's printed numbers, transcribed from ``shared/paper/m3lrn_paper.txt`` (Sec. 4 and the
supplement), one :class:`PaperTable` per table.

The supplement labels four different tables "Table S2"; they are kept apart by key:
``S2_backbone`` (backbone study, AFLW full set), ``S2_params_alignment`` / ``S2_params_pose``
(first stage with extra parameters), ``S2_reannotated`` (AFLW2000-3D reannotated) and
``S2_biwi`` (BIWI head pose). Table 1 is split into its two halves (``1_original``,
``1_reannotated``) and Table 9 into its two protocols.

Each row names the checkpoint *variant* (a preset of :mod:`m3lrn_lib.nn.model`) that measures
it, or None for other methods (ESR, 3DDFA, PRNet, ...), whose "ours" cell stays empty. Values
are exactly as printed, inconsistencies included: Table 4 prints 2.65 for M^3-LRN's [0, 30] bin
where Table 1 prints 2.66; Table 1's "M2FA only" row gives All 3.49 although its bins average
3.45; the BIWI table's SSR-Net-MD mean is 4.65 although its angles average 4.80. Most other
"All"/"Mean" cells equal the mean of their row to within rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..metrics import YAW_BINS

__all__ = ["PaperRow", "PaperTable", "TABLES", "BINS", "POSE_COLS", "table"]

#: The NME columns as the paper prints them: "0 to 30", "30 to 60", "60 to 90", "All".
BINS = (*(f"{lo:g} to {hi:g}" for lo, hi in YAW_BINS), "All")
POSE_COLS = ("Yaw", "Pitch", "Roll", "Mean")


@dataclass(frozen=True)
class PaperRow:
    """One printed row: ``labels`` (the text cells), ``values`` (the numbers, in the table's
    ``columns`` order) and the ``variant`` that reproduces it (None: another method)."""

    labels: tuple
    values: tuple
    variant: str | None = None


@dataclass(frozen=True)
class PaperTable:
    """A table of the paper.

    Attributes:
        key: e.g. ``"4"``, ``"1_original"``, ``"S2_biwi"``; name: how the paper labels it.
        title: the caption's first sentence; dataset: the paper's test set.
        measure: what our runner measures for it: ``"nme68"``, ``"nme21"``, ``"pose"``,
            ``"protocol1"``, ``"protocol2"``, ``"florence"``, or ``"none"`` (data we do not have).
        label_columns / columns: the text and number column headers; rows: :class:`PaperRow` s.
        offline: why the paper's dataset cannot be used offline ("" when it can be given).
    """

    key: str
    name: str
    title: str
    dataset: str
    measure: str
    label_columns: tuple
    columns: tuple
    rows: tuple
    offline: str = ""


def _r(label, values, variant=None):
    labels = label if isinstance(label, tuple) else (label,)
    return PaperRow(labels, tuple(values), variant)


_AFLW2000 = "AFLW2000-3D (original annotation)"
_REANN = ("the LS3D-W reannotation of AFLW2000-3D is not shipped and has no reader here; "
          "not available offline")
_AFLW21 = ("the AFLW full set (~21K images, 21 points) is not available offline; ours is the synthetic "
           "counterpart: the 68-point ground truth mapped to AFLW's 21 points (19 with an iBUG-68 match)")
_FLOR = ("the Florence scans are not available offline; ours is the synthetic counterpart: neutral faces of "
         "the embedded model rendered at pitch (-15, 20, 25) x yaw (-80, -40, 0, 40, 80), RMSE in mm")
_P = ("Table 9 needs ground-truth meshes of our morphable model: computed on the synthetic test set "
      "(ground-truth parameters -> dense mesh); the real AFLW2000-3D's BFM fits do not transfer")

TABLES: dict[str, PaperTable] = {t.key: t for t in (
    PaperTable("1_original", "Table 1 (top)", "Ablative for facial alignment.", _AFLW2000, "nme68",
               ("M2FA for refinement", "Landmark Geometry Support"), BINS, (
                   _r(("-", "-"), (2.99, 3.80, 4.86, 3.88), "baseline"),
                   _r(("✓", "-"), (2.68, 3.32, 4.35, 3.49), "m2fa"),
                   _r(("-", "✓"), (2.69, 3.57, 4.69, 3.65), "lgs"),
                   _r(("✓", "✓"), (2.66, 3.30, 4.27, 3.41), "full"))),
    PaperTable("1_reannotated", "Table 1 (bottom)", "Ablative for facial alignment (reannotated).",
               "AFLW2000-3D (reannotated, LS3D-W)", "none",
               ("M2FA for refinement", "Landmark Geometry Support"), BINS, (
                   _r(("-", "-"), (2.34, 2.99, 4.27, 3.20), "baseline"),
                   _r(("✓", "-"), (2.24, 2.67, 3.76, 2.89), "m2fa"),
                   _r(("-", "✓"), (2.23, 2.69, 3.90, 2.94), "lgs"),
                   _r(("✓", "✓"), (2.16, 2.61, 3.66, 2.81), "full")), _REANN),
    PaperTable("2", "Table 2", "Study on different modalities and different regression targets for facial "
               "alignment.", _AFLW2000, "nme68", ("Structures",), BINS, (
                   _r("Point feature only", (2.73, 3.51, 4.51, 3.58), "points_only"),
                   _r("Point + image feature", (2.68, 3.40, 4.61, 3.56), "points_image"),
                   _r("MMPF", (2.67, 3.34, 4.51, 3.51), "m2fa"),
                   _r("M2FA+LGS (pose)", (2.68, 3.31, 4.55, 3.51), "lgs_pose"),
                   _r("M2FA+LGS (shape, expr)", (2.67, 3.32, 4.47, 3.48), "lgs_shape_exp"),
                   _r("M2FA+LGS (all)", (2.66, 3.30, 4.27, 3.41), "full"))),
    PaperTable("3", "Table 3", "Landmark geometry support network structure study.", _AFLW2000, "nme68",
               ("Settings",), BINS, (
                   _r("Setting 1", (2.63, 3.35, 4.50, 3.49), "setting1"),
                   _r("Setting 2", (2.62, 3.31, 4.31, 3.41), "setting2"),
                   _r("LGS Setting", (2.66, 3.30, 4.27, 3.41), "full"))),
    PaperTable("4", "Table 4", "Quantitative facial alignment comparison on benchmark.", _AFLW2000, "nme68",
               ("Method",), BINS, (
                   _r("ESR [6]", (4.60, 6.70, 12.67, 7.99)),
                   _r("3DDFA [56]", (3.43, 4.24, 7.17, 4.94)),
                   _r("Dense Corr [51]", (3.62, 6.06, 9.56, 6.41)),
                   _r("3DSTN [3]", (3.15, 4.33, 5.98, 4.49)),
                   _r("3D-FAN [4]", (3.16, 3.53, 4.60, 3.76)),
                   _r("3DDFA-PAMI [57]", (2.84, 3.57, 4.96, 3.79)),
                   _r("PRNet [12]", (2.75, 3.51, 4.61, 3.62)),
                   _r("2DASL [39]", (2.75, 3.46, 4.45, 3.55)),
                   _r("3DDFA-V2 (MR) [15]", (2.75, 3.49, 4.53, 3.59)),
                   _r("3DDFA-V2 (MRS) [15]", (2.63, 3.42, 4.48, 3.51)),
                   _r("M3-LRN (our)", (2.65, 3.30, 4.27, 3.41), "full"))),
    PaperTable("5", "Table 5", "Quantitative facial alignment comparison on AFLW with 21-point landmark "
               "definition.", "AFLW full set (21 points)", "nme21", ("Method",), BINS, (
                   _r("ESR [6]", (5.66, 7.12, 11.94, 8.24)),
                   _r("3DDFA [56]", (4.75, 4.83, 6.39, 5.32)),
                   _r("3D-FAN [4]", (4.40, 4.52, 5.17, 4.69)),
                   _r("3DSTN [3]", (3.55, 3.92, 5.21, 4.23)),
                   _r("3DDFA-PAMI [57]", (4.11, 4.38, 5.16, 4.55)),
                   _r("PRNet [12]", (4.19, 4.69, 5.45, 4.77)),
                   _r("3DDFA-V2 [15]", (3.98, 4.31, 4.99, 4.43)),
                   _r("M3-LRN (our)", (3.76, 3.92, 4.48, 4.06), "full")), _AFLW21),
    PaperTable("6", "Table 6", "Ablative for face orientation estimation.", _AFLW2000, "pose",
               ("M2FA for refinement", "Landmark Geometry Support"), POSE_COLS, (
                   _r(("-", "-"), (3.97, 4.93, 3.28, 4.06), "baseline"),
                   _r(("✓", "-"), (3.72, 4.37, 2.88, 3.65), "m2fa"),
                   _r(("-", "✓"), (3.67, 4.48, 2.95, 3.70), "lgs"),
                   _r(("✓", "✓"), (3.42, 4.09, 2.55, 3.35), "full"))),
    PaperTable("7", "Table 7", "Study on different modalities and different regression targets for face "
               "orientation estimation.", _AFLW2000, "pose", ("Structures",), POSE_COLS, (
                   _r("Point-feature only", (3.81, 4.42, 2.89, 3.71), "points_only"),
                   _r("Point + image feature", (3.72, 4.39, 2.85, 3.66), "points_image"),
                   _r("MMPF", (3.72, 4.37, 2.88, 3.65), "m2fa"),
                   _r("M2FA+LGS (pose)", (3.58, 4.06, 2.57, 3.40), "lgs_pose"),
                   _r("M2FA+LGS (shape, expr)", (3.47, 4.23, 2.59, 3.43), "lgs_shape_exp"),
                   _r("M2FA+LGS (all)", (3.42, 4.09, 2.55, 3.35), "full"))),
    PaperTable("8", "Table 8", "Face orientation estimation benchmark comparison on AFLW2000-3D.",
               "AFLW2000-3D", "pose", ("Method",), POSE_COLS, (
                   _r("PnP-landmark", (5.92, 11.76, 8.27, 8.65)),
                   _r("FAN-12 point [4]", (6.36, 12.30, 8.71, 9.12)),
                   _r("HopeNet [33]", (6.47, 6.56, 5.44, 6.16)),
                   _r("SSRNet-MD [49]", (5.14, 7.09, 5.89, 6.01)),
                   _r("FSANet [48]", (4.50, 6.08, 4.64, 5.07)),
                   _r("3DDFA-TPAMI [57]", (4.33, 5.98, 4.30, 4.87)),
                   _r("2DASL [39]", (3.85, 5.06, 3.50, 4.13)),
                   _r("3DDFA-V2 [15]", (4.06, 5.26, 3.48, 4.27)),
                   _r("M3-LRN (our)", (3.42, 4.09, 2.55, 3.35), "full"))),
    PaperTable("9_protocol1", "Table 9 (Protocol-1)", "3D face modeling comparison on AFLW2000-3D, protocol 1 "
               "(ICP, NME by inter-ocular distance).", "AFLW2000-3D", "protocol1", ("Method",), ("NME",), (
                   _r("3DDFA [56]", (5.37,)),
                   _r("DeFA [25]", (5.55,)),
                   _r("PRNet [12]", (3.96,)),
                   _r("2DASL [39]", (2.10,)),
                   _r("M3-LRN (our)", (1.97,), "full")), _P),
    PaperTable("9_protocol2", "Table 9 (Protocol-2)", "3D face modeling comparison on AFLW2000-3D, protocol 2 "
               "(dense alignment, no ICP, NME by box size).", "AFLW2000-3D", "protocol2", ("Method",), ("NME",), (
                   _r("3DDFA [56]", (6.56,)),
                   _r("DeFA [25]", (6.04,)),
                   _r("3DDFA-V2 [15]", (4.18,)),
                   _r("M3-LRN (our)", (4.06,), "full")), _P),
    PaperTable("10", "Table 10", "3D face modeling on Florence (point-to-plane RMSE).", "Florence",
               "florence", ("Method",), ("RMSE",), (
                   _r("PRNet [12]", (2.25,)),
                   _r("2DASL [39]", (2.05,)),
                   _r("3DDFA-V2 [15]", (2.79,)),
                   _r("M3-LRN (our)", (1.87,), "full")), _FLOR),
    PaperTable("S2_backbone", "Table S2 (backbone study)", "Network backbone study on the AFLW full set.",
               "AFLW full set (21 points)", "nme21", ("Backbone",), BINS, (
                   _r("MobileNet", (3.86, 4.13, 4.61, 4.20), "full"),
                   _r("ResNet50", (3.76, 3.92, 4.48, 4.06), "resnet50"),
                   _r("ResNeSt50", (3.76, 3.92, 4.52, 4.07)),
                   _r("ResNet101", (3.90, 4.14, 5.08, 4.38)),
                   _r("ResNeSt101", (3.78, 4.04, 4.62, 4.15))), _AFLW21),
    PaperTable("S2_params_alignment", "Table S2 (extra parameters, alignment)",
               "Comparison with the first-stage 3DMM regressor with extra parameters (facial alignment).",
               "AFLW2000-3D (original)", "nme68", ("Structures", "# of params"), BINS, (
                   _r(("Only first-stage regressor", "3.0M"), (2.99, 3.80, 4.86, 3.88), "baseline"),
                   _r(("Only first-stage regressor (w/ extra MLPs)", "3.8M"), (2.98, 3.82, 4.77, 3.86),
                      "baseline_extra_mlp"),
                   _r(("M3-LRN", "3.8M"), (2.66, 3.30, 4.27, 3.41), "full"))),
    PaperTable("S2_params_pose", "Table S2 (extra parameters, orientation)",
               "Comparison with the first-stage 3DMM regressor with extra parameters (face orientation).",
               "AFLW2000-3D", "pose", ("Structures", "# of params"), POSE_COLS, (
                   _r(("Only first-stage regressor", "3.0M"), (3.97, 4.93, 3.28, 4.06), "baseline"),
                   _r(("Only first-stage regressor (w/ extra MLPs)", "3.8M"), (3.80, 4.62, 2.84, 3.75),
                      "baseline_extra_mlp"),
                   _r(("M3-LRN", "3.8M"), (3.42, 4.09, 2.55, 3.35), "full"))),
    PaperTable("S2_reannotated", "Table S2 (reannotated)", "Comparison on AFLW2000-3D Reannotation.",
               "AFLW2000-3D (reannotated, LS3D-W)", "none", ("Method",), BINS, (
                   _r("DHM [38]", (2.28, 3.10, 6.95, 4.11)),
                   _r("3DDFA [56]", (2.84, 3.52, 5.15, 3.83)),
                   _r("PRNet [12]", (2.35, 2.78, 4.22, 3.11)),
                   _r("MGCNet [35]", (2.72, 3.12, 3.76, 3.20)),
                   _r("3DDFA-V2 [15]", (2.84, 3.03, 4.13, 3.33)),
                   _r("M3-LRN (our)", (2.16, 2.60, 3.64, 2.80), "full")), _REANN),
    PaperTable("S2_biwi", "Table S2 (BIWI)", "Comparison on BIWI head pose dataset for face orientation "
               "estimation.", "BIWI", "none", ("Method",), POSE_COLS, (
                   _r("HopeNet [33] (alpha = 1)", (4.81, 6.61, 3.27, 4.90)),
                   _r("HopeNet [33] (alpha = 2)", (5.17, 6.98, 3.39, 5.18)),
                   _r("SSR-Net-MD [49]", (4.49, 6.31, 3.61, 4.65)),
                   _r("FSA-Caps-Fusion [48]", (4.27, 4.96, 2.76, 4.00)),
                   _r("M3-LRN (our)", (3.99, 4.78, 2.93, 3.90), "full")),
               "the BIWI head-pose videos (Kinect) are not available offline"),
)}


def table(key: str) -> PaperTable:
    """The table with ``key`` (see :data:`TABLES`); KeyError lists the keys."""
    if key not in TABLES:
        raise KeyError(f"no table {key!r}; known: {', '.join(TABLES)}")
    return TABLES[key]
