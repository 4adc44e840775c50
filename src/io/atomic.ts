/**
 * Crash-safe file replacement for checkpoints, and checked reading.
 *
 * {@link writeFileAtomic} never leaves a torn target: a reader (or a process started after a
 * crash) sees either the complete old file or the complete new one. It writes a temp file in
 * the target's directory, fsyncs it, renames it over the target (atomic on POSIX within one
 * file system) and fsyncs the directory so the rename itself is durable.
 *
 * A process killed mid-write (SIGKILL, power loss) can leave its temp file behind, named
 * `.<base>.<pid>.<random>.tmp` next to the target. Those are never read; the next
 * {@link writeFileAtomic} to the same target removes the ones whose writer is dead, and
 * {@link cleanStaleTemps} removes them on demand.
 *
 * Files of any size are written and read in pieces of at most 64 MiB (see `chunk.ts`), so
 * nothing meets Node's 2 GiB limit on a single read, write or buffer.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError } from '../errors';
import { checkOptions } from '../options';
import { describe } from '../shape';
import { ioChunkBytes } from './chunk';

/** Error codes a directory fsync may fail with on platforms or file systems that refuse it. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EBADF']);

/** Matches temp names made by {@link writeFileAtomic}: `.<base>.<pid>.<12 hex>.tmp`. */
const TEMP_RE = /^\.(.*)\.(\d+)\.([0-9a-f]{12})\.tmp$/s;

/** Longest part of the target's name (in code points) kept in a temp name, to stay under NAME_MAX. */
const TEMP_BASE_MAX = 48;

function tempBase(base: string): string {
  const cps = Array.from(base);
  return cps.length > TEMP_BASE_MAX ? cps.slice(0, TEMP_BASE_MAX).join('') : base;
}

/** The `code` of a Node system error, if any. */
export function errCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** An error's message, or the value as text. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A CheckpointError with `cause` attached. */
export function wrap(message: string, cause: unknown): CheckpointError {
  const err = new CheckpointError(message);
  err.cause = cause;
  return err;
}

/**
 * Atomically replaces (or creates) a file with the given bytes.
 *
 * Steps: remove temps left for the same target by writers that have died (see
 * {@link cleanStaleTemps}; best effort), create `.<base>.<pid>.<random>.tmp` in the same
 * directory (exclusive create), write all bytes in pieces of at most 64 MiB, fsync, close,
 * rename over `path`, then fsync the directory. The directory fsync is best effort: errors
 * meaning "not supported here" (EINVAL, EISDIR, EPERM, EACCES, ENOTSUP, EBADF) are ignored; any
 * other error there (e.g. EIO) is thrown, although the new file is already in place. On any
 * failure before the rename the temp file is removed and the target is untouched.
 *
 * New files get the default mode (0o666 minus the umask); an existing target's mode and owner
 * are not copied. If `path` is a symlink, the link itself is replaced by a regular file.
 *
 * @param path - the target file; its directory must exist.
 * @param bytes - the complete new contents, as one array or as parts written one after the
 *   other (so a file larger than any one buffer can be written without joining them).
 * @throws CheckpointError naming `path` and the cause (also on `err.cause`).
 * @example
 * ```ts
 * writeFileAtomic('runs/model.safetensors', encodeSafetensors(tensors));
 * ```
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | readonly Uint8Array[]): void {
  const fn = 'writeFileAtomic';
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointError(`${fn}: path must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  }
  const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
  if (!Array.isArray(parts) || !parts.every((p) => p instanceof Uint8Array)) {
    throw new CheckpointError(`${fn}: bytes must be a Uint8Array or an array of them, got ${bytes === null ? 'null' : describe(bytes)}`);
  }
  const target = resolve(path);
  const dir = dirname(target);
  try {
    cleanStaleTemps(dir, { base: basename(target) });
  } catch {
    // Cleaning is a courtesy; the write below reports any real problem with the directory.
  }
  const tmp = join(dir, `.${tempBase(basename(target))}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx');
    created = true;
    const chunk = ioChunkBytes();
    for (const part of parts) {
      let off = 0;
      while (off < part.length) {
        off += writeSync(fd, part, off, Math.min(chunk, part.length - off));
      }
    }
    fsyncSync(fd);
    const toClose = fd;
    fd = undefined;
    closeSync(toClose);
    renameSync(tmp, target);
    created = false;
  } catch (e) {
    if (fd !== undefined) {
      try { closeSync(fd); } catch { /* already failing */ }
    }
    if (created) {
      try { unlinkSync(tmp); } catch { /* best effort */ }
    }
    throw wrap(`${fn}: could not write '${path}': ${errText(e)}`, e);
  }

  // Make the rename durable.
  let dfd: number | undefined;
  try {
    dfd = openSync(dir, 'r');
    fsyncSync(dfd);
  } catch (e) {
    const code = errCode(e);
    if (code === undefined || !DIR_FSYNC_UNSUPPORTED.has(code)) {
      throw wrap(`${fn}: wrote '${path}' but could not fsync its directory '${dir}': ${errText(e)}`, e);
    }
  } finally {
    if (dfd !== undefined) {
      try { closeSync(dfd); } catch { /* ignore */ }
    }
  }
}

