/**
 * Module: the base of every layer. Parameters, buffers and submodules are registered
 * explicitly, so `parameters()`, `train()/eval()`, `stateDict()` and `loadStateDict()` can
 * walk the tree by dotted name, as in PyTorch.
 *
 * @packageDocumentation
 */
import type { FloatArray } from '../dtype';
import { ArgumentError, StateDictError } from '../errors';
import { describe, formatShape, shapesEqual } from '../shape';
import { Tensor } from '../tensor';

/** A state dict: dotted name -> tensor (or any `{ shape, data }` array when loading). */
export type StateDict = Map<string, Tensor>;

/** What {@link Module.loadStateDict} accepts: a Map or a plain record of named arrays. */
export type StateDictInput =
  | Map<string, { readonly shape: readonly number[]; readonly data: FloatArray }>
  | Record<string, { readonly shape: readonly number[]; readonly data: FloatArray }>;

/**
 * Base class of all layers. Subclasses register their parameters, buffers and submodules in
 * the constructor and implement `forward`.
 *
 * @example
 * ```ts
 * class Scale extends Module {
 *   readonly weight = this.registerParameter('weight', Tensor.ones([1]));
 *   forward(x: Tensor): Tensor { return x.mul(this.weight); }
 * }
 * ```
 */
export abstract class Module {
  /** True in training mode (the default); false after `eval()`. */
  training = true;
  private readonly paramsByName = new Map<string, Tensor>();
  private readonly buffersByName = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /**
   * Runs the layer.
   *
   * @param x - input batch.
   */
  abstract forward(x: Tensor): Tensor;

