"""Architectures only: GAN families that share one contract (see ``base.py``)."""

from .base import MODEL_REGISTRY, Discriminator, GanModel, Generator, ModelConfig
from .biggan import BigGANDiscriminator, BigGANDiscriminatorConfig, BigGANGenerator, BigGANGeneratorConfig
from .biggan_deep import BigGANDeepGenerator, BigGANDeepGeneratorConfig
from .dcgan import DCGANDiscriminator, DCGANDiscriminatorConfig, DCGANGenerator, DCGANGeneratorConfig
from .domains import DomainDiscriminator, DomainGenerator
from .layers import NormLayer
from .multi_source import MultiSourceGenerator
from .resnet import ResNetDiscriminator, ResNetDiscriminatorConfig, ResNetGenerator, ResNetGeneratorConfig
from .stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "MODEL_REGISTRY",
    "BigGANDeepGenerator",
    "BigGANDeepGeneratorConfig",
    "BigGANDiscriminator",
    "BigGANDiscriminatorConfig",
    "BigGANGenerator",
    "BigGANGeneratorConfig",
    "DCGANDiscriminator",
    "DCGANDiscriminatorConfig",
    "DCGANGenerator",
    "DCGANGeneratorConfig",
    "Discriminator",
    "DomainDiscriminator",
    "DomainGenerator",
    "GanModel",
    "Generator",
    "ModelConfig",
    "MultiSourceGenerator",
    "NormLayer",
    "ResNetDiscriminator",
    "ResNetDiscriminatorConfig",
    "ResNetGenerator",
    "ResNetGeneratorConfig",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
]
