/**
 * AutoInt (DeepCTR): multi-head self-attention interacting layers over the field vectors, an optional
 * parallel DNN, and an output layer on cat(flatten(X_L), DNN).
 */
import { RankawareError } from '../../errors.js';
import { denseFields, sparseFields } from '../../model/fields.js';
import { attentionWidth, dnnInput } from '../../model/geometry.js';
import { noExtraKeys, sizes } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
export type { AutoIntOptions } from './options.js';
import { ATTENTION_KEYS, attentionDefaults, parseAttention } from '../attention.js';
import { attention, linear, mlp } from '../weight-decls.js';
import { planAutoInt } from './plan.js';

export const autoint: ArchDef<'autoint'> = {
  architecture: 'autoint',
  parseOptions(o, at) {
    noExtraKeys(o, [...ATTENTION_KEYS, 'dnn'], at);
    return { ...parseAttention(o, at), dnn: sizes(o.dnn, `${at}.dnn`, []) };
  },
  equalDims: true,
  checkFields(spec) {
    if (denseFields(spec).length > 0 && spec.options.dnn.length === 0)
      throw new RankawareError('model.json options.dnn', 'a DNN: autoint feeds dense fields only to its DNN', '[]');
  },
  declareWeights(spec, decls) {
    for (let l = 0; l < spec.options.layers; l++) attention(decls, `attention.${l}`, attentionWidth(spec, l), spec, `interacting layer ${l}`);
    const dnnOut = mlp(decls, 'dnn', dnnInput(spec).width, spec.options.dnn, 'DNN');
    const attOut = sparseFields(spec).length * spec.options.heads * spec.options.headDim;
    linear(decls, 'output', attOut + (spec.options.dnn.length > 0 ? dnnOut : 0), 1, 'output layer on cat(flatten(X_L), DNN)', false);
    decls.push({ name: 'output.bias', shape: [1], layout: 'plain', meaning: 'bias added to the logit' });
  },
  plan: planAutoInt,
  defaultOptions: (mlp, dim) => ({ ...attentionDefaults(dim), dnn: mlp }),
  minContext: 0,
  cases: [
    { K: 3, M: 2, D: 4, N: 6, dense: 'context' },
    { K: 3, M: 2, D: 4, N: 6, dense: 'target' },
    { K: 4, M: 3, D: 5, N: 5, options: { residual: false, scaling: false } },
    { K: 4, M: 3, D: 5, N: 5, options: { layers: 1, heads: 3, headDim: 2 }, mlp: [] },
  ],
};
