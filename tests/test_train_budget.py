"""The optimisation budget of each loss term (lambda * sum lr) and the floor warning (issue: a recipe whose
budget for an enabled module is below the documented floor warns, naming the module)."""
import warnings

import pytest

from m3lrn_lib.nn import M3LRNConfig
from m3lrn_lib.nn.losses import LossWeights
from m3lrn_lib.train import load_config
from m3lrn_lib.train.budget import FLOOR_FRACTION, BudgetWarning, budget_warnings, lr_sum, paper_lr_sum, term_budgets


def test_paper_schedule_sum_of_rates_by_hand():
    # 680000 // 1024 = 664 steps per epoch; 48 epochs at 0.08, 16 at 0.008, 16 at 0.0008
    assert paper_lr_sum() == pytest.approx(664 * 0.08 * (48 + 16 * 0.1 + 16 * 0.01))
    c = load_config("cpu", ["optim.optimizer=sgd", "optim.lr=0.08", "optim.scale_lr=true",
                             "optim.epochs=4", "optim.milestones=3"])  # the four-epoch SGD schedule of docs/cpu-recipe.md
    spe = c.data.n_train // c.optim.batch_size
    assert lr_sum(c.optim, c.data.n_train) == pytest.approx(spe * 0.0025 * (3 + 0.1))


def test_paper_budgets_and_shares():
    b = {t.key: t for t in term_budgets(LossWeights(), paper_lr_sum())}
    assert b["w_lmk"].budget == pytest.approx(0.03 * paper_lr_sum()) and b["w_lmk"].share == pytest.approx(1)
    assert b["w_3dmm"].floor == pytest.approx(FLOOR_FRACTION * 0.02 * paper_lr_sum())
    assert b["w_lmk"].module == "M2FA" and b["w_g"].module == "LGS" and b["w_3dmm"].module == "first stage"


def test_sgd_recipes_below_and_above_the_floor():
    # SGD at the CPU schedule: the paper's weights are far below the floor for every module ...
    c = load_config("cpu", ["optim.optimizer=sgd", "optim.scale_lr=true", "optim.lr=0.08"])
    total = lr_sum(c.optim, c.data.n_train)
    assert [ln.split(":")[0] for ln in budget_warnings(c.loss, total, M3LRNConfig.preset("full"))] == [
        "first stage", "M2FA", "LGS", "LGS"]
    # ... and x1000 (which keeps the shares but diverges, docs/cpu-recipe.md) is above it
    big = LossWeights(*(1000 * w for w in (0.02, 0.03, 0.02, 0.001)))
    assert budget_warnings(big, total, M3LRNConfig.preset("full")) == []
    shares = {t.key: t.share for t in term_budgets(big, total)}
    assert max(shares.values()) == pytest.approx(min(shares.values()))


def test_a_starved_module_is_named():
    c = load_config("cpu", ["optim.optimizer=sgd", "optim.scale_lr=true", "optim.lr=0.08", "loss.w_3dmm=20"])
    total = lr_sum(c.optim, c.data.n_train)
    lines = budget_warnings(c.loss, total, M3LRNConfig.preset("full"))
    assert [ln.split(":")[0] for ln in lines] == ["M2FA", "LGS", "LGS"]
    assert "loss.w_lmk" in lines[0] and "docs/cpu-recipe.md" in lines[0]
    # a module that is not in the network is not warned about; a weight of 0 is a switched-off term
    assert budget_warnings(c.loss, total, M3LRNConfig.preset("baseline")) == []
    c0 = load_config("cpu", ["optim.optimizer=sgd", "loss.w_lmk=0"])
    assert not any(ln.startswith("M2FA") for ln in budget_warnings(c0.loss, total, M3LRNConfig.preset("m2fa")))


def test_trainer_warns_with_the_module(tmp_path):
    from m3lrn_lib.train.engine import Trainer
    cfg = load_config("smoke", [f"run.out_dir={tmp_path}/{{name}}", "model.preset=m2fa", "optim.optimizer=sgd"])
    with pytest.warns(BudgetWarning, match=r"^M2FA: the budget of L_lmk"):
        t = Trainer(cfg)
    t.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BudgetWarning)
        ok = load_config("smoke", [f"run.out_dir={tmp_path}/{{name}}", "loss.w_3dmm=1e5", "optim.optimizer=sgd"])
        Trainer(ok).close()
        # Adam's step does not scale with lambda: no budget warning, and the optimiser is Adam
        adam = Trainer(load_config("smoke", [f"run.out_dir={tmp_path}/{{name}}", "model.preset=m2fa",
                                             "optim.optimizer=adam", "optim.lr=1e-3", "optim.scale_lr=false"]))
        assert type(adam.optimizer).__name__ == "Adam"
        adam.fit()
        adam.close()


def test_gradient_norms_name_each_module():
    import torch

    from m3lrn_lib import data
    from m3lrn_lib.morphable import load_face_model
    from m3lrn_lib.nn import M3LRN
    from m3lrn_lib.train.budget import gradient_norms
    from m3lrn_lib.train.loop import make_loader
    train_set, _ = data.sample_datasets()
    torch.manual_seed(0)
    net = M3LRN(load_face_model(), "full", train_set.param_mean, train_set.param_std).train()
    batch = next(iter(make_loader(train_set, 8, seed=0)))
    g = gradient_norms(net, batch, LossWeights(1, 1, 1, 1))
    assert set(g) == {"w_3dmm", "w_lmk", "w_3dmm_lmk", "w_g"} and set(g["w_lmk"]) == {"first stage", "M2FA", "LGS"}
    assert g["w_3dmm"]["M2FA"] == 0 and g["w_3dmm"]["first stage"] > 0 and g["w_lmk"]["M2FA"] > 0
    assert g["w_lmk"]["LGS"] == 0 and g["w_3dmm_lmk"]["LGS"] > 0
    g2 = gradient_norms(net, batch, LossWeights(2, 0, 0, 0))   # linear in the weight; a weight of 0 is left out
    assert list(g2) == ["w_3dmm"] and g2["w_3dmm"]["first stage"] == pytest.approx(2 * g["w_3dmm"]["first stage"])
    assert all(p.grad is None for p in net.parameters())

