/**
 * The package's declarations as a consumer's `tsc` reads them: every
 * module they import must come with types from the package's own
 * `dependencies`. Without them a consumer under `strict` (and without
 * `skipLibCheck`) gets TS7016 "Could not find a declaration file for
 * module 'pg'" from our `.d.ts`, since devDependencies are never installed
 * for it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('published types');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Module specifiers in a declaration file: `from '…'` and `import('…')`. */
function specifiers(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

/** Every declaration file reachable from `entry` by relative imports, and the bare modules they name. */
function bareImports(entry: string): Map<string, { spec: string; file: string }> {
  const bare = new Map<string, { spec: string; file: string }>();
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
      else if (!spec.startsWith('node:')) bare.set(packageName(spec), { spec, file });
    }
  }
  return bare;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * The package whose declarations TypeScript uses for `spec` imported from
 * `file`, resolved as a consumer's NodeNext build would: the module's own,
 * or an `@types/` package.
 */
function typesFrom(spec: string, file: string): string | undefined {
  const options = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const { resolvedModule } = ts.resolveModuleName(spec, file, options, ts.sys, undefined, undefined, ts.ModuleKind.ESNext);
  const declarations = resolvedModule?.extension === ts.Extension.Dts || resolvedModule?.extension === ts.Extension.Dmts;
  return declarations ? resolvedModule!.packageId?.name : undefined;
}

test('every module the exported declarations import has its types among dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const dependencies: Record<string, string> = pkg.dependencies;
  const entry = join(ROOT, pkg.exports['.'].types);
  const missing: string[] = [];
  for (const [name, { spec, file }] of bareImports(entry)) {
    const from = file.slice(ROOT.length);
    assert.ok(name in dependencies, `${name} (imported by ${from}) is a dependency`);
    const types = typesFrom(spec, file);
    assert.ok(types !== undefined, `${spec} (imported by ${from}) resolves to declarations`);
    if (types !== name && !(types! in dependencies)) missing.push(`${types} (for ${from})`);
  }
  assert.equal(missing, [], 'type packages the published declarations need, missing from dependencies');
});

test.run();
