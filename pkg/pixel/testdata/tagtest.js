// Tests of the JS tag in Node.js, without packages: the tag runs in a vm
// context with a fake window, document, clock and network. TestTagJS (in
// tag_js_test.go) runs it as
//
//	node tagtest.js TAG_FILE VECTORS_JSON
//
// and reads one line per test: "ok NAME" or "not ok NAME: MESSAGE". The
// clock is fake: timers run when a test advances it, never in real time.
'use strict';
const vm = require('vm');
const fs = require('fs');
const assert = require('assert');
const nodeCrypto = require('crypto');

const [tagFile, vectorsFile] = process.argv.slice(2);
const tagSource = fs.readFileSync(tagFile, 'utf8');
const vectors = JSON.parse(fs.readFileSync(vectorsFile, 'utf8'));
const T0 = 1767268800000;

// page builds a fake browser page and runs the tag in it. Options: queue
// (the snippet's calls before the tag loads), subtle (give the page Web
// Crypto), beacon (false: no sendBeacon; 'refuse': it returns false),
// storage (a Map shared between pages), url, webdriver, visible.
function page(o) {
  o = o || {};
  const clock = { t: T0, timers: [], seq: 0 };
  const listeners = [];
  const beacons = [];
  const images = [];
  const warns = [];
  const storage = o.storage || new Map();
  const loc = { href: o.url || 'https://shop.example/a?x=1' };
  const doc = {
    visibilityState: o.visible === false ? 'hidden' : 'visible',
    referrer: 'https://ref.example/from',
    currentScript: { src: 'https://c.example/px.js?id=P1' },
    getElementsByTagName: () => [],
    addEventListener: (type, f, opt) => listeners.push({ on: 'document', type, f, opt }),
  };
  class Image {
    constructor() { images.push(this); this.loaded = false; }
  }
  class FakeDate extends Date {
    constructor(...a) { if (a.length === 0) super(clock.t); else super(...a); }
    static now() { return clock.t; }
  }
  const crypto = { getRandomValues: (a) => nodeCrypto.getRandomValues(a), randomUUID: () => nodeCrypto.randomUUID() };
  if (o.subtle) crypto.subtle = nodeCrypto.webcrypto.subtle;
  const navigator = { webdriver: !!o.webdriver };
  if (o.beacon !== false) {
    navigator.sendBeacon = function (url, body) {
      if (o.beacon === 'refuse') return false;
      if (o.beacon === 'throw') throw new Error('beacon broke');
      assert.strictEqual(typeof body, 'string');
      beacons.push({ url, body: JSON.parse(body) });
      return true;
    };
  }
  const win = {
    document: doc, navigator, location: loc, crypto, Image, Date: FakeDate,
    history: {
      pushState(s, t, url) { if (url != null) loc.href = new URL(url, loc.href).href; },
      replaceState(s, t, url) { if (url != null) loc.href = new URL(url, loc.href).href; },
    },
    localStorage: {
      getItem: (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: (k, v) => storage.set(k, String(v)),
      removeItem: (k) => storage.delete(k),
    },
    console: { warn: (m) => warns.push(m), log() {}, error() {} },
    setTimeout: (f, ms) => { const id = ++clock.seq; clock.timers.push({ id, at: clock.t + Math.max(0, Number(ms) || 0), f }); return id; },
    clearTimeout: (id) => { clock.timers = clock.timers.filter((x) => x.id !== id); },
    addEventListener: (type, f, opt) => listeners.push({ on: 'window', type, f, opt }),
    Promise, Uint8Array,
  };
  if (o.queue) {
    win.pixel = function () { (win.pixel.q = win.pixel.q || []).push(arguments); };
    for (const args of o.queue) win.pixel(...args);
  }
  win.window = win;
  const ctx = vm.createContext(win);
  vm.runInContext(tagSource, ctx, { filename: tagFile });

  const p = {
    win, doc, loc, storage, warns, beacons, images, clock,
    pixel: (...a) => win.pixel(...a),
    // advance moves the clock by ms, running the timers due on the way.
    advance(ms) {
      const end = clock.t + ms;
      let spin = 0, at = -1;
      for (;;) {
        const due = clock.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
        if (!due) break;
        spin = due.at === at ? spin + 1 : 0;
        at = due.at;
        if (spin > 1000) throw new Error('the tag sets timers in a loop at one instant (a busy loop in a browser)');
        clock.t = Math.max(clock.t, due.at);
        clock.timers = clock.timers.filter((x) => x !== due);
        due.f();
      }
      clock.t = end;
    },
    fire(on, type) {
      for (const l of listeners) if (l.on === on && l.type === type) l.f({ type });
    },
    input(type) { p.fire('document', type || 'mousemove'); },
    hide() { doc.visibilityState = 'hidden'; p.fire('document', 'visibilitychange'); },
    show() { doc.visibilityState = 'visible'; p.fire('document', 'visibilitychange'); },
    // events is every event sent so far, from beacons and GIFs, in order.
    events() {
      const out = [];
      for (const b of beacons) {
        assert.strictEqual(b.url, 'https://c.example/collect');
        for (const e of [].concat(b.body)) out.push(e);
      }
      for (const img of images) if (img.src) out.push(fromQuery(img.src));
      return out;
    },
    names() { return p.events().map((e) => e.ev); },
    // settle lets Web Crypto's promises resolve and runs the timers they
    // set, polling (with a deadline) rather than sleeping a fixed time.
    async settle(until) {
      const deadline = Date.now() + 5000;
      for (;;) {
        p.advance(0);
        if (!until || until()) return;
        if (Date.now() > deadline) throw new Error('timed out waiting for the tag');
        await new Promise((r) => setImmediate(r));
      }
    },
  };
  return p;
}

// fromQuery reads a GIF URL back into an event object (key[member] into
// objects), so that GIF and beacon events compare alike.
function fromQuery(src) {
  const u = new URL(src);
  assert.strictEqual(u.origin + u.pathname, 'https://c.example/p.gif');
  const e = {};
  for (const [k, v] of u.searchParams) {
    const m = /^(\w+)\[(.+)\]$/.exec(k);
    if (m) (e[m[1]] = e[m[1]] || {})[m[2]] = v;
    else e[k] = v;
  }
  return e;
}

const snippet = (id, opts) => [['init', id || 'P1', opts], ['track', 'PageView']];
const tests = [];
const test = (name, f) => tests.push({ name, f });

test('queue: the snippet calls run in order, one beacon per task', () => {
  const p = page({ queue: [...snippet(), ['track', 'Purchase', { value: 19.9, currency: 'EUR', content_ids: ['sku-1', 7, { bad: 1 }], contents: [{ id: 'sku-1', quantity: 2 }], f() {}, n: null }, { eventID: 'o-1042' }]] });
  assert.strictEqual(p.beacons.length, 0, 'sent before the end of the task');
  p.advance(0);
  assert.strictEqual(p.beacons.length, 1);
  const [pvEv, buy] = p.beacons[0].body;
  assert.strictEqual(pvEv.ev, 'PageView');
  assert.strictEqual(pvEv.id, 'P1');
  assert.match(pvEv.eid, /^[0-9a-f-]{32,36}$/);
  assert.match(pvEv.pv, /^[0-9a-f-]{32,36}$/);
  assert.strictEqual(pvEv.dl, 'https://shop.example/a?x=1');
  assert.strictEqual(pvEv.rl, 'https://ref.example/from');
  assert.strictEqual(pvEv.ts, T0);
  assert.strictEqual(pvEv.et, 0);
  for (const k of ['cs', 'cm', 'ud', 'wd', 'cd']) assert.ok(!(k in pvEv), k + ' on a plain PageView');
  assert.strictEqual(buy.ev, 'Purchase');
  assert.strictEqual(buy.eid, 'o-1042');
  assert.strictEqual(buy.pv, pvEv.pv);
  assert.deepStrictEqual(buy.cd, { value: 19.9, currency: 'EUR', content_ids: ['sku-1', 7], contents: '[{"id":"sku-1","quantity":2}]' });
});

test('queue: calls after the tag loaded, trackCustom, trackSingle, two pixels', () => {
  const p = page({ queue: [['init', 'P1'], ['init', 'P2'], ['init', 'P1']] });
  p.pixel('track');
  p.pixel('trackCustom', 'Quiz', { step: 2 }, { eventID: 'q-1' });
  p.pixel('trackCustom', '', {});
  p.pixel('trackSingle', 'P2', 'Lead');
  p.advance(0);
  assert.deepStrictEqual(p.events().map((e) => e.id + ':' + e.ev), ['P1:PageView', 'P2:PageView', 'P1:Quiz', 'P2:Quiz', 'P2:Lead']);
  const quiz = p.events().filter((e) => e.ev === 'Quiz');
  assert.ok(quiz.every((e) => e.eid === 'q-1' && e.cd.step === 2));
});

test('unknown commands warn once each and nothing throws into the page', () => {
  const p = page({ queue: [['init', 'P1'], ['nope'], ['nope', 1]] });
  p.pixel('nope');
  p.pixel('other');
  p.pixel();
  p.pixel('toString');
  p.pixel('consent', 'maybe');
  p.pixel('consent', 'maybe');
  assert.deepStrictEqual(p.warns, ['pixel: unknown command nope', 'pixel: unknown command other', 'pixel: unknown command undefined', 'pixel: unknown command toString', 'pixel: unknown consent action maybe']);
  const hostile = {};
  Object.defineProperty(hostile, 'x', { enumerable: true, get() { throw new Error('host getter'); } });
  p.pixel('track', 'Purchase', hostile);
  p.pixel('identify', hostile);
  p.pixel('init', 'P9', hostile);
  p.pixel('config', 'P1', hostile);
  p.advance(0);
  const q = page({ beacon: 'throw', queue: snippet() });
  q.advance(0);
  assert.deepStrictEqual(q.names(), ['PageView'], 'a throwing sendBeacon falls back to the GIF');
});

test('GIF fallback: the same keys as query parameters, one request at a time', () => {
  const p = page({ beacon: false, webdriver: true, queue: [['init', 'P1'], ['consent', 'grant', { ad_storage: 'granted', ad_user_data: 'denied' }], ['identify', { email: 'A@B.example' }], ['track', 'PageView'], ['track', 'Purchase', { value: '5.00', content_ids: ['a', 'b'] }]] });
  p.advance(0);
  assert.strictEqual(p.images.length, 1, 'the second GIF waits for the first');
  p.images[0].onload();
  assert.strictEqual(p.images.length, 2);
  const [a, b] = p.events();
  assert.strictEqual(a.ev, 'PageView');
  assert.strictEqual(a.et, '0');
  assert.strictEqual(a.cs, 'granted');
  assert.strictEqual(a.wd, '1');
  assert.deepStrictEqual(a.cm, { ad_storage: 'granted', ad_user_data: 'denied' });
  assert.strictEqual(a.ud.em, sha('a@b.example'));
  assert.deepStrictEqual(b.cd, { value: '5.00', content_ids: '["a","b"]' });
  p.images[1].onerror();
  p.pixel('track', 'Lead');
  p.advance(0);
  assert.strictEqual(p.images.length, 3);
  p.pixel('track', 'Lead');
  p.advance(3000); // no answer: the next goes after a timeout
  assert.strictEqual(p.images.length, 4);
  const r = page({ beacon: 'refuse', queue: snippet() });
  r.advance(0);
  assert.strictEqual(r.images.length, 1, 'a refused beacon goes as a GIF');
});

function sha(s) { return nodeCrypto.createHash('sha256').update(s, 'utf8').digest('hex'); }

// The vectors come from Go: the normalised strings and their crypto/sha256.
// Each identify runs on a page of its own (values add up within a page).
function checkVector(p, v, label) {
  const evs = p.events().filter((e) => e.ev === 'V');
  assert.strictEqual(evs.length, 1);
  const ud = evs[0].ud || {};
  for (const k of ['em', 'em_g', 'ph', 'ph_g', 'external_id']) {
    assert.strictEqual(ud[k], v[k], label + ' ' + k + ' of ' + JSON.stringify(v.in));
  }
  const all = JSON.stringify(p.beacons);
  if (v.in.email.trim().length > 3) assert.ok(!all.includes(JSON.stringify(v.in.email.trim()).slice(1, -1)), 'raw email sent: ' + v.in.email);
  if (v.in.phone) assert.ok(!all.includes(v.in.phone), 'raw phone sent: ' + v.in.phone);
}

test('identify: built-in SHA-256 (no Web Crypto) against Go vectors', () => {
  for (const v of vectors) {
    const p = page({ queue: [['init', 'P1'], ['identify', v.in], ['track', 'V']] });
    p.advance(0);
    checkVector(p, v, 'built-in');
  }
});

test('identify: Web Crypto against Go vectors', async () => {
  for (const v of vectors) {
    const p = page({ subtle: true, queue: [['init', 'P1'], ['identify', v.in], ['track', 'V']] });
    await p.settle(() => p.beacons.length === 1);
    checkVector(p, v, 'Web Crypto');
  }
});

test('identify: events after it wait for its hash, in order', async () => {
  const p = page({ subtle: true, queue: [['init', 'P1'], ['track', 'PageView']] });
  p.pixel('identify', { email: 'a@b.example' });
  p.pixel('track', 'A');
  p.advance(0);
  assert.deepStrictEqual(p.names(), ['PageView'], 'the event after identify went before its hash');
  assert.ok(!('ud' in p.events()[0]));
  await p.settle(() => p.names().length === 2);
  p.pixel('identify', { phone: '+1 555 0100' });
  p.pixel('track', 'B');
  p.pixel('identify', { email: 'c@d.example' });
  p.pixel('track', 'C');
  p.pixel('track', 'D');
  await p.settle(() => p.names().length === 5);
  const evs = p.events();
  assert.deepStrictEqual(evs.map((e) => e.ev), ['PageView', 'A', 'B', 'C', 'D']);
  assert.deepStrictEqual(evs[1].ud, { em: sha('a@b.example'), em_g: sha('a@b.example') });
  assert.deepStrictEqual(evs[2].ud, { em: sha('a@b.example'), em_g: sha('a@b.example'), ph: sha('15550100'), ph_g: sha('+15550100') });
  assert.deepStrictEqual(evs[4].ud, { em: sha('c@d.example'), em_g: sha('c@d.example'), ph: sha('15550100'), ph_g: sha('+15550100') });
  // Hidden while a hash is pending: the final flush sends what it knows.
  p.pixel('identify', { email: 'e@f.example' });
  p.pixel('track', 'E');
  p.hide();
  assert.strictEqual(p.names()[5], 'E');
  assert.strictEqual(p.events()[5].ud.em, sha('c@d.example'));
});

test('identify: values add up; init userData; pre-hashed values pass through', () => {
  const h = sha('x');
  const p = page({ queue: [['init', 'P1', { userData: { email: ' Jane.Doe@GMail.com ' } }], ['track', 'PageView']] });
  p.pixel('identify', { phone: '+1 (555) 010-0000' });
  p.pixel('track', 'A');
  p.pixel('identify', { email: h.toUpperCase(), external_id: ' u-7 ' });
  p.pixel('track', 'B');
  p.advance(0);
  const [pv, a, b] = p.events();
  assert.deepStrictEqual(pv.ud, { em: sha('jane.doe@gmail.com'), em_g: sha('janedoe@gmail.com') });
  assert.deepStrictEqual(a.ud, { em: sha('jane.doe@gmail.com'), em_g: sha('janedoe@gmail.com'), ph: sha('15550100000'), ph_g: sha('+15550100000') });
  assert.deepStrictEqual(b.ud, { em: h, em_g: h, ph: sha('15550100000'), ph_g: sha('+15550100000'), external_id: 'u-7' });
});

test('consent required: no cs and no user data before grant, cs=granted after, remembered, revoke stops all', () => {
  const storage = new Map();
  // The config call comes after the snippet's calls, as /px.js?id=ID has it.
  const p = page({ storage, queue: [['init', 'P1', { userData: { email: 'a@b.example' } }], ['track', 'PageView']] });
  p.pixel('config', 'P1', { engagementSeconds: 60, consent: 'required' });
  p.advance(0);
  let [e] = p.events();
  assert.ok(!('cs' in e) && !('ud' in e), 'consent or user data before the grant: ' + JSON.stringify(e));
  p.pixel('consent', 'grant');
  p.pixel('track', 'ViewContent');
  p.advance(0);
  e = p.events()[1];
  assert.strictEqual(e.cs, 'granted');
  assert.strictEqual(e.ud.em, sha('a@b.example'));
  assert.strictEqual(storage.get('_pxconsent'), 'granted');

  const next = page({ storage, queue: [['init', 'P1', { consent: 'required' }], ['track', 'PageView']] });
  next.advance(0);
  assert.strictEqual(next.events()[0].cs, 'granted', 'the next page forgot the grant');
  next.input();
  next.pixel('track', 'Unsent');
  next.pixel('consent', 'revoke');
  next.pixel('track', 'AfterRevoke');
  next.advance(60000);
  next.hide();
  next.fire('window', 'pagehide');
  assert.deepStrictEqual(next.names(), ['PageView'], 'sent after revoke');
  assert.ok(!storage.has('_pxconsent'));
  next.pixel('consent', 'grant');
  next.pixel('track', 'Again');
  next.advance(0);
  assert.deepStrictEqual(next.names(), ['PageView', 'Again']);
});

test('consent granted mode: events go normally; Google signals as cm', () => {
  const p = page({ queue: [['init', 'P1'], ['identify', { email: 'a@b.example' }], ['track', 'PageView']] });
  p.pixel('consent', 'update', { ad_storage: 'granted', analytics_storage: 'denied', ad_personalization: 'yes', bogus: 'granted' });
  p.pixel('track', 'X');
  p.pixel('consent', 'update', { ad_storage: 'denied' });
  p.pixel('track', 'Y');
  p.advance(0);
  const [pvEv, x, y] = p.events();
  assert.ok(!('cs' in pvEv) && !('cm' in pvEv));
  assert.strictEqual(pvEv.ud.em, sha('a@b.example'));
  assert.deepStrictEqual(x.cm, { ad_storage: 'granted', analytics_storage: 'denied' });
  assert.deepStrictEqual(y.cm, { ad_storage: 'denied', analytics_storage: 'denied' });
});

test('SPA: pushState, replaceState and popstate start page views', () => {
  const p = page({ queue: snippet() });
  p.advance(0);
  const first = p.events()[0].pv;
  p.advance(2000);
  p.win.history.pushState({}, '', '/b');
  p.win.history.replaceState({}, '', '/b'); // the same URL: no page view
  p.advance(0);
  let evs = p.events();
  assert.deepStrictEqual(evs.map((e) => e.ev), ['PageView', 'PageEngagement', 'PageView']);
  assert.strictEqual(evs[1].pv, first);
  assert.strictEqual(evs[1].et, 2000);
  assert.notStrictEqual(evs[2].pv, first);
  assert.strictEqual(evs[2].dl, 'https://shop.example/b');
  assert.strictEqual(evs[2].rl, 'https://shop.example/a?x=1');
  assert.strictEqual(evs[2].et, 0);
  p.win.history.replaceState({}, '', '/c');
  p.loc.href = 'https://shop.example/a?x=1'; // the back button
  p.fire('window', 'popstate');
  p.fire('window', 'hashchange');
  p.advance(0);
  evs = p.events();
  assert.deepStrictEqual(evs.map((e) => e.ev), ['PageView', 'PageEngagement', 'PageView', 'PageView', 'PageView']);
  assert.strictEqual(new Set(evs.filter((e) => e.ev === 'PageView').map((e) => e.pv)).size, 4);
  const q = page({ queue: snippet('P1', { spa: false }) });
  q.win.history.pushState({}, '', '/b');
  q.pixel('track', 'PageView');
  q.advance(0);
  const qe = q.events();
  assert.deepStrictEqual(qe.map((e) => e.ev), ['PageView', 'PageView']);
  assert.notStrictEqual(qe[0].pv, qe[1].pv);
});

test('engaged time: visible and active only, heartbeats, final on hide and pagehide', () => {
  const p = page({ queue: snippet('P1', { engagementSeconds: 0 }) });
  const beats = () => p.events().filter((e) => e.ev === 'PageEngagement').map((e) => e.et);
  p.advance(10000); // the page load counts as activity: 5 s
  assert.deepStrictEqual(beats(), []);
  for (let i = 0; i < 20; i++) { p.input(i % 2 ? 'scroll' : 'keydown'); p.advance(1000); }
  // 5 s + 20 s of input every second (the last one's window still open: 5 s)
  assert.deepStrictEqual(beats(), [15000], 'a heartbeat at 15 s of engaged time');
  p.advance(2000);
  p.hide(); // 5 + 22
  assert.deepStrictEqual(beats(), [15000, 27000]);
  p.input(); p.advance(60000); // hidden: nothing counts, nothing is sent
  p.fire('window', 'pagehide');
  assert.deepStrictEqual(beats(), [15000, 27000]);
  p.show(); // coming back counts as activity: 5 s more
  p.advance(30000);
  p.input('touchstart'); p.advance(1000); p.input('pointerdown'); p.advance(1000);
  p.fire('window', 'pagehide');
  assert.deepStrictEqual(beats(), [15000, 27000, 27000 + 5000 + 2000]);
  assert.ok(p.events().every((e) => e.ev !== 'Engaged'), 'engagementSeconds 0 fires no Engaged');
  const pvs = new Set(p.events().map((e) => e.pv));
  assert.strictEqual(pvs.size, 1);
});

test('engaged time: heartbeatSeconds and activeSeconds options, no heartbeat without growth', () => {
  const p = page({ queue: snippet('P1', { heartbeatSeconds: 4, activeSeconds: 2 }) });
  const beats = () => p.events().filter((e) => e.ev === 'PageEngagement').map((e) => e.et);
  p.advance(60000);
  assert.deepStrictEqual(beats(), [], 'load: 2 s');
  for (let i = 0; i < 5; i++) { p.input(); p.advance(1000); }
  assert.deepStrictEqual(beats(), [4000]);
  p.advance(60000);
  p.hide();
  p.fire('window', 'pagehide');
  assert.deepStrictEqual(beats(), [4000, 2000 + 5000 + 1000]);
  const q = page({ queue: snippet('P1', { heartbeatSeconds: 0 }) });
  for (let i = 0; i < 100; i++) { q.input(); q.advance(1000); }
  q.fire('window', 'pagehide');
  assert.deepStrictEqual(q.events().filter((e) => e.ev === 'PageEngagement').map((e) => e.et), [100000], 'heartbeatSeconds 0: only the final one');
});

test('Engaged: once per page view at the goal, from init or from the collector config', () => {
  const p = page({ queue: [...snippet(), ['config', 'P1', { engagementSeconds: 10, consent: 'granted' }]] });
  const engaged = () => p.events().filter((e) => e.ev === 'Engaged');
  for (let i = 0; i < 30; i++) { p.input(); p.advance(1000); }
  assert.strictEqual(engaged().length, 1);
  assert.strictEqual(engaged()[0].et, 10000);
  assert.deepStrictEqual(engaged()[0].cd, { seconds: 10 });
  p.win.history.pushState({}, '', '/next');
  for (let i = 0; i < 30; i++) { p.input(); p.advance(1000); }
  assert.strictEqual(engaged().length, 2, 'the new page view reaches the goal again');
  assert.notStrictEqual(engaged()[0].pv, engaged()[1].pv);

  const q = page({ queue: [...snippet('P1', { engagementSeconds: 3 }), ['config', 'P1', { engagementSeconds: 10 }]] });
  q.advance(10000);
  assert.deepStrictEqual(q.events().filter((e) => e.ev === 'Engaged').map((e) => e.et), [3000], 'the page\'s init option wins over the config');

  const r = page({ queue: snippet() });
  for (let i = 0; i < 59; i++) { r.input(); r.advance(1000); }
  r.hide(); r.advance(600000); r.show(); r.advance(500);
  assert.strictEqual(r.events().filter((e) => e.ev === 'Engaged').length, 0, 'hidden time counted');
  r.advance(1000);
  assert.deepStrictEqual(r.events().filter((e) => e.ev === 'Engaged').map((e) => e.et), [60000], 'default goal 60 s');
});

test('init after engaged time began: the first heartbeat is not lost', () => {
  const p = page();
  for (let i = 0; i < 20; i++) { p.input(); p.advance(1000); }
  p.pixel('init', 'P1', { engagementSeconds: 0 });
  p.advance(0);
  assert.deepStrictEqual(p.events().map((e) => e.ev + ':' + e.et), ['PageEngagement:20000']);
});

test('a page loaded in a background tab counts nothing until shown', () => {
  const p = page({ visible: false, queue: snippet() });
  p.input();
  p.advance(120000);
  p.fire('window', 'pagehide');
  assert.deepStrictEqual(p.names(), ['PageView']);
  assert.strictEqual(p.events()[0].et, 0);
});

test('the tag on the page twice runs once', () => {
  const p = page({ queue: snippet() });
  vm.runInContext(tagSource, vm.createContext(p.win));
  p.pixel('track', 'X');
  p.advance(0);
  assert.deepStrictEqual(p.names(), ['PageView', 'X']);
});

(async () => {
  let failed = 0;
  for (const t of tests) {
    try {
      await t.f();
      console.log('ok ' + t.name);
    } catch (e) {
      failed++;
      console.log('not ok ' + t.name + ' -- ' + String(e && e.stack || e).replace(/\n/g, ' | '));
    }
  }
  console.log('done ' + tests.length + ' tests, ' + failed + ' failed');
})();
