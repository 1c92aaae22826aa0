/**
 * A model in rankaware's own format run on the ONNX compiler: its vanilla export (export-onnx) imported
 * with its context fields as the context inputs, and the model format's request rules in front (histories
 * checked, truncated and padded: src/model/sequence.ts). This is how the sequence architectures (din, bst)
 * run: their graph passes (linear-terms, attention over context keys) make them rank-aware, and the
 * compiler's kernels run them on wasm, webgpu and js. Any other architecture can be compiled this way too
 * (the equivalence tests do).
 */
import type { Model } from '../model/model.js';
import { checkRequestShape, encodeCandidates, encodeContext } from '../model/request.js';
import { historyInputs, historyKeys, maskInput } from '../model/sequence.js';
import { randomRequest } from '../model/random.js';
import { exportOnnx } from './writer/export.js';
import { importOnnx } from './model.js';
import type { ImportedModel, NativeRequests } from './model.js';

const compiledModels = new WeakMap<Model, ImportedModel>();

/** The graph inputs that are context: the context fields, each history's mask and side features. */
export function contextInputs(model: Model): string[] {
  return model.spec.fields
    .filter((f) => f.side === 'context')
    .flatMap((f) => (f.type === 'sequence' ? [f.name, maskInput(f), ...historyKeys(f).slice(1)] : [f.name]));
}

/** The model compiled from its export (once per model), taking requests in the model's format. */
export function compileModel(model: Model): ImportedModel {
  let m = compiledModels.get(model);
  if (m) return m;
  const spec = model.spec;
  m = importOnnx(exportOnnx(model), { context: contextInputs(model), file: `${spec.name} (${spec.architecture}, export-onnx)` });
  // encodeContext checks every context field (and refuses a context that is no object) before the layout.
  const prepareContext = (context: unknown): unknown => {
    encodeContext(spec, context);
    return { ...(context as Record<string, unknown>), ...historyInputs(spec, context as Record<string, unknown>) };
  };
  m.native = {
    spec,
    prepare(request) {
      checkRequestShape(request);
      const context = prepareContext(request.context);
      encodeCandidates(spec, request.candidates);
      return { context, candidates: request.candidates };
    },
    prepareContext,
    random: (n, seed, historyLength) => randomRequest(spec, n, seed, historyLength) as ReturnType<NativeRequests['random']>,
  };
  compiledModels.set(model, m);
  return m;
}
