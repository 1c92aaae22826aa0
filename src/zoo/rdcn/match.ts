/** The rdcn matcher: reads a graph's rdcn structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import type { Linear } from '../../onnx/patterns/view.js';
import { fail } from '../../onnx/patterns/view.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { addLinear, addMlp, addTables, headMlp } from '../../onnx/patterns/match-parts.js';

export const rdcnMatcher: Matcher = (v, logit, track) => {
  const head = track('MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'MLP'));
  const top = v.parts(head.input);
  if (top.length !== 2) fail('rDCN: an MLP on cat(c_L, T_L)');
  const ctx = track('context cross stream', 'linear + cross (all once per request)', () => {
    const layers: Linear[] = [];
    const states: string[] = [];
    let cur = top[0]!;
    let c0: string | undefined;
    while (v.is(cur, 'Add')) {
      const add = v.expect(cur, 'Add', 'rDCN context layer');
      const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
      const mul = v.expect(mulName, 'Mul', 'rDCN context layer');
      const gateAt = v.is(mul.inputs[1]!, 'Gemm') || v.is(mul.inputs[1]!, 'Add') ? 1 : 0;
      const lin = v.linear(mul.inputs[gateAt]!, 'rDCN context layer Wc c + bc');
      if (v.source(lin.x) !== v.source(resid)) fail('rDCN context layer: the residual is c_l');
      if (c0 !== undefined && v.source(mul.inputs[1 - gateAt]!) !== c0) fail('rDCN context layers: every layer gates by c_0');
      c0 = v.source(mul.inputs[1 - gateAt]!);
      layers.unshift(lin);
      states.unshift(v.source(resid));
      cur = resid;
    }
    if (layers.length === 0 || v.source(cur) !== c0) fail('rDCN context stream: c_{l+1} = c_0 * (Wc c_l + bc) + c_l down to c_0');
    return { c0: c0!, layers, states };
  });
  const tgt = track('target cross stream', 'linear (Wct c_l once) + cross per candidate', () => {
    const cross: Linear[] = [];
    const own: Linear[] = [];
    let cur = top[1]!;
    let t0: string | undefined;
    for (let l = ctx.layers.length - 1; l >= 0; l--) {
      const add = v.expect(cur, 'Add', 'rDCN target layer');
      const [mulName, resid] = v.is(add.inputs[0]!, 'Mul') ? [add.inputs[0]!, add.inputs[1]!] : [add.inputs[1]!, add.inputs[0]!];
      const mul = v.expect(mulName, 'Mul', 'rDCN target layer');
      const gateAt = mul.inputs.findIndex((i) => v.is(i, 'Add') && !v.constant(v.producer(i)!.inputs[0]!) && !v.constant(v.producer(i)!.inputs[1]!));
      if (gateAt < 0) fail('rDCN target layer: T_0 * (Wct c_l + Wt T_l + bt)');
      const gate = v.expect(mul.inputs[gateAt]!, 'Add', 'rDCN target gate');
      const [a, b] = gate.inputs as [string, string];
      const first = v.linear(a, 'rDCN target gate term');
      const second = v.linear(b, 'rDCN target gate term');
      const [ct, t] = v.source(first.x) === ctx.states[l] ? [first, second] : [second, first];
      if (v.source(ct.x) !== ctx.states[l] || ct.bias.some((x) => x !== 0) || !(v.is(ct === first ? a : b, 'MatMul'))) fail(`rDCN target layer ${l}: a bias-free Wct applied to c_${l}`);
      if (v.source(t.x) !== v.source(resid)) fail(`rDCN target layer ${l}: Wt applied to T_${l}, the residual`);
      if (t0 !== undefined && v.source(mul.inputs[1 - gateAt]!) !== t0) fail('rDCN target layers: every layer gates by T_0');
      t0 = v.source(mul.inputs[1 - gateAt]!);
      cross.unshift(ct);
      own.unshift(t);
      cur = resid;
    }
    if (v.source(cur) !== t0) fail('rDCN target stream: down to T_0');
    return { t0: t0!, cross, own };
  });
  const fields = track('embedding lookup', 'gather', () => [...v.parts(ctx.c0), ...v.parts(tgt.t0)].map((p, i) => v.field(p, `rDCN stream part ${i}`)));
  const weights = new Map<string, Tensor>();
  addTables(weights, fields);
  ctx.layers.forEach((l, i) => {
    addLinear(weights, `ctx_cross.${i}`, l);
    addLinear(weights, `ct_cross.${i}`, tgt.cross[i]!, false);
    addLinear(weights, `tgt_cross.${i}`, tgt.own[i]!);
  });
  addMlp(weights, 'mlp', head.layers);
  return { architecture: 'rdcn', options: { layers: ctx.layers.length, mlp: head.hidden }, fields, weights, components: [] };
};
