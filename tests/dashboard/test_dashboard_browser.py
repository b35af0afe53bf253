"""The dashboard in a real headless browser against a real ``batchsim serve`` process."""

from __future__ import annotations

import io
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from serverproc import ServerProcess, running_server

from .conftest import click, console_errors, wait_for

pytestmark = pytest.mark.server

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


def _now(browser: Any, selector: str, attribute: str) -> str:
    """An attribute of what ``selector`` finds, read in the same script that finds it: the page
    redraws itself every 2 s, and an element found by one call may be gone by the next."""
    value = browser.execute_script(
        "const e = document.querySelector(arguments[0]);"
        " return e ? (arguments[1] === 'href' ? e.href : e.getAttribute(arguments[1])) : null;",
        selector,
        attribute,
    )
    assert value is not None, f"nothing matches {selector}"
    return str(value)


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
    click(browser, "#batches-body tr[data-id] a")
    wait_for(browser, lambda b: b.current_url.endswith(f"/_batchsim/ui/batches/{batch_id}"), "the batch page")
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
    open_ui(browser, ui, f"_batchsim/ui/batches/{batch_id}")
    wait_for(browser, lambda b: text(b, "requests-total") == "100,000", "the request count")
    wait_for(browser, lambda b: len(rows(b, "requests-body")) == 100, "the first page of requests")
    assert text(browser, "batch-status") == "ended"
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline-chart polygon[data-series=succeeded]")
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline-chart line[data-mark=end]")
    click(browser, "#requests-pager a[data-key='pager:older']")
    wait_for(browser, lambda b: rows(b, "requests-body")[0] == "100", "the second page")
    assert browser.current_url.endswith(f"/_batchsim/ui/batches/{batch_id}?offset=100")
    click(browser, "#requests-body tr[data-index] a")
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


# -- links, the keyboard and the URL ---------------------------------------------------------------------


def active_key(browser: Any) -> str | None:
    """The ``data-key`` of the element that has the focus."""
    return browser.execute_script("return document.activeElement && document.activeElement.dataset.key || null")


def test_batch_ids_are_links_the_keyboard_follows(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    batch_id = create(ui, 3)
    open_ui(browser, ui)
    wait_for(browser, lambda b: rows(b, "batches-body") == [batch_id], "the batch row")
    href = _now(browser, f"#batches-body tr[data-id='{batch_id}'] td.id a", "href")
    assert href == f"{ui.url}/_batchsim/ui/batches/{batch_id}"  # opens in a new tab too
    click(browser, f"#batches-body tr[data-id='{batch_id}'] td:nth-child(3)")  # the row is no button
    assert browser.current_url == f"{ui.url}/_batchsim/ui"
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(40):  # Tab from the top of the page to the batch's link
        if active_key(browser) == f"batch:{batch_id}":
            break
        body.send_keys(Keys.TAB) if _ == 0 else browser.switch_to.active_element.send_keys(Keys.TAB)
    assert active_key(browser) == f"batch:{batch_id}"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda b: b.current_url == f"{ui.url}/_batchsim/ui/batches/{batch_id}", "the batch's URL")
    wait_for(browser, lambda b: len(rows(b, "requests-body")) == 3, "the batch read from the URL")
    assert batch_id in text(browser, "batch-title")
    click(browser, "#requests-body a[data-index='1']")
    wait_for(browser, lambda b: "req-1" in text(b, "request-detail"), "the request")
    assert browser.current_url == f"{ui.url}/_batchsim/ui/batches/{batch_id}?request=1"
    browser.back()  # the URL without a request: none shown
    wait_for(browser, lambda b: text(b, "request-detail") == "Request\nPick a request.", "no request")
    browser.back()
    wait_for(browser, lambda b: rows(b, "batches-body") == [batch_id], "the overview again")
    assert console_errors(browser) == []


def test_an_old_fragment_link_lands_on_the_batch(ui: ServerProcess, browser: Any) -> None:
    batch_id = create(ui, 1)
    browser.get(f"{ui.url}/_batchsim/ui#/batch/{batch_id}")
    wait_for(browser, lambda b: b.current_url == f"{ui.url}/_batchsim/ui/batches/{batch_id}", "the batch's URL")


