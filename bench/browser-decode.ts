// DecodePool's dense decode step in Node (worker_threads) and in headless Chromium (Web Workers in
// a cross-origin isolated page), one thread against `--threads`, the same seeded inputs; hosts
// alternate round by round, so machine load hits both alike. Needs `npm run build` and Chromium.
//   node --import tsx bench/browser-decode.ts [--n 4096,16384,65536] [--threads 2] [--rounds 7] [--repeats 3]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as random from '../dist/report/random.js';
import * as timing from '../dist/report/timing.js';
import { DecodePool } from '../dist/node/index.js';
import { startStaticServer } from '../src/node/static-server.js';
import { launchChromium } from '../test/browser/chromium.js';
import { median, table } from './lib/measure.js';
import { poolDecode, type PoolDecodeRow } from './lib/pool-decode.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const NS = (args.get('n') ?? '4096,16384,65536').split(',').map(Number);
const THREADS = Number(args.get('threads') ?? 2), ROUNDS = Number(args.get('rounds') ?? 7), REPEATS = Number(args.get('repeats') ?? 3);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

const WORKER = `import { DecodePool } from '/dist/index.js';
import * as random from '/dist/report/random.js';
import * as timing from '/dist/report/timing.js';
import { poolDecode } from '/pool-decode.js';
onmessage = async (e) => postMessage(await poolDecode({ DecodePool, random, timing }, ...e.data));`;
const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
window.bench = (a) => new Promise((resolve) => { const w = new Worker('/worker.js', { type: 'module' });
  w.onmessage = (e) => { w.terminate(); resolve(e.data); }; w.postMessage(a); });
</script>`;

const dir = mkdtempSync(join(tmpdir(), 'hsr-bench-'));
writeFileSync(join(dir, 'pool-decode.js'), ts.transpileModule(readFileSync(here('./lib/pool-decode.ts'), 'utf8'),
  { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText);
writeFileSync(join(dir, 'worker.js'), WORKER);
writeFileSync(join(dir, 'index.html'), PAGE);
const server = await startStaticServer({ mounts: { '/dist/': here('../dist/'), '/pool-decode.js': join(dir, 'pool-decode.js'), '/worker.js': join(dir, 'worker.js') }, index: join(dir, 'index.html') });
const chromium = await launchChromium();
const load = [loadavg()[0]!];
try {
  const page = await chromium.browser.newPage();
  await page.goto(server.url);
  await page.waitForFunction('typeof window.bench === "function"');
  const runs: Record<'node' | 'chromium', PoolDecodeRow[][]> = { node: [], chromium: [] };
  for (let k = 0; k < REPEATS; k++) {
    runs.node.push(await poolDecode({ DecodePool, random, timing }, NS, THREADS, ROUNDS));
    runs.chromium.push(await page.evaluate(`window.bench(${JSON.stringify([NS, THREADS, ROUNDS])})`) as PoolDecodeRow[]);
    load.push(loadavg()[0]!);
  }
  const rows: (string | number)[][] = [];
  for (const host of ['node', 'chromium'] as const) {
    NS.forEach((n, i) => {
      const one = median(runs[host].map((r) => r[i]!.msOne)), many = median(runs[host].map((r) => r[i]!.msMany));
      const r = runs[host][0]![i]!;
      rows.push([host, n, r.threads, one, many, one / many, r.fallback ?? '']);
    });
  }
  console.log(table(['host', 'n', 'threads', 'ms/attend 1 thread', 'ms/attend N threads', 'speed-up', 'fallback'], rows));
  console.log(`medians of ${REPEATS} repeats × ${ROUNDS} alternating rounds; load average (1 min) during the run: ${load.map((x) => x.toFixed(2)).join(', ')}; Node ${process.version}, ${await page.evaluate('navigator.userAgent')}`);
} finally {
  await chromium.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
