"""``batchsim drift``'s command: the provider's script (:class:`~.drift.AnthropicRun`,
:class:`~.drift_openai.OpenAIRun`, :class:`~.drift_gemini.GeminiRun`) run against the upstream and
the emulator, and its report. Apart from :mod:`.drift` so that the scripts depend on the shared
machinery and nothing depends back on them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from urllib.parse import urlsplit

import httpx2

from .drift import AnthropicRun, DriftError, Run, Target, local_target, table
from .drift_gemini import GeminiRun
from .drift_openai import OpenAIRun
from .text import printable
from .upstreams import ANTHROPIC, UPSTREAMS, Upstream

__all__ = ["main"]


def _url_problem(option: str, url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.port != 0:
            return None
    except ValueError:  # a port out of range, a broken IPv6 address
        pass
    return f"{option} must be an http(s) URL, got {printable(repr(url))}"


def _run_class(api: Upstream) -> type[Run]:
    if api.name == "openai":
        return OpenAIRun
    if api.name == "gemini":
        return GeminiRun
    return AnthropicRun


def main(args: argparse.Namespace) -> int:
    """Exit status: 0 no difference, 1 differences (an answer drift cannot read is one), 2 the
    comparison could not run (no key, a bad URL, the upstream unreachable or refusing the batch)."""
    api = UPSTREAMS[getattr(args, "provider", None) or ANTHROPIC.name]
    key = next((os.environ[name] for name in api.key_env if os.environ.get(name)), None)
    if not key:
        print(f"batchsim drift: set {' or '.join(api.key_env)} to the upstream's key", file=sys.stderr)
        return 2
    upstream = args.upstream or api.url
    for option, url in (("--upstream", upstream), ("--local", args.local)):
        problem = None if url is None else _url_problem(option, url)
        if problem is not None:
            print(f"batchsim drift: {problem}", file=sys.stderr)
            return 2
    timeout = float(getattr(args, "timeout", None) or 120.0)
    with (
        httpx2.Client(base_url=upstream.rstrip("/"), timeout=timeout) as http,
        local_target(args.local, args.poll, api) as local,
    ):
        target = Target("upstream", http, key, api=api, poll=args.poll, timeout=timeout)
        run = _run_class(api)(target, local, args.model or api.model, args.max_wait)
        try:
            run.steps()
        except DriftError as exc:
            print(f"batchsim drift: {printable(str(exc))}", file=sys.stderr)
            return 2
        finally:
            run.clean_up()
    if args.json:
        report = {
            "upstream": upstream,
            "provider": api.name,
            "differences": [d.__dict__ for d in run.differences],
            "notes": run.notes,
            "batches": run.report(),
        }
        print(json.dumps(report, indent=2))  # ASCII only: every control character escaped
    else:
        for note in run.notes:
            print(f"note: {printable(note)}")
        if run.differences:
            print(f"{len(run.differences)} difference(s) between {printable(upstream)} and the emulator:\n")
            print(table(run.differences))
        else:
            print(f"no differences between {printable(upstream)} and the emulator")
    return 1 if run.differences else 0
