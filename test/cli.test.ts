/**
 * The built command line (the contracts of docs/model-format.md and README) as a user runs it: `node bin/rankaware.js ...` in a child
 * process. Commands print their results to stdout; bad input exits 1 with one `error:` line on stderr.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { ARCHITECTURES } from '../src/model/parse-spec.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rankaware.js');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `node bin/rankaware.js ...args`; resolves with the exit code and both streams (never rejects). */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run bench, which must succeed with results on stdout and only progress lines on stderr. */
async function benchOk(...args: string[]): Promise<string> {
  const run = await cli('bench', ...args);
  expect(run.code, `rankaware bench ${args.join(' ')}: ${run.stderr}`).toBe(0);
  const lines = run.stderr.trim().split('\n');
  for (const line of lines) expect(line).toMatch(/^bench: /);
  expect(lines[0]).toMatch(/^bench: creating \d+ scorer\(s\)/);
  expect(lines.some((l) => /^bench: N=\d+: timing \d+ configuration\(s\) side by side, about \d+ s$/.test(l))).toBe(true);
  return run.stdout;
}

/** Run a command that must succeed, and return its stdout. */
async function ok(...args: string[]): Promise<string> {
  const run = await cli(...args);
  expect(run.stderr, `rankaware ${args.join(' ')}`).toBe('');
  expect(run.code, `rankaware ${args.join(' ')}`).toBe(0);
  return run.stdout;
}

interface ScoreOutput {
  readonly scores: number[];
  readonly backend: string;
  readonly plan: string;
}

/** Scores on the float64 js oracle, where the two plans agree to 1e-9 (the float32 backends have their own tests). */
async function scoreDir(dir: string, plan: 'vanilla' | 'rank-aware', request = join(dir, 'request.json')): Promise<ScoreOutput> {
  const stdout = await ok('score', '--model', dir, '--request', request, '--plan', plan, '--backend', 'js');
  return JSON.parse(stdout) as ScoreOutput;
}

function expectSameScores(a: readonly number[], b: readonly number[]): void {
  expect(a).toHaveLength(b.length);
  a.forEach((x, i) => expect(Math.abs(x - b[i]!), `candidate ${i}: ${x} vs ${b[i]}`).toBeLessThanOrEqual(1e-9));
}

let tmp: string;
/** A small dlrm model directory, shared by inspect, export-onnx, bench and the error paths. */
let small: string;

