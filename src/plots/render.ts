// Headless rendering of Vega-Lite specs: compile with vega-lite, render SVG with vega's
// renderer-less view, rasterise to PNG with resvg (system fonts).
import { Resvg } from '@resvg/resvg-js';
import fs from 'node:fs';
import path from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { writeFileAtomic } from '../util/fs.js';
import type { Chart } from './specs.js';

export async function toSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
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
