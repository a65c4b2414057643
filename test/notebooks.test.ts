// Executes every notebook in notebooks/ with Jupyter's nbconvert and the Deno kernel from
// node_modules, so that they cannot rot: any cell that throws fails the test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('../', import.meta.url).pathname;
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const DENO = path.join(ROOT, 'node_modules', '.bin', 'deno');
const hasNbconvert = spawnSync('jupyter', ['nbconvert', '--version'], { encoding: 'utf8' }).status === 0;

interface Output { output_type: string; data?: Record<string, unknown>; ename?: string; evalue?: string }
interface Cell { cell_type: string; outputs?: Output[] }

if (!hasNbconvert) {
  test('notebooks: jupyter nbconvert is installed', () => {
    // CI installs it (.ci/run); elsewhere the notebooks are skipped with a note.
    if (process.env.CI) assert.unreachable('jupyter nbconvert not found: apt-get install jupyter-nbconvert python3-nbclient jupyter-client');
    else console.warn('notebooks not executed: jupyter nbconvert not found (apt-get install jupyter-nbconvert)');
  });
} else {
  // A kernelspec named "deno" (the notebooks' kernel) in a private JUPYTER_PATH, pointing at this checkout's deno.
  const jupyterPath = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-jupyter-'));
  fs.mkdirSync(path.join(jupyterPath, 'kernels', 'deno'), { recursive: true });
  fs.writeFileSync(path.join(jupyterPath, 'kernels', 'deno', 'kernel.json'), JSON.stringify({
    argv: [DENO, 'jupyter', '--kernel', '--conn', '{connection_file}'], display_name: 'Deno', language: 'typescript',
  }));
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-notebooks-'));
  for (const name of fs.readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb')).sort()) {
    test(`notebook ${name} runs to the end`, () => {
      // nbclient waits only 4 s (iopub_timeout) for a cell's output after the kernel's reply and then
      // drops it with a warning: on a loaded machine a chart arrived later than that. Wait longer, and
      // make a late output an error rather than a silently empty cell.
      const r = spawnSync('jupyter', ['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=600', '--ExecutePreprocessor.iopub_timeout=120', '--ExecutePreprocessor.raise_on_iopub_timeout=True', '--output-dir', outDir, path.join(NOTEBOOKS, name)], {
        encoding: 'utf8', cwd: NOTEBOOKS, env: { ...process.env, JUPYTER_PATH: jupyterPath, NO_COLOR: '1' },
      });
      assert.is(r.status, 0, `${name} failed:\n${r.stderr.slice(-3000)}`);
      const cells = (JSON.parse(fs.readFileSync(path.join(outDir, name), 'utf8')) as { cells: Cell[] }).cells;
      const outputs = cells.filter((c) => c.cell_type === 'code').flatMap((c) => c.outputs ?? []);
      assert.not.ok(outputs.some((o) => o.output_type === 'error'), `${name}: a cell raised`);
      assert.ok(outputs.some((o) => o.data && 'image/svg+xml' in o.data), `${name}: no chart was displayed`);
    });
  }
}

test.run();
