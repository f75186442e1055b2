/** ssh targets: placeholder until the ssh executor and relay land. */
import { AgtmuxError } from "../domain/errors.ts";
import type { WorkerFactory } from "./targets.ts";

export const sshWorker: WorkerFactory = (_ctx, row) => {
  throw new AgtmuxError("E_TARGET_UNREACHABLE", `ssh targets are not available yet (${row.target_id})`, { target: row.target_id });
};
