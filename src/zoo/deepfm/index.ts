/**
 * DeepFM (DeepCTR): first-order terms, the FM second order over the field vectors, and an optional DNN
 * on flatten(embeddings) (+ dense fields), summed into the logit.
 */
import { denseFields, sparseFields, tableRows } from '../../model/fields.js';
import { dnnInput } from '../../model/geometry.js';
import { noExtraKeys, sizes } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
export type { DeepFmOptions } from './options.js';
import { linear, mlp } from '../weight-decls.js';
import { planDeepFm } from './plan.js';

export const deepfm: ArchDef<'deepfm'> = {
  architecture: 'deepfm',
  parseOptions(o, at) {
    noExtraKeys(o, ['dnn'], at);
    return { dnn: sizes(o.dnn, `${at}.dnn`, []) };
  },
  equalDims: true,
  checkFields() {},
  declareWeights(spec, decls) {
    for (const f of sparseFields(spec))
      decls.push({ name: `first_order.${f.name}`, shape: [tableRows(f), 1], layout: 'plain', meaning: `first-order weight of each id of "${f.name}"` });
    for (const f of denseFields(spec))
      decls.push({ name: `first_order.${f.name}`, shape: [f.dim, 1], layout: 'plain', meaning: `first-order weight of each value of dense "${f.name}"` });
    const last = mlp(decls, 'dnn', dnnInput(spec).width, spec.options.dnn, 'DNN');
    if (spec.options.dnn.length > 0) linear(decls, 'output', last, 1, 'DNN output (no bias)', false);
    decls.push({ name: 'output.bias', shape: [1], layout: 'plain', meaning: 'bias added to the logit' });
  },
  plan: planDeepFm,
  defaultOptions: (mlp) => ({ dnn: mlp }),
  minContext: 0,
  cases: [
    { K: 3, M: 2, D: 4, N: 6, dense: 'context' },
    { K: 3, M: 2, D: 4, N: 6, dense: 'target' },
    { K: 4, M: 3, D: 5, N: 5, mlp: [] },
  ],
};
