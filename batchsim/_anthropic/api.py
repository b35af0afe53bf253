"""The six operations of the Message Batches API in wire form: bytes in, encoded JSON out.

This is the moto-style "responses" layer: it parses and validates create bodies, calls the
provider-neutral :class:`~batchsim._engine.service.BatchService`, and encodes its answers as the
API does. The routes (:mod:`.routes`) only read the request and send what this returns.

Wrong-state answers (the API does not document them; these are our choices): cancel of an ended
batch, delete of one that has not ended ("cancel it first"), results of one that has not ended:
400 ``invalid_request_error``; results after archiving (29 days after creation), anything on an
unknown or deleted id or another key's batch: 404 ``not_found_error``; a list cursor this key
never created, or both cursors (unless the scenario's ``list_both_cursors`` makes one win): 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial

import orjson

from .._engine.batch import DAY, Batch, Canned, Policy
from .._engine.errors import InvalidError, NotFoundError
from .._engine.ids import IdFormat
from .._engine.ports import Entry
from .._engine.scenario import Scenario
from .._engine.service import BatchService, results_key
from .catalogue import catalogue_for
from .files import AnthropicFiles, file_problem, late_problems, referenced_files
from .responder import Responder, load_canned
from .traits import NAME
from .validation import ParsedCreate, parse_create
from .wire import ARCHIVE_AFTER, batch_json, result_chunks, status_name

__all__ = [
    "BATCH_IDS",
    "DEFAULT_LIMIT",
    "FILE_MIN_REQUESTS",
    "MAX_LIMIT",
    "Created",
    "MessageBatches",
    "canned_of",
    "policy",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
FILE_MIN_REQUESTS = 1000
"""Batches with fewer requests generate their results at each download (a few milliseconds at
most); larger ones have their results file written ahead after the create and read back."""
BATCH_IDS = IdFormat("msgbatch_", 22, lead="01")
WHAT = "message batch"


def policy(scenario: Scenario) -> Policy:
    """Anthropic's batches: a 24-hour window, no validating or finalizing phase to see."""
    return Policy(window=DAY)


def canned_of(scenario: Scenario) -> dict[str, Canned]:
    """The canned results of Anthropic's format a scenario names (read from its file)."""
    return load_canned(scenario.canned) if scenario.canned else {}


class Created:
    """A create's answer and the work left for after it is sent (see :meth:`MessageBatches.create`);
    ``large`` says whether that work is long enough (tens of milliseconds) to be run off the
    event loop."""

    __slots__ = ("answer", "finish", "large")

    def __init__(self, answer: bytes, finish: Callable[[], None], large: bool) -> None:
        self.answer = answer
        self.finish = finish
        self.large = large


class _Problems:
    """A params check given as found problems (see :class:`~batchsim._engine.batch.ParamsCheck`)."""

    def __init__(self, problems: dict[int, str]) -> None:
        self.problems = problems

    def check_params(self) -> dict[int, str]:
        return self.problems

    def release(self) -> None:
        """Nothing held."""


class _WithFiles:
    """The params check of a create whose requests reference uploaded files: the parsed body's
    problems, then "File not found" for a request naming a file its key could not use."""

    def __init__(self, parsed: ParsedCreate, refs: dict[int, list[str]], files: dict[str, object]) -> None:
        self.parsed = parsed
        self.refs = refs
        self.files = files

    def check_params(self) -> dict[int, str]:
        invalid = dict(self.parsed.check_params())
        for i, file_ids in self.refs.items():
            if i not in invalid:
                missing = next((f for f in file_ids if self.files.get(f) is None), None)
                if missing is not None:
                    invalid[i] = file_problem(missing)
        return invalid

    def release(self) -> None:
        self.parsed.release()


_PAGES = 64
"""List answers kept (the most recent cursors and limits polled)."""
_PAGE_BYTES = 64 * 1024
"""The largest list answer kept (a page of about a hundred batches): what polling clients ask
for; larger pages are built each time, so the kept ones hold at most 4 MiB."""
_PAGE_EMPTY_FOR = 1 << 62
"""An empty page holds until the store changes."""


