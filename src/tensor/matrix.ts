import { HsrError } from '../errors.js';

/** A row-major matrix view: element (i, j) is `data[i * cols + j]`. */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Wraps `data` (not copied when it is already a Float32Array) as a `rows × cols` matrix after
 * checking that the length matches and every value is finite.
 */
export function matrix(data: Float32Array | number[], rows: number, cols: number): Matrix {
  assertCount(rows, 'rows');
  assertCount(cols, 'cols');
  const arr = data instanceof Float32Array ? data : Array.isArray(data) ? Float32Array.from(data) : null;
  if (arr === null) {
    throw new HsrError('BAD_DTYPE', `matrix: expected a Float32Array or number[], got ${describe(data)}`);
  }
  if (arr.length !== rows * cols) {
    throw new HsrError('SHAPE_MISMATCH',
      `matrix: expected ${rows}×${cols} = ${rows * cols} values, got ${arr.length}`);
  }
  assertFinite(arr, 'matrix');
  return { data: arr, rows, cols };
}

/** Throws NON_FINITE naming the first offending element. */
export function assertFinite(values: ArrayLike<number>, what: string): void {
  // The common case first, in one monomorphic loop (x·0 is NaN exactly for ±Infinity and NaN): the
  // generic loop below reads elements polymorphically, ~20× slower on the megabytes of a K/V matrix.
  if (values instanceof Float32Array && allFinite(values)) return;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) {
      throw new HsrError('NON_FINITE', `${what}: expected finite values, got ${x} at element ${i}`);
    }
  }
}

function allFinite(a: Float32Array): boolean {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * 0;
  return s === 0;
}

/** Throws unless `x` is a non-negative safe integer. */
export function assertCount(x: unknown, what: string): asserts x is number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    throw new HsrError('BAD_OPTION', `${what}: expected a non-negative integer, got ${describe(x)}`);
  }
}

/** Throws unless `v` is a Float32Array of exactly `length` finite values. */
export function assertVector(v: unknown, length: number, what: string): asserts v is Float32Array {
  if (!(v instanceof Float32Array)) {
    throw new HsrError('BAD_DTYPE', `${what}: expected a Float32Array, got ${describe(v)}`);
  }
  if (v.length !== length) {
    throw new HsrError('DIM_MISMATCH', `${what}: expected length ${length}, got ${v.length}`);
  }
  assertFinite(v, what);
}

/** Throws unless `m` looks like a Matrix with consistent shape and finite values. */
export function assertMatrix(m: unknown, what: string): asserts m is Matrix {
  const mm = m as Partial<Matrix> | null;
  if (mm === null || typeof mm !== 'object' || !(mm.data instanceof Float32Array)) {
    throw new HsrError('BAD_DTYPE', `${what}: expected a Matrix with Float32Array data, got ${describe(m)}`);
  }
  assertCount(mm.rows, `${what}.rows`);
  assertCount(mm.cols, `${what}.cols`);
  if (mm.data.length !== mm.rows * mm.cols) {
    throw new HsrError('SHAPE_MISMATCH',
      `${what}: expected ${mm.rows}×${mm.cols} = ${mm.rows * mm.cols} values, got ${mm.data.length}`);
  }
  assertFinite(mm.data, what);
}

/** Most float32 values a constructor allocates up front from sizes it is given (1 GiB). */
export const MAX_UP_FRONT_VALUES = 2 ** 28;

/**
 * Throws TOO_LARGE when sizes taken from input ask for more than MAX_UP_FRONT_VALUES up front:
 * checked before allocating, since a failed huge allocation aborts the process uncatchably.
 */
export function assertUpFrontSize(values: number, what: string): void {
  if (!(values <= MAX_UP_FRONT_VALUES)) {
    throw new HsrError('TOO_LARGE', `${what}: expected at most ${MAX_UP_FRONT_VALUES} float32 values allocated up front, got ${values}`);
  }
}

/** Row `i` of `m` as a view (no copy). */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** A short human description of a value's type for error messages. */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (typeof x === 'number') return String(x);
  if (typeof x === 'string') return JSON.stringify(x);
  return typeof x;
}
