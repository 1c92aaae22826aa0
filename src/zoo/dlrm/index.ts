/**
 * DLRM (facebookresearch/dlrm, TorchRec): a bottom MLP over the dense fields, dot products of every pair
 * of vectors, a top MLP on cat(bottom output or all vectors, pairs).
 */
import { RankawareError, show } from '../../errors.js';
import { denseFields, sparseFields } from '../../model/fields.js';
import { dlrmGeometry, withOutput } from '../../model/geometry.js';
import { noExtraKeys, oneOf, sizes } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
export type { DlrmOptions } from './options.js';
import { mlp } from '../weight-decls.js';
import { planDlrm } from './plan.js';

export const dlrm: ArchDef<'dlrm'> = {
  architecture: 'dlrm',
  parseOptions(o, at) {
    noExtraKeys(o, ['bottomMlp', 'topMlp', 'pairOrder', 'topInput'], at);
    return {
      bottomMlp: sizes(o.bottomMlp, `${at}.bottomMlp`, []),
      topMlp: sizes(o.topMlp, `${at}.topMlp`),
      pairOrder: oneOf(o.pairOrder, ['dlrm', 'torchrec'] as const, `${at}.pairOrder`, 'dlrm'),
      topInput: oneOf(o.topInput, ['dense+pairs', 'embeddings+pairs'] as const, `${at}.topInput`, 'dense+pairs'),
    };
  },
  equalDims: true,
  checkFields(spec) {
    const o = spec.options;
    const sparse = sparseFields(spec);
    const dense = denseFields(spec);
    if (dense.length > 0 && o.bottomMlp.length === 0)
      throw new RankawareError('model.json options.bottomMlp', 'a bottom MLP for the dense fields (its last size equals the embedding dim)', '[]');
    if (dense.length === 0 && o.bottomMlp.length > 0)
      throw new RankawareError('model.json options.bottomMlp', '[] when the model has no dense field', show(o.bottomMlp));
    if (sparse.length + (dense.length > 0 ? 1 : 0) < 2)
      throw new RankawareError('model.json fields', 'at least two interacting vectors for dlrm (sparse fields, plus the bottom MLP output when there are dense fields)', `${sparse.length + (dense.length > 0 ? 1 : 0)}`);
    if (o.bottomMlp.length > 0 && o.bottomMlp[o.bottomMlp.length - 1] !== sparse[0]!.dim)
      throw new RankawareError('model.json options.bottomMlp', `a last size equal to the embedding dim ${sparse[0]!.dim}`, show(o.bottomMlp));
  },
  declareWeights(spec, decls) {
    const g = dlrmGeometry(spec);
    if (g.dense.length > 0) mlp(decls, 'bottom_mlp', g.denseWidth, spec.options.bottomMlp, 'bottom MLP');
    mlp(decls, 'top_mlp', g.topInputWidth, withOutput(spec.options.topMlp), 'top MLP');
  },
  plan: planDlrm,
  // Table 3's DLRM-style model: top MLP on cat(flatten(E), pairs).
  defaultOptions: (mlp) => ({ bottomMlp: [], topMlp: mlp, pairOrder: 'dlrm', topInput: 'embeddings+pairs' }),
  minContext: 0,
  cases: [
    { K: 3, M: 2, D: 4, N: 6, dense: 'context' },
    { K: 3, M: 2, D: 4, N: 6, dense: 'target' },
    { K: 3, M: 2, D: 4, N: 6, dense: 'context', options: { topInput: 'dense+pairs', pairOrder: 'torchrec' } },
    { K: 3, M: 2, D: 4, N: 6, dense: 'target', options: { topInput: 'dense+pairs', pairOrder: 'torchrec' } },
    { K: 5, M: 3, D: 4, N: 8, options: { pairOrder: 'torchrec' } },
    { K: 5, M: 3, D: 4, N: 8, options: { topInput: 'dense+pairs' } },
  ],
};
