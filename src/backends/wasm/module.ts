/**
 * Loading the AssemblyScript kernels: feature detection (relaxed SIMD FMA, plain SIMD, shared memory)
 * and instantiation on a memory the caller owns. The module bytes are embedded (build/wasm/kernels.js),
 * so nothing is fetched at run time, in Node or in a browser. Each variant comes twice: importing a
 * memory of its own, and importing a shared memory (threads) that several workers instantiate on.
 */
import { relaxedBase64, relaxedSharedBase64, simdBase64, simdSharedBase64 } from '../../../build/wasm/kernels.js';

export type WasmVariant = 'relaxed-simd' | 'simd';

/** The maximum the shared modules declare for their memory (wasm/asconfig.json): 1 GiB. */
export const MAX_SHARED_PAGES = 16384;

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
 * we turn the flag on before compiling when the engine lacks it by default (docs/backends.md). Synchronous
 * (process.getBuiltinModule), so that score() can load the kernels without an await.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedCache !== undefined) return relaxedCache;
  if (!WebAssembly.validate(RELAXED_PROBE) && typeof process !== 'undefined' && typeof process.getBuiltinModule === 'function') {
    try {
      (process.getBuiltinModule(NODE_V8) as typeof import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // The flag is gone: the probe below decides.
    }
  }
  return (relaxedCache = WebAssembly.validate(RELAXED_PROBE));
}

export function simdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * Whether a shared WebAssembly.Memory can be made and posted to workers: Node, or a browser page that is
 * cross-origin isolated (COOP/COEP headers); other pages have no SharedArrayBuffer.
 */
export function sharedMemorySupported(): boolean {
  return typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
}

export function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const BYTES: Record<`${WasmVariant}${'' | '/shared'}`, string> = {
  'relaxed-simd': relaxedBase64,
  simd: simdBase64,
  'relaxed-simd/shared': relaxedSharedBase64,
  'simd/shared': simdSharedBase64,
};
/** Compiled modules, and compiles under way, per variant and kind: each is compiled once per process. */
const compiled = new Map<string, WebAssembly.Module>();
const compiling = new Map<string, Promise<WebAssembly.Module>>();

export interface KernelModuleOptions {
  /** The module that imports a shared memory (maximum MAX_SHARED_PAGES) instead of a memory of its own. */
  readonly shared?: boolean;
}

function variantKey(prefer: WasmVariant | undefined, options: KernelModuleOptions): { variant: WasmVariant; key: keyof typeof BYTES } {
  const variant: WasmVariant = prefer ?? (relaxedSimdSupported() ? 'relaxed-simd' : 'simd');
  return { variant, key: options.shared ? (`${variant}/shared` as const) : variant };
}

/** The compiled kernel module of the best variant this engine runs (compiled once per process per kind). */
export async function kernelModule(prefer?: WasmVariant, options: KernelModuleOptions = {}): Promise<{ module: WebAssembly.Module; variant: WasmVariant }> {
  const { variant, key } = variantKey(prefer, options);
  const done = compiled.get(key);
  if (done) return { module: done, variant };
  let m = compiling.get(key);
  if (!m) {
    compiling.set(key, (m = WebAssembly.compile(decodeBase64(BYTES[key]))));
    m.then((module) => compiled.set(key, module), () => compiling.delete(key));
  }
  return { module: await m, variant };
}

/**
 * The same, compiled synchronously (score() is synchronous): the modules are small (under 40 KB), within
 * what engines compile on a page's main thread.
 */
export function kernelModuleSync(prefer?: WasmVariant, options: KernelModuleOptions = {}): { module: WebAssembly.Module; variant: WasmVariant } {
  const { variant, key } = variantKey(prefer, options);
  let module = compiled.get(key);
  if (!module) compiled.set(key, (module = new WebAssembly.Module(decodeBase64(BYTES[key]))));
  return { module, variant };
}
