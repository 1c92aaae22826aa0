/**
 * DIN (Zhou et al. 2018, "Deep Interest Network"): the activation unit weighs each history item h_i for
 * the candidate t with an MLP on [h_i, t, h_i - t, h_i * t] (no softmax), the interest vector is the
 * weighted sum, and an MLP reads the fields and the interest. It has no native plan: its ONNX export runs
 * on the compiler, whose linear-terms pass folds the first layer as (W1 + W3) h_i once per history item
 * and (W2 - W3) t once per candidate, leaving only the h_i * t term per candidate per item.
 */
import { noExtraKeys, oneOf, sizes } from '../../model/parse.js';
import { withOutput } from '../../model/geometry.js';
import type { ArchDef } from '../arch.js';
import { mlp } from '../weight-decls.js';
import { headInputWidth, historyOf } from '../sequence.js';
export type { DinOptions } from './options.js';

export const din: ArchDef<'din'> = {
  architecture: 'din',
  parseOptions(o, at) {
    noExtraKeys(o, ['attention', 'attentionActivation', 'mlp'], at);
    return {
      attention: sizes(o.attention, `${at}.attention`, [36]),
      attentionActivation: oneOf(o.attentionActivation, ['sigmoid', 'relu'] as const, `${at}.attentionActivation`, 'sigmoid'),
      mlp: sizes(o.mlp, `${at}.mlp`, []),
    };
  },
  equalDims: false,
  readsSequences: true,
  checkFields(spec) {
    historyOf(spec);
  },
  declareWeights(spec, decls) {
    const { dim } = historyOf(spec);
    mlp(decls, 'attention', 4 * dim, withOutput(spec.options.attention), 'activation unit on [h, t, h - t, h * t]');
    mlp(decls, 'mlp', headInputWidth(spec), withOutput(spec.options.mlp), 'MLP on cat(fields, interest)');
  },
  defaultOptions: (mlp) => ({ attention: [36], attentionActivation: 'sigmoid', mlp }),
  minContext: 0,
  cases: [],
};
