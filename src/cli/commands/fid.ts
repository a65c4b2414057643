// `difflab fid`: FID, KID, precision/recall and density/coverage between two sets of images or features.
import fs from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { selectBackend, tf } from '../../compute/backend.js';
import { loadDataset, loadImageFolder, parseDatasetName, toFloat, type DatasetName } from '../../data/index.js';
import { resolveFeatureNet, type FeatureNet } from '../../metrics/features.js';
import { fid } from '../../metrics/fid.js';
import { kid } from '../../metrics/kid.js';
import { matrix, type Matrix } from '../../util/linalg.js';
import { prdc } from '../../metrics/prdc.js';
import { rowsSubset } from '../../metrics/evaluate.js';
import { readNpy, requireFiniteRows } from '../../util/npy.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';

interface FidArgs extends ComputeArgs {
  real: string;
  fake: string;
  features?: string;
  layer?: string;
  kid: boolean;
  pr: boolean;
  kidSubsets: number;
  kidSubsetSize: number;
  seed: number;
  json: boolean;
  realCrop?: number[];
  realPad?: number[];
  realResize?: number[];
}

/** Preparation of a dataset given as --real, as a training config's data block writes it. */
type Prep = { crop?: [number, number]; pad?: [number, number]; resize?: [number, number] };

/** A set given on the command line: a feature matrix, or images still to be featurized. */
type Input = { kind: 'features'; m: Matrix } | { kind: 'images'; x: tf.Tensor4D; dataset?: DatasetName };

function parseCsv(file: string): Matrix {
  const rows = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const parsed = rows.map((l) => l.split(',').map(Number));
  const start = parsed[0].some(Number.isNaN) ? 1 : 0; // an optional header row
  const body = parsed.slice(start);
  const d = body[0]?.length ?? 0;
  if (!body.length) throw new Error(`${file}: has no rows`);
  body.forEach((r, i) => {
    if (r.length !== d || r.some((v) => !Number.isFinite(v))) throw new Error(`${file}: row ${i + start + 1} is not ${d} finite numbers`);
  });
  return matrix(body.length, d, body.flat());
}

/** Reads --real / --fake: .npy or .csv features, .npy NHWC images, a PNG folder, or a dataset name. */
function readInput(spec: string, flag: string, prep: Prep = {}): Input {
  if (fs.existsSync(spec) && fs.statSync(spec).isDirectory()) {
    // Read as RGB; the feature network converts to the channels it takes (grey = mean of R, G, B).
    const ds = loadImageFolder(spec, 3);
    return { kind: 'images', x: toFloat(ds, Int32Array.from({ length: ds.n }, (_, i) => i)) };
  }
  if (spec.endsWith('.csv')) return { kind: 'features', m: parseCsv(spec) };
  if (spec.endsWith('.npy')) {
    const a = readNpy(spec);
    requireFiniteRows(a, `${flag} ${spec}`);
    if (a.shape.length === 2) return { kind: 'features', m: matrix(a.shape[0], a.shape[1], a.data) };
    if (a.shape.length === 4) {
      // uint8 images are 0…255; float images are taken to be in [−1, 1] (what difflab sample writes).
      const v = a.dtype === 'uint8' ? Float32Array.from(a.data, (p) => p / 127.5 - 1) : Float32Array.from(a.data);
      if (a.dtype !== 'uint8') {
        let lo = Infinity, hi = -Infinity;
        for (const p of v) { lo = Math.min(lo, p); hi = Math.max(hi, p); }
        if (lo < -1.001 || hi > 1.001) throw new Error(`${flag} ${spec}: float images must lie in [−1, 1] (found ${lo.toFixed(3)} … ${hi.toFixed(3)}); save uint8 0…255 or rescale`);
      }
      return { kind: 'images', x: tf.tensor4d(v, a.shape as [number, number, number, number]) };
    }
    throw new Error(`${flag} ${spec}: expected a 2-D feature matrix [n, d] or 4-D images [n, H, W, C], got shape [${a.shape.join(', ')}]`);
  }
  if (fs.existsSync(spec)) throw new Error(`${flag} ${spec}: expected .npy, .csv, a folder of PNGs, or a dataset name such as mnist:test`);
  let ds;
  try {
    ds = parseDatasetName(spec);
  } catch (e) {
    throw new Error(`${flag} ${spec}: not a file, folder or dataset (${(e as Error).message})`);
  }
  // Cropped, padded and resized exactly as a training config's data block prepares images.
  const images = loadDataset({ ...ds, ...prep });
  return { kind: 'images', x: toFloat(images, Int32Array.from({ length: images.n }, (_, i) => i)), dataset: ds.name };
}

