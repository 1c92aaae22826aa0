/** A small line chart drawn as inline SVG (no chart library: two series, a handful of points). */

export interface Series {
  readonly name: string;
  readonly className: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly xValues: readonly number[];
  readonly series: readonly Series[];
}

const SVG = 'http://www.w3.org/2000/svg';
const W = 420;
const H = 260;
const PAD = { left: 48, right: 16, top: 50, bottom: 40 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round a maximum up to a tick-friendly value. */
function niceMax(v: number): number {
  const step = v <= 1 ? 0.25 : v <= 2 ? 0.5 : 1;
  return Math.max(step, Math.ceil(v / step) * step);
}

export function lineChart(spec: ChartSpec): SVGSVGElement {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': spec.title, class: 'chart' });
  const xs = spec.xValues;
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMax = niceMax(Math.max(1, ...spec.series.flatMap((s) => s.points.map((p) => p[1]))));
  const x = (v: number) => PAD.left + ((v - xMin) / (xMax - xMin || 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);

  svg.append(el('text', { x: PAD.left, y: 18, class: 'chart-title' }, spec.title));
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const v = (yMax * i) / ticks;
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(el('text', { x: PAD.left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v.toFixed(2)));
  }
  for (const v of xs) svg.append(el('text', { x: x(v), y: H - PAD.bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(v)));
  svg.append(el('text', { x: (PAD.left + W - PAD.right) / 2, y: H - 6, class: 'axis-label', 'text-anchor': 'middle' }, spec.xLabel));
  svg.append(el('text', { x: 12, y: (PAD.top + H - PAD.bottom) / 2, class: 'axis-label', 'text-anchor': 'middle', transform: `rotate(-90 12 ${(PAD.top + H - PAD.bottom) / 2})` }, spec.yLabel));

  spec.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    svg.append(el('polyline', { points: s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' '), class: `line ${s.className}` }));
    for (const [a, b] of s.points) {
      const dot = el('circle', { cx: x(a), cy: y(b), r: 3.5, class: `dot ${s.className}` });
      dot.append(el('title', {}, `${s.name}: ${b.toFixed(2)} at ${spec.xLabel} = ${a}`));
      svg.append(dot);
    }
    // Legend: a line of its own under the title, one entry after the other (never over the data).
    const lx = PAD.left + i * 95;
    const ly = 34;
    svg.append(el('line', { x1: lx, x2: lx + 18, y1: ly, y2: ly, class: `line ${s.className}` }));
    svg.append(el('text', { x: lx + 24, y: ly + 4, class: 'legend' }, s.name));
  });
  return svg;
}
