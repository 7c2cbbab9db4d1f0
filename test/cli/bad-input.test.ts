/**
 * The CLI's bad-input table: every row is a command line a user might type with something wrong in
 * it, and the exit status and message it must give. Runs `main` in-process (a spawned CLI costs a
 * second per row on this machine); a rejected promise here is what the executable would print as a
 * stack trace. Tiny models and dumps are written to a temp folder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, ftruncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/cli.js';
import { encodeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { encodeNpy } from '../../src/io/npy.js';
import { writeFolderAtomic } from '../../src/node/files.js';
import { readFileSync, readdirSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'hsr-bad-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in-process, capturing what it writes. */
async function cli(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string; ms: number }> {
  const out = process.stdout.write.bind(process.stdout), err = process.stderr.write.bind(process.stderr);
  let stdout = '', stderr = '';
  process.stdout.write = ((c: string | Uint8Array, ...r: never[]) => (typeof c === 'string' ? (stdout += c, true) : out(c, ...r))) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => { stderr += typeof c === 'string' ? c : Buffer.from(c).toString(); return true; }) as typeof process.stderr.write;
  const t0 = performance.now();
  try {
    const status = await main(argv);
    return { status, stdout, stderr, ms: performance.now() - t0 };
  } finally {
    process.stdout.write = out; process.stderr.write = err;
  }
}

function rand(n: number, seed: number, scale = 0.1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = (s / 2 ** 32 - 0.5) * 2 * scale; }
  return a;
}

/** A one-layer byte-level Llama (hidden 16, 2 heads over 1 KV head, d 8) in `name`; config overrides and weight edits optional. */
function tinyModel(name: string, config: Record<string, unknown> = {}, edit?: (t: Record<string, TensorToWrite>) => void): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const h = 16, inter = 32, V = 256;
  writeFileSync(join(d, 'config.json'), JSON.stringify({
    vocab_size: V, hidden_size: h, intermediate_size: inter, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
    head_dim: 8, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu', ...config,
  }));
  let seed = 1;
  const t = (shape: number[], ones = false): TensorToWrite => ({ dtype: 'F32', shape, data: ones ? new Float32Array(shape[0]!).fill(1) : rand(shape.reduce((a, b) => a * b, 1), seed++) });
  const tensors: Record<string, TensorToWrite> = {
    'model.embed_tokens.weight': t([V, h]), 'model.norm.weight': t([h], true), 'lm_head.weight': t([V, h]),
    'model.layers.0.input_layernorm.weight': t([h], true), 'model.layers.0.post_attention_layernorm.weight': t([h], true),
    'model.layers.0.self_attn.q_proj.weight': t([16, h]), 'model.layers.0.self_attn.k_proj.weight': t([8, h]),
    'model.layers.0.self_attn.v_proj.weight': t([8, h]), 'model.layers.0.self_attn.o_proj.weight': t([h, 16]),
    'model.layers.0.mlp.gate_proj.weight': t([inter, h]), 'model.layers.0.mlp.up_proj.weight': t([inter, h]),
    'model.layers.0.mlp.down_proj.weight': t([h, inter]),
  };
  edit?.(tensors);
  writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(tensors));
  return d;
}

/** A Q/K/V dump (layer 0) with 2 heads over 1 KV head, n 24, d 8; `edit` may change shapes or values. */
function dump(name: string, edit?: (t: { q: TensorToWrite; k: TensorToWrite; v: TensorToWrite }) => void): string {
  const n = 24, d = 8;
  const t = { q: { dtype: 'F32', shape: [2, n, d], data: rand(2 * n * d, 3, 1) }, k: { dtype: 'F32', shape: [1, n, d], data: rand(n * d, 4, 1) }, v: { dtype: 'F32', shape: [1, n, d], data: rand(n * d, 5, 1) } } as { q: TensorToWrite; k: TensorToWrite; v: TensorToWrite };
  edit?.(t);
  const path = join(dir, `${name}.safetensors`);
  writeFileSync(path, encodeSafetensors({ 'layers.0.q': t.q, 'layers.0.k': t.k, 'layers.0.v': t.v }));
  return path;
}

const textFile = join(dir, 'text.txt');
writeFileSync(textFile, 'def f(x):\n    return x + 1\n'.repeat(8));

interface Row { argv: () => string[]; status: number; stderr: RegExp; stdout?: RegExp; maxMs?: number }
const rows: Record<string, Row> = {};
let good = '', nanModel = '';

