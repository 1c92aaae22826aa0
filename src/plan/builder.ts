/**
 * PlanBuilder: what every architecture's planner uses to emit a plan. It owns buffer allocation and
 * derived weights, and implements the building blocks shared by all architectures: embedding a set of
 * fields, the rank-split linear layer (paper Eq. 1 / 9-10, "RankSplitDense") and MLPs.
 */
import type { Model } from '../model/spec.js';
import type { Tensor } from '../model/safetensors.js';
import type { FlatField } from '../model/spec.js';
import type { Activation, BufferDecl, Component, Op, Plan, PlanMode, PlannedOp, Rank, Slice } from './ir.js';
import { opDef } from './ops.js';

/**
 * A logical vector whose columns live partly in a ctx slice (computed once) and partly in a cand slice:
 * `ctxCols[i]` is the logical column of ctx column i, `candCols[i]` of cand column i. A linear layer on it
 * splits its weight by these columns, so the planner never materializes the broadcast.
 */
export interface SplitVector {
  readonly width: number;
  readonly ctx?: Slice;
  readonly ctxCols: readonly number[];
  readonly cand?: Slice;
  readonly candCols: readonly number[];
}

export class PlanBuilder {
  private readonly buffers: BufferDecl[] = [];
  private readonly weights = new Map<string, Tensor>();
  private readonly contextOps: PlannedOp[] = [];
  private readonly candidateOps: PlannedOp[] = [];
  component: Component = 'embedding';

  constructor(
    readonly model: Model,
    readonly mode: PlanMode,
  ) {
    for (const [name, t] of model.weights) this.weights.set(name, t);
  }

  get rankAware(): boolean {
    return this.mode === 'rank-aware';
  }

  buffer(name: string, rank: Rank, width: number): Slice {
    const id = this.buffers.length;
    this.buffers.push({ id, name, rank, width });
    return { buf: id, col: 0, width };
  }

  rankOf(s: Slice): Rank {
    return this.buffers[s.buf]!.rank;
  }

  /** Append an op to the stage its output rank belongs to. */
  emit(op: Op): void {
    const out = opDef(op).outputs(op)[0]!;
    (this.rankOf(out) === 'ctx' ? this.contextOps : this.candidateOps).push({ op, component: this.component });
  }

