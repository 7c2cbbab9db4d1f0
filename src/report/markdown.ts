/** Markdown pieces of the report: tables and number formatting. */

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (c: string | number) => (typeof c === 'number' ? formatNumber(c) : c).replace(/\|/g, '\\|');
  return [`| ${header.map(cell).join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Four significant digits, scientific notation for very small or large magnitudes. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** x as a percentage with sensible precision. */
export function percent(x: number): string {
  const p = 100 * x;
  return p === 0 ? '0%' : p < 0.01 ? `${p.toExponential(1)}%` : `${p.toFixed(p < 1 ? 3 : p < 10 ? 2 : 1)}%`;
}
