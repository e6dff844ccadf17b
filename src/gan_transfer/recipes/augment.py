"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable colour, translation and cutout, seeded and batched.

Random parameters are drawn for a whole (global) batch first and applied to any slice of it, so a run split over
several processes augments each image exactly as a single-process run would.
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise ValueError(f"Unknown DiffAugment policy '{unknown[0]}'; use a comma list of {', '.join(POLICIES)}.")
    return parts


def sample_params(policy: str, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random parameters for ``n`` images (uniform draws in [0, 1), turned into offsets in :func:`apply`)."""
    params: dict[str, torch.Tensor] = {}
    for part in parse_policy(policy):
        if part == "color":
            params["color"] = torch.rand(n, 3, generator=generator)
        elif part == "translation":
            params["translation"] = torch.rand(n, 2, generator=generator)
        else:
            params["cutout"] = torch.rand(n, 2, generator=generator)
    return params


def apply(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Augment (B, C, H, W) images in [-1, 1] with the parameters of :func:`sample_params` (sliced to B)."""
    b, _, h, w = x.shape
    if "color" in params:
        u = params["color"].to(x)
        x = x + (u[:, 0] - 0.5).view(b, 1, 1, 1)  # brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (u[:, 1] * 2).view(b, 1, 1, 1) + mean  # saturation
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (u[:, 2] + 0.5).view(b, 1, 1, 1) + mean  # contrast
    if "translation" in params:
        sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
        u = params["translation"].to(x.device)
        ty = (u[:, 0] * (2 * sh + 1)).long() - sh
        tx = (u[:, 1] * (2 * sw + 1)).long() - sw
        rows = (torch.arange(h, device=x.device)[None] - ty[:, None] + 1).clamp(0, h + 1)
        cols = (torch.arange(w, device=x.device)[None] - tx[:, None] + 1).clamp(0, w + 1)
        padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # out-of-range indices land on the zero border
        idx = torch.arange(b, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if "cutout" in params:
        ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
        u = params["cutout"].to(x.device)
        cy = (u[:, 0] * (h + (1 - ch % 2))).long() - ch // 2  # top-left corner, as the reference code
        cx = (u[:, 1] * (w + (1 - cw % 2))).long() - cw // 2
        r = torch.arange(h, device=x.device)[None]
        q = torch.arange(w, device=x.device)[None]
        inside_r = (r >= cy[:, None]) & (r < cy[:, None] + ch)
        inside_c = (q >= cx[:, None]) & (q < cx[:, None] + cw)
        mask = ~(inside_r[:, :, None] & inside_c[:, None, :])
        x = x * mask[:, None].to(x)
    return x
