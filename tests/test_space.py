"""The Space (spaces/gan-transfer/app.py) used as people use it: a Gradio client against the app on loopback (every
endpoint, uploads included, and the bad input people send), a real browser (Playwright on Debian's Chromium), and a
bounded load test (8 concurrent clients: each request succeeds or gets the queue-full answer; nothing is left
running). Everything stays on 127.0.0.1 and in pytest's temporary folder."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import struct
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import httpx
import numpy as np
import PIL.Image
import pytest
import torch

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.adapters import Adapter, ScaleShiftAdapter
from gan_transfer.zoo import ZOO_DIR

gradio_client = pytest.importorskip("gradio_client", reason="the Space's tests need gan_transfer[test] (gradio)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from gradio_client.utils import QueueError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "spaces" / "gan-transfer" / "app.py"
FACES, EMOJI = "gan-transfer/digiface-faces", "gan-transfer/emoji-google"
PERSONS = sorted((ZOO_DIR / "data" / "twitter-person-25").glob("*.png"))
EMOJIS = sorted((ZOO_DIR / "data" / "twitter-emoji-25").glob("*.png"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]  # fmt: skip
pytestmark = pytest.mark.filterwarnings(  # pandas 3 deprecations inside gradio's queue analytics
    "ignore:.*no_silent_downcasting:Warning", "ignore:The copy keyword is deprecated:Warning"
)
ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    """The module's temporary folder, with the environment the Space runs in offline (restored afterwards)."""
    root = tmp_path_factory.mktemp("space")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        mp.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))
        yield root


@pytest.fixture(scope="module")
def app(tmp):
    spec = importlib.util.spec_from_file_location("gan_transfer_space_app", APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _bsa(pipe: GanPipeline, folder: Path, seed: int) -> None:
    """A scale_shift adapter with visible γ/β, saved as save_adapter writes it."""
    adapter = ScaleShiftAdapter.for_generator(pipe.generator, truncation=None)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*adapter.scale.values(), *adapter.shift.values()]:
            p.add_(0.5 * torch.randn(p.shape, generator=g))
    name = folder.name
    pipe.add_adapter(adapter, name, set_active=False)
    pipe.save_adapter(folder, adapter_name=name)


@pytest.fixture(scope="module")
def adapters(tmp) -> Path:
    """Two BSA adapters for the face GAN and one for the emoji GAN (an adapter for another base model)."""
    folder = tmp / "adapters"
    faces, emoji = GanPipeline.from_pretrained(FACES), GanPipeline.from_pretrained(EMOJI)
    _bsa(faces, folder / "faces-a", 1)
    _bsa(faces, folder / "faces-b", 2)
    _bsa(emoji, folder / "emoji-a", 3)
    return folder


@pytest.fixture(scope="module")
def translator(tmp) -> Path:
    gan = GanPipeline.from_pretrained(EMOJI)
    gan.set_progress_bar_config(disable=True)
    i2i = I2IPipeline.from_gan(gan, EMOJIS[:8], PERSONS[:8], steps=2, init_steps=1, self_init_steps=2, batch_size=4,
                               progress=False)  # fmt: skip
    return i2i.save_pretrained(tmp / "translator")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app, demo):
    _, url, share = app.launch(demo, server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                               quiet=True)  # fmt: skip
    assert share is None and url.startswith("http://127.0.0.1:")
    return url


@pytest.fixture(scope="module")
def served(app, adapters, translator, tmp):
    """The app with every bundled model, the test adapters and the tiny translator, on loopback."""
    demo = app.build_demo(adapters_dir=adapters, translator=translator)
    url = _serve(app, demo)
    try:
        yield demo, url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(served, tmp):
    c = Client(served[1], download_files=str(tmp / "downloads"), verbose=False)
    yield c
    c.close()


def _png(path: Path, size=(40, 40), color=(200, 30, 30)) -> Path:
    PIL.Image.new("RGB", size, color).save(path)
    return path


def _pixels(path) -> np.ndarray:
    with PIL.Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _gallery(result) -> list[tuple[Path, str]]:
    return [(Path(item["image"]), item["caption"]) for item in result]


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return target


