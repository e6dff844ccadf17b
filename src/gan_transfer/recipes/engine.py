"""The one training loop every recipe reuses, on Accelerate.

A recipe hands the engine a :class:`GeneratorSide` (``forward(z, class_labels)`` → images; its trainable
parameters are what G's optimiser updates), a discriminator, the target images and a :class:`TrainConfig`. With a
discriminator the engine runs D/G steps with the chosen loss and penalties; without one it runs the side's own
reconstruction step (BSA; with no images at all, a data-free step such as TransferI2I's adaptor
self-initialisation). A side that translates images gets a batch of ``inputs`` with every latent. Either way it
brings optional DiffAugment, an EMA of the generator side, checkpoints that resume exactly, a progress bar,
sample grids and a loss plot. The same code runs on one device or under ``accelerate launch`` / ``torchrun``:
every random draw is made for the global batch and each process takes its slice, gradients are averaged across
processes, and batch norm in the generator is synchronised, so a run with several processes matches the
single-process run with the same global batch.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from torch import nn
from tqdm.auto import tqdm

from .._version import __version__
from ..atomic import atomic_folder
from ..hub import load_weights, read_json, save_weights, write_json
from ..metrics import compute_features, kid  # the process's one EfficientNet-Lite0
from ..options import AT_LEAST_ONE, MOMENTUM, NON_NEGATIVE, POSITIVE, Range, check_fields
from ..rendering import make_image_grid, plot_curves, save_image, to_pil
from . import augment
from .losses import check_loss, discriminator_loss, fake_term, generator_loss, gradient_penalty, r1_penalty

CHECKPOINT = "checkpoint"
# Options a resumed run may change (the rest shape what the checkpoint holds or how its random streams run).
RESUMABLE_CHANGES = frozenset({"steps", "lr_g", "lr_d", "betas", "adam_eps", "gp_weight", "r1_gamma", "aux_weight",
                               "checkpoint_every", "sample_every", "num_samples", "output_dir", "resume", "progress",
                               "cpu", "mixed_precision", "overwrite"})  # fmt: skip
RUN_OUTPUTS = (CHECKPOINT, f".{CHECKPOINT}.old", "samples", "losses.png")  # what a run writes into its folder
STAGE_FOLDER = re.compile(r"stage\d+|init_\d+|self_init_\w+|translate_\w+")  # a multi-stage run's own sub-folders
DrawFn = Callable[..., torch.Tensor]  # draw(z, class_labels=None) → images of the model as it stands, no grad
StepCallback = Callable[[int, dict[str, float], DrawFn], None]  # (step, logs, draw), after every generator step


@dataclasses.dataclass
class TrainConfig:
    """Options of the training engine. Recipes subclass it and set their paper's defaults."""

    steps: int = 2000  # generator steps
    batch_size: int = 32  # global batch, split over processes
    loss: str = "hinge"  # "wgan-gp", "hinge" or "ns" (non-saturating)
    gp_weight: float = 10.0  # WGAN-GP λ
    r1_gamma: float = 0.0  # R1 penalty γ (0 = off)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.999)
    adam_eps: float = 1e-8
    d_steps: int = 1  # discriminator steps per generator step
    critic_warmup: int = 0  # discriminator-only steps against the frozen generator before step 1 (a new critic)
    aux_weight: float = 1.0  # AC-GAN classification loss, when D has a classifier and labels exist
    ema_decay: float | None = 0.999  # None = no EMA of the generator
    diffaugment: str = ""  # e.g. "color,translation,cutout"
    mixed_precision: str = "no"  # "no", "fp16" or "bf16" (passed to Accelerate)
    channels_last: bool = True
    seed: int = 0
    output_dir: str | None = None  # checkpoints, sample grids and the loss plot go here
    checkpoint_every: int = 500
    sample_every: int = 500
    num_samples: int = 16
    resume: bool = False
    overwrite: bool = False  # True: a finished or stopped run already in output_dir is replaced, not refused
    progress: bool = True
    cpu: bool = False  # force the CPU even when an accelerator is present
    holdout: float = 0.0  # share of the images kept out of training to score steps on and keep the best (0 = off)
    eval_every: int = 50  # with holdout: score the held-out slice every this many steps (and at step 0 and the end)
    eval_samples: int = 128  # with holdout: samples drawn (fixed latents) per score
    preset: str | None = None  # a named set of defaults from the method's PRESETS (measured; see the README)

    # Named sets of option values, measured in bench/RESULTS.md; make_config lays the caller's options over them.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    RANGES: ClassVar[dict[str, Range]] = {
        "steps": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "d_steps": AT_LEAST_ONE, "checkpoint_every": AT_LEAST_ONE,
        "sample_every": AT_LEAST_ONE, "num_samples": AT_LEAST_ONE, "critic_warmup": NON_NEGATIVE,
        "gp_weight": NON_NEGATIVE, "r1_gamma": NON_NEGATIVE, "aux_weight": NON_NEGATIVE, "lr_g": POSITIVE,
        "lr_d": POSITIVE, "betas": MOMENTUM, "adam_eps": POSITIVE, "ema_decay": MOMENTUM, "seed": NON_NEGATIVE,
        "holdout": Range(0, 0.5), "eval_every": AT_LEAST_ONE, "eval_samples": Range(2),
    }  # fmt: skip

    def __post_init__(self) -> None:
        check_fields(self)  # types and ranges, one sentence naming the option
        check_loss(self.loss)
        augment.parse_policy(self.diffaugment)
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision='{self.mixed_precision}': use 'no', 'fp16' or 'bf16'.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def prepare_output_dir(config: TrainConfig, inputs: Sequence[str | os.PathLike] = ()) -> None:
    """The one output-folder check, made before anything is read or trained.

    ``output_dir`` must be a folder (or not exist yet), must not lie inside a folder the run reads images from
    (``inputs``: the folders and files given as images; outputs are never inputs), and must not hold another run
    unless the run resumes it (``resume``) or replaces it (``overwrite``: the earlier run's checkpoints, samples and
    loss plot are removed, in the folder and in its stage folders, nothing else). Every process decides the same
    from what is on disk; only the main one removes.
    """
    if not config.output_dir:
        return
    out = Path(config.output_dir).expanduser()
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                where = "is a file" if parent == out else f"lies under the file '{parent}'"
                raise ValueError(f"output_dir '{out}' {where}; give a folder (new or existing).")
            break
    for folder in sorted({Path(p).resolve() for p in inputs if Path(p).is_dir()}):
        if out.resolve().is_relative_to(folder):
            raise ValueError(
                f"output_dir '{out}' lies inside '{folder}', which this run reads images from; outputs are never "
                "inputs — give a folder outside it."
            )
    stages = sorted(d for d in out.iterdir() if STAGE_FOLDER.fullmatch(d.name)) if out.is_dir() else []
    runs = [d for d in (out, *stages) if _holds_run(d)]
    if not runs or config.resume:
        return
    if not config.overwrite:
        raise ValueError(
            f"output_dir '{out}' already holds a training run; pass resume=True (--resume) to continue it, "
            "overwrite=True (--overwrite) to replace it, or give another folder."
        )
    if os.environ.get("RANK", "0") == "0":  # before any process group exists: the launcher's rank
        for run in runs:
            for name in RUN_OUTPUTS:
                target = run / name
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
            if run != out and not any(run.iterdir()):
                run.rmdir()


