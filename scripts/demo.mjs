// `npm run demo`: builds the demo page (demo/) into build/demo/ and serves it on 127.0.0.1 with the COOP and
// COEP headers that make it cross-origin isolated, then prints its URL. Everything it serves is local: the
// page, the library, the WASM kernels and the model; it works offline.
//
//   npm run demo                 # http://127.0.0.1:4173/ (the next free port when taken)
//   npm run demo -- --port 8080
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const configFile = join(root, 'demo', 'vite.config.ts');
const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 4173;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`demo: --port: expected an integer in [0, 65535], received ${JSON.stringify(process.argv[portArg + 1])}`);
  process.exit(1);
}

// The library imports the WASM kernels from build/wasm/kernels.js (built by `npm ci`; rebuilt here when stale).
const wasm = spawnSync(process.execPath, [join(root, 'scripts', 'build-wasm.mjs')], { stdio: 'inherit' });
if (wasm.status !== 0) process.exit(wasm.status ?? 1);

await build({ configFile, logLevel: 'warn' });
const server = await preview({ configFile, preview: { port, strictPort: false } });
const url = server.resolvedUrls?.local[0];
console.log(`\n  rankaware demo: ${url ?? '(no local URL)'}\n  (cross-origin isolated: COOP same-origin, COEP require-corp; Ctrl+C to stop)\n`);
