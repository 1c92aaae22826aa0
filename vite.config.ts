/**
 * The Vite dev server (and preview server) for pages that run rankaware from its TypeScript sources: the
 * browser tests (test/browser/) and demos. It serves the repository root, so a page at
 * /test/browser/index.html imports /src/index.ts directly.
 *
 * Cross-origin isolation: the COOP `same-origin` and COEP `require-corp` headers are on by default, which
 * gives pages SharedArrayBuffer and so the scorer's 'shared-memory' mode. `RANKAWARE_ISOLATION=off`
 * (or `rankawareViteConfig({ crossOriginIsolated: false })`) serves without them: the scorer then runs in
 * 'copied-weights' mode.
 *
 *   npx vite                              # http://localhost:5173/test/browser/index.html
 *   RANKAWARE_ISOLATION=off npx vite
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import type { UserConfig } from 'vite';

export const root = fileURLToPath(new URL('.', import.meta.url));

export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export interface RankawareViteOptions {
  /** Send COOP/COEP so that pages are cross-origin isolated (default true). */
  readonly crossOriginIsolated?: boolean;
}

export function rankawareViteConfig(options: RankawareViteOptions = {}): UserConfig {
  const isolated = options.crossOriginIsolated ?? true;
  const headers = isolated ? { ...ISOLATION_HEADERS } : {};
  return {
    root,
    // Two servers (isolated and not) may start at once in one test run: separate dependency caches.
    cacheDir: `node_modules/.vite/${isolated ? 'isolated' : 'not-isolated'}`,
    appType: 'mpa',
    clearScreen: false,
    server: { headers, host: '127.0.0.1' },
    preview: { headers, host: '127.0.0.1' },
    optimizeDeps: {
      // Pre-bundle the library's dependencies up front: the scheduler's worker imports comlink, and a
      // dependency first met inside a worker would otherwise make Vite re-optimize and reload the page.
      entries: ['test/browser/index.html'],
      include: ['comlink', '@petamoriken/float16'],
    },
  };
}

export default defineConfig(() => rankawareViteConfig({ crossOriginIsolated: process.env.RANKAWARE_ISOLATION !== 'off' }));
