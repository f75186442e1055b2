/** Poll with a deadline (never sleep-and-hope). */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out: ${opts.message ?? "condition"}${last instanceof Error ? ` (last error: ${last.message})` : ""}`);
    }
    await Bun.sleep(opts.intervalMs ?? 20);
  }
}
