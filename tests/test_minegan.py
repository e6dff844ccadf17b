"""MineGAN, single source: identity miners, frozen generator in stage 1, released in stage 2, adapter round trip."""

from __future__ import annotations

import copy

import pytest
import torch

from gan_transfer.adapters import MinerAdapter
from gan_transfer.recipes import GanTrainer, TrainConfig, get_recipe
from gan_transfer.recipes.minegan import MinedGenerator

from .conftest import FAMILIES, seeded, tiny_pipeline

FAST = {"batch_size": 8, "d_steps": 1, "progress": False, "lr_g": 1e-3, "lr_d": 1e-3}


def target(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=seeded(0))


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_miner_is_the_identity(family):
    pipe = tiny_pipeline(family)
    base = pipe(num_images=4, generator=seeded(), output_type="pt").images
    pipe.add_adapter(MinerAdapter.for_generator(pipe.generator))
    assert torch.equal(pipe(num_images=4, generator=seeded(), output_type="pt").images, base)


@pytest.mark.parametrize("release", [False, True])
def test_generator_frozen_in_stage_1_released_in_stage_2(release):
    pipe = tiny_pipeline("resnet")
    g = copy.deepcopy(pipe.generator)
    before = state(g)
    adapter = MinerAdapter(g.config.z_dim)
    miner = adapter.miner
    side = MinedGenerator(adapter, g)
    side.set_generator_trainable(release)
    config = TrainConfig(steps=2, loss="wgan-gp", ema_decay=None, **FAST)
    GanTrainer(config, side, copy.deepcopy(pipe.discriminator), target() * 2 - 1, z_dim=g.config.z_dim).fit()
    changed = [k for k, v in g.state_dict().items() if not torch.equal(v, before[k])]
    if release:
        assert len(changed) > len(before) // 2
    else:
        assert changed == [], "stage 1 changed a generator weight or running statistic"
    assert miner.net[-1].weight.abs().sum() > 0, "the miner learned"


def test_adapt_stage1_only_gives_a_miner_adapter_on_the_base(tmp_path):
    pipe = tiny_pipeline("biggan")
    tuned = pipe.adapt(target(), method="minegan", steps=2, stage2=False, **FAST)
    assert tuned.generator is pipe.generator and tuned.list_adapters() == ["minegan"]
    adapter = tuned.get_adapter("minegan")
    assert adapter.config.method == "minegan"
    expected = tuned(num_images=3, generator=seeded(), output_type="pt").images
    with tuned.disable_adapters():
        assert not torch.equal(tuned(num_images=3, generator=seeded(), output_type="pt").images, expected)
    tuned.save_adapter(tmp_path / "miner")
    fresh = tiny_pipeline("biggan")
    fresh.load_adapter(tmp_path / "miner")
    assert torch.equal(fresh(num_images=3, generator=seeded(), output_type="pt").images, expected)
    size = (tmp_path / "miner" / "adapter_model.safetensors").stat().st_size
    assert size < 50_000, size  # z_dim 32, four 32×32 layers


def test_adapt_with_stage2_returns_a_new_generator_with_its_miner():
    pipe = tiny_pipeline("resnet")
    before = state(pipe.generator)
    tuned = pipe.adapt(target(), method="minegan", steps=1, stage2_steps=2, **FAST)
    assert tuned.generator is not pipe.generator
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items())
    assert len(tuned.training_result.history) == 3 and tuned.active_adapters == ["minegan"]
    assert tuned(num_images=2, generator=seeded(), output_type="pt").images.shape == (2, 3, 32, 32)


def test_defaults_and_errors():
    c = get_recipe("minegan").config
    assert (c.loss, c.gp_weight, c.stage2, c.miner_depth) == ("wgan-gp", 10.0, True, 4)
    with pytest.raises(ValueError, match="maps 7-d latents in z; the generator's z is 16-d"):
        tiny_pipeline("resnet").add_adapter(MinerAdapter(z_dim=7))
    with pytest.raises(ValueError, match="has no intermediate latent space to mine; use miner_space='z'"):
        tiny_pipeline("resnet").adapt(target(), method="minegan", miner_space="w", steps=1)
    with pytest.raises(ValueError, match="miner_space='u': use 'z'"):
        tiny_pipeline("resnet").adapt(target(), method="minegan", miner_space="u", steps=1)


# ------------------------------------------------------------------------------------------- several sources
from gan_transfer import GanPipeline  # noqa: E402
from gan_transfer.adapters import MultiSourceMinerAdapter  # noqa: E402
from gan_transfer.recipes.minegan import MultiSourceMined  # noqa: E402


class _Brightness(torch.nn.Module):
    """A fixed critic that prefers brighter images, so the winner of every supersample is known in advance."""

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)) * 10


def test_max_operator_routes_gradient_only_to_the_winning_source():
    bright, dark = (
        copy.deepcopy(tiny_pipeline("resnet", seed=1).generator),
        copy.deepcopy(tiny_pipeline("resnet", seed=2).generator),
    )
    with torch.no_grad():
        dark.to_image.bias.fill_(-10.0)  # tanh → about −1 everywhere: it never wins
    miners = MultiSourceMinerAdapter([16, 16])
    with torch.no_grad():
        for m in miners.miners:
            m.net[-1].weight.normal_(0, 0.01)  # off the identity, so gradients reach every layer
    side = MultiSourceMined(miners, [bright, dark], window=1000)
    config = TrainConfig(steps=1, loss="hinge", ema_decay=None, **FAST)
    trainer = GanTrainer(config, side, _Brightness(), target() * 2 - 1, z_dim=32)
    trainer.G.train()
    trainer._g_step()
    winner_grads = [p.grad for p in trainer.G.adapter.miners[0].parameters()]
    loser_grads = [p.grad for p in trainer.G.adapter.miners[1].parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in winner_grads)
    assert all(g is None or g.abs().sum() == 0 for g in loser_grads)
    assert trainer.G.probabilities.tolist() == [1.0, 0.0]


