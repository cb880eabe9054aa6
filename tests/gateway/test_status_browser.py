"""The status page in a real browser (Debian's chromium + chromedriver, driven by Selenium).

A real gateway process serves the page; agents connect over real WebSockets and send
frames; the page must list them and its chart must move. A gateway whose data routes take a
bearer token makes the page ask for it and send it. A screenshot is kept in
``artifacts/status-page.png``. Where Selenium or the browser is missing, the test is skipped
with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from support.client import RawClient
from support.gateway import GatewayProcess
from support.ports import free_port
from support.waiting import eventually

from aiconexus.protocol import Identity, Message
from aiconexus_gateway.app import create_app
from aiconexus_gateway.server import uvicorn_config
from aiconexus_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium session (skipped, with the reason, where it cannot start)."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -r requirements-dev.txt)")
    browser = _browser()
    if browser is None or not CHROMEDRIVER.exists():
        pytest.skip(
            "chromium and chromium-driver are not installed (make system-deps as root, or "
            "apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    try:
        session = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except WebDriverException as exc:
        pytest.skip(f"headless Chromium did not start: {exc.msg}")
    session.set_page_load_timeout(15)
    try:
        yield session
    finally:
        session.quit()


async def _until(driver: Any, script: str, within: float = 15.0) -> Any:
    """Poll ``script`` in the page (off the event loop) until it returns something truthy."""
    async with asyncio.timeout(within):
        while True:
            value = await asyncio.to_thread(driver.execute_script, script)
            if value:
                return value
            await asyncio.sleep(0.2)


async def test_status_page_lists_agents_and_charts_traffic(driver: Any, tmp_path: Path) -> None:
    """An agent that connects appears on the page; the chart rises when frames flow."""
    with GatewayProcess({"STORAGE_TYPE": "memory"}, tmp_path / "gw") as gateway:
        await asyncio.to_thread(driver.get, f"{gateway.http_url}/")
        assert (await asyncio.to_thread(lambda: driver.current_url)).endswith("/status")
        await _until(driver, "return document.getElementById('live').classList.contains('on')")
        # no client keepalive: a browser starting on a busy machine must not time pings out
        alice = await RawClient.connect(
            gateway.ws_url,
            capabilities=["translate"],
            metadata={"name": "alice"},
            ping_interval=None,
        )
        bob = await RawClient.connect(
            gateway.ws_url, Identity.generate(), capabilities=["ocr"], ping_interval=None
        )
        row = f"return document.querySelector('tr[data-did=\"{alice.did}\"]')?.innerText"
        listed = await _until(driver, row)
        assert "translate" in listed and "ago" in listed
        assert await _until(
            driver, f"return !!document.querySelector('tr[data-did=\"{bob.did}\"]')"
        )
        peak = "return Number(document.getElementById('chart').dataset.peakFps)"
        assert await asyncio.to_thread(driver.execute_script, peak) == 0

        seen = asyncio.Event()  # the page showed what it must: traffic may stop

        async def traffic() -> None:
            while not seen.is_set():
                for _ in range(20):
                    sent = await alice.send_message("OFFER", bob.did, {"sdp": "v=0"})
                    got = Message.parse(await bob.recv_text())
                    assert got.id == sent.id, f"bob got {got.type} {got.id}, not {sent.id}"
                await asyncio.sleep(0.05)

        async def read_acks() -> None:
            # alice reads her ACKs, or the gateway would close her as a slow consumer
            while True:
                await alice.ws.recv()

        loop = asyncio.get_running_loop()
        acks = loop.create_task(read_acks())
        flowing = loop.create_task(traffic())
        try:
            assert await _until(driver, peak) > 0
            assert await _until(
                driver, "return document.getElementById('line-p99').getAttribute('d')"
            )
            p50 = await _until(driver, "return document.getElementById('t-p50').innerText")
            assert p50 != "\u2013"  # the page's placeholder for "no value yet"
        finally:
            # traffic ends by itself (a cancel could land between a frame's arrival and
            # its reader's wake-up); alice's ACK reader is cancelled once it has
            seen.set()
            try:
                await flowing
            finally:
                acks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acks
        await alice.send_text("not json")
        code = (
            "return document.querySelector('#refusals tr[data-code=MALFORMED_MESSAGE]')?.innerText"
        )
        assert "1" in await _until(driver, code)
        ARTIFACTS.mkdir(exist_ok=True)
        await asyncio.to_thread(driver.save_screenshot, str(ARTIFACTS / "status-page.png"))


TOKEN = "s3cret-token"


def _guarded_settings(**values: Any) -> Settings:
    """Settings of a gateway whose operator routes take the bearer token TOKEN."""
    if "agents_token" in Settings.__dataclass_fields__:  # the setting itself, where it exists
        return Settings(**values, agents_token=TOKEN)

    class _TokenSettings(Settings):
        agents_token = TOKEN

    return _TokenSettings(**values)


async def test_the_page_asks_for_the_token_and_sends_it(driver: Any) -> None:
    """Data routes answer 401: the page shows its token form; once given, the stream is live."""
    settings = _guarded_settings(gateway_port=free_port(), node_id="guarded")
    app = create_app(settings, Identity.generate())
    server = uvicorn.Server(uvicorn_config(settings, app, log_level="warning"))
    serving = asyncio.get_running_loop().create_task(server.serve())
    try:
        await eventually(lambda: server.started, within=10)
        base = f"http://127.0.0.1:{settings.gateway_port}"
        await asyncio.to_thread(driver.get, f"{base}/status")
        await _until(driver, "return document.getElementById('login').classList.contains('show')")
        assert not await asyncio.to_thread(
            driver.execute_script, "return document.getElementById('live').classList.contains('on')"
        )
        await asyncio.to_thread(
            driver.execute_script,
            "document.getElementById('token').value = arguments[0];"
            "document.getElementById('login-form').requestSubmit();",
            TOKEN,
        )
        await _until(driver, "return document.getElementById('live').classList.contains('on')")
        assert "guarded" in await _until(driver, "return document.getElementById('node').innerText")
        stored = "return sessionStorage.getItem('aiconexus.status.token')"
        assert await asyncio.to_thread(driver.execute_script, stored) == TOKEN
    finally:
        await asyncio.to_thread(driver.get, "about:blank")  # ends the page's event stream
        server.should_exit = True
        await serving
