/**
 * Elementwise kernels over arena views: binary ops with numpy broadcasting (by a BroadcastPlan), Where,
 * unary ops and activations, and casts. Each op has its own loop (a shared loop calling a function per
 * element would not be inlined by the engine). Int and bool tensors are int32 views: a comparison writes
 * 0 or 1, an integer division truncates on the store, as ONNX's does.
 */
import { erf, gelu, geluTanh } from '../../interpreter/ops.js';
import type { BroadcastPlan } from './broadcast.js';

export const BINARY_CODES = {
  Add: 0, Sub: 1, Mul: 2, Div: 3, Pow: 4, Max: 5, Min: 6, Equal: 7, Less: 8, LessOrEqual: 9, Greater: 10, GreaterOrEqual: 11, And: 12, Or: 13,
} as const;
/** Pow by a constant 2 (the decomposed variance of a hand-written LayerNorm): x * x. */
export const SQUARE_CODE = 14;
export type BinaryOp = keyof typeof BINARY_CODES;

import type { Elements } from './types.js';

/**
 * o[oo + j] = a[ao + j * sa] (op) b[bo + j * sb] for j < n. The four arithmetic ops have a loop per
 * broadcast pattern (both full, one operand a repeated scalar): the common cases run without the
 * multiplications by the steps.
 */
function binaryRun(code: number, o: Elements, a: Elements, b: Elements, oo: number, ao: number, bo: number, n: number, sa: number, sb: number): void {
  if (code <= 3 && sa + sb === 2) return FULL[code]!(o, a, b, oo, ao, bo, n);
  if (code <= 3) {
    if (sb === 0) {
      const y = b[bo]!;
      if (sa === 0) { const v = code === 0 ? a[ao]! + y : code === 1 ? a[ao]! - y : code === 2 ? a[ao]! * y : a[ao]! / y; o.fill(v, oo, oo + n); return; }
      switch (code) {
        case 0: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! + y; return;
        case 1: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! - y; return;
        case 2: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! * y; return;
        default: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! / y; return;
      }
    }
    const x = a[ao]!;
    switch (code) {
      case 0: for (let j = 0; j < n; j++) o[oo + j] = x + b[bo + j]!; return;
      case 1: for (let j = 0; j < n; j++) o[oo + j] = x - b[bo + j]!; return;
      case 2: for (let j = 0; j < n; j++) o[oo + j] = x * b[bo + j]!; return;
      default: for (let j = 0; j < n; j++) o[oo + j] = x / b[bo + j]!; return;
    }
  }
  switch (code) {
    case 0: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! + b[bo + j * sb]!; break;
    case 1: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! - b[bo + j * sb]!; break;
    case 2: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! * b[bo + j * sb]!; break;
    case 3: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! / b[bo + j * sb]!; break;
    case 4: for (let j = 0; j < n; j++) o[oo + j] = Math.pow(a[ao + j * sa]!, b[bo + j * sb]!); break;
    case 5: for (let j = 0; j < n; j++) { const x = a[ao + j * sa]!, y = b[bo + j * sb]!; o[oo + j] = x >= y || x !== x ? x : y; } break;
    case 6: for (let j = 0; j < n; j++) { const x = a[ao + j * sa]!, y = b[bo + j * sb]!; o[oo + j] = x <= y || x !== x ? x : y; } break;
    case 7: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa] === b[bo + j * sb] ? 1 : 0; break;
    case 8: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! < b[bo + j * sb]! ? 1 : 0; break;
    case 9: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! <= b[bo + j * sb]! ? 1 : 0; break;
    case 10: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! > b[bo + j * sb]! ? 1 : 0; break;
    case 11: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa]! >= b[bo + j * sb]! ? 1 : 0; break;
    case 12: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa] && b[bo + j * sb] ? 1 : 0; break;
    case 13: for (let j = 0; j < n; j++) o[oo + j] = a[ao + j * sa] || b[bo + j * sb] ? 1 : 0; break;
    case 14: for (let j = 0; j < n; j++) { const x = a[ao + j * sa]!; o[oo + j] = x * x; } break;
    default: throw new Error(`binary op code ${code}`);
  }
}

type FullRun = (o: Elements, a: Elements, b: Elements, oo: number, ao: number, bo: number, n: number) => void;
// One small function per op for two full operands, the hottest loop (x + x0 * z of a cross layer).
const FULL: readonly FullRun[] = [
  (o, a, b, oo, ao, bo, n) => { for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! + b[bo + j]!; },
  (o, a, b, oo, ao, bo, n) => { for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! - b[bo + j]!; },
  (o, a, b, oo, ao, bo, n) => { for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! * b[bo + j]!; },
  (o, a, b, oo, ao, bo, n) => { for (let j = 0; j < n; j++) o[oo + j] = a[ao + j]! / b[bo + j]!; },
];

