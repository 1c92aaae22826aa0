/**
 * The `rankaware` command line (its contract: the usage below, and README's quick start). Bad input exits
 * 1 with a one-line error on stderr and no stack trace; RANKAWARE_DEBUG=1 prints the stack of unexpected
 * errors. `--version`, and `--help` on every command, print to stdout and exit 0.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { oneLine, RankawareError, show } from '../errors.js';
import { loadModelDir, saveModelDir } from '../node.js';
import { ARCHITECTURES } from '../model/parse-spec.js';
import { ZOO } from '../zoo/registry.js';
import type { Architecture } from '../model/spec.js';
import { randomModel, randomRequest } from '../model/random.js';
import { getPlan, scoreAsync } from '../engine.js';
import { loadBackend } from '../backends/select.js';
import type { PlanMode } from '../plan/ir.js';
import { countFlops, flopsFor } from '../plan/flops.js';
import { listOps } from '../plan/describe.js';
import type { BackendChoice } from '../backends/backend.js';
import { runBench } from './bench.js';
import { createScorer } from '../scheduler/scorer.js';
import type { ScoreRequest } from '../scheduler/types.js';
import { importCommand, importedEngine, isCompiledDir, isImportedDir, inspectImportedDir, scoreImportedDir } from '../onnx/cli.js';
import type { ImportedPlan } from '../onnx/model.js';
import { loadCommand, serveCommand, SERVE_USAGE } from '../server/commands.js';
import { packageVersion } from '../package-version.js';

const USAGE = `rankaware: exact rank-aware inference for recommender ranking models

  rankaware init --arch A --context K --target M --dim D [--mlp 512,256] [--candidates N] [--seed S] [--history MAXLEN (din, bst)] --out DIR
      A seeded random model (A: ${ARCHITECTURES.join(', ')}) and DIR/request.json with N candidates.
  rankaware score --model DIR --request FILE.json [--backend auto|wasm|webgpu|js|ort] [--plan vanilla|rank-aware] [--threads T]
      Prints {"scores": [...], "backend": ..., "plan": ..., "reason": ...}: the backend that ran, and why.
      --backend auto (the default): WebGPU on a hardware adapter, else WASM, else js. --backend ort: the
      rank-aware plan as ONNX on onnxruntime-node (installed beside rankaware), T intra-op threads.
  rankaware inspect --model DIR [--plan vanilla|rank-aware] [--n N] [--json]
      What runs once per request, what per candidate, and the FLOPs of each.
  rankaware import --onnx FILE.onnx --context NAMES|PREFIX --out DIR [--output NAME] [--inspect] [--n N] [--json]
      Import an ONNX ranking model (PyTorch or TensorFlow export): the listed inputs (or those with the
      prefix) are the context, the others the candidates; score and inspect then take --model DIR.
      A graph with several outputs (multi-task) scores the first, or the one --output names.
  rankaware export-onnx --model DIR --out FILE.onnx
      The vanilla graph (inputs named after the fields), for onnxruntime.
  rankaware export-onnx --model DIR --plan rank-aware --out OUTDIR
      The rank-aware plan as ONNX: rank-aware.onnx (both stages, one run), context.onnx and
      candidates.onnx (the stages apart, for a context cache) and rank-aware.json (how they connect).
  rankaware export-triton --model DIR --out REPO [--name NAME] [--device cpu|gpu] [--instances I] [--storage-uri URI] [--cache-mb MB]
      A Triton Inference Server model repository of the rank-aware plan: an ensemble of the context stage
      (its response cache on: a returning context skips it) and the candidate stage, on onnxruntime, and
      REPO/inferenceservice.yaml, a KServe InferenceService serving it (docs/server.md).
  rankaware bench --model DIR --n 256[,1024] [--backend auto|wasm|webgpu|js] [--plan vanilla,rank-aware] [--threads 1,2] [--concurrency C] [--peer ort-node,ort-web] [--json]
      Warm latency (or, with --concurrency, throughput with C requests in flight) per plan, N and thread
      count, cold start, and onnxruntime on the exported vanilla graph, all in one run.
  rankaware bench --suite table3|fig2|peers|cold|all [--quick] [--json] [--out bench/results]
      The benchmark suites (docs/benchmarks.md): the paper's Table 3 and Fig. 2, the onnxruntime peers and
      cold starts; writes DIR/*.json, DIR/summary.md and SVG charts. --quick: under 2 minutes.
  rankaware bench --suite onnx [--quick] [--json]
      The ONNX graphs of ../shared/onnx-zoo and ../shared/golden compiled (wasm, one thread), rank-aware and
      vanilla, beside onnxruntime-node and onnxruntime-web on the same model.onnx at N = 16, 256, 1024.
  rankaware bench --suite compiled [--quick] [--json]
      Each native architecture's rank-aware plan beside the ONNX compiler's plan of its own export-onnx graph
      (wasm, one thread) at N = 16, 256, 1024: the times, their ratio and the FLOPs.
  rankaware bench --suite sequence [--quick] [--json]
      DIN and BST at history lengths L = 20, 50, 200 and N = 16, 256, 1024 (wasm, one thread) beside
      onnxruntime-node and onnxruntime-web on their vanilla export: times, the history stage, FLOPs.
${SERVE_USAGE}
  rankaware --version | rankaware COMMAND --help`;

export class UsageError extends Error {}

function need(values: Record<string, unknown>, key: string): string {
  const v = values[key];
  if (typeof v !== 'string' || v === '') throw new RankawareError(`--${key}`, 'a value', 'nothing (missing option)', 'missing');
  return v;
}

function int(values: Record<string, unknown>, key: string, fallback?: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const v = values[key];
  if (v === undefined && fallback !== undefined) return fallback;
  const s = need(values, key);
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) throw new RankawareError(`--${key}`, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`, show(s));
  return n;
}

export function parseList(s: string, key: string): number[] {
  return s.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new RankawareError(`--${key}`, 'a comma-separated list of positive integers', show(s));
    return n;
  });
}

function seconds(v: unknown): number {
  if (v === undefined) return 2;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new RankawareError('--seconds', 'a positive number of seconds', show(v));
  return n;
}

export function parsePlan(v: unknown): PlanMode {
  if (v === undefined) return 'rank-aware';
  if (v !== 'vanilla' && v !== 'rank-aware') throw new RankawareError('--plan', '"vanilla" or "rank-aware"', show(v));
  return v;
}

/** --plan for an imported graph: compiled plans, or the float64 interpreter. */
export function parseImportedPlan(v: unknown): ImportedPlan {
  if (v === undefined) return 'rank-aware';
  if (v !== 'vanilla' && v !== 'rank-aware' && v !== 'interpret') throw new RankawareError('--plan', '"vanilla", "rank-aware" or "interpret" (the float64 interpreter)', show(v));
  return v;
}

