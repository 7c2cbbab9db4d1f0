/**
 * A small SVG plotting module (browser-safe, no dependency): line / scatter plots with linear or
 * log axes, ticks, grid, axis labels, legend, reference lines, and grouped bar charts. Output is a
 * standalone SVG document string. Enough for the reproduction report; not a general library.
 */

export type AxisScale = 'linear' | 'log';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** 'line' joins the points, 'points' marks them, 'line+points' both (default). */
  style?: 'line' | 'points' | 'line+points';
  dashed?: boolean;
  /** Default: the next colour of the palette. */
  color?: string;
}

export interface AxisOptions {
  label: string;
  scale?: AxisScale;
  /** Default: the data's range (padded on linear axes). */
  domain?: readonly [number, number];
  /** Log axes: ticks at powers of this base (default 10; 2 labels them 2^k). */
  base?: 10 | 2;
  /** Linear axes: the spacing between ticks (default: a 1-2-5 step giving about 6 ticks). */
  step?: number;
}

export interface PlotSpec {
  title: string;
  x: AxisOptions;
  y: AxisOptions;
  series: readonly Series[];
  /** Horizontal reference lines (e.g. ε, or the dense baseline). */
  hLines?: readonly { y: number; label: string }[];
  /** Short lines of text under the title (fitted exponents, machine). */
  notes?: readonly string[];
  width?: number;
  height?: number;
}

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Compact tick label: 0.01, 2.5, 1e-4, 3e+6, 1200. */
export function formatTick(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e6) {
    const [m, e] = x.toExponential(2).split('e');
    const mant = Number(m);
    return `${mant === 1 ? '' : `${mant}×`}1e${Number(e)}`;
  }
  return String(Number(x.toPrecision(4)));
}

interface Scale {
  map(v: number): number;
  ticks: number[];
  labels: string[];
  lo: number;
  hi: number;
}

/** Maps data values onto pixel range [p0, p1] (p1 < p0 for a y axis) and places ticks. */
function makeScale(axis: AxisOptions, values: number[], p0: number, p1: number): Scale {
  const log = axis.scale === 'log';
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let [lo, hi] = axis.domain ?? [Math.min(...finite), Math.max(...finite)];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = log ? 1 : 0; hi = log ? 10 : 1; }
  if (log) {
    const base = axis.base ?? 10;
    if (!axis.domain) {
      // Widen to whole powers when the data span several of them; otherwise pad by 10%.
      const span = Math.log(hi / lo) / Math.log(base);
      if (span >= 2) { lo = base ** Math.floor(Math.log(lo) / Math.log(base) + 1e-9); hi = base ** Math.ceil(Math.log(hi) / Math.log(base) - 1e-9); }
      else { lo /= 1.25; hi *= 1.25; }
      if (lo === hi) { lo /= base; hi *= base; }
    }
    const l0 = Math.log(lo), l1 = Math.log(hi);
    const map = (v: number) => p0 + ((Math.log(v) - l0) / (l1 - l0)) * (p1 - p0);
    const ticks = logTicks(lo, hi, base);
    const labels = ticks.map((t) => (base === 2 && Number.isInteger(Math.log2(t)) ? `2^${Math.round(Math.log2(t))}` : formatTick(t)));
    return { map, ticks, labels, lo, hi };
  }
  if (!axis.domain) {
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    const pad = (hi - lo) * 0.05;
    lo -= pad; hi += pad;
  }
  const step = axis.step ?? niceStep((hi - lo) / 6);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const labels = ticks.map((t) => (digits > 0 && digits < 6 ? t.toFixed(digits) : formatTick(t)));
  return { map: (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0), ticks, labels, lo, hi };
}