export function binary(code: number, o: Elements, a: Elements, b: Elements, out: number, aAt: number, bAt: number, plan: BroadcastPlan): void {
  const [ba, bb] = plan.bases as [Int32Array, Int32Array];
  const [sa, sb] = plan.steps as [number, number];
  const inner = plan.inner;
  for (let r = 0; r < plan.rows; r++) binaryRun(code, o, a, b, out + r * inner, aAt + ba[r]!, bAt + bb[r]!, inner, sa, sb);
}

export function where(o: Elements, c: Int32Array, x: Elements, y: Elements, out: number, cAt: number, xAt: number, yAt: number, plan: BroadcastPlan): void {
  const [bc, bx, by] = plan.bases as [Int32Array, Int32Array, Int32Array];
  const [sc, sx, sy] = plan.steps as [number, number, number];
  const inner = plan.inner;
  for (let r = 0; r < plan.rows; r++) {
    const oo = out + r * inner, co = cAt + bc[r]!, xo = xAt + bx[r]!, yo = yAt + by[r]!;
    for (let j = 0; j < inner; j++) o[oo + j] = c[co + j * sc] ? x[xo + j * sx]! : y[yo + j * sy]!;
  }
}

export const UNARY_CODES = {
  Neg: 0, Abs: 1, Reciprocal: 2, Sqrt: 3, Exp: 4, Log: 5, Relu: 6, LeakyRelu: 7, Sigmoid: 8, Tanh: 9, Erf: 10, Softplus: 11, Clip: 12, Not: 13, Identity: 14, Gelu: 15, GeluTanh: 16,
} as const;
export type UnaryOp = keyof typeof UNARY_CODES;

/** o[oo + j] = op(x[xo + j]) for j < n; p and q are LeakyRelu's alpha, Clip's bounds. */
export function unary(code: number, o: Elements, x: Elements, oo: number, xo: number, n: number, p: number, q: number): void {
  switch (code) {
    case 0: for (let j = 0; j < n; j++) o[oo + j] = -x[xo + j]!; break;
    case 1: for (let j = 0; j < n; j++) o[oo + j] = Math.abs(x[xo + j]!); break;
    case 2: for (let j = 0; j < n; j++) o[oo + j] = 1 / x[xo + j]!; break;
    case 3: for (let j = 0; j < n; j++) o[oo + j] = Math.sqrt(x[xo + j]!); break;
    case 4: for (let j = 0; j < n; j++) o[oo + j] = Math.exp(x[xo + j]!); break;
    case 5: for (let j = 0; j < n; j++) o[oo + j] = Math.log(x[xo + j]!); break;
    case 6: for (let j = 0; j < n; j++) { const v = x[xo + j]!; o[oo + j] = v > 0 ? v : 0; } break;
    case 7: for (let j = 0; j < n; j++) { const v = x[xo + j]!; o[oo + j] = v >= 0 ? v : p * v; } break;
    case 8: for (let j = 0; j < n; j++) { const v = x[xo + j]!; o[oo + j] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)); } break;
    case 9: for (let j = 0; j < n; j++) o[oo + j] = Math.tanh(x[xo + j]!); break;
    case 10: for (let j = 0; j < n; j++) o[oo + j] = erf(x[xo + j]!); break;
    case 11: for (let j = 0; j < n; j++) { const v = x[xo + j]!; o[oo + j] = v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)); } break;
    case 12: for (let j = 0; j < n; j++) o[oo + j] = Math.min(Math.max(x[xo + j]!, p), q); break;
    case 13: for (let j = 0; j < n; j++) o[oo + j] = x[xo + j] ? 0 : 1; break;
    case 14: for (let j = 0; j < n; j++) o[oo + j] = x[xo + j]!; break;
    case 15: for (let j = 0; j < n; j++) o[oo + j] = gelu(x[xo + j]!); break;
    case 16: for (let j = 0; j < n; j++) o[oo + j] = geluTanh(x[xo + j]!); break;
    default: throw new Error(`unary op code ${code}`);
  }
}

/** A cast between storages: to int truncates, to bool tests for nonzero, to float rounds to float32. */
export function cast(o: Elements, x: Elements, oo: number, xo: number, n: number, to: 'float' | 'int' | 'bool'): void {
  if (to === 'bool') for (let j = 0; j < n; j++) o[oo + j] = x[xo + j] ? 1 : 0;
  else if (to === 'int') for (let j = 0; j < n; j++) o[oo + j] = Math.trunc(x[xo + j]!);
  else for (let j = 0; j < n; j++) o[oo + j] = x[xo + j]!;
}