def test_sources_selector_adapter_round_trip_and_sampling(tmp_path):
    a, b = tiny_pipeline("resnet", seed=1), tiny_pipeline("resnet", seed=2)
    a.card_data, b.card_data = {"license": "mit", "credits": "A data"}, {"license": "mit", "credits": "B data"}
    multi = GanPipeline.from_sources([a, b])
    assert multi.card_data["credits"] == "A data\n\nB data" and multi.card_data["license"] == "mit"
    multi.set_progress_bar_config(disable=True)
    tuned = multi.adapt(target(), method="minegan", steps=3, stage2=False, **FAST)
    p = tuned.selector_probabilities
    assert len(p) == 2 and sum(p) == pytest.approx(1.0) and all(0 <= v <= 1 for v in p)
    expected = tuned(num_images=6, generator=seeded(), output_type="pt").images
    tuned.save_adapter(tmp_path / "mined")
    fresh = GanPipeline.from_sources([tiny_pipeline("resnet", seed=1), tiny_pipeline("resnet", seed=2)])
    fresh.set_progress_bar_config(disable=True)
    fresh.load_adapter(tmp_path / "mined")
    assert fresh.selector_probabilities == p
    assert torch.equal(fresh(num_images=6, generator=seeded(), output_type="pt").images, expected)

    only_first = MultiSourceMinerAdapter([16, 16])
    only_first.probabilities.copy_(torch.tensor([1.0, 0.0]))
    fresh.add_adapter(only_first, "first")
    out = fresh(num_images=5, generator=seeded(2), output_type="pt")
    from_a = a(latents=out.latents[:, 1:17].contiguous(), output_type="pt").images  # fresh miners: identity
    torch.testing.assert_close(out.images, from_a, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="multi-source pipeline"):
        tiny_pipeline("resnet").add_adapter(MultiSourceMinerAdapter([16, 16]))


# ------------------------------------------------------------------------------------------- class miner
@pytest.mark.parametrize("family", FAMILIES)
def test_class_miner_starts_at_the_mean_class_and_needs_no_labels(family):
    pipe = tiny_pipeline(family, num_classes=3)
    g = pipe.generator
    adapter = MinerAdapter.for_generator(g, class_miner=True)
    emb = adapter.class_miner(torch.randn(4, g.config.z_dim, generator=seeded()))
    table = g.embed_classes(torch.arange(3)).detach()
    expected = table.mean(dim=0).expand(4, -1)
    torch.testing.assert_close(emb, expected, rtol=0, atol=1e-6)  # even mix (ResNet) = mean embedding (BigGAN)
    pipe.add_adapter(adapter)
    out = pipe(num_images=3, generator=seeded(), output_type="pt")
    assert out.class_labels is None and out.images.shape == (3, 3, 32, 32)


def test_minegan_on_a_conditional_source_without_labels():
    pipe = tiny_pipeline("biggan", num_classes=3)
    tuned = pipe.adapt(target(), method="minegan", steps=2, stage2=False, **FAST)
    adapter = tuned.get_adapter("minegan")
    assert adapter.provides_class_embedding and adapter.class_miner.net[-1].weight.abs().sum() > 0
    assert tuned(num_images=2, generator=seeded(), output_type="pt").class_labels is None


def test_sources_of_different_size_and_channels_are_brought_to_the_first():
    """The real face GAN (64 px) beside the emoji GAN (32 px), in miniature: every image comes out at the first
    source's size (its critic judges all candidates), each source's own image conformed exactly as documented."""
    from gan_transfer.models.multi_source import conform, source_code

    big, small = tiny_pipeline("biggan", resolution=64, seed=1), tiny_pipeline("resnet", resolution=32, seed=2)
    gray = copy.deepcopy(small)
    gray.generator = type(small.generator)(resolution=32, width=8, z_dim=16, channels=1)
    multi = GanPipeline.from_sources([big, small, gray])
    g = multi.generator.eval()
    z = torch.randn(3, g.config.z_dim, generator=seeded(4))
    with torch.no_grad():
        for i, source in enumerate((big, small, gray)):
            z[:, 0] = source_code(torch.tensor(i), 3)
            own = source.generator.eval()(z[:, 1 : 1 + source.generator.config.z_dim])
            torch.testing.assert_close(g(z), conform(own, 64, 3), atol=1e-6, rtol=0)
            assert g(z).shape == (3, 3, 64, 64)
    assert conform(torch.zeros(1, 1, 8, 8), 4, 3).shape == (1, 3, 4, 4)
    assert torch.allclose(conform(torch.ones(1, 3, 8, 8) * 0.5, 8, 1), torch.full((1, 1, 8, 8), 0.5))
    multi.set_progress_bar_config(disable=True)
    x = torch.rand(8, 3, 64, 64, generator=seeded(0))
    tuned = multi.adapt(x, method="minegan", steps=2, stage2=False, **FAST)
    assert tuned(num_images=4, generator=seeded(), output_type="pt").images.shape == (4, 3, 64, 64)
