"""A job's state records batch ids; a server that lost its batches (restarted without ``--db``,
reset) may give such an id to another client's batch. batchclient must notice a batch that is
not its own and stop, nothing written, instead of taking that batch's results for the job's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serverproc import ServerProcess

from batchclient import JobTimeoutError

from .conftest import FAST_POLL, cli, client_for, make_runner, requests_for, write_jsonl

pytestmark = pytest.mark.server


def start_job(server: ServerProcess, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A job of three requests, submitted and left waiting (the virtual clock stands still)."""
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["j-0", "j-1", "j-2"]))
    out, state = tmp_path / "out.jsonl", tmp_path / "out.jsonl.job.json"
    with pytest.raises(JobTimeoutError):
        make_runner(server, max_wait=0.2).run(source, out)
    return source, out, state


def another_batch(server: ServerProcess, ids: list[str]) -> str:
    return client_for(server, max_retries=0).messages.batches.create(requests=requests_for(ids)).id  # type: ignore[arg-type]


def one_line_error(done: object) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchclient: "), lines
    return str(lines[0])


def test_a_job_resumed_after_a_reset_writes_no_other_clients_results(
    fresh_server: ServerProcess, tmp_path: Path
) -> None:
    source, out, _ = start_job(fresh_server, tmp_path)
    fresh_server.control("POST", "reset").raise_for_status()
    another_batch(fresh_server, ["o-0", "o-1", "o-2"])  # may get the very id the job recorded
    fresh_server.advance(3600)
    done = cli(fresh_server, "run", str(source), "-o", str(out), *FAST_POLL)
    line = one_line_error(done)
    assert "is not the one the job state" in line or "does not know" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("other", "later", "says"),
    [
        (["o-0", "o-1", "o-2", "o-3", "o-4"], 0, "(5 requests, not 3)"),
        (["o-0", "o-1", "o-2"], 60, "(created at 2026-01-01T00:01:00+00:00, not 2026-01-01T00:00:00+00:00)"),
        (["o-0", "o-1", "o-2"], 0, "(its results hold custom_id 'o-"),  # the first line it read
    ],
)
def test_a_batch_that_is_not_the_jobs_is_refused(
    fresh_server: ServerProcess, tmp_path: Path, other: list[str], later: float, says: str
) -> None:
    """The server's batch under the recorded id has another request count, another creation
    time, or (same count, same time: a reset virtual clock) other custom_ids."""
    source, out, state = start_job(fresh_server, tmp_path)
    fresh_server.control("POST", "reset").raise_for_status()
    if later:
        fresh_server.advance(later)
    foreign = another_batch(fresh_server, other)
    recorded = json.loads(state.read_text())
    recorded["chunks"][0]["batch_id"] = foreign  # the server gave the job's id to this batch
    state.write_text(json.dumps(recorded))

    if "custom_id" not in says:  # status and cancel look at the batch itself, and leave it alone
        assert says in one_line_error(cli(fresh_server, "status", str(state)))
        assert says in one_line_error(cli(fresh_server, "cancel", str(state)))
        batch = client_for(fresh_server).messages.batches.retrieve(foreign)
        assert batch.processing_status == "in_progress"
    fresh_server.advance(3600)
    line = one_line_error(cli(fresh_server, "run", str(source), "-o", str(out), *FAST_POLL))
    assert f"batch {foreign} at {fresh_server.url}" in line
    assert says in line
    assert "delete" in line and str(state) in line
    assert not out.exists()
