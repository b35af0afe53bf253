// The official TypeScript SDK against a real `batchsim serve` (run by tests/server/test_typescript_sdk.py).
// Usage: node batch_flow.mjs   with BATCHSIM_URL set and @anthropic-ai/sdk resolvable (NODE_PATH).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');

const base = process.env.BATCHSIM_URL;
const steps = [];

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  steps.push(what);
}

async function control(method, path, body) {
  const response = await fetch(`${base}/_batchsim/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function rejects(promise, errorClass, what) {
  try {
    await promise;
  } catch (error) {
    check(error instanceof errorClass, `${what} (${error?.constructor?.name}: ${error?.message})`);
    return error;
  }
  throw new Error(`check failed: ${what} (no error)`);
}

const params = (i) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content: `Summarize item ${i}` }],
});
const client = new Anthropic({ baseURL: base, apiKey: 'ts-key', maxRetries: 0 });

// create
const ids = [];
for (let b = 0; b < 3; b++) {
  const requests = [0, 1, 2, 3, 4].map((i) => ({ custom_id: `b${b}-r${i}`, params: params(i) }));
  const batch = await client.messages.batches.create({ requests });
  check(batch.processing_status === 'in_progress' && batch.request_counts.processing === 5, 'create');
  ids.push(batch.id);
}

// list pagination: newest first, page by page and automatically
const first = await client.messages.batches.list({ limit: 2 });
check(first.data.length === 2 && first.has_more === true && first.hasNextPage(), 'list: a first page with more');
const second = await first.getNextPage();
check(second.data.length === 1 && second.data[0].id === ids[0] && !second.hasNextPage(), 'list: the last page');
const all = [];
for await (const batch of client.messages.batches.list({ limit: 2 })) all.push(batch.id);
check(JSON.stringify(all) === JSON.stringify([...ids].reverse()), 'list: auto-pagination, newest first');

// cancel, and wrong-state errors
const canceling = await client.messages.batches.cancel(ids[2]);
check(canceling.processing_status === 'canceling' && canceling.cancel_initiated_at !== null, 'cancel');
await rejects(client.messages.batches.delete(ids[0]), Anthropic.BadRequestError, 'delete before the end: BadRequestError');
await rejects(client.messages.batches.retrieve('msgbatch_nope'), Anthropic.NotFoundError, 'unknown id: NotFoundError');

// clock advance, then results streaming
await control('POST', 'clock/advance', { seconds: 3600 });
const ended = await client.messages.batches.retrieve(ids[0]);
check(ended.processing_status === 'ended' && ended.request_counts.succeeded === 5 && ended.results_url, 'ended after advance');
const results = [];
for await (const line of await client.messages.batches.results(ids[0])) results.push(line);
check(results.length === 5 && results.every((r) => r.result.type === 'succeeded'), 'results: five succeeded lines');
check(results.every((r) => r.result.message.content[0].type === 'text' && r.result.message.usage.service_tier === 'batch'), 'results: messages');
const canceled = [];
for await (const line of await client.messages.batches.results(ids[2])) canceled.push(line.result.type);
check(canceled.length === 5 && canceled.every((t) => t === 'canceled'), 'results of the canceled batch');

// delete
const deleted = await client.messages.batches.delete(ids[0]);
check(deleted.id === ids[0] && deleted.type === 'message_batch_deleted', 'delete');
await rejects(client.messages.batches.retrieve(ids[0]), Anthropic.NotFoundError, 'deleted: NotFoundError');

// injected faults: error classes without retries, recovery with them
const faults = [
  { endpoint: 'retrieve', status: 429, times: 1, retry_after_ms: 5 },
  { endpoint: 'retrieve', status: 529, times: 1, retry_after_ms: 5 },
  { endpoint: 'retrieve', kind: 'drop', times: 1 },
];
await control('PUT', 'scenario', { faults });
await rejects(client.messages.batches.retrieve(ids[1]), Anthropic.RateLimitError, '429: RateLimitError');
const overloaded = await rejects(client.messages.batches.retrieve(ids[1]), Anthropic.InternalServerError, '529: an InternalServerError');
check(overloaded.status === 529 && overloaded.error?.error?.type === 'overloaded_error', '529: overloaded_error');
await rejects(client.messages.batches.retrieve(ids[1]), Anthropic.APIConnectionError, 'drop: APIConnectionError');
check((await client.messages.batches.retrieve(ids[1])).id === ids[1], 'faults spent');

await control('PUT', 'scenario', { faults });
await control('DELETE', 'journal');
const retrying = new Anthropic({ baseURL: base, apiKey: 'ts-key', maxRetries: 3 });
check((await retrying.messages.batches.retrieve(ids[1])).id === ids[1], 'the SDK retries 429, 529 and a drop');
const calls = (await control('GET', 'journal')).calls.map((c) => c.status);
check(JSON.stringify(calls) === JSON.stringify([429, 529, 200]), `retried calls seen by the server: ${calls}`);

// the calls around batches: token counting, models, files, a batch that reads a file
await control('PUT', 'scenario', {});
const messages = [{ role: 'user', content: 'Summarize the report.' }];
const counted = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages });
check(counted.input_tokens > 0, 'countTokens');
const empty = await rejects(
  client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: '' }] }),
  Anthropic.BadRequestError,
  'countTokens: an empty text block is a BadRequestError',
);
check(empty.error?.error?.message === 'messages: text content blocks must be non-empty', 'countTokens: the API words');
const models = [];
for await (const model of client.models.list({ limit: 10 })) models.push(model.id);
check(models.length > 30 && models.includes('claude-sonnet-4-5'), 'models: auto-pagination over the catalogue');
check((await client.models.retrieve('claude-sonnet-4-5')).lifecycle === 'active', 'models: retrieve');
await rejects(client.models.retrieve('claude-imaginary-9'), Anthropic.NotFoundError, 'models: unknown id NotFoundError');
const pdf = Buffer.from('%PDF-1.4\n' + '1 0 obj << /Type /Page >> endobj\n'.repeat(100) + '%%EOF\n');
const uploaded = await client.files.upload({ file: await Anthropic.toFile(pdf, 'report.pdf', { type: 'application/pdf' }) });
check(uploaded.type === 'file' && uploaded.size_bytes === pdf.length && uploaded.downloadable === false, 'files: upload');
check((await client.files.retrieveMetadata(uploaded.id)).filename === 'report.pdf', 'files: retrieveMetadata');
const files = [];
for await (const file of client.files.list()) files.push(file.id);
check(JSON.stringify(files) === JSON.stringify([uploaded.id]), 'files: list');
await rejects(client.files.download(uploaded.id), Anthropic.BadRequestError, 'files: an upload is not downloadable');
const document = [
  { role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: uploaded.id } }, { type: 'text', text: 'Summarize.' }] },
];
const withFile = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: document });
const reading = await client.messages.batches.create({
  requests: [{ custom_id: 'reads-file', params: { model: 'claude-sonnet-4-5', max_tokens: 64, messages: document } }],
});
await control('POST', 'clock/advance', { seconds: 3600 });
const [read] = await (async () => { const all = []; for await (const r of await client.messages.batches.results(reading.id)) all.push(r); return all; })();
check(read.result.type === 'succeeded' && read.result.message.usage.input_tokens === withFile.input_tokens, 'a batch reads the file');
check((await client.files.delete(uploaded.id)).type === 'file_deleted', 'files: delete');
await rejects(client.files.retrieveMetadata(uploaded.id), Anthropic.NotFoundError, 'files: deleted NotFoundError');

console.log(JSON.stringify({ ok: true, sdk: require('@anthropic-ai/sdk/version').VERSION, steps }));
