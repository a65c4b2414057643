// The source tree's layers: no module under src/ imports from a layer above its own, and no function
// in the runner or the plots grows past a screen. Both read the TypeScript sources themselves.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const SRC = path.resolve('src');

/** Lowest first: a module may import its own layer and any layer listed before it. */
const LAYERS = ['types', 'util', 'compute', 'diffusion', 'models', 'data', 'interop', 'train', 'metrics', 'backends', 'plots', 'runner', 'cli'];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string) => path.relative(SRC, file).split(path.sep)[0];

/** Every relative module specifier a file imports or re-exports, statically or with import(). */
function specifiers(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) out.push(n.arguments[0].text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out.filter((s) => s.startsWith('.'));
}

test('every directory under src/ has a place in the layer order', () => {
  const dirs = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.equal(dirs.filter((d) => !LAYERS.includes(d)), []);
});

test('no module under src/ imports from a layer above its own', () => {
  const upward: string[] = [];
  for (const file of sources(SRC)) {
    const from = LAYERS.indexOf(layerOf(file));
    for (const s of specifiers(file)) {
      const target = path.resolve(path.dirname(file), s);
      if (!target.startsWith(SRC + path.sep)) continue;
      const to = LAYERS.indexOf(layerOf(target));
      if (to > from) upward.push(`${path.relative(SRC, file)} → ${s}`);
    }
  }
  assert.equal(upward, []);
});

test('no model, autoencoder, objective or trainer uses an evaluator\'s network: only metrics, the runner\'s evaluation and the CLI import the feature networks', () => {
  // A model trained against the network that scores it would be graded by its own teacher.
  const allowed = new Set(['metrics', 'runner', 'cli']);
  const users: string[] = [];
  for (const file of sources(SRC)) {
    for (const s of specifiers(file)) {
      const target = path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts');
      if (target === path.join(SRC, 'metrics', 'features.ts') && !allowed.has(layerOf(file))) users.push(path.relative(SRC, file));
    }
  }
  assert.equal(users, []);
  // Within the runner, only the evaluation context loads them.
  const runnerUsers = sources(path.join(SRC, 'runner')).filter((f) => specifiers(f).some((s) => s.endsWith('metrics/features.js')));
  assert.equal(runnerUsers.map((f) => path.relative(SRC, f)), ['runner/context.ts']);
});

test('no function in src/runner or src/plots is longer than 80 lines', () => {
  const long: string[] = [];
  for (const file of [...sources(path.join(SRC, 'runner')), ...sources(path.join(SRC, 'plots'))]) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n)) {
        const a = sf.getLineAndCharacterOfPosition(n.getStart()).line, b = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
        if (b - a + 1 > 80) long.push(`${path.relative(SRC, file)}:${a + 1} (${b - a + 1} lines)`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  assert.equal(long, []);
});

test('the check sees an upward import when there is one', () => {
  // The import scanner itself: a static, a type-only, a re-export and a dynamic import are all found.
  const tmp = fs.mkdtempSync(path.join(SRC, '..', '.layering-'));
  try {
    const f = path.join(tmp, 'x.ts');
    fs.writeFileSync(f, "import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nconst d = await import('./d.js');\nimport fs from 'node:fs';\n");
    assert.equal(specifiers(f), ['./a.js', '../b.js', './c.js', './d.js']);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
