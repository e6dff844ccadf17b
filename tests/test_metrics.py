"""Metrics: the extractors on real photos, parity with pytorch-fid and torch-fidelity, batch independence, labels."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_transfer.cli import main
from gan_transfer.metrics import (
    METRIC_REGISTRY,
    VGG16,
    InceptionV3FID,
    compute_features,
    evaluate,
    extract_features,
    frechet_distance,
    get_extractor,
    kid,
    kmmd,
    mean_variance,
    precision_recall,
    rank_sources,
    register_metric,
)
from gan_transfer.metrics.extractors import cached_extractor

from .conftest import tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_TRANSFER_CACHE", str(tmp_path / "cache"))


def _features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    mixing = np.random.default_rng(1000 + d).normal(size=(d, d)) / np.sqrt(d)  # correlated, like real features
    return np.random.default_rng(seed).normal(size=(n, d)) @ mixing + shift


# ---------------------------------------------------------------------------------------------- extractors
def test_efficientnet_lite0_classifies_real_photos():
    import skimage.data as skimage_data

    net = get_extractor("efficientnet-lite0")
    photos = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}, "rocket": {657, 744, 812}}
    for name, classes in photos.items():
        image = torch.from_numpy(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            probs = net.classify(image).softmax(-1)[0]
        assert probs.argmax().item() in classes, name
    cat = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert net.classify(cat).softmax(-1)[0, 285].item() > 0.5  # "Egyptian cat"
    assert net(cat).shape == (1, 1280)
    assert [b.shape[1] for b in net.blocks(cat)] == [32, 16, 24, 40, 80, 112, 192, 320]


def _random_weights(model: torch.nn.Module, path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    state = {k: (torch.randn_like(v) * 0.05 if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = torch.rand_like(state[k]) + 0.5
    torch.save(state, path)
    return state


def test_inception_and_vgg_load_their_key_layout_and_never_download(tmp_path):
    with pytest.raises(ValueError, match="Nothing is downloaded unless you name it"):
        get_extractor("inception-v3-fid")
    with pytest.raises(FileNotFoundError, match="not found"):
        get_extractor("vgg16", weights=tmp_path / "missing.pth")
    # pytorch-fid's file layout: no num_batches_tracked, fc to 1008 classes
    state = _random_weights(InceptionV3FID(), tmp_path / "pt_inception.pth")
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, tmp_path / "fid.pth")
    assert "Mixed_7c.branch3x3dbl_3b.conv.weight" in state and state["fc.weight"].shape == (1008, 2048)
    net = get_extractor("inception-v3-fid", weights=tmp_path / "fid.pth")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert net(x).shape == (2, 2048)
    torch.testing.assert_close(net(x[:1]), net(x)[:1], rtol=1e-4, atol=1e-5)
    _random_weights(VGG16(), tmp_path / "vgg.pth")
    vgg = get_extractor("vgg16", weights=tmp_path / "vgg.pth")
    assert vgg(x).shape == (2, 4096) and [b.shape[1] for b in vgg.blocks(x)] == [64, 128, 256, 512, 512]
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="not a VGG16 weights file"):
        get_extractor("vgg16", weights=tmp_path / "wrong.pth")


def test_features_do_not_depend_on_batch_size():
    images = torch.rand(9, 3, 32, 32)
    a = extract_features(images, batch_size=2, resolution=32)
    b = extract_features(images, batch_size=9, resolution=32)
    assert a.shape == (9, 1280) and a.dtype == torch.float64
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_compute_features_is_the_tensor_entry_point_of_extract_features():
    images = torch.rand(7, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # [0, 1], as a reader takes them
    tensor_in = images * 2 - 1  # [-1, 1], as compute_features takes them
    a = compute_features(tensor_in, batch_size=2)
    b = compute_features(tensor_in, "efficientnet-lite0", batch_size=7)
    assert a.shape == (7, 1280) and a.dtype == torch.float64 and a.device.type == "cpu"
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a, extract_features(images, resolution=32, batch_size=3), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a, extract_features(tensor_in, resolution=32), rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="extract_features"):
        compute_features(EMOJI / "google_a")
    with pytest.raises(ValueError, match=r"takes \[-1, 1\]"):
        compute_features(images * 255)


# ------------------------------------------------------------------------------------------------ parity
def _function_from(path: Path, name: str, namespace: dict) -> object:
    """Run one top-level function of an installed reference file (its package imports torchvision, we do not)."""
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), str(path), "exec"), namespace)
    return namespace[name]


def _site(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.fail(
            f"{package} (reference implementation) is missing: pip install --no-deps -r requirements-reference.txt"
        )
    return Path(spec.submodule_search_locations[0])


def test_fd_matches_pytorch_fid():
    from scipy import linalg

    reference = _function_from(_site("pytorch_fid") / "fid_score.py", "calculate_frechet_distance",
                               {"np": np, "linalg": linalg})  # fmt: skip
    for d, shift in ((64, 0.3), (512, 0.05)):
        a, b = _features(600, d, 0.0, 1), _features(700, d, shift, 2) * 1.1
        expected = reference(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fd_and_kid_match_torch_fidelity():
    root = _site("torch_fidelity")
    defaults_spec = importlib.util.spec_from_file_location("tf_defaults", root / "defaults.py")
    defaults = importlib.util.module_from_spec(defaults_spec)
    defaults_spec.loader.exec_module(defaults)
    helpers = types.SimpleNamespace(
        get_kwarg=lambda name, kwargs: kwargs.get(name, defaults.DEFAULTS[name]),
        vassert=lambda cond, msg: None,
        vprint=lambda *a, **k: None,
    )
    ns = {"np": np, "torch": torch, "tqdm": lambda it, **k: it, **vars(helpers)}
    ns["KEY_METRIC_KID_MEAN"], ns["KEY_METRIC_KID_STD"] = "mean", "std"
    for name in ("mmd2", "kernel_poly", "kernel_rbf", "kernel_mmd", "kid_features_to_metric"):
        _function_from(root / "metric_kid.py", name, ns)
    a, b = _features(300, 64, 0.0, 3), _features(260, 64, 0.2, 4)
    ref = ns["kid_features_to_metric"](torch.from_numpy(a), torch.from_numpy(b), kid_subsets=20,
                                       kid_subset_size=100, rng_seed=7, verbose=False)  # fmt: skip
    mean, std = kid(a, b, subsets=20, subset_size=100, seed=7)
    assert mean == pytest.approx(ref["mean"], rel=1e-9) and std == pytest.approx(ref["std"], rel=1e-9)
    fid_ns = {"np": np, "torch": torch, "scipy": __import__("scipy"), **vars(helpers)}
    fid_ns["KEY_METRIC_FID"] = "fid"
    fid = _function_from(root / "metric_fid.py", "fid_statistics_to_metric", fid_ns)
    stats = [{"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)} for x in (a, b)]
    assert frechet_distance(a, b) == pytest.approx(fid(*stats, False)["fid"], rel=1e-6)


def test_kmmd_mv_and_precision_recall_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(40, 4)) + 1
    sigma = 1.7
    k = lambda x, y: np.exp(-((x[:, None] - y[None]) ** 2).sum(-1) / (2 * sigma**2))  # noqa: E731
    kaa, kbb = k(a, a), k(b, b)
    expected = (kaa.sum() - 30) / (30 * 29) + (kbb.sum() - 40) / (40 * 39) - 2 * k(a, b).mean()
    assert kmmd(a, b, sigma)[0] == pytest.approx(expected, rel=1e-10)
    assert kmmd(a, a + 0.0, sigma)[0] < kmmd(a, b, sigma)[0]
    assert mean_variance(a) == pytest.approx(a.var(axis=0, ddof=1).mean())
    p, r = precision_recall(a, a, k=3)
    assert p == 1.0 and r == 1.0
    p_far, _ = precision_recall(a, a + 100, k=3)
    assert p_far == 0.0


def test_kid_and_fd_are_near_zero_for_one_distribution():
    a, b = _features(500, 32, 0.0, 5), _features(500, 32, 0.0, 6)
    assert abs(kid(a, b, subsets=10, subset_size=200)[0]) < 0.01
    assert frechet_distance(a, b) < frechet_distance(a, b + 0.5)


# ---------------------------------------------------------------------------------------------- real data
def test_fd_orders_real_emoji_sets():
    """FD(Google half A, half B) < FD(Google A, Twitter drawings of B): style shows, content does not."""
    ga, gb, tb = (extract_features(EMOJI / name, resolution=64) for name in ("google_a", "google_b", "twitter_b"))
    same_style, other_style = frechet_distance(ga, gb), frechet_distance(ga, tb)
    assert same_style < other_style
    assert kid(ga, gb, subsets=20, subset_size=100)[0] < kid(ga, tb, subsets=20, subset_size=100)[0]


# ------------------------------------------------------------------------------------------------ evaluate
def test_evaluate_pipeline_labels_cache_and_determinism(tmp_path):
    pipe = tiny_pipeline()
    images = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    report = evaluate(pipe, images, ["fd", "kid", "kmmd", "mv", "precision", "iw"], num_samples=24, iw_steps=20,
                      kid_subset_size=12, kid_subsets=5)  # fmt: skip
    again = evaluate(pipe, images, ["fd", "kid", "kmmd", "mv", "precision", "iw"], num_samples=24, iw_steps=20,
                     kid_subset_size=12, kid_subsets=5, batch_size=5)  # fmt: skip
    for key in report.scores:
        assert again[key] == pytest.approx(report[key], rel=1e-4, abs=1e-6), key
    assert report.name("fd") == "FD (EfficientNet-Lite0)"
    assert dict(report) == report.scores and set(report) >= {"fd", "kid", "kid_std", "iw"}
    assert "FID" not in json.dumps(report.to_dict())
    assert str(report).startswith("FD (EfficientNet-Lite0): ")
    assert len(list((tmp_path / "cache" / "features").glob("*.safetensors"))) == 1, "reference features cached"
    with pytest.raises(ValueError, match="Unknown metric 'fid'"):
        evaluate(pipe, images, ["fid"])


def test_evaluate_respects_adapters_and_real_vs_real():
    from .conftest import ChannelAffineAdapter

    pipe = tiny_pipeline()
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    base = evaluate(pipe, images, num_samples=16, kid_subset_size=8, kid_subsets=3)["fd"]
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator))
    adapted = evaluate(pipe, images, num_samples=16, kid_subset_size=8, kid_subsets=3)["fd"]
    assert adapted != base
    with pipe.disable_adapters():
        assert evaluate(pipe, images, num_samples=16, kid_subset_size=8, kid_subsets=3)["fd"] == base
    same = evaluate(images, images, ["fd"], resolution=32)["fd"]
    assert abs(same) < 1e-4  # 16 images in 1280 dimensions: a rank-15 covariance, eigenvalue round-off


def test_a_bare_generator_is_refused_with_the_fix():
    pipe = tiny_pipeline()
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"not a bare generator .*GanPipeline\(generator\)"):
        evaluate(pipe.generator, images, ["fd"])


def test_any_callable_with_the_pipeline_keywords_is_a_source():
    pipe = tiny_pipeline()
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    calls = []

    def source(**kwargs):
        calls.append(kwargs)
        return pipe(**kwargs)

    plain = evaluate(source, images, ["fd"], num_samples=12, truncation=0.7)  # no .generator: one probe image
    assert evaluate(pipe, images, ["fd"], num_samples=12, truncation=0.7)["fd"] == pytest.approx(plain["fd"])
    assert [c["num_images"] for c in calls] == [1, 12] and {c["truncation"] for c in calls} == {0.7}
    assert all(c["output_type"] == "pt" and isinstance(c["generator"], torch.Generator) for c in calls)
    with pytest.raises(TypeError, match=r"\.images"):
        evaluate(lambda **kwargs: None, images, ["fd"], resolution=32)


def test_metrics_are_found_by_name_in_the_registry():
    assert set(METRIC_REGISTRY.names()) >= {"fd", "kid", "kmmd", "mv", "precision", "recall", "iw", "mfd", "mkid"}
    assert METRIC_REGISTRY.get("precision") is METRIC_REGISTRY.get("recall")
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen = []

    @register_metric("mean_norm")
    def mean_norm(source, reference, options):
        seen.append((source.shape, reference.shape, options.seed))
        return {"mean_norm": float(source.norm(dim=1).mean())}

    try:
        report = evaluate(images, images, ["mean_norm", "fd", "precision", "recall"], resolution=32, seed=3)
        assert seen == [((12, 1280), (12, 1280), 3)]
        expected = float(extract_features(images, resolution=32).norm(dim=1).mean())
        assert report["mean_norm"] == pytest.approx(expected, rel=1e-5)
        assert list(report) == ["mean_norm", "fd", "precision", "recall"]  # precision/recall: one call, both
        assert report.name("mean_norm") == "mean_norm (EfficientNet-Lite0)"
    finally:
        METRIC_REGISTRY._items.pop("mean_norm", None)
    with pytest.raises(ValueError, match=r"^Unknown metric 'mean_norm'; choose from fd, iw, kid, .*\.$") as err:
        evaluate(images, images, ["mean_norm"], resolution=32)
    assert str(err.value).count(". ") == 0  # one sentence


def test_per_class_scores():
    pipe = tiny_pipeline("biggan", num_classes=3)
    images = torch.rand(18, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(18) % 3
    report = evaluate(pipe, images, ["mfd", "mkid"], reference_labels=labels, num_samples=18, kid_subset_size=4,
                      kid_subsets=2)  # fmt: skip
    assert set(report.per_class) == {0, 1, 2}
    assert report["mfd"] == pytest.approx(np.mean([r["fd"] for r in report.per_class.values()]))
    assert report.name("mfd") == "mFD (EfficientNet-Lite0)"
    with pytest.raises(ValueError, match="reference_labels"):
        evaluate(pipe, images, ["mfd"])


def test_rank_sources():
    target = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    near = target[:8] * 0.9 + 0.05
    far = torch.zeros(16, 3, 32, 32)
    rows = rank_sources({"a": tiny_pipeline(seed=1), "b": tiny_pipeline(seed=2)}, target,
                        real_source_images={"a": near, "b": far}, num_samples=16)  # fmt: skip
    assert [r["rank"] for r in rows] == [1, 2]
    key = "FD (EfficientNet-Lite0) generated vs target"
    assert rows[0][key] <= rows[1][key]
    assert all("FD (EfficientNet-Lite0) real source vs target" in r for r in rows)


def test_cli_evaluate(tmp_path, capsys):
    tiny_pipeline().save_pretrained(tmp_path / "p")
    out = tmp_path / "m.json"
    assert main(["evaluate", str(tmp_path / "p"), str(EMOJI / "google_a"), "--metrics", "fd", "kid",
                 "--num-samples", "40", "--kid-subset-size", "20", "--output", str(out), "--quiet"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "FD (EfficientNet-Lite0):" in printed and "FID" not in printed
    saved = json.loads(out.read_text())
    assert saved["labels"]["fd"] == "FD (EfficientNet-Lite0)" and saved["num_reference"] == 100
    assert main(["evaluate", str(EMOJI / "google_b"), str(EMOJI / "google_a"), "--metrics", "fd"]) == 0


def test_extractors_are_cached_per_process():
    assert cached_extractor("efficientnet-lite0") is cached_extractor("efficientnet-lite0")
    assert sys.modules["gan_transfer.metrics"] is not None


# --------------------------------------------------------------------------------------------- dependencies
ALLOWED = {"registry", "atomic", "_version", "metrics"}  # the only parts of gan_transfer that metrics may import


def _library_imports(source: str, package: str) -> list[str]:
    """Every gan_transfer module a file imports (absolute or relative, at any depth, inside functions too).

    ``package`` is the package the file's relative imports start from; names imported from the top package
    (``from .. import data``) count as its modules.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                assert node.level <= len(parts), f"a relative import climbs above {parts[0]}"
                module = ".".join(parts[: len(parts) - node.level + 1] + ([module] if module else []))
            found += [f"{module}.{alias.name}" for alias in node.names] if module == "gan_transfer" else [module]
    return [m for m in found if m == "gan_transfer" or m.startswith("gan_transfer.")]


