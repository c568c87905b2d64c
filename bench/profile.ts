/**
 * Summarises `.cpuprofile` files (written by `node --cpu-prof`): self time per package (or per file with
 * `--files`), as the benches' docs quote it. `npx node build/bench/profile.js [--files] [--per N] FILE…`:
 * `--per N` divides every time by N (requests served, to read µs per request).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The bucket a frame's self time goes to: an npm package, our own directory, a Node internal, or a VM state. */
export function bucketOf(url: string, functionName: string, files: boolean): string {
  if (url === '') return `(${functionName || 'anonymous'})`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return files ? `${pkg}/${rest.slice(rest[0].startsWith('@') ? 2 : 1).join('/')}` : pkg;
  }
  if (url.startsWith('node:')) return files ? url : 'node internals';
  const b = url.indexOf('/build/');
  if (b >= 0) {
    const rel = url.slice(b + '/build/'.length);
    return files ? `tenantscope ${rel}` : `tenantscope ${rel.split('/')[0]}`;
  }
  return files ? url : 'other';
}

const sourceMaps = new Map<string, SourceMap | undefined>();

/**
 * The file a frame's function was written in: for the bundle (build/tenantscope.js, scripts/bundle.ts) the original
 * module, through the bundle's source map (else every frame of ours and of the SDK would read as the bundle).
 */
export function originalUrl(url: string, line: number, column: number): string {
  if (!url.endsWith('/tenantscope.js')) return url;
  let map = sourceMaps.get(url);
  if (!sourceMaps.has(url)) {
    try {
      const file = `${fileURLToPath(url)}.map`;
      map = existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : undefined;
    } catch {
      map = undefined;
    }
    sourceMaps.set(url, map);
  }
  const source = (map?.findEntry(line, column) as { originalSource?: string } | undefined)?.originalSource;
  if (source === undefined) return url;
  // Sources are relative to build/: ours as `../src/…ts` (tsc's maps, chained), packages as `../node_modules/…`.
  return source.includes('node_modules/') ? source : `/build/${source.replace(/^(\.\.\/)+/, '').replace(/\.ts$/, '.js')}`;
}

/** Self microseconds per bucket, and the profile's total. */
export function summarise(profile: Profile, files: boolean): { total: number; buckets: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const buckets = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (n === undefined) continue;
    total += dt;
    const f = n.callFrame;
    const k = bucketOf(originalUrl(f.url, f.lineNumber, f.columnNumber ?? 0), f.functionName, files);
    buckets.set(k, (buckets.get(k) ?? 0) + dt);
  }
  return { total, buckets };
}

function main(): void {
  const args = process.argv.slice(2);
  const files = args.includes('--files');
  const perIdx = args.indexOf('--per');
  const per = perIdx >= 0 ? Number(args[perIdx + 1]) : 1;
  const paths = args.filter((a, i) => !a.startsWith('--') && (perIdx < 0 || i !== perIdx + 1));
  const top = Number(process.env.PROFILE_TOP ?? 30);
  for (const p of paths) {
    const { total, buckets } = summarise(JSON.parse(readFileSync(p, 'utf8')) as Profile, files);
    const unit = per === 1 ? 'ms' : 'µs/req';
    const scale = per === 1 ? 1 / 1000 : 1 / per;
    process.stdout.write(`\n${p}: ${(total * scale).toFixed(1)} ${unit} sampled\n`);
    for (const [k, v] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`  ${(v * scale).toFixed(per === 1 ? 1 : 2).padStart(9)} ${unit}  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}\n`);
    }
  }
}

if (require.main === module) main();
