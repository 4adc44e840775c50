/**
 * The tape: each differentiable op attaches a {@link Node} to its output, naming its inputs
 * and a backward rule; {@link runBackward} sorts the graph without recursion, walks it in
 * reverse, accumulates gradients, and frees every node it has passed.
 *
 * @packageDocumentation
 */
import { allocateUninit, dtypeOf, recycle, type FloatArray } from '../dtype';
import { AnomalyError, GradError } from '../errors';
import { useSimd } from '../kernels/backend';
import { simdAddInto } from '../kernels/simd';
import { formatShape } from '../shape';
import { bumpVersion, Tensor, tensorVersion } from '../tensor';
import { currentModule, isAnomalyEnabled, isGradEnabled, noGrad } from './mode';

/**
 * A backward rule: given the gradient of the op's output, return one gradient per input
 * (null where the input needs none). A returned array must be freshly allocated or `grad`
 * itself; the engine copies where one array would otherwise be shared.
 */
export type BackwardFn = (grad: FloatArray) => ReadonlyArray<FloatArray | null>;

/**
 * A differentiable backward rule: the same gradients as the op's {@link BackwardFn}, computed
 * with tapegrad's ops on Tensors, so that with `createGraph` they are recorded on the tape and
 * can be differentiated again. `g` is the gradient of the op's output.
 */
export type GraphRule = (g: Tensor) => ReadonlyArray<Tensor | null>;

/** One recorded op: its name, its inputs, how to send gradients back to them. */
export interface Node {
  /** The op's name, for errors: `'matmul'`, `'batchnorm'`. */
  readonly op: string;
  /** The op's tensor inputs, in the order `backward` returns their gradients. */
  readonly inputs: readonly Tensor[];
  /** The backward rule. */
  readonly backward: BackwardFn;
  /** The module whose forward ran the op, when known. */
  readonly module: string | undefined;
  /** Kernel scratch only this node's backward reads, recycled once the node is freed. */
  readonly scratch: readonly FloatArray[] | undefined;
  /** The rule is user code: its gradient in and its arrays out are never recycled. */
  readonly external: boolean;
  /** The version of each input, then of the output, when the op ran. */
  readonly versions: readonly number[];
  /** In anomaly mode, a checksum of each input's and the output's values when the op ran. */
  readonly sums: readonly number[] | undefined;
  /** The differentiable rule for `createGraph` (see {@link withGraphRule}); none for ops that cannot be differentiated twice. */
  graph?: GraphRule;
}

/**
 * Gives the node that made `out` a differentiable backward rule, used when gradients are
 * themselves recorded (`backward(..., { createGraph: true })`, `autograd.grad` with
 * `createGraph`). Without one, such a backward throws a GradError naming the op.
 *
 * @param out - an op's output, as `record` returned it.
 * @param rule - the gradients of the op's inputs from the output's gradient, with Tensor ops.
 * @returns `out`.
 * @example
 * ```ts
 * return withGraphRule(record(out, 'neg', [x], (g) => [negated(g)]), (g) => [g.neg()]);
 * ```
 */
export function withGraphRule(out: Tensor, rule: GraphRule): Tensor {
  if (out._node !== null) out._node.graph = rule;
  return out;
}

/**
 * Makes `out` the result of op `op` over `inputs`: when grad mode is on and any input requires
 * grad, `out` requires grad and carries a node with the backward rule. The node remembers the
 * {@link Tensor.version} of every input and of `out`, so that backward can refuse to use values
 * changed in place since. Checks the output for NaN/Inf when anomaly detection is on.
 *
 * @param out - the op's freshly made output.
 * @param op - the op's name.
 * @param inputs - the op's tensor inputs.
 * @param backward - the rule, called at most once per backward pass unless retainGraph.
 * @param scratch - arrays only `backward` reads (never the output's data), recycled when the node is freed.
 * @param external - the rule is user code (see `defineOp`): the gradient it is given and the
 *   arrays it returns are the user's, so the walk never recycles them (it copies what it keeps).
 *   Default false.
 * @returns `out`.
 * @example
 * ```ts
 * return record(out, 'neg', [x], (g) => [negate(g)]);
 * ```
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: BackwardFn,
  scratch?: readonly FloatArray[],
  external = false,
): Tensor {
  const anomaly = isAnomalyEnabled();
  if (anomaly) checkFinite(out.data, `${op}${where(currentModule())}: forward output`, out.shape);
  if (!isGradEnabled()) return out;
  let needs = false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) needs = true;
  if (!needs) return out;
  const n = inputs.length;
  const versions = new Array<number>(n + 1);
  for (let i = 0; i < n; i++) versions[i] = tensorVersion(inputs[i]);
  versions[n] = tensorVersion(out);
  let sums: number[] | undefined;
  if (anomaly) {
    sums = new Array<number>(n + 1);
    for (let i = 0; i < n; i++) sums[i] = checksum(inputs[i].data);
    sums[n] = checksum(out.data);
  }
  out.requiresGrad = true;
  // graph is set by withGraphRule; listed here so every node has one hidden class.
  out._node = { op, inputs, backward, module: currentModule(), scratch, external, versions, sums, graph: undefined };
  return out;
}

let epoch = 0;

/**
 * Back-propagates from `root`, seeded with `seed` (same size as root), into every leaf that
 * requires grad: reverse topological order from an iterative depth-first sort, so graphs of
 * any depth work. Unless `retainGraph`, every node passed is released, so the tape does not
 * grow across training steps.
 *
 * Memory (the one ownership rule, see {@link releaseDead}): the walk recycles only arrays
 * that no user code can reach.
 *
 * @param root - where the walk starts (usually a scalar loss).
 * @param seed - d(something)/d(root), owned by the engine from here on.
 * @param retainGraph - keep the nodes so backward can run through the graph again. Default false.
 * @throws GradError when a tensor a node saved was changed in place after the forward pass
 *   (its version moved), naming the op, the tensor and both versions; AnomalyError (in
 *   anomaly mode) when its values changed without a version bump.
 * @example
 * ```ts
 * runBackward(loss, Float64Array.of(1), false);
 * ```
 */
