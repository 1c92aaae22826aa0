/**
 * Recognize an imported graph as one of the six architectures and extract the native model (model.json
 * spec and canonical weights), so that it runs on the plan IR: the js and wasm kernels, the worker pool,
 * bench. The structure is matched node by node (src/zoo/<arch>/match.ts, tried in the order of src/zoo/onnx.ts); the extracted model must then load (every
 * weight named and shaped as the architecture declares) and give the graph's logits on seeded probe
 * requests to 1e-6 relative. Anything short of that leaves the graph on the interpreter, with the reason.
 *
 * The native fields are named after the graph's inputs, so the imported request JSON is the native
 * request as is (an id, a list of ids, a list of floats per field).
 */
import { RankawareError } from '../../errors.js';
import { score } from '../../engine.js';
import { modelFromFiles } from '../../model/model.js';
import type { ModelJsonInput } from '../../model/model.js';
import type { Model } from '../../model/model.js';
import { mulberry32 } from '../../model/random.js';
import type { RequestJson } from '../../model/request.js';
import { writeSafetensors } from '../../model/safetensors.js';
import type { Architecture, ModelSpec } from '../../model/spec.js';
import { MODEL_FORMAT, MODEL_VERSION } from '../../model/spec.js';
import { evaluateGraph } from '../interpreter/evaluate.js';
import type { OnnxGraph } from '../reader/onnx-graph.js';
import type { RankAnalysis } from '../interpreter/rank.js';
import type { ImportedInput } from '../request.js';
import { encodeImportRequest } from '../request.js';
import type { Component, Matched, Tracker } from './match-parts.js';
import { ZOO_ONNX } from '../../zoo/onnx.js';
import { GraphView, NoMatch, fail } from './view.js';

export type { Component } from './match-parts.js';

/** Probe logits must agree to this, relative to max(1, |logit|): float32 constants such as sqrt(headDim) differ from the native math by float32 rounding. */
export const PROBE_TOLERANCE = 1e-6;

export type Recognition =
  | {
      readonly native: true;
      readonly architecture: Architecture;
      readonly model: Model;
      readonly components: readonly Component[];
      /** Largest probe logit difference, relative to max(1, |logit|). */
      readonly probeError: number;
    }
  | { readonly native: false; readonly reason: string };

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** The logit value and the output activation. */
function outputOf(v: GraphView): { logit: string; output: 'sigmoid' | 'none' } {
  const out = v.graph.outputs[0]!;
  const node = v.producer(out);
  if (node?.op === 'Sigmoid') {
    v.used.add(node);
    return { logit: node.inputs[0]!, output: 'sigmoid' };
  }
  return { logit: v.source(out), output: 'none' };
}

function specOf(m: Matched, graph: OnnxGraph, rank: RankAnalysis, output: 'sigmoid' | 'none'): unknown {
  const seen = new Set<string>();
  for (const f of m.fields) {
    if (seen.has(f.input)) fail(`input "${f.input}" read as two fields`);
    seen.add(f.input);
    if (!NAME_PATTERN.test(f.input)) fail(`input "${f.input}" is not a valid field name (letters, digits, _ . -)`);
  }
  for (const i of graph.inputs) if (!seen.has(i.name)) fail(`input "${i.name}" is not read as a field of the ${m.architecture} structure`);
  const sideOf = (name: string) => (rank.roles.find((r) => r.input.name === name)!.side === 'context' ? 'context' : 'target');
  return {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    name: graph.name || `imported-${m.architecture}`,
    architecture: m.architecture,
    fields: m.fields.map((f) =>
      f.type === 'dense'
        ? { name: f.input, type: 'dense', side: sideOf(f.input), dim: f.dim }
        : { name: f.input, side: sideOf(f.input), vocab: f.table!.shape[0]! - (f.oov === 'bucket' ? 1 : 0), dim: f.dim, pooling: f.pooling, oov: f.oov },
    ),
    options: m.options,
    output,
    linearLayout: 'out_in',
  };
}

/** Seeded probe requests in the imported format: every id in range, candidate lists of one shared length. */
function probeRequests(inputs: readonly ImportedInput[], spec: ModelSpec): RequestJson[] {
  const rand = mulberry32(20240607);
  const valueOf = (name: string, listLength: number): number | number[] => {
    const f = spec.fields.find((x) => x.name === name)!;
    if (f.type === 'dense') return Array.from({ length: f.dim }, () => rand() * 4 - 2);
    const id = () => Math.floor(rand() * f.vocab);
    return f.pooling === 'none' ? id() : Array.from({ length: listLength }, id);
  };
  return [1, 5].map((n) => ({
    context: Object.fromEntries(inputs.filter((i) => i.side === 'context').map((i) => [i.name, valueOf(i.name, 1 + Math.floor(rand() * 4))])),
    candidates: Array.from({ length: n }, () => Object.fromEntries(inputs.filter((i) => i.side === 'candidate').map((i) => [i.name, valueOf(i.name, 3)]))),
  }));
}

/** The largest relative difference between the graph's logits and the native model's on the probes. */
function probeError(graph: OnnxGraph, inputs: readonly ImportedInput[], logit: string, model: Model): number {
  const logits: Model = { spec: { ...model.spec, output: 'none' } as ModelSpec, weights: model.weights };
  let worst = 0;
  for (const request of probeRequests(inputs, model.spec)) {
    const enc = encodeImportRequest(inputs, request);
    const want = evaluateGraph(graph, new Map([...enc.context, ...enc.candidates])).values.get(logit)!.data;
    const got = score(logits, request, { backend: 'js', plan: 'vanilla' }).scores;
    if (want.length !== got.length) return Infinity;
    got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - want[i]!) / Math.max(1, Math.abs(want[i]!)))));
  }
  return worst;
}

export function recognize(graph: OnnxGraph, rank: RankAnalysis, inputs: readonly ImportedInput[]): Recognition {
  const reasons: string[] = [];
  for (const architecture of Object.keys(ZOO_ONNX) as Architecture[]) {
    const matcher = ZOO_ONNX[architecture].match;
    const v = new GraphView(graph, rank);
    const components: Component[] = [];
    const track: Tracker = (what, kernel, match) => {
      const before = new Set(v.used);
      const result = match();
      components.push({ what, kernel, nodes: graph.nodes.filter((n) => v.used.has(n) && !before.has(n)).map((n) => n.name) });
      return result;
    };
    try {
      const { logit, output } = outputOf(v);
      const matched = matcher(v, logit, track);
      const json = specOf(matched, graph, rank, output);
      let model: Model;
      try {
        model = modelFromFiles(json as ModelJsonInput, writeSafetensors(matched.weights));
      } catch (e) {
        if (e instanceof RankawareError) fail(`the extracted model does not load (${e.message})`);
        throw e;
      }
      const error = probeError(graph, inputs, logit, model);
      if (!(error <= PROBE_TOLERANCE)) fail(`the structure matched, but the extracted model's logits differ from the graph's on probe requests by ${error.toExponential(2)} (relative; allowed ${PROBE_TOLERANCE})`);
      return { native: true, architecture, model, components, probeError: error };
    } catch (e) {
      if (!(e instanceof NoMatch)) throw e;
      reasons.push(`not ${architecture}: ${e.message}`);
    }
  }
  return { native: false, reason: reasons.join('; ') };
}
