/** `agtmux target bootstrap <name>`: placeholder until the ssh executor lands. */
import { defineCommand } from "citty";
import { AgtmuxError } from "../../domain/errors.ts";
import { globalArgs } from "./common.ts";

export const bootstrapCommand = defineCommand({
  meta: { name: "bootstrap", description: "Install agtmux on an ssh target and set up its agents' hooks" },
  args: { ...globalArgs, name: { type: "positional", description: "target name", required: true }, "dry-run": { type: "boolean", description: "say what it would do" } },
  run() {
    throw new AgtmuxError("E_USAGE", "not available yet", {});
  },
});