export const fidCommand: CommandModule<object, FidArgs> = {
  command: 'fid',
  builder: (y: Argv) => withCompute(y)
    .option('real', { type: 'string', demandOption: true, describe: 'reference set: features (.npy [n,d] or .csv), images (.npy [n,H,W,C], uint8 0…255 or float in [−1,1]), a folder of PNGs, or a dataset such as mnist:test' })
    .option('fake', { type: 'string', demandOption: true, describe: 'generated set, in any of the same forms' })
    .option('features', { type: 'string', describe: "feature network for images: lenet-mnist, lenet-fashion-mnist, lenet (the --real dataset's), or a TF.js model.json path (default: lenet for a dataset --real)" })
    .option('layer', { type: 'string', describe: 'with a TF.js model: the layer (or graph node) to take features from' })
    .option('kid', { type: 'boolean', default: false, describe: 'also KID (unbiased MMD², cubic kernel), mean ± std over subsets' })
    .option('pr', { type: 'boolean', default: false, describe: 'also precision/recall (k = 3) and density/coverage (k = 5)' })
    .option('kid-subsets', { type: 'number', default: 100, describe: 'KID: number of subsets (torch-fidelity default)' })
    .option('kid-subset-size', { type: 'number', default: 1000, describe: 'KID: samples per subset, capped at the smaller set (torch-fidelity default 1000)' })
    .option('seed', { type: 'number', default: 0, describe: 'KID subsets, and the real subsample of --pr' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .option('real-crop', { type: 'number', array: true, describe: 'a dataset --real: center-crop to H W first (as data.crop)' })
    .option('real-pad', { type: 'number', array: true, describe: 'a dataset --real: then pad to H W (as data.pad)' })
    .option('real-resize', { type: 'number', array: true, describe: "a dataset --real: then resize to H W (as data.resize); default: the --fake images' size, with a note" }) as unknown as Argv<FidArgs>,
  handler: async (a: ArgumentsCamelCase<FidArgs>) => {
    // The compute backend first: reading images makes tensors, and on tfjs's default backend the first
    // one prints its greeting.
    await selectBackend(computeOf(a));
    const pair = (v: number[] | undefined, flag: string): [number, number] | undefined => {
      if (v === undefined) return undefined;
      if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${flag}: expected two positive integers H W, got ${v.join(' ')}`);
      return [v[0], v[1]];
    };
    const prep: Prep = { crop: pair(a.realCrop, '--real-crop'), pad: pair(a.realPad, '--real-pad'), resize: pair(a.realResize, '--real-resize') };
    let real = readInput(a.real, '--real', prep);
    const fake = readInput(a.fake, '--fake');
    // A dataset's images at another size than the samples would be compared silently at two sizes:
    // bring them to the samples' size as a data block's resize would, and say so.
    if (real.kind === 'images' && fake.kind === 'images') {
      const [, rh, rw] = real.x.shape, [, fh, fw] = fake.x.shape;
      if (rh !== fh || rw !== fw) {
        const explicit = prep.crop || prep.pad || prep.resize;
        if (!real.dataset || explicit) {
          real.x.dispose();
          fake.x.dispose();
          throw new Error(`--real ${a.real} has ${rh}×${rw} images, --fake ${a.fake} ${fh}×${fw}: FID compares images of one size; ${real.dataset ? 'set --real-crop/--real-pad/--real-resize to end at the samples\' size' : 'bring them to one size first'}`);
        }
        real.x.dispose();
        process.stderr.write(`note: --real ${a.real} is ${rh}×${rw}, the samples ${fh}×${fw}: resizing the real images to ${fh}×${fw} as a data block's resize does (--real-crop/--real-pad/--real-resize prepare them otherwise)\n`);
        real = readInput(a.real, '--real', { resize: [fh, fw] });
      }
    }
    let net: FeatureNet | undefined;
    const feats = async (inp: Input): Promise<Matrix> => {
      if (inp.kind === 'features') return inp.m;
      if (!net) {
        const dataset = real.kind === 'images' ? real.dataset ?? (fake.kind === 'images' ? fake.dataset : undefined) : undefined;
        const spec = a.features ?? (dataset ? 'lenet' : undefined);
        if (!spec) throw new Error('--features: needed for image sets that are not a dataset name (e.g. --features lenet-mnist, or a TF.js model.json)');
        net = await resolveFeatureNet(spec, { dataset, layer: a.layer });
      }
      const m = net.features(inp.x).features;
      inp.x.dispose();
      return m;
    };
    const fr = await feats(real), ff = await feats(fake);
    // FID needs a covariance of each set: name the input that has too few rows for one.
    for (const [m, flag, spec] of [[fr, '--real', a.real], [ff, '--fake', a.fake]] as const) {
      if (m.rows < 2) throw new Error(`${flag} ${spec}: ${m.rows} sample(s); FID needs at least 2 (a covariance), and more than the feature dimension (${m.cols}) for a full-rank one`);
    }
    const label = net ? `@${net.name}` : '';
    const r = fid(fr, ff);
    const out: Record<string, unknown> = { [`fid${label}`]: r.value, n_real: fr.rows, n_fake: ff.rows, dim: r.dim, offset: r.offset, warnings: r.warnings };
    if (net?.testAccuracy !== undefined) out.feature_net_test_accuracy = net.testAccuracy;
    if (a.kid) {
      const k = kid(fr, ff, { subsets: a.kidSubsets, subsetSize: a.kidSubsetSize, seed: a.seed });
      Object.assign(out, { [`kid${label}`]: k.mean, kid_unit: 'MMD² (raw)', kid_std: k.std, kid_subsets: k.subsets, kid_subset_size: k.subsetSize });
      r.warnings.push(...k.warnings);
    }
    if (a.pr) {
      // Defined for equal set sizes: the real set is subsampled (seeded) to the generated set's size.
      const p = prdc(rowsSubset(fr, ff.rows, a.seed), ff);
      Object.assign(out, { precision: p.precision, recall: p.recall, density: p.density, coverage: p.coverage, k_pr: p.kPr, k_dc: p.kDc, n_real_pr: p.n[0] });
    }
    net?.dispose();
    if (a.json) {
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : Array.isArray(v) ? '' : String(v));
    for (const [k, v] of Object.entries(out)) if (k !== 'warnings') console.log(`${k.padEnd(28)} ${fmt(v)}`);
  },
};
