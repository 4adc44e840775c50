/**
 * Module: the base of every layer. A module's parameters, buffers and submodules are found
 * either from explicit registrations (`registerParameter`, `registerBuffer`, `registerModule`)
 * or, as in PyTorch, from its fields (`this.fc1 = new Affine(2, 8)`), so `parameters()`,
 * `train()/eval()`, `stateDict()` and `loadStateDict()` walk the tree by dotted name.
 *
 * @packageDocumentation
 */
import { dtypeOf, type DType, type FloatArray } from '../dtype';
import { ArgumentError, StateDictError, ValueError } from '../errors';
import { checkOptions, optionalBoolean } from '../options';
import { describe, formatShape, shapesEqual, sizeOf } from '../shape';
import { bumpVersion, Tensor } from '../tensor';

/** One tensor of a state dict as JSON holds it: `JSON.stringify` cannot write NaN or ±Infinity, so those are strings. */
export interface StateDictEntryJSON {
  /** The tensor's shape. */
  shape: number[];
  /** The tensor's dtype. */
  dtype: DType;
  /** The values, row-major; 'NaN', 'Infinity' and '-Infinity' stand for the non-finite ones. */
  data: (number | 'NaN' | 'Infinity' | '-Infinity')[];
}

/** What `JSON.stringify(model.stateDict())` writes: dotted name -> `{ shape, dtype, data }`. */
export type StateDictJSON = Record<string, StateDictEntryJSON>;

/**
 * A state dict: a Map from dotted name to the module's own tensor (no copy), in the order of
 * `namedParameters()` then `namedBuffers()`. `JSON.stringify` writes it as
 * {@link StateDictJSON}, which `loadStateDict` accepts back once parsed.
 *
 * @example
 * ```ts
 * const json = JSON.stringify(model.stateDict());
 * other.loadStateDict(JSON.parse(json));
 * ```
 */
export class StateDict extends Map<string, Tensor> {
  /**
   * Names whose values are integer counts that PyTorch keeps as int64 (BatchNorm's
   * `num_batches_tracked` in the PyTorch layout), held here as float64 tensors:
   * `io.writeSafetensors` writes these as I64 and `io.readSafetensors` lists the I64 tensors it
   * read. Empty in tapegrad's layout; add a name to have it written as I64.
   */
  readonly int64Keys: Set<string>;

  /**
   * @param entries - the name -> tensor pairs.
   * @param int64Keys - see {@link StateDict.int64Keys}. Default none.
   * @example
   * ```ts
   * const sd = new StateDict([['n', tensor(3)]], ['n']); // 'n' is written as I64
   * ```
   */
  constructor(entries?: Iterable<readonly [string, Tensor]> | null, int64Keys?: Iterable<string>) {
    super(entries);
    this.int64Keys = new Set(int64Keys ?? []);
  }

  /**
   * The state as plain JSON data: `{ name: { shape, dtype, data: number[] } }`. Every value is
   * written exactly (float32 values as the doubles they are); NaN and ±Infinity as strings.
   *
   * @example
   * ```ts
   * model.stateDict().toJSON()['0.bias']; // { shape: [64], dtype: 'float64', data: [0, 0, ...] }
   * ```
   */
  toJSON(): StateDictJSON {
    const out: StateDictJSON = {};
    for (const [name, t] of this) {
      const data: StateDictEntryJSON['data'] = new Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) {
        const v = t.data[i];
        data[i] = Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      }
      out[name] = { shape: [...t.shape], dtype: t.dtype, data };
    }
    return out;
  }
}

/**
 * One entry {@link Module.loadStateDict} accepts: a Tensor, any `{ shape, data }` with a typed
 * array, or a parsed {@link StateDictEntryJSON} (`data` a number array, `dtype` checked when given).
 */
export interface StateDictEntry {
  /** Must equal the target tensor's shape. */
  readonly shape: readonly number[];
  /** The values: a Float64Array/Float32Array (its type is the dtype) or numbers (and 'NaN', '±Infinity'). */
  readonly data: FloatArray | readonly (number | string)[];
  /** When given, must equal the target tensor's dtype. */
  readonly dtype?: DType;
}

/** What {@link Module.loadStateDict} accepts: a Map or a plain record of named entries. */
export type StateDictInput = ReadonlyMap<string, StateDictEntry> | Readonly<Record<string, StateDictEntry>>;

