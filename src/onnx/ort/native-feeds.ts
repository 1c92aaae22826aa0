/**
 * The ort backend's input tensors for a model in rankaware's own format, straight from the model's request
 * encoding (src/model/request.ts: every check and error of the other backends, OOV ids mapped to the
 * bucket row, which the graph maps there too). The general path (ImportedModel.encode, then a copy per
 * tensor) checks a native request twice and builds every value as float64 first: at 16 candidates that
 * cost about as much as a tenth of the run. Graph inputs this does not know (none of the exported
 * architectures has one) make it decline, and the scorer takes the general path.
 */
import { RankawareError } from '../../errors.js';
import { checkRequestShape, encodeCandidates, encodeContext } from '../../model/request.js';
import type { Inputs } from '../../model/request.js';
import { historyInputs, historyKeys, maskInput } from '../../model/sequence.js';
import { sequenceFields } from '../../model/fields.js';
import type { ModelSpec } from '../../model/spec.js';
import type { TypedName } from '../writer/graph-proto.js';
import { int64 } from './runner.js';
import type { PlainTensor } from './runner.js';

/** Where one graph input comes from: a field's encoded ids or values, or a history input. */
type Source = { readonly kind: 'sparse'; readonly index: number; readonly pooled: boolean } | { readonly kind: 'dense'; readonly index: number; readonly dim: number } | { readonly kind: 'history' };

export interface NativeFeeds {
  /** The context's tensors and the candidates' (refusals as the model's request rules word them). */
  encode(request: unknown): { readonly context: Record<string, PlainTensor>; readonly candidates: Record<string, PlainTensor>; readonly n: number };
}

/** The feeds of `inputs` for `spec`'s requests, or undefined when an input is not a field the encoding has. */
export function nativeFeeds(spec: ModelSpec, contextInputs: readonly TypedName[], candidateInputs: readonly TypedName[]): NativeFeeds | undefined {
  const histories = new Set(sequenceFields(spec).flatMap((f) => [...historyKeys(f), maskInput(f)]));
  const sourceOf = (input: TypedName, side: 'context' | 'target'): Source | undefined => {
    if (side === 'context' && histories.has(input.name)) return { kind: 'history' };
    const index = spec.fields.findIndex((f) => f.name === input.name && f.side === side);
    const f = spec.fields[index];
    if (!f || f.type === 'sequence') return undefined;
    if (f.type === 'dense') return input.dtype === 'float' ? { kind: 'dense', index, dim: f.dim } : undefined;
    return input.dtype === 'int' ? { kind: 'sparse', index, pooled: f.pooling !== 'none' } : undefined;
  };
  const plan = (inputs: readonly TypedName[], side: 'context' | 'target') => inputs.map((input) => ({ input, source: sourceOf(input, side) }));
  const ctx = plan(contextInputs, 'context');
  const cand = plan(candidateInputs, 'target');
  if ([...ctx, ...cand].some((p) => p.source === undefined)) return undefined;

  const tensors = (entries: typeof ctx, encoded: Inputs, where: (row: number) => string, history?: Record<string, number[]>) => {
    const out: Record<string, PlainTensor> = {};
    const rows = encoded.rows;
    for (const { input, source } of entries) {
      const s = source!;
      if (s.kind === 'history') {
        const values = history![input.name]!;
        out[input.name] = input.dtype === 'float' ? { type: 'float32', data: Float32Array.from(values), dims: [1, values.length] } : { type: 'int64', data: int64(Float64Array.from(values)), dims: [1, values.length] };
      } else if (s.kind === 'dense') {
        out[input.name] = { type: 'float32', data: encoded.dense.get(s.index)!, dims: [rows, s.dim] };
      } else {
        const { offsets, ids } = encoded.sparse.get(s.index)!;
        if (!s.pooled) {
          out[input.name] = { type: 'int64', data: int64(ids), dims: [rows] };
          continue;
        }
        // ONNX tensors are rectangular: every row lists as many ids as the first.
        const width = offsets[1]! - offsets[0]!;
        for (let r = 1; r < rows; r++)
          if (offsets[r + 1]! - offsets[r]! !== width) throw new RankawareError(`${where(r)}.${input.name}`, `a list of ${width} values, like the first candidate's (ONNX inputs are rectangular)`, `a list of ${offsets[r + 1]! - offsets[r]!}`);
        out[input.name] = { type: 'int64', data: int64(ids), dims: [rows, width] };
      }
    }
    return out;
  };
  const anyHistory = ctx.some((p) => p.source!.kind === 'history');
  return {
    encode(request) {
      checkRequestShape(request);
      const context = encodeContext(spec, request.context);
      const candidates = encodeCandidates(spec, request.candidates);
      const history = anyHistory ? historyInputs(spec, request.context as Record<string, unknown>) : undefined;
      return { context: tensors(ctx, context, () => 'request.context', history), candidates: tensors(cand, candidates, (r) => `request.candidates[${r}]`), n: candidates.rows };
    },
  };
}
