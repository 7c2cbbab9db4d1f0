import assert from 'node:assert/strict';
import { test } from 'node:test';
import { barChart, escapeXml, formatTick, linePlot, niceStep } from '../../src/report/svg-plot.js';
import { markdownTable } from '../../src/report/markdown.js';
import { budgetForAverage } from '../../src/report/reproduce.js';
import { assertWellFormedXml } from './xml.js';

test('linePlot: a well-formed SVG with title, axis labels, legend, one polyline per line series, log ticks at powers', () => {
  const svg = linePlot({
    title: 'kept <vs> n & more', x: { label: 'n', scale: 'log', base: 2 }, y: { label: 'kept', scale: 'log' },
    series: [{ name: 'a', points: [[1024, 10], [4096, 30], [16384, 90]] }, { name: 'b', points: [[1024, 0], [4096, 5]], style: 'points' }],
    hLines: [{ y: 20, label: 'twenty' }], notes: ['fit 0.79'],
  });
  const { root, elements } = assertWellFormedXml(svg);
  assert.equal(root, 'svg');
  assert.equal(elements.get('polyline'), 1);
  assert.equal(elements.get('circle'), 3 + 1 + 2);   // b's y = 0 is outside a log axis: skipped; 2 legend markers
  for (const s of ['kept &lt;vs&gt; n &amp; more', '>n<', '>kept<', '>a<', '>b<', '2^10', '2^14', '>10<', '>100<', 'twenty', 'fit 0.79']) assert.ok(svg.includes(s), s);
});

test('linePlot: a fixed linear step gives ticks every 0.01 across the domain', () => {
  const svg = linePlot({ title: 't', x: { label: 'x' }, y: { label: 'y', domain: [1.5, 1.6], step: 0.01 }, series: [{ name: 's', points: [[0, 1.52], [1, 1.55]] }] });
  assertWellFormedXml(svg);
  for (let i = 0; i <= 10; i++) assert.ok(svg.includes(`>${(1.5 + i / 100).toFixed(2)}<`), (1.5 + i / 100).toFixed(2));
});

test('barChart: one rect per finite bar plus legend and background', () => {
  const svg = barChart({ title: 'b', yLabel: 'y', categories: ['p', 'q'], groups: [{ name: 'g1', values: [1, 2] }, { name: 'g2', values: [3, NaN] }] });
  const { elements } = assertWellFormedXml(svg);
  assert.equal(elements.get('rect'), 1 + 1 + 3 + 2);   // background, frame, 3 bars, 2 legend swatches
});

test('niceStep, formatTick, escapeXml, markdownTable', () => {
  assert.equal(niceStep(0.013), 0.02);
  assert.equal(niceStep(3), 5);
  assert.equal(niceStep(7), 10);
  assert.equal(formatTick(1e-4), '1e-4');
  assert.equal(formatTick(0.0001 * 0.9999999999999999), '1e-4');
  assert.equal(formatTick(2.5e-5), '2.5×1e-5');
  assert.equal(formatTick(0.25), '0.25');
  assert.equal(escapeXml('<a & "b">'), '&lt;a &amp; &quot;b&quot;&gt;');
  assert.equal(markdownTable(['a', 'b'], [[1, 'x|y']]), '| a | b |\n|---|---|\n| 1 | x\\|y |');
});

test('budgetForAverage(A, n) is the smallest B with mean over p < n of min(p + 1, B) ≥ A', () => {
  for (const [A, n] of [[1, 10], [5.5, 10], [62, 256], [100, 256]] as const) {
    const B = budgetForAverage(A, n);
    const avg = (b: number) => Array.from({ length: n }, (_, p) => Math.min(p + 1, b)).reduce((x, y) => x + y, 0) / n;
    assert.ok(avg(B) >= A && (B === 1 || avg(B - 1) < A), `A=${A} n=${n} B=${B}`);
  }
});