export function parseBackend(v: unknown): BackendChoice {
  if (v === undefined) return 'auto';
  if (v !== 'js' && v !== 'wasm' && v !== 'webgpu' && v !== 'auto') throw new RankawareError('--backend', `"js", "wasm", "webgpu" or "auto"${v === 'ort' ? ' here ("ort" is for score and the server)' : ''}`, show(v));
  return v;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RankawareError(path, 'a readable file', code === 'ENOENT' ? 'no such file' : String(code), 'missing');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RankawareError(path, 'valid JSON', `a parse error (${(e as Error).message})`, 'format');
  }
}

/** Say on stderr when a backend asked for by name could not run (the result's reason says why). */
function noteFallback(requested: BackendChoice, ran: string, reason: string, err: (s: string) => void): void {
  if (requested !== 'auto' && requested !== ran) err(`rankaware: --backend ${requested} is not available here, scoring on ${ran}: ${reason}`);
}

type Command = { options: Record<string, { type: 'string' | 'boolean' }>; run: (v: Record<string, unknown>, out: (s: string) => void, err: (s: string) => void) => Promise<void> };

const COMMANDS: Record<string, Command> = {
  init: {
    options: { arch: { type: 'string' }, context: { type: 'string' }, target: { type: 'string' }, dim: { type: 'string' }, mlp: { type: 'string' }, candidates: { type: 'string' }, seed: { type: 'string' }, history: { type: 'string' }, out: { type: 'string' } },
    async run(v, out) {
      const arch = need(v, 'arch');
      if (!(ARCHITECTURES as readonly string[]).includes(arch)) throw new RankawareError('--arch', `one of ${ARCHITECTURES.join(', ')}`, show(arch));
      const dir = need(v, 'out');
      const seed = int(v, 'seed', 1, 0);
      const model = randomModel({
        arch: arch as Architecture,
        context: int(v, 'context', undefined, ZOO[arch as Architecture].minContext, 4096),
        target: int(v, 'target', undefined, 1, 4096),
        dim: int(v, 'dim', undefined, 1, 65536),
        mlp: v.mlp === undefined ? undefined : parseList(need(v, 'mlp'), 'mlp'),
        seed,
        history: v.history === undefined ? undefined : int(v, 'history', 50, 1, 4096),
      });
      const request = randomRequest(model.spec, int(v, 'candidates', 64), seed + 1);
      try {
        await saveModelDir(model, dir);
        await writeFile(join(dir, 'request.json'), JSON.stringify(request) + '\n');
      } catch (e) {
        throw new RankawareError('--out', 'a writable directory', `${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'invalid');
      }
      out(`wrote ${join(dir, 'model.json')}, ${join(dir, 'weights.safetensors')} and ${join(dir, 'request.json')} (${request.candidates.length} candidates)`);
    },
  },
  score: {
    options: { model: { type: 'string' }, request: { type: 'string' }, backend: { type: 'string' }, plan: { type: 'string' }, threads: { type: 'string' } },
    async run(v, out, err) {
      if (v.backend === 'ort') {
        if (v.plan !== undefined && v.plan !== 'rank-aware') throw new RankawareError('--plan', '"rank-aware" with --backend ort (the vanilla graph on onnxruntime is the peer: bench --peer ort-node)', show(v.plan));
        const { scoreOnOrt } = await import('../onnx/ort/cli.js');
        return out(await scoreOnOrt(need(v, 'model'), await readJson(need(v, 'request')), int(v, 'threads', 1)));
      }
      if (await isCompiledDir(need(v, 'model'))) return out(await scoreImportedDir(need(v, 'model'), await readJson(need(v, 'request')), parseImportedPlan(v.plan), parseBackend(v.backend), int(v, 'threads', 1)));
      const plan = parsePlan(v.plan);
      const backendName = parseBackend(v.backend);
      const threads = int(v, 'threads', 1);
      const model = await loadModelDir(need(v, 'model'));
      const request = await readJson(need(v, 'request'));
      if (threads === 1) {
        const result = await scoreAsync(model, request, { plan, backend: backendName });
        noteFallback(backendName, result.backend, result.reason, err);
        return out(JSON.stringify({ scores: result.scores, backend: result.backend, plan: result.plan, reason: result.reason }));
      }
      const scorer = await createScorer(model, { backend: backendName, plan, threads });
      try {
        const result = await scorer.score(request as ScoreRequest);
        noteFallback(backendName, scorer.info.backend, scorer.info.backendReason, err);
        out(JSON.stringify({ scores: result.scores, backend: result.backend, plan: result.plan, reason: result.reason, threads: scorer.info.threads, mode: scorer.info.mode }));
      } finally {
        scorer.dispose();
      }
    },
  },
  inspect: {
    options: { model: { type: 'string' }, plan: { type: 'string' }, n: { type: 'string' }, json: { type: 'boolean' } },
    async run(v, out) {
      const n = int(v, 'n', 256);
      // An imported directory: the per-node report of the graph (what runs once, per candidate, each rewrite and graph pass).
      if (await isCompiledDir(need(v, 'model'))) return inspectImportedDir(need(v, 'model'), n, v.json === true, out);
      const model = await loadModelDir(need(v, 'model'));
      const modes: PlanMode[] = v.plan === undefined ? ['vanilla', 'rank-aware'] : [parsePlan(v.plan)];
      const report = modes.map((mode) => {
        const plan = getPlan(model, mode);
        const flops = countFlops(plan);
        return { plan: mode, n, flopsOnce: flops.once, flopsPerCandidate: flops.perCandidate, flopsTotal: flopsFor(flops, n), byComponent: flops.byComponent, ops: listOps(plan) };
      });
      if (v.json) return out(JSON.stringify({ model: model.spec.name, architecture: model.spec.architecture, plans: report }, null, 2));
      for (const r of report) {
        out(`== ${model.spec.name} (${model.spec.architecture}), plan ${r.plan}`);
        for (const stage of ['once', 'per-candidate'] as const) {
          out(stage === 'once' ? 'once per request:' : 'per candidate:');
          for (const op of r.ops.filter((o) => o.stage === stage)) out(`  ${op.component.padEnd(11)} ${op.kind.padEnd(16)} ${String(op.flops).padStart(10)} FLOPs  ${op.what}`);
        }
        out(`FLOPs: ${r.flopsOnce} once + ${r.flopsPerCandidate} per candidate = ${(r.flopsTotal / 1e9).toFixed(4)} GFLOP at N=${n}`);
      }
      if (report.length === 2) out(`vanilla / rank-aware FLOPs at N=${n}: ${(report[0]!.flopsTotal / report[1]!.flopsTotal).toFixed(2)}x`);
    },
  },
  import: importCommand,
  'export-onnx': {
    options: { model: { type: 'string' }, out: { type: 'string' }, plan: { type: 'string' } },
    async run(v, out) {
      if (v.plan !== undefined && v.plan !== 'vanilla' && v.plan !== 'rank-aware') throw new RankawareError('--plan', '"vanilla" (one graph, the default) or "rank-aware" (a directory of the staged graphs)', show(v.plan));
      if (v.plan === 'rank-aware') return out(await (await import('../onnx/ort/cli.js')).exportRankAwareDir(need(v, 'model'), need(v, 'out')));
      const { exportOnnx } = await import('../onnx/writer/export.js');
      const file = need(v, 'out');
      if (await isImportedDir(need(v, 'model'))) {
        // An imported directory's vanilla graph is the graph it was imported from.
        const bytes = await readFile(join(need(v, 'model'), 'model.onnx'));
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, bytes);
        return out(`wrote ${file} (${bytes.byteLength} bytes, the imported graph as given)`);
      }
      const model = await loadModelDir(need(v, 'model'));
      await mkdir(dirname(file), { recursive: true });
      const bytes = exportOnnx(model);
      await writeFile(file, bytes);
      out(`wrote ${file} (${bytes.byteLength} bytes, vanilla graph, opset 17)`);
    },
  },
  'export-triton': {
    options: { model: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, device: { type: 'string' }, instances: { type: 'string' }, 'storage-uri': { type: 'string' }, 'cache-mb': { type: 'string' } },
    async run(v, out) {
      const { exportTritonDir } = await import('../onnx/triton/cli.js');
      const cacheMb = v['cache-mb'] === undefined ? undefined : Number(v['cache-mb']);
      if (cacheMb !== undefined && !(Number.isFinite(cacheMb) && cacheMb > 0)) throw new RankawareError('--cache-mb', 'a positive number of MiB', show(v['cache-mb']));
      const device = v.device as 'cpu' | 'gpu' | undefined;
      out(await exportTritonDir(need(v, 'model'), need(v, 'out'), { name: v.name as string | undefined, device, instances: v.instances === undefined ? undefined : int(v, 'instances', 1), storageUri: v['storage-uri'] as string | undefined, cacheMb }));
    },
  },
  bench: {
    options: { model: { type: 'string' }, n: { type: 'string' }, backend: { type: 'string' }, plan: { type: 'string' }, threads: { type: 'string' }, concurrency: { type: 'string' }, peer: { type: 'string' }, json: { type: 'boolean' }, seconds: { type: 'string' }, suite: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
    async run(v, out, err) {
      if (v.suite !== undefined) return (await import('../bench/command.js')).benchSuites(v, out);
      for (const key of ['quick', 'out']) if (v[key] !== undefined) throw new RankawareError(`--${key}`, '--suite with it (it applies to the benchmark suites)', show(v[key]));
      if (await isCompiledDir(need(v, 'model'))) {
        if (v.threads !== undefined || v.concurrency !== undefined) {
          for (const key of ['plan', 'peer']) if (v[key] !== undefined) throw new RankawareError(`--${key}`, 'no such option with --threads on an imported graph (it times the rank-aware plan through createScorer)', show(v[key]));
          const engine = importedEngine(parseBackend(v.backend));
          if (engine === 'webgpu') throw new RankawareError('--backend', '"wasm" or "js" with --threads (worker threads score on the CPU)', '"webgpu"');
          const { benchImportedThreads } = await import('../onnx/bench.js');
          return benchImportedThreads(need(v, 'model'), {
            ns: parseList(typeof v.n === 'string' ? v.n : '256', 'n'),
            threads: parseList(typeof v.threads === 'string' ? v.threads : '1', 'threads'),
            concurrency: int(v, 'concurrency', 64),
            engine,
            seconds: seconds(v.seconds),
            json: v.json === true,
            out,
          });
        }
        const { benchImportedDir } = await import('../onnx/bench.js');
        return benchImportedDir(need(v, 'model'), {
          ns: parseList(typeof v.n === 'string' ? v.n : '256', 'n'),
          plans: (typeof v.plan === 'string' ? v.plan : 'vanilla,rank-aware,interpret').split(',').map(parseImportedPlan),
          engine: importedEngine(parseBackend(v.backend)),
          peers: typeof v.peer === 'string' ? v.peer.split(',').filter(Boolean) : [],
          seconds: seconds(v.seconds),
          json: v.json === true,
          out,
        });
      }
      const model = await loadModelDir(need(v, 'model'));
      const plans = (typeof v.plan === 'string' ? v.plan : 'vanilla,rank-aware').split(',').map(parsePlan);
      const t0 = performance.now();
      const requested = parseBackend(v.backend);
      const backend = await loadBackend(requested);
      const moduleMs = performance.now() - t0;
      noteFallback(requested, backend.name, backend.reason, err);
      await runBench({
        model,
        moduleMs,
        modelName: need(v, 'model'),
        ns: parseList(typeof v.n === 'string' ? v.n : '256', 'n'),
        backend: requested === 'auto' ? 'auto' : backend.name,
        backendReason: backend.reason,
        plans,
        peers: typeof v.peer === 'string' ? v.peer.split(',').filter(Boolean) : [],
        seconds: seconds(v.seconds),
        threads: parseList(typeof v.threads === 'string' ? v.threads : '1', 'threads'),
        concurrency: int(v, 'concurrency', 1),
        json: v.json === true,
        out,
        progress: err,
      });
    },
  },
  serve: serveCommand,
  load: loadCommand,
};

/** The installed package's version (package.json beside dist/ or src/). */
export const version = packageVersion;

/** One command's part of the usage: its lines, from `  rankaware CMD` to the next command. */
export function commandUsage(command: string): string {
  const blocks = USAGE.split(/\n(?=  rankaware )/).slice(1);
  return blocks.filter((b) => b.startsWith(`  rankaware ${command} `)).join('\n').replace(/\n+$/, '');
}

const HELP = new Set(['--help', '-h']);

/** Run the CLI; returns the exit code. */
export async function main(argv: readonly string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || HELP.has(command) || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) out(`usage:\n${commandUsage(topic)}`);
    else out(USAGE);
    return command ? 0 : 1;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    out(version());
    return 0;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    err(`error: unknown command ${JSON.stringify(command)}; expected one of ${Object.keys(COMMANDS).join(', ')} (or --help, --version)`);
    return 1;
  }
  if (rest.some((a) => HELP.has(a))) {
    out(`usage:\n${commandUsage(command)}`);
    return 0;
  }
  try {
    let values: Record<string, unknown>;
    try {
      values = parseArgs({ args: [...rest], options: cmd.options, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw new RankawareError(`rankaware ${command}`, `options among ${Object.keys(cmd.options).map((o) => '--' + o).join(' ')}`, (e as Error).message.split('\n')[0]!);
    }
    await cmd.run(values, out, err);
    return 0;
  } catch (e) {
    if (e instanceof RankawareError) {
      err(`error: ${oneLine(e.message)}`);
      return 1;
    }
    err(`error: internal error: ${oneLine((e as Error).message ?? String(e))} (set RANKAWARE_DEBUG=1 for a stack trace)`);
    if (process.env.RANKAWARE_DEBUG) err((e as Error).stack ?? '');
    return 1;
  }
}
