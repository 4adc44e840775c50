/**
 * Global switches of the tape: whether ops record (noGrad), whether anomaly detection runs,
 * and which module is executing (so anomaly errors can name it).
 *
 * @packageDocumentation
 */
import { ArgumentError } from '../errors';

function describeArg(v: unknown): string {
  return v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

let gradEnabled = true;
let anomalyEnabled = false;
/** Labels of the running modules, each already joined to its parents' ('A > B > C'). */
const moduleStack: string[] = [];

/**
 * Runs `fn` without recording anything on the tape; ops inside return tensors that do not
 * require grad. Nests, and restores the previous mode even if `fn` throws.
 *
 * @param fn - the computation, e.g. an evaluation forward pass.
 * @returns what `fn` returns.
 * @example
 * ```ts
 * const scores = noGrad(() => model.forward(x));
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(`noGrad: fn must be a function, got ${describeArg(fn)}`);
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * True when ops record on the tape (outside {@link noGrad}).
 *
 * @example
 * ```ts
 * if (isGradEnabled()) { ... }
 * ```
 */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Turns anomaly detection on or off: when on, every forward output and backward gradient is
 * checked for NaN and Infinity, and the first one found throws an AnomalyError naming the op
 * and the module that ran it. It costs a pass over every array, so it is off by default.
 *
 * @param enabled - the new setting.
 * @example
 * ```ts
 * setDetectAnomaly(true); loss.backward(); // throws AnomalyError at the first NaN
 * ```
 */
export function setDetectAnomaly(enabled: boolean): void {
  if (typeof enabled !== 'boolean') throw new ArgumentError(`setDetectAnomaly: enabled must be a boolean, got ${describeArg(enabled)}`);
  anomalyEnabled = enabled;
}

/**
 * Runs `fn` with anomaly detection on, like PyTorch's `detect_anomaly` context.
 *
 * @param fn - the computation to watch.
 * @example
 * ```ts
 * detectAnomaly(() => { const loss = lossFn(model.forward(x)); loss.backward(); });
 * ```
 */
export function detectAnomaly<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(`detectAnomaly: fn must be a function, got ${describeArg(fn)}`);
  const prev = anomalyEnabled;
  anomalyEnabled = true;
  try {
    return fn();
  } finally {
    anomalyEnabled = prev;
  }
}

/**
 * True when anomaly detection is on.
 *
 * @example
 * ```ts
 * isAnomalyEnabled(); // false by default
 * ```
 */
export function isAnomalyEnabled(): boolean {
  return anomalyEnabled;
}

/**
 * Runs `fn` with `name` as the current module, so the nodes it records carry it.
 * Used by nn.Module; nests into dotted paths.
 *
 * @param name - the module's label, e.g. `'1:BatchNorm1d'`.
 * @param fn - its forward computation.
 * @example
 * ```ts
 * withModule('0:Affine', () => ops.affine(x, w, b));
 * ```
 */
export function withModule<T>(name: string, fn: () => T): T {
  // Joined once per module call, not once per recorded op.
  moduleStack.push(moduleStack.length === 0 ? name : `${moduleStack[moduleStack.length - 1]} > ${name}`);
  try {
    return fn();
  } finally {
    moduleStack.pop();
  }
}

/**
 * The label of the module currently running its forward, or undefined outside any module.
 *
 * @example
 * ```ts
 * currentModule(); // e.g. 'Sequential > 1:BatchNorm1d'
 * ```
 */
export function currentModule(): string | undefined {
  return moduleStack.length === 0 ? undefined : moduleStack[moduleStack.length - 1];
}
