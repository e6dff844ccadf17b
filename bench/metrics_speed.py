"""Metric costs on this machine: feature extraction throughput, and FD / KID wall time for 5k vs 5k features.

FD is timed against the reference formula of pytorch-fid (scipy ``sqrtm`` of Σ₁Σ₂) on the same features, in the
same run. Extraction uses the real EfficientNet-Lite0 weights; Inception-v3 and VGG16 run with random weights in
their own layout (speed does not depend on the values).

    python bench/metrics_speed.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import linalg

from gan_transfer.metrics import VGG16, InceptionV3FID, compute_features, frechet_distance, get_extractor, kid
from gan_transfer.metrics.extractors import fold_batch_norms


def throughput(net, images: torch.Tensor, batch: int) -> float:
    compute_features(images[:batch], net, batch_size=batch)
    start = time.perf_counter()
    compute_features(images, net, batch_size=batch)
    return images.shape[0] / (time.perf_counter() - start)


def scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2)).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    images = torch.rand(args.images, 3, 32, 32) * 2 - 1
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} images of 32 px, batch "
          f"{args.batch}\n")  # fmt: skip
    print("| extractor | input | images/s |\n|---|---|---|")
    nets = {"efficientnet-lite0 (ImageNet weights)": get_extractor("efficientnet-lite0")}
    for cls in (InceptionV3FID, VGG16):
        net = cls().eval().requires_grad_(False)
        fold_batch_norms(net)
        nets[f"{cls.name} (random weights, same cost)"] = net.to(memory_format=torch.channels_last)
    for name, net in nets.items():
        print(f"| {name} | {net.input_size} px | {throughput(net, images, args.batch):.1f} |")

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(1280, 1280)) / np.sqrt(1280)
    a = rng.normal(size=(args.n, 1280)) @ mixing
    b = rng.normal(size=(args.n, 1280)) @ mixing * 1.05 + 0.02
    start = time.perf_counter()
    ours = frechet_distance(a, b)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    ref = scipy_fd(a, b)
    t_ref = time.perf_counter() - start
    start = time.perf_counter()
    kid(a, b, subsets=100, subset_size=1000)
    t_kid = time.perf_counter() - start
    print(f"\n| {args.n} vs {args.n} features, 1280-d | seconds | value |\n|---|---|---|")
    print(f"| FD, gan_transfer (two symmetric eigendecompositions) | {t_ours:.2f} | {ours:.6f} |")
    print(f"| FD, pytorch-fid formula (scipy sqrtm) | {t_ref:.2f} | {ref:.6f} |")
    print(f"| speed-up, relative difference | {t_ref / t_ours:.2f}x | {abs(ours - ref) / abs(ref):.1e} |")
    print(f"| KID, 100 subsets of 1000 | {t_kid:.2f} | |")


if __name__ == "__main__":
    main()
