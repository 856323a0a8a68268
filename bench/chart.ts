/**
 * A hand-written SVG of latency distributions: one row per latency figure,
 * on a log time axis, with the median (dot), p95/p99 (bar), max (whisker),
 * the spread of the median across runs (light band) and the target (red
 * tick). Pure: takes numbers, returns the SVG text.
 */

/** One latency figure's distribution, in milliseconds. */
export interface LatencyRow {
  label: string;
  p50: number;
  p95?: number;
  p99?: number;
  max?: number;
  /** The median's lowest and highest value across runs. */
  spread?: [number, number];
  /** The target for this row's headline percentile. */
  target?: number;
  /** Which percentile the target is for (default p50). */
  targetOf?: 'p50' | 'p95' | 'p99';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (ms: number) => (ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : ms >= 10 ? `${Math.round(ms)} ms` : `${Math.round(ms * 10) / 10} ms`);

/** Renders the rows as an SVG document. */
export function renderLatencyChart(rows: LatencyRow[], title = 'beacon latency distributions'): string {
  const labelW = 330;
  const plotW = 560;
  const rowH = 34;
  const top = 56;
  const width = labelW + plotW + 230;
  const height = top + rows.length * rowH + 60;
  const values = rows.flatMap((r) => [r.p50, r.p95, r.p99, r.max, r.target, ...(r.spread ?? [])]).filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
  // Sub-millisecond values sit on the left edge: nothing here is worth a decade of its own below 1 ms.
  const lo = 1;
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const x = (ms: number) => labelW + (Math.log10(Math.max(ms, lo) / lo) / Math.log10(hi / lo)) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="12" y="22" font-size="15" font-weight="600">${esc(title)}</text>`);
  out.push(`<text x="12" y="40" fill="#667085">dot = median (p50) · bar = p50 to p95/p99 · whisker = max · light band = median's spread across runs · red tick = target</text>`);
  for (let d = lo; d <= hi; d *= 10) {
    const gx = x(d);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + rows.length * rowH}" stroke="#e3e6eb"/>`);
    out.push(`<text x="${gx}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#667085">${esc(fmt(d))}</text>`);
  }
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    out.push(`<text x="${labelW - 10}" y="${cy + 4}" text-anchor="end">${esc(r.label)}</text>`);
    if (r.spread) out.push(`<rect x="${x(r.spread[0])}" y="${cy - 11}" width="${Math.max(1, x(r.spread[1]) - x(r.spread[0]))}" height="22" fill="#dbe7fb"/>`);
    if (r.max !== undefined) out.push(`<line x1="${x(r.p50)}" y1="${cy}" x2="${x(r.max)}" y2="${cy}" stroke="#98a2b3"/><line x1="${x(r.max)}" y1="${cy - 5}" x2="${x(r.max)}" y2="${cy + 5}" stroke="#98a2b3"/>`);
    const upper = r.p99 ?? r.p95;
    if (upper !== undefined) out.push(`<rect x="${x(r.p50)}" y="${cy - 5}" width="${Math.max(1, x(upper) - x(r.p50))}" height="10" fill="#3b6fd8" opacity="0.75"/>`);
    if (r.p95 !== undefined && r.p99 !== undefined) out.push(`<line x1="${x(r.p95)}" y1="${cy - 7}" x2="${x(r.p95)}" y2="${cy + 7}" stroke="#1d3f8a"/>`);
    out.push(`<circle cx="${x(r.p50)}" cy="${cy}" r="4.5" fill="#1c2430"/>`);
    if (r.target !== undefined) {
      out.push(`<line x1="${x(r.target)}" y1="${cy - 12}" x2="${x(r.target)}" y2="${cy + 12}" stroke="#d92d20" stroke-width="2"/>`);
    }
    const shown = [`p50 ${fmt(r.p50)}`, r.p95 !== undefined ? `p95 ${fmt(r.p95)}` : '', r.p99 !== undefined ? `p99 ${fmt(r.p99)}` : ''].filter(Boolean).join(' · ');
    out.push(`<text x="${labelW + plotW + 8}" y="${cy + 4}" fill="#475467" font-size="10">${esc(shown)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
