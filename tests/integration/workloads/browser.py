"""A headless Chromium driven over its DevTools protocol (a websocket on 127.0.0.1, aiohttp as the client): open a
page, read values from it, take screenshots. Only 127.0.0.1 is ever contacted: every host name other than
localhost resolves to nothing and Chromium's background services (updates, sync, metrics) are off."""

import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import aiohttp

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--disable-extensions", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
         "--metrics-recording-only", "--mute-audio", "--password-store=basic", "--use-mock-keychain",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--window-size=1280,900"]


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab: ``await page.call(method, **params)`` sends a DevTools command and returns its result."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, timeout=30, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError("DevTools connection closed: %s" % msg.type)
            data = json.loads(msg.data)
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError("%s: %s" % (method, data["error"]))
                return data["result"]

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    async def screenshot(self):
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])


@contextlib.asynccontextmanager
async def open_page(url, timeout=60):
    """Start Chromium, open ``url`` in a new tab, yield its Page; Chromium is stopped (by its PID) afterwards."""
    profile = tempfile.mkdtemp(prefix="wl-chromium-")
    log = open(os.path.join(profile, "chromium.log"), "wb")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([chromium(), *FLAGS, "--user-data-dir=" + profile, "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file) or not open(port_file, encoding="utf-8").read().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start: %s" % open(log.name, errors="replace").read()[-2000:])
            await asyncio.sleep(0.1)
        port = int(open(port_file, encoding="utf-8").read().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.put("http://127.0.0.1:%d/json/new?about:blank" % port) as response:
                target = await response.json()
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 << 20) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Page.navigate", url=url)
                yield page
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
