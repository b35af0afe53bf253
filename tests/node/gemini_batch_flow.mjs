// The batch workflow of Google's @google/genai SDK against a batchsim server: inline requests,
// an uploaded input file, get, list, download, cancel and delete. Prints what it saw as JSON.
// Usage: node gemini_batch_flow.mjs BASE_URL   with @google/genai resolvable (NODE_PATH).
import { createRequire } from 'node:module';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { GoogleGenAI } = require('@google/genai');
const url = process.argv[2];
const ai = new GoogleGenAI({ apiKey: 'node-key', httpOptions: { baseUrl: url } });
const model = 'gemini-2.5-flash';
const advance = async (seconds) => {
  const done = await fetch(`${url}/_batchsim/clock/advance`, { method: 'POST', body: JSON.stringify({ seconds }) });
  if (done.status !== 200) throw new Error(`advance: ${done.status}`);
};
const seen = {};

const inline = await ai.batches.create({
  model,
  src: [
    { contents: [{ role: 'user', parts: [{ text: 'Hello from node' }] }], metadata: { key: 'node-1' } },
    { contents: [{ role: 'user', parts: [{ text: 'Second' }] }], metadata: { key: 'node-2' } },
  ],
  config: { displayName: 'node-inline' },
});
seen.created = inline.state;
seen.name = inline.name;

const lines = ['a', 'b'].map((key) => JSON.stringify({ key, request: { contents: [{ parts: [{ text: key }] }] } })).join('\n') + '\n';
const file = await ai.files.upload({ file: new Blob([lines], { type: 'application/jsonl' }), config: { mimeType: 'application/jsonl', displayName: 'node-input' } });
seen.uploaded = { size: file.sizeBytes, displayName: file.displayName };
const fromFile = await ai.batches.create({ model, src: file.name });

await advance(600);
const done = await ai.batches.get({ name: inline.name });
seen.done = done.state;
seen.keys = done.dest.inlinedResponses.map((r) => r.metadata.key);
seen.text = done.dest.inlinedResponses[0].response.candidates[0].content.parts[0].text;

const filed = await ai.batches.get({ name: fromFile.name });
const folder = mkdtempSync(join(tmpdir(), 'batchsim-node-'));
const out = join(folder, 'responses.jsonl');
await ai.files.download({ file: filed.dest.fileName, downloadPath: out });
seen.downloaded = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).key);

const names = [];
const pager = await ai.batches.list({ config: { pageSize: 1 } });
for await (const job of pager) names.push(job.name);
seen.listed = names.sort();

const running = await ai.batches.create({ model, src: [{ contents: [{ parts: [{ text: 'stop me' }] }] }] });
await ai.batches.cancel({ name: running.name });
await advance(1);
seen.cancelled = (await ai.batches.get({ name: running.name })).state;
await ai.batches.delete({ name: running.name });
try {
  await ai.batches.get({ name: running.name });
  seen.deleted = 'still there';
} catch (error) {
  seen.deleted = error.status;
}
console.log(JSON.stringify(seen));
