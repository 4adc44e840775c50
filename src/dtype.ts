/**
 * The two floating-point dtypes and the typed arrays behind them.
 *
 * @packageDocumentation
 */
import { ArgumentError, DTypeError, OutOfMemoryError, ValueError } from './errors';
import { checkOptions, optionalBoolean } from './options';
import { describe } from './shape';
import { ownsRegion, residentArray, setResidentFlag } from './kernels/wasm/runtime';

/** A tensor's element type: `'float64'` (Float64Array, the default) or `'float32'` (Float32Array). */
export type DType = 'float64' | 'float32';

/** The storage of a tensor: a row-major typed array of its dtype. */
export type FloatArray = Float64Array | Float32Array;

/**
 * The dtype of a typed array.
 *
 * @param data - a Float64Array or Float32Array.
 * @example
 * ```ts
 * dtypeOf(new Float32Array(2)); // 'float32'
 * ```
 */
export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float32Array ? 'float32' : 'float64';
}

/**
 * Arrays shorter than this are not pooled: up to 64 bytes V8 keeps a typed array's elements
 * on its own heap, which is cheap. Longer ones get a separate backing store, which cost
 * 0.37 µs fresh for 64 float32 and 2.4 µs for 4096, against ~0.05 µs from the pool.
 */
const POOL_MIN_LENGTH = 16;
/** At most this many arrays of one dtype and length wait in the pool. */
const POOL_MAX_PER_SIZE = 16;
/** Default cap on the bytes waiting in the pool altogether. */
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/**
 * Default idle limit: a length not asked for in this many poolable requests is dropped. A
 * training step of the benchmarks' MLPs makes tens to a few hundred requests, so this keeps
 * what the last hundreds of steps used.
 */
const DEFAULT_MAX_IDLE = 32768;
/** How often (in requests) idle lengths are swept. */
const SWEEP_EVERY = 4096;

/** The arrays of one dtype and length waiting for reuse, and when that length was last asked for. */
interface Bucket {
  readonly arrays: FloatArray[];
  lastUsed: number;
}

const pool = { float32: new Map<number, Bucket>(), float64: new Map<number, Bucket>() };
let pooledBytes = 0;
let maxBytes = DEFAULT_MAX_BYTES;
let maxIdle = DEFAULT_MAX_IDLE;
let poison = false;
let enabled = true;
let reused = 0;
let fresh = 0;
let evicted = 0;
/** Poolable requests so far: the pool's clock. */
let tick = 0;
let nextSweep = SWEEP_EVERY;

/**
 * A zero-filled typed array of the dtype. Arrays of 16 or more elements come from a pool of arrays the tape
 * has proved dead (see {@link recycle}) when one of the same length waits there: a first
 * touch of fresh memory costs far more than zeroing memory already mapped.
 *
 * @param dtype - element type.
 * @param n - length.
 * @param fn - what the user called, for the message if the memory cannot be had. Default 'allocate'.
 * @throws OutOfMemoryError when the engine cannot allocate the array.
 * @example
 * ```ts
 * allocate('float32', 4); // Float32Array(4)
 * ```
 */
export function allocate(dtype: DType, n: number, fn?: string): FloatArray {
  const a = fromPool(dtype, n);
  return a === null ? make(dtype, n, fn ?? 'allocate', true) : a.fill(0);
}

/**
 * Like {@link allocate}, but a recycled array is handed out as it is: its contents are
 * unspecified (old values, or NaN with `poolControl({ poison: true })`). Only for outputs the
 * caller overwrites entirely, such as a GEMM's C; it saves the zero fill.
 *
 * @param dtype - element type.
 * @param n - length.
 * @example
 * ```ts
 * const out = allocateUninit('float32', n * m); gemm(x, w, out, n, m, d); // writes every element
 * ```
 */
export function allocateUninit(dtype: DType, n: number): FloatArray {
  return fromPool(dtype, n) ?? make(dtype, n, 'allocate', false);
}

/**
 * A fresh array (zeroed when `zero`; a plain new array always is); counted when the pool could
 * have served it. Arrays of 16 KiB or more live in the WebAssembly kernels' memory where that
 * is shared (see residentArray), so kernels use them without copies.
 */
function make(dtype: DType, n: number, fn: string, zero: boolean): FloatArray {
  let a: FloatArray | null = null;
  if (n >= 2048) a = residentArray(dtype === 'float64', n, zero);
  if (a !== null) {
    fresh++;
    return a;
  }
  try {
    a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const bytes = n * (dtype === 'float32' ? 4 : 8);
    throw new OutOfMemoryError(
      `${fn}: cannot allocate ${n} ${dtype} elements (${(bytes / 2 ** 30).toFixed(2)} GiB): ${e.message}`,
    );
  }
  if (n >= POOL_MIN_LENGTH) fresh++;
  return a;
}

