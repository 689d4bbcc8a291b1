"""The replicas of the public code's defects (m3lrn_lib.nn.public_code) show the defects."""
import torch

from m3lrn_lib.nn.public_code import public_loss_geometry, public_output_layer


def test_public_output_layer_is_never_negative():
    layer = public_output_layer().train()
    assert (layer(torch.randn(4, 128, 68)) >= 0).all()


def test_public_loss_geometry_is_misindexed():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 62, generator=g)
    assert float(public_loss_geometry(a, a.clone())) > 0.5, "penalises perfect agreement"
    hat = torch.zeros(4, 62)
    hat[:, :50] = a[:, 12:62]
    assert float(public_loss_geometry(a, hat)) == 0.0
