import { cpus, totalmem } from 'node:os';
import { writeFileAtomic } from '../../src/node/files.js';

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Milliseconds for one call of fn. */
export function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/**
 * Times several contenders in alternating rounds (A, B, C, A, B, C, ...) so that load from other
 * processes on this shared machine hits all of them alike; returns per-contender medians in ms.
 * Each contender runs once untimed first (warm-up: JIT, caches).
 */
export function alternateRounds(contenders: Record<string, () => void>, rounds: number): Record<string, number> {
  const names = Object.keys(contenders);
  for (const n of names) contenders[n]!();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) for (const n of names) samples[n]!.push(timeMs(contenders[n]!));
  return Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}

/** What the numbers were measured on, recorded beside every result. */
export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown', cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString(),
    command: `node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`.trim(),
  };
}

/** Writes `{ machine, ...result }` as pretty JSON, atomically. */
export function writeJson(path: string, result: Record<string, unknown>): void {
  writeFileAtomic(path, JSON.stringify({ machine: machineInfo(), ...result }, null, 2) + '\n');
}

/** A fixed-width text table for terminal output and docs. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = header.map((_, j) => Math.max(...cells.map((r) => String(r[j] ?? '').length)));
  const line = (r: (string | number)[]) => '| ' + r.map((c, j) => String(c).padEnd(widths[j]!)).join(' | ') + ' |';
  return [line(cells[0]!), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...cells.slice(1).map(line)].join('\n');
}

function formatNumber(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(1) : a >= 1 ? x.toFixed(3) : a >= 1e-3 ? x.toFixed(4) : x.toExponential(2);
}

/** Seeded PRNG (mulberry32) and Gaussian samples, so every benchmark input is reproducible. */
export function rng(seed: number): { uniform(): number; gauss(): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, gauss };
}
