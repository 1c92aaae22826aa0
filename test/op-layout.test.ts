/**
 * The device kernels cannot import src/plan/ops.ts, so their side of each op's layout is parsed here and
 * checked against the one definition: the WGSL parameter structs (member names and order) against the
 * op records' GPU layouts, the AssemblyScript export signatures against WASM_KERNELS, the attention
 * descriptor against WASM_ATTENTION_DESC, and the activation codes of both against ACTIVATION_CODES.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENTRY_FAMILY } from '../src/backends/webgpu/pipelines.js';
import type { Op, Plan } from '../src/plan/ir.js';
import { ACTIVATION_CODES, byKind, OPS, WASM_ATTENTION_DESC, WASM_KERNELS } from '../src/plan/ops.js';
import { SIMD_KERNELS } from '../src/onnx/compiler/simd-kernels.js';
import { opFlops } from '../src/index.js';
import { describeOp } from '../src/plan/describe.js';
import { jsBackend } from '../src/backends/js/index.js';

const root = join(import.meta.dirname, '..');
const read = (...p: string[]) => readFileSync(join(root, ...p), 'utf8');
const noComments = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

/** The text between the brace at `open` and its match. */
function braced(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error('unbalanced braces');
}

interface Wgsl {
  /** struct name -> member names in order (with ':array' appended to a runtime-sized array member). */
  readonly structs: Map<string, string[]>;
  /** variable bound at @binding(4) -> its struct. */
  readonly params: Map<string, string>;
  /** @compute entry point -> its body. */
  readonly entries: Map<string, string>;
}

function parseWgsl(source: string): Wgsl {
  const src = noComments(source);
  const structs = new Map<string, string[]>();
  for (const m of src.matchAll(/struct\s+(\w+)\s*\{/g)) {
    const members = braced(src, m.index + m[0].length - 1).split(',').map((s) => s.trim()).filter(Boolean);
    structs.set(m[1]!, members.map((s) => { const [name, type] = s.split(':').map((x) => x.trim()); return type!.startsWith('array<') ? `${name}:array` : name!; }));
  }
  const params = new Map<string, string>();
  for (const m of src.matchAll(/@binding\(4\)\s*var<[^>]*>\s*(\w+)\s*:\s*(\w+)\s*;/g)) params.set(m[1]!, m[2]!);
  const entries = new Map<string, string>();
  for (const m of src.matchAll(/@compute[^;{]*?fn\s+(\w+)\s*\([^)]*\)[^{]*\{/g)) entries.set(m[1]!, braced(src, m.index + m[0].length - 1));
  return { structs, params, entries };
}

const shaderFiles = readdirSync(join(root, 'shaders')).filter((f) => f.endsWith('.wgsl'));
const shaders = new Map(shaderFiles.map((f) => [f.replace(/\.wgsl$/, ''), parseWgsl(read('shaders', f))]));

/** The parameter struct an entry point reads, and the file it is in. */
function entryStruct(entry: string): { family: string; struct: string; members: string[] } {
  for (const [family, w] of shaders) {
    const body = w.entries.get(entry);
    if (body === undefined) continue;
    const used = [...w.params].filter(([v]) => new RegExp(`\\b${v}\\.`).test(body));
    expect(used.length, `${entry} reads one @binding(4) struct`).toBe(1);
    const struct = used[0]![1];
    return { family, struct, members: w.structs.get(struct)! };
  }
  throw new Error(`no @compute entry point ${entry} in shaders/*.wgsl`);
}

describe('WGSL parameter structs equal the op records', () => {
  for (const [kind, def] of Object.entries(OPS))
    for (const entry of def.gpu.entries)
      it(`${kind} -> ${entry}`, () => {
        const l = def.gpu.layout;
        const found = entryStruct(entry);
        expect(found.family, 'the family of ENTRY_FAMILY').toBe(ENTRY_FAMILY[entry as keyof typeof ENTRY_FAMILY]);
        expect(found.struct).toBe(l.struct);
        const fields = found.members.slice(0, l.fields.length);
        const rest = found.members.slice(l.fields.length);
        expect(fields).toEqual(l.fields);
        // After the named fields: padding only (so that the struct is the size the backend writes), then the tail.
        const pads = rest.filter((m) => /^_pad\d*$/.test(m));
        expect(pads.length, `${l.struct} padding`).toBe(l.pad);
        expect(rest).toEqual([...pads, ...(l.tail ? [`${l.tail}:array`] : [])]);
      });

  it('every entry point and every parameter struct belongs to an op record', () => {
    const entries = new Set(Object.values(OPS).flatMap((d) => d.gpu.entries));
    expect([...shaders.values()].flatMap((w) => [...w.entries.keys()]).sort()).toEqual([...entries].sort());
    expect([...entries].sort()).toEqual(Object.keys(ENTRY_FAMILY).sort());
    const structs = new Set(Object.values(OPS).map((d) => d.gpu.layout.struct));
    const bound = new Set([...shaders.values()].flatMap((w) => [...w.params.values()]));
    expect([...bound].sort()).toEqual([...structs].sort());
  });
});

/** Exported functions of the AssemblyScript sources: name -> parameter names. */
function asExports(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(join(root, 'wasm', 'assembly'))) {
    const src = noComments(read('wasm', 'assembly', f));
    for (const m of src.matchAll(/export\s+function\s+(\w+)\s*\(([^)]*)\)/g))
      out.set(m[1]!, m[2]!.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split(':')[0]!.trim()));
  }
  return out;
}