/**
 * Names and layouts of a state dict: tapegrad's own (`'tapegrad'`: Affine weight [in, out],
 * BatchNorm `runningMean`/`runningVar`) or PyTorch's (`'torch'`: what `state_dict()` of the
 * matching PyTorch modules holds, Linear weight [out, in], `running_mean`, `running_var`,
 * `num_batches_tracked`).
 */
export type StateDictLayout = 'tapegrad' | 'torch';

/** Options of {@link Module.stateDict}. */
export interface StateDictOptions {
  /** Names and layouts. Default 'tapegrad'. */
  layout?: StateDictLayout;
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Require the keys to match exactly (default true). With false, missing and unexpected keys
   * are returned instead of thrown; a wrong shape or dtype still throws.
   */
  strict?: boolean;
  /** Names and layouts of `state`. Default 'tapegrad'. */
  layout?: StateDictLayout;
}

/**
 * One tensor of a module's state in PyTorch's layout, as {@link Module.torchEntries} declares
 * it. Make them with {@link torchEntry} (same layout) or {@link torchTransposedEntry}.
 */
export interface TorchEntry {
  /** PyTorch's name, relative to the module ('weight', 'running_mean'). */
  readonly name: string;
  /** Shape in PyTorch's layout. */
  readonly shape: readonly number[];
  /** The values' dtype; undefined for an integer counter, which loads from either float dtype. */
  readonly dtype: DType | undefined;
  /** True for a count PyTorch keeps as int64 (`num_batches_tracked`): written as I64, loaded as a non-negative integer. */
  readonly int64: boolean;
  /** The tapegrad tensor behind it, if any: a tensor reachable under two names is listed once. */
  readonly source: Tensor | undefined;
  /** The values in PyTorch's layout: the module's own tensor when the layouts agree, else a fresh copy. */
  get(): Tensor;
  /** Stores values given in PyTorch's layout (shape and length already checked). */
  set(values: ArrayLike<number>): void;
}

/**
 * A {@link TorchEntry} whose PyTorch layout is tapegrad's: the tensor itself, under `name`.
 *
 * @param name - PyTorch's name ('running_mean').
 * @param t - the module's tensor.
 * @returns the entry.
 * @example
 * ```ts
 * protected override torchEntries() { return [torchEntry('scale', this.scale)]; }
 * ```
 */
export function torchEntry(name: string, t: Tensor): TorchEntry {
  return {
    name,
    shape: t.shape,
    dtype: t.dtype,
    int64: false,
    source: t,
    get: () => t,
    set: (values) => {
      t.data.set(values);
      bumpVersion(t);
    },
  };
}

/**
 * A {@link TorchEntry} for a 2-D tensor PyTorch stores transposed (tapegrad's Affine weight is
 * [in, out], PyTorch's Linear weight [out, in]).
 *
 * @param name - PyTorch's name ('weight').
 * @param t - the module's 2-D tensor.
 * @returns the entry; `get()` returns a transposed copy.
 * @example
 * ```ts
 * torchTransposedEntry('weight', this.weight); // [in, out] here, [out, in] in PyTorch
 * ```
 */
export function torchTransposedEntry(name: string, t: Tensor): TorchEntry {
  if (t.shape.length !== 2) throw new ArgumentError(`torchTransposedEntry: '${name}' must be 2-D, got shape ${formatShape(t.shape)}`);
  const [r, c] = t.shape;
  return {
    name,
    shape: [c, r],
    dtype: t.dtype,
    int64: false,
    source: t,
    get: () => {
      const out = t.dtype === 'float64' ? new Float64Array(r * c) : new Float32Array(r * c);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
      return new Tensor(out, [c, r]);
    },
    set: (values) => {
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t.data[i * c + j] = values[j * r + i];
      bumpVersion(t);
    },
  };
}

/** What {@link Module.loadStateDict} returns: the keys it could not match (empty when strict). */
export interface LoadStateDictResult {
  /** The module's keys the state did not have. */
  missingKeys: string[];
  /** The state's keys the module does not have. */
  unexpectedKeys: string[];
}

/** Options of {@link Module.zeroGrad}. */
export interface ModuleZeroGradOptions {
  /** Set each gradient to null instead of zeroing it in place. Default false. */
  setToNone?: boolean;
}

const SPECIAL_VALUES: ReadonlyMap<unknown, number> = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
]);

