import { roundingSlack } from './rounding.js';

/**
 * A static ball tree over points [0, n): principal-direction median splits, nodes in preorder
 * (a node's left child is the next node), leaves contiguous in leaf order.
 *
 * Layout (`nodes` = node count, positions are indices into leaf order):
 *   order    [n]            id of the point at each position
 *   ordered  [n, dim]       float32 points permuted into leaf order (a copy), so a leaf is one block
 *   start, end [nodes]      the node's positions [start, end)
 *   right    [nodes]        right child, −1 for a leaf (the left child is node + 1)
 *   centres  [nodes, dim]   float32 centre (≈ the mean: leaves' means, parents' size-weighted means
 *                           of their children's centres; radii are measured exactly from it)
 *   slack    [nodes]        certified radius: |⟨a,p⟩ − fl(⟨a,c⟩)| ≤ ‖a‖·slack for every point p in the
 *                           node, for both the exact ⟨a,p⟩ and its float64 `dotRow` (see below)
 *   minId, maxId [nodes]    smallest and largest id in the subtree (prefix queries prune by position)
 *
 * slack = (r + G·(3‖c‖ + 3r))·(1 + G), r = max ‖p − c‖ in float64, G = roundingSlack(dim): the G terms
 * cover the rounding of r itself, of fl(⟨a,c⟩) (≤ γ_d·‖a‖·‖c‖) and of dotRow (≤ γ_d·‖a‖·‖p‖ with
 * ‖p‖ ≤ ‖c‖ + r), so node bounds decide exactly what `scan` would.
 */
export interface BallTree {
  readonly size: number;
  readonly nodes: number;
  readonly order: Uint32Array;
  readonly ordered: Float32Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly right: Int32Array;
  readonly centres: Float32Array;
  readonly slack: Float64Array;
  readonly minId: Uint32Array;
  readonly maxId: Uint32Array;
}

/** Power-iteration steps and (largest) sample size for a node's principal direction. */
const POWER_STEPS = 4;
const POWER_SAMPLE = 64;

export function buildBallTree(points: Float32Array, n: number, dim: number, leafSize: number): BallTree {
  // Every split node has > leafSize points and halves them, so leaves hold ≥ ⌊(leafSize+1)/2⌋ points.
  const maxNodes = n === 0 ? 0 : 2 * Math.ceil(n / Math.floor((leafSize + 1) / 2)) - 1;
  const tree = {
    size: n, nodes: 0,
    order: Uint32Array.from({ length: n }, (_, i) => i),
    ordered: new Float32Array(n * dim),
    start: new Int32Array(maxNodes), end: new Int32Array(maxNodes), right: new Int32Array(maxNodes),
    centres: new Float32Array(maxNodes * dim), slack: new Float64Array(maxNodes),
    minId: new Uint32Array(maxNodes), maxId: new Uint32Array(maxNodes),
  };
  const builder = new Builder(points, dim, leafSize, tree);
  if (n > 0) builder.node(0, n);
  for (let pos = 0; pos < n; pos++) tree.ordered.set(points.subarray(tree.order[pos]! * dim, (tree.order[pos]! + 1) * dim), pos * dim);
  return tree;
}

class Builder {
  private readonly g: number;
  private readonly proj: Float64Array;      // [n] projection of the point at each position
  private readonly mean: Float64Array;      // [dim]
  private readonly dir: Float64Array;       // [dim]
  private readonly next: Float64Array;      // [dim]
  constructor(private readonly points: Float32Array, private readonly dim: number,
    private readonly leafSize: number, private readonly tree: { -readonly [K in keyof BallTree]: BallTree[K] }) {
    this.g = roundingSlack(dim);
    this.proj = new Float64Array(tree.size);
    this.mean = new Float64Array(dim);
    this.dir = new Float64Array(dim);
    this.next = new Float64Array(dim);
  }

  /**
   * Builds the subtree over positions [lo, hi) and returns its node index. Top-down: power
   * iteration on a sample, one projection pass, median selection. Bottom-up: a leaf's centre is its
   * mean, an internal node's centre the size-weighted mean of its children's centres (no pass), and
   * every node's radius is measured exactly from its centre (one pass). About 2 passes per level.
   */
  node(lo: number, hi: number): number {
    const t = this.tree;
    const id = t.nodes++;
    t.start[id] = lo; t.end[id] = hi;
    const { points, dim, proj, dir, tree: { order } } = this;
    const c = t.centres.subarray(id * dim, (id + 1) * dim);
    if (hi - lo <= this.leafSize) {
      t.right[id] = -1;
      this.sampleMean(lo, hi, 1);
      c.set(this.mean);
      let minId = Infinity, maxId = -1;
      for (let pos = lo; pos < hi; pos++) { minId = Math.min(minId, order[pos]!); maxId = Math.max(maxId, order[pos]!); }
      t.minId[id] = minId; t.maxId[id] = maxId;
    } else {
      this.principalDirection(lo, hi);
      project(points, order, dim, lo, hi, dir, proj);
      const mid = (lo + hi) >> 1;
      selectNth(proj, order, lo, hi, mid);
      const left = this.node(lo, mid);
      const right = this.node(mid, hi);
      t.right[id] = right;
      const wl = (mid - lo) / (hi - lo), wr = (hi - mid) / (hi - lo);
      for (let j = 0; j < dim; j++) c[j] = wl * t.centres[left * dim + j]! + wr * t.centres[right * dim + j]!;
      t.minId[id] = Math.min(t.minId[left]!, t.minId[right]!);
      t.maxId[id] = Math.max(t.maxId[left]!, t.maxId[right]!);
    }
    this.radius(id, lo, hi);
    return id;
  }

