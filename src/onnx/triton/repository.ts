/**
 * A Triton Inference Server model repository for a model's rank-aware plan (src/onnx/rank-aware-onnx.ts),
 * so a fleet that already runs Triton (or KServe on Triton) serves it with no rankaware process:
 *
 *   NAME_context/     context.onnx at batch 1 on onnxruntime, its response cache on: a returning context
 *                     (the same input tensors) skips the stage, as rankaware's context cache does
 *   NAME_candidates/  candidates.onnx: the candidate fields at N rows and the context stage's outputs
 *   NAME/             the ensemble: the request's tensors in, the context stage, then the candidate stage
 *
 * Clients call NAME over Triton's HTTP/gRPC API (the Open Inference Protocol): one tensor per ONNX input
 * (the context at a leading 1, the candidates at N), the scores out. Every config states full shapes
 * (max_batch_size 0: a request is one context and its N candidates); the shapes are found by running both
 * graphs on the float64 interpreter at two sizes (N and the lists' lengths), a dim that changes between
 * them being -1.
 */
import { RankawareError, show } from '../../errors.js';
import { evaluateGraph } from '../interpreter/evaluate.js';
import type { Value } from '../interpreter/tensor.js';
import type { ImportedModel } from '../model.js';
import { exportRankAwareOnnx } from '../rank-aware-onnx.js';
import type { RankAwareOnnx } from '../rank-aware-onnx.js';
import { readOnnx } from '../reader/onnx-graph.js';
import { enumValue, toTextFormat } from './text-format.js';
import type { TextMessage } from './text-format.js';
import { inferenceServiceYaml } from './kserve.js';

export interface TritonOptions {
  /** The ensemble's name (default: the model's name, made a valid directory name). */
  readonly name?: string;
  /** Where the composing models run: Triton's instance kind (default cpu). */
  readonly device?: 'cpu' | 'gpu';
  /** Instances of each composing model (default 1). */
  readonly instances?: number;
  /** Where the KServe InferenceService finds the repository (default pvc://rankaware-models/NAME). */
  readonly storageUri?: string;
  /** Triton's response cache (the context cache) in MiB, as the manifest starts tritonserver (default 64). */
  readonly cacheMb?: number;
}

export interface TensorSpec {
  readonly name: string;
  readonly dtype: Value['dtype'];
  /** The full shape; -1 where it varies with the request (N, a list's length). */
  readonly dims: readonly number[];
}

export interface TritonRepository {
  readonly name: string;
  /** Paths inside the repository and their contents. */
  readonly files: ReadonlyMap<string, string | Uint8Array>;
  readonly context: { readonly model: string; readonly inputs: readonly TensorSpec[]; readonly outputs: readonly TensorSpec[] };
  readonly candidates: { readonly model: string; readonly inputs: readonly TensorSpec[]; readonly outputs: readonly TensorSpec[] };
}

/** The KServe manifest's file, beside the model directories (Triton loads directories only). */
export const KSERVE_MANIFEST = 'inferenceservice.yaml';

const TRITON_TYPES: Readonly<Record<Value['dtype'], string>> = { float: 'TYPE_FP32', int: 'TYPE_INT64', bool: 'TYPE_BOOL' };

/** A Triton model name: letters, digits, '_', '-', '.' (a directory in the repository). */
export function tritonName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._-]+/, '');
  return cleaned === '' ? 'rankaware' : cleaned;
}

/** Shapes of both stages' inputs and outputs, from runs of the two graphs at two request sizes. */
function probeShapes(model: ImportedModel, graphs: RankAwareOnnx): Map<string, TensorSpec> {
  const context = readOnnx(graphs.context, 'context.onnx');
  const candidates = readOnnx(graphs.candidates, 'candidates.onnx');
  const m = graphs.manifest;
  // Lists of 1 and 9 items (a history within its maxLength): din and bst pad a history to a power of two, so these differ.
  const longest = Math.min(9, ...(model.native?.spec.fields.map((f) => (f.type === 'sequence' ? f.maxLength : 9)) ?? []));
  const runs = [
    { n: 2, length: 1, seed: 1 },
    { n: 3, length: longest, seed: 2 },
  ].map(({ n, length, seed }) => {
    const encoded = model.encode(model.randomRequest(n, seed, length));
    const shapes = new Map<string, Value>();
    for (const { name } of m.contextInputs) shapes.set(name, encoded.context.get(name)!);
    for (const { name } of m.candidateInputs) shapes.set(name, encoded.candidates.get(name)!);
    const ctx = evaluateGraph(context, new Map(m.contextInputs.map(({ name }) => [name, encoded.context.get(name)!]))).values;
    const feeds = new Map(m.candidateInputs.map(({ name }) => [name, encoded.candidates.get(name)!] as const));
    for (const h of m.handoff) {
      const v = ctx.get(h.from);
      if (!v) throw new Error(`export bug: context.onnx computes no ${h.from}`);
      feeds.set(h.name, v);
      shapes.set(h.name, v);
    }
    const out = evaluateGraph(candidates, feeds).values;
    for (const name of m.outputs) shapes.set(name, out.get(name)!);
    return shapes;
  });
  const specs = new Map<string, TensorSpec>();
  for (const [name, a] of runs[0]!) {
    const b = runs[1]!.get(name)!;
    if (a.shape.length !== b.shape.length) throw new Error(`export bug: ${name} changes rank with the request`);
    specs.set(name, { name, dtype: a.dtype, dims: a.shape.map((d, i) => (d === b.shape[i] ? d : -1)) });
  }
  return specs;
}

