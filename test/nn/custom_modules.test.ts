/**
 * A user's own Module subclass that keeps its layers and parameters in fields (as in PyTorch):
 * names, parameters, buffers, state dicts (Map and JSON), train/eval, zeroGrad, repr,
 * checkpoints and an optimizer all see them; the rules of discovery; the options checks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, loadCheckpoint, manualSeed, nn, optim, saveCheckpoint, StateDictError, Tensor, ValueError } from '../../src';

class Block extends nn.Module {
  fc: nn.Affine;
  act = new nn.ReLU();
  constructor(d: number) {
    super();
    this.fc = new nn.Affine(d, d);
  }
  forward(x: Tensor): Tensor {
    return this.act.forward(this.fc.forward(x)).add(x);
  }
}

class Net extends nn.Module {
  fc1 = new nn.Affine(2, 8);
  bn = new nn.BatchNorm1d(8);
  blocks = [new Block(8), new Block(8)];
  fc2 = new nn.Affine(8, 3);
  /** A learned output scale: a leaf tensor with requiresGrad, found as a parameter. */
  scale = Tensor.ones([3], { requiresGrad: true });
  /** Not parameters: a constant, a cached activation, a plain number and strings. */
  offset = Tensor.zeros([3]);
  last: Tensor | null = null;
  width = 8;
  tags = ['a', 'b'];
  forward(x: Tensor): Tensor {
    let h = this.bn.forward(this.fc1.forward(x)).relu();
    for (const b of this.blocks) h = b.forward(h);
    this.last = h.mul(2); // a cached activation, made by an op
    return this.fc2.forward(h).mul(this.scale).add(this.offset);
  }
}

const PARAM_NAMES = [
  'scale',
  'fc1.weight',
  'fc1.bias',
  'bn.weight',
  'bn.bias',
  'blocks.0.fc.weight',
  'blocks.0.fc.bias',
  'blocks.1.fc.weight',
  'blocks.1.fc.bias',
  'fc2.weight',
  'fc2.bias',
];

function data(n: number): { x: Tensor; y: Int32Array } {
  manualSeed(11);
  const x = Tensor.randn([n, 2]);
  const y = Int32Array.from({ length: n }, (_, i) => (x.data[2 * i] > 0 ? (x.data[2 * i + 1] > 0 ? 2 : 1) : 0));
  return { x, y };
}