# ------------------------------------------------------------------------------------------------ the client
def test_models_load_once_and_endpoints(served, client, adapters):
    demo, _ = served
    space = demo.space
    assert FACES in space.models and len(space.models) >= 8  # every bundled source, the real face GAN included
    assert set(space.models[FACES].adapters) == {"faces-a", "faces-b"}
    assert set(space.models[EMOJI].adapters) == {"emoji-a"}
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/generate", "/morph", "/translate", "/adapt"} <= set(named)


def test_generate(served, client, monkeypatch):
    # requests never load a model: every load happened in build_demo
    monkeypatch.setattr(GanPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("loaded per request")))
    noadapter = "none (the base model)"
    gallery, archive, message = client.predict(FACES, noadapter, "random", 1.0, "7", 4, None, api_name="/generate")
    items = _gallery(gallery)
    assert len(items) == 4 and "seed 7" in message and "4 images" in message
    assert all(p.suffix == ".png" for p, _ in items)
    images = [_pixels(p) for p, _ in items]
    assert all(im.shape == (64, 64, 3) for im in images) and images[0].std() > 5
    with zipfile.ZipFile(archive) as zf:  # "download all" for clients: the same PNGs, bit for bit
        assert zf.namelist() == [f"{i:03d}.png" for i in range(4)]
        for i, im in enumerate(images):
            with zf.open(f"{i:03d}.png") as f:
                np.testing.assert_array_equal(np.asarray(PIL.Image.open(f).convert("RGB")), im)
    again = client.predict(FACES, noadapter, "random", 1.0, "7", 4, None, api_name="/generate")[0]
    np.testing.assert_array_equal(_pixels(_gallery(again)[0][0]), images[0])  # a seed repeats exactly
    other = client.predict(FACES, noadapter, "random", 1.0, "8", 4, None, api_name="/generate")[0]
    assert np.abs(_pixels(_gallery(other)[0][0]).astype(int) - images[0]).mean() > 2
    adapted = client.predict(FACES, "faces-a", "random", 1.0, "7", 4, None, api_name="/generate")
    assert "adapter faces-a" in adapted[2]
    assert np.abs(_pixels(_gallery(adapted[0])[0][0]).astype(int) - images[0]).mean() > 2
    # a class-conditional model, by class name
    eyes = client.predict("gan-transfer/omniart-eyes", noadapter, "blue", 0.7, "3", 2, None, api_name="/generate")
    items = _gallery(eyes[0])
    assert [c for _, c in items] == ["seed 3 · #0 · class blue", "seed 3 · #1 · class blue"]
    assert _pixels(items[0][0]).shape == (128, 128, 3)


def test_generate_with_uploaded_adapter(client, adapters, tmp):
    archive = _zip_folder(adapters / "faces-b", tmp / "faces-b.zip")
    mine = client.predict(FACES, "none (the base model)", "random", 1.0, "5", 2, handle_file(str(archive)),
                          api_name="/generate")  # fmt: skip
    held = client.predict(FACES, "faces-b", "random", 1.0, "5", 2, None, api_name="/generate")
    assert "your adapter (scale_shift)" in mine[2]
    np.testing.assert_array_equal(_pixels(_gallery(mine[0])[0][0]), _pixels(_gallery(held[0])[0][0]))


def _gif_frames(path) -> list[np.ndarray]:
    frames = []
    with PIL.Image.open(path) as gif:
        assert gif.format == "GIF" and gif.info.get("loop") == 0
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def test_morph_adapters_and_latents(client):
    gif, message = client.predict(FACES, "adapters", "faces-a", "faces-b", "4", "0", "random", 1.0, 6,
                                  api_name="/morph")  # fmt: skip
    frames = _gif_frames(gif)
    assert len(frames) == 2 * 6 - 2 and frames[0].shape == (192, 192, 3)  # forward, then back
    assert "faces-a → faces-b" in message
    assert np.abs(frames[0].astype(int) - frames[5]).mean() > 2  # the two domains differ
    np.testing.assert_array_equal(frames[1], frames[-1])  # and it loops back
    gif, message = client.predict(EMOJI, "latents", "emoji-a", "none (the base model)", "1", "2", "random", 1.0, 4,
                                  api_name="/morph")  # fmt: skip
    frames = _gif_frames(gif)
    assert len(frames) == 6 and frames[0].shape == (192, 192, 3) and "seed 1 → seed 2 with adapter emoji-a" in message
    assert np.abs(frames[0].astype(int) - frames[3]).mean() > 2


