/** The vanilla ONNX graph's logit for bst (src/onnx/writer/exporter.ts builds the rest: inputs, lookups, score). */
import type { SpecOf } from '../../model/spec.js';
import { maskInput } from '../../model/sequence.js';
import type { OnnxExporter } from '../../onnx/writer/exporter.js';
import { historyOf } from '../sequence.js';
import { flatFields } from '../../model/fields.js';

/** What masks a padded key away: added to the attention scores (0 on items, -1e9 on padding). */
const MASKED = 1e9;

export function exportBst(ex: OnnxExporter, spec: SpecOf<'bst'>): string {
  const { heads, mlp } = spec.options;
  const { field, target, dim } = historyOf(spec);
  const g = ex.g;
  const headDim = dim / heads;
  const length = g.op('Shape', [field.name], { start: 1, end: 2 });

  /** Multi-head attention of q [B, Lq, dim] over k, v [B, Lk, dim], `mask` added to the scores. */
  const attend = (q: string, k: string, v: string, mask: string): string => {
    const split = (x: string) => g.op('Transpose', [ex.reshape(x, [0, -1, heads, headDim])], { perm: [0, 2, 1, 3] });
    // q k^T as PyTorch writes `q @ k.transpose(-2, -1)`; the values split first, as nn.MultiheadAttention does.
    const values = split(v);
    const keysT = g.op('Transpose', [split(k)], { perm: [0, 1, 3, 2] });
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [split(q), keysT]), g.scalar(Math.sqrt(headDim))]), mask]);
    const out = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), values]);
    return ex.reshape(g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), [0, -1, dim]);
  };
  /** Post-LN: LayerNorm(x + attention W_o), then LayerNorm(s + FFN(s)). */
  const finish = (x: string, att: string, prefix: string): string => {
    const s = ex.layerNorm(g.op('Add', [x, ex.linear(att, `${prefix}.attention.output`)]), `${prefix}.norm1`);
    const ffn = ex.linear(g.op('Relu', [ex.linear(s, `${prefix}.ffn.0`)]), `${prefix}.ffn.1`);
    return ex.layerNorm(g.op('Add', [s, ffn]), `${prefix}.norm2`);
  };

  // Positions by recency (the newest item is position 0): rows L-1 .. 0 of the table, which are rows
  // maxLength - L .. maxLength - 1 of the table stored upside down.
  const start = g.op('Sub', [g.int64s([field.maxLength]), length]);
  const positions = g.op('Slice', [ex.reversedRows('history.position'), start, g.int64s([field.maxLength]), g.int64s([0])]);
  // Broadcast first, as a PyTorch export does: the history on N rows (the compiler finds it is context).
  const x = g.op('Expand', [g.op('Add', [ex.history(field), positions]), ex.rows3()]);
  const pad = g.op('Mul', [g.op('Sub', [maskInput(field), g.scalar(1)]), g.scalar(MASKED)]);
  const keyMask = g.op('Unsqueeze', [pad, g.int64s([1, 2])]); // [1, 1, 1, L]
  const p = (y: string, n: string) => ex.linear(y, `history.attention.${n}`);
  const history = finish(x, attend(p(x, 'query'), p(x, 'key'), p(x, 'value'), keyMask), 'history');

  // The target block: the candidate queries [history block outputs; itself] (broadcast first).
  const t = g.op('Unsqueeze', [ex.values.get(target.name)!, g.int64s([1])]); // [N, 1, dim]
  const q = (y: string, n: string) => ex.linear(y, `target.attention.${n}`);
  const kv = (n: string) => g.op('Concat', [q(history, n), q(t, n)], { axis: 1 }); // both [N, ., dim]: history is on N rows
  const targetMask = g.op('Concat', [keyMask, g.floats(`const:open`, Float32Array.of(0), [1, 1, 1, 1])], { axis: 3 });
  const out = finish(t, attend(q(t, 'query'), kv('key'), kv('value'), targetMask), 'target');
  return ex.mlpWithOutput(ex.concat([...ex.valuesOf(flatFields(spec)), ex.reshape(out, [-1, dim])]), 'mlp', mlp);
}