def test_focus_stays_where_it_was_when_the_page_redraws(ui: ServerProcess, browser: Any) -> None:
    batch_id = create(ui, 4)
    open_ui(browser, ui)
    wait_for(browser, lambda b: rows(b, "batches-body") == [batch_id], "the batch row")
    browser.execute_script(f"document.querySelector(\"a[data-key='batch:{batch_id}']\").focus()")
    assert active_key(browser) == f"batch:{batch_id}"
    ui.advance(3600)  # the row changes: the page draws it again
    wait_for(browser, lambda b: "4 succeeded" in text(b, "batches-body"), "the row drawn again")
    assert active_key(browser) == f"batch:{batch_id}"


def test_the_filters_live_in_the_url(ui: ServerProcess, browser: Any) -> None:

    running = create(ui, 2)
    ui.advance(3600)
    ended_id = running
    running = create(ui, 2)
    open_ui(browser, ui)
    wait_for(browser, lambda b: len(rows(b, "batches-body")) == 2, "both batches")
    click(browser, "#status-filter a[data-status='ended']")
    wait_for(browser, lambda b: rows(b, "batches-body") == [ended_id], "the ended batch only")
    assert browser.current_url == f"{ui.url}/_batchsim/ui?status=ended"
    browser.refresh()  # a reload keeps the filter: the server reads it too
    wait_for(browser, lambda b: rows(b, "batches-body") == [ended_id], "the filter after a reload")
    assert _now(browser, "#status-filter a[aria-current='true']", "data-status") == "ended"
    browser.back()
    wait_for(browser, lambda b: len(rows(b, "batches-body")) == 2, "both again")


# -- count bars ------------------------------------------------------------------------------------------


def bar(browser: Any, batch_id: str) -> tuple[str, float | None]:
    """The label of a batch row's count bar and the width of its in-progress shade (of 1000)."""
    found = browser.execute_script(
        "const row = document.querySelector(`#batches-body tr[data-id='${arguments[0]}']`);"
        "if (!row) return null;"
        "const shade = row.querySelector('rect.progress');"
        "return [row.querySelector('.bar-label').textContent, shade ? shade.getAttribute('width') : null];",
        batch_id,
    )
    if found is None:
        return "", None
    return str(found[0]), float(found[1]) if found[1] is not None else None


def test_count_bars_carry_their_numbers_and_the_shade_follows_requests(ui: ServerProcess, browser: Any) -> None:
    # One at a time, 10 s each: the batch takes 40 s, and after 25 s half its requests have finished.
    ui.control("PUT", "scenario", json={"timing": {"start_delay": 0, "per_request": 10, "concurrency": 1}})
    batch_id = create(ui, 4)
    open_ui(browser, ui)
    wait_for(browser, lambda b: bar(b, batch_id) == ("0 of 4 finished", 0.0), "no request finished")
    ui.advance(25)  # 2 of 4 finished at 62% of the batch's 40 s: the shade is at 2 of 4
    wait_for(browser, lambda b: bar(b, batch_id) == ("2 of 4 finished", 500.0), "two finished")
    ui.advance(60)
    wait_for(browser, lambda b: bar(b, batch_id)[0] == "4 succeeded", "the outcomes once ended")
    assert bar(browser, batch_id)[1] is None  # no shade once it has ended
    browser.get(f"{ui.url}/_batchsim/ui/batches/{batch_id}")
    wait_for(browser, lambda b: "4 succeeded" in text(b, "batch-summary"), "the batch's bar")
    assert console_errors(browser) == []


# -- cancel, delete, the seed and the scenario ----------------------------------------------------------------


