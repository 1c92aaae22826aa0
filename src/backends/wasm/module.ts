/**
 * Loading the AssemblyScript kernels: feature detection (relaxed SIMD FMA, plain SIMD) and
 * instantiation on a memory the caller owns. The module bytes are embedded (build/wasm/kernels.js),
 * so nothing is fetched at run time, in Node or in a browser.
 */
import { relaxedBase64, simdBase64 } from '../../../build/wasm/kernels.js';

export type WasmVariant = 'relaxed-simd' | 'simd';

// (module (func (result v128) (v128.const 0) (v128.const 0) (v128.const 0) (f32x4.relaxed_madd)))
const RELAXED_PROBE = probe([0xfd, 0x85, 0x02], 3);
// (module (func (result v128) (v128.const 0)))
const SIMD_PROBE = probe([], 1);

function probe(op: number[], consts: number): Uint8Array<ArrayBuffer> {
  const body = [0x00];
  for (let i = 0; i < consts; i++) body.push(0xfd, 0x0c, ...new Array<number>(16).fill(0));
  body.push(...op, 0x0b);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
}

let relaxedCache: boolean | undefined;
const NODE_V8 = 'node:v8';

/**
 * Whether the engine runs relaxed SIMD. Node 20 (V8 11.3) has it behind --experimental-wasm-relaxed-simd:
 * we turn the flag on before compiling when the engine lacks it by default (DESIGN.md section 5).
 */
export async function relaxedSimdSupported(): Promise<boolean> {
  if (relaxedCache !== undefined) return relaxedCache;
  if (!WebAssembly.validate(RELAXED_PROBE) && typeof process !== 'undefined' && process.versions?.node) {
    try {
      // A computed specifier keeps browser bundlers from trying to resolve a Node built-in.
      const v8: typeof import('node:v8') = await import(/* @vite-ignore */ NODE_V8);
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // Not Node, or the flag is gone: the probe below decides.
    }
  }
  return (relaxedCache = WebAssembly.validate(RELAXED_PROBE));
}

export function simdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const compiled = new Map<WasmVariant, Promise<WebAssembly.Module>>();

/** The compiled kernel module of the best variant this engine runs (compiled once per process). */
export async function kernelModule(prefer?: WasmVariant): Promise<{ module: WebAssembly.Module; variant: WasmVariant }> {
  const variant: WasmVariant = prefer ?? ((await relaxedSimdSupported()) ? 'relaxed-simd' : 'simd');
  let m = compiled.get(variant);
  if (!m) compiled.set(variant, (m = WebAssembly.compile(decode(variant === 'relaxed-simd' ? relaxedBase64 : simdBase64))));
  return { module: await m, variant };
}
