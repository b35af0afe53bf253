// OpenAI's official Node SDK against a real `batchsim serve` (run by tests/openai/test_openai_node_sdk.py):
// upload -> create -> poll -> download, then the refusals a client meets.
// Usage: node openai_flow.mjs   with BATCHSIM_URL set and `openai` resolvable (NODE_PATH).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const openaiModule = require('openai');
const OpenAI = openaiModule.default ?? openaiModule.OpenAI ?? openaiModule;
const { toFile } = openaiModule;

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

const line = (i) =>
  JSON.stringify({
    custom_id: `node-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Summarize item ${i}` }] },
  });
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'node-key', maxRetries: 0 });

// upload
const input = [0, 1, 2, 3].map(line).join('\n') + '\n';
const file = await client.files.create({
  file: await toFile(Buffer.from(input), 'requests.jsonl'),
  purpose: 'batch',
  expires_after: { anchor: 'created_at', seconds: 7200 },
});
check(file.purpose === 'batch' && file.bytes === Buffer.byteLength(input), 'upload');
check(file.expires_at === file.created_at + 7200, 'expires_after in bracket form');
check((await client.files.waitForProcessing(file.id, { pollInterval: 1 })).status === 'processed', 'wait for processing');
check((await (await client.files.content(file.id)).text()) === input, 'content is byte-identical');

// create
const batch = await client.batches.create({
  input_file_id: file.id,
  endpoint: '/v1/chat/completions',
  completion_window: '24h',
  metadata: { job: 'node' },
});
check(batch.status === 'validating' && batch.request_counts.total === 0, 'create');

// poll as the clock moves
const seen = [];
for (let i = 0; i < 12; i++) {
  const now = await client.batches.retrieve(batch.id);
  if (seen[seen.length - 1] !== now.status) seen.push(now.status);
  if (['completed', 'failed', 'expired', 'cancelled'].includes(now.status)) break;
  await control('POST', 'clock/advance', { seconds: 5 });
}
check(seen.join(',') === 'validating,in_progress,finalizing,completed', `poll (${seen.join(' -> ')})`);
const done = await client.batches.retrieve(batch.id);
check(done.request_counts.completed === 4 && done.output_file_id && done.error_file_id === null, 'completed');

// download
const output = (await (await client.files.content(done.output_file_id)).text()).trim().split('\n').map(JSON.parse);
check(
  output.map((l) => l.custom_id).sort().join(',') === 'node-0,node-1,node-2,node-3' &&
    output.every((l) => l.response.status_code === 200 && l.response.body.object === 'chat.completion'),
  'download the output file',
);
const outputFile = await client.files.retrieve(done.output_file_id);
check(outputFile.purpose === 'batch_output', 'the output file is a file');

// list (the SDK pages with after=)
const listed = [];
for await (const b of client.batches.list({ limit: 1 })) listed.push(b.id);
check(listed.length === 1 && listed[0] === batch.id, 'list batches');
const files = [];
for await (const f of client.files.list({ limit: 1 })) files.push(f.id);
check(files.length === 2 && files[0] === done.output_file_id, 'list files newest first');

// refusals
await rejects(client.batches.retrieve('batch_missing'), OpenAI.NotFoundError, '404 for an unknown batch');
const bad = await rejects(
  client.batches.create({ input_file_id: file.id, endpoint: '/v1/nope', completion_window: '24h' }),
  OpenAI.BadRequestError,
  '400 for a bad endpoint',
);
check(bad.param === 'endpoint' && bad.code === 'invalid_value' && bad.requestID?.startsWith('req_'), 'the envelope');
await rejects(client.batches.cancel(batch.id), OpenAI.ConflictError, '409 when canceling a completed batch');
const other = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
check((await client.batches.cancel(other.id)).status === 'cancelling', 'cancel');
check((await client.files.delete(file.id)).deleted === true, 'delete');
await rejects(client.files.retrieve(file.id), OpenAI.NotFoundError, '404 once deleted');

const sdk = require('openai/version').VERSION;
console.log(JSON.stringify({ ok: true, sdk, steps }));
