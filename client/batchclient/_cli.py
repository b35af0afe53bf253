"""The ``batchclient`` command: run, status, results and cancel."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import urllib.parse
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import anthropic

from ._errors import BatchClientError, JobTimeoutError
from ._input import MAX_BATCH_BYTES, MAX_BATCH_REQUESTS
from ._job import (
    Job,
    check_ours,
    check_writable,
    default_state_path,
    open_existing,
    recorded_batch,
    work_dir,
)
from ._progress import Progress
from ._report import load_prices
from ._runner import BatchRunner
from ._state import JobState

__all__ = ["main"]


def _version() -> str:
    """The installed distribution's version (batchclient ships inside the batchsim distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("batchsim")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "unknown"


_DESCRIPTION = """\
Run Message Batches jobs with the official anthropic SDK: a JSONL file of
{"custom_id": ..., "params": {...}} requests in, every result out in input order.
"""

_EPILOG = """\
examples:
  # against the emulator (any key works there; its scaled clock makes an hour pass per second)
  batchsim serve --port 8000 --clock scaled:3600 &
  export ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=test
  batchclient run fixtures/requests/summarize.jsonl -o summaries.jsonl --retries 2
  batchclient status summaries.jsonl.job.json      # a job: its batches and what is saved
  batchclient status msgbatch_01AbCd...            # one batch
  batchclient results msgbatch_01AbCd... -o b.jsonl
  batchclient cancel summaries.jsonl.job.json      # cancel the job's live batches

  # production: unset ANTHROPIC_BASE_URL (or --base-url https://api.anthropic.com)
  # and set ANTHROPIC_API_KEY to a real key. Nothing else changes.

resume: the job state file (--state, default OUT.job.json, with a work folder beside it)
records every batch. After a crash, Ctrl-C or kill, run the same command again: it continues
without submitting anything twice or losing a result. On Ctrl-C, `run` asks whether to cancel
the job's live batches (or does it with --cancel-on-interrupt).

exit status of run: 0 every request succeeded; 1 finished, some requests did not succeed (see
the report); 2 bad input, arguments or state; 3 --max-wait reached (run again to continue);
130 interrupted (run again to continue). `results JOB` exits 3 when the job is not finished
(it writes the results saved so far and says where the job stands).
"""

_RUN_EPILOG = """\
The input is checked before anything is sent (malformed lines, custom_id rules, duplicates:
each problem is named with its line number). Requests are cut into batches under the API
limits (100,000 requests, 256 MB). Errored requests worth retrying (any error but
invalid_request_error / request_too_large) and expired ones are sent again with their
original params, for up to --retries more rounds. The report gives counts by outcome, token
usage and a cost estimate (standard vs batch prices; --prices FILE overrides entries of the table with
{"model-prefix": {"input": 3.0, "output": 15.0}} in dollars per million tokens).
"""


def _client(args: argparse.Namespace) -> anthropic.Anthropic:
    if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        raise BatchClientError("set ANTHROPIC_API_KEY (any value works against batchsim)")
    kwargs: dict[str, object] = {"max_retries": args.max_retries}
    if args.base_url:
        kwargs["base_url"] = args.base_url
    return anthropic.Anthropic(**kwargs)  # type: ignore[arg-type]


def _runner(args: argparse.Namespace, stack: ExitStack, **extra: object) -> BatchRunner:
    """A runner whose SDK client is closed when the command ends (with ``stack``)."""
    progress = Progress(None if getattr(args, "quiet", False) else sys.stderr)
    client = stack.enter_context(_client(args))
    return BatchRunner(client, progress=progress, **extra)  # type: ignore[arg-type]


