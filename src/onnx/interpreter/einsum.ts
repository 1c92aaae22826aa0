/**
 * Einsum, the contraction CIN, bilinear interactions and attention scores are written with: any number of
 * operands, one letter per axis, an explicit output (`->`) or numpy's implicit one (the letters that occur
 * once, in alphabetical order). Computed as the plain sum over every letter's range, in float64: the
 * interpreter is the oracle, not the fast path. The ellipsis is refused with the node's name.
 */
import { fail } from './kernel-parts.js';
import type { Kernel } from './kernel-parts.js';
import { value } from './tensor.js';
import type { Value } from './tensor.js';
import type { GraphNode } from '../reader/onnx-graph.js';

export interface Contraction {
  readonly inputs: readonly string[];
  readonly output: string;
}

export function parseEinsum(node: GraphNode, operands: number): Contraction {
  const equation = node.attrs.get('equation');
  if (typeof equation !== 'string') fail(node, 'an equation attribute', String(equation));
  const text = equation.replace(/\s+/g, '');
  if (text.includes('.')) fail(node, 'an equation without an ellipsis ("...")', JSON.stringify(equation));
  const [lhs, rhs] = text.split('->') as [string, string | undefined];
  const inputs = lhs.split(',');
  if (inputs.length !== operands) fail(node, `an equation with ${operands} operands`, JSON.stringify(equation));
  const letters = inputs.join('');
  if (!/^[a-zA-Z]*$/.test(letters + (rhs ?? ''))) fail(node, 'axes named by letters', JSON.stringify(equation));
  const output = rhs ?? [...new Set(letters)].filter((c) => letters.split(c).length === 2).sort().join('');
  for (const c of output) if (!letters.includes(c)) fail(node, `output letters that occur in an operand ("${c}" does not)`, JSON.stringify(equation));
  return { inputs, output };
}

/** Each letter's size, the same wherever it occurs (the compiler's Einsum reads them too). */
export function einsumSizes(node: GraphNode, terms: readonly string[], shapes: readonly (readonly number[])[]): Map<string, number> {
  const sizes = new Map<string, number>();
  terms.forEach((term, i) => {
    const shape = shapes[i]!;
    if (term.length !== shape.length) fail(node, `operand ${i} of ${term.length} axes ("${term}")`, `shape [${shape.join(', ')}]`);
    [...term].forEach((c, axis) => {
      const d = shape[axis]!;
      const known = sizes.get(c);
      if (known !== undefined && known !== d) fail(node, `axis "${c}" of one size`, `${known} and ${d}`);
      sizes.set(c, d);
    });
  });
  return sizes;
}

export const einsum: Kernel = (inputs, node) => {
  const operands = inputs.filter((v): v is Value => v !== undefined);
  const { inputs: terms, output } = parseEinsum(node, operands.length);
  const sizes = einsumSizes(node, terms, operands.map((o) => o.shape));
  const letters = [...sizes.keys()];
  const dims = letters.map((c) => sizes.get(c)!);
  // Per operand and the output: the stride of each letter (0 where it does not occur).
  const stridesFor = (term: string) => {
    const shape = [...term].map((c) => sizes.get(c)!);
    const own = shape.map((_, axis) => shape.slice(axis + 1).reduce((a, d) => a * d, 1));
    return letters.map((c) => {
      let s = 0;
      [...term].forEach((t, axis) => t === c && (s += own[axis]!));
      return s;
    });
  };
  const inStrides = terms.map(stridesFor);
  const outStrides = stridesFor(output);
  const out = value('float', [...output].map((c) => sizes.get(c)!));
  const total = dims.reduce((a, d) => a * d, 1);
  const index = new Array<number>(letters.length).fill(0);
  for (let step = 0; step < total; step++) {
    let product = 1;
    let at = 0;
    for (let i = 0; i < operands.length; i++) {
      let offset = 0;
      for (let l = 0; l < letters.length; l++) offset += index[l]! * inStrides[i]![l]!;
      product *= operands[i]!.data[offset]!;
    }
    for (let l = 0; l < letters.length; l++) at += index[l]! * outStrides[l]!;
    out.data[at]! += product;
    for (let l = letters.length - 1; l >= 0; l--) {
      if (++index[l]! < dims[l]!) break;
      index[l] = 0;
    }
  }
  return [out];
};

/** Multiply-adds of an einsum: one per point of the full index space, per operand after the first. */
export function einsumFlops(inputs: readonly (Value | undefined)[], node: GraphNode): number {
  const operands = inputs.filter((v): v is Value => v !== undefined);
  const terms = (node.attrs.get('equation') as string).replace(/\s+/g, '').split('->')[0]!.split(',');
  const sizes = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((c, axis) => sizes.set(c, operands[i]!.shape[axis]!)));
  return 2 * Math.max(operands.length - 1, 1) * [...sizes.values()].reduce((a, d) => a * d, 1);
}
