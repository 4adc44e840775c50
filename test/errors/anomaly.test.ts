/**
 * Anomaly mode: off by default (NaN flows silently, as in PyTorch); when on, the first NaN or
 * Infinity in a forward output or a backward gradient throws an AnomalyError naming the op and,
 * inside nn.Sequential, the module ('1:Log').
 */
import {
  AnomalyError,
  detectAnomaly,
  isAnomalyEnabled,
  manualSeed,
  nn,
  setDetectAnomaly,
  Tensor,
  tensor,
  TapegradError,
} from '../../src';

/** log(x): NaN for negative inputs. */
class Log extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.log();
  }
}

/** Finite forward, infinite backward: (x * 1e-300) / 1e-300 * 1e300 is finite, but the gradient into the div is 1e300 / 1e-300 = Infinity. */
class Blowup extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.mul(1e-300).div(tensor([1e-300])).mul(1e300);
  }
}

function caught(f: () => unknown): AnomalyError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AnomalyError);
  expect(err).toBeInstanceOf(TapegradError);
  expect((err as Error).name).toBe('AnomalyError');
  return err as AnomalyError;
}

afterEach(() => setDetectAnomaly(false));

describe('anomaly detection', () => {
  it('is off by default: NaN and Infinity flow through silently', () => {
    expect(isAnomalyEnabled()).toBe(false);
    const x = tensor([-1, 2], { requiresGrad: true });
    const y = x.log().sum();
    expect(Number.isNaN(y.item())).toBe(true);
    y.backward();
    expect(x.grad!.data[0]).toBe(-1);
  });

  it("setDetectAnomaly(true): log of a negative number throws naming 'log' and the forward output", () => {
    setDetectAnomaly(true);
    expect(isAnomalyEnabled()).toBe(true);
    const err = caught(() => tensor([-1, 2], { requiresGrad: true }).log());
    expect(err.message).toMatch(/^log: forward output has NaN at flat index 0 of shape \[2\]/);
    setDetectAnomaly(false);
    expect(() => tensor([-1]).log()).not.toThrow();
  });

  it('a NaN or Infinity that appears only in backward names the op and the input', () => {
    const a = tensor([1e-300], { requiresGrad: true });
    const b = tensor([1e-300], { requiresGrad: true });
    detectAnomaly(() => {
      const y = a.div(b).mul(1e300).sum(); // forward: 1e300, finite
      expect(y.item()).toBe(1e300);
      const err = caught(() => y.backward());
      expect(err.message).toMatch(/^div: backward gradient for input 0 has Infinity at flat index 0 of shape \[1\]/);
    });
    // Without anomaly mode the same backward completes with an infinite gradient.
    a.grad = null;
    a.div(b).mul(1e300).sum().backward();
    expect(a.grad!.data[0]).toBe(Infinity);
  });

  it('a backward aborted by anomaly detection leaves no pending gradient behind', () => {
    const a = tensor([1e-300], { requiresGrad: true });
    const c = tensor([1e-300], { requiresGrad: true });
    detectAnomaly(() => {
      // The c * c branch hands c its gradient before div's backward blows up, and c itself is
      // reached only after div: the aborted walk must not leave that gradient pending on c.
      const y = a.div(c).mul(1e300).sum().add(c.mul(c).sum());
      caught(() => y.backward());
    });
    expect(c.grad).toBeNull();
    c.mul(c).sum().backward();
    expect(c.grad!.toArray()).toEqual([2e-300]);
  });

  it("inside nn.Sequential the error names the module, '1:Log' style, forward and backward", () => {
    manualSeed(0);
    const model = new nn.Sequential(new nn.Affine(1, 1), new Log(), new nn.ReLU());
    model.parameters()[0].data[0] = -1; // weight -1, bias 0: positive inputs go negative
    const x = tensor([[2], [3]]);
    const err = detectAnomaly(() => caught(() => model.forward(x)));
    expect(err.message).toMatch(/^log \(in 1:Log\): forward output has NaN/);

    const nested = new nn.Sequential(new nn.Affine(1, 1), new nn.Sequential(new nn.ReLU(), new Blowup()));
    nested.parameters()[0].data[0] = 1;
    const loss = detectAnomaly(() => nested.forward(tensor([[1]])).sum());
    expect(Number.isFinite(loss.item())).toBe(true);
    const err2 = detectAnomaly(() => caught(() => loss.backward()));
    expect(err2.message).toMatch(/^(div|mul) \(in 1:Sequential > 1:Blowup\): backward gradient for input 0 has -?Infinity/);
  });

  it('detectAnomaly restores the previous setting, even when fn throws', () => {
    expect(isAnomalyEnabled()).toBe(false);
    expect(() => detectAnomaly(() => tensor([-1]).log())).toThrow(AnomalyError);
    expect(isAnomalyEnabled()).toBe(false);
    setDetectAnomaly(true);
    detectAnomaly(() => 1);
    expect(isAnomalyEnabled()).toBe(true);
  });
});
