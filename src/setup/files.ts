/**
 * Reading and writing the agents' config files: a timestamped backup next to
 * the file before every change, then an atomic replace (temp file in the same
 * directory + rename) that keeps the file's mode. A symlinked config (dotfile
 * managers) is written through: the link stays, its target changes.
 */
import { randomBytes } from "node:crypto";
import { closeSync, copyFileSync, chmodSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AgtmuxError } from "../domain/errors.ts";

/** New config files are private: they name programs the agent will run. */
export const NEW_FILE_MODE = 0o600;

export interface ConfigFile {
  /** the path as the agent knows it */
  path: string;
  /** where the bytes live (the symlink's target, else `path`) */
  realPath: string;
  /** null when the file does not exist */
  text: string | null;
  mode: number;
}

export function readConfigFile(path: string): ConfigFile {
  let realPath = path;
  try {
    realPath = realpathSync(path);
  } catch {
    // missing (or a dangling link): written at `path`
  }
  if (!existsSync(realPath)) return { path, realPath, text: null, mode: NEW_FILE_MODE };
  try {
    const st = statSync(realPath);
    if (!st.isFile()) throw new AgtmuxError("E_BAD_REQUEST", `${path} is not a regular file`, { file: path });
    return { path, realPath, text: readFileSync(realPath, "utf8"), mode: st.mode & 0o7777 };
  } catch (err) {
    if (err instanceof AgtmuxError) throw err;
    throw new AgtmuxError("E_BAD_REQUEST", `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { file: path });
  }
}

/** `20261124T045914123Z`: sorts in time order, no characters a shell or Windows would mind. */
export function backupStamp(now: Date): string {
  return now.toISOString().replace(/[-:.]/g, "");
}

/** Copies the current file to `<file>.agtmux-backup-<ts>` (never overwriting one) and returns its path. */
export function backup(file: ConfigFile, now: Date): string | undefined {
  if (file.text === null) return undefined;
  const base = `${file.realPath}.agtmux-backup-${backupStamp(now)}`;
  let target = base;
  for (let n = 1; existsSync(target); n++) target = `${base}-${n}`;
  copyFileSync(file.realPath, target);
  chmodSync(target, file.mode);
  return target;
}

/** Replaces the file's content atomically, keeping its mode; creates parent directories for a new file. */
export function writeAtomic(file: ConfigFile, text: string): void {
  const dir = dirname(file.realPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file.realPath)}.agtmux-tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const fd = openSync(tmp, "wx", file.mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, file.mode); // openSync's mode is filtered by the umask
    renameSync(tmp, file.realPath);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function removeFile(file: ConfigFile): void {
  rmSync(file.realPath, { force: true });
}

/** The refusal for a config file agtmux cannot read: where, exactly. */
export function unusableConfig(path: string, what: string, message: string, pos?: { line: number; column: number }): AgtmuxError {
  const where = pos === undefined ? path : `${path}:${pos.line}:${pos.column}`;
  return new AgtmuxError("E_BAD_REQUEST", `refusing to edit ${where}: ${what}: ${message}`, {
    file: path,
    ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
    reason: message,
  });
}