def test_translate(client, tmp):
    picture = handle_file(str(EMOJIS[20]))
    gallery, message = client.predict(picture, "1", 3, "0", 1.0, api_name="/translate")
    items = _gallery(gallery)
    assert [c for _, c in items] == ["input", "→ 1 · variant 0", "→ 1 · variant 1", "→ 1 · variant 2"]
    assert all(_pixels(p).shape == (32, 32, 3) for p, _ in items) and "3 translations" in message
    assert np.abs(_pixels(items[1][0]).astype(int) - _pixels(items[2][0])).mean() > 0  # diverse through z


def test_adapt_uploads_progress_zip_and_card(client, tmp):
    files = [handle_file(str(p)) for p in PERSONS[:10]]
    job = client.submit(files, FACES, "bsa", 2, "0", api_name="/adapt")
    progress = []
    while not job.done():
        status = job.status()
        if status.progress_data:
            progress += [(u.index, u.length, u.unit) for u in status.progress_data]
        time.sleep(0.005)
    gallery, archive, card, message = job.result()
    assert progress and all(unit == "steps" and length == 2 for _, length, unit in progress)  # live progress
    assert "with bsa on 10 images in 2 steps" in message
    assert [c for _, c in _gallery(gallery)] == [f"source #{i}" for i in range(6)] + [f"adapted #{i}" for i in range(6)]
    with zipfile.ZipFile(archive) as zf:
        assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(zf.namelist())
        zf.extractall(tmp / "trained")
    text = Path(card).read_text()
    assert "base_model: gan-transfer/digiface-faces" in text and "uploaded images" in text
    adapter = Adapter.from_pretrained(tmp / "trained")
    assert adapter.kind == "scale_shift"
    # the zip a person downloads goes straight back in: Generate wears it on the model it was trained from
    again = client.predict(FACES, "none (the base model)", "random", 1.0, "1", 2, handle_file(archive),
                           api_name="/generate")  # fmt: skip
    assert "your adapter (scale_shift)" in again[2]