beforeAll(async () => {
  // `npm test` has just built (RANKAWARE_BUILT=1): building again here would rewrite dist/ while the
  // package test packs it. Run alone (npx vitest run test/cli.test.ts), the test builds first.
  if (process.env.RANKAWARE_BUILT !== '1') {
    const build = await new Promise<Run>((resolve) =>
      execFile('npm', ['run', 'build'], { cwd: ROOT }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr })),
    );
    if (build.code !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  tmp = await mkdtemp(join(tmpdir(), 'rankaware-cli-'));
  small = join(tmp, 'small-dlrm');
  await ok('init', '--arch', 'dlrm', '--context', '3', '--target', '2', '--dim', '4', '--mlp', '8,4', '--candidates', '5', '--seed', '2', '--out', small);
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('init and score', () => {
  it('scores the DLRM of Table 3 (K=27, M=4, D=128) with both plans alike', async () => {
    const dir = join(tmp, 'dlrm-k27');
    const wrote = await ok('init', '--arch', 'dlrm', '--context', '27', '--target', '4', '--dim', '128', '--mlp', '512,256', '--candidates', '16', '--out', dir);
    expect(wrote).toMatch(/request\.json \(16 candidates\)/);
    const vanilla = await scoreDir(dir, 'vanilla');
    const rankAware = await scoreDir(dir, 'rank-aware');
    expect(Object.keys(vanilla).sort()).toEqual(['backend', 'plan', 'reason', 'scores']);
    expect(vanilla).toMatchObject({ backend: 'js', plan: 'vanilla' });
    expect(rankAware).toMatchObject({ backend: 'js', plan: 'rank-aware' });
    expect(vanilla.scores).toHaveLength(16);
    for (const s of vanilla.scores) expect(Number.isFinite(s)).toBe(true);
    expectSameScores(rankAware.scores, vanilla.scores);
  });

  it.each(ARCHITECTURES)('init --arch %s then score', async (arch) => {
    const dir = join(tmp, `arch-${arch}`);
    await ok('init', '--arch', arch, '--context', '2', '--target', '2', '--dim', '4', '--mlp', '6', '--candidates', '5', '--out', dir);
    const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { architecture: string };
    expect(model.architecture).toBe(arch);
    const [vanilla, rankAware] = await Promise.all([scoreDir(dir, 'vanilla'), scoreDir(dir, 'rank-aware')]);
    expect(vanilla.scores).toHaveLength(5);
    for (const s of vanilla.scores) expect(Number.isFinite(s)).toBe(true);
    expectSameScores(rankAware.scores, vanilla.scores);
  });
});

describe('--backend wasm', () => {
  it('score: both plans match the js reference within 1e-5 and say which variant ran', async () => {
    const request = join(small, 'request.json');
    const reference = await scoreDir(small, 'vanilla');
    for (const plan of ['vanilla', 'rank-aware'] as const) {
      const out = JSON.parse(await ok('score', '--model', small, '--request', request, '--plan', plan, '--backend', 'wasm')) as ScoreOutput & { reason: string };
      expect(out).toMatchObject({ backend: 'wasm', plan });
      expect(out.reason).toMatch(/relaxed-SIMD FMA/);
      out.scores.forEach((s, i) => expect(Math.abs(s - reference.scores[i]!)).toBeLessThanOrEqual(1e-5));
    }
  });

  it('bench --backend wasm reports warm and cold times per plan', async () => {
    const stdout = await benchOk('--model', small, '--n', '4,9', '--backend', 'wasm', '--json', '--seconds', '0.2');
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, number | string>);
    expect(rows.map((r) => `${r.plan}@${r.n}`)).toEqual(['vanilla@4', 'rank-aware@4', 'vanilla@9', 'rank-aware@9']);
    for (const r of rows) {
      expect(r).toMatchObject({ backend: 'wasm', threads: 1 });
      expect(r.cold_ms as number).toBeGreaterThan(0);
      expect(r.gflops as number).toBeGreaterThan(0);
    }
  });
});

describe('inspect', () => {
  it('prints what runs once and per candidate, and the FLOPs of each plan', async () => {
    const text = await ok('inspect', '--model', small);
    expect(text).toMatch(/plan vanilla/);
    expect(text).toMatch(/plan rank-aware/);
    expect(text).toMatch(/^once per request:$/m);
    expect(text).toMatch(/^per candidate:$/m);
    expect(text).toMatch(/^FLOPs: \d+ once \+ \d+ per candidate = [\d.]+ GFLOP at N=256$/m);
  });

  it('--json parses, with flopsOnce and flopsPerCandidate per plan', async () => {
    const report = JSON.parse(await ok('inspect', '--model', small, '--json')) as {
      architecture: string;
      plans: { plan: string; flopsOnce: number; flopsPerCandidate: number }[];
    };
    expect(report.architecture).toBe('dlrm');
    expect(report.plans.map((p) => p.plan)).toEqual(['vanilla', 'rank-aware']);
    for (const p of report.plans) {
      expect(Number.isInteger(p.flopsOnce) && p.flopsOnce >= 0).toBe(true);
      expect(Number.isInteger(p.flopsPerCandidate) && p.flopsPerCandidate > 0).toBe(true);
    }
    const [vanilla, rankAware] = report.plans;
    expect(rankAware!.flopsPerCandidate).toBeLessThan(vanilla!.flopsPerCandidate);
  });
});

describe('export-onnx', () => {
  it('writes a graph that onnxruntime-node loads, with inputs named after the fields', async () => {
    const file = join(tmp, 'onnx', 'small.onnx');
    await ok('export-onnx', '--model', small, '--out', file);
    const session = await ort.InferenceSession.create(file);
    const spec = JSON.parse(await readFile(join(small, 'model.json'), 'utf8')) as { fields: { name: string }[] };
    for (const f of spec.fields) expect(session.inputNames).toContain(f.name);
    expect(session.outputNames).toContain('score');
    await session.release();
  });
});

describe('bench', () => {
  it('--json prints one JSON object per plan with the contract keys', async () => {
    const stdout = await benchOk('--model', small, '--n', '8', '--backend', 'js', '--plan', 'vanilla,rank-aware', '--json', '--seconds', '0.2');
    const rows = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((r) => r.plan)).toEqual(['vanilla', 'rank-aware']);
    for (const r of rows) {
      expect(r).toMatchObject({ model: small, backend: 'js', n: 8, threads: 1 });
      expect(typeof r.ms_per_request === 'number' && r.ms_per_request > 0).toBe(true);
      expect(typeof r.candidates_per_s === 'number' && r.candidates_per_s > 0).toBe(true);
    }
  });
});

