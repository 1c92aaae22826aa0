/**
 * The demo page's Vite config: demo/ is the root (index.html, src/, public/model/), the library comes
 * from the repository's TypeScript sources, and every response carries COOP/COEP so that the page is
 * cross-origin isolated (SharedArrayBuffer: the scorer's workers share one WebAssembly.Memory of weights).
 * `npm run demo` builds it into build/demo/ and serves that (scripts/demo.mjs); `npx vite --config
 * demo/vite.config.ts` serves the sources with hot reload.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import type { UserConfig } from 'vite';
import { ISOLATION_HEADERS, root as repoRoot } from '../vite.config.js';

export const demoRoot = fileURLToPath(new URL('.', import.meta.url));
export const demoOutDir = fileURLToPath(new URL('../build/demo/', import.meta.url));

export interface DemoViteOptions {
  /** Send COOP/COEP (default true). */
  readonly crossOriginIsolated?: boolean;
}

export function demoViteConfig(options: DemoViteOptions = {}): UserConfig {
  const headers = options.crossOriginIsolated ?? true ? { ...ISOLATION_HEADERS } : {};
  return {
    root: demoRoot,
    // Relative asset URLs: the built page works from any path it is served under.
    base: './',
    cacheDir: fileURLToPath(new URL('../node_modules/.vite/demo', import.meta.url)),
    clearScreen: false,
    server: { headers, host: '127.0.0.1', fs: { allow: [repoRoot] } },
    preview: { headers, host: '127.0.0.1' },
    optimizeDeps: { include: ['comlink', '@petamoriken/float16'] },
    // The scorer's worker is an ES module (it uses top-level await).
    worker: { format: 'es' },
    build: { outDir: demoOutDir, emptyOutDir: true, target: 'es2022' },
  };
}

export default defineConfig(() => demoViteConfig());