describe('a Module subclass with fields', () => {
  it('names its parameters, buffers, children and modules by field, in declaration order', () => {
    manualSeed(0);
    const net = new Net();
    expect(net.namedParameters().map(([k]) => k)).toEqual(PARAM_NAMES);
    expect(net.parameters()).toHaveLength(11);
    expect(net.parameters().reduce((s, p) => s + p.size, 0)).toBe(3 + 16 + 8 + 8 + 8 + 2 * (64 + 8) + 24 + 3);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(['bn.runningMean', 'bn.runningVar']);
    expect(net.buffers()).toEqual([net.bn.runningMean, net.bn.runningVar]);
    expect(net.namedChildren().map(([k]) => k)).toEqual(['fc1', 'bn', 'blocks.0', 'blocks.1', 'fc2']);
    expect(net.namedChildren()[2][1]).toBe(net.blocks[0]);
    expect(net.namedModules().map(([k, m]) => `${k}:${m.constructor.name}`)).toEqual([
      ':Net',
      'fc1:Affine',
      'bn:BatchNorm1d',
      'blocks.0:Block',
      'blocks.0.fc:Affine',
      'blocks.0.act:ReLU',
      'blocks.1:Block',
      'blocks.1.fc:Affine',
      'blocks.1.act:ReLU',
      'fc2:Affine',
    ]);
    expect([...net.stateDict().keys()]).toEqual([...PARAM_NAMES, 'bn.runningMean', 'bn.runningVar']);
  });

  it('a cached activation, a constant tensor and non-module fields are not parameters', () => {
    const net = new Net();
    net.forward(Tensor.randn([4, 2], { requiresGrad: true }));
    expect(net.last).not.toBeNull();
    expect(net.last!.isLeaf).toBe(false);
    expect(net.last!.requiresGrad).toBe(true);
    const params = net.parameters();
    expect(params).not.toContain(net.last);
    expect(params).not.toContain(net.offset);
    expect(net.buffers()).not.toContain(net.offset);
    expect(net.namedParameters().map(([k]) => k)).toEqual(PARAM_NAMES);
  });

  it('each walk sees the current fields: a reassigned or added module is picked up', () => {
    const net = new Net();
    const old = net.fc2;
    net.fc2 = new nn.Affine(8, 3, { bias: false });
    expect(net.parameters()).not.toContain(old.weight);
    expect(net.namedParameters().slice(-1)).toEqual([['fc2.weight', net.fc2.weight]]);
    net.blocks.push(new Block(8));
    expect(net.namedChildren().map(([k]) => k)).toContain('blocks.2');
    expect(net.stateDict().has('blocks.2.fc.weight')).toBe(true);
  });

  it('registered entries come first, a registered object is listed once under its registered name', () => {
    class Mixed extends nn.Module {
      late = new nn.Affine(2, 2);
      head: nn.Affine;
      w: Tensor;
      constructor() {
        super();
        this.head = this.registerModule('out', new nn.Affine(2, 2));
        this.w = this.registerParameter('gain', Tensor.ones([2]));
      }
      forward(x: Tensor): Tensor {
        return this.head.forward(this.late.forward(x)).mul(this.w);
      }
    }
    const m = new Mixed();
    expect(m.namedChildren().map(([k]) => k)).toEqual(['out', 'late']);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['gain', 'out.weight', 'out.bias', 'late.weight', 'late.bias']);
  });

  it('a tensor or module held twice appears once; a field pointing back up does not loop', () => {
    class Tied extends nn.Module {
      enc = new nn.Affine(3, 3);
      dec = this.enc; // the same module under a second name
      w = this.enc.weight; // a parameter of a child, held by the parent too
      forward(x: Tensor): Tensor {
        return this.dec.forward(this.enc.forward(x));
      }
    }
    const t = new Tied();
    expect(t.namedParameters().map(([k]) => k)).toEqual(['w', 'enc.bias']);
    expect(t.namedModules().map(([k]) => k)).toEqual(['', 'enc']);
    class Child extends nn.Module {
      parent: nn.Module | null = null;
      fc = new nn.Affine(1, 1);
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    }
    class Parent extends nn.Module {
      child = new Child();
      constructor() {
        super();
        this.child.parent = this;
      }
      forward(x: Tensor): Tensor {
        return this.child.forward(x);
      }
    }
    const p = new Parent();
    expect(p.namedModules().map(([k]) => k)).toEqual(['', 'child', 'child.fc']);
    expect(p.namedParameters().map(([k]) => k)).toEqual(['child.fc.weight', 'child.fc.bias']);
    expect(String(p)).toBe(['Parent(', '  (child): Child(', '    (parent): Parent()', '    (fc): Affine(inFeatures=1, outFeatures=1, bias=true)', '  )', ')'].join('\n'));
  });

  it('namedChildrenOwn is the one place children come from: an override renames them for every walk', () => {
    class Pair extends nn.Module {
      constructor(
        readonly a: nn.Module,
        readonly b: nn.Module,
      ) {
        super();
      }
      protected override namedChildrenOwn(): [string, nn.Module][] {
        return [
          ['first', this.a],
          ['second', this.b],
        ];
      }
      forward(x: Tensor): Tensor {
        return this.b.forward(this.a.forward(x));
      }
    }
    const p = new Pair(new nn.Affine(2, 2), new nn.BatchNorm1d(2));
    expect(p.namedChildren().map(([k]) => k)).toEqual(['first', 'second']);
    expect(p.namedParameters().map(([k]) => k)).toEqual(['first.weight', 'first.bias', 'second.weight', 'second.bias']);
    expect([...p.stateDict().keys()].slice(-2)).toEqual(['second.runningMean', 'second.runningVar']);
    expect(p.eval().b.training).toBe(false);
    expect(String(p).split('\n')[1]).toBe('  (first): Affine(inFeatures=2, outFeatures=2, bias=true)');
  });

  it('nn.Sequential: its layers array field adds no second name for the registered children', () => {
    const s = new nn.Sequential(new nn.Affine(2, 2), new nn.ReLU());
    expect(s.namedChildren().map(([k]) => k)).toEqual(['0', '1']);
    expect(s.namedModules().map(([k]) => k)).toEqual(['', '0', '1']);
  });

  it('plain objects and Maps of modules are children named field.key', () => {
    class Heads extends nn.Module {
      heads = { a: new nn.Affine(2, 1), b: new nn.Affine(2, 1) };
      extra = new Map<string, nn.Module>([['c', new nn.Affine(2, 1)]]);
      forward(x: Tensor): Tensor {
        return this.heads.a.forward(x);
      }
    }
    expect(new Heads().namedParameters().map(([k]) => k)).toEqual([
      'heads.a.weight',
      'heads.a.bias',
      'heads.b.weight',
      'heads.b.bias',
      'extra.c.weight',
      'extra.c.bias',
    ]);
  });

  it('reassigning a field that was registered under the same name is an ArgumentError, not a stale listing', () => {
    class Reg extends nn.Module {
      fc: nn.Affine;
      constructor() {
        super();
        this.fc = this.registerModule('fc', new nn.Affine(2, 2));
      }
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    }
    const r = new Reg();
    r.fc = new nn.Affine(2, 2);
    expect(() => r.parameters()).toThrow(ArgumentError);
    expect(() => r.parameters()).toThrow(/^Reg: field 'fc' holds Affine but 'fc' is registered as another Affine/);
  });

  it('train()/eval() reach every field module; train accepts only booleans', () => {
    const net = new Net();
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).toBe(true);
    expect(net.blocks[1].act.training).toBe(false);
    net.train();
    expect(net.namedModules().every(([, m]) => m.training)).toBe(true);
    for (const bad of ['yes', 1, null]) {
      expect(() => net.train(bad as unknown as boolean)).toThrow(ArgumentError);
    }
    expect(() => net.train('yes' as unknown as boolean)).toThrow(/^train: mode must be a boolean, got "yes"$/);
    expect(net.training).toBe(true);
  });

  it('zeroGrad clears every field parameter; its options are checked', () => {
    const { x, y } = data(16);
    const net = new Net();
    nn.softmaxCrossEntropy(net.forward(x), y).backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad!.data.every((v) => v === 0))).toBe(true);
    net.zeroGrad({ setToNone: true });
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    expect(() => net.zeroGrad(null as unknown as undefined)).toThrow(ArgumentError);
    expect(() => net.zeroGrad({ setToNon: true } as unknown as undefined)).toThrow(ValueError);
    expect(() => net.zeroGrad({ setToNone: 'yes' } as unknown as undefined)).toThrow(/^zeroGrad: opts\.setToNone must be a boolean/);
  });

  it('prints its tree by field name', () => {
    class Small extends nn.Module {
      fc = new nn.Affine(2, 3);
      blocks = [new nn.ReLU()];
      forward(x: Tensor): Tensor {
        return this.blocks[0].forward(this.fc.forward(x));
      }
    }
    expect(String(new Small())).toBe(['Small(', '  (fc): Affine(inFeatures=2, outFeatures=3, bias=true)', '  (blocks.0): ReLU()', ')'].join('\n'));
  });

  it('an optimizer over parameters() trains it: the loss falls', () => {
    const { x, y } = data(64);
    manualSeed(1);
    const net = new Net();
    const opt = new optim.Adam(net.parameters(), { lr: 1e-2 });
    const first = nn.softmaxCrossEntropy(net.forward(x), y).item();
    for (let step = 0; step < 60; step++) {
      opt.zeroGrad();
      nn.softmaxCrossEntropy(net.forward(x), y).backward();
      opt.step();
    }
    expect(nn.softmaxCrossEntropy(net.forward(x), y).item()).toBeLessThan(first / 2);
  });
});

