"""The dashboard in a real headless browser against a real ``batchsim serve`` process."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from serverproc import ServerProcess, running_server

from .conftest import click, console_errors, wait_for

pytestmark = pytest.mark.server

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


def create(server: ServerProcess, n: int, key: str = "dashboard-key-1234", prefix: str = "req") -> str:
    with anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0) as client:
        batch = client.messages.batches.create(
            requests=[{"custom_id": f"{prefix}-{i}", "params": PARAMS} for i in range(n)]  # type: ignore[misc]
        )
    return batch.id


def text(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).text)


def rows(browser: Any, tbody: str) -> list[str]:
    """The ``data-id`` (batches) or ``data-index`` (requests) of the rows of ``tbody``."""
    script = (
        "return [...document.querySelectorAll(`#${arguments[0]} tr[data-id], #${arguments[0]} tr[data-index]`)]"
        ".map((r) => r.dataset.id || r.dataset.index)"
    )
    return list(browser.execute_script(script, tbody))


def open_ui(browser: Any, server: ServerProcess, fragment: str = "") -> None:
    browser.get(f"{server.url}/{fragment}")  # "/" redirects to /_batchsim/ui
    wait_for(
        browser, lambda b: b.execute_script("return document.getElementById('view').dataset.ready"), "first render"
    )


def test_pages_load_without_console_errors(ui: ServerProcess, browser: Any) -> None:
    batch_id = create(ui, 5)
    httpx2.get(f"{ui.url}/v1/messages/batches", headers={"x-api-key": "dashboard-key-1234"})
    open_ui(browser, ui)
    assert browser.current_url.endswith("/_batchsim/ui")
    wait_for(browser, lambda b: len(rows(b, "batches-body")) == 1, "the batch row")
    wait_for(browser, lambda b: "list" in text(b, "journal-body"), "the journal rows")
    assert "dashboard-key-1234" not in browser.page_source  # only the key's tail is shown
    assert "\u20261234" in text(browser, "batches-body")
    click(browser, "#batches-body tr[data-id]")
    wait_for(browser, lambda b: b.current_url.endswith(f"#/batch/{batch_id}"), "the batch page")
    wait_for(browser, lambda b: len(rows(b, "requests-body")) == 5, "the request rows")
    assert console_errors(browser) == []


def test_the_batch_list_updates_after_a_create(ui: ServerProcess, browser: Any) -> None:
    open_ui(browser, ui)
    assert rows(browser, "batches-body") == []
    first = create(ui, 3)
    wait_for(browser, lambda b: rows(b, "batches-body") == [first], "the new batch")
    second = create(ui, 2, key="another-key-5678")  # same emulator instant, another key: order not fixed
    wait_for(browser, lambda b: sorted(rows(b, "batches-body")) == sorted([second, first]), "both")
    ui.advance(1)
    third = create(ui, 1)
    wait_for(browser, lambda b: rows(b, "batches-body")[0] == third, "the newest first")
    assert "in_progress 3" in text(browser, "status-filter")
    assert console_errors(browser) == []


def test_the_advance_button_moves_the_clock_and_a_batch_ends(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    batch_id = create(ui, 4)
    open_ui(browser, ui)
    wait_for(browser, lambda b: "in_progress" in text(b, "batches-body"), "the batch in progress")
    before = text(browser, "clock-now")
    assert before == "2026-01-01 00:00:00"
    browser.find_element(By.ID, "advance-3600").click()
    wait_for(browser, lambda b: text(b, "clock-now") == "2026-01-01 01:00:00", "the clock an hour later")
    wait_for(browser, lambda b: "ended" in text(b, "batches-body"), "the batch ended")
    assert ui.control("GET", "clock").json()["now"].startswith("2026-01-01T01:00:00")
    retrieved = httpx2.get(
        f"{ui.url}/v1/messages/batches/{batch_id}", headers={"x-api-key": "dashboard-key-1234"}
    ).json()
    assert retrieved["processing_status"] == "ended"
    # a custom amount
    browser.find_element(By.ID, "advance-amount").send_keys("90m")
    browser.find_element(By.ID, "advance-custom").click()
    wait_for(browser, lambda b: text(b, "clock-now") == "2026-01-01 02:30:00", "the clock 90 minutes later")
    assert console_errors(browser) == []


def test_the_scenario_editor_shows_a_validation_error(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    open_ui(browser, ui)
    editor = browser.find_element(By.ID, "scenario-text")
    wait_for(browser, lambda b: '"timing"' in editor.get_attribute("value"), "the scenario in the editor")
    scenario = orjson.loads(editor.get_attribute("value"))
    scenario["timing"]["concurrency"] = 0
    editor.clear()
    editor.send_keys(orjson.dumps(scenario).decode())
    browser.find_element(By.ID, "scenario-apply").click()
    wait_for(browser, lambda b: "concurrency" in text(b, "scenario-error"), "the error naming the key")
    assert "invalid scenario" in text(browser, "scenario-error")
    assert ui.control("GET", "scenario").json()["timing"]["concurrency"] != 0  # nothing applied
    scenario["timing"]["concurrency"] = 7
    editor.clear()
    editor.send_keys(orjson.dumps(scenario).decode())
    browser.find_element(By.ID, "scenario-apply").click()
    wait_for(browser, lambda b: text(b, "scenario-status") == "applied", "the scenario applied")
    assert text(browser, "scenario-error") == ""
    assert ui.control("GET", "scenario").json()["timing"]["concurrency"] == 7
    # the 400 answer the page shows is expected; nothing else went wrong
    assert [e for e in console_errors(browser) if "400" not in e["message"]] == []


def test_a_100000_request_batch_page_renders(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    body = orjson.dumps({"requests": [{"custom_id": f"big-{i}", "params": PARAMS} for i in range(100_000)]})
    created = httpx2.post(
        f"{ui.url}/v1/messages/batches",
        content=body,
        headers={"x-api-key": "dashboard-key-1234", "content-type": "application/json"},
        timeout=120,
    )
    assert created.status_code == 200, created.text
    batch_id = created.json()["id"]
    ui.advance(3600)
    open_ui(browser, ui, f"_batchsim/ui#/batch/{batch_id}")
    wait_for(browser, lambda b: text(b, "requests-total") == "100,000", "the request count")
    wait_for(browser, lambda b: len(rows(b, "requests-body")) == 100, "the first page of requests")
    assert text(browser, "batch-status") == "ended"
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline-chart polygon[data-series=succeeded]")
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline-chart line[data-mark=end]")
    click(browser, "#requests-pager button:last-child")
    wait_for(browser, lambda b: rows(b, "requests-body")[0] == "100", "the second page")
    click(browser, "#requests-body tr[data-index]")
    wait_for(browser, lambda b: "big-100" in text(b, "request-detail"), "the request's detail")
    assert '"succeeded"' in text(browser, "request-result")
    assert '"claude-sonnet-4-5"' in text(browser, "request-params")
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def locked_server() -> Any:
    with running_server("--admin-token", "ui-s3cret") as proc:
        yield proc


def test_with_an_admin_token_the_page_asks_for_it(locked_server: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    create(locked_server, 2)
    browser.get(f"{locked_server.url}/_batchsim/ui")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{locked_server.url}/_batchsim/ui")
    wait_for(browser, lambda b: b.find_element(By.ID, "token-form").is_displayed(), "the token form")
    browser.get_log("browser")
    browser.find_element(By.ID, "token-input").send_keys("ui-s3cret")
    browser.find_element(By.CSS_SELECTOR, "#token-login button").click()
    wait_for(browser, lambda b: len(rows(b, "batches-body")) == 1, "the batches, with the token")
    assert console_errors(browser) == []
    browser.execute_script("sessionStorage.clear()")
