/**
 * The benchmark's progress on stderr, so that stdout stays the results: a bar (cli-progress) on a
 * terminal, plain lines otherwise (CI logs, a pipe, --json), so that a long suite is never silent.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** One step of the planned total done; `label` names what runs next. */
  tick(label: string): void;
  stop(): void;
}

export const silentProgress: Progress = { tick() {}, stop() {} };

/** How progress shows: a bar redrawn in place, one line per step (at most one a second), or nothing. */
export type ProgressMode = 'bar' | 'lines' | 'off';

/** A bar on a terminal, lines anywhere else. */
export function progressModeFor(stream: { isTTY?: boolean }, json: boolean): ProgressMode {
  return stream.isTTY === true && !json ? 'bar' : 'lines';
}

export function createProgress(total: number, mode: ProgressMode, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Progress {
  if (mode === 'off') return silentProgress;
  if (mode === 'lines') return lineProgress(total, write);
  const bar = new cliProgress.SingleBar(
    { format: 'bench [{bar}] {value}/{total} steps | {duration_formatted} | {step}', stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { step: 'starting' });
  let done = 0;
  return {
    tick(label) {
      // The label says what starts now; the count, what has finished.
      bar.update(done, { step: label });
      done = Math.min(total, done + 1);
    },
    stop() {
      bar.update(total, { step: 'done' });
      bar.stop();
    },
  };
}

/** `bench 3/40 (12 s): label`: a line per step, throttled so that thousands of quick steps stay readable. */
function lineProgress(total: number, write: (line: string) => void, minIntervalMs = 1000): Progress {
  const t0 = performance.now();
  let done = 0;
  let lastWritten = -Infinity;
  const line = (label: string) => `bench ${done}/${total} (${Math.round((performance.now() - t0) / 1000)} s): ${label}`;
  return {
    tick(label) {
      const now = performance.now();
      if (now - lastWritten >= minIntervalMs) {
        write(line(label));
        lastWritten = now;
      }
      done = Math.min(total, done + 1);
    },
    stop() {
      done = total;
      write(line('done'));
    },
  };
}
