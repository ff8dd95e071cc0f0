"""Signal networks: front-end output lengths, backbones rebuilt from plain specs, clear errors."""

from __future__ import annotations

import pytest
import torch

from contrastlab.models.band_mlp import BandMLP
from contrastlab.models.signal_encoder import build_frontend, frontend_length
from contrastlab.models.signal_networks import CPCNetwork, SignalClassifier
from contrastlab.models.signal_spec import (
    auto_backbone,
    build_classifier,
    build_projection_network,
    build_signal_encoder,
    make_spec,
)


@pytest.mark.parametrize("input_name", ["raw", "standardize", "fft", "envelope"])
def test_frontend_lengths(input_name):
    x = torch.randn(2, 1, 256)
    assert build_frontend(input_name)(x).shape[-1] == frontend_length(input_name, 256)


@pytest.mark.parametrize(
    ("backbone", "input_name", "length"),
    [
        ("mlp", "fft", 2048),
        ("mlp", "raw", 24),
        ("wdcnn", "fft", 2048),
        ("wdcnn", "raw", 256),
        ("resnet1d", "raw", 150),
        ("resnet1d", "standardize", 1024),
        ("cpc", "standardize", 2048),
        ("cpc", "raw", 24),
    ],
)
def test_specs_rebuild_networks_for_their_windows(backbone, input_name, length):
    spec = make_spec(backbone, input_name, 2, length, feat_dim=16)
    encoder = build_signal_encoder(spec)
    features = encoder(torch.randn(3, 2, length))
    assert features.shape == (3, encoder.feature_dim)
    projection = build_projection_network(spec)(torch.randn(3, 2, length))
    torch.testing.assert_close(projection.norm(dim=1), torch.ones(3))
    assert build_classifier(spec, 4)(torch.randn(3, 2, length)).shape == (3, 4)


def test_a_rebuilt_classifier_reproduces_the_original_outputs():
    spec = make_spec("mlp", "fft", 1, 512)
    original = build_classifier(spec, 3).eval()
    copy = build_classifier(spec, 3).eval()
    copy.load_state_dict(original.state_dict())
    x = torch.randn(4, 1, 512)
    torch.testing.assert_close(copy(x), original(x))


def test_band_mlp_sees_where_energy_sits():
    mlp = BandMLP(1, 64, band_width=8, widths=(4,)).eval()
    x = torch.zeros(1, 1, 64)
    low, high = x.clone(), x.clone()
    low[..., :8], high[..., -8:] = 1.0, 1.0
    assert not torch.allclose(mlp(low), mlp(high))  # a global pooling could not tell them apart


def test_cpc_network_gives_latents_and_contexts():
    spec = make_spec("cpc", "standardize", 1, 512)
    network = CPCNetwork(build_signal_encoder(spec))
    z, context = network(torch.randn(2, 1, 512))
    assert z.shape[:2] == context.shape[:2]
    assert z.shape[2] == spec["backbone_options"]["latent_dim"]
    assert context.shape[2] == spec["backbone_options"]["context_dim"]


def test_auto_backbone():
    assert auto_backbone("fft", "simclr") == "mlp"
    assert auto_backbone("raw", "siamese") == "wdcnn"
    assert auto_backbone("fft", "cpc") == "cpc"


def test_errors():
    with pytest.raises(ValueError, match="input"):
        build_frontend("wavelet")
    with pytest.raises(ValueError, match="at least"):
        build_signal_encoder(make_spec("wdcnn", "fft", 1, 64, backbone_options={}))
    with pytest.raises(ValueError, match="lacks"):
        build_signal_encoder({"backbone": "mlp"})
    with pytest.raises(ValueError, match="cpc"):
        CPCNetwork(build_signal_encoder(make_spec("mlp", "fft", 1, 256)))
    with pytest.raises(ValueError, match="BandMLP"):
        BandMLP(1, 64)(torch.randn(2, 1, 32))
    with pytest.raises(ValueError, match="num_classes"):
        SignalClassifier(build_signal_encoder(make_spec("mlp", "fft", 1, 256)), 1)