describe('--version, --help, defaults', () => {
  it('--version prints the package version; help and every command\'s --help print usage and exit 0', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v', 'version']) expect((await ok(flag)).trim()).toBe(pkg.version);
    expect(await ok('--help')).toContain('rankaware init --arch A');
    for (const command of ['init', 'score', 'inspect', 'import', 'export-onnx', 'bench', 'serve', 'load']) {
      for (const flag of ['--help', '-h']) {
        const help = await ok(command, flag);
        expect(help.startsWith(`usage:\n  rankaware ${command} `), `${command} ${flag}: ${help}`).toBe(true);
      }
      expect(await ok('help', command)).toBe(await ok(command, '--help'));
    }
  });

  it('score defaults to --backend auto: WASM here, saying why', async () => {
    const out = JSON.parse(await ok('score', '--model', small, '--request', join(small, 'request.json'))) as { backend: string; reason: string };
    expect(out.backend).toBe('wasm');
    expect(out.reason).toMatch(/^auto: /);
  });

  it('serve prints the address it listens on (port 0: the port it got), and answers there', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--model', small, '--port', '0', '--host', '127.0.0.1', '--threads', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout!.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\n')) resolve(text.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const url = /listening on (http:\/\/127\.0\.0\.1:(\d+)):/.exec(line);
      expect(url, line).not.toBeNull();
      expect(Number(url![2])).toBeGreaterThan(0);
      expect((await fetch(`${url![1]}/healthz`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('errors: exit 1, one "error:" line on stderr, no stack trace', () => {
  let request: string;
  const files: Record<string, string> = {};
  const dirs: Record<string, string> = {};

  beforeAll(async () => {
    request = join(small, 'request.json');
    const good = JSON.parse(await readFile(request, 'utf8')) as { context: Record<string, unknown>; candidates: Record<string, unknown>[] };
    const write = async (name: string, text: string) => {
      files[name] = join(tmp, 'requests', `${name}.json`);
      await mkdir(join(tmp, 'requests'), { recursive: true });
      await writeFile(files[name]!, text);
    };
    await write('unknown-field', JSON.stringify({ ...good, context: { ...good.context, colour: 1 } }));
    await write('out-of-vocab', JSON.stringify({ ...good, candidates: good.candidates.map((c, i) => (i === 2 ? { ...c, t0: 1000 } : c)) }));
    // Multi-line text: JSON.parse quotes the text around the error, newlines included.
    await write('not-json', '{\n  "context": nope,\n  "candidates": []\n}\n');

    /** A copy of the small model directory, spoiled by `spoil`. */
    const copy = async (name: string, spoil: (dir: string) => Promise<void>) => {
      const dir = join(tmp, name);
      await mkdir(dir, { recursive: true });
      for (const f of ['model.json', 'weights.safetensors']) await copyFile(join(small, f), join(dir, f));
      await spoil(dir);
      dirs[name] = dir;
    };
    await copy('truncated', async (dir) => {
      const bytes = await readFile(join(dir, 'weights.safetensors'));
      await writeFile(join(dir, 'weights.safetensors'), bytes.subarray(0, bytes.length - 7));
    });
    await copy('version-2', async (dir) => {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'model.json'), JSON.stringify({ ...json, version: 2 }));
    });
  });

  const cases: [string, () => string[], RegExp][] = [
    ['a request with an unknown field', () => ['score', '--model', small, '--request', files['unknown-field']!], /^error: request\.context\.colour: expected a field the model declares \(c0, c1, c2\), received an unknown field$/],
    ['an id outside the vocab', () => ['score', '--model', small, '--request', files['out-of-vocab']!], /^error: request\.candidates\[2\]\.t0: expected an id in \[0, 1000\) .*, received 1000$/],
    ['a missing --model option', () => ['score', '--request', request], /^error: --model: expected a value, received nothing \(missing option\)$/],
    ['a model directory that does not exist', () => ['score', '--model', join(tmp, 'no-such-dir'), '--request', request], /^error: .*no-such-dir[/\\]model\.json: expected a readable file, received no such file$/],
    ['a request file that is not JSON', () => ['score', '--model', small, '--request', files['not-json']!], /^error: .*not-json\.json: expected valid JSON, received a parse error \(.+\)$/],
    ['an unknown command', () => ['frobnicate', '--model', small], /^error: unknown command "frobnicate"; expected one of init, score, inspect, import, export-onnx, export-triton, bench, serve, load \(or --help, --version\)$/],
    ['an unknown option', () => ['score', '--model', small, '--request', request, '--fast'], /^error: rankaware score: expected options among --model --request --backend --plan --threads, received Unknown option '--fast'.*$/],
    ['a bad --plan value', () => ['score', '--model', small, '--request', request, '--plan', 'fast'], /^error: --plan: expected "vanilla" or "rank-aware", received "fast"$/],
    ['a bad --plan value in bench', () => ['bench', '--model', small, '--n', '8', '--plan', 'vanilla,fast', '--json'], /^error: --plan: expected "vanilla" or "rank-aware", received "fast"$/],
    ['a truncated weights.safetensors', () => ['score', '--model', dirs.truncated!, '--request', request], /^error: \S*weights\.safetensors tensor "[^"]+": expected bytes up to offset \d+, received a data section of \d+ bytes \(truncated file\)$/],
    ['model.json version 2', () => ['score', '--model', dirs['version-2']!, '--request', request], /^error: model\.json version: expected 1 \(the versions this rankaware reads\), received 2$/],
    ['init with an absurd --dim', () => ['init', '--arch', 'dlrm', '--context', '2', '--target', '2', '--dim', '100000000', '--out', join(tmp, 'never')], /^error: --dim: expected an integer in \[1, 65536\], received "100000000"$/],
    ['init into a path that cannot be a directory', () => ['init', '--arch', 'dlrm', '--context', '2', '--target', '2', '--dim', '4', '--out', join(request, 'sub')], /^error: --out: expected a writable directory, received \S+ \(ENOTDIR\)$/],
  ];

  it.each(cases)('%s', async (_, args, message) => {
    const run = await cli(...args());
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toMatch(/^ {4}at /m);
    const lines = run.stderr.split('\n').filter((line) => line !== '');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});