describe('AssemblyScript kernels equal WASM_KERNELS', () => {
  const exported = asExports();
  const kernels = [...noComments(read('wasm', 'assembly', 'kernels.ts')).matchAll(/export\s*\{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean));

  it('the module exports exactly the kernels of WASM_KERNELS', () => {
    expect([...kernels].sort()).toEqual(Object.keys(WASM_KERNELS).sort());
  });

  for (const [name, args] of Object.entries(WASM_KERNELS))
    it(`${name}(${args.join(', ')})`, () => {
      expect(exported.get(name), `export function ${name} in wasm/assembly`).toEqual(args);
    });

  // The ONNX compiler's module (wasm/assembly/compiler.ts) and its record in src/onnx/compiler/simd-kernels.ts.
  it('the compiler module exports exactly SIMD_KERNELS, each with its parameters in order', () => {
    const own = [...noComments(read('wasm', 'assembly', 'compiler.ts')).matchAll(/export\s*\{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean));
    expect(own.sort()).toEqual(Object.keys(SIMD_KERNELS).sort());
    for (const [name, args] of Object.entries(SIMD_KERNELS)) expect(exported.get(name), `export function ${name}`).toEqual(args);
  });

  // A data segment (a lookup table: Math.log, Mathf.exp) would be written into the imported memory, over
  // the weights and the compiled graphs' arena, at instantiation: neither module may have one.
  it('neither kernel module has a data segment', async () => {
    const sections = (bytes: Uint8Array) => {
      const ids: number[] = [];
      for (let i = 8; i < bytes.length; ) {
        ids.push(bytes[i++]!);
        let len = 0, shift = 0, x: number;
        do { x = bytes[i++]!; len |= (x & 127) << shift; shift += 7; } while (x & 128);
        i += len;
      }
      return ids;
    };
    const decode = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const main = await import('../build/wasm/kernels.js');
    const compiler = await import('../build/wasm/compiler-kernels.js');
    for (const b64 of [main.simdBase64, main.relaxedBase64, main.simdSharedBase64, main.relaxedSharedBase64, compiler.simdBase64, compiler.relaxedBase64]) {
      const ids = sections(decode(b64));
      expect(ids).toContain(10); // code
      expect(ids).not.toContain(11); // data
    }
  });

  it('every op record names kernels of WASM_KERNELS', () => {
    for (const def of Object.values(OPS)) for (const k of def.wasm) expect(Object.keys(WASM_KERNELS)).toContain(k);
  });

  it('the attention descriptor header reads the fields of WASM_ATTENTION_DESC at their offsets', () => {
    const src = noComments(read('wasm', 'assembly', 'attention.ts'));
    const body = braced(src, src.indexOf('{', src.indexOf('export function attention(')));
    const header = [...body.matchAll(/const\s+(\w+)\s*=[^;]*?load<i32>\(desc(?:,\s*(\d+))?\)/g)].map((m) => [Number(m[2] ?? 0), m[1]!] as const);
    expect(header.sort((a, b) => a[0] - b[0])).toEqual(WASM_ATTENTION_DESC.map((name, i) => [4 * i, name]));
  });
});

describe('activation codes have one definition', () => {
  const code = (name: string) => ACTIVATION_CODES[name as keyof typeof ACTIVATION_CODES];

  it('every "N none, N relu, N sigmoid" note in the kernels says ACTIVATION_CODES', () => {
    const files = [...shaderFiles.map((f) => ['shaders', f]), ...readdirSync(join(root, 'wasm', 'assembly')).map((f) => ['wasm', 'assembly', f])];
    let notes = 0;
    for (const f of files)
      for (const m of read(...f).matchAll(/\b(\d)u? (none|relu|sigmoid)\b/g)) {
        expect(Number(m[1]), `${f.join('/')}: "${m[0]}"`).toBe(code(m[2]!));
        notes++;
      }
    expect(notes).toBeGreaterThanOrEqual(9);
  });

  it('the activate functions branch on the codes of ACTIVATION_CODES', () => {
    const branches = (src: string) => [...noComments(src).matchAll(/act\s*==\s*(\d)u?\s*\)\s*\{?\s*return\s+([^;]*);/g)].map((m) => [Number(m[1]), /exp|sigmoid/.test(m[2]!) ? 'sigmoid' : /max/.test(m[2]!) ? 'relu' : m[2]!] as const);
    const expected = [[ACTIVATION_CODES.relu, 'relu'], [ACTIVATION_CODES.sigmoid, 'sigmoid']];
    expect(branches(read('shaders', 'common.wgsl'))).toEqual(expected);
    expect(branches(read('wasm', 'assembly', 'simd.ts'))).toEqual(expected);
    expect(noComments(read('wasm', 'assembly', 'rows.ts'))).toContain(`if (act == ${ACTIVATION_CODES.none}) return;`);
  });
});

describe('op records', () => {
  it('an op kind without a record is refused, not counted as 0 FLOPs or skipped', () => {
    const plan = { buffers: [], weights: new Map() } as unknown as Plan;
    const bogus = { kind: 'conv' } as unknown as Op;
    expect(() => opFlops(bogus, plan)).toThrow(/plan op: expected one of the op kinds gather, .*received "conv"/);
    expect(() => describeOp(plan, bogus)).toThrow(/plan op/);
    expect(() => byKind(OPS, { kind: 'toString' })).toThrow(/plan op/);
    const withBogus = { ...plan, contextOps: [{ op: bogus, component: 'fc' }], candidateOps: [] } as unknown as Plan;
    expect(() => jsBackend.compile(withBogus).runContext({ rows: 1, sparse: new Map(), dense: new Map() } as never)).toThrow(/plan op/);
  });
});
