"""TransferI2I (Wang et al., ICCV 2021): an image-to-image translator built from a pretrained GAN, in three steps.

(a) **Source–target initialisation** [§3, Eq. 2]: fine-tune the pretrained G and D on each domain (two-class: two
    copies, one per domain) or one class-conditional G and D on all classes (multi-class); plain GAN training.
(b) **Adaptor self-initialisation** [§3, Eq. 3], no data: the adaptor A learns to map the discriminator's features of
    generated images back to the generator's own feature maps, ``Σ_l ‖G_t(z)_l − A_l(D_s(G_t(z))_l)‖₁`` (per-level
    mean, summed), with G and D frozen.
(c) **Translation** [§3, Eqs. 4–6]: ``x_{s→t} = G̃_t(z, A(E(x_s)))`` with the encoder E a copy of D_s; trained against
    D_t with the GAN loss, plus λ_aux = 0.01 × the GAN loss of an auxiliary generator G̃'_t that takes noise only and
    shares the generator's first k = 4 blocks (and its input layers) with G̃_t, plus λ_rec = 1 × the reconstruction
    ``Σ_l ‖D_t(x_s)_l − D_t(x_{s→t})_l‖₁`` on D_t's features at the tapped levels (D gets no gradient from it).
    Two-class trains both directions (1→2 and 2→1 share no parameter, so they run one after the other).

The paper writes the standard log-loss, so ``loss="ns"`` (softplus) is the default; ``"hinge"`` is what its
predecessor DeepI2I's code uses. The optimiser is not in the paper (its supplement is lost): Adam β = (0, 0.999),
ε = 1e-6, lr_G 1e-4, lr_D 4e-4 come from DeepI2I's code; batch 32 is DeepI2I's 4 × 8 accumulations. Step counts are
ours, and so is the self-initialisation's optimiser (Adam (0.9, 0.999) at ``lr_self_init``: the paper says only "until
the loss plateaus"). k is capped by the tapped levels and the generator's blocks (3 at 32 px). The paper's
ablations are options: ``from_scratch`` (G and D re-initialised), ``init_steps=0`` (no source–target initialisation),
``self_init_steps=0`` (no self-initialisation), ``aux_weight_i2i=0`` (no auxiliary generator), ``shared_blocks`` = k.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..adapters import CallContext, I2IAdaptor, attach
from ..models import Discriminator, DomainDiscriminator, DomainGenerator, Generator
from ..options import NON_NEGATIVE, POSITIVE, Range
from .base import FitOutput, Recipe, register_recipe
from .engine import GanTrainer, GeneratorSide, StepCallback, TrainConfig, TrainResult

MAX_LEVELS = 4  # the paper's four sub-adaptors


@dataclasses.dataclass
class TransferI2IConfig(TrainConfig):
    steps: int = 2000  # translation steps (c), per direction
    loss: str = "ns"  # the paper's log-loss; "hinge" as DeepI2I's code
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.999)
    adam_eps: float = 1e-6
    batch_size: int = 32
    ema_decay: float | None = None
    two_class: bool = False  # True: one G/D per domain (labels 0 and 1); False: one conditional G/D over the classes
    init_steps: int = 500  # (a) source–target fine-tuning steps per GAN; 0 = skip (ablation)
    self_init_steps: int = 500  # (b) adaptor self-initialisation steps per direction; 0 = skip (ablation)
    lr_self_init: float = 1e-4
    aux_weight_i2i: float = 0.01  # λ_aux; 0 = no auxiliary generator
    rec_weight: float = 1.0  # λ_rec
    shared_blocks: int = 4  # k: generator blocks the auxiliary generator shares (capped by the tapped levels)
    adaptor_levels: int = MAX_LEVELS
    adaptor_block: str | None = None  # None: "resblock" multi-class, "conv" two-class (the paper's choices)
    from_scratch: bool = False  # ablation: re-initialise G and D before (a)

    RANGES: ClassVar[dict[str, Range]] = {
        "init_steps": NON_NEGATIVE, "self_init_steps": NON_NEGATIVE, "shared_blocks": NON_NEGATIVE,
        "adaptor_levels": Range(1, MAX_LEVELS), "aux_weight_i2i": NON_NEGATIVE, "rec_weight": NON_NEGATIVE,
        "lr_self_init": POSITIVE,
    }  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adaptor_block not in (None, "resblock", "conv"):
            raise ValueError(f"adaptor_block='{self.adaptor_block}': use 'resblock', 'conv' or None.")


@dataclasses.dataclass(frozen=True)
class Tap:
    """One level: the generator module whose output gets the adaptor's sum, and the encoder feature it reads."""

    module: str
    feature: int
    encoder_channels: int
    generator_channels: int