/**
 * Reads a whole file, throwing CheckpointError if it is missing or unreadable.
 *
 * @param path - the file to read.
 * @returns the contents as a plain Uint8Array (not a Buffer, and not sharing Node's buffer pool).
 * @throws CheckpointError naming `path` and the cause: missing file, a directory, no permission.
 * @example
 * ```ts
 * const { tensors } = decodeSafetensors(readFileChecked('runs/model.safetensors'));
 * ```
 */
export function readFileChecked(path: string): Uint8Array {
  const fn = 'readFileChecked';
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointError(`${fn}: path must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  }
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw wrap(`${fn}: could not read '${path}': ${readProblem(e)} (${errText(e)})`, e);
  }
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) {
    return new Uint8Array(buf.buffer);
  }
  return new Uint8Array(buf); // copy out of a pooled or shared buffer
}

/** What a failed open or read means, in words. */
export function readProblem(e: unknown): string {
  const code = errCode(e);
  return code === 'ENOENT' ? 'file does not exist'
    : code === 'EISDIR' ? 'path is a directory'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
        : 'read failed';
}

/**
 * Options of {@link cleanStaleTemps}.
 *
 * @example
 * ```ts
 * const opts: CleanStaleTempsOptions = { base: 'model.safetensors', minAgeMs: 60_000 };
 * ```
 */
export interface CleanStaleTempsOptions {
  /** Only remove temps for this target file name (the base name, not a path). Default: temps of every target. */
  base?: string;
  /** Only remove temps whose last modification is at least this many milliseconds ago. Default 0. */
  minAgeMs?: number;
}

/**
 * Margin, in ms, by which a temp carrying this process's own id must predate this process's
 * start to count as left by an earlier process that had the same id (file systems with
 * coarse timestamps round mtimes down by up to 2 s).
 */
const OWN_PID_MARGIN_MS = 2000;

/** When this process started (wall clock), to tell its own temps from a dead namesake's. */
const PROCESS_START_MS = Date.now() - process.uptime() * 1000;

/**
 * Removes the temp files that {@link writeFileAtomic} calls left in `dir` when they died
 * mid-write (SIGKILL, out of memory, power loss). `writeFileAtomic` (and so `saveCheckpoint`)
 * already does this for its own target before every write; call this to clean a whole run
 * directory, for example at start-up.
 *
 * A temp file (named `.<base>.<pid>.<12 hex digits>.tmp`) is stale when its writer is dead:
 * no process with that id exists on this machine (`process.kill(pid, 0)` fails with ESRCH).
 * A temp of a live process is never removed, whoever owns that process; a temp carrying this
 * process's own id is removed only when it is older than this process (left by an earlier
 * process that had the same id, as happens across container restarts). On a directory shared
 * between machines, pass a generous `minAgeMs`: a writer alive elsewhere looks dead here.
 *
 * @param dir - the directory to clean.
 * @param opts - `base`: only temps for this target name (default all); `minAgeMs`: only temps at
 *   least this old (default 0).
 * @returns the paths removed.
 * @throws CheckpointError if `dir` cannot be listed; ArgumentError / ValueError for bad options.
 * @example
 * ```ts
 * cleanStaleTemps('runs', { base: 'model.safetensors' }); // ['runs/.model.safetensors.4242.a1b2c3d4e5f6.tmp']
 * ```
 */
export function cleanStaleTemps(dir: string, opts?: CleanStaleTempsOptions): string[] {
  const fn = 'cleanStaleTemps';
  const o = checkOptions(fn, opts, ['base', 'minAgeMs']);
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new CheckpointError(`${fn}: dir must be a non-empty string, got ${typeof dir === 'string' ? "''" : describe(dir)}`);
  }
  if (o.base !== undefined && (typeof o.base !== 'string' || o.base.length === 0)) {
    throw new CheckpointError(`${fn}: opts.base must be a non-empty file name, got ${describe(o.base)}`);
  }
  if (o.minAgeMs !== undefined && (typeof o.minAgeMs !== 'number' || !(o.minAgeMs >= 0))) {
    throw new CheckpointError(`${fn}: opts.minAgeMs must be a number >= 0, got ${describe(o.minAgeMs)}`);
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw wrap(`${fn}: could not list '${dir}': ${errText(e)}`, e);
  }
  const minAge = (o.minAgeMs as number | undefined) ?? 0;
  const wantBase = o.base === undefined ? undefined : tempBase(o.base as string);
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (m === null) continue;
    if (wantBase !== undefined && m[1] !== wantBase) continue;
    const pid = Number(m[2]);
    const mine = pid === process.pid;
    if (!mine && isAlive(pid)) continue;
    const full = join(dir, name);
    try {
      if (mine || minAge > 0) {
        const mtime = statSync(full).mtimeMs;
        if (mine && mtime >= PROCESS_START_MS - OWN_PID_MARGIN_MS) continue; // possibly being written by this process
        if (Date.now() - mtime < minAge) continue;
      }
      unlinkSync(full);
      removed.push(full);
    } catch {
      // vanished or not removable: not ours to fight over
    }
  }
  return removed;
}

/** Whether a process with this id exists: `kill(pid, 0)` succeeds, or fails only for lack of permission. */
function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) return false; // no process can have this id
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) !== 'ESRCH'; // EPERM: exists but belongs to someone else; anything odd: assume alive
  }
}
