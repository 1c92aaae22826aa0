/**
 * rDCN (paper 4.2, Eq. 19-20): a context stream c_{l+1} = c_0 * (Wc_l c_l + bc_l) + c_l and a target
 * stream T_{l+1} = T_0 * (Wct_l c_l + Wt_l T_l + bt_l) + T_l; MLP on cat(c_L, T_L).
 *
 * Rank-aware: the whole context stream and every Wct_l c_l run once; per candidate only the target
 * stream and the MLP's target columns. Vanilla broadcasts c_0 and runs the context stream N times.
 */
import { rdcnStreams, withOutput } from '../../model/geometry.js';
import type { SpecOf } from '../../model/spec.js';
import type { Slice } from '../../plan/ir.js';
import type { PlanBuilder } from '../../plan/builder.js';

export function planRdcn(b: PlanBuilder, spec: SpecOf<'rdcn'>): Slice {
  const streams = rdcnStreams(spec);
  const index = (name: string) => spec.fields.findIndex((f) => f.name === name);
  const stream = (name: string, s: typeof streams.context) => {
    const v = b.embedFields(name, s.fields.map((field, i) => ({ field, index: index(field.name), offset: s.offsets[i]! })), s.width);
    return (v.ctx ?? v.cand)!;
  };
  const c0 = stream('c0', streams.context);
  const t0 = stream('T0', streams.target);

  b.component = 'cross';
  let c = c0;
  let t = t0;
  for (let l = 0; l < spec.options.layers; l++) {
    const zc = b.linear(c, `ctx_cross.${l}.weight`, `ctx_cross.${l}.bias`, 'none', `ctx_cross.${l}.z`);
    const fromContext = b.linear(c, `ct_cross.${l}.weight`, undefined, 'none', `ct_cross.${l}`);
    const zt = b.linear(t, `tgt_cross.${l}.weight`, `tgt_cross.${l}.bias`, 'none', `tgt_cross.${l}.z`, 1, fromContext);
    const nextC = b.buffer(`c${l + 1}`, b.rankOf(c), c.width);
    b.emit({ kind: 'cross', x0: c0, z: zc, x: c, out: nextC });
    const nextT = b.buffer(`T${l + 1}`, 'cand', t.width);
    b.emit({ kind: 'cross', x0: t0, z: zt, x: t, out: nextT });
    c = nextC;
    t = nextT;
  }

  b.component = 'fc';
  return b.mlp(b.streams(c, t, 'mlp_input'), 'mlp', withOutput(spec.options.mlp).length, spec.output === 'sigmoid' ? 'sigmoid' : 'none');
}
