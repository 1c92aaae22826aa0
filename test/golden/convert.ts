/**
 * Converters for the golden cases (the shared golden cases, see test/golden.test.ts), written the way a user converts a
 * PyTorch model by following docs/model-format.md alone: model.json written by hand from the model's
 * constructor arguments, and one new name for every tensor of the state_dict. The Python version of the
 * same recipes is the "Converting PyTorch models" section of docs/model-format.md.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/node.js';
import type { Tensor, TensorMap } from '../../src/node.js';

export interface Converted {
  /** The model.json object. */
  readonly modelJson: Record<string, unknown>;
  /** Tensors under our weight names, as stored in weights.safetensors. */
  readonly tensors: Map<string, Tensor>;
}

export type Converter = (stateDict: TensorMap) => Converted;

/** state_dict name -> our weight name. */
type Renames = Map<string, string>;

/**
 * Rename every tensor of the state_dict. A tensor without a new name is an error, not a skip: a weight
 * dropped on the way would only show up later as a wrong score.
 */
function renameAll(stateDict: TensorMap, renames: Renames): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [from, tensor] of stateDict) {
    const to = renames.get(from);
    if (to === undefined) throw new Error(`state_dict tensor "${from}" has no rankaware name in the converter`);
    out.set(to, tensor);
  }
  for (const from of renames.keys())
    if (!stateDict.has(from)) throw new Error(`the converter renames "${from}", which the state_dict does not hold`);
  return out;
}

/**
 * An nn.Sequential of Linear + activation modules: the Linear layers sit at indices 0, step, 2*step, ...
 * while our layers are numbered 0, 1, 2, ...
 */
function sequential(renames: Renames, from: string, to: string, layers: number, step = 2): void {
  for (let i = 0; i < layers; i++)
    for (const p of ['weight', 'bias']) renames.set(`${from}.${i * step}.${p}`, `${to}.${i}.${p}`);
}

/** One embedding table per sparse field, `embedding.<field>`; `tableName` gives the state_dict name. */
function embeddings(renames: Renames, fields: readonly Record<string, unknown>[], tableName: (field: string, i: number) => string): void {
  fields
    .filter((f) => f.type !== 'dense')
    .forEach((f, i) => renames.set(tableName(f.name as string, i), `embedding.${f.name as string}`));
}

function makeModelJson(name: string, architecture: string, fields: Record<string, unknown>[], options: Record<string, unknown>): Record<string, unknown> {
  return { format: 'rankaware-model', version: 1, name, architecture, fields, options, output: 'sigmoid', linearLayout: 'out_in' };
}

