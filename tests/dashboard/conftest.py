"""A headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by selenium, and a real
``batchsim serve`` process for it to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serverproc import ServerProcess, running_server

CHROMIUM = os.environ.get("BATCHSIM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BATCHSIM_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 60.0  # seconds: generous, for a loaded machine; a passing test never waits this long


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make install puts it in the dev extras)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) and shutil.which(path) is None:
            return f"{path} not found: install Debian's {package} (.ci/run does, as root)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (console messages are kept for the tests to read)."""
    missing = _missing()
    if missing is not None:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium never downloads a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def ui_server() -> Iterator[ServerProcess]:
    with running_server() as proc:
        yield proc


@pytest.fixture
def ui(ui_server: ServerProcess, browser: Any) -> ServerProcess:
    """The server, reset, with the browser's console log emptied."""
    ui_server.control("POST", "reset").raise_for_status()
    browser.get("about:blank")
    browser.get_log("browser")
    return ui_server


def wait_for(browser: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws itself every 2 s: an element found a moment ago may be gone; look again.
    wait = WebDriverWait(browser, WAIT, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(condition, message=f"waited for {what}")


def click(browser: Any, selector: str) -> None:
    """Click the element ``selector`` finds now (the page redraws itself: no stale handle)."""
    found = browser.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) { e.click(); return true; } return false;", selector
    )
    assert found, f"nothing matches {selector}"


def console_errors(browser: Any) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