const tensorConfig = (t: TensorSpec): TextMessage => ({ name: t.name, data_type: enumValue(TRITON_TYPES[t.dtype]), dims: [...t.dims] });

function onnxConfig(name: string, inputs: readonly TensorSpec[], outputs: readonly TensorSpec[], options: TritonOptions, cache: boolean): string {
  const config: TextMessage = {
    name,
    platform: 'onnxruntime_onnx',
    max_batch_size: 0,
    input: inputs.map(tensorConfig),
    output: outputs.map(tensorConfig),
    instance_group: [{ kind: enumValue(options.device === 'gpu' ? 'KIND_GPU' : 'KIND_CPU'), count: options.instances ?? 1 }],
    ...(cache ? { response_cache: { enable: true } } : {}),
  };
  return toTextFormat(config);
}

const identity = (names: readonly string[]) => names.map((name) => ({ key: name, value: name }));

/** The repository's files for a model (an imported graph, or a native model compiled by compileModel). */
export function tritonRepository(model: ImportedModel, options: TritonOptions = {}): TritonRepository {
  if (options.name !== undefined && (typeof options.name !== 'string' || tritonName(options.name) !== options.name))
    throw new RankawareError('--name', 'a Triton model name (letters, digits, "_", "-", "."; not starting with one of "_-.")', show(options.name));
  if (options.device !== undefined && options.device !== 'cpu' && options.device !== 'gpu') throw new RankawareError('--device', '"cpu" or "gpu"', show(options.device));
  if (options.instances !== undefined && (!Number.isInteger(options.instances) || options.instances < 1)) throw new RankawareError('--instances', 'an integer >= 1', show(options.instances));
  const name = options.name ?? tritonName(model.name);
  const graphs = exportRankAwareOnnx(model);
  const specs = probeShapes(model, graphs);
  const m = graphs.manifest;
  const spec = (n: string) => specs.get(n)!;
  const contextInputs = m.contextInputs.map((t) => spec(t.name));
  const handoff = m.handoff.map((h) => ({ ...spec(h.name), name: h.from }));
  const candidateInputs = [...m.candidateInputs.map((t) => spec(t.name)), ...m.handoff.map((h) => spec(h.name))];
  const outputs = m.outputs.slice(0, 1).map(spec);
  const contextModel = `${name}_context`;
  const candidatesModel = `${name}_candidates`;
  const ensemble: TextMessage = {
    name,
    platform: 'ensemble',
    max_batch_size: 0,
    input: [...contextInputs, ...m.candidateInputs.map((t) => spec(t.name))].map(tensorConfig),
    output: outputs.map(tensorConfig),
    ensemble_scheduling: {
      step: [
        { model_name: contextModel, model_version: -1, input_map: identity(m.contextInputs.map((t) => t.name)), output_map: identity(m.handoff.map((h) => h.from)) },
        {
          model_name: candidatesModel,
          model_version: -1,
          input_map: [...identity(m.candidateInputs.map((t) => t.name)), ...m.handoff.map((h) => ({ key: h.name, value: h.from }))],
          output_map: identity(outputs.map((o) => o.name)),
        },
      ],
    },
  };
  const header = (what: string) => `# ${what} of ${model.name}'s rank-aware plan, written by rankaware export-triton.\n`;
  const files = new Map<string, string | Uint8Array>([
    [`${contextModel}/config.pbtxt`, header('The context stage (once per request; its response cache is the context cache)') + onnxConfig(contextModel, contextInputs, handoff, options, true)],
    [`${contextModel}/1/model.onnx`, graphs.context],
    [`${candidatesModel}/config.pbtxt`, header('The candidate stage') + onnxConfig(candidatesModel, candidateInputs, outputs, options, false)],
    [`${candidatesModel}/1/model.onnx`, graphs.candidates],
    [`${name}/config.pbtxt`, header('The ensemble (call this one)') + toTextFormat(ensemble)],
    // Triton wants a version directory for an ensemble too; it holds nothing.
    [`${name}/1/.keep`, ''],
    [KSERVE_MANIFEST, inferenceServiceYaml({ name, storageUri: options.storageUri ?? `pvc://rankaware-models/${name}`, device: options.device ?? 'cpu', cacheMb: options.cacheMb ?? 64 })],
  ]);
  return {
    name,
    files,
    context: { model: contextModel, inputs: contextInputs, outputs: handoff },
    candidates: { model: candidatesModel, inputs: candidateInputs, outputs },
  };
}
