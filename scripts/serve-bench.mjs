#!/usr/bin/env node
// Serving throughput of the plans side by side, and the soak test.
//
//   node scripts/serve-bench.mjs [--model DIR] [--plans vanilla,rank-aware] [--seconds 10] [--rounds 2]
//                                [--concurrency 64] [--threads T] [--users 1] [--context-cache-mb 64] [--json]
//   node scripts/serve-bench.mjs --soak [--seconds 60]      (npm run soak:server)
//
// Starts one `rankaware serve` child per plan (the DLRM of the paper's Table 3 at N=256 unless --model),
// warms each up, then runs the closed-loop load generator against them in alternating rounds so that a
// noisy machine slows all plans alike; prints each plan's median RPS, p50 and p99 over the rounds and the
// ratios. --soak runs one rank-aware server for --seconds (default 60), samples its RSS every 10 s, and
// exits 1 on any error.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'rankaware.js');
if (!existsSync(join(root, 'dist', 'server', 'load.js'))) {
  console.error('serve-bench: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { runLoad, formatReport } = await import('../dist/server/load.js');

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' }, plans: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' },
    threads: { type: 'string' }, users: { type: 'string' }, 'context-cache-mb': { type: 'string' }, soak: { type: 'boolean' }, json: { type: 'boolean' },
  },
});
const soak = o.soak === true;
const plans = (o.plans ?? (soak ? 'rank-aware' : 'vanilla,rank-aware')).split(',');
const seconds = Number(o.seconds ?? (soak ? 60 : 10));
const rounds = soak ? 1 : Number(o.rounds ?? 2);
const concurrency = Number(o.concurrency ?? 64);
const users = Number(o.users ?? 1);

let modelDir = o.model;
if (!modelDir) {
  modelDir = await mkdtemp(join(tmpdir(), 'rankaware-serve-bench-'));
  const init = spawnSync(process.execPath, [bin, 'init', '--arch', 'dlrm', '--context', '27', '--target', '4', '--dim', '128', '--mlp', '512,256', '--candidates', '256', '--out', modelDir], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(init.stderr);
}
const request = JSON.parse((await import('node:fs')).readFileSync(join(modelDir, 'request.json'), 'utf8'));
// --users U: U contexts (a returning user's context hits the cache on each later visit), same candidates.
const bodies = Array.from({ length: users }, (_, u) => {
  const context = Object.fromEntries(Object.entries(request.context).map(([k, v], i) => [k, typeof v === 'number' && i === 0 ? (v + u) % 1000 : v]));
  return Buffer.from(JSON.stringify({ context: users === 1 ? request.context : context, candidates: request.candidates }));
});

function startServe(plan) {
  const args = [bin, 'serve', '--model', modelDir, '--port', '0', '--host', '127.0.0.1', '--plan', plan];
  if (o.threads) args.push('--threads', o.threads);
  if (o['context-cache-mb']) args.push('--context-cache-mb', o['context-cache-mb']);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/127\.0\.0\.1:\d+): (.*)/.exec(out);
      if (m) resolve({ plan, child, url: m[1], info: m[2] });
    });
    child.on('exit', (code) => reject(new Error(`serve --plan ${plan} exited with ${code}`)));
  });
}

async function memory(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mib = (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)[1]) / 1048576;
  return { rss: mib('process_resident_memory_bytes'), heap: mib('nodejs_heap_size_used_bytes') };
}
const rssMiB = async (url) => (await memory(url)).rss;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};
const servers = [];
try {
  for (const plan of plans) servers.push(await startServe(plan));
  for (const s of servers) {
    // Warm-up: wasm tier-up, the workers' first tiles, the context cache.
    await runLoad({ url: s.url, bodies, concurrency, durationMs: 3000 });
    s.rssStart = await rssMiB(s.url);
    s.reports = [];
    console.log(`${s.plan}: ${s.info}; RSS after warm-up ${s.rssStart.toFixed(1)} MiB`);
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const samples = [];
      const sampler = soak ? setInterval(async () => samples.push(await memory(s.url)), 10_000) : undefined;
      const report = await runLoad({ url: s.url, bodies, concurrency, durationMs: (seconds * 1000) / rounds });
      clearInterval(sampler);
      s.reports.push(report);
      s.samples = samples;
      console.log(`  round ${r + 1} ${s.plan}: ${formatReport(report)}${soak ? `; every 10 s: RSS ${samples.map((x) => x.rss.toFixed(1)).join(', ')} MiB, JS heap used ${samples.map((x) => x.heap.toFixed(1)).join(', ')} MiB` : ''}`);
    }
  }
  const summary = [];
  for (const s of servers) {
    s.rssEnd = await rssMiB(s.url);
    const m = {
      plan: s.plan, concurrency, users, seconds, rounds,
      rps: median(s.reports.map((x) => x.rps)),
      p50_ms: median(s.reports.map((x) => x.p50Ms)),
      p99_ms: median(s.reports.map((x) => x.p99Ms)),
      errors: s.reports.reduce((a, x) => a + x.errors, 0),
      rss_start_mib: s.rssStart,
      rss_end_mib: s.rssEnd,
    };
    if (soak && s.samples.length > 1) {
      // Flatness is judged from the first sample (10 s in, past the allocator's first growth) to the end.
      m.rss_10s_mib = s.samples[0].rss;
      m.rss_growth_after_10s_pct = ((s.rssEnd - m.rss_10s_mib) / m.rss_10s_mib) * 100;
    }
    summary.push(m);
    console.log(o.json ? JSON.stringify(m) : `${m.plan}: ${m.rps.toFixed(1)} RPS, p50 ${m.p50_ms.toFixed(1)} ms, p99 ${m.p99_ms.toFixed(1)} ms, errors ${m.errors}, RSS ${m.rss_start_mib.toFixed(1)} MiB after warm-up${m.rss_10s_mib === undefined ? '' : `, ${m.rss_10s_mib.toFixed(1)} MiB at 10 s`}, ${m.rss_end_mib.toFixed(1)} MiB at the end${m.rss_growth_after_10s_pct === undefined ? '' : ` (${m.rss_growth_after_10s_pct >= 0 ? '+' : ''}${m.rss_growth_after_10s_pct.toFixed(1)}% after 10 s)`}`);
  }
  const van = summary.find((m) => m.plan === 'vanilla');
  const ra = summary.find((m) => m.plan === 'rank-aware');
  if (van && ra) console.log(`rank-aware / vanilla: ${(ra.rps / van.rps).toFixed(2)}x RPS, p99 ${(ra.p99_ms / van.p99_ms).toFixed(2)}x`);
  if (summary.some((m) => m.errors > 0)) process.exitCode = 1;
} finally {
  for (const s of servers) s.child.kill('SIGTERM');
}