/** A 1-2-5 step ≥ raw. */
export function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Powers of `base` in [lo, hi]; for spans under two powers of 10 also 2× and 5× marks. */
function logTicks(lo: number, hi: number, base: number): number[] {
  const out: number[] = [];
  const k0 = Math.floor(Math.log(lo) / Math.log(base) - 1e-9), k1 = Math.ceil(Math.log(hi) / Math.log(base) + 1e-9);
  const every = Math.max(1, Math.ceil((k1 - k0) / 10));
  for (let k = k0; k <= k1; k++) {
    const t = base ** k;
    if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9) && (k - k0) % every === 0) out.push(t);
    if (base === 10 && k1 - k0 <= 2) for (const m of [2, 5]) { const u = m * t; if (u >= lo && u <= hi) out.push(u); }
  }
  return out.sort((a, b) => a - b);
}

interface Frame { left: number; top: number; right: number; bottom: number; width: number; height: number }

function frame(spec: { width?: number; height?: number; notes?: readonly string[] }, legendWidth: number): Frame {
  const width = spec.width ?? 720, height = spec.height ?? 440;
  const top = 44 + 15 * (spec.notes?.length ?? 0);
  return { left: 78, top, right: width - 16 - legendWidth, bottom: height - 56, width, height };
}

function header(f: Frame, title: string, notes: readonly string[] = []): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" ${FONT}>`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text x="${f.width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    ...notes.map((n, i) => `<text x="${f.width / 2}" y="${42 + 15 * i}" text-anchor="middle" font-size="12" fill="#333">${escapeXml(n)}</text>`),
  ];
}

function axes(f: Frame, xs: Scale, ys: Scale, xLabel: string, yLabel: string, xTicks = true): string[] {
  const out: string[] = [];
  ys.ticks.forEach((t, i) => {
    const y = ys.map(t).toFixed(1);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(`<text x="${f.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${escapeXml(ys.labels[i]!)}</text>`);
  });
  if (xTicks) xs.ticks.forEach((t, i) => {
    const x = xs.map(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${f.top}" x2="${x}" y2="${f.bottom}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(`<text x="${x}" y="${f.bottom + 16}" text-anchor="middle" font-size="11">${escapeXml(xs.labels[i]!)}</text>`);
  });
  out.push(`<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#444" stroke-width="1"/>`);
  out.push(`<text x="${(f.left + f.right) / 2}" y="${f.height - 14}" text-anchor="middle" font-size="13">${escapeXml(xLabel)}</text>`);
  const cy = (f.top + f.bottom) / 2;
  out.push(`<text x="18" y="${cy}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${cy})">${escapeXml(yLabel)}</text>`);
  return out;
}

function legend(f: Frame, items: readonly { name: string; color: string; dashed?: boolean; marker?: boolean; bar?: boolean }[]): string[] {
  const x = f.right + 14;
  return items.flatMap((it, i) => {
    const y = f.top + 8 + i * 18;
    const sym = it.bar
      ? `<rect x="${x}" y="${y - 5}" width="18" height="10" fill="${it.color}"/>`
      : `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`
        + (it.marker ? `<circle cx="${x + 9}" cy="${y}" r="3" fill="${it.color}"/>` : '');
    return [sym, `<text x="${x + 24}" y="${y}" dominant-baseline="middle" font-size="11">${escapeXml(it.name)}</text>`];
  });
}

const LEGEND_WIDTH = (names: readonly string[]) => (names.length ? Math.min(260, 44 + 7 * Math.max(...names.map((n) => n.length))) : 0);

/** A line / scatter plot as an SVG document. Points outside a log axis's domain (≤ 0) are skipped. */
export function linePlot(spec: PlotSpec): string {
  const f = frame(spec, LEGEND_WIDTH(spec.series.map((s) => s.name)));
  const keep = (axis: AxisOptions) => (v: number) => Number.isFinite(v) && (axis.scale !== 'log' || v > 0);
  const series = spec.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]!,
    points: s.points.filter(([x, y]) => keep(spec.x)(x) && keep(spec.y)(y)) }));
  const xs = makeScale(spec.x, series.flatMap((s) => s.points.map((p) => p[0])), f.left, f.right);
  const ys = makeScale(spec.y, [...series.flatMap((s) => s.points.map((p) => p[1])), ...(spec.hLines ?? []).map((h) => h.y)], f.bottom, f.top);
  const id = `clip${Math.abs(hash(spec.title))}`;
  const out = header(f, spec.title, spec.notes);
  out.push(...axes(f, xs, ys, spec.x.label, spec.y.label));
  out.push(`<clipPath id="${id}"><rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}"/></clipPath>`);
  out.push(`<g clip-path="url(#${id})">`);
  for (const h of spec.hLines ?? []) {
    if (!keep(spec.y)(h.y)) continue;
    const y = ys.map(h.y).toFixed(1);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#777" stroke-width="1" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${f.right - 4}" y="${Number(y) - 4}" text-anchor="end" font-size="11" fill="#555">${escapeXml(h.label)}</text>`);
  }
  for (const s of series) {
    const style = s.style ?? 'line+points';
    const pts = s.points.map(([x, y]) => [xs.map(x), ys.map(y)] as const);
    if (style !== 'points' && pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    }
    if (style !== 'line') for (const [x, y] of pts) out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.2" fill="${s.color}"/>`);
  }
  out.push('</g>');
  out.push(...legend(f, series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed, marker: (s.style ?? 'line+points') !== 'line' }))));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface BarSpec {
  title: string;
  yLabel: string;
  xLabel?: string;
  categories: readonly string[];
  /** One bar per group in each category; values[i] belongs to categories[i]. */
  groups: readonly { name: string; values: readonly number[]; color?: string }[];
  yScale?: AxisScale;
  yDomain?: readonly [number, number];
  hLines?: readonly { y: number; label: string }[];
  notes?: readonly string[];
  width?: number;
  height?: number;
}

