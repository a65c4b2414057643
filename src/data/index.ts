// Datasets by name, with the transforms an experiment asks for.
import { centerCrop, DatasetError, pad, resize, type ImageDataset } from './images.js';
import { FASHION_MNIST_DIR, loadCifar10, loadFashionMnist, loadImageFolder, loadMnistNpm, type Split } from './sources.js';

/** The most memory the float32 images of a dataset may take (the wasm heap holds at most 4 GiB). */
export const MAX_DATA_BYTES = 2 * 2 ** 30;

export * from './images.js';
export * from './sources.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10', 'image-folder'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetSpec {
  name: DatasetName;
  split?: Split;
  /** fashion-mnist, cifar10, image-folder: where the files are */
  dir?: string;
  /** image-folder: 1 (grey) or 3 (RGB) */
  channels?: 1 | 3;
  /** Applied in this order: crop, pad, resize (each [height, width]); see MAX_DATA_BYTES. */
  crop?: [number, number];
  pad?: [number, number];
  resize?: [number, number];
}

/** Parses 'mnist', 'mnist:test', 'fashion-mnist:train', … into a spec. */
export function parseDatasetName(s: string): DatasetSpec {
  const [name, split = 'train'] = s.split(':');
  if (!(DATASET_NAMES as readonly string[]).includes(name)) throw new DatasetError('data.name', `unknown dataset '${name}'; expected one of ${DATASET_NAMES.join(', ')}`);
  if (!['train', 'test', 'all'].includes(split)) throw new DatasetError('data.split', `unknown split '${split}'; expected train, test or all`);
  return { name: name as DatasetName, split: split as Split };
}

export function loadDataset(spec: DatasetSpec): ImageDataset {
  const split = spec.split ?? 'train';
  let ds: ImageDataset;
  switch (spec.name) {
    case 'mnist': ds = loadMnistNpm(split); break;
    case 'fashion-mnist': ds = loadFashionMnist(split, spec.dir ?? FASHION_MNIST_DIR); break;
    case 'cifar10':
      if (!spec.dir) throw new DatasetError('data.dir', 'cifar10 needs the directory holding data_batch_1.bin … test_batch.bin');
      ds = loadCifar10(spec.dir, split);
      break;
    case 'image-folder':
      if (!spec.dir) throw new DatasetError('data.dir', 'image-folder needs a directory of .png files');
      ds = loadImageFolder(spec.dir, spec.channels ?? 3);
      break;
    default: throw new DatasetError('data.name', `unknown dataset '${spec.name as string}'; expected one of ${DATASET_NAMES.join(', ')}`);
  }
  if (spec.crop) ds = centerCrop(ds, spec.crop[0], spec.crop[1]);
  if (spec.pad) ds = pad(ds, spec.pad[0], spec.pad[1]);
  if (spec.resize) {
    // The training tensor holds every image as float32 on a heap of at most 4 GiB: refuse before
    // allocating what cannot fit, naming the setting.
    const [h, w] = spec.resize, bytes = ds.n * h * w * ds.channels * 4;
    if (bytes > MAX_DATA_BYTES) throw new DatasetError('data.resize', `[${h}, ${w}]: ${ds.n} images of ${h}×${w}×${ds.channels} need ${(bytes / 2 ** 30).toFixed(1)} GiB as float32, above the ${MAX_DATA_BYTES / 2 ** 30} GiB a training tensor may take; lower resize or set data.limit`);
    ds = resize(ds, h, w);
  }
  return ds;
}
