"""Scale/shift adapters (BSA, Noguchi & Harada 2019) and batch-statistics adapters (AdaBN).

``scale_shift``: y → y·γ + β per channel on the output of every normalisation layer of the generator and on its
first feature map; γ = 1, β = 0 at the start, so a fresh adapter changes nothing. Sampling through it draws z from a
normal truncated at ±``truncation`` (BSA samples close to the learned latents).

``bn_statistics``: replacement running means/variances for the generator's batch norms, estimated on new latents.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..latents import truncate
from ..models import Generator
from .base import Adapter, CallContext, attach, register_adapter

FIRST = "first_feature_map"


def _key(name: str) -> str:
    return name.replace(".", "__")


@register_adapter
class ScaleShiftAdapter(Adapter):
    kind = "scale_shift"

    def __init__(self, channels: dict[str, int], truncation: float | None = 0.3, num_classes: int = 0) -> None:
        super().__init__(channels=channels, truncation=truncation, num_classes=num_classes)
        if truncation is not None and not truncation > 0:
            raise ValueError(f"truncation={truncation}: use a positive threshold (BSA: 0.2–0.4) or None.")
        self.truncation, self.num_classes = truncation, num_classes
        rows = (num_classes,) if num_classes else ()
        self.scale = nn.ParameterDict({_key(k): nn.Parameter(torch.ones(*rows, n)) for k, n in channels.items()})
        self.shift = nn.ParameterDict({_key(k): nn.Parameter(torch.zeros(*rows, n)) for k, n in channels.items()})

    @classmethod
    def for_generator(
        cls, generator: Generator, truncation: float | None = 0.3, first_feature_map: bool = True, num_classes: int = 0
    ) -> ScaleShiftAdapter:
        """γ = 1, β = 0 for every normalisation layer (and the first feature map) of ``generator``.

        ``num_classes > 0`` keeps one γ/β set per class: for a class-conditional base its own classes, for an
        unconditional one new class ids that only this adapter knows (the generator never sees them).
        """
        channels = {k: m.num_features for k, m in generator.normalization_layers().items()}
        if first_feature_map:
            channels = {FIRST: cls._first_channels(generator), **channels}
        return cls(channels, truncation, num_classes)

    def extra_classes(self, generator: Generator) -> int:
        """A per-class adapter on an unconditional base adds its own class ids (the generator never sees them)."""
        return self.num_classes if generator.config.num_classes == 0 else 0

    @staticmethod
    def _first_channels(generator: Generator) -> int:
        stem = generator.block_modules()["stem"]
        captured: list[int] = []
        handle = stem.register_forward_hook(lambda m, i, o: captured.append(o.shape[1]))
        try:
            with torch.no_grad():
                was = generator.training
                generator.eval()
                z = torch.zeros(1, generator.config.z_dim, device=generator.device)
                y = torch.zeros(1, dtype=torch.long, device=generator.device) if generator.config.num_classes else None
                generator(z, class_labels=y)
                generator.train(was)
        finally:
            handle.remove()
        return captured[0]

    def _targets(self, generator: Generator) -> dict[str, nn.Module]:
        modules: dict[str, nn.Module] = dict(generator.normalization_layers())
        modules[FIRST] = generator.block_modules()["stem"]
        return {k: modules[k] for k in self.config.kwargs["channels"] if k in modules}

    def check_compatible(self, generator: Generator) -> None:
        want = self.config.kwargs["channels"]
        have = {k: m.num_features for k, m in generator.normalization_layers().items()}
        if FIRST in want:
            have[FIRST] = self._first_channels(generator)
        wrong = [k for k in want if have.get(k) != want[k]]
        if wrong:
            raise ValueError(
                f"This scale_shift adapter does not fit the generator: layer '{wrong[0]}' has "
                f"{have.get(wrong[0], 'no')} channels, the adapter {want[wrong[0]]}."
            )
        k = generator.config.num_classes
        if self.num_classes and k and self.num_classes != k:
            raise ValueError(f"This adapter has {self.num_classes} per-class sets; the generator has {k} classes.")

    def hooks(self, generator: Generator, context: CallContext):
        def make(key: str):
            def hook(module, args, output):
                spatial = (1,) * (output.ndim - 2)  # (B, C, H, W) feature maps, or (B, C) styles (StyleGAN2)
                if self.num_classes:
                    if context.class_labels is None:
                        raise ValueError(
                            f"This scale_shift adapter has one set per class ({self.num_classes}): pass class_labels."
                        )
                    labels = context.class_labels.long().to(output.device)
                    scale, shift = self.scale[key][labels], self.shift[key][labels]
                    return output * scale.view(*scale.shape, *spatial) + shift.view(*shift.shape, *spatial)
                return output * self.scale[key].view(1, -1, *spatial) + self.shift[key].view(1, -1, *spatial)

            return hook

        return [(module, make(_key(name))) for name, module in self._targets(generator).items()]

    def transform_inputs(self, z, class_labels, class_embedding, context: CallContext):
        if self.truncation is not None:
            z = truncate(z, self.truncation)
        if self.num_classes and context.generator.config.num_classes == 0:
            class_labels = None  # the unconditional base never sees the adapter's own class ids
        return z, class_labels, class_embedding

    def regularizer(self) -> torch.Tensor:
        """‖γ − 1‖² + ‖β‖² over every layer (BSA's penalty for drifting from the source)."""
        return sum(((s - 1) ** 2).sum() + (b**2).sum() for s, b in zip(self.scale.values(), self.shift.values(),
                                                                       strict=True))  # fmt: skip

    def fuse_into(self, generator: Generator) -> None:
        if self.num_classes:
            raise NotImplementedError("A per-class scale_shift adapter cannot be fused into the generator's weights.")
        if FIRST in self.config.kwargs["channels"]:
            raise NotImplementedError(
                "A scale_shift adapter with a first-feature-map scale cannot be fused (the stem's layout is the "
                "architecture's own); train it with first_feature_map=False to fuse."
            )
        for name, layer in generator.normalization_layers().items():
            layer.fuse_scale_shift(self.scale[_key(name)].detach(), self.shift[_key(name)].detach())


def interpolate(a: ScaleShiftAdapter | None, b: ScaleShiftAdapter | None, alpha: float) -> ScaleShiftAdapter:
    """The adapter (1 − α)·a + α·b (None = the base model: γ = 1, β = 0), for morphing between domains."""
    template = a or b
    if template is None:
        raise ValueError("interpolate needs at least one adapter.")
    if a is not None and b is not None and a.config.kwargs["channels"] != b.config.kwargs["channels"]:
        raise ValueError("These adapters were made for different generators; they cannot be interpolated.")
    if a is not None and b is not None and a.num_classes != b.num_classes:
        raise ValueError("A per-class adapter and a shared one cannot be interpolated.")
    out = ScaleShiftAdapter(dict(template.config.kwargs["channels"]), template.truncation, template.num_classes)
    out.config.base_model, out.config.base_model_hash = template.config.base_model, template.config.base_model_hash
    out.config.method = "interpolation"
    with torch.no_grad():
        for name in out.scale:
            for table in ("scale", "shift"):
                start = getattr(a, table)[name] if a is not None else getattr(out, table)[name]
                end = getattr(b, table)[name] if b is not None else getattr(out, table)[name]
                getattr(out, table)[name].copy_(torch.lerp(start.detach(), end.detach(), alpha))
    return out.to(template.scale[next(iter(template.scale))].device)


@register_adapter
class BatchStatisticsAdapter(Adapter):
    """Replacement running mean/variance for each batch norm inside the generator's normalisation layers."""

    kind = "bn_statistics"

    def __init__(self, channels: dict[str, int]) -> None:
        super().__init__(channels=channels)
        self.means = nn.ParameterDict({_key(k): nn.Parameter(torch.zeros(n), requires_grad=False)
                                       for k, n in channels.items()})  # fmt: skip
        self.variances = nn.ParameterDict({_key(k): nn.Parameter(torch.ones(n), requires_grad=False)
                                           for k, n in channels.items()})  # fmt: skip

    @staticmethod
    def _batch_norms(generator: Generator) -> dict[str, nn.BatchNorm2d]:
        return {f"{name}.{sub}": m for name, layer in generator.normalization_layers().items()
                for sub, m in layer.named_modules() if isinstance(m, nn.BatchNorm2d) and sub}  # fmt: skip

    @classmethod
    @torch.no_grad()
    def estimate(
        cls,
        generator: Generator,
        latents: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        adapters: Sequence[Adapter] = (),
        batch_size: int = 64,
    ) -> BatchStatisticsAdapter:
        """AdaBN: re-estimate every batch norm's running mean/variance on ``latents`` (with ``adapters`` on).

        As PyTorch recalibrates batch norm: train-mode passes with ``momentum=None``, so each statistic is the
        equal-weight mean of the per-batch statistics (the exact one when a single batch holds every latent).
        """
        g = copy.deepcopy(generator).eval()
        norms = cls._batch_norms(g)
        for bn in norms.values():
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over all batches
            bn.train()
        with attach(list(adapters), g) as transform:
            for i in range(0, latents.shape[0], batch_size):
                y = None if class_labels is None else class_labels[i : i + batch_size].to(g.device)
                z, y, emb = transform(latents[i : i + batch_size].to(g.device, g.dtype), y, None)
                g(z, class_labels=y, class_embedding=emb)
        adapter = cls({k: bn.num_features for k, bn in norms.items()})
        for k, bn in norms.items():
            adapter.means[_key(k)].copy_(bn.running_mean)
            adapter.variances[_key(k)].copy_(bn.running_var)
        return adapter.to(generator.device)

    def check_compatible(self, generator: Generator) -> None:
        have = {k: bn.num_features for k, bn in self._batch_norms(generator).items()}
        if have != self.config.kwargs["channels"]:
            raise ValueError("This bn_statistics adapter does not fit the generator's batch norms.")

    def hooks(self, generator: Generator, context: CallContext):
        def make(key: str):
            def hook(module: nn.BatchNorm2d, args, output):
                if module.training:
                    return output
                return F.batch_norm(args[0], self.means[key], self.variances[key], module.weight, module.bias,
                                    False, 0.0, module.eps)  # fmt: skip

            return hook

        return [(bn, make(_key(name))) for name, bn in self._batch_norms(generator).items()]

    def fuse_into(self, generator: Generator) -> None:
        with torch.no_grad():
            for name, bn in self._batch_norms(generator).items():
                bn.running_mean.copy_(self.means[_key(name)])
                bn.running_var.copy_(self.variances[_key(name)])


__all__ = ["BatchStatisticsAdapter", "ScaleShiftAdapter", "interpolate"]
