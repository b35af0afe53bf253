"""The dashboard under a strict Content-Security-Policy, and for a keyboard and a screen reader:
every control named and reachable with Tab, text that can be read (WCAG AA contrast)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from serverproc import ServerProcess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batchsim import Emulator
from batchsim._pytest.server import SessionServer

from .conftest import click, console_errors, wait_for

pytestmark = pytest.mark.server

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
STRICT = b"default-src 'self'"


def create(url: str, n: int, key: str = "access-key-4321") -> str:
    with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0) as client:
        return client.messages.batches.create(
            requests=[{"custom_id": f"req-{i}", "params": PARAMS} for i in range(n)]  # type: ignore[misc]
        ).id


def openai_batch(url: str) -> str:
    line = {
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
    }
    lines = [orjson.dumps({**line, "custom_id": f"c-{i}"}) for i in range(3)]
    with openai.OpenAI(base_url=f"{url}/v1", api_key="sk-proj-access-4321", max_retries=0) as client:
        upload = client.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(lines))), purpose="batch")
        return client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id


def ready(browser: Any, url: str) -> None:
    browser.get(url)
    wait_for(browser, lambda b: b.execute_script("return document.getElementById('view').dataset.ready"), "a render")


# -- a strict Content-Security-Policy ---------------------------------------------------------------------


def with_policy(app: ASGIApp) -> ASGIApp:
    """``app`` answering the dashboard's page and files with ``Content-Security-Policy: default-src
    'self'``: no inline script or style, no eval, no ``data:`` image."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start" and scope["path"].startswith("/_batchsim/ui"):
                headers = [*message.get("headers", []), (b"content-security-policy", STRICT)]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_policy if scope["type"] == "http" else send)

    return wrapped


@pytest.fixture(scope="module")
def strict_url() -> Iterator[tuple[str, Emulator]]:
    server = SessionServer()
    sim = Emulator({"timing": {"per_request": 10, "concurrency": 2}})
    server.target = with_policy(sim.app)
    try:
        yield server.url, sim
    finally:
        server.close()


def test_the_page_works_under_a_strict_content_security_policy(strict_url: tuple[str, Emulator], browser: Any) -> None:
    url, sim = strict_url
    batch_id = create(url, 4)
    sim.advance(seconds=12)  # two of four finished: the bars draw an outcome and a shade
    browser.get("about:blank")
    browser.get_log("browser")
    ready(browser, f"{url}/_batchsim/ui")
    wait_for(browser, lambda b: b.find_elements("css selector", f"#batches-body tr[data-id='{batch_id}']"), "the row")
    assert refused(browser) == []
    wait_for(browser, lambda b: "2 of 4 finished" in b.find_element("id", "batches-body").text, "the bar")
    click(browser, "#journal-body button.expand")
    wait_for(browser, lambda b: b.find_elements("css selector", "tr.call-detail pre"), "a call's body")
    ready(browser, f"{url}/_batchsim/ui/batches/{batch_id}")
    wait_for(browser, lambda b: b.find_elements("css selector", "#timeline-chart polygon"), "the chart")
    click(browser, "#requests-body a[data-index='0']")
    wait_for(browser, lambda b: "req-0" in b.find_element("id", "request-detail").text, "a request")
    assert refused(browser) == []
    assert console_errors(browser) == []


def refused(browser: Any) -> list[str]:
    """What the browser refused under the policy (it logs each refusal as an error)."""
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]


# -- names, the keyboard and contrast ------------------------------------------------------------------------


UNNAMED = """
return [...document.querySelectorAll('input, select, textarea, button, a[href], summary')]
  .filter((e) => !e.hidden && e.type !== 'hidden' && e.getClientRects().length)
  .filter((e) => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim()))
  .map((e) => e.outerHTML.slice(0, 120));
"""

CONTRAST = """
const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const background = (e) => {
  for (let n = e; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const e of document.querySelectorAll('body *')) {
  if (e.closest('svg, [aria-disabled="true"], [hidden], .sr-only') || !e.getClientRects().length) continue;
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const style = getComputedStyle(e);
  const a = lum(rgb(style.color)), b = lum(background(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const what = `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 30)}"`;
  if (ratio < 4.5) low.push(`${what} ${ratio.toFixed(2)}`);
}
return low;
"""


def reached_by_tab(browser: Any, presses: int = 120) -> list[str]:
    """What Tab reaches from the top of the page, in order (each element's data-key, id or tag)."""
    from selenium.webdriver.common.keys import Keys

    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    browser.find_element("tag name", "body").send_keys(Keys.TAB)
    seen: list[str] = []
    for _ in range(presses):
        name = browser.execute_script(
            "const e = document.activeElement; const tag = e.tagName.toLowerCase();"
            "return e.dataset.key || e.id || (e.className ? `${tag}.${e.className}` : tag)"
        )
        if seen and name == seen[0]:
            break  # round the page once
        seen.append(str(name))
        browser.switch_to.active_element.send_keys(Keys.TAB)
    return seen


def test_every_control_is_named_reachable_by_tab_and_readable(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    batch_id = create(ui.url, 3)
    ready(browser, f"{ui.url}/_batchsim/ui")
    wait_for(browser, lambda b: b.find_elements("css selector", "#journal-body button.expand"), "the journal")
    assert browser.execute_script(UNNAMED) == []
    assert browser.execute_script(CONTRAST) == []
    reached = reached_by_tab(browser)
    for wanted in (
        "a.skip",
        "advance-60",
        "advance-amount",
        "reset",
        "provider-filter",
        "key-filter",
        "status:",
        f"batch:{batch_id}",
        "scenario-text",
        "scenario-apply",
        "journal-endpoint",
        "journal-faults",
    ):
        assert wanted in reached, f"Tab never reaches {wanted}: {reached}"
    assert any(name.startswith("call:") for name in reached)
    # the skip link leads past the header
    browser.execute_script("document.querySelector('a.skip').focus()")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.execute_script("return document.activeElement.id") == "view"

    ui.control("PUT", "scenario", json={"rules": [{"custom_id": "c-1", "result": "errored"}]}).raise_for_status()
    other = openai_batch(ui.url)
    ready(browser, f"{ui.url}/_batchsim/ui/batches/{batch_id}")
    wait_for(browser, lambda b: b.find_elements("id", "cancel-batch"), "the cancel button")
    assert browser.execute_script(UNNAMED) == []
    assert browser.execute_script(CONTRAST) == []
    reached = reached_by_tab(browser)
    for wanted in ("back", "cancel", "raw-json", "requests-state", "requests-q", "request:0", "summary"):
        assert wanted in reached, f"Tab never reaches {wanted}: {reached}"
    ui.advance(3600)
    ready(browser, f"{ui.url}/_batchsim/ui/batches/{other}")
    wait_for(browser, lambda b: b.find_elements("id", "file-error"), "OpenAI's files")
    assert browser.execute_script(UNNAMED) == []
    assert browser.execute_script(CONTRAST) == []
    reached = reached_by_tab(browser)
    assert {"file-output", "file-error"} <= set(reached), reached
    assert console_errors(browser) == []
