"""Both model families: shapes, ranges, the generator/discriminator contract, config validation."""

from __future__ import annotations

import pytest
import torch

from gan_transfer.models import (
    MODEL_REGISTRY,
    BigGANDiscriminator,
    BigGANGenerator,
    NormLayer,
    ResNetDiscriminator,
    ResNetGenerator,
)

from .conftest import FAMILIES, seeded, tiny_pipeline


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("resolution", [28, 32, 64, 128])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_shapes_and_range(family, resolution, num_classes):
    g_cls, d_cls, _ = FAMILIES[family]
    g = g_cls(resolution=resolution, num_classes=num_classes, width=4, channels=1 if resolution == 28 else 3).eval()
    d = d_cls(resolution=resolution, num_classes=num_classes, width=4, channels=g.config.channels)
    z = torch.randn(2, g.config.z_dim, generator=seeded())
    y = torch.tensor([0, num_classes - 1]) if num_classes else None
    x = g(z, class_labels=y)
    assert x.shape == (2, g.config.channels, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1
    logits = d(x, class_labels=y if family == "biggan" else None)
    assert logits.shape == (2,)
    feats = d.features(x)
    assert [f.shape[-1] for f in feats] == [resolution // 2 ** (i + 1) for i in range(len(feats))]


@pytest.mark.parametrize("family", FAMILIES)
def test_named_norm_layers_and_blocks(family):
    g = tiny_pipeline(family, num_classes=3).generator
    norms = g.normalization_layers()
    assert norms and all(isinstance(m, NormLayer) and m.num_features > 0 for m in norms.values())
    assert set(g.block_modules()) == {"stem", *(f"blocks.{i}" for i in range(len(g.blocks)))}


@pytest.mark.parametrize("family", FAMILIES)
def test_class_embedding_equals_class_labels(family):
    g = tiny_pipeline(family, num_classes=3).generator.eval()
    z = torch.randn(3, g.config.z_dim, generator=seeded())
    y = torch.tensor([2, 0, 1])
    emb = g.embed_classes(y)
    assert emb.shape == (3, g.class_embedding_dim)
    torch.testing.assert_close(g(z, class_embedding=emb), g(z, class_labels=y), rtol=0, atol=1e-6)
    # classes really condition the output
    assert not torch.allclose(g(z, class_labels=torch.tensor([0, 0, 0])), g(z, class_labels=torch.tensor([1, 1, 1])))


@pytest.mark.parametrize("family", FAMILIES)
def test_fuse_scale_shift_matches_output_affine(family):
    """Every NormLayer folds y·s + t into its own parameters (what fusable adapters rely on)."""
    g = tiny_pipeline(family, num_classes=3).generator.eval()
    x = torch.randn(4, 8 * 4, 4, 4, generator=seeded())
    for layer in g.normalization_layers().values():
        n = layer.num_features
        h = torch.randn(4, n, 4, 4, generator=seeded(1))
        cond = None
        if type(layer).__name__ == "ClassBatchNorm":
            cond = g.embed_classes(torch.tensor([0, 1, 2, 0]))
        elif type(layer).__name__ == "ProjectedBatchNorm":
            cond = torch.randn(4, layer.gain.in_features, generator=seeded(2))
        s, t = 1 + 0.2 * torch.randn(n, generator=seeded(3)), torch.randn(n, generator=seeded(4))
        expected = layer(h, cond) * s[:, None, None] + t[:, None, None]
        layer.fuse_scale_shift(s, t)
        torch.testing.assert_close(layer(h, cond), expected, rtol=1e-5, atol=1e-5)
    del x


def test_conditional_errors():
    g = ResNetGenerator(resolution=32, num_classes=3, width=4).eval()
    z = torch.randn(2, g.config.z_dim)
    with pytest.raises(ValueError, match="pass class_labels"):
        g(z)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        g(z, class_labels=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one per latent"):
        g(z, class_labels=torch.tensor([0]))
    with pytest.raises(ValueError, match="unconditional"):
        ResNetGenerator(resolution=32, width=4)(z, class_labels=torch.tensor([0, 1]))
    d = BigGANDiscriminator(resolution=32, num_classes=3, width=4)
    with pytest.raises(ValueError, match="pass class_labels"):
        d(torch.zeros(1, 3, 32, 32))


def test_config_validation():
    with pytest.raises(ValueError, match="needs a resolution"):
        ResNetGenerator()
    with pytest.raises(ValueError, match="Unknown option 'widht'"):
        ResNetGenerator(resolution=32, widht=3)
    with pytest.raises(ValueError, match="channels=2"):
        BigGANGenerator(resolution=32, channels=2)
    with pytest.raises(ValueError, match="cannot be reached"):
        ResNetGenerator(resolution=25)
    with pytest.raises(ValueError, match="attention_resolution=10"):
        BigGANGenerator(resolution=32, attention_resolution=10)
    with pytest.raises(ValueError, match="4 channel multipliers"):
        ResNetGenerator(resolution=32, channel_multipliers=(1, 1))


def test_defaults_only_need_resolution():
    for cls in (ResNetGenerator, ResNetDiscriminator, BigGANGenerator, BigGANDiscriminator):
        model = cls(resolution=32)
        assert model.config.num_classes == 0 and model.num_parameters() > 0
        assert MODEL_REGISTRY.get(cls.__name__) is cls
    assert ResNetDiscriminator(resolution=32, num_classes=4).classify(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
