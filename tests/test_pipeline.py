"""GanPipeline.__call__: seeding, batching, output types, labels, truncation, dtype, train/eval state."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from gan_transfer import GanPipeline, GanPipelineOutput
from gan_transfer.pipelines import make_image_grid, sample_latents, save_image

from .conftest import FAMILIES, seeded, tiny_pipeline


@pytest.mark.parametrize("family", FAMILIES)
def test_seeded_calls_are_reproducible_and_batch_independent(family):
    pipe = tiny_pipeline(family, num_classes=3)
    a = pipe(num_images=5, generator=seeded(3), output_type="pt")
    b = pipe(num_images=5, generator=seeded(3), output_type="pt")
    assert torch.equal(a.images, b.images) and torch.equal(a.class_labels, b.class_labels)
    c = pipe(num_images=5, generator=seeded(3), output_type="pt", batch_size=2)
    torch.testing.assert_close(c.images, a.images, rtol=0, atol=1e-5)
    d = pipe(num_images=5, generator=seeded(4), output_type="pt")
    assert not torch.allclose(d.images, a.images)
    # the returned inputs repeat the call exactly
    e = pipe(latents=a.latents, class_labels=a.class_labels, output_type="pt")
    assert torch.equal(e.images, a.images)


def test_output_types():
    pipe = tiny_pipeline()
    pil = pipe(num_images=2, generator=seeded()).images
    assert isinstance(pil, list) and all(isinstance(i, PIL.Image.Image) and i.size == (32, 32) for i in pil)
    arr = pipe(num_images=2, generator=seeded(), output_type="np").images
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 32, 32, 3) and arr.min() >= 0 and arr.max() <= 1
    pt = pipe(num_images=2, generator=seeded(), output_type="pt").images
    np.testing.assert_allclose(pt.permute(0, 2, 3, 1).numpy(), arr)
    np.testing.assert_array_equal(np.asarray(pil[0]), (arr[0] * 255).round().astype(np.uint8))
    images, latents, labels = pipe(num_images=2, generator=seeded(), return_dict=False, output_type="pt")
    assert torch.equal(images, pt) and latents.shape == (2, 16) and labels is None
    out = pipe(num_images=1)
    assert isinstance(out, GanPipelineOutput)


def test_grayscale_pil_images():
    from gan_transfer.models import ResNetGenerator

    pipe = GanPipeline(ResNetGenerator(resolution=28, channels=1, width=4))
    pipe.set_progress_bar_config(disable=True)
    images = pipe(num_images=2).images
    assert images[0].mode == "L" and images[0].size == (28, 28)


def test_class_labels():
    pipe = tiny_pipeline("biggan", num_classes=3)
    out = pipe(num_images=4, class_labels=2, generator=seeded(), output_type="pt")
    assert out.class_labels.tolist() == [2, 2, 2, 2]
    mixed = pipe(num_images=4, class_labels=[0, 1, 2, 2], generator=seeded(), output_type="pt")
    assert torch.equal(mixed.images[2:], out.images[2:])  # same z, same labels
    assert not torch.allclose(mixed.images[:2], out.images[:2])  # same z, other labels
    with pytest.raises(ValueError, match="one label or one per image"):
        pipe(num_images=4, class_labels=[0, 1])
    with pytest.raises(ValueError, match=r"0\.\.2"):
        pipe(num_images=1, class_labels=3)
    with pytest.raises(ValueError, match="unconditional"):
        tiny_pipeline()(num_images=1, class_labels=0)


def test_truncation():
    z = sample_latents(2000, 16, truncation=1.0, generator=seeded())
    assert z.abs().max() <= 2 and 0.8 < z.std() < 1.0  # a ±2σ truncated normal has std 0.88
    z_half = sample_latents(2000, 16, truncation=0.5, generator=seeded())
    assert torch.equal(z_half, z * 0.5)
    pipe = tiny_pipeline()
    out = pipe(num_images=3, truncation=0.3, generator=seeded(), output_type="pt")
    assert out.latents.abs().max() <= 0.6
    with pytest.raises(ValueError, match="truncation=0"):
        pipe(num_images=1, truncation=0)


def test_bad_arguments():
    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match="output_type='jpg'"):
        pipe(output_type="jpg")
    with pytest.raises(ValueError, match="at least one image"):
        pipe(num_images=0)
    with pytest.raises(ValueError, match=r"expected \(N, 16\)"):
        pipe(latents=torch.zeros(2, 5))
    with pytest.raises(TypeError, match="must be a gan_transfer Generator"):
        GanPipeline(torch.nn.Linear(2, 2))


def test_generation_keeps_training_state_and_weights():
    pipe = tiny_pipeline()
    pipe.generator.train()
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    pipe(num_images=3)
    assert pipe.generator.training
    after = pipe.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "generation must not update BN statistics"


def test_to_dtype():
    pipe = tiny_pipeline().to(dtype=torch.float64)
    assert pipe.dtype == torch.float64 and pipe.discriminator.dtype == torch.float64
    out = pipe(num_images=2, generator=seeded(), output_type="pt")
    assert out.images.dtype == torch.float32


def test_grid_and_atomic_save(tmp_path):
    images = tiny_pipeline()(num_images=5, generator=seeded()).images
    grid = make_image_grid(images)
    assert grid.size == (3 * 32, 2 * 32)
    path = save_image(grid, tmp_path / "grid.png")
    assert PIL.Image.open(path).size == grid.size
    with pytest.raises(ValueError, match="no image extension"):
        save_image(grid, tmp_path / "grid.nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