def _is_job(target: str) -> bool:
    return target.endswith(".json") or os.path.exists(target)


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="batchclient", description=_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"batchclient {_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-url", help="API root, without /v1 (default: ANTHROPIC_BASE_URL, else production)")
    common.add_argument("--max-retries", type=int, default=2, help="retries inside the SDK per call (default 2)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", parents=[common], help="run a job to the end (or continue it)", epilog=_RUN_EPILOG, formatter_class=fmt
    )
    run.add_argument("input", metavar="IN.jsonl", help="requests, one JSON object per line")
    run.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="results file to write")
    run.add_argument("--retries", type=int, default=2, help="retry rounds for failed requests (default 2)")
    run.add_argument("--state", help="job state file (default OUT.jsonl.job.json)")
    run.add_argument("--max-wait", type=float, help="give up waiting after this many seconds (resumable)")
    run.add_argument("--poll-interval", type=float, default=5.0, help="first poll delay, seconds (default 5)")
    run.add_argument("--max-poll-interval", type=float, default=60.0, help="longest poll delay, seconds (default 60)")
    run.add_argument(
        "--batch-size", type=int, default=MAX_BATCH_REQUESTS, help="most requests per batch (default 100000)"
    )
    run.add_argument(
        "--batch-bytes", type=int, default=MAX_BATCH_BYTES, help="most body bytes per batch (default 256 MB)"
    )
    run.add_argument("--prices", metavar="FILE", help="JSON price table for the cost estimate")
    run.add_argument("--report-json", metavar="FILE", help="also write the report as JSON")
    run.add_argument("--cancel-on-interrupt", action="store_true", help="on Ctrl-C, cancel live batches without asking")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output, only the report")

    for name, text in (
        ("status", "show a job (state file) or a batch (id)"),
        ("results", "write the results of a job or a batch"),
        ("cancel", "cancel a job's live batches, or one batch"),
    ):
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.add_argument("target", metavar="JOB_OR_BATCH", help="a job state file, or a batch id (msgbatch_...)")
        if name == "results":
            p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return parser


def _run(args: argparse.Namespace, stack: ExitStack) -> int:
    prices = load_prices(args.prices) if args.prices else None
    runner = _runner(
        args,
        stack,
        poll_interval=args.poll_interval,
        max_poll_interval=args.max_poll_interval,
        max_wait=args.max_wait,
        max_batch_requests=args.batch_size,
        max_batch_bytes=args.batch_bytes,
        prices=prices,
    )
    state = Path(args.state) if args.state else default_state_path(Path(args.output))
    # Every file the job writes, checked before anything is submitted (not after a long job).
    check_writable(Path(args.output), "-o")
    check_writable(state, "--state" if args.state else "the job state")
    if args.report_json:
        check_writable(Path(args.report_json), "--report-json")
    fresh = not state.exists()
    # The input next, before any network: every problem of every line is reported even when the
    # URL is wrong too (the job is opened and indexed here; run() continues from it).
    Job.open(runner.api, runner.settings, runner.progress, args.input, Path(args.output), state).close()
    if fresh:
        try:
            _reachable(runner.api.client)  # nothing submitted yet: a wrong URL fails now, not after minutes
        except BatchClientError:
            _forget(state)  # as if never run: nothing was submitted
            raise
    try:
        outcome = runner.run(args.input, args.output, retries=args.retries, state=state)
    except KeyboardInterrupt:
        runner.progress.close()
        return _interrupted(runner, state, args.cancel_on_interrupt)
    except JobTimeoutError as exc:
        print(f"batchclient: {exc}", file=sys.stderr)
        return 3
    print(outcome.report.to_text())
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(outcome.report.to_dict(), indent=1), encoding="utf-8")
    return 0 if outcome.ok else 1


def _reachable(client: anthropic.Anthropic) -> None:
    """Fail at once, naming the URL, when nothing listens there (connection refused, unknown host)."""
    url = urllib.parse.urlsplit(str(client.base_url))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=10).close()
    except (ConnectionRefusedError, socket.gaierror) as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else f"unknown host ({exc})"
        raise BatchClientError(f"cannot reach {client.base_url}: {reason}; nothing was submitted") from None
    except OSError:
        pass  # slow or filtered: the SDK's own timeouts and retries decide


def _forget(state: Path) -> None:
    """Remove a job state file and its work folder that this run has just created."""
    state.unlink(missing_ok=True)
    shutil.rmtree(work_dir(state), ignore_errors=True)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # CI cancels a job with SIGTERM: stop as on Ctrl-C


