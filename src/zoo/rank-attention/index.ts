/**
 * Rank attention (the paper's section 3.4): a context self-attention stream, computed once per request,
 * and a target stream whose queries attend over the context and target keys; an MLP on both.
 */
import { RankawareError } from '../../errors.js';
import { denseFields, sparseFields } from '../../model/fields.js';
import { attentionWidth, withOutput } from '../../model/geometry.js';
import { noExtraKeys, sizes } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
import { requireBothStreams } from '../streams.js';
export type { RankAttentionOptions } from './options.js';
import { ATTENTION_KEYS, attentionDefaults, parseAttention } from '../attention.js';
import { attention, mlp } from '../weight-decls.js';
import { planRankAttention } from './plan.js';

export const rankAttention: ArchDef<'rank-attention'> = {
  architecture: 'rank-attention',
  parseOptions(o, at) {
    noExtraKeys(o, [...ATTENTION_KEYS, 'mlp'], at);
    return { ...parseAttention(o, at), mlp: sizes(o.mlp, `${at}.mlp`, []) };
  },
  equalDims: true,
  checkFields(spec) {
    requireBothStreams(spec);
    for (const f of denseFields(spec)) throw new RankawareError(`model.json field "${f.name}"`, 'sparse fields only (rank-attention attends over embeddings)', 'a dense field');
  },
  declareWeights(spec, decls) {
    for (let l = 0; l < spec.options.layers; l++) {
      attention(decls, `ctx_attention.${l}`, attentionWidth(spec, l), spec, `context stream layer ${l}`);
      attention(decls, `tgt_attention.${l}`, attentionWidth(spec, l), spec, `target stream layer ${l}`);
    }
    const out = spec.options.heads * spec.options.headDim;
    mlp(decls, 'mlp', sparseFields(spec).length * out, withOutput(spec.options.mlp), 'MLP on cat(flatten(c_L), flatten(T_L))');
  },
  plan: planRankAttention,
  defaultOptions: (mlp, dim) => ({ ...attentionDefaults(dim), mlp }),
  minContext: 1,
  cases: [{ K: 4, M: 3, D: 5, N: 5, options: { layers: 3, heads: 1, headDim: 3, residual: false } }],
};