@torch.no_grad()
def find_taps(generator: Generator, discriminator: Discriminator, levels: int) -> list[Tap]:
    """The generator's smallest feature maps that the discriminator also has, up to ``levels``, smallest first.

    One probe (batch of 2, eval mode) reads the shapes; the discriminator's map at the output size (the image itself)
    is never a tap.
    """
    g_was, d_was = generator.training, discriminator.training
    generator.eval(), discriminator.eval()
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(out.shape[1:]))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in generator.block_modules().items()]
    try:
        z = torch.zeros(2, generator.config.z_dim, device=generator.device)
        y = torch.zeros(2, dtype=torch.long, device=generator.device) if generator.config.num_classes else None
        image = generator(z, class_labels=y)
        feats = [f.shape[1:] for f in discriminator.features(image)]
    finally:
        for h in handles:
            h.remove()
        generator.train(g_was), discriminator.train(d_was)
    by_size: dict[int, Tap] = {}
    for index, (channels, size, _) in enumerate(feats):  # the deepest feature of each size wins
        module = next((n for n, s in shapes.items() if s[1] == size), None)
        if module is not None and size < generator.config.resolution:
            by_size[size] = Tap(module, index, channels, shapes[module][0])
    if not by_size:
        raise ValueError(f"{type(generator).__name__} and {type(discriminator).__name__} share no feature-map size.")
    return [by_size[s] for s in sorted(by_size)][:levels]


def make_adaptor(taps: list[Tap], block: str) -> I2IAdaptor:
    return I2IAdaptor([[t.encoder_channels, t.generator_channels] for t in taps], [[t.module for t in taps]],
                      [t.feature for t in taps], block)  # fmt: skip


def shared_auxiliary(generator: Generator, k: int) -> Generator:
    """G̃': a copy of ``generator`` whose input layers and first ``k`` blocks *are* the generator's (same modules)."""
    aux = copy.deepcopy(generator)
    for name, module in generator.input_modules().items():
        setattr(aux, name, module)
    for i in range(k):
        aux.blocks[i] = generator.blocks[i]
    return aux


