// Headless rendering of Vega-Lite specs: compile with vega-lite, render SVG with vega's
// renderer-less view, rasterise to PNG with resvg (system fonts).
import { Resvg } from '@resvg/resvg-js';
import fs from 'node:fs';
import path from 'node:path';
import type * as vl from 'vega-lite';
import { writeFileAtomic } from '../util/fs.js';
import type { Chart } from './specs.js';

// Loaded on first use with a real dynamic import: vega's node build uses top-level await, which the
// CommonJS transform of the test runner's loader cannot compile.
let libs: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined;

export async function toSvg(spec: vl.TopLevelSpec): Promise<string> {
  libs ??= Promise.all([import('vega'), import('vega-lite')]);
  const [vega, vlib] = await libs;
  const compiled = vlib.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Uint8Array {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}

/** Writes charts/<name>.vl.json, .svg and .png for each chart; returns the files written. */
export async function writeCharts(dir: string, charts: Chart[]): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const c of charts) {
    const base = path.join(dir, c.name);
    writeFileAtomic(`${base}.vl.json`, JSON.stringify(c.spec, null, 2) + '\n');
    const svg = await toSvg(c.spec);
    writeFileAtomic(`${base}.svg`, svg);
    writeFileAtomic(`${base}.png`, svgToPng(svg));
    files.push(`${base}.vl.json`, `${base}.svg`, `${base}.png`);
  }
  return files;
}

/** Several SVG documents stacked top to bottom in one (nested <svg> elements), for a single display. */
export function stackSvg(svgs: string[]): string {
  if (svgs.length === 1) return svgs[0];
  let y = 0, width = 0;
  const parts = svgs.map((svg) => {
    const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
    const w = Number(/\bwidth="([\d.]+)"/.exec(root)?.[1] ?? 0), h = Number(/\bheight="([\d.]+)"/.exec(root)?.[1] ?? 0);
    const placed = svg.replace(/<\?xml[^>]*>/, '').replace(/<svg\b/, `<svg x="0" y="${y}"`);
    y += h + 16;
    width = Math.max(width, w);
    return placed;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${y - 16}">${parts.join('')}</svg>`;
}