def _settled(batch: Batch) -> bool:
    """Whether nothing but the clock changes the batch's JSON (a batch whose requests read
    uploaded files can still change once it ends, see :meth:`MessageBatches.settle`)."""
    return "files" not in batch.attrs or bool(batch.memo.get("files-settled"))


class MessageBatches:
    """Create, retrieve, list, cancel, delete and stream results of message batches."""

    def __init__(
        self, service: BatchService, responder: Responder | None = None, files: AnthropicFiles | None = None
    ) -> None:
        self.service = service
        self.responder = responder
        self.files = files
        self._pages: dict[tuple[object, ...], tuple[int, int, int, bytes]] = {}
        """List answers by (workspace, limit, cursors, base URL): the store's change count when
        built and the span of time they hold for (see :meth:`list`)."""

    @property
    def scenario(self) -> Scenario:
        return self.service.scenario

    def create(self, workspace: str, body: bytes, base_url: str, *, version: str | None = None) -> Created:
        """Create a batch from a create body sent with ``anthropic-version: version`` (its params
        are judged by that version's rules, see ``versions``; the version is kept with the
        batch). The answer is ready at once; :attr:`Created.finish` does what the answer does not
        need, to run once it is sent: checking each request's params where the plan does not
        depend on them (the API too checks them after accepting a batch), freeing the parsed
        body, and starting the write-ahead of large results."""
        service = self.service
        models = catalogue_for(service.scenario.section(NAME)).check(service.clock.now())
        parsed = parse_create(body, keep_body=True, check_params=False, version=version, models=models)
        check: ParsedCreate | _WithFiles = parsed
        attrs: dict[str, object] = {"version": version} if version else {}
        try:
            refs = referenced_files(parsed.params) if self.files is not None else {}
            if refs and self.files is not None:
                known = self.files.known(workspace, sorted({f for ids in refs.values() for f in ids}))
                attrs["files"] = known
                check = _WithFiles(parsed, refs, dict(known))
            batch = service.create(workspace, parsed.custom_ids, parsed.params, check, attrs=attrs or None)
        except BaseException:
            parsed.release()
            raise
        answer = batch_json(batch, None, service.clock.now(), base_url)
        results = service.results
        # Results of a batch whose requests read uploaded files depend on deletions still to come:
        # they are written only once it has ended.
        write = results is not None and self.responder is None and batch.size >= FILE_MIN_REQUESTS and not refs

        promised = results.promise() if write and results is not None else None

        def finish() -> None:
            try:
                try:
                    service.finish(batch)
                finally:
                    parsed.release()
                if write and results is not None:
                    results.write_ahead(results_key(batch, None), partial(result_chunks, batch, None))
            finally:
                if promised is not None:
                    promised()

        return Created(answer, finish, batch.size >= FILE_MIN_REQUESTS)

    def settle(self, entry: Entry, now: int) -> None:
        """Once a batch whose requests read uploaded files has ended, make the requests that
        finished after their file was deleted or had expired end ``errored`` (before anything
        shows its outcomes; nothing changes them afterwards)."""
        batch = entry.batch
        if "files" not in batch.attrs or batch.memo.get("files-settled") or self.files is None:
            return
        if now < batch.ended_at(entry.cancel_initiated_at):
            return
        store, workspace = self.files.files, batch.workspace
        deleted = {file_id: store.deleted_at(workspace, file_id) for file_id in batch.attrs["files"] or {}}
        problems = late_problems(batch, deleted)
        if problems:
            _apply(batch, problems)
        batch.memo["files-settled"] = True

    def retrieve(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        entry = self.service.get(workspace, batch_id)
        now = self.service.clock.now()
        self.settle(entry, now)
        return batch_json(entry.batch, entry.cancel_initiated_at, now, base_url)

    def list(
        self,
        workspace: str,
        base_url: str,
        limit: int = DEFAULT_LIMIT,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> bytes:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidError(f"limit: Input should be between 1 and {MAX_LIMIT}")
        if after_id is not None and before_id is not None:
            both = self.service.scenario.list_both_cursors
            if both == "error":
                raise InvalidError("Only one of after_id and before_id may be given")
            after_id, before_id = (after_id, None) if both == "after_id" else (None, before_id)
        service = self.service
        now = service.clock.now()
        # A store that counts its changes (in memory) lets a page be answered again while no
        # batch was added, canceled or deleted and "now" stays inside the span every batch of
        # it shows the same JSON (see wire.batch_json): a client polling the list costs a look-up.
        changes: int | None = getattr(service.store, "changes", None)
        key = (workspace, limit, after_id, before_id, base_url)
        if changes is not None:
            known = self._pages.get(key)
            if known is not None and known[0] == changes and known[1] <= now < known[2]:
                return known[3]
        page = service.page(workspace, limit, after_id, before_id)
        entries = page.entries
        for entry in entries:
            self.settle(entry, now)
        data = b",".join([batch_json(e.batch, e.cancel_initiated_at, now, base_url) for e in entries])
        if entries:
            first, last = orjson.dumps(entries[0].batch.id), orjson.dumps(entries[-1].batch.id)
        else:
            first = last = b"null"
        more = b"true" if page.has_more else b"false"
        answer = b'{"data":[%b],"has_more":%b,"first_id":%b,"last_id":%b}' % (data, more, first, last)
        if changes is not None and len(answer) <= _PAGE_BYTES and all(_settled(e.batch) for e in entries):
            spans = [e.batch.memo.get("json-last") or (now, now + 1) for e in entries]
            start = max((s[0] for s in spans), default=now)
            end = min((s[1] for s in spans), default=_PAGE_EMPTY_FOR)
            if len(self._pages) >= _PAGES:
                self._pages.clear()
            self._pages[key] = (changes, start, end, answer)
        return answer

    def cancel(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        entry = self.service.cancel(workspace, batch_id)
        now = self.service.clock.now()
        self.settle(entry, now)
        return batch_json(entry.batch, entry.cancel_initiated_at, now, base_url)

    def delete(self, workspace: str, batch_id: str) -> bytes:
        self.service.delete(workspace, batch_id)
        return orjson.dumps({"id": batch_id, "type": "message_batch_deleted"})

    def ended(self, workspace: str, batch_id: str) -> Entry:
        """The batch whose results are asked for: it must have ended and not be archived."""
        entry = self.service.get(workspace, batch_id)
        batch = entry.batch
        now = self.service.clock.now()
        status = status_name(batch, now, entry.cancel_initiated_at)
        if status != "ended":
            raise InvalidError(
                f"Message batch {batch_id} is {status}; results are available once processing has ended."
            )
        if now >= batch.created_at + ARCHIVE_AFTER:
            raise NotFoundError(
                WHAT,
                batch_id,
                f"Results of message batch {batch_id} are no longer available: results are kept for "
                "29 days after creation.",
            )
        return entry

    def results(self, workspace: str, batch_id: str) -> AsyncIterator[bytes]:
        """The results JSONL in chunks. Checks happen here, before the first chunk is asked for."""
        return self.stream(self.ended(workspace, batch_id))

    def stream(self, entry: Entry) -> AsyncIterator[bytes]:
        """The results JSONL of an ended batch (from its results file when it is large)."""
        self.settle(entry, self.service.clock.now())
        batch, cancel_at = entry.batch, entry.cancel_initiated_at
        results = self.service.results
        if self.responder is not None or results is None or batch.size < FILE_MIN_REQUESTS:
            return _generated(result_chunks(batch, cancel_at, self.responder))
        return results.stream(results_key(batch, cancel_at), partial(result_chunks, batch, cancel_at))


def _apply(batch: Batch, problems: dict[int, str]) -> None:
    """Make the requests of ``problems`` end ``errored`` with them (the engine's deferred params
    check, given found problems)."""
    batch.check_params()  # any check still pending goes first
    batch.check_params_later(_Problems(problems))
    batch.check_params()


async def _generated(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