/**
 * Base class of all layers: subclasses hold their parameters and submodules, and implement
 * `forward`.
 *
 * How a module finds what it holds (as PyTorch does, with these rules):
 * - **Registered** entries (`registerParameter`, `registerBuffer`, `registerModule`) come first,
 *   in registration order, under their registered names.
 * - **Fields** come next, in the order `Object.keys` gives (the order they were first assigned:
 *   declaration order for class fields). They are read anew on every walk (`parameters()`,
 *   `stateDict()`, `train()`, `toString()`, ...), never cached, so a field assigned after the
 *   constructor, or reassigned to another module, is seen by the next walk. A field holding
 *   - a Module is a child named by the field (`fc1`, so `fc1.weight`);
 *   - an array of Modules gives a child per Module element, named `field.index` (`blocks.0.weight`);
 *     a plain object or a Map of Modules likewise gives `field.key`;
 *   - a Tensor is a parameter named by the field only when it is a leaf with
 *     `requiresGrad === true`. A tensor made by an op (an activation a forward keeps, like
 *     `this.last = x.mul(2)`) or one that does not require grad is neither a parameter nor a
 *     buffer: buffers are only ever registered (`registerBuffer`).
 *   Anything else (numbers, strings, tensors inside arrays, modules deeper inside objects) is
 *   not looked at, nor are `#private` fields or names containing '.'.
 * - An object is listed once: a field holding something already registered (or listed by an
 *   earlier field) on the same module is skipped, and a module or tensor reachable under two
 *   names in the tree appears once, under the first name met (parents before children).
 * - A field named like a registration must hold the registered object (or something that is
 *   neither a Module nor a Tensor): reassigning it to another Module or Tensor is an
 *   ArgumentError on the next walk, since a registration keeps the object it was given. Use
 *   fields alone for entries you mean to replace.
 *
 * The direct children of a module all come from one place, {@link Module.namedChildrenOwn},
 * which a subclass may override (nn.Sequential lists its layers as '0', '1', ...).
 *
 * @example
 * ```ts
 * class Net extends nn.Module {
 *   fc1 = new nn.Affine(2, 16);
 *   act = new nn.ReLU();
 *   fc2 = new nn.Affine(16, 2);
 *   forward(x: Tensor): Tensor { return this.fc2.forward(this.act.forward(this.fc1.forward(x))); }
 * }
 * new Net().namedParameters().map(([n]) => n); // ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
 * ```
 */
export abstract class Module {
  /** True in training mode (the default); false after `eval()`. */
  training = true;
  /**
   * What was registered explicitly. A non-enumerable own property (not a `#private` field),
   * so field discovery never sees it and a Proxy of a module still reaches it.
   */
  private declare readonly registry: { params: Map<string, Tensor>; buffers: Map<string, Tensor>; children: Map<string, Module> };

  constructor() {
    Object.defineProperty(this, 'registry', {
      value: { params: new Map<string, Tensor>(), buffers: new Map<string, Tensor>(), children: new Map<string, Module>() },
      enumerable: false,
      writable: false,
    });
  }

  /**
   * Runs the layer.
   *
   * @param x - input batch.
   */
  abstract forward(x: Tensor): Tensor;

