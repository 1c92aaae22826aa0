/**
 * The benchmark's progress bar (cli-progress) on stderr, so that stdout stays the results. Off when
 * stderr is not a terminal or with --json: a silent Progress then just counts.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** One step of the planned total done; `label` names what runs next. */
  tick(label: string): void;
  stop(): void;
}

export const silentProgress: Progress = { tick() {}, stop() {} };

export function createProgress(total: number, enabled: boolean): Progress {
  if (!enabled) return silentProgress;
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