export function runBackward(root: Tensor, seed: FloatArray, retainGraph = false): void {
  const order = topoOrder([root]);
  // Check every saved tensor before any rule runs, so a stale graph changes nothing.
  const anomaly = isAnomalyEnabled();
  for (const t of order) if (t._node !== null) checkSaved(t, t._node, anomaly);

  try {
    walk(order, root, seed, retainGraph, anomaly);
  } catch (e) {
    // An aborted walk (anomaly detection, a throwing backward rule) must not leave partial
    // gradients behind for the next backward() to add to.
    for (const t of order) t._gradBuf = null;
    throw e;
  }
  if (!retainGraph) releaseDead(order, root);
}

/**
 * The nodes reachable from `roots` through inputs that require grad, inputs before the
 * tensors made from them (an iterative depth-first sort: graphs of any depth work).
 */
function topoOrder(roots: readonly Tensor[]): Tensor[] {
  const mark = ++epoch;
  const order: Tensor[] = [];
  for (const root of roots) {
    if (root._mark === mark) continue;
    if (root._freed) throw freedError(root, 'backward');
    root._mark = mark;
    const stack: Tensor[] = [root];
    const next: number[] = [0];
    while (stack.length > 0) {
      const top = stack.length - 1;
      const t = stack[top];
      const node = t._node;
      const i = next[top];
      if (node !== null && i < node.inputs.length) {
        next[top] = i + 1;
        const input = node.inputs[i];
        if (input.requiresGrad && input._mark !== mark) {
          if (input._freed) throw freedError(input, node.op);
          input._mark = mark;
          stack.push(input);
          next.push(0);
        }
      } else {
        stack.pop();
        next.pop();
        order.push(t);
      }
      }
  }
  return order;
}

/** What {@link runTensorBackward} does with the gradients that reach leaves. */
export interface TensorWalk {
  /** Record the gradient computation itself (differentiable gradients). */
  createGraph: boolean;
  /** Keep the nodes for another backward pass. */
  retainGraph: boolean;
  /**
   * Tensors whose total gradient to return (autograd.grad); leaves' `grad` is then left alone.
   * Without it, gradients accumulate into every leaf's `grad`, as backward() does.
   */
  capture?: readonly Tensor[];
}

/**
 * The backward walk on Tensors, for `createGraph` and `autograd.grad`: gradients are Tensors,
 * summed with `add`, so that with `createGraph` every step of the gradient computation is
 * recorded (each node's {@link GraphRule}) and can be differentiated again. Nothing is
 * recycled: the gradients may reference any tensor of the graph. Without `createGraph`, each
 * node's plain rule runs on the arrays and its results are wrapped (no recording).
 *
 * @param roots - the outputs.
 * @param seeds - d(objective)/d(root) for each root, of its shape and dtype.
 * @param opts - see {@link TensorWalk}.
 * @returns the captured gradients (null where none arrived), or [] without `capture`.
 * @throws GradError when createGraph meets an op with no differentiable rule, or a saved tensor changed.
 * @example
 * ```ts
 * const [dx] = runTensorBackward([y], [Tensor.ones(y.shape)], { createGraph: true, retainGraph: true, capture: [x] });
 * ```
 */
