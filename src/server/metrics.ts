/**
 * A small Prometheus registry: counters, gauges read when scraped, and histograms, rendered in the text
 * exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). Hand-written
 * rather than prom-client: the server needs a dozen series and no dependency.
 */

type Labels = Readonly<Record<string, string>>;

interface Metric {
  readonly name: string;
  render(): string[];
}

/** `name{a="x",b="y"}` with label values escaped as the format requires. */
function series(name: string, labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return name;
  const body = entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',');
  return `${name}{${body}}`;
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}

/** A monotonically increasing count, one series per label set. */
export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = series('', labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  /** The value of one series (0 when it was never incremented). */
  get(labels: Labels = {}): number {
    return this.values.get(series('', labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = header(this.name, this.help, 'counter');
    for (const { labels, value } of this.values.values()) lines.push(`${series(this.name, labels)} ${number(value)}`);
    return lines;
  }
}

/**
 * A value read at scrape time (queue depth, bytes held, RSS): nothing to keep in sync. Type 'counter'
 * exposes a count kept elsewhere (the scorer's) that only grows.
 */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => number | readonly { labels: Labels; value: number }[],
    private readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}

  render(): string[] {
    const lines = header(this.name, this.help, this.type);
    const v = this.read();
    for (const { labels, value } of typeof v === 'number' ? [{ labels: {}, value: v }] : v) lines.push(`${series(this.name, labels)} ${number(value)}`);
    return lines;
  }
}

/** Cumulative buckets of observed values (seconds, by Prometheus convention), their sum and count. */
export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    private readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    // Counts are stored per bucket and summed on render (observe stays O(buckets) worst case, no allocation).
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= this.buckets[i]!) {
        this.counts[i]!++;
        break;
      }
  }

  get observations(): number {
    return this.count;
  }

  render(): string[] {
    const lines = header(this.name, this.help, 'histogram');
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i]!;
      lines.push(`${series(`${this.name}_bucket`, { le: number(le) })} ${cumulative}`);
    });
    lines.push(`${series(`${this.name}_bucket`, { le: '+Inf' })} ${this.count}`);
    lines.push(`${this.name}_sum ${number(this.sum)}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

/** Events per second over a sliding window of whole seconds (the current, partial second left out). */
export class RateWindow {
  private readonly slots: number[];
  private readonly stamps: number[];
  constructor(
    private readonly seconds = 10,
    private readonly clock: () => number = () => performance.now() / 1000,
  ) {
    this.slots = new Array<number>(seconds + 1).fill(0);
    this.stamps = new Array<number>(seconds + 1).fill(-1);
  }

  add(n: number): void {
    const second = Math.floor(this.clock());
    const i = second % this.slots.length;
    if (this.stamps[i] !== second) {
      this.stamps[i] = second;
      this.slots[i] = 0;
    }
    this.slots[i]! += n;
  }

  /** Mean per second over the last `seconds` complete seconds. */
  rate(): number {
    const current = Math.floor(this.clock());
    let total = 0;
    for (let s = current - this.seconds; s < current; s++) {
      const i = ((s % this.slots.length) + this.slots.length) % this.slots.length;
      if (this.stamps[i] === s) total += this.slots[i]!;
    }
    return total / this.seconds;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  add<T extends Metric>(metric: T): T {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }

  /** The text exposition (Content-Type: text/plain; version=0.0.4). */
  render(): string {
    return this.metrics.flatMap((m) => m.render()).join('\n') + '\n';
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
