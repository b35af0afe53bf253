"""The scenario's ``[openai]`` section and OpenAI's fault endpoint names: loaded from TOML, JSON,
Python and over the control plane, unknown keys and bad values refused naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openai_helpers import chat_lines, start

from batchsim import Emulator, Scenario
from batchsim._engine.scenario import ScenarioError

TOML = """
seed = 4
[timing]
per_request = 30
[openai]
validating = 60
finalizing = 5
cancelling = 120
missing_input_file = "reject"
count_expired_as_failed = true
models = ["gpt-4o-mini"]
[[faults]]
endpoint = "files.content"
kind = "truncate"
times = 1
[[faults]]
endpoint = "batches.create"
status = 429
rate = 0.5
"""


def test_the_openai_section_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(TOML)
    scenario = Scenario.load(path)
    section = scenario.section("openai")
    assert (section.validating, section.finalizing, section.cancelling) == (60.0, 5.0, 120.0)
    assert (section.missing_input_file, section.count_expired_as_failed, section.models) == (
        "reject",
        True,
        ("gpt-4o-mini",),
    )
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert scenario.to_dict()["openai"]["models"] == ["gpt-4o-mini"]
    assert [f.endpoint for f in scenario.faults] == ["files.content", "batches.create"]
    assert Scenario().section("openai").validating == 10.0  # the defaults when there is no section


def test_the_section_drives_the_lifecycle() -> None:
    sim = Emulator(scenario={"openai": {"validating": 60, "finalizing": 5}, "timing": {"start_delay": 0}})
    with sim.openai_client(max_retries=0) as client:
        batch = start(client, chat_lines(2))
        sim.advance(59)
        assert client.batches.retrieve(batch.id).status == "validating"
        sim.advance(1)
        assert client.batches.retrieve(batch.id).status == "in_progress"
        sim.advance(2)  # the requests take 2 s
        assert client.batches.retrieve(batch.id).status == "finalizing"
        sim.advance(5)
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.completed_at == done.created_at + 67
    sim.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"openai": {"validate": 3}}, "openai.validate: unknown key (allowed: cancelling, count_expired_as_failed"),
        ({"openai": {"validating": -1}}, "openai.validating: must be between 0 and 2592000, got -1"),
        ({"openai": {"finalizing": "soon"}}, "openai.finalizing: expected a number of seconds, got 'soon'"),
        ({"openai": {"missing_input_file": "ignore"}}, "openai.missing_input_file: expected one of fail, reject"),
        ({"openai": {"count_expired_as_failed": 1}}, "openai.count_expired_as_failed: expected true or false"),
        ({"openai": {"models": "gpt-4o"}}, "openai.models: expected a list of model names"),
        ({"openai": 3}, "openai: expected a table/object"),
        ({"faults": [{"endpoint": "files.upload", "times": 1}]}, "faults.0.endpoint: expected one of"),
        (
            {"faults": [{"endpoint": "batches.retrieve", "kind": "truncate", "times": 1}]},
            "faults.0.kind: truncate applies to the results and other streamed answers only",
        ),
    ],
)
def test_bad_openai_settings_are_refused_naming_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict(data)
    assert str(caught.value).startswith(message)


def test_every_openai_endpoint_name_is_a_fault_endpoint() -> None:
    names = [
        "files.create",
        "files.retrieve",
        "files.list",
        "files.content",
        "files.delete",
        "batches.create",
        "batches.retrieve",
        "batches.list",
        "batches.cancel",
    ]
    scenario = Scenario.from_dict({"faults": [{"endpoint": name, "times": 1} for name in names]})
    assert [f.endpoint for f in scenario.faults] == names
