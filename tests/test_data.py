"""Images in: every accepted form lands as the same validated tensor; every bad input gets its clear error."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from gan_transfer.data import load_images


def _rgba(size=(40, 60), color=(255, 0, 0, 128)) -> PIL.Image.Image:
    return PIL.Image.new("RGBA", size, color)


def _photo(seed: int = 0, size=(48, 40)) -> PIL.Image.Image:
    rng = np.random.default_rng(seed)
    return PIL.Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_every_form_gives_the_same_tensor(tmp_path):
    images = [_photo(i, size=(32, 32)) for i in range(3)]
    for i, img in enumerate(images):
        img.save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    arrays = np.stack([np.asarray(i) for i in images])
    expected = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255 * 2 - 1
    forms = [
        tmp_path,
        str(tmp_path),
        sorted(tmp_path.glob("*.png")),
        images,
        arrays,
        torch.from_numpy(arrays).permute(0, 3, 1, 2),  # uint8 NCHW
        torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255,  # float [0, 1]
        torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255 * 2 - 1,  # float [-1, 1]
    ]
    for form in forms:
        x = load_images(form, 32, 3)
        assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
        torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)


def test_datasets_dataset():
    import datasets

    images = [_photo(i, size=(32, 32)) for i in range(3)]
    ds = datasets.Dataset.from_dict({"label": [0, 1, 2], "img": images}).cast_column("img", datasets.Image())
    x = load_images(ds, 32, 3)
    torch.testing.assert_close(x, load_images(images, 32, 3))
    plain = datasets.Dataset.from_dict({"label": [0, 1]})
    with pytest.raises(ValueError, match="has no image column"):
        load_images(plain, 32)
    with pytest.raises(ValueError, match="no column 'picture'"):
        load_images(ds, 32, image_column="picture")


def test_rgba_is_composited_and_channels_converted():
    x = load_images([_rgba()], 32, 3, background=(0, 0, 255))
    pixel = (x[0, :, 16, 16] + 1) / 2
    torch.testing.assert_close(pixel, torch.tensor([128 / 255, 0.0, 127 / 255]), rtol=0, atol=2e-3)
    gray = load_images([PIL.Image.new("L", (32, 32), 100)], 32, 3)
    assert torch.equal(gray[0, 0], gray[0, 1]) and torch.equal(gray[0, 1], gray[0, 2])
    rgb_to_gray = load_images([PIL.Image.new("RGB", (32, 32), (200, 100, 0))], 32, 1)
    luma = np.asarray(PIL.Image.new("RGB", (1, 1), (200, 100, 0)).convert("L"), dtype=np.float32)[0, 0] / 255
    assert rgb_to_gray.shape == (1, 1, 32, 32)
    assert abs((rgb_to_gray[0, 0, 0, 0].item() + 1) / 2 - luma) < 1 / 255
    palette = _photo().convert("P")
    assert load_images([palette], 32, 3).shape == (1, 3, 32, 32)
    sixteen = PIL.Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16))
    assert load_images([sixteen], 16, 1).max().item() == pytest.approx(1.0)


def test_resize_and_centre_crop():
    img = PIL.Image.new("RGB", (64, 32), (0, 0, 0))
    img.paste((255, 255, 255), (16, 0, 48, 32))  # white centre square, black sides
    x = load_images([img], 16, 3)
    assert x.shape == (1, 3, 16, 16)
    assert x[..., 2:-2].min().item() > 0.95, "the centre crop keeps the white square"
    assert x.min().item() > 0.5, "only the resampling blur of the black sides reaches the border"
    big = load_images(torch.rand(2, 1, 100, 100), 28, 1)
    assert big.shape == (2, 1, 28, 28)
    small = load_images([_photo(size=(10, 12))], 32, 3)
    assert small.shape == (1, 3, 32, 32)


def test_bad_inputs_name_the_input_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"No images were given \(the image list is empty\)"):
        load_images([], 32)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"Folder '{empty}' holds no image files"):
        load_images(empty, 32)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_images(tmp_path / "missing", 32)
    corrupt = tmp_path / "bad" / "broken.png"
    corrupt.parent.mkdir()
    _photo().save(tmp_path / "bad" / "good.png")
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=f"Cannot read image '{corrupt}'.*remove or replace the file"):
        load_images(corrupt.parent, 32)
    truncated = tmp_path / "trunc.png"
    _photo(size=(64, 64)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"Cannot read image .*trunc\.png"):
        load_images([truncated], 32)
    with pytest.raises(ValueError, match="Got 2 images from the image list, but BSA needs at least 10; add more"):
        load_images([_photo(0), _photo(1)], 32, min_images=10, purpose="BSA")
    with pytest.raises(ValueError, match="has 2 channels"):
        load_images(torch.rand(3, 2, 8, 8), 32)
    with pytest.raises(ValueError, match=r"values in \[0, 255\]; float images must lie in \[0, 1\]"):
        load_images(torch.linspace(0, 255, 3 * 3 * 8 * 8).reshape(3, 3, 8, 8), 32)
    with pytest.raises(ValueError, match="NaN"):
        load_images(torch.full((1, 3, 8, 8), float("nan")), 32)
    with pytest.raises(ValueError, match="has shape"):
        load_images(torch.rand(8, 8), 32)
    with pytest.raises(TypeError, match="Item 1 of the image list is a int"):
        load_images([_photo(), 3], 32)
    with pytest.raises(TypeError, match="Cannot read images from a dict"):
        load_images({"a": 1}, 32)
    with pytest.raises(ValueError, match=r"dtype torch\.int64"):
        load_images(torch.zeros(1, 3, 8, 8, dtype=torch.long), 32)
