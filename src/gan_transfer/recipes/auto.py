"""``method="auto"``: which method and preset to adapt with, by a rule read off ``bench/RESULTS.md``.

The rule looks at what the user has (how many images, whether they carry class labels, whether the source is
class-conditional, ships its own discriminator or mixes several GANs) and at how far the target lies from the source:
the KID (EfficientNet-Lite0) between the source's samples and the user's images, measured by the pipeline before it
trains. KID, not FD: with tens of images FD is dominated by its small-sample bias (25 Twitter emoji score FD 178
against held-out Twitter emoji, further than the Google emoji source's 162), while KID is unbiased at any size.

The branches and the figures behind them (one seed each; see the README's "Which method?" and bench/RESULTS.md):

- labels on a class-conditional source: they name new classes, added by ``cgan_transfer`` (the only method that keeps
  the old classes' outputs; two new Fashion-MNIST classes from 10 images each: mean FD 183.9 vs 215.7 for learning
  each alone, 176.5 vs 213.1 from 25, 181.1 vs 216.7 from 100, while fine-tuning the generator turned every old
  class into the new ones); labels on an unconditional source: ``transfer_gan`` with Cond BNorm, the paper's
  unconditional → conditional transfer.
- several sources mixed (``GanPipeline.from_sources``): ``minegan`` stage 1, the only method that mines several GANs
  (face + emoji GANs → 25 Twemoji faces: best KID 0.240, below either GAN mined alone, 0.446 / 0.254).
- near (KID < ``NEAR_KID``): ``minegan`` preset ``on-manifold`` — Google emoji → their 'People & Body' category, KID
  0.081 → 0.063 (25 images) / 0.052 (100) where TransferGAN stayed at 0.080 / 0.079.
- far, with the source's own discriminator: ``minegan`` preset ``off-manifold`` (mine, then fine-tune) — Fashion-MNIST
  GAN → MNIST, KID 0.337 → 0.075 at 25 and 100 images where TransferGAN reached 0.249 / 0.243.
- far, without one: ``transfer_gan`` preset ``few-shot`` — the face GAN (no critic shipped) → cartoon faces: the one
  setting that ended below the source at 10, 25 and 100 images (KID 0.500 → 0.474 / 0.469 / 0.464), where mining and
  fine-tuning with a new critic collapsed (0.826).
- more than ``FEW_SHOT_LIMIT`` images: ``transfer_gan`` at the paper's own defaults (lr 1e-4; not measured here).

BSA is never chosen: on every target we tried it ended worse than the source (faces, KID 0.500 → 0.529 at 100
images; emoji, KID 0.067 → 0.194 at 25; one emoji category, KMMD 0.135 → 0.187 where TransferGAN reached 0.124).
With at least ``HOLDOUT_FROM`` images a fifth is held out and the best step by that slice is kept (``holdout``), so
a run that gets worse is rolled back and says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .transfer_gan import FEW_SHOT_LIMIT

NEAR_KID = 0.2  # measured targets: near 0.067–0.081 (emoji), far 0.337 (fashion → MNIST) and 0.500 (faces)
HOLDOUT_FROM = 20  # images; below this a fifth would be fewer than 4 to score on
HOLDOUT = 0.2


@dataclasses.dataclass
class Choice:
    """What ``method="auto"`` chose: the method, the options it starts from, and why (one sentence)."""

    method: str
    options: dict[str, Any]
    reason: str
    kid: float | None = None  # source samples vs the images, when measured

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def choose_method(
    num_images: int,
    *,
    labelled: bool,
    conditional: bool,
    has_discriminator: bool,
    multi_source: bool = False,
    kid: float | None = None,
) -> Choice:
    """The method and preset for this target (see the module's docstring for the rule and its figures).

    ``kid``: KID (EfficientNet-Lite0) of the source's samples against the images; needed only when the other facts
    leave the choice open (unlabelled, single source, at most ``FEW_SHOT_LIMIT`` images).
    """
    holdout = {"holdout": HOLDOUT} if num_images >= HOLDOUT_FROM else {}
    if labelled and conditional:
        return Choice("cgan_transfer", {"preset": "few-shot", **holdout},
                      "the labels name new classes for a class-conditional source; cGANTransfer adds them and keeps "
                      "the old classes' outputs")  # fmt: skip
    if labelled:
        return Choice("transfer_gan", {"preset": "few-shot", **holdout},
                      "labelled images on an unconditional source: TransferGAN's Cond BNorm makes it conditional")
    if multi_source:
        return Choice("minegan", {"preset": "on-manifold", **holdout},
                      "several sources: MineGAN mines them and learns which one the target is nearest", kid)
    if num_images > FEW_SHOT_LIMIT:
        return Choice("transfer_gan", holdout,
                      f"more than {FEW_SHOT_LIMIT} images: TransferGAN at its paper's defaults", kid)
    if kid is None:
        raise ValueError("choose_method needs kid (source samples vs the images) for an unlabelled single source.")
    if kid < NEAR_KID:
        return Choice("minegan", {"preset": "on-manifold", **holdout},
                      f"the target is near the source (KID {kid:.3f} < {NEAR_KID}): mine the source's latent space, "
                      "generator frozen", kid)  # fmt: skip
    if has_discriminator or conditional:  # TransferGAN needs labels on a conditional source; MineGAN mines classes
        why = "has its discriminator" if has_discriminator else "is class-conditional and the images carry no labels"
        return Choice("minegan", {"preset": "off-manifold", **holdout},
                      f"the target is far from the source (KID {kid:.3f} ≥ {NEAR_KID}) and the source {why}: mine, "
                      "then fine-tune the generator", kid)  # fmt: skip
    return Choice("transfer_gan", {"preset": "few-shot", **holdout},
                  f"the target is far from the source (KID {kid:.3f} ≥ {NEAR_KID}) and the source has no "
                  "discriminator to mine with: fine-tune at the paper's few-shot learning rate", kid)  # fmt: skip