  weight(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`planner bug: weight ${name} is not loaded`);
    return t;
  }

  /** Register a weight derived at plan time (a column slice or permutation of a model weight). */
  derive(name: string, t: Tensor): string {
    this.weights.set(name, t);
    return name;
  }

  /** A weight [out, in] restricted to the given input columns, in that order. */
  columns(name: string, cols: readonly number[], tag: string): string {
    const w = this.weight(name);
    const [outs, ins] = w.shape as [number, number];
    if (cols.length === ins && cols.every((c, i) => c === i)) return name;
    const data = new Float32Array(outs * cols.length);
    for (let o = 0; o < outs; o++) for (let i = 0; i < cols.length; i++) data[o * cols.length + i] = w.data[o * ins + cols[i]!]!;
    return this.derive(`${name}[${tag}]`, { shape: [outs, cols.length], data });
  }

  build(output: Slice): Plan {
    return {
      mode: this.mode,
      buffers: this.buffers,
      weights: this.weights,
      contextOps: this.contextOps,
      candidateOps: this.candidateOps,
      output,
    };
  }

  // ----- building blocks ------------------------------------------------------------------

  /** Write a field's value (embedding or dense values) into `out`. */
  embedField(field: FlatField, index: number, out: Slice): void {
    if (field.type === 'dense') this.emit({ kind: 'dense', field: index, out });
    else this.emit({ kind: 'gather', field: index, table: `embedding.${field.name}`, pooling: field.pooling, out });
  }

  /**
   * Concatenate fields (each at its logical column offset) into a SplitVector. Rank-aware: context fields
   * into a ctx buffer, target fields into a cand buffer. Vanilla: context fields are looked up once and
   * broadcast into the single cand buffer right away (what a broadcast-first export does).
   */
  embedFields(name: string, fields: readonly { field: FlatField; index: number; offset: number }[], width: number): SplitVector {
    const prev = this.component;
    this.component = 'embedding';
    const ctxFields = fields.filter((f) => f.field.side === 'context');
    const candFields = fields.filter((f) => f.field.side === 'target');
    const ctxWidth = ctxFields.reduce((a, f) => a + f.field.dim, 0);
    const candWidth = width - ctxWidth;
    const ctx = ctxWidth > 0 ? this.buffer(`${name}.ctx`, 'ctx', ctxWidth) : undefined;
    const ctxCols: number[] = [];
    for (const f of ctxFields) {
      this.embedField(f.field, f.index, { buf: ctx!.buf, col: ctxCols.length, width: f.field.dim });
      for (let d = 0; d < f.field.dim; d++) ctxCols.push(f.offset + d);
    }
    let result: SplitVector;
    if (this.rankAware) {
      const cand = candWidth > 0 ? this.buffer(`${name}.cand`, 'cand', candWidth) : undefined;
      const candCols: number[] = [];
      for (const f of candFields) {
        this.embedField(f.field, f.index, { buf: cand!.buf, col: candCols.length, width: f.field.dim });
        for (let d = 0; d < f.field.dim; d++) candCols.push(f.offset + d);
      }
      result = { width, ctx, ctxCols, cand, candCols };
    } else {
      const cand = this.buffer(name, 'cand', width);
      let at = 0;
      for (const f of ctxFields) {
        this.emit({ kind: 'copy', src: { buf: ctx!.buf, col: at, width: f.field.dim }, out: { buf: cand.buf, col: f.offset, width: f.field.dim } });
        at += f.field.dim;
      }
      for (const f of candFields) this.embedField(f.field, f.index, { buf: cand.buf, col: f.offset, width: f.field.dim });
      result = { width, cand, candCols: range(width), ctxCols: [] };
    }
    this.component = prev;
    return result;
  }

  /**
   * One linear layer on a split vector: the ctx columns' product plus the bias runs once (ctx stage),
   * the cand columns' product adds it as a broadcast row (paper Eq. 10). Returns the output slice,
   * ctx-ranked when the input has no cand columns.
   */
  linearSplit(x: SplitVector, weight: string, bias: string | undefined, act: Activation, outName: string): Slice {
    const units = this.weight(weight).shape[0]!;
    if (!x.cand) {
      const out = this.buffer(outName, 'ctx', units);
      this.emit({ kind: 'linear', x: x.ctx!, groups: 1, weight: this.columns(weight, x.ctxCols, 'ctx'), bias, act, out });
      return out;
    }
    const out = this.buffer(outName, 'cand', units);
    const candWeight = this.columns(weight, x.candCols, 'cand');
    if (!x.ctx) {
      this.emit({ kind: 'linear', x: x.cand, groups: 1, weight: candWeight, bias, act, out });
      return out;
    }
    const once = this.buffer(`${outName}.once`, 'ctx', units);
    this.emit({ kind: 'linear', x: x.ctx, groups: 1, weight: this.columns(weight, x.ctxCols, 'ctx'), bias, act: 'none', out: once });
    this.emit({ kind: 'linear', x: x.cand, groups: 1, weight: candWeight, add: once, act, out });
    return out;
  }

  /** out = act(x W^T + b) on a plain slice. */
  linear(x: Slice, weight: string, bias: string | undefined, act: Activation, outName: string, groups = 1, add?: Slice): Slice {
    const units = this.weight(weight).shape[0]! * groups;
    const out = this.buffer(outName, this.rankOf(x), units);
    this.emit({ kind: 'linear', x, groups, weight, bias, act, add, out });
    return out;
  }

  /**
   * An MLP named prefix.0 .. prefix.(k-1): ReLU after each layer but the last, which gets `lastAct`.
   * The first layer is rank-split.
   */
  mlp(x: SplitVector, prefix: string, layers: number, lastAct: Activation): Slice {
    let h: Slice | undefined;
    for (let i = 0; i < layers; i++) {
      const act = i === layers - 1 ? lastAct : 'relu';
      const w = `${prefix}.${i}.weight`;
      const b = `${prefix}.${i}.bias`;
      h = i === 0 ? this.linearSplit(x, w, this.weights.has(b) ? b : undefined, act, `${prefix}.${i}`) : this.linear(h!, w, this.weights.has(b) ? b : undefined, act, `${prefix}.${i}`);
    }
    if (!h) throw new Error(`planner bug: empty MLP ${prefix}`);
    return h;
  }

  /** Concatenate slices side by side into one new cand buffer (ctx slices are broadcast). */
  concatCand(name: string, parts: readonly Slice[]): Slice {
    const out = this.buffer(name, 'cand', parts.reduce((a, p) => a + p.width, 0));
    let col = 0;
    for (const src of parts) {
      this.emit({ kind: 'copy', src, out: { buf: out.buf, col, width: src.width } });
      col += src.width;
    }
    return out;
  }

  /**
   * cat(c, t) of a context stream c and a candidate stream t (rDCN, rank-attention): split when c is a ctx
   * slice (rank-aware), one concatenated cand buffer when the plan broadcast it (vanilla).
   */
  streams(c: Slice, t: Slice, name: string): SplitVector {
    if (this.rankOf(c) === 'cand') return whole(this, this.concatCand(name, [c, t]));
    return { width: c.width + t.width, ctx: c, ctxCols: range(c.width), cand: t, candCols: range(t.width, c.width) };
  }

  /** The whole split vector as one cand slice in logical column order (broadcasting the ctx part). */
  materialize(x: SplitVector, name: string): Slice {
    if (!x.ctx && x.cand && x.candCols.every((c, i) => c === i) && x.candCols.length === x.width) return x.cand;
    const out = this.buffer(name, 'cand', x.width);
    copyRuns(this, x.ctx, x.ctxCols, out);
    copyRuns(this, x.cand, x.candCols, out);
    return out;
  }
}

/** Copy src column i to logical column cols[i] of out, one op per contiguous run. */
function copyRuns(b: PlanBuilder, src: Slice | undefined, cols: readonly number[], out: Slice): void {
  if (!src) return;
  let start = 0;
  for (let i = 1; i <= cols.length; i++) {
    if (i === cols.length || cols[i] !== cols[i - 1]! + 1) {
      b.emit({ kind: 'copy', src: { buf: src.buf, col: src.col + start, width: i - start }, out: { buf: out.buf, col: out.col + cols[start]!, width: i - start } });
      start = i;
    }
  }
}

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** A SplitVector that is simply one slice (ctx or cand) in logical order. */
export function whole(b: PlanBuilder, s: Slice): SplitVector {
  return b.rankOf(s) === 'ctx' ? { width: s.width, ctx: s, ctxCols: range(s.width), candCols: [] } : { width: s.width, cand: s, candCols: range(s.width), ctxCols: [] };
}