# ------------------------------------------------------------------------------------------------ bad input
def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _fake_png(path: Path, width: int, height: int) -> Path:
    """A PNG header that claims width×height pixels (a decompression bomb), with a tiny broken body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))  # fmt: skip
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))  # fmt: skip
    return path


def _upload(url: str, paths: list[Path]) -> list[dict]:
    """Files uploaded in one multipart request (as the page does), as the FileData the API takes."""
    handles = [p.open("rb") for p in paths]
    try:
        parts = [("files", (p.name, h, "image/png")) for p, h in zip(paths, handles, strict=True)]
        r = httpx.post(f"{url}gradio_api/upload", files=parts, timeout=60)
    finally:
        for h in handles:
            h.close()
    r.raise_for_status()
    return [{"path": s, "orig_name": p.name, "meta": {"_type": "gradio.FileData"}}
            for s, p in zip(r.json(), paths, strict=True)]  # fmt: skip


def _rest(url: str, api_name: str, data: list) -> tuple[str, dict]:
    """The REST API (POST, then read the event stream): the last event and its data."""
    r = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=30)
    r.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/{api_name}/{r.json()['event_id']}", timeout=60).text
    events = [line.split(":", 1)[1].strip() for line in stream.splitlines() if line.startswith("event:")]
    datas = [line.split(":", 1)[1].strip() for line in stream.splitlines() if line.startswith("data:")]
    return events[-1], json.loads(datas[-1])


def test_bad_input_gets_a_message_and_the_app_keeps_serving(served, client, adapters, tmp):
    demo, url = served
    bad = tmp / "bad"
    bad.mkdir()
    watched = {REPO / "spaces": _tree(REPO / "spaces"), REPO: {p.name for p in REPO.iterdir()}}
    persons = [handle_file(str(p)) for p in PERSONS[:10]]
    noadapter = "none (the base model)"

    def refused(match: str, *args, api_name: str) -> None:
        with pytest.raises(AppError, match=match):
            client.predict(*args, api_name=api_name)

    refused("Got 0 images; upload 10 to 50 images", [], FACES, "bsa", 1, "0", api_name="/adapt")
    # 500 images, sent as a browser or curl sends them: one upload request, then the REST call
    many = [_png(bad / f"{i:03d}.png", (8, 8), (i % 256, i // 256, 0)) for i in range(500)]
    event, data = _rest(url, "adapt", [_upload(url, many), FACES, "bsa", 1, "0"])
    assert event == "error" and data["error"] == "Got 500 images; upload 10 to 50 images.", data
    (bad / "notes.png").write_text("these are not pixels")
    refused("'notes.png' is not an image", [*persons[:9], handle_file(str(bad / "notes.png"))], FACES, "bsa", 1, "0",
            api_name="/adapt")  # fmt: skip
    (bad / "notes.txt").write_text("these are not pixels")
    refused("[Ii]nvalid file type", handle_file(str(bad / "notes.txt")), "1", 1, "0", 1.0, api_name="/translate")
    wide = _png(bad / "wide.png", (30_000, 8))
    refused("'wide.png' is 30000×8 pixels; use images of at most 4096", handle_file(str(wide)), "1", 1, "0", 1.0,
            api_name="/translate")  # fmt: skip
    bomb = _fake_png(bad / "bomb.png", 30_000, 30_000)
    refused(r"'bomb.png' has far too many pixels \(900,000,000 pixels\)", [*persons[:9], handle_file(str(bomb))],
            FACES, "bsa", 1, "0", api_name="/adapt")  # fmt: skip
    refused("Seed 'twelve' is not a whole number", FACES, noadapter, "random", 1.0, "twelve", 2, None,
            api_name="/generate")  # fmt: skip
    refused("Seed A '1.5' is not a whole number", FACES, "latents", noadapter, noadapter, "1.5", "2", "random", 1.0,
            4, api_name="/morph")  # fmt: skip
    refused("Adapter 'emoji-a' was made for gan-transfer/emoji-google, not for gan-transfer/digiface-faces", FACES,
            "emoji-a", "random", 1.0, "1", 2, None, api_name="/generate")  # fmt: skip
    emoji_zip = _zip_folder(adapters / "emoji-a", bad / "emoji-a.zip")
    refused("was made for base model 'gan-transfer/emoji-google'", FACES, noadapter, "random", 1.0, "1", 2,
            handle_file(str(emoji_zip)), api_name="/generate")  # fmt: skip
    (bad / "adapter.zip").write_text("not a zip")
    refused("'adapter.zip' is not a zip file", FACES, noadapter, "random", 1.0, "1", 2,
            handle_file(str(bad / "adapter.zip")), api_name="/generate")  # fmt: skip
    refused("morphing between adapters needs scale_shift|Pick two different adapters", FACES, "adapters", "faces-a",
            "faces-a", "1", "2", "random", 1.0, 4, api_name="/morph")  # fmt: skip
    # still serving, and the model still wears only what it was asked to
    gallery, _, _ = client.predict(FACES, noadapter, "random", 1.0, "7", 2, None, api_name="/generate")
    assert len(gallery) == 2 and demo.space.models[FACES].pipe.list_adapters() == ["faces-a", "faces-b"]
    # nothing written outside the temporary folders
    assert _tree(REPO / "spaces") == watched[REPO / "spaces"]
    assert {p.name for p in REPO.iterdir()} == watched[REPO]
    work = demo.space.work
    assert work.is_relative_to(tmp) and any(work.iterdir())


# ------------------------------------------------------------------------------------------------ the browser
def test_browser_types_a_seed_and_sees_the_gallery(served, tmp, app):
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium (/usr/bin/chromium); .ci/run installs it.")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    demo, url = served
    shot = tmp / "space-generate.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 960})
            page.goto(url, wait_until="networkidle")
            expect = playwright.expect
            expect(page.get_by_role("tab", name="Translate")).to_be_visible()  # a translator was given
            seed = page.get_by_label("Seed (a whole number)")
            seed.fill("not a seed")
            page.get_by_role("button", name="Generate").click()
            expect(page.get_by_text("Seed 'not a seed' is not a whole number").first).to_be_visible(timeout=30_000)
            seed.fill("1234")
            page.get_by_role("button", name="Generate").click()
            thumbnails = page.get_by_label("Thumbnail 8 of 8")
            expect(thumbnails).to_be_visible(timeout=60_000)
            expect(page.get_by_text("seed 1234 · #0")).to_be_visible()
            expect(page.locator("#gallery").get_by_label("Download All")).to_be_visible()  # "download all"
            expect(page.get_by_text("8 images from gan-transfer/digiface-faces with no adapter")).to_be_visible()
            first = page.get_by_label("Thumbnail 1 of 8").locator("img")
            shown = page.request.get(first.get_attribute("src")).body()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    (tmp / "first.png").write_bytes(shown)
    expected = demo.space.generate(FACES, app.NO_ADAPTER, "random", 1.0, "1234", 8)[0][0][0]
    np.testing.assert_array_equal(_pixels(tmp / "first.png"), np.asarray(expected.convert("RGB")))
    assert shot.stat().st_size > 10_000
    if os.environ.get("GAN_TRANSFER_SCREENSHOT"):  # keep a copy to look at
        shutil.copyfile(shot, os.environ["GAN_TRANSFER_SCREENSHOT"])


# ------------------------------------------------------------------------------------------------ load
def test_load_eight_clients_succeed_or_get_queue_full(app, tmp):
    demo = app.build_demo([FACES], adapters_dir=None, limits=app.Limits(queue_size=2))
    threads_before = set(threading.enumerate())
    url = _serve(app, demo)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        c = Client(url, download_files=False, verbose=False)  # the answers, not the files
        try:
            barrier.wait(timeout=60)
            result = c.predict(FACES, "none (the base model)", "random", 1.0, str(i), 16, None,
                               api_name="/generate")  # fmt: skip
            outcomes.append("ok" if len(result[0]) == 16 else f"wrong: {len(result[0])} images")
        except QueueError as err:
            outcomes.append("queue full" if "Queue is full" in str(err) else f"queue error: {err}")
        except Exception as err:  # counted, and the assertion below shows it
            outcomes.append(f"{type(err).__name__}: {err}")
        finally:
            c.close()
            for pool in (c.executor, c.helper_executor, c.stream_executor):  # the client's own threads
                pool.shutdown(wait=True)

    workers = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    started = time.perf_counter()
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        assert not any(w.is_alive() for w in workers), "a client did not finish in 120 s"
        print("load test:", sorted(outcomes), f"{time.perf_counter() - started:.1f} s")
        assert len(outcomes) == 8 and set(outcomes) <= {"ok", "queue full"}, outcomes
        assert outcomes.count("ok") >= 2 and outcomes.count("queue full") >= 1, outcomes
        queue = demo._queue
        assert len(queue) == 0 and all(job is None for job in queue.active_jobs)  # nothing queued or running
    finally:
        demo.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), 2):
        pass  # the server is gone
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]
    assert not leftover, leftover


def test_shipped_adapters_fit_their_models(app):
    """The adapters in spaces/gan-transfer/adapters/ load onto the bundled models they were trained from."""
    folder = APP.parent / "adapters"
    shipped = sorted(p.name for p in folder.iterdir() if (p / "adapter_config.json").is_file())
    assert shipped, "the Space ships no adapters"
    space = app.Space([FACES, EMOJI], folder, None, None, None)
    held = sorted(a for m in space.models.values() for a in m.adapters)
    assert held == shipped and not space.skipped
    shutil.rmtree(space.work)


# ------------------------------------------------------------------------------------------------ the command
def test_cli_space_launches_the_app(app, adapters, monkeypatch, capsys):
    import importlib.util as util

    import gradio

    from gan_transfer.cli import main

    calls = []
    monkeypatch.setattr(gradio.Blocks, "launch", lambda demo, **kw: calls.append((demo, kw)) or (None, "", None))
    monkeypatch.setitem(sys.modules, "gan_transfer_space_app", sys.modules["gan_transfer_space_app"])
    assert main(["space", "--models", FACES, "--port", "7999", "--adapters", str(adapters)]) == 0
    (demo, options), = calls
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7999
    assert options["share"] is False and options["max_file_size"] == "20mb"
    assert list(demo.space.models) == [FACES] and set(demo.space.models[FACES].adapters) == {"faces-a", "faces-b"}
    shutil.rmtree(demo.space.work)

    assert main(["space", "--app", "nowhere/app.py"]) == 2
    assert "pass --app" in capsys.readouterr().err
    real = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["space"]) == 2
    assert 'pip install "gan_transfer[space]"' in capsys.readouterr().err