def translate(
    generator: Generator,
    adaptor: I2IAdaptor,
    features: list[torch.Tensor],
    z: torch.Tensor,
    class_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """``G(z, A(E(x)))``: the generator with each adaptor level's output added to its feature map."""
    with attach([adaptor], generator, CallContext(generator, class_labels, features)):
        return generator(z, class_labels=class_labels)


def feature_l1(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """Σ over levels of the per-level mean absolute difference (the paper's Eqs. 3 and 5, α_l = 1)."""
    return sum(F.l1_loss(x, y) for x, y in zip(a, b, strict=True))


class AdaptorSelfInit(GeneratorSide):
    """Step (b): no data. A learns D_s(G_t(z))_l → G_t(z)_l with G_t and D_s frozen (eval mode, no gradients)."""

    plotted_losses = ("alignment",)

    def __init__(self, generator: Generator, discriminator: Discriminator, adaptor: I2IAdaptor, taps: list[Tap],
                 batch_size: int) -> None:  # fmt: skip
        super().__init__(generator, train_generator=False)
        self.discriminator = discriminator.requires_grad_(False).eval()
        self.adaptor, self.taps, self.batch_size = adaptor, taps, batch_size

    def train(self, mode: bool = True) -> AdaptorSelfInit:
        super().train(mode)
        if "discriminator" in self._modules:  # the frozen D keeps its running statistics
            self.discriminator.eval()
        return self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.generator(z, class_labels=y)

    def reconstruction_loss(
        self, images: torch.Tensor | None, labels: torch.Tensor | None, index: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        g = self.generator
        z = torch.randn(self.batch_size, g.config.z_dim, generator=rng)[index.cpu()].to(g.device)
        k = g.config.num_classes
        y = torch.randint(0, k, (self.batch_size,), generator=rng)[index.cpu()].to(g.device) if k else None
        with torch.no_grad():
            maps: dict[str, torch.Tensor] = {}
            modules = g.block_modules()
            handles = [modules[t.module].register_forward_hook(lambda m, a, out, n=t.module: maps.__setitem__(n, out))
                       for t in self.taps]  # fmt: skip
            try:
                image = g(z, class_labels=y)
            finally:
                for h in handles:
                    h.remove()
            feats = self.discriminator.features(image)
        predicted = self.adaptor.contributions([feats[t.feature] for t in self.taps])
        loss = feature_l1([maps[t.module] for t in self.taps], predicted)
        return loss, {"alignment": loss.item()}


class Translator(GeneratorSide):
    """Step (c): ``(z, y, x)`` → G̃(z, A(E(x))); E, A, G̃ and the auxiliary G̃' are trained."""

    def __init__(self, generator: Generator, encoder: Discriminator, adaptor: I2IAdaptor, taps: list[Tap],
                 config: TransferI2IConfig) -> None:  # fmt: skip
        super().__init__(generator)
        self.encoder, self.adaptor, self.taps = encoder, adaptor, taps
        self.aux_weight, self.rec_weight = config.aux_weight_i2i, config.rec_weight
        self.shared_blocks = min(config.shared_blocks, len(taps), len(generator.blocks))
        self.auxiliary = shared_auxiliary(generator, self.shared_blocks) if self.aux_weight > 0 else None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None, x: torch.Tensor | None = None) -> torch.Tensor:
        if x is None:
            raise ValueError("A translator needs input images.")
        return translate(self.generator, self.adaptor, self.adaptor.encode(self.encoder, x), z, y)

    def auxiliary_fakes(self, z: torch.Tensor, y: torch.Tensor | None) -> list[tuple[torch.Tensor, float]]:
        return [] if self.auxiliary is None else [(self.auxiliary(z, class_labels=y), self.aux_weight)]

    def regularizer(self, fake: torch.Tensor, inputs: dict[str, Any], critic: nn.Module | None) -> torch.Tensor | None:
        """λ_rec · Σ_l ‖D_t(x)_l − D_t(x_{s→t})_l‖₁ at the tapped levels (the critic is frozen for this step)."""
        if self.rec_weight == 0:
            return None
        with torch.no_grad():
            real = critic.features(inputs["x"])
        out = critic.features(fake)
        return self.rec_weight * feature_l1([real[t.feature] for t in self.taps], [out[t.feature] for t in self.taps])


@dataclasses.dataclass
class Direction:
    """One translation direction: inputs of domain s → images of domain t (multi-class: any class → class t)."""

    name: str
    inputs: torch.Tensor
    targets: torch.Tensor
    target_labels: torch.Tensor | None
    generator: Generator  # G_t after (a)
    discriminator: Discriminator  # D_t after (a)
    source_discriminator: Discriminator  # a copy of D_s after (a): self-init reads it, the encoder starts as it


@register_recipe
class TransferI2I(Recipe):
    name = "transfer_i2i"
    config_class = TransferI2IConfig
    translator = True

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """Two-class: ``class_labels`` are the domains (0, 1). Multi-class: the classes of a conditional translator."""
        c = self.config
        if class_labels is None:
            raise ValueError("TransferI2I needs the domain (two-class) or the class of every image: pass class_labels.")
        g = copy.deepcopy(generator)
        d = copy.deepcopy(discriminator) if discriminator is not None else g.build_discriminator()
        if c.from_scratch:
            g, d = type(g)(g.config).to(g.device), type(d)(d.config).to(d.device)
        results: list[TrainResult] = []
        block = c.adaptor_block or ("conv" if c.two_class else "resblock")
        if c.two_class:
            domains = self._two_domains(images, class_labels)
            if g.config.num_classes:
                raise ValueError("Two-class TransferI2I starts from an unconditional GAN; this one is conditional.")
            gans = [self._initialise(copy.deepcopy(g), copy.deepcopy(d), x, None, 0, f"init_{i}", results, callbacks)
                    for i, x in enumerate(domains)]  # fmt: skip
            sources = [copy.deepcopy(d_s) for _, d_s in gans]  # E_s starts as D_s after (a), before any of (c)
            directions = [Direction(f"{1 - t}to{t}", domains[1 - t], domains[t], None, *gans[t], sources[1 - t])
                          for t in (0, 1)]  # fmt: skip
        else:
            k = int(class_labels.max()) + 1
            if g.config.num_classes not in (0, k):
                raise ValueError(
                    f"The source has {g.config.num_classes} classes and the images {k}; use a source with the same "
                    "classes or an unconditional one (TransferGAN's Cond BNorm then makes it conditional)."
                )
            if not g.config.num_classes:
                g = g.conditional_copy(k)
            if d.config.num_classes != k:
                d = d.with_num_classes(k)
            g, d = self._initialise(g, d, images, class_labels, k, "init", results, callbacks)
            directions = [Direction("translate", images, images, class_labels, g, d, copy.deepcopy(d))]
        trained = [self._direction(dr, block, results, callbacks) for dr in directions]
        result = TrainResult.merged(results)
        result.output_dir = Path(c.output_dir) if c.output_dir else None  # the run's folder, above its stages
        if c.two_class:
            gens, encs, discs, adaptors = zip(*trained, strict=True)
            generator_out = DomainGenerator.from_generators(list(gens))
            encoder = DomainDiscriminator.from_discriminators([encs[1], encs[0]])  # member i reads domain i
            critic = DomainDiscriminator.from_discriminators(list(discs))
            adaptor = I2IAdaptor.stack(list(adaptors), ["domains.0.", "domains.1."], encoder_domains=[1, 0])
        else:
            generator_out, encoder, critic, adaptor = trained[0]
        return FitOutput(generator=generator_out, discriminator=critic, encoder=encoder, adapter=adaptor,
                         result=result, card_data={"tags": ["image-to-image"]})  # fmt: skip

    # --- the three steps -----------------------------------------------------------------------------------
    def _stage_config(self, name: str, **changes: Any) -> TransferI2IConfig:
        out = str(Path(self.config.output_dir) / name) if self.config.output_dir else None
        return dataclasses.replace(self.config, output_dir=out, **changes)

    def _initialise(self, g: Generator, d: Discriminator, images: torch.Tensor, labels: torch.Tensor | None, k: int,
                    name: str, results: list[TrainResult], callbacks: Sequence[StepCallback],
                    ) -> tuple[Generator, Discriminator]:  # fmt: skip
        """(a) Plain GAN fine-tuning of G and D on one domain (or on all classes)."""
        if self.config.init_steps == 0:
            return g, d
        config = self._stage_config(name, steps=self.config.init_steps)
        trainer = GanTrainer(config, GeneratorSide(g), d, images, z_dim=g.config.z_dim, class_labels=labels,
                             num_classes=k)  # fmt: skip
        results.append(trainer.fit(callbacks))
        return trainer.sampling_generator.generator, d

    def _direction(self, dr: Direction, block: str, results: list[TrainResult], callbacks: Sequence[StepCallback]):
        """(b) then (c) for one direction: the trained (G̃_t, E, D_t, A)."""
        c = self.config
        g, d_t = dr.generator, dr.discriminator
        taps = find_taps(g, dr.source_discriminator, c.adaptor_levels)
        adaptor = make_adaptor(taps, block).to(g.device)
        if c.self_init_steps:
            side = AdaptorSelfInit(g, copy.deepcopy(dr.source_discriminator), adaptor, taps, c.batch_size)
            config = self._stage_config(f"self_init_{dr.name}", steps=c.self_init_steps, lr_g=c.lr_self_init,
                                        betas=(0.9, 0.999))  # fmt: skip
            trainer = GanTrainer(config, side, None, None, z_dim=g.config.z_dim)
            results.append(trainer.fit(callbacks))
            adaptor = trainer.sampling_generator.adaptor
        g.requires_grad_(True)
        encoder = copy.deepcopy(dr.source_discriminator).requires_grad_(True)
        side = Translator(g, encoder, adaptor, taps, c)
        k = g.config.num_classes
        trainer = GanTrainer(self._stage_config(f"translate_{dr.name}"), side, d_t, dr.targets, z_dim=g.config.z_dim,
                             class_labels=dr.target_labels, num_classes=k, inputs=dr.inputs)  # fmt: skip
        results.append(trainer.fit(callbacks))
        trained = trainer.sampling_generator
        return trained.generator, trained.encoder, d_t, trained.adaptor

    @staticmethod
    def _two_domains(images: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        domains = [images[labels == i] for i in (0, 1)]
        if int(labels.max()) > 1 or min(x.shape[0] for x in domains) == 0:
            raise ValueError("Two-class TransferI2I needs images of domain 0 and of domain 1 (labels 0 and 1 only).")
        return domains
