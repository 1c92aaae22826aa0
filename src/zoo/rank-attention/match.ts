/** The rank-attention matcher: reads a graph's rank-attention structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import { fail } from '../../onnx/patterns/view.js';
import type { AttentionBlock, Projection } from '../../onnx/patterns/attention.js';
import { attentionBlock } from '../../onnx/patterns/attention.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { addMlp, addTables, headMlp, attentionOptions, addBlock, stackedFields } from '../../onnx/patterns/match-parts.js';

export const rankAttentionMatcher: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length !== 2 || top.some((t) => v.dims(t).length !== 3)) fail('rank-attention: an MLP on cat(flatten(c_L), flatten(T_L))');
  const ctx: AttentionBlock[] = [];
  const tgt: AttentionBlock[] = [];
  track('attention streams', 'attention (context stream once; target queries over context and target keys per candidate)', () => {
    let [c, t] = top as [string, string];
    while (v.is(c, 'Relu')) {
      const i = ctx.length;
      const cb = attentionBlock(v, c, `rank-attention context layer (from the end) ${i}`);
      const tb = attentionBlock(v, t, `rank-attention target layer (from the end) ${i}`);
      if (cb.keys.length !== 1 || cb.keys[0]!.x !== cb.x) fail('rank-attention context stream: self-attention over the context fields');
      const [kc, kt] = tb.keys;
      const [vc] = tb.values;
      if (tb.keys.length !== 2 || kt!.x !== tb.x) fail('rank-attention target stream: keys cat(context keys, target keys)');
      const shared = (p: Projection, q: Projection) => p.value === q.value || (p.x === q.x && p.constant === q.constant);
      if (!shared(kc!, cb.keys[0]!) || !shared(vc!, cb.values[0]!)) fail('rank-attention target stream: the context keys and values are the context stream\'s own projections');
      ctx.unshift(cb);
      tgt.unshift(tb);
      c = cb.x;
      t = tb.x;
    }
    if (ctx.length === 0) fail('rank-attention: at least one layer');
  });
  const fields = track('embedding lookup', 'gather (context once, targets per candidate)', () => [...stackedFields(v, ctx[0]!.x, 'context field'), ...stackedFields(v, tgt[0]!.x, 'target field')]);
  const options = { ...attentionOptions([...ctx, ...tgt], 'rank-attention'), layers: ctx.length, mlp: head.hidden };
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  ctx.forEach((b, l) => addBlock(weights, `ctx_attention.${l}`, b, b.keys[0]!, b.values[0]!));
  tgt.forEach((b, l) => addBlock(weights, `tgt_attention.${l}`, b, b.keys[1]!, b.values[1]!));
  addMlp(weights, 'mlp', head.layers);
  return { architecture: 'rank-attention', options, fields, weights, components: [] };
};