/** A grouped bar chart as an SVG document (log y: bars start at the axis minimum). */
export function barChart(spec: BarSpec): string {
  const f = frame(spec, LEGEND_WIDTH(spec.groups.map((g) => g.name)));
  const yAxis: AxisOptions = { label: spec.yLabel, scale: spec.yScale ?? 'linear', ...(spec.yDomain ? { domain: spec.yDomain } : {}) };
  const values = spec.groups.flatMap((g) => [...g.values]);
  const ys = makeScale(yAxis, spec.yScale === 'log' ? values : [0, ...values, ...(spec.hLines ?? []).map((h) => h.y)], f.bottom, f.top);
  const xs: Scale = { map: (v) => v, ticks: [], labels: [], lo: 0, hi: 1 };
  const out = header(f, spec.title, spec.notes);
  out.push(...axes(f, xs, ys, spec.xLabel ?? '', spec.yLabel, false));
  const slot = (f.right - f.left) / spec.categories.length, G = spec.groups.length;
  const barW = (slot * 0.8) / G;
  const base = ys.map(spec.yScale === 'log' ? ys.lo : Math.max(ys.lo, 0));
  spec.categories.forEach((c, i) => {
    const cx = f.left + slot * (i + 0.5);
    out.push(`<text x="${cx.toFixed(1)}" y="${f.bottom + 16}" text-anchor="middle" font-size="11">${escapeXml(c)}</text>`);
    spec.groups.forEach((g, j) => {
      const v = g.values[i]!;
      if (!Number.isFinite(v) || (spec.yScale === 'log' && v <= 0)) return;
      const y = Math.max(f.top, Math.min(f.bottom, ys.map(v)));
      const x = cx - slot * 0.4 + j * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${Math.min(y, base).toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${Math.abs(base - y).toFixed(1)}" fill="${g.color ?? PALETTE[j % PALETTE.length]}"><title>${escapeXml(`${g.name}, ${c}: ${formatTick(v)}`)}</title></rect>`);
    });
  });
  for (const h of spec.hLines ?? []) {
    const y = ys.map(h.y).toFixed(1);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#777" stroke-width="1" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${f.right - 4}" y="${Number(y) - 4}" text-anchor="end" font-size="11" fill="#555">${escapeXml(h.label)}</text>`);
  }
  out.push(...legend(f, spec.groups.map((g, j) => ({ name: g.name, color: g.color ?? PALETTE[j % PALETTE.length]!, bar: true }))));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}
