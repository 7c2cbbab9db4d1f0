import { cpus, totalmem } from 'node:os';
import { writeFileAtomic } from '../../src/node/files.js';
import { recordedCommand } from '../../src/node/recorded-path.js';

// The timing scheme and the seeded RNG live in the browser-safe core (the report uses them too);
// benchmarks take them from there.
export { median } from '../../src/analysis/stats.js';
export { timeMs, alternateRounds } from '../../src/report/timing.js';
export { seededRandom as rng } from '../../src/report/random.js';

/** What the numbers were measured on, recorded beside every result. */
export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown', cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString(),
    command: recordedCommand(),
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