function fromPool(dtype: DType, n: number): FloatArray | null {
  if (n < POOL_MIN_LENGTH) return null;
  if (++tick >= nextSweep) sweepIdle();
  const bucket = pool[dtype].get(n);
  if (bucket === undefined) return null;
  bucket.lastUsed = tick;
  const a = bucket.arrays.pop();
  if (a === undefined) return null;
  pooledBytes -= a.byteLength;
  reused++;
  return a;
}

/** Drops every length not asked for in the last `maxIdle` requests. */
function sweepIdle(): void {
  nextSweep = tick + SWEEP_EVERY;
  for (const bucketMap of [pool.float32, pool.float64]) {
    for (const [n, bucket] of bucketMap) if (tick - bucket.lastUsed > maxIdle) dropBucket(bucketMap, n, bucket);
  }
}

function dropBucket(bucketMap: Map<number, Bucket>, n: number, bucket: Bucket): void {
  for (const a of bucket.arrays) pooledBytes -= a.byteLength;
  evicted += bucket.arrays.length;
  bucketMap.delete(n);
}

/** Frees room for `bytes` by dropping the least recently asked-for lengths (never `keep`). */
function evictFor(bytes: number, keep: Bucket): boolean {
  while (pooledBytes + bytes > maxBytes) {
    let oldest: [Map<number, Bucket>, number, Bucket] | null = null;
    for (const bucketMap of [pool.float32, pool.float64]) {
      for (const [n, bucket] of bucketMap) {
        if (bucket !== keep && bucket.arrays.length > 0 && (oldest === null || bucket.lastUsed < oldest[2].lastUsed)) oldest = [bucketMap, n, bucket];
      }
    }
    if (oldest === null) return false;
    dropBucket(...oldest);
  }
  return true;
}

/**
 * Turns resident tensors on or off for the arrays made from now on (arrays already made keep
 * their memory; turning it off also drops the pool's resident arrays, so none is handed out
 * again). Off, every array tapegrad makes is an ordinary `Float32Array`/`Float64Array` on its
 * own `ArrayBuffer`, and the kernels copy operands in and out as before: for code that hands
 * `t.data` to APIs that refuse `SharedArrayBuffer` views, or to `structuredClone` and
 * `postMessage`, which share such views instead of copying them. Results are the same bits
 * either way. The environment variable `TAPEGRAD_RESIDENT=0` makes off the default.
 *
 * @param on - true (the default where shared memory exists) or false.
 * @returns whether arrays are resident from now on (false where shared memory does not exist).
 * @throws ArgumentError if `on` is not a boolean.
 * @example
 * ```ts
 * kernels.setResident(false); // plain arrays from now on
 * ```
 */
export function setResident(on: boolean): boolean {
  if (typeof on !== 'boolean') throw new ArgumentError(`setResident: on must be a boolean, got ${describe(on)}`);
  if (!on) {
    for (const bucketMap of [pool.float32, pool.float64]) {
      for (const bucket of bucketMap.values()) {
        for (let i = bucket.arrays.length - 1; i >= 0; i--) {
          if (ownsRegion(bucket.arrays[i])) {
            pooledBytes -= bucket.arrays[i].byteLength;
            bucket.arrays.splice(i, 1);
          }
        }
      }
    }
  }
  return setResidentFlag(on);
}

/**
 * Hands an array back for reuse by {@link allocate}. Only for arrays nothing can reach any
 * more (the tape calls it under its one ownership rule: see `runBackward`); views into larger
 * buffers, small arrays and arrays beyond the pool's caps are left to the GC. When the pool is
 * full, the lengths asked for least recently make room.
 *
 * @param a - the dead array.
 * @example
 * ```ts
 * recycle(consumedGradient);
 * ```
 */
export function recycle(a: FloatArray): void {
  if (!enabled || a.length < POOL_MIN_LENGTH) return;
  if ((a.byteOffset !== 0 || a.buffer.byteLength !== a.byteLength) && !ownsRegion(a)) return;
  if (a.byteLength > maxBytes) return;
  const bucketMap = pool[dtypeOf(a)];
  let bucket = bucketMap.get(a.length);
  if (bucket === undefined) bucketMap.set(a.length, (bucket = { arrays: [], lastUsed: tick }));
  const list = bucket.arrays;
  if (list.length >= POOL_MAX_PER_SIZE || list.includes(a)) return;
  if (pooledBytes + a.byteLength > maxBytes && !evictFor(a.byteLength, bucket)) return;
  if (poison) a.fill(Number.NaN);
  list.push(a);
  pooledBytes += a.byteLength;
}

