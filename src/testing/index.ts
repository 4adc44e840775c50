/**
 * `tapegrad/testing`: the property-based gradient testing tools tapegrad's own tests use.
 * Needs fast-check installed (a peer dependency).
 *
 * @packageDocumentation
 */
export {
  shapeArb,
  valuesArb,
  tensorArb,
  broadcastPairArb,
  type ShapeArbOptions,
  type ValuesArbOptions,
  type TensorArbOptions,
} from './arbitraries';
export { checkModuleGradients, type CheckModuleOptions, type CheckModuleResult } from './module_gradients';
export {
  gradcheck,
  gradgradcheck,
  numericalGradient,
  relError,
  type GradcheckOptions,
  type GradcheckResult,
  type GradgradcheckOptions,
  type GradgradcheckResult,
} from '../autograd/gradcheck';
