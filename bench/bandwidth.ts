// Memory read bandwidth from WebAssembly SIMD (1 and 2 threads) and plain JS.
//   node --import tsx bench/bandwidth.ts [--mib 256] [--rounds 9]   → bench/results/bandwidth.json
import { measureBandwidth } from './lib/bandwidth.js';
import { table, writeJson } from './lib/measure.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const mib = arg('mib', 256), rounds = arg('rounds', 9);
const bw = await measureBandwidth(mib * 2 ** 20, rounds);
console.log(table(['reader', 'GB/s'], [['wasm-simd, 1 thread', bw.wasm1], ['wasm-simd, 2 threads', bw.wasm2], ['plain JS, 1 thread', bw.js1]]));
writeJson('bench/results/bandwidth.json', { bytes: bw.bytes, rounds, gbPerSecond: bw });