/** Options of {@link poolControl}. */
export interface PoolOptions {
  /** Recycle at all. Default: unchanged (initially true). */
  enabled?: boolean;
  /** Fill every recycled array with NaN, so a read of one shows at once. Default: unchanged (initially false). */
  poison?: boolean;
  /** Drop every pooled array now (their memory goes back to the GC). Default false. */
  clear?: boolean;
  /** Cap on the bytes waiting in the pool. Default: unchanged (initially 256 MiB). */
  maxBytes?: number;
  /** Drop a length once this many poolable requests passed without asking for it. Default: unchanged (initially 32768). */
  maxIdle?: number;
}

/** What {@link poolControl} reports. */
export interface PoolStats {
  /** Requests served from the pool so far. */
  reused: number;
  /** Arrays of a poolable length (16 or more elements) made fresh because none of that length waited. */
  fresh: number;
  /** Arrays dropped from the pool to respect maxBytes or maxIdle. */
  evicted: number;
  /** Bytes waiting in the pool now. */
  pooledBytes: number;
}

/**
 * Settings and statistics of tapegrad's buffer pool, where the tape puts arrays it has proved
 * no user code can reach, for later ops to reuse instead of touching fresh memory.
 *
 * Debugging: `poolControl({ poison: true })` fills every recycled array with NaN, so if any
 * value you hold ever turned out to share memory with a recycled array, it would show as NaN
 * at once (tapegrad's own tests run their capture patterns this way). `{ clear: true }` gives
 * the pooled memory back; the pool also drops lengths unused for `maxIdle` requests and, when
 * full, the least recently used lengths first.
 *
 * @param opts - enabled, poison, clear, maxBytes, maxIdle (see {@link PoolOptions}); none: just report.
 * @returns the pool's counters and size after applying opts.
 * @throws ArgumentError / ValueError on an unknown option or a bad value.
 * @example
 * ```ts
 * poolControl({ poison: true });   // debug: recycled memory reads NaN
 * poolControl({ clear: true });    // give the pooled memory back
 * poolControl().pooledBytes;       // how much waits now
 * ```
 */
export function poolControl(opts?: PoolOptions): PoolStats {
  const fn = 'poolControl';
  const o = checkOptions(fn, opts, ['enabled', 'poison', 'clear', 'maxBytes', 'maxIdle']);
  const on = optionalBoolean(fn, 'opts.enabled', o.enabled, enabled);
  const pois = optionalBoolean(fn, 'opts.poison', o.poison, poison);
  const clear = optionalBoolean(fn, 'opts.clear', o.clear, false);
  for (const key of ['maxBytes', 'maxIdle'] as const) {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      throw new ValueError(`${fn}: opts.${key} must be a non-negative integer, got ${describe(v)}`);
    }
  }
  enabled = on;
  poison = pois;
  if (o.maxBytes !== undefined) maxBytes = o.maxBytes as number;
  if (o.maxIdle !== undefined) maxIdle = o.maxIdle as number;
  if (clear) {
    pool.float32.clear();
    pool.float64.clear();
    pooledBytes = 0;
  } else if (pooledBytes > maxBytes) {
    evictFor(0, { arrays: [], lastUsed: 0 });
  }
  return { reused, fresh, evicted, pooledBytes };
}

/**
 * Checks a dtype option: `'float64'`, `'float32'` or undefined (meaning float64).
 *
 * @param fn - calling function, for the message.
 * @param dtype - the value to check.
 * @throws DTypeError otherwise.
 * @example
 * ```ts
 * const dt = resolveDType('zeros', opts.dtype);
 * ```
 */
export function resolveDType(fn: string, dtype: unknown): DType {
  if (dtype === undefined) return 'float64';
  if (dtype === 'float64' || dtype === 'float32') return dtype;
  throw new DTypeError(`${fn}: dtype must be 'float64' or 'float32', got ${describe(dtype)}`);
}

/**
 * Checks that two arrays share a dtype; tapegrad never promotes silently.
 *
 * @param fn - calling function.
 * @param argA - name of the first argument.
 * @param a - its data.
 * @param argB - name of the second argument.
 * @param b - its data.
 * @throws DTypeError `add: b must have dtype 'float64' like a, got 'float32'`.
 * @example
 * ```ts
 * assertSameDType('matmul', 'a', a.data, 'b', b.data);
 * ```
 */
export function assertSameDType(fn: string, argA: string, a: FloatArray, argB: string, b: FloatArray): void {
  if ((a instanceof Float32Array) !== (b instanceof Float32Array)) {
    throw new DTypeError(
      `${fn}: ${argB} must have dtype '${dtypeOf(a)}' like ${argA}, got '${dtypeOf(b)}' (no silent promotion; convert one with .to())`,
    );
  }
}