def press(browser: Any, element_id: str) -> None:
    """A real click on a button that asks a question (a script's click would wait for the answer)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def pressed(b: Any) -> bool:
        try:
            b.find_element("id", element_id).click()
        except StaleElementReferenceException:  # drawn again meanwhile: look again
            return False
        return True

    wait_for(browser, pressed, f"a click on {element_id}")


def test_cancel_and_delete_ask_first(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.support import expected_conditions

    batch_id = create(ui, 6)
    open_ui(browser, ui, f"_batchsim/ui/batches/{batch_id}")
    wait_for(browser, lambda b: b.find_elements("id", "cancel-batch"), "the cancel button")
    assert not browser.find_elements("id", "delete-batch")  # a running batch cannot be deleted
    press(browser, "cancel-batch")
    alert = wait_for(browser, expected_conditions.alert_is_present(), "the question")
    assert batch_id in alert.text
    alert.dismiss()
    assert ui.control("GET", f"batches/{batch_id}").json()["cancel_initiated_at"] is None  # nothing done
    press(browser, "cancel-batch")
    wait_for(browser, expected_conditions.alert_is_present(), "the question again").accept()
    wait_for(browser, lambda b: text(b, "batch-status") in ("canceling", "ended"), "the batch canceled")
    assert ui.control("GET", f"batches/{batch_id}").json()["cancel_initiated_at"] is not None
    ui.advance(3600)
    wait_for(browser, lambda b: b.find_elements("id", "delete-batch"), "the delete button once ended")
    press(browser, "delete-batch")
    wait_for(browser, expected_conditions.alert_is_present(), "the delete question").accept()
    wait_for(browser, lambda b: b.current_url == f"{ui.url}/_batchsim/ui", "back to every batch")
    assert ui.control("GET", f"batches/{batch_id}").status_code == 404
    wait_for(browser, lambda b: rows(b, "batches-body") == [], "the batch gone")
    assert console_errors(browser) == []


def test_a_batch_shows_the_seed_and_scenario_it_was_created_under(ui: ServerProcess, browser: Any) -> None:
    ui.control("PUT", "scenario", json={"seed": 41, "timing": {"per_request": 7}}).raise_for_status()
    first = create(ui, 1)
    ui.control("PUT", "scenario", json={"seed": 9, "timing": {"per_request": 3}}).raise_for_status()
    second = create(ui, 1)
    for batch_id, seed, per_request in ((first, "41", 7), (second, "9", 3)):
        open_ui(browser, ui, f"_batchsim/ui/batches/{batch_id}")
        wait_for(browser, lambda b, seed=seed: text(b, "batch-seed") == seed, "the seed")  # type: ignore[misc]
        click(browser, "#batch-scenario summary")
        wait_for(browser, lambda b: text(b, "batch-scenario-json") != "", "the scenario shown")
        assert orjson.loads(text(browser, "batch-scenario-json"))["timing"]["per_request"] == per_request


# -- the journal ----------------------------------------------------------------------------------------------


def test_a_journal_row_opens_to_its_headers_and_body(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    create(ui, 2, prefix="opened")
    open_ui(browser, ui)
    wait_for(browser, lambda b: "create" in text(b, "journal-body"), "the create call")
    call_id = browser.execute_script("return document.querySelector('#journal-body tr[data-call]').dataset.call")
    toggle = f"#journal-body button[data-call='{call_id}']"
    browser.execute_script(f'document.querySelector("{toggle}").focus()')
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # the keyboard opens it
    wait_for(browser, lambda b: b.find_elements("id", f"call-{call_id}"), "the call's detail")
    wait_for(browser, lambda b: "opened-1" in text(b, f"call-{call_id}"), "its body")
    detail = text(browser, f"call-{call_id}")
    assert "authorization Bearer \u20261234" in detail  # the credential cut to its tail
    assert "dashboard-key-1234" not in browser.page_source
    assert "anthropic-version" in detail
    expanded = f'return document.querySelector("{toggle}").getAttribute("aria-expanded")'
    assert browser.execute_script(expanded) == "true"
    create(ui, 1)  # the journal redraws with a new call: the opened one stays open
    wait_for(browser, lambda b: len(b.find_elements("css selector", "#journal-body tr[data-call]")) == 2, "2 calls")
    assert "opened-1" in text(browser, f"call-{call_id}")
    assert active_key(browser) == f"call:{call_id}"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda b: not b.find_elements("id", f"call-{call_id}"), "the call closed")
    assert console_errors(browser) == []


# -- OpenAI beside Anthropic ------------------------------------------------------------------------------------


def openai_batch(server: ServerProcess, lines: list[bytes], key: str = "sk-proj-dashboard-7777") -> str:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
        upload = client.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(lines))), purpose="batch")
        return client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id


def chat(custom_id: str, body: dict[str, Any] | None = None) -> bytes:
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions"}
    return orjson.dumps(
        {**line, "body": body or {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}
    )


OPENAI_STATUSES = [
    "validating",
    "in_progress",
    "finalizing",
    "cancelling",
    "completed",
    "failed",
    "expired",
    "cancelled",
]


def test_openai_batches_beside_anthropic_ones(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    ui.control("PUT", "scenario", json={"rules": [{"custom_id": "^bad-", "result": "errored"}]}).raise_for_status()
    anthropic_id = create(ui, 2)
    done = openai_batch(ui, [chat("ok-1"), chat("bad-2")])
    failed = openai_batch(ui, [chat("no-messages", {"model": "gpt-4o-mini"}), b"{not json"])
    open_ui(browser, ui)
    wait_for(browser, lambda b: len(rows(b, "batches-body")) == 3, "three batches")
    Select(browser.find_element("id", "provider-filter")).select_by_value("openai")
    wait_for(browser, lambda b: sorted(rows(b, "batches-body")) == sorted([done, failed]), "OpenAI's only")
    assert browser.current_url == f"{ui.url}/_batchsim/ui?provider=openai"
    chips = browser.execute_script(
        "return [...document.querySelectorAll('#status-filter a')].map((a) => a.dataset.status)"
    )
    assert chips == ["", *OPENAI_STATUSES]  # its eight statuses, in lifecycle order
    assert anthropic_id not in text(browser, "batches-body")
    ui.advance(3600)
    click(browser, f"#batches-body tr[data-id='{done}'] a")
    wait_for(browser, lambda b: text(b, "batch-status") == "completed", "the completed batch")
    assert browser.execute_script("return document.getElementById('batch-provider').textContent") == "openai"
    wait_for(browser, lambda b: b.find_elements("id", "file-error"), "the error file link")
    with openai.OpenAI(base_url=f"{ui.url}/v1", api_key="sk-proj-dashboard-7777") as client:
        batch = client.batches.retrieve(done)
        for name, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            assert file_id is not None
            href = _now(browser, f"#file-{name}", "href")
            assert httpx2.get(href).content == client.files.content(file_id).content
    assert "cancel-batch" not in browser.page_source and "delete-batch" not in browser.page_source
    browser.get(f"{ui.url}/_batchsim/ui/batches/{failed}")
    wait_for(browser, lambda b: text(b, "batch-status") == "failed", "the failed batch")
    errors = text(browser, "batch-errors")
    assert "line 1: " in errors and "line 2: " in errors and "invalid_json_line" in errors
    assert console_errors(browser) == []


# -- before (or without) the script ------------------------------------------------------------------------


def test_without_its_script_the_page_shows_the_batches_and_a_batch(ui: ServerProcess, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    batch_id = create(ui, 3)
    ui.advance(3600)
    create(ui, 2, prefix="later")
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(f"{ui.url}/_batchsim/ui")
        table = browser.find_element(By.ID, "batches-body").text
        assert batch_id in table and "3 succeeded" in table and "0 of 2 finished" in table
        assert "create" in browser.find_element(By.ID, "journal-body").text
        assert text(browser, "clock-now") == "2026-01-01 01:00:00"
        assert browser.find_element(By.ID, "view").get_attribute("data-ready") is None  # no script ran
        browser.find_element(By.CSS_SELECTOR, f"#batches-body a[href$='{batch_id}']").click()
        assert browser.current_url == f"{ui.url}/_batchsim/ui/batches/{batch_id}"
        assert text(browser, "batch-status") == "ended"
        assert [r.text.split()[1] for r in browser.find_elements(By.CSS_SELECTOR, "#requests-body tr")] == [
            "req-0",
            "req-1",
            "req-2",
        ]
        browser.find_element(By.CSS_SELECTOR, "#requests-body a[data-index='1']").click()
        assert "req-1" in text(browser, "request-detail") and '"succeeded"' in text(browser, "request-result")
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