/** facebookresearch/dlrm DLRM_Net: emb_l.<i> (EmbeddingBag sum), bot_l / top_l Sequentials. */
function dlrm(stateDict: TensorMap): Converted {
  const fields = [
    // The bottom MLP input; the request sends it as context key "dense".
    { name: 'dense', type: 'dense', side: 'context', dim: 8 },
    { name: 'item_id', side: 'target', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'user_id', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'recent_clicks', side: 'context', vocab: 100, dim: 8, pooling: 'sum' },
    { name: 'item_category', side: 'target', vocab: 30, dim: 8, pooling: 'none' },
    { name: 'hour', side: 'context', vocab: 24, dim: 8, pooling: 'none' },
    { name: 'price_bucket', side: 'target', vocab: 10, dim: 8, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (_, i) => `emb_l.${i}.weight`);
  sequential(renames, 'bot_l', 'bottom_mlp', 2);
  sequential(renames, 'top_l', 'top_mlp', 3);
  const options = { bottomMlp: [32, 8], topMlp: [32, 16], pairOrder: 'dlrm', topInput: 'dense+pairs' };
  return { modelJson: makeModelJson('dlrm', 'dlrm', fields, options), tensors: renameAll(stateDict, renames) };
}

/** DLRM pairs without dense input; the top MLP reads cat(flatten(E), pairs). */
function dlrmFlat(stateDict: TensorMap): Converted {
  const fields = [
    { name: 'c0', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 't0', side: 'target', vocab: 100, dim: 16, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 10, dim: 16, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 50, dim: 16, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 'c6', side: 'context', vocab: 20, dim: 16, pooling: 'none' },
    { name: 'c7', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 100, dim: 16, pooling: 'none' },
    { name: 'c8', side: 'context', vocab: 100, dim: 16, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (_, i) => `emb_l.${i}.weight`);
  sequential(renames, 'top_l', 'top_mlp', 3);
  // No dense field, so no bottom MLP: bottomMlp stays [].
  const options = { bottomMlp: [], topMlp: [64, 16], pairOrder: 'dlrm', topInput: 'embeddings+pairs' };
  return { modelJson: makeModelJson('dlrm_flat', 'dlrm', fields, options), tensors: renameAll(stateDict, renames) };
}

/** torchrec CrossNet (full-rank kernels) stacked under an MLP. */
function dcnv2Stacked(stateDict: TensorMap): Converted {
  const fields = [
    { name: 't0', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c0', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 10, dim: 4, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 40, dim: 4, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c6', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c7', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't3', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (f) => `embeddings.${f}.weight`);
  for (let l = 0; l < 2; l++) {
    renames.set(`crossnet.kernels.${l}`, `cross.${l}.weight`);
    // torchrec's [d, 1] bias is accepted as is.
    renames.set(`crossnet.bias.${l}`, `cross.${l}.bias`);
  }
  sequential(renames, 'mlp', 'mlp', 3);
  const options = { layers: 2, rank: 0, structure: 'stacked', mlp: [32, 16] };
  return { modelJson: makeModelJson('dcnv2_stacked', 'dcnv2', fields, options), tensors: renameAll(stateDict, renames) };
}

/** torchrec LowRankCrossNet beside a deep MLP on x0; one `final` Linear on cat(x_L, deep). */
function dcnv2ParallelLowRank(stateDict: TensorMap): Converted {
  const fields = [
    { name: 'c0', side: 'context', vocab: 50, dim: 4, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't0', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c6', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c7', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't3', side: 'target', vocab: 20, dim: 4, pooling: 'none' },
    { name: 'c8', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c9', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't4', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (f) => `embeddings.${f}.weight`);
  for (let l = 0; l < 3; l++) {
    renames.set(`crossnet.W_kernels.${l}`, `cross.${l}.up`);
    renames.set(`crossnet.V_kernels.${l}`, `cross.${l}.down`);
    renames.set(`crossnet.bias.${l}`, `cross.${l}.bias`);
  }
  sequential(renames, 'deep', 'deep', 2);
  // `final` is the MLP's output layer; with no hidden layers (mlp: []) it is mlp.0.
  renames.set('final.weight', 'mlp.0.weight');
  renames.set('final.bias', 'mlp.0.bias');
  const options = { layers: 3, rank: 8, structure: 'parallel', deep: [32, 16], mlp: [] };
  return { modelJson: makeModelJson('dcnv2_parallel_lowrank', 'dcnv2', fields, options), tensors: renameAll(stateDict, renames) };
}

/** DeepCTR-Torch InteractingLayer (W_* used as x @ W) with dnn_linear + out.bias, no DNN. */
function autoint(stateDict: TensorMap): Converted {
  const fields = [
    { name: 't0', side: 'target', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'c0', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 30, dim: 8, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 10, dim: 8, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 8, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (f) => `embedding_dict.${f}.weight`);
  const projections = { W_Query: 'query', W_key: 'key', W_Value: 'value', W_Res: 'residual' };
  for (const [from, to] of Object.entries(projections)) renames.set(`int_layers.0.${from}`, `attention.0.${to}`);
  renames.set('dnn_linear.weight', 'output.weight');
  renames.set('out.bias', 'output.bias');
  // The case was built with scaling=True (DeepCTR's InteractingLayer defaults to False): say it explicitly.
  const options = { layers: 1, heads: 2, headDim: 4, scaling: true, residual: true, projectionLayout: 'in_out', dnn: [] };
  return { modelJson: makeModelJson('autoint', 'autoint', fields, options), tensors: renameAll(stateDict, renames) };
}

/** DeepCTR-Torch DeepFM: linear_model first-order tables, FM, DNN (dnn.linears.<i>), dnn_linear, out.bias. */
function deepfm(stateDict: TensorMap): Converted {
  const fields = [
    { name: 'c0', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't0', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 10, dim: 4, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 50, dim: 4, pooling: 'none' },
    { name: 'c6', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c7', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't3', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (f) => `embedding_dict.${f}.weight`);
  for (const f of fields) renames.set(`linear_model.embedding_dict.${f.name}.weight`, `first_order.${f.name}`);
  // DNN.linears is an nn.ModuleList of Linear only: consecutive indices.
  sequential(renames, 'dnn.linears', 'dnn', 2, 1);
  renames.set('dnn_linear.weight', 'output.weight');
  renames.set('out.bias', 'output.bias');
  const options = { dnn: [32, 16] };
  return { modelJson: makeModelJson('deepfm', 'deepfm', fields, options), tensors: renameAll(stateDict, renames) };
}

/** The paper's rDCN: its module names are already ours except the MLP's Sequential indices. */
function rdcn(stateDict: TensorMap): Converted {
  const fields = [
    { name: 'c0', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't0', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c1', side: 'context', vocab: 10, dim: 4, pooling: 'none' },
    { name: 'c2', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't1', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c3', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c4', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't2', side: 'target', vocab: 100, dim: 4, pooling: 'none' },
    { name: 'c5', side: 'context', vocab: 100, dim: 4, pooling: 'none' },
    { name: 't3', side: 'target', vocab: 25, dim: 4, pooling: 'none' },
  ];
  const renames: Renames = new Map();
  embeddings(renames, fields, (f) => `embeddings.${f}.weight`);
  for (let l = 0; l < 2; l++) {
    for (const p of ['weight', 'bias']) {
      renames.set(`ctx_cross.${l}.${p}`, `ctx_cross.${l}.${p}`);
      renames.set(`tgt_cross.${l}.${p}`, `tgt_cross.${l}.${p}`);
    }
    renames.set(`ct_cross.${l}.weight`, `ct_cross.${l}.weight`);
  }
  sequential(renames, 'mlp', 'mlp', 3);
  const options = { layers: 2, mlp: [32, 16] };
  return { modelJson: makeModelJson('rdcn', 'rdcn', fields, options), tensors: renameAll(stateDict, renames) };
}

/** One converter per golden case, keyed by the case directory name. */
export const converters: Readonly<Record<string, Converter>> = {
  dlrm,
  dlrm_flat: dlrmFlat,
  dcnv2_stacked: dcnv2Stacked,
  dcnv2_parallel_lowrank: dcnv2ParallelLowRank,
  autoint,
  deepfm,
  rdcn,
};

/** Write DIR/model.json and DIR/weights.safetensors, as the Python recipes do. */
export async function writeConverted(dir: string, converted: Converted): Promise<void> {
  await writeFile(join(dir, 'model.json'), JSON.stringify(converted.modelJson, null, 2) + '\n');
  await writeFile(join(dir, 'weights.safetensors'), writeSafetensors(converted.tensors));
}
