// Polling until a condition holds, for tests and benchmarks alike (no vitest imports, so bench/ can use it).
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${describe(last)}` : ''}`);
}

/** An error with its cause: fetch's "fetch failed" alone does not say whether the port refused, reset or timed out. */
function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause ? `${String(e)} (${cause.code ?? cause.message ?? String(cause)})` : String(e);
}