def _holds_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name / "state.json").is_file() for name in RUN_OUTPUTS[:2])


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainResult:
    history: list[dict[str, float]]
    steps: int
    seconds: float  # wall-clock of this call
    output_dir: Path | None
    total_seconds: float = 0.0  # wall-clock of the whole run, resumed parts included
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. BSA's per-image latents

    @staticmethod
    def merged(results: Sequence[TrainResult]) -> TrainResult:
        """One record for several stages run one after the other: histories concatenated, steps and times added,
        extras from the later stages over the earlier. A held-out ``selection`` keeps each stage's scores and is
        judged against the first stage's step 0 — the source itself."""
        extras: dict[str, Any] = {}
        for r in results:
            extras.update(r.extras)
        chosen = [r.extras["selection"] for r in results if "selection" in r.extras]
        if chosen:
            source = chosen[0]["source_kid"]
            extras["selection"] = {**chosen[-1], "stages": chosen, "source_kid": source,
                                   "beat_source": chosen[-1]["best_kid"] < source}  # fmt: skip
        return TrainResult([h for r in results for h in r.history], sum(r.steps for r in results),
                           sum(r.seconds for r in results), results[-1].output_dir,
                           sum(r.total_seconds for r in results), extras)  # fmt: skip


# ------------------------------------------------------------------------------------------ random streams
class EpochSampler:
    """Seeded shuffling without replacement, epoch after epoch; its state goes into checkpoints."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator
        self.perm = torch.randperm(n, generator=generator)
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        out = []
        while k > 0:
            if self.pos == self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.generator), 0
            chunk = self.perm[self.pos : self.pos + k]
            out.append(chunk)
            self.pos += chunk.numel()
            k -= chunk.numel()
        return torch.cat(out)


# ------------------------------------------------------------------------------------- synced batch norm
class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of every input is the sum of the gradients of every output."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class _SyncedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are summed over all processes (differentiably, any backend)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        packed = _AllReduceSum.apply(torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count]))
        n = packed[-1]
        mean = packed[:c] / n
        var = (packed[c : 2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


@contextlib.contextmanager
def synced_batch_norm(module: nn.Module, enabled: bool) -> Iterator[None]:
    """While active, every BatchNorm2d in ``module`` normalises with statistics of the global batch."""
    swapped = [m for m in module.modules() if type(m) is nn.BatchNorm2d] if enabled else []
    for m in swapped:
        m.__class__ = _SyncedBatchNorm2d
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = nn.BatchNorm2d


def _accelerator(config: TrainConfig) -> Accelerator:
    """An Accelerator for this run; in a single process, a new precision or device choice replaces the old one.

    Accelerate keeps one global state per process, so a notebook that trains twice with different
    ``mixed_precision`` would otherwise be refused.
    """
    try:
        return Accelerator(cpu=config.cpu, mixed_precision=config.mixed_precision)
    except ValueError as err:
        if "already been initialized" not in str(err) or PartialState().num_processes > 1:
            raise
        AcceleratorState._reset_state()
        return Accelerator(cpu=config.cpu, mixed_precision=config.mixed_precision)


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state its parameter's strides (channels-last weights get channels-last moments).

    Fused Adam pairs elements by memory position, so moments loaded in the default layout next to channels-last
    weights would silently update the wrong elements.
    """
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


