/**
 * Optimizers and learning-rate schedules. Optimizers update parameters in place from their
 * gradients; schedules set an optimizer's `lr` once per epoch.
 *
 * @example
 * ```ts
 * import { optim } from 'tapegrad';
 * const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * const sched = new optim.CosineAnnealingLR(opt, { tMax: epochs });
 * for (let epoch = 0; epoch < epochs; epoch++) {
 *   for (const [x, y] of batches) { opt.zeroGrad(); loss(x, y).backward(); opt.step(); }
 *   sched.step();
 * }
 * ```
 *
 * @packageDocumentation
 */
export {
  Optimizer,
  type OptimizerState,
  type ZeroGradOptions,
  type HyperParams,
  type HyperValue,
  type HyperSpec,
  type HyperRule,
} from './optimizer';
export { SGD, type SGDOptions, type SGDHyper } from './sgd';
export { Adam, type AdamOptions, type AdamHyper } from './adam';
export { RMSProp, type RMSPropOptions, type RMSPropHyper } from './rmsprop';
export {
  LRScheduler,
  StepLR,
  ExponentialLR,
  CosineAnnealingLR,
  LinearLR,
  ReduceLROnPlateau,
  type SchedulerState,
  type LinearLROptions,
  type ReduceLROnPlateauOptions,
  type ReduceLROnPlateauState,
  type StepLROptions,
  type ExponentialLROptions,
  type CosineAnnealingLROptions,
} from './lr_scheduler';