  /**
   * Registers a trainable parameter under `name` (it is set to require grad). Not needed for
   * a leaf tensor with requiresGrad kept in a field, which is found by itself.
   *
   * @param name - the parameter's name, e.g. 'weight'.
   * @param t - the tensor.
   * @returns `t`.
   * @example
   * ```ts
   * readonly weight = this.registerParameter('weight', Tensor.ones([1]));
   * ```
   */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName('registerParameter', name);
    if (!(t instanceof Tensor)) throw new ArgumentError(`registerParameter: parameter '${name}' must be a Tensor, got ${describe(t)}`);
    t.requiresGrad = true;
    this.registry.params.set(name, t);
    return t;
  }

  /**
   * Registers a buffer: state saved in the state dict but not trained (running statistics).
   * Buffers are never found from fields: register them.
   *
   * @param name - the buffer's name.
   * @param t - the tensor.
   * @returns `t`.
   * @example
   * ```ts
   * readonly count = this.registerBuffer('count', Tensor.zeros([1]));
   * ```
   */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName('registerBuffer', name);
    if (!(t instanceof Tensor)) throw new ArgumentError(`registerBuffer: buffer '${name}' must be a Tensor, got ${describe(t)}`);
    this.registry.buffers.set(name, t);
    return t;
  }

  /**
   * Registers a submodule under `name`; its parameters appear as `name.param`. Not needed for
   * a module kept in a field, which is found by itself.
   *
   * @param name - the child's name ('0', 'encoder', ...).
   * @param m - the module.
   * @returns `m`.
   * @example
   * ```ts
   * this.registerModule('0', new Affine(2, 3));
   * ```
   */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName('registerModule', name);
    if (!(m instanceof Module)) throw new ArgumentError(`registerModule: module '${name}' must be a Module, got ${describe(m)}`);
    this.registry.children.set(name, m);
    return m;
  }

  /**
   * This module's direct children with their names: the one place every walk (namedChildren,
   * namedModules, parameters, buffers, stateDict, train/eval, zeroGrad, toString) gets them
   * from. The default lists the registered children in registration order, then the
   * children found in fields (see {@link Module}), each module once and never this module
   * itself.
   *
   * Contract for overrides: return fresh `[name, module]` pairs, computed at call time, with
   * distinct non-empty names ('.' only as the container separator, e.g. `blocks.0`), each
   * module at most once; the walkers prefix the names with the parent's path.
   *
   * @example
   * ```ts
   * class Pair extends Module {
   *   constructor(readonly a: Module, readonly b: Module) { super(); }
   *   protected override namedChildrenOwn(): [string, Module][] { return [['first', this.a], ['second', this.b]]; }
   *   forward(x: Tensor): Tensor { return this.b.forward(this.a.forward(x)); }
   * }
   * ```
   */
  protected namedChildrenOwn(): [string, Module][] {
    const out: [string, Module][] = [...this.registry.children];
    const seen = new Set<Module>([this, ...this.registry.children.values()]);
    const add = (name: string, v: unknown): void => {
      if (v instanceof Module && !seen.has(v)) {
        seen.add(v);
        out.push([name, v]);
      }
    };
    for (const [key, v] of this.fields()) {
      if (v instanceof Module) add(key, v);
      else if (Array.isArray(v)) v.forEach((m, i) => add(`${key}.${i}`, m));
      else if (v instanceof Map) {
        for (const [k, m] of v) if (typeof k === 'string' && k !== '' && !k.includes('.')) add(`${key}.${k}`, m);
      } else if (isPlainObject(v)) {
        for (const k of Object.keys(v)) if (!k.includes('.')) add(`${key}.${k}`, v[k]);
      }
    }
    return out;
  }

  /**
   * Direct submodules with their names (registered ones first, then fields).
   *
   * @example
   * ```ts
   * for (const [name, child] of model.namedChildren()) console.log(name);
   * ```
   */
  namedChildren(): [string, Module][] {
    return this.namedChildrenOwn();
  }

  /**
   * This module and all its descendants, with dotted names ('' for this one), parents before
   * children; a module reachable under two names appears once, under the first.
   *
   * @example
   * ```ts
   * model.namedModules().map(([n, m]) => `${n}: ${m.constructor.name}`);
   * ```
   */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const stack: [string, Module][] = [['', this]];
    while (stack.length > 0) {
      const [prefix, m] = stack.pop()!;
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([prefix, m]);
      const kids = m.namedChildrenOwn();
      for (let i = kids.length - 1; i >= 0; i--) stack.push([prefix ? `${prefix}.${kids[i][0]}` : kids[i][0], kids[i][1]]);
    }
    return out;
  }

  /**
   * All parameters with dotted names: each module's registered parameters then its parameter
   * fields, parents before children; a tensor shared by two layers appears once.
   *
   * @example
   * ```ts
   * model.namedParameters(); // [['0.weight', Tensor], ['0.bias', Tensor], ...]
   * ```
   */
  namedParameters(): [string, Tensor][] {
    return collect(this, (m) => m.ownParameters());
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
   * The number of parameter elements (the sum of `parameters()`' sizes; a tensor shared by two
   * layers is counted once), like `sum(p.numel() for p in model.parameters())`.
   *
   * @example
   * ```ts
   * new nn.Affine(784, 10).numParameters(); // 7850
   * ```
   */
  numParameters(): number {
    let n = 0;
    for (const t of this.parameters()) n += t.size;
    return n;
  }

  /**
   * All registered buffers with dotted names ('1.runningMean', ...).
   *
   * @example
   * ```ts
   * model.namedBuffers();
   * ```
   */
  namedBuffers(): [string, Tensor][] {
    return collect(this, (m) => m.registry.buffers);
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
   * @param mode - true for training (default), false for evaluation; must be a boolean.
   * @returns this module.
   * @throws ArgumentError when mode is not a boolean.
   * @example
   * ```ts
   * model.train();
   * ```
   */
  train(mode = true): this {
    const m = optionalBoolean('train', 'mode', mode, true);
    for (const [, sub] of this.namedModules()) sub.training = m;
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
   * @throws ArgumentError when opts is not an object or setToNone not a boolean; ValueError on an unknown option.
   * @example
   * ```ts
   * model.zeroGrad();
   * ```
   */
  zeroGrad(opts?: ModuleZeroGradOptions): void {
    const fn = 'zeroGrad';
    const o = checkOptions(fn, opts, ['setToNone']);
    const setToNone = optionalBoolean(fn, 'opts.setToNone', o.setToNone, false);
    for (const p of this.parameters()) p.zeroGrad({ setToNone });
  }

  /**
   * Parameters and buffers by dotted name. The tensors are the module's own (no copy): clone
   * them to keep a snapshot. `JSON.stringify` writes it as `{ name: { shape, dtype, data } }`.
   *
   * With `{ layout: 'torch' }`: the names and layouts PyTorch's `state_dict()` has for the
   * matching modules (nn.Sequential children '0', '1', ...; Affine as Linear, weight
   * [out, in]; BatchNorm1d's `running_mean`, `running_var` and `num_batches_tracked`, the last
   * a float64 scalar listed in `int64Keys` so `io.writeSafetensors` stores it as I64; custom
   * modules' fields by name; each layer's {@link Module.torchEntries}). Tensors whose layout is
   * tapegrad's are the module's own; transposed ones are copies.
   *
   * @param opts - layout: 'tapegrad' (default) or 'torch'.
   * @throws ArgumentError when opts is not an object; ValueError on an unknown option or layout.
   * @example
   * ```ts
   * const snapshot = new Map([...model.stateDict()].map(([k, t]) => [k, t.clone()]));
   * const json = JSON.stringify(model.stateDict());
   * io.writeSafetensors('model.safetensors', model.stateDict({ layout: 'torch' })); // loads in PyTorch
   * ```
   */
  stateDict(opts?: StateDictOptions): StateDict {
    const layout = checkLayout('stateDict', opts, []).layout;
    if (layout === 'torch') {
      const entries = this.torchStateEntries();
      return new StateDict(
        [...entries].map(([k, e]): [string, Tensor] => [k, e.get()]),
        [...entries].filter(([, e]) => e.int64).map(([k]) => k),
      );
    }
    return new StateDict([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * This module's own state in PyTorch's layout, names relative to the module: what
   * `stateDict({ layout: 'torch' })` and `loadStateDict(state, { layout: 'torch' })` use for it
   * (its children add their own). The default lists the parameters then the buffers under
   * their tapegrad names, unchanged, which is PyTorch's layout for a custom module whose
   * fields are named as PyTorch's. A layer whose PyTorch counterpart names or lays out its
   * tensors differently overrides this (Affine transposes its weight; BatchNorm1d renames its
   * buffers and adds `num_batches_tracked`).
   *
   * @returns the entries, in PyTorch's `state_dict()` order.
   * @example
   * ```ts
   * protected override torchEntries(): TorchEntry[] { return [torchTransposedEntry('weight', this.weight)]; }
   * ```
   */
  protected torchEntries(): TorchEntry[] {
    return [...this.ownParameters(), ...this.registry.buffers].map(([name, t]) => torchEntry(name, t));
  }

  /** Every module's torch entries by dotted name, parents before children, each source tensor once. */
  private torchStateEntries(): Map<string, TorchEntry> {
    const out = new Map<string, TorchEntry>();
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const e of m.torchEntries()) {
        if (e.source !== undefined) {
          if (seen.has(e.source)) continue;
          seen.add(e.source);
        }
        out.set(prefix ? `${prefix}.${e.name}` : e.name, e);
      }
    }
    return out;
  }

  /**
   * Copies values into the parameters and buffers by dotted name. Checks every key, shape
   * and dtype first; on any problem throws a StateDictError listing all missing, unexpected
   * and mismatched keys, and changes nothing. Each tensor written gets its version bumped, so
   * a backward through a graph that saved its old values throws.
   *
   * @param state - a Map or record of name -> Tensor, `{ shape, data }` with a typed array, or
   *   the parsed JSON of a state dict (`{ shape, dtype, data: number[] }`; dtype must match when given).
   * @param opts - strict (default true): with false, missing and unexpected keys are returned, not
   *   thrown; layout ('tapegrad' default, or 'torch' for PyTorch's names and layouts, see
   *   {@link Module.stateDict}; `num_batches_tracked` must then be a non-negative integer of
   *   either float dtype).
   * @returns the missing and unexpected keys (both empty when strict).
   * @throws StateDictError listing every problem; ArgumentError when state or opts is not an object.
   * @example
   * ```ts
   * model.loadStateDict(snapshot);
   * model.loadStateDict(JSON.parse(json));
   * model.loadStateDict(io.readSafetensors('pytorch.safetensors').tensors, { layout: 'torch' });
   * ```
   */
  loadStateDict(state: StateDictInput, opts?: LoadStateDictOptions): LoadStateDictResult {
    const fn = 'loadStateDict';
    if (typeof state !== 'object' || state === null || Array.isArray(state) || ArrayBuffer.isView(state)) {
      throw new ArgumentError(`${fn}: state must be a Map or record of name -> Tensor, got ${describe(state)}`);
    }
    const o = checkLayout(fn, opts, ['strict']);
    const strict = optionalBoolean(fn, 'opts.strict', o.strict, true);
    const given = new Map<string, unknown>(state instanceof Map ? [...(state as ReadonlyMap<string, unknown>)] : Object.entries(state));
    const own: Map<string, TorchEntry> =
      o.layout === 'torch'
        ? this.torchStateEntries()
        : new Map([...this.stateDict()].map(([k, t]): [string, TorchEntry] => [k, torchEntry(k, t)]));
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    const writes: [TorchEntry, ArrayLike<number>][] = [];
    for (const [k, e] of own) {
      if (!given.has(k)) continue;
      const problem = entryProblem(given.get(k), e);
      if (typeof problem === 'string') mismatched.push(`'${k}': ${problem}`);
      else writes.push([e, problem]);
    }
    if ((strict && missing.length + unexpected.length > 0) || mismatched.length > 0) {
      const parts: string[] = [];
      if (strict && missing.length) parts.push(`missing keys [${missing.map((k) => `'${k}'`).join(', ')}]`);
      if (strict && unexpected.length) parts.push(`unexpected keys [${unexpected.map((k) => `'${k}'`).join(', ')}]`);
      if (mismatched.length) parts.push(`mismatched ${mismatched.join('; ')}`);
      throw new StateDictError(`${fn}: the state must fit ${this.constructor.name}, got ${parts.join('; ')}; nothing was loaded`);
    }
    for (const [e, values] of writes) e.set(values);
    return { missingKeys: strict ? [] : missing, unexpectedKeys: strict ? [] : unexpected };
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
    return this.repr(new Set());
  }

  /** The layer's settings for toString, e.g. `inFeatures=784, outFeatures=256`. */
  protected extraRepr(): string {
    return '';
  }

  /** toString with the modules on the current path, so a field pointing back up prints once. */
  private repr(path: Set<Module>): string {
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    const kids = this.namedChildrenOwn();
    if (kids.length === 0 || path.has(this)) return `${head})`;
    path.add(this);
    const lines = kids.map(([name, m]) => `  (${name}): ${m.repr(path).split('\n').join('\n  ')}`);
    path.delete(this);
    return `${head}\n${lines.join('\n')}\n)`;
  }

  /** This module's own parameters: registered ones, then leaf tensors with requiresGrad in fields. */
  private ownParameters(): Map<string, Tensor> {
    const out = new Map(this.registry.params);
    const taken = new Set<Tensor>([...this.registry.params.values(), ...this.registry.buffers.values()]);
    for (const [key, v] of this.fields()) {
      if (v instanceof Tensor && !taken.has(v) && v.requiresGrad === true && v.isLeaf) {
        taken.add(v);
        out.set(key, v);
      }
    }
    return out;
  }

  /**
   * The own enumerable fields that may hold a Module or Tensor, minus names containing '.'.
   * A field named like a registration is left out; it must hold the registered object.
   */
  private fields(): [string, unknown][] {
    const out: [string, unknown][] = [];
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(this)) {
      if (key.includes('.')) continue;
      const v = self[key];
      if (typeof v !== 'object' || v === null) continue;
      const registered = this.registry.params.get(key) ?? this.registry.buffers.get(key) ?? this.registry.children.get(key);
      if (registered !== undefined) {
        if ((v instanceof Module || v instanceof Tensor) && v !== registered) {
          throw new ArgumentError(
            `${this.constructor.name}: field '${key}' holds ${describe(v)} but '${key}' is registered as another ${describe(registered)}; ` +
              'a registration keeps the object it was given, so keep such a field unregistered (it is found by itself) to reassign it',
          );
        }
        continue;
      }
      out.push([key, v]);
    }
    return out;
  }

  private checkName(fn: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ArgumentError(`${fn}: name must be a non-empty string without '.', got ${describe(name)}`);
    }
    if (this.registry.params.has(name) || this.registry.buffers.has(name) || this.registry.children.has(name)) {
      throw new ArgumentError(`${fn}: name '${name}' is already registered on ${this.constructor.name}`);
    }
  }
}

/** Every module's own tensors with dotted names, each tensor once (first name met wins). */
function collect(root: Module, pick: (m: Module) => ReadonlyMap<string, Tensor>): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const seen = new Set<Tensor>();
  for (const [prefix, m] of root.namedModules()) {
    for (const [name, t] of pick(m)) {
      if (seen.has(t)) continue;
      seen.add(t);
      out.push([prefix ? `${prefix}.${name}` : name, t]);
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * What is wrong with loading `v` into `t` (a message), or the values to write.
 */
function entryProblem(v: unknown, t: TorchEntry): string | ArrayLike<number> {
  const shape = (v as { shape?: unknown } | null)?.shape;
  const data = (v as { data?: unknown } | null)?.data;
  const dtype = (v as { dtype?: unknown } | null)?.dtype;
  const typed = data instanceof Float64Array || data instanceof Float32Array;
  if (typeof v !== 'object' || v === null || !Array.isArray(shape) || !(typed || Array.isArray(data))) {
    return `expected a Tensor or { shape, data }, got ${describe(v)}`;
  }
  const size = sizeOf(t.shape);
  if (!shapesEqual(shape, t.shape) || (data as ArrayLike<number>).length !== size) {
    const got = shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) ? formatShape(shape as number[]) : describe(shape);
    const len = shapesEqual(shape, t.shape) ? ` with ${(data as ArrayLike<number>).length} values (needs ${size})` : '';
    return `expected shape ${formatShape(t.shape)}, got ${got}${len}`;
  }
  const want = t.dtype ?? 'float64 or float32';
  if (dtype !== undefined && dtype !== 'float64' && dtype !== 'float32') return `expected dtype '${want}', got ${describe(dtype)}`;
  const given = typed ? dtypeOf(data) : (dtype as DType | undefined);
  if (typed && dtype !== undefined && dtype !== given) return `dtype '${String(dtype)}' does not match its data, a ${describe(data)}`;
  if (given !== undefined && t.dtype !== undefined && given !== t.dtype) return `expected dtype '${t.dtype}', got '${given}'`;
  let values: ArrayLike<number>;
  if (typed) values = data;
  else {
    const out = new Float64Array(size);
    const arr = data as readonly unknown[];
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i];
      if (typeof x === 'number') out[i] = x;
      else if (SPECIAL_VALUES.has(x)) out[i] = SPECIAL_VALUES.get(x)!;
      else return `data[${i}] must be a number (or 'NaN', 'Infinity', '-Infinity'), got ${describe(x)}`;
    }
    values = out;
  }
  if (t.int64) {
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (!Number.isSafeInteger(x) || x < 0) return `expected a count (a non-negative integer), got ${x}`;
    }
  }
  return values;
}

/** Checks a stateDict/loadStateDict options object and its layout. */
function checkLayout(fn: string, opts: unknown, keys: readonly string[]): { layout: StateDictLayout; strict?: unknown } {
  const o = checkOptions(fn, opts, [...keys, 'layout']);
  const layout = o.layout ?? 'tapegrad';
  if (layout !== 'tapegrad' && layout !== 'torch') {
    throw new ValueError(`${fn}: opts.layout must be 'tapegrad' or 'torch', got ${describe(layout)}`);
  }
  return { ...o, layout };
}
