"""BSA (Noguchi & Harada, ICCV 2019): learn only per-channel scale and shift of a frozen generator, by reconstruction.

No discriminator. Each training image gets its own latent z (starting at 0, jittered with small noise every step);
the loss is L1 on pixels + L1 on perceptual features + λ_z · symmetric nearest-neighbour (Chamfer) distance between
the latents and k ≫ n Gaussian draws (so the latents spread like the prior and random z hit the new domain) +
λ · (‖γ − 1‖² + ‖β‖²). Every generator weight and running statistic stays as it was; the result is a
``scale_shift`` adapter, sampled with a truncated normal (threshold 0.3).

Defaults: the structure above, the truncation (0.2–0.4 in the paper) and the zero-initialised latents follow the
paper; the loss weights, learning rates and step count are chosen here (the paper tunes them per dataset), and the
perceptual network is EfficientNet-Lite0 (the offline default; VGG16 when its weights are given).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..adapters import ScaleShiftAdapter, attach
from ..data import ImagesLike, load_images
from ..metrics.extractors import cached_extractor
from ..models import Discriminator, Generator
from ..rendering import make_image_grid, plot_curves, save_image, to_pil
from .engine import EpochSampler, FitOutput, Recipe, StepCallback, TrainingDiverged, TrainResult, register_recipe


@dataclasses.dataclass
class BSAConfig:
    steps: int = 3000
    batch_size: int = 25  # images per step (all of them when there are fewer)
    lr: float = 1e-3  # γ / β
    lr_latent: float = 0.05  # per-image z
    latent_noise: float = 0.05  # std of the jitter added to each z every step
    perceptual_weight: float = 0.1
    perceptual_extractor: str = "efficientnet-lite0"  # or "vgg16" with perceptual_weights
    perceptual_weights: str | None = None
    perceptual_resolution: int = 128  # input size of the perceptual network (224 is its native size)
    latent_weight: float = 0.1  # λ_z, Chamfer distance to Gaussian draws
    latent_draws: int = 10  # k = latent_draws · n Gaussian draws per step
    reg_weight: float = 0.01  # λ, on ‖γ − 1‖² + ‖β‖²
    truncation: float = 0.3
    first_feature_map: bool = True
    per_class: bool = False  # one γ/β set per class (needs class_labels; new class ids on an unconditional base)
    seed: int = 0
    output_dir: str | None = None
    sample_every: int = 500
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "latent_draws", "sample_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: use at least 1.")


def chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric nearest-neighbour distance: mean over a of min ‖a − b‖² plus mean over b of min ‖b − a‖²."""
    d = torch.cdist(a, b).pow(2)
    return d.min(dim=1).values.mean() + d.min(dim=0).values.mean()


@contextlib.contextmanager
def frozen(generator: Generator) -> Iterator[None]:
    """Eval mode and no weight gradients for the block; the generator's own flags come back afterwards."""
    flags = [p.requires_grad for p in generator.parameters()]
    was = generator.training
    generator.eval().requires_grad_(False)
    try:
        yield
    finally:
        generator.train(was)
        for p, flag in zip(generator.parameters(), flags, strict=True):
            p.requires_grad_(flag)