export function runTensorBackward(roots: readonly Tensor[], seeds: readonly Tensor[], opts: TensorWalk): (Tensor | null)[] {
  const order = topoOrder(roots);
  const anomaly = isAnomalyEnabled();
  for (const t of order) if (t._node !== null) checkSaved(t, t._node, anomaly);
  const capture = opts.capture;
  const captured = new Map<Tensor, Tensor>();
  const grads = new Map<Tensor, Tensor>();
  const addGrad = (t: Tensor, g: Tensor): void => {
    const prev = grads.get(t);
    grads.set(t, prev === undefined ? g : prev.add(g));
  };
  roots.forEach((r, i) => addGrad(r, seeds[i]));
  const run = (): void => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      if (capture !== undefined && capture.includes(t)) captured.set(t, g);
      const node = t._node;
      if (node === null) {
        if (capture === undefined) accumulateLeafTensor(t, g, anomaly);
        continue;
      }
      let ins: ReadonlyArray<Tensor | null>;
      if (opts.createGraph) {
        if (node.graph === undefined) {
          throw new GradError(
            `backward: '${node.op}'${where(node.module)} has no differentiable backward rule, so its gradient cannot be ` +
              `recorded for a second derivative (createGraph: true); ${node.external ? 'an op made with defineOp is differentiated once' : 'this op supports first derivatives only'}`,
          );
        }
        ins = node.graph(g);
      } else {
        const arrays = node.backward(g.data);
        ins = node.inputs.map((input, j) => {
          const a = arrays[j];
          return a === null || a === undefined ? null : new Tensor(node.external ? a.slice() : a, input.shape);
        });
      }
      for (let j = 0; j < node.inputs.length; j++) {
        const input = node.inputs[j];
        const gj = ins[j];
        if (gj === null || gj === undefined || !input.requiresGrad) continue;
        if (anomaly) checkFinite(gj.data, `${node.op}${where(node.module)}: backward gradient for input ${j}`, input.shape);
        addGrad(input, gj);
      }
      if (!opts.retainGraph) {
        t._node = null;
        t._freed = true;
      }
    }
  };
  if (opts.createGraph) run();
  else noGrad(run);
  return capture === undefined ? [] : capture.map((t) => captured.get(t) ?? null);
}

/** A leaf's gradient in the Tensor walk: a copy (recorded when creating a graph), summed into any old one. */
function accumulateLeafTensor(t: Tensor, g: Tensor, anomaly: boolean): void {
  // A copy: g may be shared with another leaf or be a view of another gradient, and a later
  // plain backward() adds into a leaf's grad in place.
  const own = g.mul(1);
  t.grad = t.grad === null ? own : t.grad.add(own);
  if (anomaly) checkFinite(t.grad.data, `backward: the accumulated gradient of a leaf ${formatShape(t.shape)} tensor`, t.shape);
}

/**
 * THE ownership rule of tapegrad's memory, in one place: an array goes back to the pool only
 * when the library can prove that no user code can reach it. Exactly three kinds qualify:
 *
 * 1. gradients flowing between nodes during a walk, which user code never sees unless a
 *    user-written rule receives them (`external` nodes: their gradients are never recycled
 *    and what they return is copied before the walk keeps it);
 * 2. a library op's `scratch`, which only its own backward rule reads;
 * 3. the data of an intermediate tensor marked `_graphOnly`, which only `nn.Sequential` does,
 *    for an output that one of the library's own forward functions made and another one
 *    consumed, with no user code called in between (see `sealIntermediate` in nn/layers.ts).
 *
 * Kinds 1 and 2 are recycled by {@link walk} as it frees each node; kind 3 here, once the
 * walk has freed the node that made the tensor and the node that read it.
 */
function releaseDead(order: readonly Tensor[], root: Tensor): void {
  for (const t of order) if (t._graphOnly && t._freed && t !== root) recycle(t.data);
}

/** The reverse walk over a topological order: gradients flow from `root` to the leaves. */
function walk(order: readonly Tensor[], root: Tensor, seed: FloatArray, retainGraph: boolean, anomaly: boolean): void {
  root._gradBuf = seed;
  const handed: FloatArray[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = t._gradBuf;
    t._gradBuf = null;
    const node = t._node;
    if (g === null) continue;
    if (node === null) {
      accumulateLeaf(t, g, anomaly);
      continue;
    }
    const grads = node.backward(g);
    handed.length = 0;
    for (let j = 0; j < node.inputs.length; j++) {
      const input = node.inputs[j];
      let gj = grads[j];
      if (gj === null || gj === undefined || !input.requiresGrad) continue;
      if (anomaly) checkFinite(gj, `${node.op}${where(node.module)}: backward gradient for input ${j}`, input.shape);
      if (input._gradBuf === null) {
        // The input takes the array over, unless someone else may still hold it: a user's rule
        // owns what it returns (and saw g), and an array given to an earlier input is taken.
        if (node.external || handed.includes(gj)) gj = copyOf(gj);
        handed.push(gj);
        input._gradBuf = gj;
      } else {
        addInto(input._gradBuf, gj);
      }
    }
    if (!node.external) {
      // g and every array the rule returned are dead now, unless an input took one over.
      // Each array is recycled once, after all inputs have been served.
      if (!handed.includes(g)) recycle(g);
      for (let j = 0; j < grads.length; j++) {
        const a = grads[j];
        if (a !== null && a !== undefined && a !== g && !handed.includes(a) && grads.indexOf(a) === j) recycle(a);
      }
    }
    if (!retainGraph) {
      t._node = null;
      t._freed = true;
      if (node.scratch !== undefined) for (const a of node.scratch) recycle(a);
    }
  }
}

