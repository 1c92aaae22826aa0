/**
 * rDCN (the paper's rank-aware DCN, section 3.5): a context cross stream c_l and a target stream T_l
 * that reads c_l, then an MLP on cat(c_L, T_L).
 */
import { rdcnStreams, withOutput } from '../../model/geometry.js';
import { noExtraKeys, positiveInt, sizes, SPEC_LIMITS } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
import { requireBothStreams } from '../streams.js';
export type { RdcnOptions } from './options.js';
import { linear, mlp } from '../weight-decls.js';
import { planRdcn } from './plan.js';

export const rdcn: ArchDef<'rdcn'> = {
  architecture: 'rdcn',
  parseOptions(o, at) {
    noExtraKeys(o, ['layers', 'mlp'], at);
    return { layers: positiveInt(o.layers, `${at}.layers`, 0, SPEC_LIMITS.layers), mlp: sizes(o.mlp, `${at}.mlp`, []) };
  },
  equalDims: false,
  checkFields(spec) {
    requireBothStreams(spec);
  },
  declareWeights(spec, decls) {
    const { context, target } = rdcnStreams(spec);
    const dc = context.width;
    const dt = target.width;
    for (let l = 0; l < spec.options.layers; l++) {
      linear(decls, `ctx_cross.${l}`, dc, dc, `context stream layer ${l} Wc_l`);
      linear(decls, `ct_cross.${l}`, dc, dt, `target stream layer ${l} Wct_l (reads c_l)`, false);
      linear(decls, `tgt_cross.${l}`, dt, dt, `target stream layer ${l} Wt_l`);
    }
    mlp(decls, 'mlp', dc + dt, withOutput(spec.options.mlp), 'MLP on cat(c_L, T_L)');
  },
  plan: planRdcn,
  defaultOptions: (mlp) => ({ layers: 2, mlp }),
  minContext: 1,
  cases: [
    { K: 3, M: 2, D: 5, N: 6, dense: 'context' },
    { K: 3, M: 2, D: 5, N: 6, dense: 'target' },
    { K: 4, M: 3, D: 3, N: 5, options: { layers: 3 } },
  ],
};
