/**
 * The tape: each differentiable op attaches a {@link Node} to its output, naming its inputs
 * and a backward rule; {@link runBackward} sorts the graph without recursion, walks it in
 * reverse, accumulates gradients, and frees every node it has passed.
 *
 * @packageDocumentation
 */
import { recycle, type FloatArray } from '../dtype';
import { AnomalyError, GradError } from '../errors';
import { useSimd } from '../kernels/backend';
import { simdAddInto } from '../kernels/simd';
import { formatShape } from '../shape';
import { Tensor } from '../tensor';
import { currentModule, isAnomalyEnabled, isGradEnabled } from './mode';

/**
 * A backward rule: given the gradient of the op's output, return one gradient per input
 * (null where the input needs none). A returned array must be freshly allocated or `grad`
 * itself; the engine copies where one array would otherwise be shared.
 */
export type BackwardFn = (grad: FloatArray) => ReadonlyArray<FloatArray | null>;

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
}

/**
 * Makes `out` the result of op `op` over `inputs`: when grad mode is on and any input requires
 * grad, `out` requires grad and carries a node with the backward rule. Checks the output for
 * NaN/Inf when anomaly detection is on.
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
  if (isAnomalyEnabled()) checkFinite(out.data, `${op}${where(currentModule())}: forward output`, out.shape);
  if (!isGradEnabled()) return out;
  let needs = false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) needs = true;
  if (!needs) return out;
  out.requiresGrad = true;
  out._node = { op, inputs, backward, module: currentModule(), scratch, external };
  return out;
}

let epoch = 0;

/**
 * Back-propagates from `root`, seeded with `seed` (same size as root), into every leaf that
 * requires grad: reverse topological order from an iterative depth-first sort, so graphs of
 * any depth work. Unless `retainGraph`, every node passed is released, so the tape does not
 * grow across training steps.
 *
 * @param root - where the walk starts (usually a scalar loss).
 * @param seed - d(something)/d(root), owned by the engine from here on.
 * @param retainGraph - keep the nodes so backward can run through the graph again. Default false.
 * @param releaseActivations - recycle the data of every intermediate tensor of the graph (not
 *   the root's, not any leaf's) once the walk is done: the caller promises nothing reads them.
 *   Default false.
 * @example
 * ```ts
 * runBackward(loss, Float64Array.of(1), false);
 * ```
 */
export function runBackward(root: Tensor, seed: FloatArray, retainGraph = false, releaseActivations = false): void {
  const mark = ++epoch;
  const order: Tensor[] = [];
  const stack: Tensor[] = [root];
  const next: number[] = [0];
  root._mark = mark;
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

  try {
    walk(order, root, seed, retainGraph);
  } catch (e) {
    // An aborted walk (anomaly detection, a throwing backward rule) must not leave partial
    // gradients behind for the next backward() to add to.
    for (const t of order) t._gradBuf = null;
    throw e;
  }
  if (retainGraph) return;
  if (releaseActivations) {
    // Intermediates may share data with a leaf or the root (reshape makes views): keep those.
    const kept = new Set<FloatArray>([root.data]);
    for (const t of order) if (!t._freed) kept.add(t.data); // leaves: never freed
    for (const t of order) if (t._freed && !kept.has(t.data)) recycle(t.data);
  } else {
    // Intermediates nothing outside the graph can reach (see nn.Sequential): dead now.
    for (const t of order) if (t._graphOnly && t._freed && t !== root) recycle(t.data);
  }
}

/** The reverse walk over a topological order: gradients flow from `root` to the leaves. */
function walk(order: readonly Tensor[], root: Tensor, seed: FloatArray, retainGraph: boolean): void {
  const anomaly = isAnomalyEnabled();
  root._gradBuf = seed;
  const handed: FloatArray[] = [];
  const unused: FloatArray[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = t._gradBuf;
    t._gradBuf = null;
    const node = t._node;
    if (g === null) continue;
    if (node === null) {
      accumulateLeaf(t, g);
      continue;
    }
    const grads = node.backward(g);
    handed.length = 0;
    for (let j = 0; j < node.inputs.length; j++) {
      const input = node.inputs[j];
      let gj = grads[j];
      if (gj === null || gj === undefined) continue;
      if (!input.requiresGrad) {
        unused.push(gj); // computed but not wanted (an input that needs no grad)
        continue;
      }
      if (anomaly) checkFinite(gj, `${node.op}${where(node.module)}: backward gradient for input ${j}`, input.shape);
      if (input._gradBuf === null) {
        // Take ownership of gj, unless this node already gave the same array to another input.
        if (handed.includes(gj)) gj = gj.slice();
        handed.push(gj);
        input._gradBuf = gj;
      } else {
        addInto(input._gradBuf, gj);
        if (gj !== g && !handed.includes(gj)) recycle(gj);
      }
    }
    // g and unwanted gradients were consumed: unless an input took one over, nothing can reach it.
    if (!handed.includes(g)) recycle(g);
    for (const a of unused) if (a !== g && !handed.includes(a)) recycle(a);
    unused.length = 0;
    if (!retainGraph) {
      t._node = null;
      t._freed = true;
      if (node.scratch !== undefined) for (const a of node.scratch) recycle(a);
    }
  }
}

function accumulateLeaf(t: Tensor, g: FloatArray): void {
  if (t.grad === null) {
    t.grad = new Tensor(g, t.shape);
  } else {
    addInto(t.grad.data, g);
    recycle(g);
  }
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
