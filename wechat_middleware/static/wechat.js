/* wechat_middleware's browser helper: configures WeChat's JS-SDK for this page.
 *
 *   wechatMiddleware.ready(["updateAppMessageShareData"], {openTagList: [], debug: false})
 *     .then(function (res) { ... wx is ready; res.url is the URL that was signed ... })
 *     .catch(function (err) { ... err.message is WeChat's errMsg ... });
 *
 * Which URL to sign is the usual cause of "invalid signature" in single-page apps: iOS
 * WeChat checks the URL the page was first loaded with (the landing URL, kept across
 * history.pushState), Android WeChat the current URL. This script signs the right one,
 * configures again after each route change where the platform needs it, and reports a
 * failed configuration to the server once per page URL, so that it shows in the server's
 * log. Served by the middleware at {jssdk_path}/wechat.js with its settings filled in.
 * ES5 only: old WeChat webviews run it.
 */
(function (window, document) {
  "use strict";
  if (window.wechatMiddleware) { return; }  // loaded twice: keep the first (history is wrapped)

  // {"jssdkUrl": the JS-SDK script, "base": where the middleware answers /config and /report}
  var SETTINGS = __WECHAT_MIDDLEWARE_SETTINGS__;
  var CONFIG_TIMEOUT_MS = 10000;

  function pageUrl() { return window.location.href.split("#")[0]; }

  var UA = window.navigator.userAgent || "";
  var IOS_WECHAT = /iPhone|iPad|iPod/i.test(UA) && /MicroMessenger/i.test(UA);
  var LANDING_URL = pageUrl();  // read once, as this script first runs

  var apis = [];        // every API any ready() asked for: each configuration requests all
  var tags = [];        // likewise, open tags
  var debug = false;    // true once any ready() asked for debug
  var waiters = [];     // pending ready() calls: {apis, tags, resolve, reject}
  var current = null;   // the latest configuration round: {url, signedUrl, ticketId, state}
  var configured = null;  // the round last passed to wx.config: a wx.error is about it
  var scheduled = false;
  var reported = {};    // page URLs already reported to the server
  var sdk = { state: "none", callbacks: [] };  // none | loading | loaded

  function urlToSign() { return IOS_WECHAT ? LANDING_URL : pageUrl(); }

  // The names in list that known lacks, each once.
  function missing(known, list) {
    var out = [];
    for (var i = 0; i < list.length; i++) {
      if (known.indexOf(list[i]) < 0 && out.indexOf(list[i]) < 0) { out.push(list[i]); }
    }
    return out;
  }

  // An array of API or tag names ("updateAppMessageShareData", "wx-open-launch-weapp").
  function isNameList(value) {
    if (Object.prototype.toString.call(value) !== "[object Array]") { return false; }
    for (var i = 0; i < value.length; i++) {
      if (typeof value[i] !== "string" || !/^[\w.-]+$/.test(value[i])) { return false; }
    }
    return true;
  }

  // Run a callback of ours; an exception is logged, never thrown into the page's code.
  function guarded(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) {
        if (window.console && window.console.error) { window.console.error("wechat.js:", e); }
      }
    };
  }

  // ------------------------------------------------------------------ the JS-SDK script

  // Load SETTINGS.jssdkUrl once, unless the page already has wx; then callback(true|false).
  function loadSdk(callback) {
    if (window.wx && typeof window.wx.config === "function") { sdk.state = "loaded"; }
    if (sdk.state === "loaded") { callback(true); return; }
    sdk.callbacks.push(callback);
    if (sdk.state === "loading") { return; }
    sdk.state = "loading";
    var script = document.createElement("script");
    script.src = SETTINGS.jssdkUrl;
    script.async = true;
    script.onload = script.onerror = guarded(function () {
      var ok = !!(window.wx && typeof window.wx.config === "function");
      var callbacks = sdk.callbacks;
      sdk.state = ok ? "loaded" : "none";  // after a failure the next round tries again
      sdk.callbacks = [];
      for (var i = 0; i < callbacks.length; i++) { guarded(callbacks[i])(ok); }
    });
    (document.head || document.getElementsByTagName("head")[0] || document.documentElement)
      .appendChild(script);
  }

  // ------------------------------------------------------------------ configuration rounds

  function schedule() {  // at most one run per tick, however many calls and route changes
    if (scheduled) { return; }
    scheduled = true;
    setTimeout(guarded(function () { scheduled = false; run(); }), 0);
  }

  function covers(round, names, openTags) {
    return !missing(round.apis, names).length && !missing(round.tags, openTags).length;
  }

  function run() {
    var url = urlToSign();
    var upToDate = current && current.url === url && covers(current, apis, tags);
    if (upToDate && current.state === "ready") { resolveWaiters(); return; }
    if (upToDate && current.state === "pending") { return; }  // its result settles them
    // Nothing asked for yet, or this one failed and nobody is asking again.
    if (!waiters.length && (!current || upToDate)) { return; }
    startRound(url);
  }

  function startRound(url) {
    var round = { url: url, signedUrl: null, ticketId: "", state: "pending",
                  apis: apis.slice(), tags: tags.slice() };
    current = round;  // a round still in flight is superseded: its results are ignored
    loadSdk(function () {});  // start loading the script while the config is fetched
    var xhr = new XMLHttpRequest();
    xhr.open("GET", SETTINGS.base + "/config?url=" + encodeURIComponent(url) +
      "&apis=" + round.apis.join(",") + "&open_tags=" + round.tags.join(",") +
      "&debug=" + (debug ? 1 : 0), true);
    xhr.timeout = CONFIG_TIMEOUT_MS;
    xhr.onload = guarded(function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) {}
      if (xhr.status === 200 && answer && typeof answer.signature === "string") {
        configure(round, answer);
      } else {
        var text = answer && typeof answer.error === "string" ? answer.error : "";
        fail(round, "config endpoint: " + (text || "HTTP " + xhr.status));
      }
    });
    xhr.onerror = xhr.ontimeout = guarded(function () {
      fail(round, "config endpoint: no answer");
    });
    xhr.send();
  }

  function configure(round, answer) {
    if (round !== current) { return; }
    round.signedUrl = typeof answer.url === "string" ? answer.url : round.url;
    round.ticketId = typeof answer.ticketId === "string" ? answer.ticketId : "";
    var config = {};  // wx.config gets the answer without the fields meant for reports
    for (var key in answer) {
      if (Object.prototype.hasOwnProperty.call(answer, key) && key !== "url" &&
          key !== "ticketId" && key !== "agentConfig") { config[key] = answer[key]; }
    }
    var agent = answer.agentConfig || null;  // WeCom: the app's identity, after the corp's
    loadSdk(function (ok) {
      if (round !== current) { return; }
      if (!ok) { fail(round, "JS-SDK could not be loaded from " + SETTINGS.jssdkUrl); return; }
      var wx = window.wx, first = !configured;
      configured = round;
      wx.config(config);
      if (first) {
        // Once: some jweixin versions keep only the first (or the last) error handler.
        wx.error(guarded(function (res) {
          var errMsg = res && res.errMsg ? String(res.errMsg) : "config:fail";
          if (configured) { fail(configured, errMsg); }
        }));
      }
      // Per round: jweixin runs ready handlers once, then forgets them. It also runs them
      // after a failure, but after wx.error, which has settled the round by then. (After a
      // first configuration it may run them at once: a later wx.error still counts.)
      wx.ready(guarded(function () {
        if (round !== current || round.state !== "pending") { return; }
        if (agent) { agentConfigure(round, agent); return; }
        round.state = "ready";
        resolveWaiters();
      }));
    });
  }

  // WeCom: wx.agentConfig with the app's signature; the round is ready when it succeeds.
  function agentConfigure(round, agent) {
    var wx = window.wx;
    if (typeof wx.agentConfig !== "function") {
      fail(round, "agentConfig:fail, wx.agentConfig is missing: load WeCom's JS-SDK");
      return;
    }
    var options = {};
    for (var key in agent) {
      if (Object.prototype.hasOwnProperty.call(agent, key) && key !== "ticketId") {
        options[key] = agent[key];
      }
    }
    options.success = guarded(function () {
      if (round === current && round.state === "pending") {
        round.state = "ready";
        resolveWaiters();
      }
    });
    options.fail = guarded(function (res) {
      round.ticketId = typeof agent.ticketId === "string" ? agent.ticketId : "";  // the app's
      fail(round, res && res.errMsg ? String(res.errMsg) : "agentConfig:fail");
    });
    wx.agentConfig(options);
  }

  // Resolve the waiters the ready configuration covers, if it is still for this page.
  function resolveWaiters() {
    if (!current || current.state !== "ready" || current.url !== urlToSign()) {
      schedule();  // the route changed meanwhile: configure again
      return;
    }
    var covered = takeWaiters(current);
    for (var i = 0; i < covered.length; i++) { covered[i].resolve({ url: current.signedUrl }); }
    if (waiters.length) { schedule(); }
  }

  // Remove and return the waiters whose APIs and open tags the round requested.
  function takeWaiters(round) {
    var covered = [], still = [];
    for (var i = 0; i < waiters.length; i++) {
      (covers(round, waiters[i].apis, waiters[i].tags) ? covered : still).push(waiters[i]);
    }
    waiters = still;
    return covered;
  }

  // The round failed: reject the waiters it covered and tell the server (once per page URL).
  function fail(round, message) {
    if (round !== current || round.state === "error") { return; }
    round.state = "error";
    var covered = takeWaiters(round);
    for (var i = 0; i < covered.length; i++) { covered[i].reject(new Error(message)); }
    report(round, message);
    if (waiters.length) { schedule(); }
  }

  function report(round, message) {
    var url = pageUrl();
    if (reported[url]) { return; }
    reported[url] = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", SETTINGS.base + "/report", true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.send(JSON.stringify({
      url: url,
      signed_url: round.signedUrl || round.url,
      errMsg: message,
      ua: UA,
      landing_url: LANDING_URL,
      ticket_id: round.ticketId || ""
    }));
  }

  // ------------------------------------------------------------------ route changes

  // Android checks the current URL: configure again for the new one. iOS checks the landing
  // URL, whose configuration stays valid, so nothing is done there.
  var routeChanged = guarded(function () {
    if (!IOS_WECHAT && current) { schedule(); }
  });

  function wrapHistory(name) {
    var original = window.history && window.history[name];
    if (typeof original !== "function") { return; }
    window.history[name] = function () {
      var result = original.apply(this, arguments);  // its exceptions are the page's to see
      routeChanged();
      return result;
    };
  }
  wrapHistory("pushState");
  wrapHistory("replaceState");
  if (window.addEventListener) { window.addEventListener("popstate", routeChanged, false); }

  // ------------------------------------------------------------------ public API

  window.wechatMiddleware = {
    landingUrl: LANDING_URL,

    // A Promise resolved ({url}) once wx is configured with jsApiList (and options.openTagList)
    // for this page; rejected with an Error carrying WeChat's errMsg.
    ready: function (jsApiList, options) {
      var names = jsApiList === undefined ? [] : jsApiList;
      var opts = options || {};
      var openTags = opts.openTagList === undefined ? [] : opts.openTagList;
      return new Promise(function (resolve, reject) {
        if (!isNameList(names) || !isNameList(openTags)) {
          reject(new TypeError("wechatMiddleware.ready: jsApiList and openTagList must be " +
            "arrays of names"));
          return;
        }
        apis.push.apply(apis, missing(apis, names));
        tags.push.apply(tags, missing(tags, openTags));
        debug = debug || !!opts.debug;
        waiters.push({ apis: names.slice(), tags: openTags.slice(),
                       resolve: resolve, reject: reject });
        schedule();
      });
    },

    // The URL the latest configuration signed (null before the first answer).
    signedUrl: function () { return current ? current.signedUrl : null; }
  };
})(window, document);
