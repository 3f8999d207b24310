/* pixel tag (ES5). Served by the collector as GET /px.js; see README "The JS tag".
 * pixel('init', id[, {engagementSeconds: 60}]); pixel('track', name[, customData[, {eventID: '...'}]]) */
(function (window, document, navigator) {
  'use strict';
  var stub = window.pixel;
  if (stub && stub.loaded) {
    return; // the tag is on the page twice
  }
  var queue = (stub && stub.q) || [];
  var MAX_URL = 2000; // dl and rl are cut here: the collector refuses URLs over 4096 bytes
  var MAX_BATCH = 50; // events per request; the collector takes up to 100
  var base = collectorURL();
  var ids = [];
  var buffer = [];
  var flushTimer = null;
  var gifs = []; // GIF URLs waiting for the one in flight
  var gifInFlight = null; // kept from the garbage collector until it answers
  var goals = []; // engagement goals: {id, ms, done}
  var visibleMs = 0;
  var visibleSince = null;
  var goalTimer = null;

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
    return new Date().getTime();
  }

  function newEventID() {
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

  function init(id, options) {
    if (typeof id !== 'string' || id === '') {
      return;
    }
    for (var i = 0; i < ids.length; i++) {
      if (ids[i] === id) {
        return;
      }
    }
    ids.push(id);
    var seconds = options && Number(options.engagementSeconds);
    if (seconds > 0) {
      goals.push({id: id, ms: seconds * 1000, seconds: seconds, done: false});
      checkGoals();
    }
  }

  // track queues one event per initialised pixel id (or per id in only) and
  // sends the queue at the end of the current task, so that calls made
  // together (a page view and a purchase) travel in one request.
  function track(name, customData, options, only) {
    var to = only || ids;
    var eventID = options && options.eventID;
    for (var i = 0; i < to.length; i++) {
      var e = {
        id: to[i],
        ev: typeof name === 'string' && name !== '' ? name : 'PageView',
        eid: eventID ? String(eventID) : newEventID(),
        dl: cut(window.location.href),
        rl: cut(document.referrer),
        ts: now()
      };
      if (customData && typeof customData === 'object') {
        e.cd = customData;
      }
      buffer.push(e);
    }
    if (buffer.length > 0 && flushTimer === null) {
      flushTimer = setTimeout(flush, 0);
    }
  }

  function flush() {
    if (flushTimer !== null) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    while (buffer.length > 0) {
      send(buffer.splice(0, MAX_BATCH));
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
        image(events[i]);
      }
    }
  }

  function image(e) {
    var q = 'id=' + enc(e.id) + '&ev=' + enc(e.ev) + '&eid=' + enc(e.eid) +
      '&dl=' + enc(e.dl) + '&rl=' + enc(e.rl) + '&ts=' + e.ts;
    var cd = e.cd || {};
    for (var k in cd) {
      if (!Object.prototype.hasOwnProperty.call(cd, k)) {
        continue;
      }
      var v = cd[k];
      if (k === 'content_ids' && Object.prototype.toString.call(v) === '[object Array]' && window.JSON) {
        v = JSON.stringify(v);
      } else if (v === null || typeof v === 'object' || typeof v === 'function' || typeof v === 'undefined') {
        continue;
      }
      q += '&cd%5B' + enc(k) + '%5D=' + enc(v);
    }
    gifs.push(base + '/p.gif?' + q);
    nextGIF();
  }

  // GIFs go one at a time: a new visitor's first answer brings the cookie
  // that the next request must carry to count as the same visitor.
  function nextGIF() {
    if (gifInFlight !== null || gifs.length === 0) {
      return;
    }
    var img = new Image(1, 1), timer = null;
    var done = function () {
      if (gifInFlight === img) {
        clearTimeout(timer);
        gifInFlight = null;
        nextGIF();
      }
    };
    gifInFlight = img;
    img.onload = img.onerror = done;
    timer = setTimeout(done, 3000);
    img.src = gifs.shift();
  }

  function enc(v) {
    return encodeURIComponent(String(v));
  }

  // Engagement: an "Engaged" event once the page was visible long enough.
  function visible() {
    return document.visibilityState !== 'hidden';
  }

  function visibleTime() {
    return visibleMs + (visibleSince === null ? 0 : now() - visibleSince);
  }

  function checkGoals() {
    if (goalTimer !== null) {
      clearTimeout(goalTimer);
      goalTimer = null;
    }
    if (visibleSince === null) {
      return; // hidden: the clock stands still
    }
    var t = visibleTime(), wait = -1;
    for (var i = 0; i < goals.length; i++) {
      var g = goals[i];
      if (g.done) {
        continue;
      }
      if (t >= g.ms) {
        g.done = true;
        track('Engaged', {seconds: g.seconds}, null, [g.id]);
      } else if (wait < 0 || g.ms - t < wait) {
        wait = g.ms - t;
      }
    }
    if (wait >= 0) {
      goalTimer = setTimeout(checkGoals, wait + 20);
    }
  }

  function onVisibility() {
    if (visible()) {
      if (visibleSince === null) {
        visibleSince = now();
      }
    } else {
      if (visibleSince !== null) {
        visibleMs += now() - visibleSince;
        visibleSince = null;
      }
      flush(); // the page may be about to close
    }
    checkGoals();
  }

  function handle(args) {
    var cmd = args[0];
    if (cmd === 'init') {
      init(args[1], args[2]);
    } else if (cmd === 'track') {
      track(args[1], args[2], args[3]);
    }
  }

  if (visible()) {
    visibleSince = now();
  }
  if (document.addEventListener) {
    document.addEventListener('visibilitychange', onVisibility, false);
  }
  if (window.addEventListener) {
    window.addEventListener('pagehide', flush, false);
  }

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