  /** The certified radius of node `id` around its stored (float32) centre; see BallTree.slack. */
  private radius(id: number, lo: number, hi: number): void {
    const { points, dim, g, tree: t } = this;
    const c = t.centres.subarray(id * dim, (id + 1) * dim);
    const r2 = maxDistance2(points, t.order, dim, lo, hi, c);
    let c2 = 0;
    for (let j = 0; j < dim; j++) c2 += c[j]! * c[j]!;
    const r = Math.sqrt(r2);
    t.slack[id] = (r + g * (3 * Math.sqrt(c2) + 3 * r)) * (1 + g);
  }

  /** `mean` ← the mean of the points at positions lo, lo + stride, … < hi. */
  private sampleMean(lo: number, hi: number, stride: number): void {
    const { points, dim, mean, tree: { order } } = this;
    mean.fill(0);
    let count = 0;
    for (let pos = lo; pos < hi; pos += stride, count++) {
      const base = order[pos]! * dim;
      for (let j = 0; j < dim; j++) mean[j] += points[base + j]!;
    }
    for (let j = 0; j < dim; j++) mean[j] /= count;
  }

  /**
   * `dir` ← the top principal direction of a strided sample of the node's points (centred on the
   * sample mean), by power iteration from the sample point farthest from that mean. Zero if all
   * sampled points coincide.
   */
  private principalDirection(lo: number, hi: number): void {
    const { points, dim, mean, dir, next, tree: { order } } = this;
    // Small nodes sample an eighth of their points (≥ 16), so power iteration costs about one pass per level.
    const stride = Math.max(1, Math.floor((hi - lo) / Math.min(POWER_SAMPLE, Math.max(16, (hi - lo) >> 3))));
    this.sampleMean(lo, hi, stride);
    let far = -1;
    for (let pos = lo; pos < hi; pos += stride) {
      const base = order[pos]! * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) { const e = points[base + j]! - mean[j]!; s += e * e; }
      if (s > far) { far = s; for (let j = 0; j < dim; j++) dir[j] = points[base + j]! - mean[j]!; }
    }
    for (let step = 0; step < POWER_STEPS; step++) {
      next.fill(0);
      for (let pos = lo; pos < hi; pos += stride) {
        const base = order[pos]! * dim;
        let s = 0;
        for (let j = 0; j < dim; j++) s += (points[base + j]! - mean[j]!) * dir[j]!;
        for (let j = 0; j < dim; j++) next[j] += s * (points[base + j]! - mean[j]!);
      }
      let norm2 = 0;
      for (let j = 0; j < dim; j++) norm2 += next[j]! * next[j]!;
      if (!(norm2 > 0)) return; // the sample is one point (or the direction died): keep the last one
      const inv = 1 / Math.sqrt(norm2);
      for (let j = 0; j < dim; j++) dir[j] = next[j]! * inv;
    }
  }
}

// Hot loops of the build as plain functions (V8 optimises them better than inside the recursion).

/** proj[pos] = ⟨dir, point at pos⟩ for positions [lo, hi). */
function project(points: Float32Array, order: Uint32Array, dim: number, lo: number, hi: number, dir: Float64Array, proj: Float64Array): void {
  for (let pos = lo; pos < hi; pos++) {
    const base = order[pos]! * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += dir[j]! * points[base + j]!;
    proj[pos] = s;
  }
}

/** max ‖p − c‖² (float64) over the points at positions [lo, hi). */
function maxDistance2(points: Float32Array, order: Uint32Array, dim: number, lo: number, hi: number, c: Float32Array): number {
  let r2 = 0;
  for (let pos = lo; pos < hi; pos++) {
    const base = order[pos]! * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) { const e = points[base + j]! - c[j]!; s += e * e; }
    if (s > r2) r2 = s;
  }
  return r2;
}

/** Reorders positions [lo, hi) (keys `proj`, payload `order`) so that proj[lo..k) ≤ proj[k] ≤ proj(k..hi). */
function selectNth(proj: Float64Array, order: Uint32Array, lo: number, hi: number, k: number): void {
  let l = lo, r = hi - 1;
  while (r > l) {
    const pivot = proj[(l + r) >> 1]!;
    let i = l, j = r;
    while (i <= j) {
      while (proj[i]! < pivot) i++;
      while (proj[j]! > pivot) j--;
      if (i <= j) {
        const p = proj[i]!; proj[i] = proj[j]!; proj[j] = p;
        const o = order[i]!; order[i] = order[j]!; order[j] = o;
        i++; j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return;
  }
}