def _forbidden(source: str, package: str) -> list[str]:
    return [m for m in _library_imports(source, package) if m == "gan_transfer" or m.split(".")[1] not in ALLOWED]


def test_the_import_checker_sees_every_kind_of_import():
    package = "gan_transfer.metrics"
    forbidden = ["from ..data import load_images", "from .. import hub", "import gan_transfer.data",
                 "from gan_transfer import pipelines", "from gan_transfer import GanPipeline", "import gan_transfer",
                 "import torch, gan_transfer.hub as hub", "from ..data.reading import load_images",
                 "def f():\n    from ..recipes.engine import Trainer",
                 "class A:\n    def f(self):\n        try:\n            import gan_transfer.hub\n"
                 "        except ImportError:\n            pass"]  # fmt: skip
    for snippet in forbidden:
        assert _forbidden(snippet, package), snippet
    assert _forbidden("from ... import data", "gan_transfer.metrics.sub")
    allowed = ["from ..registry import Registry", "from .. import atomic, _version", "from .._version import x",
               "from .extractors import get_extractor", "from . import functional", "import torch",
               "from gan_transfer.metrics.functional import kid", "import gan_transfer.registry",
               "from ..functional import kid"]  # fmt: skip
    for snippet in allowed:
        assert not _forbidden(snippet, "gan_transfer.metrics.sub" if snippet.startswith("from ..f") else package)


def test_metrics_import_only_registry_atomic_and_version_from_the_library():
    import gan_transfer.metrics

    root = Path(gan_transfer.metrics.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "evaluate.py", "extractors.py", "functional.py", "registry.py"}
    for path in files:
        relative = path.relative_to(root.parent.parent).with_suffix("")
        parts = list(relative.parts)
        package = ".".join(parts[:-1])  # the package a relative import starts from (also for __init__.py)
        assert not _forbidden(path.read_text(), package), f"{path.name} imports {_forbidden(path.read_text(), package)}"
