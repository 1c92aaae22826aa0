/**
 * BST-style target attention (Chen et al. 2019, "Behavior Sequence Transformer"): one transformer block
 * over the user history (self-attention with the length mask, LayerNorm, FFN), then a target block whose
 * query is the candidate item and whose keys and values are the history block's outputs and the candidate
 * itself, then an MLP on the fields and the target block's output. The history block reads the history
 * alone, so it is context: computed once per request (the compiler's rank analysis), and the target
 * queries its K/V per candidate. It has no native plan: its ONNX export runs on the compiler.
 */
import { RankawareError, show } from '../../errors.js';
import { noExtraKeys, positiveInt, sizes, SPEC_LIMITS } from '../../model/parse.js';
import { withOutput } from '../../model/geometry.js';
import type { ArchDef } from '../arch.js';
import type { WeightDecl } from '../weight-decls.js';
import { linear, mlp } from '../weight-decls.js';
import { headInputWidth, historyOf } from '../sequence.js';
export type { BstOptions } from './options.js';

/** The weights of one post-LN transformer block of width d. */
function block(decls: WeightDecl[], prefix: string, d: number, ffn: number, what: string): void {
  for (const p of ['query', 'key', 'value', 'output']) linear(decls, `${prefix}.attention.${p}`, d, d, `${what} attention ${p}`);
  decls.push({ name: `${prefix}.norm1.weight`, shape: [d], layout: 'plain', meaning: `${what} LayerNorm after attention, scale [${d}]` });
  decls.push({ name: `${prefix}.norm1.bias`, shape: [d], layout: 'plain', meaning: `${what} LayerNorm after attention, shift [${d}]` });
  linear(decls, `${prefix}.ffn.0`, d, ffn, `${what} feed-forward layer 0`);
  linear(decls, `${prefix}.ffn.1`, ffn, d, `${what} feed-forward layer 1`);
  decls.push({ name: `${prefix}.norm2.weight`, shape: [d], layout: 'plain', meaning: `${what} LayerNorm after the feed-forward, scale [${d}]` });
  decls.push({ name: `${prefix}.norm2.bias`, shape: [d], layout: 'plain', meaning: `${what} LayerNorm after the feed-forward, shift [${d}]` });
}

export const bst: ArchDef<'bst'> = {
  architecture: 'bst',
  parseOptions(o, at) {
    noExtraKeys(o, ['heads', 'ffn', 'mlp'], at);
    return {
      heads: positiveInt(o.heads, `${at}.heads`, 1, SPEC_LIMITS.heads),
      ffn: positiveInt(o.ffn, `${at}.ffn`),
      mlp: sizes(o.mlp, `${at}.mlp`, []),
    };
  },
  equalDims: false,
  readsSequences: true,
  checkFields(spec) {
    const { dim } = historyOf(spec);
    if (dim % spec.options.heads !== 0)
      throw new RankawareError('model.json options.heads', `a divisor of the history's embedding dim ${dim}`, show(spec.options.heads));
  },
  declareWeights(spec, decls) {
    const { field, dim } = historyOf(spec);
    decls.push({ name: 'history.position', shape: [field.maxLength, dim], layout: 'plain', meaning: `position embedding by recency (row 0: the newest item) [maxLength=${field.maxLength}, ${dim}]` });
    block(decls, 'history', dim, spec.options.ffn, 'history block');
    block(decls, 'target', dim, spec.options.ffn, 'target block');
    mlp(decls, 'mlp', headInputWidth(spec), withOutput(spec.options.mlp), 'MLP on cat(fields, target block output)');
  },
  defaultOptions: (mlp, dim) => ({ heads: dim % 2 === 0 ? 2 : 1, ffn: 2 * dim, mlp }),
  minContext: 0,
  cases: [],
};
