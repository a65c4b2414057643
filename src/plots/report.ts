// The HTML report: one self-contained page (vega, vega-lite and vega-embed inlined, images as data
// URIs) with the charts, a results table, sample grids, optional claims, and the resolved config.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ResultRow } from '../metrics/result-row.js';
import { contrastValueText, type ContrastResult } from './contrasts.js';
import type { Chart, GridImage } from './specs.js';

const require = createRequire(import.meta.url);

/** A file of an installed package, found from its resolved entry point (its exports hide build/). */
export function packageFile(pkg: string, file: string): string {
  let dir = path.dirname(require.resolve(pkg));
  while (path.basename(dir) !== pkg && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, file);
}

function inlineScript(pkg: string, file: string): string {
  const js = fs.readFileSync(packageFile(pkg, file), 'utf8');
  return `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
}

/** One table row per grid point, one column per metric (mean ± std where a std exists). */
export function resultsTable(rows: ResultRow[]): string {
  // NFE has its own column; the cost group's 'nfe' rows would repeat it.
  const metrics = [...new Set(rows.map((r) => r.metric))].filter((m) => m !== 'nfe');
  const points = [...new Set(rows.map((r) => r.point))];
  // The training step of the evaluated weights, where a row records one (checkpoints of one model differ by it).
  const trainStep = rows.some((r) => r.train_step != null);
  const head = ['backend', ...(trainStep ? ['train step'] : []), 'sampler', 'steps', 'seed', 'NFE', ...metrics];
  const body = points.map((p) => {
    const rs = rows.filter((r) => r.point === p);
    const r0 = rs[0];
    const cells = metrics.map((m) => {
      const r = rs.find((x) => x.metric === m);
      return r ? `${fmt(r.value)}${r.ci_low != null && r.ci_high != null ? ` [${fmt(r.ci_low)}, ${fmt(r.ci_high)}]` : r.std !== null && r.std !== undefined ? ` ± ${fmt(r.std)}` : ''}` : '';
    });
    return [r0.backend, ...(trainStep ? [r0.train_step == null ? '—' : String(r0.train_step)] : []), r0.sampler ?? '—', r0.steps === null ? '—' : String(r0.steps), String(r0.seed), fmt(r0.nfe), ...cells];
  });
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.map((b) => `<tr>${b.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

export interface Claim {
  topic: string;
  claim: string;
  /** what this run measured, in words, with the numbers */
  evidence: string;
  verdict: 'supported' | 'contradicted' | 'mixed' | 'inconclusive' | 'not measured' | 'design fact' | `not measured: ${string}`;
}

export interface ReportInput {
  title: string;
  description?: string;
  /** the published figure the experiment reproduces (its `paper` block) */
  paper?: { cite: string; figure: string; finding: string; here?: string; why?: string };
  /** the experiment's pre-registered contrasts, computed on this run */
  contrasts?: ContrastResult[];
  runInfo: Record<string, string>;
  charts: Chart[];
  rows: ResultRow[];
  grids: GridImage[];
  claims?: Claim[];
  config: unknown;
  notes?: string[];
  /** said first, in a box: what a reader must know before reading any number (e.g. under-trained models) */
  warnings?: string[];
  /** what the under-training guard passed, per model (shown when no warning replaces it) */
  passed?: string[];
  /** each metric's real-data floor, printed under the results table */
  floors?: Record<string, { value: number; low?: number; high?: number; n: number }>;
}

/** The table of computed contrasts: statistic, this run's value and interval, verdict and its basis. */
function contrastTable(contrasts: ContrastResult[]): string {
  return `<table class="contrasts"><thead><tr><th>contrast</th><th>statistic</th><th>this run (95% interval)</th><th>verdict</th><th>basis</th></tr></thead><tbody>${contrasts.map((c) =>
    `<tr><td>${esc(c.name)}${c.source ? `<br><small>${esc(c.source)}</small>` : ''}</td><td>${esc(c.statistic)}<br><small>${esc(c.detail)}</small></td><td>${esc(contrastValueText(c))}</td><td class="verdict ${esc(c.verdict.split(':')[0].replace(/ /g, '-'))}">${esc(c.verdict)}</td><td><small>${esc(c.basis)}</small></td></tr>`).join('\n')}</tbody></table>`;
}

/** Contrasts of an experiment without a paper block: the same table, under its own heading. */
function verdictSection(contrasts: ContrastResult[]): string {
  return `<h2>This run's verdicts</h2><p>Each contrast was declared in the experiment file before the run, with the direction its source predicts; the verdict follows from this run's interval: <em>reproduces</em> when it lies on the predicted side of the reference value, <em>contradicts</em> when it lies on the other, <em>inconclusive</em> when it holds it.</p>${contrastTable(contrasts)}`;
}

/**
 * What the paper found; this run's computed verdicts on the experiment's pre-registered contrasts;
 * then, labelled as another run's, what a recorded run here found.
 */
function paperSection(p: NonNullable<ReportInput['paper']>, contrasts: ContrastResult[] | undefined): string {
  const table = contrasts?.length ? contrastTable(contrasts) : '<p>No contrasts are declared for this experiment: nothing here is judged.</p>';
  return `<h2>Reproduces</h2><dl class="paper"><dt>paper</dt><dd>${esc(p.cite)}</dd><dt>figure</dt><dd>${esc(p.figure)}</dd>` +
    `<dt>the paper found</dt><dd>${esc(p.finding)}</dd></dl>` +
    `<h3>This run's verdicts</h3><p>Each contrast was declared in the experiment file before the run, with the direction the paper predicts; the verdict follows from this run's interval: <em>reproduces</em> when it lies on the predicted side of the reference value, <em>contradicts</em> when it lies on the other, <em>inconclusive</em> when it holds it.</p>${table}` +
    `<dl class="paper"><dt>a recorded run (not this run)</dt><dd>${p.here ? esc(p.here) : 'no recorded run yet'} — from the run documented in experiments/README.md, for comparison; it is not this report's measurement.</dd>` +
    `${p.why ? `<dt>likely reason for differences</dt><dd>${esc(p.why)}</dd>` : ''}</dl>`;
}

export function renderReport(r: ReportInput): string {
  const chartDivs = r.charts.map((c, i) => `<figure class="chartfig"><div id="chart-${i}" class="chart" data-name="${esc(c.name)}"></div><figcaption>${esc(c.title)}</figcaption></figure>`).join('\n');
  const specs = JSON.stringify(r.charts.map((c) => c.spec)).replace(/</g, '\\u003c');
  const grids = r.grids.map((g) => `<figure class="grid"><img alt="${esc(g.label)}" src="${g.dataUri}" width="${g.width}" height="${g.height}"><figcaption>${esc(g.label)}</figcaption></figure>`).join('\n');
  const claims = r.claims?.length
    ? `<h2>Claims and what this run measured</h2><table><thead><tr><th>topic</th><th>claim</th><th>measurement</th><th>verdict</th></tr></thead><tbody>${r.claims.map((c) => `<tr><td>${esc(c.topic)}</td><td>${esc(c.claim)}</td><td>${esc(c.evidence)}</td><td class="verdict ${c.verdict.split(':')[0].replace(' ', '-')}">${esc(c.verdict)}</td></tr>`).join('\n')}</tbody></table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}
figure{display:inline-block;margin:0.5em;vertical-align:top}figure.chartfig{display:block;margin:1em 0}.chart{width:100%}figcaption{font-size:12px;color:#555;text-align:center}
.grid img{image-rendering:pixelated;border:1px solid #ddd}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
.verdict.supported,.verdict.reproduces{color:#1a7f37}.verdict.contradicted,.verdict.contradicts{color:#b42318}.verdict.not-judged,.verdict.not-measured{color:#6e7781}.verdict.mixed{color:#9a6700}.verdict.inconclusive{color:#6e7781}.verdict.design-fact{color:#6e7781;font-style:italic}
.warning{border:2px solid #b42318;background:#fff5f5;padding:0.5em 1em;margin:1em 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 1em;font-size:13px}dt{font-weight:600}
</style>
${inlineScript('vega', 'build/vega.min.js')}
${inlineScript('vega-lite', 'build/vega-lite.min.js')}
${inlineScript('vega-embed', 'build/vega-embed.min.js')}
</head><body>
<h1>${esc(r.title)}</h1>
${r.description ? `<p>${esc(r.description)}</p>` : ''}
${r.paper ? paperSection(r.paper, r.contrasts) : r.contrasts?.length ? verdictSection(r.contrasts) : ''}
${r.warnings?.length ? `<div class="warning"><strong>Read this first.</strong><ul>${r.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></div>` : ''}
${r.passed?.length ? `<p class="guard"><strong>Under-training guard passed:</strong> ${r.passed.map(esc).join('; ')}.</p>` : ''}
<dl>${Object.entries(r.runInfo).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
${r.notes?.length ? `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Charts</h2>
${chartDivs || '<p>No charts for this experiment.</p>'}
${claims}
<h2>Results</h2>
${r.rows.length ? resultsTable(r.rows) : '<p>No grid points evaluated.</p>'}
${r.floors && Object.keys(r.floors).length ? `<p>Real-data floors (real training images against the same test reference, at the generated sets' n): ${Object.entries(r.floors).map(([m, f]) => `${esc(m)} ${fmt(f.value)}${f.low !== undefined ? ` [${fmt(f.low)}, ${fmt(f.high!)}]` : ''} (n = ${f.n})`).join('; ')}.</p>` : ''}
${grids ? `<h2>Samples</h2>${grids}` : ''}
<h2>Resolved configuration</h2>
<pre>${esc(JSON.stringify(r.config, null, 2))}</pre>
<script>
// Errors of any kind are counted on <body data-errors> so headless checks can read them from the DOM.
window.pageErrors = 0;
window.addEventListener('error', () => { window.pageErrors++; document.body.dataset.errors = String(window.pageErrors); });
const consoleError = console.error.bind(console);
console.error = (...a) => { window.pageErrors++; document.body.dataset.errors = String(window.pageErrors); consoleError(...a); };
document.body.dataset.errors = '0';
const specs = ${specs};
window.chartsRendered = 0;
window.chartErrors = [];
// Single-view charts take the page's width (the SVG/PNG files keep their fixed size).
const fit = (s, i) => {
  if (typeof s.width !== 'number' || s.facet || s.hconcat || s.vconcat || s.concat) return s;
  const room = document.getElementById('chart-' + i).clientWidth - 420; // axis titles and a legend of long labels
  return room > s.width ? { ...s, width: room } : s;
};
Promise.all(specs.map((s, i) => vegaEmbed('#chart-' + i, fit(s, i), { actions: false, renderer: 'svg' })
  .then(() => { window.chartsRendered++; })
  .catch((e) => { window.chartErrors.push(String(e)); console.error(e); })))
  .then(() => { document.body.dataset.rendered = String(window.chartsRendered); document.body.dataset.charts = 'done'; });
</script>
</body></html>
`;
}