before(() => {
  good = tinyModel('good');
  nanModel = tinyModel('nan', {}, (t) => { (t['model.layers.0.mlp.up_proj.weight']!.data as Float32Array)[7] = NaN; });
  tinyModel('huge-context', { max_position_embeddings: 2 ** 40 });
  // Shards: one named ".", one a symlink out of the folder.
  const dot = tinyModel('shard-dot');
  writeFileSync(join(dot, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': '.' } }));
  const outside = tinyModel('outside');
  const link = tinyModel('shard-link');
  rmSync(join(link, 'model.safetensors'));
  symlinkSync(join(outside, 'model.safetensors'), join(link, 'model-00001-of-00001.safetensors'));
  const names = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'];
  writeFileSync(join(link, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(names.map((n) => [n, 'model-00001-of-00001.safetensors'])) }));
  // A 3 GiB sparse text file and a 3 GiB sparse .npy (costs no disk).
  for (const f of ['big.txt', 'big-npy/q.npy']) {
    mkdirSync(join(dir, 'big-npy'), { recursive: true });
    const fd = openSync(join(dir, f), 'w');
    writeSync(fd, 'abcdefgh'.repeat(16));
    ftruncateSync(fd, 3 * 2 ** 30);
    closeSync(fd);
  }
  for (const t of ['k', 'v']) writeFileSync(join(dir, 'big-npy', `${t}.npy`), encodeNpy(new Float32Array(8), [1, 1, 8]));
  writeFileSync(join(dir, 'a-file'), 'not a folder');
});

const M = () => join(dir, 'good');
Object.assign(rows, {
  // Defect 4: negative and zero counts.
  'perplexity --max-tokens -1': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--max-tokens', '-1'], status: 2, stderr: /expected --max-tokens to be an integer ≥ 2, got -1/ },
  'perplexity --max-tokens 1': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--max-tokens', '1'], status: 2, stderr: /--max-tokens.*≥ 2/ },
  'demo --tokens -1': { argv: () => ['demo', '--tokens', '-1'], status: 2, stderr: /expected --tokens to be an integer ≥ 2 and ≤ 8192, got -1/ },
  'demo --tokens 9000': { argv: () => ['demo', '--tokens', '9000'], status: 2, stderr: /--tokens.*≤ 8192, got 9000/ },
  // Defect 10: out-of-range values are usage errors (2), like every other usage error.
  'perplexity --epsilon -1': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--attention', 'certified', '--epsilon', '-1'], status: 2, stderr: /--epsilon.*> 0/ },
  'perplexity --top-k 0': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--attention', 'topk', '--top-k', '0'], status: 2, stderr: /--top-k.*≥ 1/ },
  'perplexity --window 0': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--attention', 'window', '--window', '0'], status: 2, stderr: /--window/ },
  'perplexity --block 0': { argv: () => ['perplexity', '--model', M(), '--text', textFile, '--block', '0'], status: 2, stderr: /--block.*≥ 1/ },
  'generate --top-p 1.5': { argv: () => ['generate', '--model', M(), '--prompt', 'x', '--top-p', '1.5'], status: 2, stderr: /--top-p.*≤ 1/ },
  'generate --temperature -1': { argv: () => ['generate', '--model', M(), '--prompt', 'x', '--temperature', '-1'], status: 2, stderr: /--temperature.*≥ 0/ },
  'generate --max-tokens -3': { argv: () => ['generate', '--model', M(), '--prompt', 'x', '--max-tokens', '-3'], status: 2, stderr: /--max-tokens.*≥ 0/ },
  'analyze --queries 0': { argv: () => ['analyze', dump('ok'), '--queries', '0'], status: 2, stderr: /--queries.*≥ 1/ },
  // Defect 10: extra positional arguments.
  'perplexity with a stray argument': { argv: () => ['perplexity', '--model', M(), 'oops'], status: 2, stderr: /expected no positional arguments, got "oops"/ },
  'demo with a stray argument': { argv: () => ['demo', 'oops'], status: 2, stderr: /expected no positional arguments, got "oops"/ },
  'reproduce with a stray argument': { argv: () => ['reproduce', 'quick'], status: 2, stderr: /expected no positional arguments, got "quick"/ },
  'analyze with two files': { argv: () => ['analyze', 'a', 'b'], status: 2, stderr: /expected one dump FILE/ },
  // Defect 5: raw Node errors.
  '--text naming a folder': { argv: () => ['perplexity', '--model', M(), '--text', dir], status: 1, stderr: /IO_ERROR: .*expected a file.*got a directory/ },
  'a shard named "."': { argv: () => ['perplexity', '--model', join(dir, 'shard-dot'), '--text', textFile], status: 1, stderr: /MALFORMED_FILE: .*shard file name inside the folder.*"\."/ },
  'max_position_embeddings 2**40 (RoPE built lazily)': { argv: () => ['perplexity', '--model', join(dir, 'huge-context'), '--text', textFile, '--max-tokens', '40', '--json'], status: 0, stderr: /^$/, stdout: /"tokens":40/, maxMs: 5000 },
  'analyze on a 3 GiB .npy': { argv: () => ['analyze', join(dir, 'big-npy')], status: 1, stderr: /TOO_LARGE: .*q\.npy/, maxMs: 5000 },
  'reproduce --out under a file': { argv: () => ['reproduce', '--quick', '--out', join(dir, 'a-file', 'out')], status: 1, stderr: /IO_ERROR: .*expected a writable folder/, maxMs: 3000 },
  'analyze on q shaped [0, 48, 8]': { argv: () => ['analyze', dump('empty-q', (t) => { t.q = { dtype: 'F32', shape: [0, 48, 8], data: new Float32Array(0) }; })], status: 1, stderr: /SHAPE_MISMATCH/ },
  // Defect 6: text read only as far as needed.
  '--text a 3 GiB file': { argv: () => ['perplexity', '--model', M(), '--text', join(dir, 'big.txt'), '--max-tokens', '50', '--json'], status: 0, stderr: /^$/, stdout: /"tokens":50/, maxMs: 5000 },
  '--text /dev/zero': { argv: () => ['perplexity', '--model', M(), '--text', '/dev/zero', '--json'], status: 0, stderr: /first 64 tokens/, stdout: /"tokens":64/, maxMs: 5000 },
  // Defect 3: non-finite data.
  'NaN weights': { argv: () => ['perplexity', '--model', nanModel, '--text', textFile, '--attention', 'flash'], status: 1, stderr: /NON_FINITE: .*mlp\.up_proj\.weight.*NaN at element 7/ },
  'analyze: NaN in q': { argv: () => ['analyze', dump('nan-q', (t) => { (t.q.data as Float32Array)[9] = NaN; })], status: 1, stderr: /NON_FINITE: .*layers\.0\.q.*NaN at element 9/ },
  'analyze: Infinity in v': { argv: () => ['analyze', dump('inf-v', (t) => { (t.v.data as Float32Array)[2] = -Infinity; })], status: 1, stderr: /NON_FINITE: .*layers\.0\.v.*-Infinity at element 2/ },
  // Defect 10: shard symlinks.
  'a shard symlinked out of the model folder': { argv: () => ['perplexity', '--model', join(dir, 'shard-link'), '--text', textFile], status: 1, stderr: /MALFORMED_FILE: .*model-00001-of-00001\.safetensors.*outside the model folder/ },
} satisfies Record<string, Row>);

describe('CLI bad-input table: exit status 2 for usage errors, 1 with an HsrError code for bad data, never a stack trace', () => {
  for (const [name, row] of Object.entries(rows)) {
    it(`${name} → exit ${row.status}`, async () => {
      const r = await cli(...row.argv());
      assert.equal(r.status, row.status, `stderr: ${r.stderr}`);
      assert.match(r.stderr, row.stderr);
      if (row.stdout) assert.match(r.stdout, row.stdout);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      if (row.maxMs !== undefined) assert.ok(r.ms < row.maxMs, `took ${r.ms.toFixed(0)} ms`);
    });
  }

  it('a model that produces non-finite logits fails with NON_FINITE instead of printing null NLLs (flash, window, page-topk)', async () => {
    // Finite weights whose products overflow float32: a huge final norm and output head give ±Infinity logits.
    const m = tinyModel('overflow', {}, (t) => {
      (t['model.norm.weight']!.data as Float32Array).fill(1e30);
      for (const [i, x] of (t['lm_head.weight']!.data as Float32Array).entries()) (t['lm_head.weight']!.data as Float32Array)[i] = x * 1e30;
    });
    for (const mode of ['flash', 'window', 'page-topk']) {
      const r = await cli('perplexity', '--model', m, '--text', textFile, '--attention', mode, '--json');
      assert.equal(r.status, 1, `${mode}: ${r.stdout}`);
      assert.match(r.stderr, /NON_FINITE/);
      assert.doesNotMatch(r.stdout, /null/);
    }
  });

  it('the model runs fine on the good tiny model (the table\'s rows fail for their own reason)', async () => {
    const r = await cli('perplexity', '--model', good, '--text', textFile, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).tokens, 64);
  });
});

