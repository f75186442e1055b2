/**
 * Target specs (contracts §6, §7): names, kinds and the non-secret references
 * stored for them. Pure validation shared by the API (valibot) and the CLI.
 */
import * as v from "valibot";
import { TARGET_NAME_RE } from "./event.ts";

export const TARGET_KINDS = ["local", "ssh"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** The local target every daemon has. */
export const HOST_TARGET = "host";

/** Where `agtmux target bootstrap` puts the binary on an ssh target (relative to the login directory). */
export const DEFAULT_REMOTE_AGTMUX = ".local/bin/agtmux";

const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const noControl = (what: string) => v.check<string, string>((s) => !hasControl(s), `${what} must not contain control characters`);

/** Contract grammar, plus: a new target's name starts with a letter or digit (a name like `-rf` would read as a flag). */
export const TargetNameSchema = v.pipe(
  v.string(),
  v.regex(TARGET_NAME_RE, "must match [A-Za-z0-9._-]{1,64}"),
  v.regex(/^[A-Za-z0-9]/, "must start with a letter or digit"),
);

/**
 * An ssh host alias or `[user@]host[:port]` as `ssh` takes it: the name is
 * resolved through ~/.ssh/config; never a credential. A leading `-` is refused
 * (it would read as an option to `ssh` when attaching).
 */
export const SshTargetSchema = v.pipe(
  v.string(),
  v.minLength(1, "must not be empty"),
  v.maxLength(255, "is too long"),
  noControl("ssh target"),
  v.check((s) => !s.startsWith("-"), "must not start with '-'"),
  v.check((s) => !/\s/.test(s), "must not contain spaces"),
);

/** A tmux socket name (`-L`) or an absolute socket path (`-S`). */
export const TmuxSocketSchema = v.pipe(
  v.string(),
  v.minLength(1, "must not be empty"),
  v.maxLength(1024, "is too long"),
  noControl("tmux socket"),
  v.check((s) => (s.includes("/") ? s.startsWith("/") || s.startsWith("~/") : /^[A-Za-z0-9._-]+$/.test(s)), "must be a socket name ([A-Za-z0-9._-]) or an absolute path"),
);

export const AgtmuxPathSchema = v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024, "is too long"), noControl("agtmux path"));

export const AddTargetSchema = v.pipe(
  v.strictObject({
    name: TargetNameSchema,
    kind: v.picklist(TARGET_KINDS, "must be local or ssh"),
    ssh_target: v.optional(SshTargetSchema),
    tmux_socket: v.optional(TmuxSocketSchema),
    agtmux_path: v.optional(AgtmuxPathSchema),
    accept_new_host_key: v.optional(v.boolean()),
    /** false: store without trying to reach it (a VM that is off right now) */
    connect: v.optional(v.boolean()),
  }),
  v.check((b) => b.kind !== "ssh" || b.ssh_target !== undefined, "an ssh target needs ssh_target (a host alias from ~/.ssh/config or [user@]host[:port])"),
  v.check((b) => b.kind !== "local" || (b.ssh_target === undefined && b.agtmux_path === undefined), "ssh_target and agtmux_path apply to ssh targets only"),
);
export type AddTargetRequest = v.InferOutput<typeof AddTargetSchema>;

export const ConnectTargetSchema = v.strictObject({ accept_new_host_key: v.optional(v.boolean()) });
export type ConnectTargetRequest = v.InferOutput<typeof ConnectTargetSchema>;

/** The columns a target is stored with: a non-secret reference only. */
export interface TargetSpec {
  target_id: string;
  kind: TargetKind;
  connection_ref: string | null;
  tmux_socket: string | null;
  agtmux_path: string | null;
}

export function specFromRequest(b: AddTargetRequest): TargetSpec {
  return {
    target_id: b.name,
    kind: b.kind,
    connection_ref: b.kind === "ssh" ? (b.ssh_target ?? null) : null,
    tmux_socket: b.tmux_socket ?? null,
    agtmux_path: b.kind === "ssh" ? (b.agtmux_path ?? null) : null,
  };
}

export function sameSpec(a: TargetSpec, b: TargetSpec): boolean {
  return a.kind === b.kind && a.connection_ref === b.connection_ref && a.tmux_socket === b.tmux_socket && (a.agtmux_path ?? null) === (b.agtmux_path ?? null);
}
