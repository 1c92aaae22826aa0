// Builds the browser bundle (library JS with the embedded WASM kernels, and the worker pool's worker,
// minified) with Vite's default settings, as an app made by `npm create vite` would, and reports its size
// raw and gzipped: what a page that imports `rankaware` ships.
import { build } from 'vite';
import { readdir, readFile, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build', 'browser');
await build({
  root,
  logLevel: 'warn',
  configFile: false,
  build: {
    outDir,
    emptyOutDir: true,
    minify: true,
    lib: { entry: join(root, 'src', 'index.ts'), formats: ['es'], fileName: 'rankaware' },
  },
});
let raw = 0;
let gz = 0;
for (const f of await readdir(outDir, { recursive: true })) {
  if (!(await stat(join(outDir, f))).isFile()) continue;
  const bytes = await readFile(join(outDir, f));
  raw += bytes.length;
  gz += gzipSync(bytes, { level: 9 }).length;
}
const report = { bundle: 'build/browser', bytes: raw, gzip_bytes: gz, gzip_kb: +(gz / 1024).toFixed(1) };
console.log(JSON.stringify(report));
// The budget: a page should not pay more than this for scoring on the device.
const BUDGET_KB = 100;
if (report.gzip_kb > BUDGET_KB) {
  console.error(`bundle-size: ${report.gzip_kb} KB gzipped is over the ${BUDGET_KB} KB budget`);
  process.exit(1);
}
