// Processes as /proc shows them: the auth sidecar is a supervisor and its worker (src/auth/supervisor.ts).
import { readFileSync } from 'node:fs';

/** A process's children (empty when it has none or is gone). */
export function childPids(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return kids ? kids.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** A process and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childPids(out[i]!));
  return out;
}
