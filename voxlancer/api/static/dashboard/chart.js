// Charts as inline SVG, drawn here (no chart library). Each is drawn at its box's real width in
// pixels and drawn again when that changes, so its text keeps its size at 375 px instead of
// shrinking with a scaled picture. Each is an image with a spoken summary (role=img, aria-label);
// the pages add a table with the same numbers.
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const ROW = 30; // height of one bar of a bar list
const PLOT = 150; // height of a time chart's plot area
const CHAR = 8; // width of one character of chart text (13 px, generously), for truncating labels

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fit(text, width) {
  const most = Math.max(3, Math.floor(width / CHAR));
  return text.length <= most ? text : `${text.slice(0, most - 1)}…`;
}

// A figure whose picture is draw(width), drawn once it is laid out and whenever its width changes.
function figure(title, draw) {
  const holder = h('div', { class: 'chart' });
  let drawn = 0;
  new ResizeObserver(() => {
    const width = Math.floor(holder.clientWidth);
    if (!width || width === drawn) return;
    drawn = width;
    holder.replaceChildren(draw(width));
  }).observe(holder);
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), holder);
}

// Horizontal bars, one per item ({key, label, value}), the value written after each bar. On a
// narrow screen each label goes above its bar, so that it is not cut short.
export function barList(title, items, format = String) {
  const summary = items.map((i) => `${i.label} ${format(i.value)}`).join(', ');
  return figure(title, (width) => {
    const stacked = width < 420;
    const row = stacked ? 44 : ROW;
    const labelWidth = stacked ? 0 : Math.min(170, Math.round(width * 0.4));
    const room = Math.max(width - labelWidth - 70, 10);
    const most = Math.max(1, ...items.map((i) => i.value));
    const height = items.length * row;
    return svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `${title}: ${summary}` },
    items.map((item, n) => {
      const top = n * row + (stacked ? 18 : 0); // the bar's line
      const length = item.value > 0 ? Math.max(2, Math.round((room * item.value) / most)) : 0;
      const label = stacked
        ? svg('text', { x: 0, y: n * row + 14, class: 'chart-label' }, fit(item.label, width))
        : svg('text', { x: labelWidth - 8, y: top + 20, 'text-anchor': 'end', class: 'chart-label' },
          fit(item.label, labelWidth - 8));
      return svg('g', { 'data-key': item.key, class: `bar-row ${item.key}` },
        svg('title', {}, `${item.label}: ${format(item.value)}`), label,
        svg('rect', { x: labelWidth, y: top + 6, width: length, height: ROW - 12, rx: 2, class: 'bar' }),
        svg('text', { x: labelWidth + length + 6, y: top + 20, class: 'chart-value' }, format(item.value)));
    }));
  });
}

// Values over time: points are {start: Date, ...}, one per bucket of `step` ms that has data,
// placed on a time axis so that buckets without data stay gaps. kind 'bars' or 'line';
// value(point) is a number, top the axis's maximum (default: the largest value). The axis runs
// from the first point to the last, or over `slots` buckets from `origin`.
export function timeChart(title, points, { kind = 'bars', value, format, step, when, top, origin, slots: span } = {}) {
  const first = origin ? origin.getTime() : points.length ? points[0].start.getTime() : 0;
  const slot = (p) => Math.round((p.start.getTime() - first) / step);
  const slots = span || (points.length ? slot(points[points.length - 1]) + 1 : 1);
  const most = top || Math.max(...points.map(value), 0) || 1;
  const summary = points.map((p) => `${when(p.start)} ${format(value(p))}`).join(', ');
  return figure(title, (width) => {
    const left = Math.max(44, format(most).length * CHAR + 8);
    const plot = Math.max(width - left - 8, 20);
    const each = plot / slots;
    const y = (v) => 8 + PLOT - Math.round((PLOT * v) / most);
    const x = (p) => left + slot(p) * each + each / 2;
    const marks = points.map((p) => {
      const v = value(p);
      const note = svg('title', {}, `${when(p.start)}: ${format(v)}`);
      if (kind === 'line') {
        return svg('circle', { cx: x(p), cy: y(v), r: 4, class: 'point', 'data-start': p.start.toISOString() }, note);
      }
      const barWidth = Math.max(2, Math.min(40, each * 0.7));
      return svg('rect', { x: x(p) - barWidth / 2, y: y(v), width: barWidth, height: 8 + PLOT - y(v),
        class: 'bar', 'data-start': p.start.toISOString() }, note);
    });
    const line = kind === 'line' && points.length > 1
      ? svg('polyline', { class: 'line', points: points.map((p) => `${x(p)},${y(value(p))}`).join(' ') })
      : null;
    const base = 8 + PLOT;
    return svg('svg', { width, height: base + 28, viewBox: `0 0 ${width} ${base + 28}`, role: 'img',
      'aria-label': `${title}: ${summary || 'no data'}` },
    svg('line', { x1: left, x2: width - 8, y1: base, y2: base, class: 'axis' }),
    svg('line', { x1: left, x2: width - 8, y1: 8, y2: 8, class: 'grid' }),
    svg('text', { x: left - 6, y: 14, 'text-anchor': 'end', class: 'chart-label' }, format(most)),
    svg('text', { x: left - 6, y: base, 'text-anchor': 'end', class: 'chart-label' }, format(0)),
    line, marks,
    // The axis's ends: its first and last bucket.
    slots > 1 || points.length
      ? svg('text', { x: left, y: base + 20, class: 'chart-label' }, when(new Date(first))) : null,
    slots > 1
      ? svg('text', { x: width - 8, y: base + 20, 'text-anchor': 'end', class: 'chart-label' },
        span ? when(new Date(first + (slots - 1) * step)) : when(points[points.length - 1].start))
      : null);
  });
}
