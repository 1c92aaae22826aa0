/** The autoint matcher: reads a graph's autoint structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import type { FieldRead, Linear } from '../../onnx/patterns/view.js';
import { fail } from '../../onnx/patterns/view.js';
import type { AttentionBlock } from '../../onnx/patterns/attention.js';
import { attentionBlock } from '../../onnx/patterns/attention.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { tensor, addLinear, addMlp, addTables, sameParts, attentionOptions, addBlock, stackedFields } from '../../onnx/patterns/match-parts.js';

export const autointMatcher: Matcher = (v, logit, track) => {
  const output = v.linear(logit, 'AutoInt output layer');
  if (output.out !== 1) fail('AutoInt output layer: 1 unit');
  const top = v.parts(output.x);
  if (top.length < 1 || top.length > 2 || v.dims(top[0]!).length !== 3) fail('AutoInt: an output layer on cat(flatten(X_L), DNN output)');
  const blocks: AttentionBlock[] = [];
  track('interacting layers', 'attention (layer 0: context x context block once, log-sum-exp merge per candidate)', () => {
    let cur = top[0]!;
    while (v.is(cur, 'Relu')) {
      const b = attentionBlock(v, cur, `AutoInt interacting layer (from the end) ${blocks.length}`);
      if (b.keys.length !== 1 || b.keys[0]!.x !== b.x) fail('AutoInt: self-attention (keys and values read the queries\' input)');
      blocks.unshift(b);
      cur = b.x;
    }
    if (blocks.length === 0) fail('AutoInt: at least one interacting layer relu(MHA(X) [+ X W_res])');
  });
  const sparse = track('embedding lookup', 'gather (context once, targets per candidate)', () => stackedFields(v, blocks[0]!.x, 'AutoInt field'));
  let dnn: Linear[] = [];
  let dense: FieldRead[] = [];
  if (top.length === 2) {
    const m = track('DNN', 'linear (first layer split by rank) + dense', () => v.mlp(top[1]!, 'AutoInt DNN', true));
    const reads = v.parts(m.input).map((p, i) => v.field(p, `AutoInt DNN input ${i}`));
    if (!sameParts(v, reads.slice(0, sparse.length).map((r) => r.input), sparse.map((f) => f.input)) || reads.slice(sparse.length).some((r) => r.type !== 'dense'))
      fail('AutoInt DNN: an input cat(sparse field vectors, dense values)');
    dnn = m.layers;
    dense = reads.slice(sparse.length);
  }
  const options = { ...attentionOptions(blocks, 'AutoInt'), dnn: dnn.map((l) => l.out) };
  const weights = new Map<string, Tensor>();
  addTables(weights, sparse);
  blocks.forEach((b, l) => addBlock(weights, `attention.${l}`, b, b.keys[0]!, b.values[0]!));
  addMlp(weights, 'dnn', dnn);
  addLinear(weights, 'output', output, false);
  weights.set('output.bias', tensor([1], output.bias));
  return { architecture: 'autoint', options, fields: [...sparse, ...dense], weights, components: [] };
};
