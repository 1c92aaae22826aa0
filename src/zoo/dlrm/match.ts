/** The dlrm matcher: reads a graph's dlrm structure back into the native model (see src/onnx/patterns/match-parts.ts). */
import type { Tensor } from '../../model/safetensors.js';
import { pairOrder } from '../../model/geometry.js';
import type { FieldRead, Linear } from '../../onnx/patterns/view.js';
import { fail } from '../../onnx/patterns/view.js';
import type { Matcher } from '../../onnx/patterns/match-parts.js';
import { addMlp, addTables, headMlp, sameParts } from '../../onnx/patterns/match-parts.js';

export const dlrmMatcher: Matcher = (v, logit, track) => {
  const top = track('top MLP', 'linear (first layer split by rank) + dense', () => headMlp(v, logit, 'top MLP'));
  const topParts = v.parts(top.input);
  const pairsValue = topParts[topParts.length - 1]!;
  const { vectors, order } = track('dot interaction', 'pairs (context x context once, target-anchored per candidate)', () => {
    const select = v.expect(pairsValue, 'Gather', 'DLRM pair selection');
    const idx = v.constant(select.inputs[1]!) ?? fail('DLRM pair selection: constant pair indices');
    if (v.intAttr(select, 'axis', 0) !== 1) fail('DLRM pair selection: a Gather on axis 1');
    const flat = v.expect(select.inputs[0]!, ['Reshape', 'Flatten'], 'DLRM pair selection');
    const dots = v.expect(flat.inputs[0]!, 'MatMul', 'DLRM dot interaction');
    const tr = v.expect(dots.inputs[1]!, 'Transpose', 'DLRM dot interaction');
    const perm = tr.attrs.get('perm') as readonly number[] | undefined;
    if (!perm || perm.join() !== '0,2,1' || v.source(tr.inputs[0]!) !== v.source(dots.inputs[0]!)) fail('DLRM dot interaction: X times its own transpose [0, 2, 1]');
    const [, count, dim] = v.dims(dots.inputs[0]!) as [number, number, number];
    const vectors = v.parts(dots.inputs[0]!);
    if (vectors.length !== count || vectors.some((p) => v.width(p) !== dim)) fail(`DLRM dot interaction: ${count} stacked vectors of width ${dim}`);
    const flatIdx = (o: 'dlrm' | 'torchrec') => pairOrder(count, o).map(([i, j]) => i * count + j).join();
    const got = [...idx.data].join();
    const order = got === flatIdx('dlrm') ? 'dlrm' : got === flatIdx('torchrec') ? 'torchrec' : fail(`DLRM pair selection: the pairs in DLRM's (li, lj) or TorchRec's triu order over ${count} vectors, found indices [${got.slice(0, 60)}...]`);
    return { vectors, order };
  });
  let bottom: { layers: Linear[]; dense: FieldRead[] } | undefined;
  const sparse: FieldRead[] = [];
  vectors.forEach((p, i) => {
    if (v.is(p, 'Relu')) {
      if (i !== 0) fail('DLRM: the bottom MLP output as the first interacting vector');
      bottom = track('bottom MLP', 'linear + dense', () => {
        const m = v.mlp(p, 'bottom MLP', true);
        return { layers: m.layers, dense: v.parts(m.input).map((d) => v.field(d, 'bottom MLP input')) };
      });
      if (bottom.dense.some((f) => f.type !== 'dense')) fail('DLRM: the bottom MLP reads dense inputs only');
    } else sparse.push(track('embedding lookup', 'gather (context once, targets per candidate)', () => v.field(p, `DLRM vector ${i}`)));
  });
  if (sparse.some((f) => f.type !== 'sparse')) fail('DLRM: interacting vectors are embeddings or the bottom MLP output');
  const lead = topParts.slice(0, -1);
  const topInput = sameParts(v, lead, vectors) && lead.length > (bottom ? 1 : 0) ? 'embeddings+pairs' : sameParts(v, lead, bottom ? [vectors[0]!] : []) ? 'dense+pairs' : fail('DLRM top input: cat(bottom output, pairs) or cat(flatten(vectors), pairs)');
  const weights = new Map<string, Tensor>();
  addTables(weights, sparse);
  if (bottom) addMlp(weights, 'bottom_mlp', bottom.layers);
  addMlp(weights, 'top_mlp', top.layers);
  return {
    architecture: 'dlrm',
    options: { bottomMlp: bottom ? bottom.layers.map((l) => l.out) : [], topMlp: top.hidden, pairOrder: order, topInput },
    fields: [...(bottom?.dense ?? []), ...sparse],
    weights,
    components: [],
  };
};