describe('writeFolderAtomic (reproduce writes its output set this way)', () => {
  it('replaces the set at once, keeps files it does not write, and leaves the old set whole when a write fails', () => {
    const out = join(dir, 'report');
    mkdirSync(out);
    writeFileSync(join(out, 'README.md'), 'mine');
    writeFileSync(join(out, 'report.md'), 'old report');
    writeFileSync(join(out, 'a.svg'), 'old a');
    writeFolderAtomic(out, { 'report.md': 'new report', 'a.svg': 'new a', 'b.svg': 'new b' });
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'a.svg', 'b.svg', 'report.md']);
    assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), 'new report');
    assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), 'mine');
    // A failing write (contents of the wrong type) part-way through the set: nothing changes.
    assert.throws(() => writeFolderAtomic(out, { 'a.svg': 'newer a', 'report.md': 42 as unknown as string }));
    assert.equal(readFileSync(join(out, 'a.svg'), 'utf8'), 'new a');
    assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), 'new report');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('report') && f !== 'report'), [], 'no temporary folders left');
    // A folder that does not exist yet is created.
    writeFolderAtomic(join(dir, 'fresh', 'set'), { 'x.txt': 'x' });
    assert.equal(readFileSync(join(dir, 'fresh', 'set', 'x.txt'), 'utf8'), 'x');
  });
});
