/* pixel tag, version 2. This is the readable source, ES5 only; the collector
 * serves px.min.js, which `go generate ./pkg/pixel` makes from it (esbuild,
 * target es5). The API and what each call sends are in the README, "The JS tag".
 *
 * Events: the site's own (track, trackCustom), PageView on every single-page-app
 * navigation, PageEngagement (the page view's engaged time so far, `et`, every
 * heartbeatSeconds of engaged time and once more when the page is hidden or
 * left) and Engaged (once per page view, when et reaches engagementSeconds). */
(function (window, document, navigator) {
  'use strict';
  var stub = window.pixel;
  if (stub && stub.loaded) {
    return; // the tag is on the page twice
  }
  var queue = (stub && stub.q) || [];
  var history = window.history;
  var location = window.location;
  var MAX_URL = 2000; // dl and rl are cut here: the collector refuses URLs over 4096 bytes
  var MAX_BATCH = 50; // events per request; the collector takes up to 100
  var CONSENT_KEY = '_pxconsent';
  var SIGNALS = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization'];
  var base = collectorURL();
  var pixels = []; // initialised pixels: {id, o: init options, goalMs, required, fired}
  var configs = {}; // the collector's pixel('config', id, {...}) by id
  var buffer = []; // {e: event, i: identity, p: pixel, g: granted then} waiting to be sent, in order
  var flushTimer = null;
  var gifs = []; // GIF URLs waiting for the one in flight
  var gifInFlight = null; // kept from the garbage collector until it answers
  var warned = {};
  var granted = storedConsent();
  var revoked = false;
  var signals = null; // Google consent signals as the site gave them
  var known = {}; // the hashed user data of the last identify that finished
  var ident = {ud: known, ready: true}; // the identity new events get
  var jobs = []; // identify calls still hashing, oldest first
  var activeMs = 5000; // input this recent makes a visible page engaged
  var heartbeatMs = 15000;
  var spa = true; // automatic PageView on history navigation

  // The page view: its id, URL, referrer, and engaged-time clock. Engaged
  // time runs from `since` to `until` (the last activity plus activeMs) while
  // the page is visible; engagedMs holds what earlier stretches added up to.
  var pv, pageURL, referrer = document.referrer;
  var engagedMs = 0, since = null, until = 0, lastBeat = 0, timer = null;

  // The collector is where this script came from: its URL without "/px.js".
  function collectorURL() {
    var s = document.currentScript;
    if (!s) {
      var all = document.getElementsByTagName('script');
      for (var i = all.length - 1; i >= 0; i--) {
        if (/\/px\.js([?#]|$)/.test(all[i].src)) {
          s = all[i];
          break;
        }
      }
    }
    return ((s && s.src) || '').replace(/[?#].*$/, '').replace(/\/[^\/]*$/, '');
  }

  function now() {
    return Date.now();
  }

  // guard keeps every error inside the tag: nothing it does may break the page.
  function guard(f) {
    return function (a, b, c, d) {
      try {
        return f(a, b, c, d);
      } catch (e) { /* ignored: the host page must not notice */ }
    };
  }

  function warn(what) {
    if (!warned[what]) {
      warned[what] = true;
      var c = window.console;
      if (c && c.warn) {
        c.warn('pixel: ' + what);
      }
    }
  }

  function own(o, k) {
    return Object.prototype.hasOwnProperty.call(o, k);
  }

  function isArray(v) {
    return Object.prototype.toString.call(v) === '[object Array]';
  }

  function newID() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === 'function') {
      try {
        return c.randomUUID();
      } catch (e) { /* not a secure context */ }
    }
    var bytes = [], i, hex = '';
    if (c && c.getRandomValues && window.Uint8Array) {
      bytes = c.getRandomValues(new window.Uint8Array(16));
    } else {
      for (i = 0; i < 16; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    for (i = 0; i < 16; i++) {
      hex += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    }
    return hex;
  }

  function cut(s) {
    s = s == null ? '' : String(s);
    return s.length > MAX_URL ? s.substring(0, MAX_URL) : s;
  }

  function find(id) {
    for (var i = 0; i < pixels.length; i++) {
      if (pixels[i].id === id) {
        return pixels[i];
      }
    }
    return null;
  }

  function seconds(v) {
    var n = Number(v);
    return v != null && v !== '' && n >= 0 ? n * 1000 : -1;
  }

  // ---- commands ----

  function init(id, o) {
    if (typeof id !== 'string' || id === '' || find(id)) {
      return;
    }
    o = o || {};
    var p = {id: id, o: o, fired: false};
    pixels.push(p);
    settings(p);
    var ms = seconds(o.heartbeatSeconds);
    if (ms >= 0) {
      heartbeatMs = ms;
    }
    ms = seconds(o.activeSeconds);
    if (ms > 0) {
      until += ms - activeMs; // the window open since the page load too
      activeMs = ms;
    }
    if (o.spa === false) {
      spa = false;
    }
    if (o.userData) {
      identify(o.userData);
    }
    schedule(now());
  }

  // config is what the collector appends to /px.js?id=ID: the pixel's
  // settings in the registry. The page's own init options win over it, except
  // that consent 'required' from either side holds.
  function config(id, c) {
    if (typeof id === 'string' && c && typeof c === 'object') {
      configs[id] = c;
      var p = find(id);
      if (p) {
        settings(p);
        schedule(now());
      }
    }
  }

  function settings(p) {
    var c = configs[p.id] || {}, ms = seconds(p.o.engagementSeconds);
    if (ms < 0) {
      ms = seconds(c.engagementSeconds);
    }
    p.goalMs = ms < 0 ? 60000 : ms; // 0: no Engaged event
    p.required = p.o.consent === 'required' || c.consent === 'required';
  }

  function storedConsent() {
    try {
      return window.localStorage.getItem(CONSENT_KEY) === 'granted';
    } catch (e) {
      return false; // storage blocked
    }
  }

  // consent('grant'|'revoke'|'update'[, {ad_storage: 'granted', ...}]). Init's
  // consent option names the pixel's mode ('required' or 'granted') instead.
  function consent(action, s) {
    if (s && typeof s === 'object') {
      var got = null;
      for (var i = 0; i < SIGNALS.length; i++) {
        var v = s[SIGNALS[i]];
        if (v === 'granted' || v === 'denied') {
          got = got || {};
          got[SIGNALS[i]] = v;
        } else if (signals && signals[SIGNALS[i]]) {
          got = got || {};
          got[SIGNALS[i]] = signals[SIGNALS[i]];
        }
      }
      signals = got;
    }
    if (action === 'grant') {
      granted = true;
      revoked = false;
      try {
        window.localStorage.setItem(CONSENT_KEY, 'granted');
      } catch (e) { /* storage blocked: this page still knows */ }
    } else if (action === 'revoke') {
      granted = false;
      revoked = true;
      buffer = [];
      gifs = [];
      try {
        window.localStorage.removeItem(CONSENT_KEY);
      } catch (e) { /* storage blocked */ }
    } else if (action !== 'update') {
      warn('unknown consent action ' + action);
    }
  }

  // ---- advanced matching: identifiers hashed in the browser ----

  function trim(s) {
    return String(s).replace(/^\s+|\s+$/g, '');
  }

  // Meta: trimmed, lower case. Google: also no dots in a gmail local part.
  function normEmail(s) {
    return trim(s).toLowerCase();
  }

  function googleEmail(e) {
    var at = e.lastIndexOf('@'), domain = e.substring(at + 1);
    if (at > 0 && (domain === 'gmail.com' || domain === 'googlemail.com')) {
      return trim(e.substring(0, at).replace(/\./g, '') + e.substring(at)); // ". a@gmail.com"
    }
    return e;
  }

  // Meta: digits only, country code included, a leading international 00
  // dropped. Google: the same digits after a '+'.
  function normPhone(s) {
    return String(s).replace(/\D/g, '').replace(/^00/, '');
  }

  function isHash(s) {
    return /^[0-9a-f]{64}$/.test(s);
  }

  function identify(u) {
    if (!u || typeof u !== 'object') {
      return;
    }
    var job = {u: u, ud: null, ready: false};
    ident = job;
    jobs.push(job);
    if (jobs.length === 1) {
      hashJob(job);
    }
  }

  // hashJob hashes one identify call's values; the jobs run one after
  // another, so that each adds to what the one before it left in `known`.
  function hashJob(job) {
    var u = job.u, names = [], texts = [], out = {}, k, v;
    if (u.email != null && (v = normEmail(u.email)) !== '') {
      names.push('em', 'em_g');
      texts.push(v, isHash(v) ? v : googleEmail(v));
    }
    if (u.phone != null && (v = trim(u.phone).toLowerCase()) !== '') {
      names.push('ph', 'ph_g');
      if (isHash(v)) {
        texts.push(v, v);
      } else if ((v = normPhone(v)) !== '') {
        texts.push(v, '+' + v);
      } else {
        names.length -= 2;
      }
    }
    if (u.external_id != null && (v = trim(u.external_id)) !== '') {
      out.external_id = v; // the site's own id, sent as given: the collector hashes it where a platform wants that
    }
    hashAll(texts, function (hex) {
      for (k in known) {
        if (own(known, k) && !own(out, k)) {
          out[k] = known[k];
        }
      }
      for (var i = 0; i < names.length; i++) {
        if (hex[i]) {
          out[names[i]] = isHash(texts[i]) ? texts[i] : hex[i];
        }
      }
      known = job.ud = out;
      job.ready = true;
      jobs.shift();
      if (jobs.length > 0) {
        hashJob(jobs[0]);
      }
      later();
    });
  }

  // hashAll calls done with the hex SHA-256 of each text's UTF-8 bytes: from
  // Web Crypto where the page has it (secure origins only), else from sha256.
  function hashAll(texts, done) {
    var subtle = window.crypto && window.crypto.subtle, fallback = function () {
      var hex = [];
      for (var i = 0; i < texts.length; i++) {
        try {
          hex.push(sha256(texts[i]));
        } catch (e) {
          hex.push(''); // not text (a lone surrogate): left out
        }
      }
      done(hex);
    };
    if (!subtle || !window.Promise || texts.length === 0) {
      return fallback();
    }
    try {
      var all = [];
      for (var i = 0; i < texts.length; i++) {
        all.push(subtle.digest('SHA-256', new window.Uint8Array(utf8(texts[i]))));
      }
      window.Promise.all(all).then(guard(function (sums) {
        var hex = [];
        for (var i = 0; i < sums.length; i++) {
          hex.push(toHex(new window.Uint8Array(sums[i])));
        }
        done(hex);
      }), fallback);
    } catch (e) {
      fallback();
    }
  }

  function utf8(s) {
    var b = unescape(encodeURIComponent(s)), out = [];
    for (var i = 0; i < b.length; i++) {
      out.push(b.charCodeAt(i));
    }
    return out;
  }

  function toHex(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) {
      s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    }
    return s;
  }

  // sha256 is FIPS 180-4 SHA-256 of a string's UTF-8 bytes, in hex: the
  // fallback where crypto.subtle is missing. Its constants are computed (the
  // first 32 bits of the fractional parts of the square and cube roots of
  // the first primes) rather than written out: fewer bytes to send.
  var K = [], H = [];

  function sha256(s) {
    var b = utf8(s), bits = b.length * 8, w = [], h, v, i, j, t1, t2;
    if (K.length === 0) {
      for (var n = 2; K.length < 64; n++) {
        for (j = 2; j * j <= n && n % j; j++) { /* trial division */ }
        if (j * j > n) {
          if (H.length < 8) {
            H.push(frac(Math.sqrt(n)));
          }
          K.push(frac(Math.pow(n, 1 / 3)));
        }
      }
    }
    b.push(0x80);
    while (b.length % 64 !== 56) {
      b.push(0);
    }
    b.push(0, 0, 0, 0, bits >>> 24, (bits >>> 16) & 255, (bits >>> 8) & 255, bits & 255);
    h = H.slice(0);
    for (i = 0; i < b.length; i += 64) {
      for (j = 0; j < 64; j++) {
        if (j < 16) {
          w[j] = b[i + 4 * j] << 24 | b[i + 4 * j + 1] << 16 | b[i + 4 * j + 2] << 8 | b[i + 4 * j + 3];
        } else {
          t1 = w[j - 15];
          t2 = w[j - 2];
          w[j] = w[j - 16] + (rotr(t1, 7) ^ rotr(t1, 18) ^ t1 >>> 3) + w[j - 7] +
            (rotr(t2, 17) ^ rotr(t2, 19) ^ t2 >>> 10) | 0;
        }
      }
      v = h.slice(0); // a, b, c, d, e, f, g, h
      for (j = 0; j < 64; j++) {
        t1 = v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) +
          (v[4] & v[5] ^ ~v[4] & v[6]) + K[j] + w[j] | 0;
        t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) +
          (v[0] & v[1] ^ v[0] & v[2] ^ v[1] & v[2]) | 0;
        v.pop(); // the words move down by one: h = g, ..., b = a
        v.unshift(t1 + t2 | 0);
        v[4] = v[4] + t1 | 0; // e = d + t1
      }
      for (j = 0; j < 8; j++) {
        h[j] = h[j] + v[j] | 0;
      }
    }
    for (s = '', j = 0; j < 8; j++) {
      s += ('0000000' + (h[j] >>> 0).toString(16)).slice(-8);
    }
    return s;
  }

  function frac(x) {
    return (x - Math.floor(x)) * 4294967296 | 0;
  }

  function rotr(x, n) {
    return x >>> n | x << 32 - n;
  }

  // ---- events ----

  // track queues one event per initialised pixel (or per pixel in only) and
  // sends the queue at the end of the current task, so that calls made
  // together (a page view and a purchase) travel in one request.
  function track(name, data, options, only) {
    if (revoked) {
      return;
    }
    var to = only || pixels, t = now(), eid = options && options.eventID, cd = clean(data);
    for (var i = 0; i < to.length; i++) {
      var p = to[i], e = {
        id: p.id,
        ev: name,
        eid: eid ? String(eid) : newID(),
        pv: pv,
        dl: cut(location.href),
        rl: cut(referrer),
        ts: t,
        et: engaged(t)
      };
      if (cd) {
        e.cd = cd;
      }
      if (granted) {
        e.cs = 'granted';
      }
      if (signals) {
        e.cm = signals;
      }
      if (navigator.webdriver) {
        e.wd = 1;
      }
      buffer.push({e: e, i: ident, p: p, g: granted});
    }
    later();
  }

  // clean copies custom data into what the collector takes: strings,
  // numbers, booleans, content_ids as a list; other lists and objects as
  // JSON text.
  function clean(d) {
    if (!d || typeof d !== 'object') {
      return null;
    }
    var out = {}, n = 0;
    for (var k in d) {
      var v = d[k];
      if (!own(d, k) || v == null || typeof v === 'function') {
        continue;
      }
      if (k === 'content_ids' && isArray(v)) {
        v = ids(v);
      } else if (typeof v === 'object') {
        v = JSON.stringify(v);
      }
      out[k] = v;
      n++;
    }
    return n > 0 ? out : null;
  }

  function ids(list) {
    var out = [];
    for (var i = 0; i < list.length; i++) {
      if (typeof list[i] === 'string' || typeof list[i] === 'number') {
        out.push(list[i]);
      }
    }
    return out;
  }

  function later() {
    if (buffer.length > 0 && flushTimer === null) {
      flushTimer = setTimeout(guard(flush), 0);
    }
  }

  // flush sends the queued events in order, up to the first still waiting
  // for its user data to be hashed; final (the page is being hidden or left)
  // sends them all, those waiting with the user data known so far. Where the
  // pixel requires consent, events from before the grant carry no user
  // data; that is decided here, not in track, because the collector's config
  // call (consent 'required') runs after the snippet's first calls.
  function flush(final) {
    if (flushTimer !== null) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    var out = [];
    while (buffer.length > 0) {
      var b = buffer[0], ud = b.i.ready ? b.i.ud : final ? known : null;
      if (!ud) {
        break;
      }
      buffer.shift();
      if (b.p.required && !b.g) {
        ud = null;
      }
      for (var k in ud) {
        if (own(ud, k)) {
          b.e.ud = ud;
          break;
        }
      }
      out.push(b.e);
    }
    while (out.length > 0) {
      send(out.splice(0, MAX_BATCH));
    }
  }

  // send posts events as JSON with sendBeacon (text/plain: no CORS
  // preflight, and it survives the page being closed). When the browser has
  // no sendBeacon or refuses the beacon, each event goes as a GIF request.
  function send(events) {
    var sent = false;
    if (navigator.sendBeacon && window.JSON) {
      try {
        sent = navigator.sendBeacon(base + '/collect',
          JSON.stringify(events.length === 1 ? events[0] : events));
      } catch (e) {
        sent = false;
      }
    }
    if (!sent) {
      for (var i = 0; i < events.length; i++) {
        gifs.push(base + '/p.gif?' + query(events[i]));
      }
      nextGIF();
    }
  }

  // query is an event as GIF parameters: objects as key[member]=value.
  function query(e) {
    var q = [], k, m, v;
    for (k in e) {
      v = e[k];
      if (typeof v !== 'object') {
        q.push(enc(k) + '=' + enc(v));
        continue;
      }
      for (m in v) {
        if (own(v, m)) {
          q.push(enc(k) + '%5B' + enc(m) + '%5D=' + enc(isArray(v[m]) ? JSON.stringify(v[m]) : v[m]));
        }
      }
    }
    return q.join('&');
  }

  function enc(v) {
    return encodeURIComponent(String(v));
  }

  // GIFs go one at a time: a new visitor's first answer brings the cookie
  // that the next request must carry to count as the same visitor.
  function nextGIF() {
    if (gifInFlight !== null || gifs.length === 0) {
      return;
    }
    var img = new Image(1, 1), timer = null;
    var done = guard(function () {
      if (gifInFlight === img) {
        clearTimeout(timer);
        gifInFlight = null;
        nextGIF();
      }
    });
    gifInFlight = img;
    img.onload = img.onerror = done;
    timer = setTimeout(done, 3000);
    img.src = gifs.shift();
  }

  // ---- engaged time ----

  function visible() {
    return document.visibilityState !== 'hidden';
  }

  // engaged is the page view's engaged time at t, in ms.
  function engaged(t) {
    return engagedMs + (since === null ? 0 : Math.max(0, Math.min(t, until) - since));
  }

  // settle books the engaged time up to t into engagedMs.
  function settle(t) {
    if (since !== null) {
      engagedMs = engaged(t);
      since = t < until ? t : null;
    }
  }

  // activity is input, a scroll, or the page coming into view: the page is
  // engaged for activeMs from now if it is visible.
  function activity() {
    if (!visible()) {
      return;
    }
    var t = now();
    settle(t); // a window that ran out before this input adds only up to its end
    until = t + activeMs;
    if (since === null) {
      since = t;
      schedule(t);
    }
  }

  // schedule sets the timer for the next moment something is due: the end
  // of the activity window, the next heartbeat or a pixel's goal.
  function schedule(t) {
    clearTimeout(timer);
    timer = null;
    if (since === null) {
      return;
    }
    var e = engaged(t), next = until - t;
    if (heartbeatMs > 0 && pixels.length > 0) {
      next = Math.min(next, lastBeat + heartbeatMs - e);
    }
    for (var i = 0; i < pixels.length; i++) {
      if (!pixels[i].fired && pixels[i].goalMs > 0) {
        next = Math.min(next, pixels[i].goalMs - e);
      }
    }
    timer = setTimeout(tick, Math.max(next, 0));
  }

  var tick = guard(function () {
    timer = null;
    var t = now();
    settle(t);
    goals();
    if (heartbeatMs > 0 && engagedMs - lastBeat >= heartbeatMs) {
      beat();
    }
    schedule(t);
  });

  // goals sends Engaged for each pixel whose goal the page view reached.
  function goals() {
    for (var i = 0; i < pixels.length; i++) {
      var p = pixels[i];
      if (!p.fired && p.goalMs > 0 && engagedMs >= p.goalMs) {
        p.fired = true;
        track('Engaged', {seconds: p.goalMs / 1000}, null, [p]);
      }
    }
  }

  // beat sends PageEngagement with the engaged time, unless it has not
  // grown since the last one (or there is no pixel to send it for yet).
  function beat() {
    if (engagedMs > lastBeat && pixels.length > 0) {
      lastBeat = engagedMs;
      track('PageEngagement');
    }
  }

  // leave ends the counting when the page is hidden, left or replaced by a
  // single-page-app navigation, and sends what is due.
  function leave() {
    settle(now());
    since = null;
    schedule(0);
    goals();
    beat();
  }

  function onVisibility() {
    if (visible()) {
      activity();
    } else {
      leave();
      flush(true); // the page may be about to close
    }
  }

  function newPage() {
    pv = newID();
    pageURL = location.href;
    engagedMs = lastBeat = 0;
    since = null;
    for (var i = 0; i < pixels.length; i++) {
      pixels[i].fired = false;
    }
    activity(); // the navigation is the visitor's doing
  }

  // navigated starts a new page view when a single-page app changed the URL.
  var navigated = guard(function () {
    if (location.href === pageURL) {
      return;
    }
    var from = pageURL;
    leave();
    newPage();
    referrer = from;
    if (spa) {
      track('PageView');
    }
  });

  function wrap(name) {
    var f = history && history[name];
    if (typeof f === 'function') {
      history[name] = function () {
        var r = f.apply(this, arguments);
        navigated();
        return r;
      };
    }
  }

  var commands = {
    init: init,
    config: config,
    track: function (name, data, options) {
      track(typeof name === 'string' && name !== '' ? name : 'PageView', data, options);
    },
    trackCustom: function (name, data, options) {
      if (typeof name === 'string' && name !== '') {
        track(name, data, options);
      }
    },
    trackSingle: function (id, name, data, options) {
      var p = find(id);
      if (p && typeof name === 'string' && name !== '') {
        track(name, data, options, [p]);
      }
    },
    identify: identify,
    consent: consent
  };

  function handle(args) {
    var cmd = args[0];
    if (typeof cmd === 'string' && own(commands, cmd)) {
      guard(commands[cmd])(args[1], args[2], args[3], args[4]);
    } else {
      warn('unknown command ' + cmd);
    }
  }

  function listen(target, types, f) {
    for (var i = 0; i < types.length; i++) {
      target.addEventListener(types[i], f, {capture: true, passive: true});
    }
  }

  var start = guard(function () {
    newPage();
    if (document.addEventListener) {
      listen(document, ['keydown', 'mousedown', 'pointerdown', 'mousemove', 'touchstart', 'scroll', 'wheel'], guard(activity));
      listen(document, ['visibilitychange'], guard(onVisibility));
      listen(window, ['pagehide'], guard(function () {
        leave();
        flush(true);
      }));
      listen(window, ['pageshow'], guard(activity));
      listen(window, ['popstate', 'hashchange'], navigated);
    }
    wrap('pushState');
    wrap('replaceState');
  });

  start();
  var api = function () {
    handle(arguments);
  };
  api.loaded = true;
  api.q = [];
  window.pixel = api;
  for (var i = 0; i < queue.length; i++) {
    handle(queue[i]);
  }
}(window, document, navigator));