def _interrupted(runner: BatchRunner, state: Path, cancel: bool) -> int:
    if not state.exists():
        print("\ninterrupted before anything was submitted", file=sys.stderr)
        return 130
    live = [c.batch_id for c in runner.job_state(state).chunks if c.live]
    if live and not cancel and sys.stdin.isatty():
        try:
            answer = input(f"\ninterrupted. Cancel the job's {len(live)} live batch(es)? [y/N] ")
        except (KeyboardInterrupt, EOFError):
            answer = ""
        cancel = answer.strip().lower() in ("y", "yes")
    if live and cancel:
        canceled = runner.cancel(state)
        print(f"canceled {len(canceled)} batch(es); run the same command again to collect their results")
    else:
        print(f"\ninterrupted; run the same command again to continue (state: {state})", file=sys.stderr)
    return 130


def _status(args: argparse.Namespace, stack: ExitStack) -> int:
    runner = _runner(args, stack)
    if not _is_job(args.target):
        print(runner.api.retrieve(args.target).to_json())
        return 0
    state = runner.job_state(args.target)
    print(
        f"job: {state.requests:,} requests from {state.input_path or 'an iterable'} -> {state.output}"
        f" ({'finished' if state.finished else 'canceled' if state.canceled else 'not finished'})"
    )
    for c in state.chunks:
        if c.batch_id is None:
            where = "intent recorded, not confirmed" if c.intent_at else "not submitted"
        elif c.saved:
            where = "results saved: " + ", ".join(f"{n} {k}" for k, n in sorted(c.counts.items()))
        else:
            with recorded_batch(runner.api, Path(args.target), c.batch_id):
                batch = runner.api.retrieve(c.batch_id)
                check_ours(runner.api, Path(args.target), c, batch)
                where = batch.processing_status
        print(f"round {c.round} batch {c.chunk}: {c.batch_id or '-'} {c.requests:,} requests, {where}")
    return 0


def _results(args: argparse.Namespace, stack: ExitStack) -> int:
    runner = _runner(args, stack)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    unfinished = None
    try:
        if _is_job(args.target):
            job = open_existing(runner.api, runner.settings, runner.progress, Path(args.target))
            written = 0
            try:
                for line in job.store.output_lines(include_missing=False):
                    out.write(line + "\n")
                    written += 1
            finally:
                job.close()
            if not job.state.finished:
                unfinished = _unfinished(job.state, args.target, written)
        else:
            with runner.api.result_lines(args.target) as lines:
                for line in lines:
                    out.write(line + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if unfinished:
        print(f"batchclient: {unfinished}", file=sys.stderr)
        return 3
    return 0


def _unfinished(state: JobState, target: str, written: int) -> str:
    """Where an unfinished job stands (from its state file alone) and how to finish it."""
    ids = state.batch_ids()
    if state.canceled:
        where = "it was canceled and not run again since"
    elif not ids:
        where = "nothing was submitted yet"
    else:
        chunks = state.round_chunks(state.rounds - 1)
        ended = sum(c.ended for c in chunks)
        where = f"round {state.rounds - 1}: {ended} of {len(chunks)} batch(es) ended when it last looked"
    rerun = (
        f"batchclient run {state.input_path} -o {state.output} --state {target}"
        if state.input_path
        else "the program that started it"
    )
    return (
        f"job {target} is not finished ({where}); wrote the results saved so far, {written:,} of"
        f" {state.requests:,} requests. Run {rerun} again to finish it"
    )


def _cancel(args: argparse.Namespace, stack: ExitStack) -> int:
    runner = _runner(args, stack)
    if _is_job(args.target):
        canceled = runner.cancel(args.target)
        print(f"canceled {len(canceled)} live batch(es): {' '.join(canceled) or '-'}")
        if canceled:
            print("run the job again to collect what they finished")
    else:
        batch = runner.api.cancel(args.target)
        print(f"{batch.id}: {batch.processing_status}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `batchclient status | head`: the reader left, which is no error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's last flush at exit must not fail again
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    commands = {"run": _run, "status": _status, "results": _results, "cancel": _cancel}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with ExitStack() as stack:
            return commands[args.command](args, stack)
    except anthropic.APIConnectionError as exc:
        url = exc.request.url if getattr(exc, "request", None) is not None else "the API"
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        print(f"batchclient: cannot reach {url}: {exc}{cause}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # not a problem of the job: main() handles it
    except (BatchClientError, anthropic.APIError, OSError, ValueError) as exc:
        print(f"batchclient: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
