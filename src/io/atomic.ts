/**
 * Crash-safe file replacement for checkpoints, and checked reading.
 *
 * {@link writeFileAtomic} never leaves a torn target: a reader (or a process started after a
 * crash) sees either the complete old file or the complete new one. It writes a temp file in
 * the target's directory, fsyncs it, renames it over the target (atomic on POSIX within one
 * file system) and fsyncs the directory so the rename itself is durable.
 *
 * A process killed mid-write (SIGKILL, power loss) can leave its temp file behind, named
 * `.<base>.<pid>.<random>.tmp` next to the target. Those are harmless (never read) and can be
 * removed with {@link cleanStaleTemps}.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError } from '../errors';

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

function errCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function wrap(message: string, cause: unknown): CheckpointError {
  const err = new CheckpointError(message);
  err.cause = cause;
  return err;
}

/**
 * Atomically replaces (or creates) a file with the given bytes.
 *
 * Steps: create `.<base>.<pid>.<random>.tmp` in the same directory (exclusive create), write all
 * bytes, fsync, close, rename over `path`, then fsync the directory. The directory fsync is best
 * effort: errors meaning "not supported here" (EINVAL, EISDIR, EPERM, EACCES, ENOTSUP, EBADF)
 * are ignored; any other error there (e.g. EIO) is thrown, although the new file is already in
 * place. On any failure before the rename the temp file is removed and the target is untouched.
 *
 * New files get the default mode (0o666 minus the umask); an existing target's mode and owner
 * are not copied. If `path` is a symlink, the link itself is replaced by a regular file.
 *
 * @param path - the target file; its directory must exist.
 * @param bytes - the complete new contents.
 * @throws CheckpointError naming `path` and the cause (also on `err.cause`).
 * @example
 * ```ts
 * writeFileAtomic('runs/model.safetensors', encodeSafetensors(tensors));
 * ```
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const fn = 'writeFileAtomic';
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointError(`${fn}: path must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new CheckpointError(`${fn}: bytes must be a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  }
  const target = resolve(path);
  const dir = dirname(target);
  const tmp = join(dir, `.${tempBase(basename(target))}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx');
    created = true;
    let off = 0;
    while (off < bytes.length) {
      off += writeSync(fd, bytes, off, bytes.length - off);
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
    const code = errCode(e);
    const what = code === 'ENOENT' ? 'file does not exist'
      : code === 'EISDIR' ? 'path is a directory'
        : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
          : 'read failed';
    throw wrap(`${fn}: could not read '${path}': ${what} (${errText(e)})`, e);
  }
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) {
    return new Uint8Array(buf.buffer);
  }
  return new Uint8Array(buf); // copy out of a pooled or shared buffer
}

/** Options of {@link cleanStaleTemps}. */
export interface CleanStaleTempsOptions {
  /** Only remove temps for this target file name (the base name, not a path). */
  base?: string;
  /** Only remove temps whose last modification is at least this many milliseconds ago. Default 0. */
  minAgeMs?: number;
}

/**
 * Removes temp files left in `dir` by {@link writeFileAtomic} calls that died mid-write.
 *
 * A temp file is stale when the process id in its name is not running on this machine (or, if
 * it is this process's own id, never: a write may be in progress on another thread) and it is
 * at least `minAgeMs` old. On a directory shared between machines, pass a generous `minAgeMs`:
 * a pid alive elsewhere looks dead here.
 *
 * @param dir - the directory to clean.
 * @param opts - see {@link CleanStaleTempsOptions}.
 * @returns the paths removed.
 * @throws CheckpointError if `dir` cannot be listed.
 * @example
 * ```ts
 * cleanStaleTemps('runs', { base: 'model.safetensors' }); // ['runs/.model.safetensors.4242.a1b2c3d4e5f6.tmp']
 * ```
 */
export function cleanStaleTemps(dir: string, opts: CleanStaleTempsOptions = {}): string[] {
  const fn = 'cleanStaleTemps';
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw wrap(`${fn}: could not list '${dir}': ${errText(e)}`, e);
  }
  const minAge = opts.minAgeMs ?? 0;
  const wantBase = opts.base === undefined ? undefined : tempBase(opts.base);
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (m === null) continue;
    if (wantBase !== undefined && m[1] !== wantBase) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || isAlive(pid)) continue;
    const full = join(dir, name);
    try {
      if (minAge > 0 && Date.now() - statSync(full).mtimeMs < minAge) continue;
      unlinkSync(full);
      removed.push(full);
    } catch {
      // vanished or not removable: not ours to fight over
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM'; // exists but belongs to someone else
  }
}
