/**
 * FLOPs of one request on an imported (or compiled) model, counted at the request's own shapes: the
 * staged program's context stage (once per request) and candidate stage (per candidate), and the vanilla
 * graph as exported (per candidate). The interpreter counts them, so a history's length and a list's
 * length count as they are in this request, not as a declared maximum.
 */
import { evaluateGraph } from './interpreter/evaluate.js';
import type { ImportedModel } from './model.js';

export interface RequestFlops {
  readonly n: number;
  readonly once: number;
  readonly perCandidate: number;
  readonly vanillaPerCandidate: number;
}

export function requestFlops(model: ImportedModel, request: unknown): RequestFlops {
  const encoded = model.encode(request);
  const n = encoded.n;
  let once = 0;
  const context = model.program.runContext(encoded.context, (f) => (once += f));
  let cand = 0;
  model.program.runCandidates(context, encoded.candidates, n, (f) => (cand += f));
  const vanilla = evaluateGraph(model.graph, new Map([...encoded.context, ...encoded.candidates])).flops.reduce((a, b) => a + b, 0);
  return { n, once, perCandidate: cand / n, vanillaPerCandidate: vanilla / n };
}
