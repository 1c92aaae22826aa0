/**
 * DCNv2 (TorchRec CrossNet / LowRankCrossNet): x_{l+1} = x_0 * (W_l x_l + b_l) + x_l, stacked or
 * parallel with a deep MLP, then an MLP to the logit.
 */
import { RankawareError, show } from '../../errors.js';
import { dcnInput, withOutput } from '../../model/geometry.js';
import { noExtraKeys, oneOf, positiveInt, sizes, SPEC_LIMITS } from '../../model/parse.js';
import type { ArchDef } from '../arch.js';
export type { Dcnv2Options } from './options.js';
import { mlp } from '../weight-decls.js';
import { planDcnv2 } from './plan.js';

export const dcnv2: ArchDef<'dcnv2'> = {
  architecture: 'dcnv2',
  parseOptions(o, at) {
    noExtraKeys(o, ['layers', 'rank', 'structure', 'deep', 'mlp'], at);
    const structure = oneOf(o.structure, ['stacked', 'parallel'] as const, `${at}.structure`, 'stacked');
    const deep = sizes(o.deep, `${at}.deep`, []);
    if (structure === 'stacked' && deep.length > 0)
      throw new RankawareError(`${at}.deep`, 'no deep MLP for structure "stacked" (use "parallel")', show(deep));
    if (structure === 'parallel' && deep.length === 0)
      throw new RankawareError(`${at}.deep`, 'the hidden sizes of the deep MLP for structure "parallel"', '[]');
    return {
      layers: positiveInt(o.layers, `${at}.layers`, 0, SPEC_LIMITS.layers),
      rank: o.rank === undefined ? 0 : positiveInt(o.rank, `${at}.rank`, 0),
      structure,
      deep,
      mlp: sizes(o.mlp, `${at}.mlp`, []),
    };
  },
  // The cross layers act on the concatenation: field dims may differ.
  equalDims: false,
  checkFields() {},
  declareWeights(spec, decls) {
    const d = dcnInput(spec).width;
    const { layers, rank, deep } = spec.options;
    for (let l = 0; l < layers; l++) {
      if (rank === 0) {
        decls.push({ name: `cross.${l}.weight`, shape: [d, d], layout: 'linear', meaning: `cross layer ${l} W_l [out=${d}, in=${d}]` });
      } else {
        decls.push({ name: `cross.${l}.down`, shape: [rank, d], layout: 'linear', meaning: `cross layer ${l} down-projection V_l [out=${rank}, in=${d}]` });
        decls.push({ name: `cross.${l}.up`, shape: [d, rank], layout: 'linear', meaning: `cross layer ${l} up-projection U_l [out=${d}, in=${rank}]` });
      }
      decls.push({ name: `cross.${l}.bias`, shape: [d], layout: 'plain', alsoAccept: [[d, 1]], meaning: `cross layer ${l} bias b_l [${d}]` });
    }
    const deepOut = deep.length > 0 ? mlp(decls, 'deep', d, deep, 'parallel deep MLP') : 0;
    mlp(decls, 'mlp', d + deepOut, withOutput(spec.options.mlp), 'top MLP');
  },
  plan: planDcnv2,
  defaultOptions: (mlp) => ({ layers: 2, rank: 0, structure: 'stacked', deep: [], mlp }),
  minContext: 0,
  cases: [
    { K: 3, M: 2, D: 5, N: 6, dense: 'context' },
    { K: 3, M: 2, D: 5, N: 6, dense: 'target' },
    { K: 4, M: 3, D: 3, N: 5, options: { rank: 3 } },
    { K: 4, M: 3, D: 3, N: 5, options: { structure: 'parallel', deep: [6] } },
    { K: 4, M: 3, D: 3, N: 5, options: { structure: 'parallel', deep: [6, 4], rank: 2, layers: 3 } },
    { K: 4, M: 3, D: 3, N: 5, options: { layers: 0 } },
  ],
};