  /**
   * Registers a trainable parameter under `name` (it is set to require grad).
   *
   * @param name - the parameter's name, e.g. 'weight'.
   * @param t - the tensor.
   * @returns `t`.
   */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName('registerParameter', name);
    t.requiresGrad = true;
    this.paramsByName.set(name, t);
    return t;
  }

  /**
   * Registers a buffer: state saved in the state dict but not trained (running statistics).
   *
   * @param name - the buffer's name.
   * @param t - the tensor.
   * @returns `t`.
   */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName('registerBuffer', name);
    this.buffersByName.set(name, t);
    return t;
  }

  /**
   * Registers a submodule under `name`; its parameters appear as `name.param`.
   *
   * @param name - the child's name ('0', 'encoder', ...).
   * @param m - the module.
   * @returns `m`.
   */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName('registerModule', name);
    if (!(m instanceof Module)) throw new ArgumentError(`registerModule: module '${name}' must be a Module, got ${describe(m)}`);
    this.children.set(name, m);
    return m;
  }

  /**
   * Direct submodules with their names.
   *
   * @example
   * ```ts
   * for (const [name, child] of model.namedChildren()) console.log(name);
   * ```
   */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /**
   * This module and all its descendants, with dotted names ('' for this one).
   *
   * @example
   * ```ts
   * model.namedModules().map(([n, m]) => `${n}: ${m.constructor.name}`);
   * ```
   */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const stack: [string, Module][] = [['', this]];
    while (stack.length > 0) {
      const [prefix, m] = stack.pop()!;
      out.push([prefix, m]);
      const kids = [...m.children];
      for (let i = kids.length - 1; i >= 0; i--) stack.push([prefix ? `${prefix}.${kids[i][0]}` : kids[i][0], kids[i][1]]);
    }
    return out;
  }

  /**
   * All parameters with dotted names, in registration order; a tensor shared by two layers
   * appears once.
   *
   * @example
   * ```ts
   * model.namedParameters(); // [['0.weight', Tensor], ['0.bias', Tensor], ...]
   * ```
   */
  namedParameters(): [string, Tensor][] {
    return this.collect((m) => m.paramsByName);
  }

  /**
   * All parameters, for an optimizer.
   *
   * @example
   * ```ts
   * new optim.SGD(model.parameters(), { lr: 0.1 });
   * ```
   */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /**
   * All buffers with dotted names ('1.runningMean', ...).
   *
   * @example
   * ```ts
   * model.namedBuffers();
   * ```
   */
  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.buffersByName);
  }

  /**
   * All buffers.
   *
   * @example
   * ```ts
   * model.buffers().length;
   * ```
   */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /**
   * Sets training mode on this module and every descendant.
   *
   * @param mode - true for training (default), false for evaluation.
   * @returns this module.
   * @example
   * ```ts
   * model.train();
   * ```
   */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /**
   * Sets evaluation mode (BatchNorm uses running statistics, Dropout is the identity).
   *
   * @returns this module.
   * @example
   * ```ts
   * const scores = noGrad(() => model.eval().forward(x));
   * ```
   */
  eval(): this {
    return this.train(false);
  }

  /**
   * Clears the gradients of all parameters (zeroed in place, or set to null).
   *
   * @param opts - setToNone (default false).
   * @example
   * ```ts
   * model.zeroGrad();
   * ```
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const p of this.parameters()) p.zeroGrad(opts);
  }

  /**
   * Parameters and buffers by dotted name. The tensors are the module's own (no copy): clone
   * them to keep a snapshot.
   *
   * @example
   * ```ts
   * const snapshot = new Map([...model.stateDict()].map(([k, t]) => [k, t.clone()]));
   * ```
   */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into the parameters and buffers by dotted name. Checks every key, shape
   * and dtype first; on any mismatch throws a StateDictError listing all missing, unexpected
   * and mismatched keys, and changes nothing.
   *
   * @param state - a Map or record of name -> Tensor (or `{ shape, data }`).
   * @throws StateDictError listing every problem.
   * @example
   * ```ts
   * model.loadStateDict(snapshot);
   * ```
   */
  loadStateDict(state: StateDictInput): void {
    const fn = 'loadStateDict';
    if (typeof state !== 'object' || state === null) {
      throw new ArgumentError(`${fn}: state must be a Map or record of name -> Tensor, got ${describe(state)}`);
    }
    const entries = state instanceof Map ? [...state] : Object.entries(state);
    const given = new Map(entries);
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const v = given.get(k);
      if (v === undefined) continue;
      const shape = (v as { shape?: unknown }).shape;
      const data = (v as { data?: unknown }).data;
      if (!Array.isArray(shape) || !(data instanceof Float64Array || data instanceof Float32Array)) {
        mismatched.push(`'${k}': expected a Tensor, got ${describe(v)}`);
      } else if (!shapesEqual(shape, t.shape) || data.length !== t.data.length) {
        mismatched.push(`'${k}': expected shape ${formatShape(t.shape)}, got ${formatShape(shape)}`);
      } else if ((data instanceof Float32Array) !== (t.data instanceof Float32Array)) {
        mismatched.push(`'${k}': expected dtype '${t.dtype}', got '${data instanceof Float32Array ? 'float32' : 'float64'}'`);
      }
    }
    if (missing.length + unexpected.length + mismatched.length > 0) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing keys [${missing.map((k) => `'${k}'`).join(', ')}]`);
      if (unexpected.length) parts.push(`unexpected keys [${unexpected.map((k) => `'${k}'`).join(', ')}]`);
      if (mismatched.length) parts.push(`mismatched ${mismatched.join('; ')}`);
      throw new StateDictError(`${fn}: the state must fit ${this.constructor.name}, got ${parts.join('; ')}; nothing was loaded`);
    }
    for (const [k, t] of own) t.data.set(given.get(k)!.data);
  }

  /**
   * The layer tree, the way PyTorch prints it.
   *
   * @example
   * ```ts
   * console.log(String(model));
   * // Sequential(
   * //   (0): Affine(inFeatures=784, outFeatures=256, bias=true)
   * //   (1): ReLU()
   * // )
   * ```
   */
  toString(): string {
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (this.children.size === 0) return `${head})`;
    const lines = [...this.children].map(([name, m]) => `  (${name}): ${String(m).split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }

  /** The layer's settings for toString, e.g. `inFeatures=784, outFeatures=256`. */
  protected extraRepr(): string {
    return '';
  }

  private collect(pick: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of pick(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([prefix ? `${prefix}.${name}` : name, t]);
      }
    }
    return out;
  }

  private checkName(fn: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ArgumentError(`${fn}: name must be a non-empty string without '.', got ${describe(name)}`);
    }
    if (this.paramsByName.has(name) || this.buffersByName.has(name) || this.children.has(name)) {
      throw new ArgumentError(`${fn}: name '${name}' is already registered on ${this.constructor.name}`);
    }
  }
}