# ------------------------------------------------------------------------------------------------- engine
class GeneratorSide(nn.Module):
    """What the engine trains on the generator side: ``(z, y)`` → images, and what it may ask of a method.

    The base is a plain generator (TransferGAN, training from scratch). Methods that put something in front of the
    generator or beside it (a miner, class propagation, BSA's latents and scale/shift) subclass it and override
    what they need; the engine never probes for attributes:

    - ``forward(z, y, x)``: ``x`` is a batch of input images when the engine was given ``inputs`` (a translator,
      TransferI2I), else it is not passed;
    - ``candidates``: images per latent (MineGAN's supersample: one per source); the critic keeps each group's best,
      and :meth:`record_winners` hears which candidate won;
    - :meth:`auxiliary_fakes`: more fakes for the same latents, each batch with its weight in both players' losses
      (TransferI2I's auxiliary generator, λ_aux);
    - :meth:`regularizer`: the method's own penalty added to the generator loss (None = none); it sees the step's
      fakes, its inputs and the critic (frozen for the step), for penalties measured on the critic's features;
    - :meth:`param_groups`: optimiser groups (e.g. a separate learning rate for BSA's latents);
    - :meth:`reconstruction_loss`: the step of a method without a discriminator (and ``plotted_losses``, which of
      its logs go into the loss plot);
    - :meth:`draw_start`: the model as its users drew it before the run, which held-out step 0 scores (the side
      itself unless its own draws differ, as BSA's truncating adapter does; the method then hands that model back
      when no step beat it).

    A generator that is not trained (``train_generator=False``) is frozen once, here: no gradients, and it stays in
    eval mode (its running statistics kept) whatever mode the side is put in.
    """

    candidates: int = 1
    plotted_losses: tuple[str, ...] = ("d_loss", "g_loss")  # the logged losses drawn in losses.png

    def __init__(self, generator: nn.Module, train_generator: bool = True) -> None:
        super().__init__()
        self.generator = generator
        self.set_generator_trainable(train_generator)

    def set_generator_trainable(self, flag: bool) -> None:
        """Release (True) or freeze (False) the generator's weights."""
        self.train_generator = flag
        self.generator.requires_grad_(flag)
        self.train(self.training)

    def train(self, mode: bool = True) -> GeneratorSide:
        super().train(mode)
        if not self.train_generator:
            self.generator.eval()
        return self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.generator(z, class_labels=y)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser groups of the trainable parameters (one group at the generator learning rate by default)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def auxiliary_fakes(self, z: torch.Tensor, y: torch.Tensor | None) -> list[tuple[torch.Tensor, float]]:
        """Extra fake batches for the same latents and their weights (none by default)."""
        return []

    def regularizer(self, fake: torch.Tensor, inputs: dict[str, Any], critic: nn.Module | None) -> torch.Tensor | None:
        """The method's own penalty on this generator step (``inputs``: the step's z, y and x)."""
        return None

    def record_winners(self, winners: torch.Tensor) -> None:
        """Which of the ``candidates`` won, per latent (only called when ``candidates`` > 1)."""

    def draw_start(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Images of the model as its users drew it before this run: at step 0 the side itself (the source, or the
        previous stage), unless a method's side draws otherwise from the start."""
        return self(z, y)

    def reconstruction_loss(
        self, images: torch.Tensor, labels: torch.Tensor | None, index: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss and logs of one step without a discriminator. ``index``: the rows of ``images`` in the training
        set (with no images: this process's rows of the global batch, and ``images`` is None); ``rng``: the run's
        seeded stream (draw global-sized tensors from it, so every process agrees)."""
        raise NotImplementedError(f"{type(self).__name__} trains adversarially: give the engine a discriminator.")


class HeldOutSelection:
    """Keep the best step by a held-out slice of the user's images (``holdout``): KID of ``eval_samples`` images
    drawn from fixed latents against the slice, at step 0 (the source itself), every ``eval_every`` steps and at the
    end. The sampling generator's weights (and the discriminator's) at the best step are kept (and checkpointed) and
    handed back; when no step beat the source, the run says so and hands back the source.
    """

    def __init__(self, held_out: torch.Tensor, config: TrainConfig, z_dim: int, num_classes: int) -> None:
        self.reference = compute_features(held_out.float().cpu(), batch_size=32)
        fixed = torch.Generator().manual_seed(config.seed + 5)  # never touches the training streams
        self.z = torch.randn(config.eval_samples, z_dim, generator=fixed)
        self.y = torch.randint(0, num_classes, (config.eval_samples,), generator=fixed) if num_classes else None
        self.scores: list[tuple[int, float]] = []  # (step, KID)
        self.best_state: dict[str, torch.Tensor] = {}

    def _features(self, trainer: GanTrainer, start: bool) -> torch.Tensor:
        """Features of the images drawn from the fixed latents (``start``: by the model as its users had it, see
        :meth:`GeneratorSide.draw_start`); under several processes each draws and embeds a contiguous share and the
        shares are gathered in order, so every process holds all of them."""
        world, n = trainer.world, len(self.z)
        share = -(-n // world)
        mine = slice(trainer.rank * share, (trainer.rank + 1) * share)
        z, y = self.z[mine], None if self.y is None else self.y[mine]
        chunks = z.split(64)
        labels = [None] * len(chunks) if y is None else y.split(64)
        features = torch.zeros(0, self.reference.shape[1])
        draw = trainer.draw_start if start else trainer.draw
        if len(z):
            images = torch.cat([draw(zc, yc).float().cpu() for zc, yc in zip(chunks, labels, strict=True)])
            features = compute_features(images, batch_size=32)
        if world == 1:
            return features
        padded = torch.zeros(share, features.shape[1], dtype=features.dtype)
        padded[: len(features)] = features
        # Only the last shares are short, so the gathered rows start with all n real ones, in latent order.
        return trainer.accelerator.gather(padded.to(trainer.device)).cpu()[:n]

    def score(self, step: int, trainer: GanTrainer) -> None:
        features = self._features(trainer, start=step == 0)
        value = kid(features, self.reference, 100, min(len(features), len(self.reference)))[0]
        if not self.scores or value < min(v for _, v in self.scores):
            models = {"G": trainer.sampling_generator, "D": trainer.D}
            self.best_state = {f"{name}.{k}": v.detach().cpu().clone() for name, m in models.items() if m is not None
                               for k, v in m.state_dict().items()}  # fmt: skip
        self.scores.append((step, float(value)))

    def restore_best(self, trainer: GanTrainer) -> dict[str, Any]:
        """Load the best step's weights into the sampling generator; the record of the choice."""
        best_step, best = min(self.scores, key=lambda row: row[1])
        for name, module in (("G", trainer.sampling_generator), ("D", trainer.D)):  # D as it was at that step too
            if module is not None:
                module.load_state_dict({k[2:]: v for k, v in self.best_state.items() if k.startswith(f"{name}.")})
        source = self.scores[0][1]
        later = [v for s, v in self.scores if s]
        if best_step == 0 and later:
            warnings.warn(
                f"No step beat the starting model (the source, or the previous stage) on the held-out slice (KID "
                f"{source:.4f} at step 0, best later {min(later):.4f}); its weights are handed back unchanged. Try "
                "more images, another method or other options.",
                stacklevel=2,
            )
        return {"scores": self.scores, "best_step": best_step, "best_kid": best, "source_kid": source,
                "beat_source": best_step != 0}  # fmt: skip


class GanTrainer:
    """Trains ``generator`` (a :class:`GeneratorSide`) against ``discriminator`` on ``images`` — or, with no
    discriminator, by the side's own ``reconstruction_loss``.

    ``images``: (N, C, H, W) in [-1, 1], or None for a data-free reconstruction step (no discriminator).
    ``class_labels``: (N,) real labels for conditional training (fake labels are drawn uniformly from
    ``num_classes``). ``inputs``: (M, C, H, W) images the side translates; each step draws a batch of them, epoch
    after epoch, beside the latents. Parameters with ``requires_grad=False`` stay frozen.
    """

    def __init__(
        self,
        config: TrainConfig,
        generator: GeneratorSide,
        discriminator: nn.Module | None,
        images: torch.Tensor | None,
        *,
        z_dim: int,
        class_labels: torch.Tensor | None = None,
        num_classes: int = 0,
        inputs: torch.Tensor | None = None,
        held_out: torch.Tensor | None = None,
    ) -> None:
        self.config = config
        self.accelerator = _accelerator(config)
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        if config.batch_size % self.world:
            raise ValueError(
                f"batch_size={config.batch_size} does not split over {self.world} processes; use a multiple."
            )
        self.local_batch = config.batch_size // self.world
        self.device = self.accelerator.device
        memory = torch.channels_last if config.channels_last else torch.contiguous_format
        self.G = generator.to(self.device, memory_format=memory)
        self.D = None if discriminator is None else discriminator.to(self.device, memory_format=memory)
        if images is None and discriminator is not None:
            raise ValueError("Adversarial training needs target images.")
        self.images = None if images is None else images.to(self.device)
        self.inputs = None if inputs is None else inputs.to(self.device)
        self.labels = None if class_labels is None else torch.as_tensor(class_labels).long().to(self.device)
        self.z_dim, self.num_classes = z_dim, num_classes
        self.conditional = num_classes > 0
        if self.conditional and self.labels is None:
            raise ValueError("Conditional training needs class_labels, one per image.")
        self.use_aux = self.conditional and self.D is not None and self.D.has_classifier
        # A generator side may offer several candidates per latent (MineGAN's supersample: one image per source);
        # D then scores the best of each group, and only that image gets a gradient.
        self.candidates = generator.candidates
        if self.candidates > 1 and self.conditional:
            raise ValueError("Several candidates per latent (multi-source mining) cannot be class-conditional yet.")
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.d_params = [] if self.D is None else [p for p in self.D.parameters() if p.requires_grad]
        if not self.g_params:
            raise ValueError("The generator side has no trainable parameters.")
        self.opt_g = self.accelerator.prepare_optimizer(self._adam(self.G.param_groups(config.lr_g), config.lr_g))
        self.opt_d = (
            self.accelerator.prepare_optimizer(self._adam(self.d_params, config.lr_d)) if self.d_params else None
        )
        self.ema = None
        if config.ema_decay is not None:
            self.ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.gen_data = torch.Generator().manual_seed(config.seed)
        self.gen_z = torch.Generator().manual_seed(config.seed + 1)
        self.gen_aug = torch.Generator().manual_seed(config.seed + 2)
        self.sampler = EpochSampler(config.batch_size if images is None else images.shape[0], self.gen_data)
        self.input_sampler = None if inputs is None else EpochSampler(inputs.shape[0], self.gen_data)
        self.step = 0
        self.seconds_before = 0.0  # wall-clock of earlier parts of a resumed run
        self.started = time.perf_counter()
        self.history: list[dict[str, float]] = []
        self.last_good_checkpoint: int | None = None
        prepare_output_dir(config)
        self.out = Path(config.output_dir) if config.output_dir else None
        fixed = torch.Generator().manual_seed(config.seed + 3)  # preview inputs never touch training streams
        self.preview_z = torch.randn(config.num_samples, z_dim, generator=fixed)
        self.preview_y = torch.arange(config.num_samples) % num_classes if self.conditional else None
        self.preview_x = None if inputs is None else inputs[torch.arange(config.num_samples) % inputs.shape[0]]
        self.selection = None if held_out is None else HeldOutSelection(held_out, config, z_dim, num_classes)

    def _adam(self, params: list[Any], lr: float) -> torch.optim.Optimizer:
        c = self.config
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            params, lr=lr, betas=c.betas, eps=c.adam_eps, fused=fused, foreach=None if fused else True
        )

    # --- one step -------------------------------------------------------------------------------------
    def _shard(self, t: torch.Tensor) -> torch.Tensor:
        return t[self.rank * self.local_batch : (self.rank + 1) * self.local_batch].to(self.device)

    def _draw(self) -> dict[str, Any]:
        """Every random input of one D or G step, drawn for the global batch, then this process's slice."""
        b = self.config.batch_size
        z = torch.randn(b, self.z_dim, generator=self.gen_z)
        y = torch.randint(0, self.num_classes, (b,), generator=self.gen_z) if self.conditional else None
        aug = augment.sample_params(self.config.diffaugment, b, self.gen_aug)
        drawn = {
            "z": self._shard(z),
            "y": None if y is None else self._shard(y),
            "aug": {k: self._shard(v) for k, v in aug.items()},
        }
        if self.input_sampler is not None:
            drawn["x"] = self._shard(self.inputs[self.input_sampler.take(b).to(self.inputs.device)])
        return drawn

    @staticmethod
    def _generate(g: nn.Module, drawn: dict[str, Any]) -> torch.Tensor:
        """The side's images for drawn (or preview) inputs: ``g(z, y)``, or ``g(z, y, x)`` for a translator."""
        return g(drawn["z"], drawn["y"]) if drawn.get("x") is None else g(drawn["z"], drawn["y"], drawn["x"])

    def _auxiliary_loss(self, drawn: dict[str, Any], aug: dict[str, torch.Tensor], player: str) -> torch.Tensor | None:
        """Σ weight · loss of ``player`` ("d" or "g") on the side's auxiliary fakes; None when it has none."""
        with torch.set_grad_enabled(player == "g"):
            batches = self.G.auxiliary_fakes(drawn["z"], drawn["y"])
        total = None
        for images, weight in batches:
            logits = self._critic(images.float() if player == "d" else images, drawn["y"], aug).float()
            term = fake_term(self.config.loss, logits) if player == "d" else generator_loss(self.config.loss, logits)
            total = weight * term if total is None else total + weight * term
        return total

    def _critic(self, x: torch.Tensor, y: torch.Tensor | None, aug: dict[str, torch.Tensor]) -> torch.Tensor:
        if aug:
            x = augment.apply(x, aug)
        return self.D(x, y) if self.conditional else self.D(x)

    def _per_candidate(self, aug: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every candidate of a group is augmented as its group, so they compete on equal terms."""
        k = self.candidates
        return aug if k == 1 else {name: v.repeat_interleave(k, dim=0) for name, v in aug.items()}

    def _best_of(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B·K,) logits → the max of each group of K and its index (None when K = 1)."""
        if self.candidates == 1:
            return logits, None
        best, winners = logits.view(-1, self.candidates).max(dim=1)
        return best, winners

    def _sync_grads(self, params: Sequence[nn.Parameter]) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:  # copy_ keeps each gradient's strides (channels-last weights, fused Adam)
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view(p.shape))
            offset += n

    def _d_step(self) -> dict[str, float]:
        c = self.config
        idx = self.sampler.take(c.batch_size)
        real = self._shard(self.images[idx.to(self.images.device)])
        y_real = None if self.labels is None else self._shard(self.labels[idx.to(self.labels.device)])
        fake_in, real_aug = self._draw(), augment.sample_params(c.diffaugment, c.batch_size, self.gen_aug)
        real_aug = {k: self._shard(v) for k, v in real_aug.items()}
        alpha = self._shard(torch.rand(c.batch_size, generator=self.gen_aug)) if c.loss == "wgan-gp" else None
        with torch.no_grad(), self.accelerator.autocast():
            fake = self._generate(self.G, fake_in).float()
        if c.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        self.opt_d.zero_grad(set_to_none=True)
        with self.accelerator.autocast():
            fake_aug = self._per_candidate(fake_in["aug"])
            logits = self._critic(
                torch.cat([real, fake]),
                None if y_real is None else torch.cat([y_real, fake_in["y"]]),
                {k: torch.cat([real_aug[k], fake_aug[k]]) for k in real_aug},
            ).float()
            real_logits, fake_logits = logits.split([real.shape[0], fake.shape[0]])
            fake_logits, winners = self._best_of(fake_logits)
            if winners is not None:  # the penalty mixes real images with each group's best candidate
                fake = fake.view(real.shape[0], self.candidates, *fake.shape[1:])[torch.arange(len(winners)), winners]
            loss = discriminator_loss(c.loss, real_logits, fake_logits)
            auxiliary = self._auxiliary_loss(fake_in, fake_aug, "d")
            if auxiliary is not None:
                loss = loss + auxiliary
            logs = {"d_loss": loss.item()}
            if alpha is not None:
                gp = gradient_penalty(lambda x: self._critic(x, y_real, real_aug), real, fake, alpha)
                loss = loss + c.gp_weight * gp
                logs["gp"] = gp.item()
            if c.r1_gamma > 0:
                r1 = r1_penalty(lambda x: self._critic(x, y_real, real_aug), real)
                loss = loss + c.r1_gamma / 2 * r1
                logs["r1"] = r1.item()
            if self.use_aux:
                x_aug = augment.apply(real, real_aug) if real_aug else real
                aux = F.cross_entropy(self.D.classify(x_aug).float(), y_real)
                loss = loss + c.aux_weight * aux
                logs["d_aux"] = aux.item()
        self._check_finite(loss, "discriminator")
        self.accelerator.backward(loss)
        self._sync_grads(self.d_params)
        self.opt_d.step()
        return logs

    def _g_step(self) -> dict[str, float]:
        c = self.config
        inputs = self._draw()
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        try:
            with self.accelerator.autocast():
                fake = self._generate(self.G, inputs)
                logits, winners = self._best_of(
                    self._critic(fake, inputs["y"], self._per_candidate(inputs["aug"])).float()
                )
                loss = generator_loss(c.loss, logits)
                if winners is not None:
                    self.G.record_winners(self.accelerator.gather(winners).cpu())
                logs = {"g_loss": loss.item()}
                if self.use_aux:
                    x_aug = augment.apply(fake, inputs["aug"]) if inputs["aug"] else fake
                    aux = F.cross_entropy(self.D.classify(x_aug).float(), inputs["y"])
                    loss = loss + c.aux_weight * aux
                    logs["g_aux"] = aux.item()
                auxiliary = self._auxiliary_loss(inputs, inputs["aug"], "g")
                if auxiliary is not None:
                    loss = loss + auxiliary
                    logs["g_aux_fake"] = auxiliary.item()
                penalty = self.G.regularizer(fake, inputs, self.D)  # the method's own penalty, if it has one
                if penalty is not None:
                    loss = loss + penalty
                    logs["g_penalty"] = penalty.item()
            self._check_finite(loss, "generator")
            self.accelerator.backward(loss)
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        self._update_generator()
        return logs

    def _update_generator(self) -> None:
        """After the generator side's backward: average gradients over processes, step, update the EMA."""
        self._sync_grads(self.g_params)
        self.opt_g.step()
        if self.ema is not None:
            self._update_ema()

    def _reconstruction_step(self) -> dict[str, float]:
        """One step of a method without a discriminator: the generator side's own loss on a batch of images."""
        b = self.config.batch_size
        if self.images is None:  # data-free: the rows of the global batch this process computes
            index, images, labels = self._shard(torch.arange(b)), None, None
        else:
            index = self._shard(self.sampler.take(b))
            images, labels = self.images[index], None if self.labels is None else self.labels[index]
        self.opt_g.zero_grad(set_to_none=True)
        with self.accelerator.autocast():
            loss, logs = self.G.reconstruction_loss(images, labels, index, self.gen_z)
        self._check_finite(loss, "reconstruction")
        self.accelerator.backward(loss)
        self._update_generator()
        return logs

    def _step(self) -> dict[str, float]:
        """One generator step: the side's reconstruction step without a critic, else d_steps critic steps + one."""
        if self.D is None:
            return self._reconstruction_step()
        logs: dict[str, float] = {}
        for _ in range(self.config.d_steps if self.opt_d is not None else 0):
            logs.update(self._d_step())
        return {**logs, **self._g_step()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_params = dict(self.ema.named_parameters())
        pairs = [(ema_params[n], p) for n, p in self.G.named_parameters() if p.requires_grad]
        torch._foreach_lerp_([e for e, _ in pairs], [p.detach() for _, p in pairs], 1 - self.config.ema_decay)
        for e, b in zip(self.ema.buffers(), self.G.buffers(), strict=True):
            e.copy_(b)

    def _check_finite(self, loss: torch.Tensor, which: str) -> None:
        if not torch.isfinite(loss).all():
            self._diverged(f"the {which} loss is {loss.item()}")

    def _check_weights(self) -> None:
        """Stop, as for a non-finite loss, when a trained weight became NaN or infinite (never save one)."""
        for name, module in (("generator", self.G), ("discriminator", self.D)):
            if module is not None and not all(torch.isfinite(p).all() for p in module.parameters()):
                self._diverged(f"the {name}'s weights are no longer finite (NaN or infinite)")

    def _diverged(self, what: str) -> None:
        if self.last_good_checkpoint is not None:
            kept = f"The last good checkpoint (step {self.last_good_checkpoint}) is in '{self.out / CHECKPOINT}'"
            fix = "lower the learning rates (lr_g, lr_d) and run again with resume=True"
        else:
            kept = "No checkpoint was written yet" + ("" if self.out else " (set output_dir to keep them)")
            fix = "lower the learning rates (lr_g, lr_d) or check the images"
        raise TrainingDiverged(f"Training diverged at step {self.step + 1}: {what}. {kept}; {fix}.")

    # --- the loop -------------------------------------------------------------------------------------
    def fit(self, callbacks: Sequence[StepCallback] = ()) -> TrainResult:
        c = self.config
        if c.resume:
            self._resume()
        main = self.accelerator.is_main_process
        bar = tqdm(total=c.steps, initial=self.step, desc="Training", disable=not (c.progress and main))
        self.started = started = time.perf_counter()
        self.G.train()
        if self.D is not None:
            self.D.train()
        with synced_batch_norm(self.G, self.world > 1):
            if self.selection is not None and not self.selection.scores:
                self.selection.score(0, self)  # the source itself, before any step
            if self.step == 0 and self.opt_d is not None:
                for _ in range(c.critic_warmup):  # the critic learns the source from the target first, G untouched
                    self._d_step()
            while self.step < c.steps:
                logs = self._step()
                if self.step + 1 == c.steps:  # no later loss would show it: check the weights the run ends with
                    self._check_weights()
                self.step += 1
                self.history.append({"step": self.step, **logs})
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)
                if self.selection is not None and (self.step % c.eval_every == 0 or self.step == c.steps):
                    self.selection.score(self.step, self)
                if self.out is not None and self.step % c.sample_every == 0 and main:
                    self.save_samples(self.out / "samples" / f"step_{self.step:06d}.png")
                if self.out is not None and (self.step % c.checkpoint_every == 0 or self.step == c.steps):
                    self.save_checkpoint()
                for callback in callbacks:
                    callback(self.step, logs, self.draw)
        bar.close()
        for module in (self.G, self.D, self.ema):  # hand back ordinary layouts: saved and reloaded models match
            if module is not None:
                module.to(memory_format=torch.contiguous_format)
        if self.out is not None and main and self.history:
            curves = {k: [h[k] for h in self.history if k in h] for k in self.G.plotted_losses}
            plot_curves(curves, self.out / "losses.png", title=f"generator step (1..{self.step})")
        seconds = time.perf_counter() - started
        result = TrainResult(self.history, self.step, seconds, self.out, self.seconds_before + seconds)
        if self.selection is not None:
            result.extras["selection"] = self.selection.restore_best(self)
        return result

    @property
    def sampling_generator(self) -> nn.Module:
        """The EMA generator side when there is one, else the trained one."""
        return self.ema if self.ema is not None else self.G

    def _in_eval(self, call: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
        """``call(sampling generator)`` with the generator in eval mode and no gradients; its mode put back after."""
        g = self.sampling_generator
        was = g.training
        g.eval()
        try:
            with torch.no_grad():
                return call(g)
        finally:
            g.train(was)

    def draw_start(self, z: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images from the model as its users had it before this run (held-out step 0), in eval mode."""
        y = None if class_labels is None else class_labels.to(self.device)
        return self._in_eval(lambda g: g.draw_start(z.to(self.device), y))

    def draw(
        self, z: torch.Tensor, class_labels: torch.Tensor | None = None, inputs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Images from the sampling generator in eval mode (what a callback sees of the model mid-run);
        ``inputs``: the images a translating side translates, one per latent."""
        on = {"z": z, "y": class_labels, "x": inputs}
        return self._in_eval(lambda g: self._generate(g, {k: None if v is None else v.to(self.device)
                                                          for k, v in on.items()}))  # fmt: skip

    @torch.no_grad()
    def save_samples(self, path: Path) -> None:
        images = self.draw(self.preview_z, self.preview_y, self.preview_x)
        if self.preview_x is not None:  # a translator: each input above its translation
            images = torch.cat([self.preview_x.to(images), images])
        cols = self.config.num_samples if self.preview_x is not None else None
        save_image(make_image_grid(to_pil(images), cols=cols), path)

    # --- checkpoints ----------------------------------------------------------------------------------
    def _state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {}
        meta: dict[str, Any] = {"aliases": {}}
        stored: dict[tuple[Any, ...], str] = {}  # a module shared by two parents (TransferI2I) is stored once
        for name, module in (("G", self.G), ("D", self.D), ("ema", self.ema)):
            if module is None:
                continue
            for k, v in module.state_dict().items():
                ident = (v.data_ptr(), v.dtype, tuple(v.shape), v.stride())
                if v.numel() and ident in stored:
                    meta["aliases"][f"{name}.{k}"] = stored[ident]
                else:
                    stored[ident], tensors[f"{name}.{k}"] = f"{name}.{k}", v
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            if opt is None:
                continue
            sd = opt.state_dict()
            meta[name] = {"param_groups": sd["param_groups"], "scalars": {}}
            for idx, state in sd["state"].items():
                for key, value in state.items():
                    if torch.is_tensor(value):
                        tensors[f"{name}.{idx}.{key}"] = value
                    else:
                        meta[name]["scalars"][f"{idx}.{key}"] = value
        for name, gen in (("data", self.gen_data), ("z", self.gen_z), ("aug", self.gen_aug)):
            tensors[f"rng.{name}"] = gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["sampler.perm"] = self.sampler.perm
        if self.selection is not None:
            tensors.update({f"best.{k}": v for k, v in self.selection.best_state.items()})
            meta["selection"] = self.selection.scores
        seconds = self.seconds_before + time.perf_counter() - self.started
        meta.update(step=self.step, sampler_pos=self.sampler.pos, history=self.history, version=__version__,
                    seconds=seconds)  # fmt: skip
        if self.input_sampler is not None:
            tensors["input_sampler.perm"] = self.input_sampler.perm
            meta["input_sampler_pos"] = self.input_sampler.pos
        return tensors, meta

    def save_checkpoint(self) -> None:
        """Write the full training state to ``output_dir/checkpoint`` (a whole folder replaced atomically)."""
        self._check_weights()  # never overwrite a good checkpoint with broken weights
        if self.accelerator.is_main_process:
            tensors, meta = self._state_tensors()
            with atomic_folder(self.out / CHECKPOINT) as tmp:
                save_weights(tensors, tmp / "state.safetensors")
                write_json(tmp / "state.json", {"config": self.config.to_dict(), **meta})
        self.last_good_checkpoint = self.step
        self.accelerator.wait_for_everyone()

    def _check_resumable(self, saved: dict[str, Any], folder: Path) -> None:
        """Refuse, in one sentence, a resume whose options change what the checkpoint holds or how it runs."""
        current = json.loads(json.dumps(self.config.to_dict()))
        for key, value in current.items():
            if key in saved and key not in RESUMABLE_CHANGES and saved[key] != value:
                raise ValueError(
                    f"Cannot resume '{folder}' with {key}={value!r}: the run was started with {key}={saved[key]!r}. "
                    f"Resume with the same {key} (only {', '.join(sorted(RESUMABLE_CHANGES - {'resume'}))} may "
                    "change), or give another output_dir."
                )

    def _resume(self) -> None:
        folder = self.out / CHECKPOINT if self.out else None
        if folder is not None and not folder.is_dir() and (self.out / f".{CHECKPOINT}.old").is_dir():
            folder = self.out / f".{CHECKPOINT}.old"  # a crash between the two renames
        if folder is None or not folder.is_dir():
            where = f"'{self.out}'" if self.out else "(no output_dir)"
            self.accelerator.print(f"No checkpoint in {where}; starting a new run.")
            return
        meta = read_json(folder / "state.json")
        self._check_resumable(meta.get("config", {}), folder)
        tensors = load_weights(folder / "state.safetensors")
        for alias, key in meta.get("aliases", {}).items():
            tensors[alias] = tensors[key]
        for name, module in (("G", self.G), ("D", self.D), ("ema", self.ema)):
            if module is not None:
                own = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(f"{name}.")}
                try:
                    module.load_state_dict(own, strict=True)
                except RuntimeError as err:
                    first = str(err).strip().splitlines()[-1].strip()
                    raise ValueError(
                        f"The checkpoint in '{folder}' was made for another model ({first}); resume with the base "
                        "model and method it was started with, or give another output_dir."
                    ) from None
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            if opt is None:
                continue
            wanted = [{k: g[k] for k in ("lr", "betas", "eps")} for g in opt.param_groups]  # this run's options
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith(f"{name}."):
                    _, idx, field = key.split(".", 2)
                    state.setdefault(int(idx), {})[field] = value
            for key, value in meta[name]["scalars"].items():
                idx, field = key.split(".", 1)
                state.setdefault(int(idx), {})[field] = value
            opt.load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})
            for group, options in zip(opt.param_groups, wanted, strict=True):  # e.g. a lowered lr takes effect
                group.update(options)
            _match_param_layout(opt)
        for name, gen in (("data", self.gen_data), ("z", self.gen_z), ("aug", self.gen_aug)):
            gen.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch"])
        self.sampler.perm, self.sampler.pos = tensors["sampler.perm"], int(meta["sampler_pos"])
        if self.input_sampler is not None:
            self.input_sampler.perm = tensors["input_sampler.perm"]
            self.input_sampler.pos = int(meta["input_sampler_pos"])
        if self.selection is not None:
            if "selection" not in meta:
                raise ValueError(
                    f"The checkpoint in '{folder}' was made without holdout; resume it without holdout, or give "
                    "another output_dir."
                )
            self.selection.scores = [tuple(row) for row in meta["selection"]]
            self.selection.best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        self.step, self.history = int(meta["step"]), list(meta["history"])
        self.seconds_before = float(meta.get("seconds", 0.0))
        self.last_good_checkpoint = self.step
        self.accelerator.print(f"Resumed from step {self.step} of {self.config.steps} ('{folder}').")