@register_recipe
class BSA(Recipe):
    name = "bsa"
    config_class = BSAConfig

    @staticmethod
    @torch.no_grad()
    def _draw(g: Generator, adapter: ScaleShiftAdapter, z: torch.Tensor, class_labels: Any = None) -> torch.Tensor:
        """The adapted generator mid-run, sampled as a pipeline would (its hooks are attached during fit)."""
        labels = None if class_labels is None else torch.as_tensor(class_labels).to(g.device)
        z, labels, _ = adapter.transform_inputs(z.to(g.device, g.dtype), labels, None)
        return g(z, class_labels=labels)

    def fit(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: ImagesLike,
        class_labels: Sequence[int] | torch.Tensor | None = None,
        callbacks: Sequence[StepCallback] = (),
    ) -> FitOutput:
        """Learn a scale_shift adapter for ``generator`` (left untouched) from ``images``."""
        c = self.config
        g = generator
        if (g.config.num_classes or c.per_class) and class_labels is None:
            raise ValueError("BSA needs class_labels here (the class of every image, or one class to adapt from).")
        x = load_images(images, g.config.resolution, g.config.channels, purpose="BSA").to(g.device, g.dtype)
        n = x.shape[0]
        labels = None if class_labels is None else torch.as_tensor(class_labels).long().reshape(-1).to(g.device)
        if labels is not None and labels.numel() == 1:
            labels = labels.expand(n)
        gen = torch.Generator().manual_seed(c.seed)
        classes = (g.config.num_classes or int(labels.max()) + 1) if c.per_class else 0
        adapter = ScaleShiftAdapter.for_generator(g, c.truncation, c.first_feature_map, classes).to(g.device)
        adapter.check_compatible(g)
        latents = torch.zeros(n, g.config.z_dim, device=g.device, requires_grad=True)
        opt = torch.optim.Adam([{"params": adapter.parameters(), "lr": c.lr}, {"params": [latents], "lr": c.lr_latent}])
        net = cached_extractor(c.perceptual_extractor, c.perceptual_weights).to(g.device)
        with torch.no_grad():
            target_feats = [f.detach() for f in net.blocks(x, c.perceptual_resolution)]
        sampler = EpochSampler(n, gen)
        out_dir = Path(c.output_dir) if c.output_dir else None
        history: list[dict[str, float]] = []
        started = time.perf_counter()
        bar = tqdm(range(c.steps), desc="BSA", disable=not c.progress)
        with frozen(g), attach([adapter], g):  # hooks only: training latents are not truncated
            for step in bar:
                idx = sampler.take(min(c.batch_size, n)).to(g.device)
                noise = torch.randn(idx.numel(), g.config.z_dim, generator=gen).to(g.device) * c.latent_noise
                z = latents[idx] + noise
                batch_labels = None if labels is None else labels[idx]
                if c.per_class:
                    adapter.set_labels(batch_labels)
                    batch_labels = batch_labels if g.config.num_classes else None
                recon = g(z, class_labels=batch_labels)
                pixel = F.l1_loss(recon, x[idx])
                feats = net.blocks(recon, c.perceptual_resolution)
                perceptual = sum(F.l1_loss(f, t[idx]) for f, t in zip(feats, target_feats, strict=True)) / len(feats)
                draws = torch.randn(c.latent_draws * n, g.config.z_dim, generator=gen).to(g.device)
                latent = chamfer(latents[idx], draws)
                reg = adapter.regularizer()
                loss = pixel + c.perceptual_weight * perceptual + c.latent_weight * latent + c.reg_weight * reg
                if not torch.isfinite(loss):
                    raise TrainingDiverged(f"BSA diverged at step {step + 1}: the loss is {loss.item()}; lower lr.")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                logs = {"loss": loss.item(), "pixel_l1": pixel.item(), "perceptual": perceptual.item(),
                        "chamfer": latent.item(), "reg": reg.item()}  # fmt: skip
                history.append({"step": step + 1, **logs})
                bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
                if out_dir is not None and (step + 1) % c.sample_every == 0:
                    save_image(make_image_grid(to_pil(torch.cat([x[idx][:8], recon[:8].detach()])), cols=8),
                               out_dir / "samples" / f"step_{step + 1:06d}.png")  # fmt: skip
                for callback in callbacks:
                    callback(step + 1, logs, functools.partial(self._draw, g, adapter))
        seconds = time.perf_counter() - started
        if out_dir is not None:
            plot_curves({k: [h[k] for h in history] for k in ("pixel_l1", "perceptual")}, out_dir / "losses.png")
        adapter.requires_grad_(False).eval()
        adapter.config.method = "bsa"
        adapter.config.hyperparameters = {**dataclasses.asdict(c), "num_images": n}
        adapter.config.hyperparameters.pop("output_dir")
        extras: dict[str, Any] = {"latents": latents.detach()}
        result = TrainResult(history, c.steps, seconds, out_dir, seconds, extras)
        return FitOutput(adapter=adapter, card_data={"tags": ["bsa"]}, result=result,
                         hyperparameters=adapter.config.hyperparameters)  # fmt: skip
