/**
 * Summarises `.cpuprofile` files (written by `node --cpu-prof`): self time per package (or per file with
 * `--files`), as the benches' docs quote it. `npx node build/bench/profile.js [--files] [--per N] FILE…`:
 * `--per N` divides every time by N (requests served, to read µs per request).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
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
    const k = bucketOf(n.callFrame.url, n.callFrame.functionName, files);
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
