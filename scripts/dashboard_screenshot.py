"""Take the README's screenshot of the dashboard (docs/dashboard.png; docs/dashboard-batch.png).

Runs a real ``batchsim serve``, creates a few Anthropic and OpenAI batches with a scenario that
errs, expires and injects faults, and photographs the page in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium). Run: ``.venv/bin/python scripts/dashboard_screenshot.py``.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import anthropic
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from serverproc import running_server  # noqa: E402

SCENARIO = {
    "seed": 7,
    "timing": {"per_request": 30, "concurrency": 40, "jitter": 0.5},
    "outcomes": {"errored": 0.08, "expired": 0.0, "error_types": {"overloaded_error": 2, "api_error": 1}},
    "faults": [{"endpoint": "retrieve", "status": 529, "rate": 0.2, "retry_after_ms": 1}],
}
PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Summarize."}]}


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with running_server() as server:
        server.control("PUT", "scenario", json=SCENARIO).raise_for_status()
        ids = []
        for n, key in ((400, "sk-ant-team-a-4f2c"), (120, "sk-ant-team-b-91de"), (1000, "sk-ant-team-a-4f2c")):
            with anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=5) as client:
                batch = client.messages.batches.create(
                    requests=[{"custom_id": f"doc-{i}", "params": PARAMS} for i in range(n)]  # type: ignore[misc]
                )
                ids.append(batch.id)
                server.advance(200)
                for _ in range(3):
                    client.messages.batches.retrieve(batch.id)
            if n == 120:  # an OpenAI batch beside them
                chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarize."}]}
                lines = [
                    json.dumps({"custom_id": f"doc-{i}", "method": "POST", "url": "/v1/chat/completions", "body": chat})
                    for i in range(250)
                ]
                with openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-proj-team-c-07b1") as oai:
                    upload = oai.files.create(file=("in.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch")
                    oai.batches.create(
                        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
                    )
                server.advance(200)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1150"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
        try:
            (ROOT / "docs").mkdir(exist_ok=True)
            for url, name in (
                (f"{server.url}/", "dashboard.png"),
                (f"{server.url}/_batchsim/ui/batches/{ids[2]}?request=6", "dashboard-batch.png"),
            ):
                driver.get(url)
                deadline = time.monotonic() + 60
                while not driver.execute_script("return document.getElementById('view').dataset.ready"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} did not draw within 60 s")
                    time.sleep(0.1)
                driver.save_screenshot(str(ROOT / "docs" / name))
        finally:
            driver.quit()
    print("wrote docs/dashboard.png and docs/dashboard-batch.png")


if __name__ == "__main__":
    main()