function copyOf(a: FloatArray): FloatArray {
  const c = allocateUninit(dtypeOf(a), a.length);
  c.set(a);
  return c;
}

/** Refuses to run a node whose saved tensors changed since the forward pass. */
function checkSaved(t: Tensor, node: Node, anomaly: boolean): void {
  const n = node.inputs.length;
  for (let i = 0; i <= n; i++) {
    const s = i < n ? node.inputs[i] : t;
    const now = tensorVersion(s);
    if (now !== node.versions[i]) {
      throw new GradError(
        `backward: ${describeSaved(node, i, s)} was changed in place after the forward pass ` +
          `(saved at version ${node.versions[i]}, now version ${now}; an optimizer step, loadStateDict, ` +
          `loadCheckpoint or an in-place op such as copy_/fill_ changed it); the gradient would mix old and new ` +
          `values: recompute the forward pass after the change, or backward before it`,
      );
    }
    if (anomaly && node.sums !== undefined && checksum(s.data) !== node.sums[i]) {
      throw new AnomalyError(
        `backward: ${describeSaved(node, i, s)} changed after the forward pass without a version bump ` +
          `(its values were written by hand, e.g. into .data); its saved values are gone, so the gradient would be wrong`,
      );
    }
  }
}

function describeSaved(node: Node, i: number, s: Tensor): string {
  const role = i < node.inputs.length ? `input ${i}` : 'the output';
  const kind = s._node === null && !s._freed ? (s.requiresGrad ? 'leaf (a parameter?) ' : 'leaf ') : '';
  return `${role} of '${node.op}'${where(node.module)}, a ${kind}${formatShape(s.shape)} ${dtypeOf(s.data)} tensor,`;
}

/**
 * A cheap fingerprint of an array's bits, for anomaly mode's check that saved values did not
 * change behind the version counter's back.
 */
function checksum(data: FloatArray): number {
  const words = new Int32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h;
}

/** Adds g into a leaf's grad (g becomes the grad when there is none: the user holds it from then on). */
function accumulateLeaf(t: Tensor, g: FloatArray, anomaly: boolean): void {
  if (t.grad === null) {
    t.grad = new Tensor(g, t.shape);
    return;
  }
  const acc = t.grad.data;
  addInto(acc, g);
  recycle(g);
  bumpVersion(t.grad);
  if (anomaly) checkFinite(acc, `backward: the accumulated gradient of a leaf ${formatShape(t.shape)} tensor`, t.shape);
}

/**
 * acc += g, elementwise. Large arrays go through the SIMD module (bit-identical: one IEEE add
 * per element): a JS loop over a typed array that sees both dtypes runs at 2-8 ns per element
 * here, the copy-in, add, copy-out at 0.6-1.6 (measured with 1k-400k elements).
 */
function addInto(acc: FloatArray, g: FloatArray): void {
  if (useSimd(acc.length)) {
    simdAddInto(acc, g);
    return;
  }
  for (let i = 0; i < acc.length; i++) acc[i] += g[i];
}

function where(module: string | undefined): string {
  return module === undefined ? '' : ` (in ${module})`;
}

function freedError(t: Tensor, consumer: string): GradError {
  return new GradError(
    `backward: a ${formatShape(t.shape)} input of '${consumer}' comes from a graph whose nodes were freed by an ` +
      `earlier backward(); recompute it, or pass { retainGraph: true } to the first backward()`,
  );
}

/**
 * Throws an AnomalyError if `data` holds NaN or ±Infinity.
 *
 * @param data - the array to scan.
 * @param what - where it came from, for the message.
 * @param shape - its shape, for the message.
 * @example
 * ```ts
 * checkFinite(out.data, 'exp: forward output', out.shape);
 * ```
 */
export function checkFinite(data: FloatArray, what: string, shape: readonly number[]): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      throw new AnomalyError(`${what} has ${String(v)} at flat index ${i} of shape ${formatShape(shape)}`);
    }
  }
}
