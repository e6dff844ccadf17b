"""StyleGAN2 (Karras et al. 2020) in plain PyTorch, as NVIDIA's stylegan2-ada-pytorch defines it — no custom ops.

Generator: a mapping network (z, and for conditional models an embedded one-hot class, each normalised by its second
moment, through ``mapping_layers`` equalised-lr layers) gives w; truncation pulls w towards the tracked average w̄
(ψ, optionally for the first ``truncation_cutoff`` layers only). The synthesis network starts from a learned 4×4
constant and runs one block per resolution: an upsampling modulated 3×3 conv (transposed, then the [1, 3, 3, 1] FIR
filter), a modulated 3×3 conv, each with weight demodulation, per-pixel noise (constant buffers or random) and a
biased leaky ReLU·√2; the image is the sum of every block's 1×1 to-RGB output, upsampled ("skip" architecture).
Discriminator: the residual architecture (from-RGB, two 3×3 convs, the second downsampling; a 1×1 skip; sums scaled
by √½), a minibatch standard-deviation feature, a 3×3 conv, two dense layers; class-conditional critics project
onto a mapped class embedding (NVIDIA's conditional variant).

Layers are this library's contract: ``blocks`` hold the feature path only (their outputs are the feature maps), the
to-RGB layers live in ``to_rgb``; every style affine (w → per-channel style) is a :class:`StyleAffine` — StyleGAN's
counterpart of BN's γ/β, which scale/shift adapters (BSA) find through ``normalization_layers()``.
Eval mode uses ``noise_mode`` (default "const": the stored noise buffers, so seeded calls repeat); training draws
random noise and tracks w̄ as NVIDIA's training loop does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..latents import check_generator
from ..options import POSITIVE, PROBABILITY, Range
from .base import MODEL_REGISTRY, Discriminator, Generator, ModelConfig
from .layers import NormLayer

SQRT2 = math.sqrt(2.0)
FIR = (1.0, 3.0, 3.0, 1.0)


def fir_filter(device: torch.device | None = None) -> torch.Tensor:
    """The [1, 3, 3, 1] ⊗ [1, 3, 3, 1] low-pass filter, normalised to sum 1."""
    f = torch.tensor(FIR, device=device)
    f = f[:, None] * f[None, :]
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Upsample by zero insertion, pad (x0, x1, y0, y1; negative crops), convolve with the 2-D FIR ``f``, keep every
    ``down``-th pixel. ``gain`` scales the filter (up² keeps the mean when upsampling)."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, kernel, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 upsampling through the FIR filter (the skip generator's image path)."""
    return upfirdn2d(x, f, up=2, pad=(2, 1, 2, 1), gain=4.0)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, act: str, gain: float, clamp: float | None) -> torch.Tensor:
    """x + b, then leaky ReLU (α 0.2) or nothing, times ``gain``, clamped to ±``clamp``."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    return x if clamp is None else x.clamp(-clamp, clamp)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """A dense layer with equalised learning rate: W·(lr/√in), b·lr; optional biased leaky ReLU·√2."""

    def __init__(self, in_features: int, out_features: int, *, act: str = "linear", lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.act = act
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain, self.bias_gain = lr_multiplier / math.sqrt(in_features), lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight * self.weight_gain, self.bias * self.bias_gain
        if self.act == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, self.act, SQRT2, None)


class StyleAffine(NormLayer):
    """w → per-channel styles (bias starts at 1): the γ of StyleGAN2's modulation, found as a normalisation layer.

    ``forward(w)`` gives (B, C) styles; a per-channel scale and shift fold exactly into its weight and bias.
    """

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.num_features = channels
        self.affine = EqualLinear(w_dim, channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.affine(x)

    @torch.no_grad()
    def fuse_scale_shift(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        a = self.affine
        a.weight.mul_(scale[:, None])
        a.bias.mul_(scale).add_(shift / a.bias_gain)

    def init_from_unconditional(self, source: NormLayer) -> None:
        raise ValueError("StyleGAN2's style affines carry no per-class tables; condition it through its mapping.")


class ModulatedConv(nn.Module):
    """A modulated k×k conv (demodulated unless ``demodulate=False``), optionally upsampling ×2 with the FIR filter,
    plus per-pixel noise, bias and activation — NVIDIA's SynthesisLayer (and, with 1×1 and no demodulation, ToRGB)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, *, kernel: int = 3, up: bool = False,
                 demodulate: bool = True, noise: bool = True, act: str = "lrelu",
                 clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.up, self.demodulate, self.act, self.clamp = up, demodulate, act, clamp
        self.style = StyleAffine(w_dim, in_ch)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.style_gain = 1.0 if demodulate else 1 / math.sqrt(in_ch * kernel * kernel)
        if noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros(()))
        else:
            self.noise_const = self.noise_strength = None
        self.register_buffer("resample_filter", fir_filter(), persistent=False)
        self.noise_mode: str = "const"  # set by the generator

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # NVIDIA's "non-fused" form of the same maths: scale the input by the styles, run one batched convolution
        # with the shared weight, scale the output by the demodulation coefficients. On CPU it beats both the fused
        # form (each sample's weights in one grouped convolution) and a per-sample loop (bench/stylegan2_speed.py).
        styles = self.style(w) * self.style_gain
        x = x * styles[:, :, None, None].to(x.dtype)
        if self.up:  # transposed conv (stride 2, the weight as a true convolution), then the FIR filter
            x = F.conv_transpose2d(x, self.weight.transpose(0, 1), stride=2)
            x = upfirdn2d(x, self.resample_filter, pad=(1, 1, 1, 1), gain=4.0)  # 3×3: (2H + 1) + 2 − 3 = 2H
        else:
            x = F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2)
        if self.demodulate:  # 1 / ‖W·s‖ per sample and output channel
            dcoefs = (styles.square() @ self.weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
            x = x * dcoefs[:, :, None, None].to(x.dtype)
        if self.noise_strength is not None:
            mode = "random" if self.training else self.noise_mode
            if mode == "random":
                x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
            elif mode == "const":
                x = x + self.noise_const * self.noise_strength
        gain = SQRT2 if self.act == "lrelu" else 1.0
        return bias_act(x, self.bias, self.act, gain, self.clamp)


class ConstantInput(nn.Module):
    """The learned 4×4 constant every image starts from."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.randn(channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.const.unsqueeze(0).repeat(batch, 1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution's feature path: [upsampling conv,] conv. ``forward(x, ws)`` takes this block's w's."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, clamp: float | None) -> None:
        super().__init__()
        self.conv0 = (ModulatedConv(in_ch, out_ch, w_dim, resolution, up=True, clamp=clamp) if in_ch else None)
        self.conv1 = ModulatedConv(out_ch, out_ch, w_dim, resolution, clamp=clamp)
        self.num_ws = 2 if in_ch else 1

    def forward(self, x: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, 0])
        return self.conv1(x, ws[:, -1])


def _channels(resolution: int, base: int, cap: int) -> dict[int, int]:
    return {r: min(base // r, cap) for r in (2**i for i in range(2, int(math.log2(resolution)) + 1))}


def _check_resolution(resolution: int, name: str) -> None:
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"{name}: resolution={resolution} is not a power of two ≥ 4; use e.g. 32, 64, 256 or 1024.")


@dataclasses.dataclass
class StyleGAN2GeneratorConfig(ModelConfig):
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8  # NVIDIA's "auto"/cifar configs: 2
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768  # channels at resolution r: min(channel_base // r, channel_max); rosinality cm=1: 16384
    channel_max: int = 512
    conv_clamp: float | None = None  # ADA-trained pickles: 256
    w_avg_beta: float = 0.995
    noise_mode: Literal["const", "random", "none"] = "const"  # eval-mode noise (training always draws it)
    truncation_cutoff: int | None = None  # truncate only the first N w's (None: all)

    RANGES: ClassVar[dict[str, Range]] = {"mapping_layers": Range(1), "w_dim": Range(1), "channel_base": Range(1),
                                          "channel_max": Range(1), "mapping_lr_multiplier": POSITIVE,
                                          "conv_clamp": POSITIVE, "w_avg_beta": PROBABILITY}  # fmt: skip


@MODEL_REGISTRY.register()
class StyleGAN2Generator(Generator):
    config_class = StyleGAN2GeneratorConfig
    config: StyleGAN2GeneratorConfig

    def __init__(self, config: StyleGAN2GeneratorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        _check_resolution(c.resolution, "StyleGAN2Generator")
        chs = _channels(c.resolution, c.channel_base, c.channel_max)
        res = list(chs)
        self.class_embedding_dim = c.num_classes
        self.mapping = MappingNetwork(c.z_dim, c.num_classes, c.w_dim, c.mapping_layers, c.mapping_lr_multiplier)
        self.register_buffer("w_avg", torch.zeros(c.w_dim))
        self.input = ConstantInput(chs[4])
        self.first_feature_map = nn.Identity()
        self.blocks = nn.ModuleList(
            SynthesisBlock(chs[r // 2] if r > 4 else 0, chs[r], c.w_dim, r, c.conv_clamp) for r in res
        )
        self.to_rgb = nn.ModuleList(
            ModulatedConv(chs[r], c.channels, c.w_dim, r, kernel=1, demodulate=False, noise=False, act="linear",
                          clamp=c.conv_clamp) for r in res
        )  # fmt: skip
        self.register_buffer("resample_filter", fir_filter(), persistent=False)
        self.num_ws = sum(b.num_ws for b in self.blocks) + 1
        self.psi = 1.0
        self.set_noise_mode(c.noise_mode)

    def sample_latents(
        self, num: int, truncation: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I) as NVIDIA draws it; ``truncation`` is ψ in W, which the pipeline sets per call (truncated)."""
        check_generator(generator)
        return torch.randn(num, self.config.z_dim, generator=generator)

    def set_noise_mode(self, mode: str) -> None:
        """Eval-mode noise: "const" (the stored buffers; repeatable), "random", or "none"."""
        if mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode='{mode}': use 'const', 'random' or 'none'.")
        for m in self.modules():
            if isinstance(m, ModulatedConv):
                m.noise_mode = mode

    def set_truncation(self, truncation: float) -> None:
        """ψ: w → w̄ + ψ·(w − w̄) (1 = none, 0.7 a common choice, 0 = the average image)."""
        if not 0 <= truncation < float("inf"):
            raise ValueError(f"truncation={truncation}: StyleGAN2's ψ is ≥ 0 (1 = none, 0.5–0.7 typical).")
        self.psi = float(truncation)

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(class_labels, self.config.num_classes).to(self.dtype)

    def intermediate_latent(self) -> MappingNetwork:
        return self.mapping

    def build_discriminator(self, **overrides) -> StyleGAN2Discriminator:
        """A fresh residual StyleGAN2 critic with this generator's resolution, channels, classes and channel plan."""
        c = self.config
        fields = {"resolution": c.resolution, "channels": c.channels, "num_classes": c.num_classes,
                  "channel_base": c.channel_base, "channel_max": c.channel_max, "conv_clamp": c.conv_clamp}  # fmt: skip
        return StyleGAN2Discriminator(**{**fields, **overrides})

    def mapping_ws(self, z: torch.Tensor, class_embedding: torch.Tensor | None) -> torch.Tensor:
        """(B, num_ws, w_dim): mapped, w̄ tracked while training, truncated by ψ."""
        w = self.mapping(z, class_embedding)
        if self.training and self.config.w_avg_beta < 1:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.config.w_avg_beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.psi != 1:
            cut = self.config.truncation_cutoff or self.num_ws
            ws = torch.cat([self.w_avg.lerp(ws[:, :cut], self.psi), ws[:, cut:]], dim=1)
        return ws

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.first_feature_map(self.input(ws.shape[0]))
        img, i = None, 0
        for block, to_rgb in zip(self.blocks, self.to_rgb, strict=True):
            x = block(x, ws[:, i : i + block.num_ws])
            i += block.num_ws
            y = to_rgb(x, ws[:, i])
            img = y if img is None else upsample2d(img, self.resample_filter) + y
        return img

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if z.shape[-1] != self.config.z_dim:
            raise ValueError(f"z has {z.shape[-1]} dimensions; this generator takes z_dim={self.config.z_dim}.")
        emb = self.class_condition(z.shape[0], class_labels, class_embedding)
        return self.synthesis(self.mapping_ws(z, emb))

    def input_modules(self) -> dict[str, nn.Module]:
        return {"mapping": self.mapping, "input": self.input, "first_feature_map": self.first_feature_map}


class MappingNetwork(nn.Module):
    """z (and an embedded class) → w: second-moment normalisation, then ``layers`` dense leaky-ReLU layers."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, layers: int, lr_multiplier: float) -> None:
        super().__init__()
        self.embed = EqualLinear(c_dim, w_dim) if c_dim else None
        features = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualLinear(features[i], features[i + 1], act="lrelu", lr_multiplier=lr_multiplier) for i in range(layers)
        )

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor:
        parts = [] if z is None or z.shape[1] == 0 else [normalize_2nd_moment(z)]
        if self.embed is not None:
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        return x


class ConvLayer(nn.Module):
    """An equalised-lr conv (optionally ×½ through the FIR filter) with biased leaky ReLU·√2 (or linear)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, down: bool = False, act: str = "lrelu",
                 bias: bool = True, clamp: float | None = None) -> None:  # fmt: skip
        super().__init__()
        self.down, self.act, self.clamp = down, act, clamp
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_ch * kernel * kernel)
        self.register_buffer("resample_filter", fir_filter(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        k = w.shape[-1]
        if self.down and k == 1:
            x = F.conv2d(upfirdn2d(x, self.resample_filter, down=2, pad=(1, 1, 1, 1)), w)
        elif self.down:
            p = k // 2 + 1
            x = F.conv2d(upfirdn2d(x, self.resample_filter, pad=(p, p, p, p)), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        act_gain = (SQRT2 if self.act == "lrelu" else 1.0) * gain
        return bias_act(x, self.bias, self.act, act_gain, None if self.clamp is None else self.clamp * gain)


class DiscriminatorBlock(nn.Module):
    """Residual critic block: [from-RGB,] conv 3×3, conv 3×3 ↓2, plus a 1×1 ↓2 skip, summed with gains √½."""

    def __init__(self, in_ch: int, tmp_ch: int, out_ch: int, img_ch: int, clamp: float | None) -> None:
        super().__init__()
        self.from_rgb = ConvLayer(img_ch, tmp_ch, 1, clamp=clamp) if in_ch == 0 else None
        self.conv0 = ConvLayer(tmp_ch, tmp_ch, 3, clamp=clamp)
        self.conv1 = ConvLayer(tmp_ch, out_ch, 3, down=True, clamp=clamp)
        self.skip = ConvLayer(tmp_ch, out_ch, 1, down=True, act="linear", bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.from_rgb is not None:
            x = self.from_rgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


@dataclasses.dataclass
class StyleGAN2DiscriminatorConfig(ModelConfig):
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group_size: int | None = 4  # None: the whole batch
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None
    cmap_dim: int | None = None  # conditional critics: width of the mapped class (None: channels at 4 px)
    mapping_layers: int = 8  # conditional critics: layers of the class mapping

    RANGES: ClassVar[dict[str, Range]] = {"channel_base": Range(1), "channel_max": Range(1),
                                          "mbstd_group_size": Range(1), "conv_clamp": POSITIVE}  # fmt: skip


@MODEL_REGISTRY.register()
class StyleGAN2Discriminator(Discriminator):
    config_class = StyleGAN2DiscriminatorConfig
    config: StyleGAN2DiscriminatorConfig

    def __init__(self, config: StyleGAN2DiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        _check_resolution(c.resolution, "StyleGAN2Discriminator")
        chs = _channels(c.resolution, c.channel_base, c.channel_max)
        res = sorted(chs, reverse=True)[:-1]  # every resolution down to 8
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(chs[r] if r < c.resolution else 0, chs[r], chs[r // 2], c.channels, c.conv_clamp)
            for r in res
        )
        self.cmap_dim = (c.cmap_dim or chs[4]) if c.num_classes else 0
        self.mapping = (MappingNetwork(0, c.num_classes, self.cmap_dim, c.mapping_layers, 0.01)
                        if c.num_classes else None)  # fmt: skip
        self.conv = ConvLayer(chs[4] + c.mbstd_num_channels, chs[4], 3, clamp=c.conv_clamp)
        self.fc = EqualLinear(chs[4] * 16, chs[4], act="lrelu")
        self.out = EqualLinear(chs[4], self.cmap_dim or 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def _mbstd(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = self.config.mbstd_num_channels
        if not f:
            return x
        g = min(self.config.mbstd_group_size or n, n)
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(self.conv(self._mbstd(self.features(x)[-1])).flatten(1))
        out = self.out(h)
        if self.mapping is None:
            if class_labels is not None:
                raise ValueError("This discriminator is unconditional: leave class_labels unset.")
            return out.squeeze(1)
        if class_labels is None:
            raise ValueError("This StyleGAN2 critic is class-conditional: pass class_labels.")
        labels = torch.as_tensor(class_labels, device=x.device).long()
        cmap = self.mapping(None, F.one_hot(labels, self.config.num_classes).to(x.dtype))
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


StyleGAN2Generator.discriminator_class = StyleGAN2Discriminator
