/**
 * The long decode soak: 10⁵ tokens appended one at a time to a certified softmax KVCache (ε = 1e-2)
 * and an exact sparse ReLU² KVCache (2 query heads over 1 KV head, d = 32), both attending every 100
 * tokens, checked against a float64 brute force at 10³, 10⁴, 3·10⁴ and 10⁵ tokens, with memory there
 * (bench/lib/decode-soak.ts; npm test runs a 2000-token version).
 *
 *   node --expose-gc --import tsx bench/decode-soak.ts [--tokens 100000] [--out bench/results/decode-soak.json]
 */
import { allowedGrowth, decodeSoak } from './lib/decode-soak.js';
import { table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const tokens = Number(args.get('tokens') ?? 100_000);
const out = args.get('out') ?? 'bench/results/decode-soak.json';
const checkpoints = [1000, 10_000, 30_000, 100_000].filter((n) => n < tokens).concat(tokens);

const r = decodeSoak({ tokens, checkpoints, attendEvery: 100 });
const first = r.checkpoints[0]!, last = r.checkpoints.at(-1)!;
const growth = last.memoryBytes - first.memoryBytes, allowed = allowedGrowth(r.options, first.tokens, last.tokens);
const pass = r.checkpoints.every((c) => c.certifiedShareOfAllowed <= 1 && c.certifiedMaxBound <= r.options.epsilon && c.reluError <= 1e-5)
  && growth <= allowed && r.idleGrowthBytes <= 8 * 2 ** 20;
console.log(table(['tokens', 'certified max |err|', 'share of 2·bound·max‖v‖', 'max bound', 'ReLU max rel err', 'ReLU keys used', 'memory MB', 's'],
  r.checkpoints.map((c) => [c.tokens, c.certifiedError, c.certifiedShareOfAllowed, c.certifiedMaxBound, c.reluError, c.reluKeysUsed, c.memoryBytes / 2 ** 20, c.seconds])));
console.log(`${r.attends} attends per cache; memory growth ${(growth / 2 ** 20).toFixed(1)} MB over ${last.tokens - first.tokens} tokens ` +
  `(${(growth / (last.tokens - first.tokens)).toFixed(0)} B/token; allowed ${(allowed / 2 ** 20).toFixed(1)} MB); ` +
  `${r.idleAttends} attends with nothing appended: ${(r.idleGrowthBytes / 2 ** 20).toFixed(2)} MB. ${pass ? 'PASS' : 'FAIL'}`);
writeJson(out, { pass, memoryGrowthBytes: growth, allowedGrowthBytes: allowed, ...r });
if (!pass) process.exitCode = 1;