describe('state dicts of a field module', () => {
  const trained = (): Net => {
    const { x, y } = data(32);
    manualSeed(2);
    const net = new Net();
    const opt = new optim.SGD(net.parameters(), { lr: 0.1 });
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      nn.softmaxCrossEntropy(net.forward(x), y).backward();
      opt.step();
    }
    return net;
  };

  it('round trips through stateDict/loadStateDict into a fresh instance', () => {
    const a = trained();
    manualSeed(3);
    const b = new Net();
    expect(b.fc1.weight.data).not.toEqual(a.fc1.weight.data);
    b.loadStateDict(a.stateDict());
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
    const x = Tensor.randn([5, 2]);
    expect(b.eval().forward(x).data).toEqual(a.eval().forward(x).data);
  });

  it('JSON.stringify writes shape, dtype and data; the parsed JSON loads back exactly', () => {
    const a = trained();
    a.bn.runningVar.data[0] = Number.NaN;
    a.bn.runningVar.data[1] = Infinity;
    a.bn.runningVar.data[2] = -Infinity;
    const json = JSON.stringify(a.stateDict());
    const parsed = JSON.parse(json) as Record<string, { shape: number[]; dtype: string; data: unknown[] }>;
    expect(Object.keys(parsed)).toEqual([...a.stateDict().keys()]);
    expect(parsed['fc1.bias'].shape).toEqual([8]);
    expect(parsed['fc1.bias'].dtype).toBe('float64');
    expect(parsed['fc2.weight'].data).toEqual(Array.from(a.fc2.weight.data));
    expect(parsed['bn.runningVar'].data.slice(0, 3)).toEqual(['NaN', 'Infinity', '-Infinity']);
    const b = new Net();
    const before = b.fc1.weight.version;
    b.loadStateDict(JSON.parse(json));
    expect(b.fc1.weight.version).toBe(before + 1);
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
    expect(a.stateDict()).toBeInstanceOf(Map);
    expect(a.stateDict()).toBeInstanceOf(nn.StateDict);
  });

  it('float32 modules round trip exactly through JSON; a dtype in the JSON must match', () => {
    const a = new nn.Sequential(new nn.Affine(3, 4, { dtype: 'float32' }), new nn.BatchNorm1d(4, { dtype: 'float32' }));
    a.forward(Tensor.randn([5, 3], { dtype: 'float32' }));
    const json = JSON.parse(JSON.stringify(a.stateDict())) as Record<string, { dtype: string }>;
    expect(json['0.weight'].dtype).toBe('float32');
    const b = new nn.Sequential(new nn.Affine(3, 4, { dtype: 'float32' }), new nn.BatchNorm1d(4, { dtype: 'float32' }));
    b.loadStateDict(json as unknown as nn.StateDictJSON);
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
    const f64 = new nn.Sequential(new nn.Affine(3, 4), new nn.BatchNorm1d(4));
    expect(() => f64.loadStateDict(json as unknown as nn.StateDictJSON)).toThrow(/'0\.weight': expected dtype 'float64', got 'float32'/);
  });

  it('bad JSON entries are listed and nothing is loaded', () => {
    const net = new Net();
    const before = [...net.stateDict()].map(([k, t]) => [k, t.data.slice()] as const);
    const json = JSON.parse(JSON.stringify(trained().stateDict())) as Record<string, { shape: number[]; data: unknown[]; dtype: unknown }>;
    json['fc1.bias'].data[3] = 'oops';
    json['fc2.bias'].shape = [4];
    json['scale'].dtype = 'int8';
    json['bn.bias'].data.pop();
    let err: unknown;
    try {
      net.loadStateDict(json as unknown as nn.StateDictJSON);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^loadStateDict: the state must fit Net, got mismatched /);
    expect(msg).toMatch(/'fc1\.bias': data\[3\] must be a number \(or 'NaN', 'Infinity', '-Infinity'\), got "oops"/);
    expect(msg).toMatch(/'fc2\.bias': expected shape \[3\], got \[4\]/);
    expect(msg).toMatch(/'scale': expected dtype 'float64', got "int8"/);
    expect(msg).toMatch(/'bn\.bias': expected shape \[8\], got \[8\] with 7 values \(needs 8\)/);
    for (const [k, d] of before) expect(net.stateDict().get(k)!.data).toEqual(d);
  });

  it('loadStateDict bumps the version of every tensor it writes (parameters and buffers)', () => {
    const net = new nn.Sequential(new nn.Affine(2, 2), new nn.BatchNorm1d(2));
    const state = new nn.Sequential(new nn.Affine(2, 2), new nn.BatchNorm1d(2)).stateDict();
    const tensors = [...net.stateDict().values()];
    expect(tensors).toHaveLength(6);
    const before = tensors.map((t) => t.version);
    net.loadStateDict(state);
    expect(tensors.map((t) => t.version)).toEqual(before.map((v) => v + 1));
    net.loadStateDict(JSON.parse(JSON.stringify(state)) as nn.StateDictJSON);
    expect(tensors.map((t) => t.version)).toEqual(before.map((v) => v + 2));
  });

  it('options: strict false returns missing and unexpected keys; bad options are errors', () => {
    const net = new Net();
    const state = new Map(new Net().stateDict());
    state.delete('scale');
    state.set('extra', Tensor.zeros([1]));
    expect(() => net.loadStateDict(state)).toThrow(/missing keys \['scale'\]; unexpected keys \['extra'\]/);
    const v = net.fc1.weight.version;
    expect(net.loadStateDict(state, { strict: false })).toEqual({ missingKeys: ['scale'], unexpectedKeys: ['extra'] });
    expect(net.fc1.weight.version).toBe(v + 1);
    expect(net.loadStateDict(new Net().stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(() => net.loadStateDict(state, null as unknown as undefined)).toThrow(ArgumentError);
    expect(() => net.loadStateDict(state, { strct: false } as unknown as undefined)).toThrow(ValueError);
    expect(() => net.loadStateDict(state, { strict: 'no' } as unknown as undefined)).toThrow(/^loadStateDict: opts\.strict must be a boolean/);
    expect(() => net.loadStateDict([] as unknown as nn.StateDictJSON)).toThrow(ArgumentError);
  });
});

describe('checkpoints of a field module', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapegrad-custom-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('saveCheckpoint/loadCheckpoint round trip every field parameter and buffer, and the optimizer', () => {
    const { x, y } = data(32);
    manualSeed(4);
    const a = new Net();
    const optA = new optim.Adam(a.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 3; step++) {
      optA.zeroGrad();
      nn.softmaxCrossEntropy(a.forward(x), y).backward();
      optA.step();
    }
    const path = join(dir, 'net.safetensors');
    saveCheckpoint(path, { model: a, optimizer: optA, meta: { step: 3 } });
    manualSeed(5);
    const b = new Net();
    const optB = new optim.Adam(b.parameters(), { lr: 1e-2 });
    expect(loadCheckpoint(path, { model: b, optimizer: optB })).toEqual({ step: 3 });
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
    // one more identical step on both keeps them identical (the Adam slots came along)
    for (const [net, opt] of [[a, optA], [b, optB]] as const) {
      opt.zeroGrad();
      nn.softmaxCrossEntropy(net.forward(x), y).backward();
      opt.step();
    }
    for (const [k, t] of a.stateDict()) expect(b.stateDict().get(k)!.data).toEqual(t.data);
  });
});
