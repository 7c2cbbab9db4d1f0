/**
 * The keys-per-head heatmap: one row per (layer, head), positions along x (binned to the canvas),
 * coloured by the fraction of visible keys the row used or by its certified TV bound; each row's
 * mean fraction and largest bound are printed at its right.
 */
import type { Reply } from './protocol.js';

type Probe = Extract<Reply, { type: 'probe' }>;

/** Viridis at five stops, interpolated linearly: t ∈ [0, 1] → CSS colour. */
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]] as const;

function colour(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
  const [a, b] = [STOPS[i]!, STOPS[i + 1]!];
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k]! - v))).join(',')})`;
}

const LEFT = 56, RIGHT = 190, TOP = 28, ROW = 12, BOTTOM = 40;

export function drawHeatmap(canvas: HTMLCanvasElement, p: Probe, by: 'keys' | 'bound'): void {
  const rows = p.layers * p.heads, width = 760;
  const plotW = width - LEFT - RIGHT, bins = Math.min(p.positions, plotW), binW = plotW / bins;
  canvas.width = width;
  canvas.height = TOP + rows * ROW + BOTTOM;
  const g = canvas.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  let maxBound = 0;
  for (const b of p.errorBound) if (b > maxBound) maxBound = b;
  const value = (r: number, pos: number) => {
    const at = r * p.positions + pos;
    return by === 'keys' ? p.keysUsed[at]! / (pos + 1) : maxBound > 0 ? p.errorBound[at]! / maxBound : 0;
  };
  g.font = '11px sans-serif';
  g.fillStyle = '#222';
  g.fillText(by === 'keys' ? `${p.label}: fraction of visible keys used (dark 0 → yellow 1)` : `${p.label}: certified TV bound per row (dark 0 → yellow ${maxBound.toExponential(1)})`, LEFT, 16);
  for (let r = 0; r < rows; r++) {
    const y = TOP + r * ROW;
    let used = 0, visible = 0, worst = 0;
    for (let b = 0; b < bins; b++) {
      const from = Math.floor(b * p.positions / bins), to = Math.max(from + 1, Math.floor((b + 1) * p.positions / bins));
      let s = 0;
      for (let pos = from; pos < to; pos++) s += value(r, pos);
      g.fillStyle = colour(s / (to - from));
      g.fillRect(LEFT + b * binW, y, Math.ceil(binW), ROW - 1);
    }
    for (let pos = 0; pos < p.positions; pos++) {
      used += p.keysUsed[r * p.positions + pos]!;
      visible += pos + 1;
      worst = Math.max(worst, p.errorBound[r * p.positions + pos]!);
    }
    g.fillStyle = '#222';
    g.fillText(`L${Math.floor(r / p.heads)} H${r % p.heads}`, 6, y + ROW - 2);
    g.fillText(`${(100 * used / visible).toFixed(1)}% keys, TV ≤ ${worst > 0 ? worst.toExponential(1) : '0'}`, LEFT + plotW + 8, y + ROW - 2);
  }
  const yAxis = TOP + rows * ROW + 14;
  g.fillText('1', LEFT, yAxis);
  g.fillText(String(p.positions), LEFT + plotW - 24, yAxis);
  g.fillText('position (query row)', LEFT + plotW / 2 - 50, yAxis + 14);
}
