// A problem package of either format, from its files.
import { packageError, type PackageFiles } from './files.js';
import { loadKattis } from './kattis.js';
import { loadPolygon } from './polygon.js';
import { type Problem } from './problem.js';

export function loadProblem(files: PackageFiles): Problem {
  if (files.has('problem.xml')) return loadPolygon(files);
  if (files.has('problem.yaml')) return loadKattis(files);
  throw packageError('problem.yaml', 'missing, and no problem.xml either: not an ICPC/Kattis or Polygon package');
}
