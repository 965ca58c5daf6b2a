/* wechat_middleware's browser helper: configures WeChat's (or WeCom's) JS-SDK for this page.
 *
 *   wechatMiddleware.ready(["updateAppMessageShareData"], {openTagList: [], debug: false})
 *     .then(function (res) { ... the APIs may be called; res.url is the URL that was signed ... })
 *     .catch(function (err) { ... err.message is WeChat's errMsg ... });
 *
 * ready() settles on WeChat's own verdict for the configuration it waits on: on the first
 * load and after every route change, on iOS and Android, whether WeChat's bridge
 * (window.WeixinJSBridge) is there when the page loads or arrives later.
 *
 * WeChat. The helper asks the bridge itself ("preVerifyJSAPI", the check wx.config makes,
 * with the fields WeChat's SDKs send: jweixin-1.6.0's config, @wecom/jssdk's
 * ensureCorpConfigReady) and hands the verified configuration to jweixin with
 * wx.config({..., check: false}), which then runs the page's wx.ready handlers. It does not
 * rely on wx.ready: jweixin runs ready handlers at once once a first configuration has
 * completed, so after a route change it would say "ready" before WeChat judged the new one.
 * Which URL to sign is the usual cause of "invalid signature" in single-page apps: iOS
 * WeChat checks the URL the page was first loaded with (the landing URL, kept across
 * history.pushState), Android WeChat the current URL. The helper signs the right one and
 * configures again after each route change where the platform needs it: on Android always,
 * on iOS when open tags were asked for (they are granted for the URL the page is at).
 *
 * WeCom (the server says so in SETTINGS.wecom). The helper loads WeCom's own SDK
 * (@wecom/jssdk's browser build, window.ww) and registers the page with ww.register, with
 * both signatures: the corp's (wx.config) and the app's (wx.agentConfig). WeCom's SDK picks
 * what the client needs (WeCom 3.0.24 and later: the app's alone) and the URL (the current
 * one, on iOS too); ready() is ww.ensureConfigReady(). Pages call ww.* afterwards.
 *
 * A failed configuration is reported to the server once per page URL, so that it shows in
 * the server's log; so are open tags WeChat refused (its WeixinOpenTagsError event). Served
 * by the middleware at {jssdk_path}/wechat.js with its settings filled in. ES5 only: old
 * WeChat webviews run it.
 */
(function (window, document) {
  "use strict";
  if (window.wechatMiddleware) { return; }  // loaded twice: keep the first (history is wrapped)

  // {"jssdkUrl": jweixin, "base": where /config and /report answer,
  //  "wecom": null or {"sdkUrl": WeCom's SDK, "corpId": ..., "agentId": ...}}
  var SETTINGS = __WECHAT_MIDDLEWARE_SETTINGS__;
  var TIMEOUT_MS = 10000;  // for the config endpoint, the bridge and WeChat's verdict

  // jweixin's names for the bridge's (jweixin-1.6.0.js, its table `c`): jsApiList and
  // openTagList reach the bridge under these names.
  var BRIDGE_NAMES = {
    onMenuShareTimeline: "menu:share:timeline", onMenuShareAppMessage: "menu:share:appmessage",
    onMenuShareQQ: "menu:share:qq", onMenuShareWeibo: "menu:share:weiboApp",
    onMenuShareQZone: "menu:share:QZone", previewImage: "imagePreview",
    getLocation: "geoLocation", openProductSpecificView: "openProductViewWithPid",
    addCard: "batchAddCard", openCard: "batchViewCard", chooseWXPay: "getBrandWCPayRequest",
    openEnterpriseRedPacket: "getRecevieBizHongBaoRequest",
    startSearchBeacons: "startMonitoringBeacons", stopSearchBeacons: "stopMonitoringBeacons",
    onSearchBeacons: "onBeaconsInRange", consumeAndShareCard: "consumedShareCard",
    openAddress: "editAddress"
  };

  function pageUrl() { return window.location.href.split("#")[0]; }

  var UA = window.navigator.userAgent || "";
  var IN_WECHAT = /MicroMessenger/i.test(UA);  // WeCom's browser says so too
  var IOS_WECHAT = /iPhone|iPad|iPod/i.test(UA) && IN_WECHAT && !/wxwork/i.test(UA);
  var LANDING_URL = pageUrl();  // read once, as this script first runs
  var WECOM = SETTINGS.wecom || null;

  var apis = [];        // every API any ready() asked for: each configuration requests all
  var tags = [];        // likewise, open tags
  var debug = false;    // true once any ready() asked for debug
  var waiters = [];     // pending ready() calls: {apis, tags, resolve, reject}
  var current = null;   // the latest configuration round (WeChat)
  var scheduled = false;
  var reported = {};    // page URLs already reported to the server
  var sdk = { state: "none", callbacks: [] };  // none | loading | loaded

  function urlToSign() { return IOS_WECHAT ? LANDING_URL : pageUrl(); }

  // What makes a configuration stale: the URL WeChat checks and, for open tags (granted
  // for the page's URL), the page's URL too.
  function roundKey() { return urlToSign() + (tags.length ? " " + pageUrl() : ""); }

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

  function bridgeNames(names) {
    var out = [];
    for (var i = 0; i < names.length; i++) { out.push(BRIDGE_NAMES[names[i]] || names[i]); }
    return out;
  }

  // Run a callback of ours; an exception is logged, never thrown into the page's code.
  function guarded(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) {
        if (window.console && window.console.error) { window.console.error("wechat.js:", e); }
      }
    };
  }

  // Call done(result) once: the first of the real answer and the timeout's.
  function once(done, timeoutResult) {
    var settled = false;
    var timer = setTimeout(guarded(function () { finish(timeoutResult); }), TIMEOUT_MS);
    function finish(result) {
      if (settled) { return; }
      settled = true;
      clearTimeout(timer);
      done(result);
    }
    return guarded(finish);
  }

  // ------------------------------------------------------------------ scripts and the bridge

  // Load the SDK script once, unless the page already has it; then callback(true|false).
  function loadSdk(callback) {
    var url = WECOM ? WECOM.sdkUrl : SETTINGS.jssdkUrl;
    var loaded = WECOM ? function () { return !!(window.ww && typeof window.ww.register === "function"); }
                       : function () { return !!(window.wx && typeof window.wx.config === "function"); };
    if (loaded()) { sdk.state = "loaded"; }
    if (sdk.state === "loaded") { callback(true); return; }
    sdk.callbacks.push(callback);
    if (sdk.state === "loading") { return; }
    sdk.state = "loading";
    var script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.onload = script.onerror = guarded(function () {
      var ok = loaded();
      var callbacks = sdk.callbacks;
      sdk.state = ok ? "loaded" : "none";  // after a failure the next round tries again
      sdk.callbacks = [];
      for (var i = 0; i < callbacks.length; i++) { guarded(callbacks[i])(ok); }
    });
    (document.head || document.getElementsByTagName("head")[0] || document.documentElement)
      .appendChild(script);
  }

  // callback(null) once WeChat's bridge is there, or callback(reason) if it will not come.
  function whenBridge(callback) {
    if (window.WeixinJSBridge) { callback(null); return; }
    if (!IN_WECHAT) {
      callback("not in WeChat's browser: the JS-SDK works only inside WeChat (or WeCom)");
      return;
    }
    var done = once(callback, "WeixinJSBridge did not arrive within " + TIMEOUT_MS + " ms");
    document.addEventListener("WeixinJSBridgeReady", function () { done(null); }, false);
  }

  // ------------------------------------------------------------------ rounds (WeChat)

  function schedule() {  // at most one run per tick, however many calls and route changes
    if (scheduled) { return; }
    scheduled = true;
    setTimeout(guarded(function () { scheduled = false; run(); }), 0);
  }

  function covers(round, names, openTags) {
    return !missing(round.apis, names).length && !missing(round.tags, openTags).length;
  }

  function run() {
    if (WECOM) { runWeCom(); return; }
    var upToDate = current && current.key === roundKey() && covers(current, apis, tags);
    if (upToDate && current.state === "ready") { resolveWaiters(); return; }
    if (upToDate && current.state === "pending") { return; }  // its verdict settles them
    // Nothing asked for yet, or this one failed and nobody is asking again.
    if (!waiters.length && (!current || upToDate)) { return; }
    startRound();
  }

  function configQuery(url) {
    return SETTINGS.base + "/config?url=" + encodeURIComponent(url) +
      "&apis=" + apis.join(",") + "&open_tags=" + tags.join(",") + "&debug=" + (debug ? 1 : 0);
  }

  // GET /config for url; then callback(null, answer) or callback(reason). A 503 (the
  // server is fetching the ticket from WeChat) is asked again after its Retry-After, as
  // long as that stays within TIMEOUT_MS of the first ask.
  function fetchConfig(url, callback, startedAt) {
    var started = startedAt || new Date().getTime();
    var xhr = new XMLHttpRequest();
    xhr.open("GET", configQuery(url), true);
    xhr.timeout = TIMEOUT_MS;
    xhr.onload = guarded(function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) {}
      var wait = 1000 * (parseInt(xhr.getResponseHeader("Retry-After"), 10) || 1);
      if (xhr.status === 503 && new Date().getTime() + wait - started < TIMEOUT_MS) {
        setTimeout(guarded(function () { fetchConfig(url, callback, started); }), wait);
      } else if (xhr.status === 200 && answer && typeof answer.signature === "string") {
        callback(null, answer);
      } else {
        var text = answer && typeof answer.error === "string" ? answer.error : "";
        callback("config endpoint: " + (text || "HTTP " + xhr.status));
      }
    });
    xhr.onerror = xhr.ontimeout = guarded(function () { callback("config endpoint: no answer"); });
    xhr.send();
  }

  function startRound() {
    var round = { url: urlToSign(), key: roundKey(), signedUrl: null, ticketId: "",
                  state: "pending", apis: apis.slice(), tags: tags.slice() };
    current = round;  // a round still in flight is superseded: its results are ignored
    loadSdk(function () {});  // start loading the script while the config is fetched
    fetchConfig(round.url, function (error, answer) {
      if (error) { fail(round, error); } else { configure(round, answer); }
    });
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
    loadSdk(function (ok) {
      if (round !== current) { return; }
      if (!ok) { fail(round, "JS-SDK could not be loaded from " + SETTINGS.jssdkUrl); return; }
      whenBridge(function (reason) {
        if (reason) { fail(round, reason); return; }
        verify(round, config);
      });
    });
  }

  // WeChat's verdict on config, asked of the bridge as wx.config would ask it.
  function verify(round, config) {
    var params = {
      appId: config.appId, verifyAppId: config.appId, verifySignType: "sha1",
      verifyTimestamp: String(config.timestamp), verifyNonceStr: config.nonceStr,
      verifySignature: config.signature,
      verifyJsApiList: bridgeNames(config.jsApiList || []),
      verifyOpenTagList: bridgeNames(config.openTagList || [])
    };
    var done = once(function (res) {
      var errMsg = res && (res.errMsg || res.err_msg) ? String(res.errMsg || res.err_msg) : "config:fail";
      if (config.debug) { try { window.alert(JSON.stringify({ errMsg: errMsg })); } catch (e) {} }
      var keyword = errMsg.substring(errMsg.indexOf(":") + 1);
      // jweixin's reading: an old client without the check answers "function not exist".
      if (keyword !== "ok" && keyword !== "function not exist" && keyword !== "function_not_exist") {
        fail(round, errMsg, res && res.realAuthUrl);
        return;
      }
      if (round !== current) { return; }
      config.check = false;  // verified: jweixin keeps the fields and runs its ready handlers
      window.wx.config(config);
      round.state = "ready";
      resolveWaiters();
    }, { errMsg: "config:fail, no answer from WeChat within " + TIMEOUT_MS + " ms" });
    window.WeixinJSBridge.invoke("preVerifyJSAPI", params, done);
  }

  // Resolve the waiters the ready configuration covers, if it is still for this page.
  function resolveWaiters() {
    if (!current || current.state !== "ready" || current.key !== roundKey()) {
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
  // realAuthUrl: the URLs newer clients say they checked, beside errMsg.
  function fail(round, message, realAuthUrl) {
    if (round !== current || round.state === "error") { return; }
    round.state = "error";
    var covered = takeWaiters(round);
    for (var i = 0; i < covered.length; i++) { covered[i].reject(new Error(message)); }
    report(round.signedUrl || round.url, round.ticketId, message, realAuthUrl);
    if (waiters.length) { schedule(); }
  }

  // openTags: the tags asked for, in a report of WeChat's WeixinOpenTagsError (reported
  // apart from a failed configuration of the same URL).
  function report(signedUrl, ticketId, message, realAuthUrl, openTags) {
    var url = pageUrl();
    var key = (openTags ? "open tags " : "") + url;
    if (reported[key]) { return; }
    reported[key] = true;
    var body = {
      url: url,
      signed_url: signedUrl,
      errMsg: message,
      ua: UA,
      landing_url: LANDING_URL,
      ticket_id: ticketId || ""
    };
    if (Object.prototype.toString.call(realAuthUrl) === "[object Array]") {
      body.realAuthUrl = realAuthUrl;
    }
    if (openTags) { body.open_tags = openTags; }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", SETTINGS.base + "/report", true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.send(JSON.stringify(body));
  }

  // ------------------------------------------------------------------ WeCom

  // The lists given to ww.register, the /config answers per URL WeCom asked to sign, the
  // latest signature used (for ready()'s url and reports), and the page URL WeCom last
  // configured with these lists.
  var registration = null;

  // One /config answer per signed URL, for both of WeCom's signature callbacks.
  function signatureFor(url, part) {
    var answers = registration.answers;
    return new Promise(function (resolve, reject) {
      function use(answer) {
        registration.last = { url: answer.url || url, answer: answer, part: part };
        var fields = part === "agent" ? answer.agentConfig : answer;
        if (!fields) { reject(new Error("config endpoint: no agentConfig: set WECHAT_AGENT_ID")); return; }
        resolve({ timestamp: fields.timestamp, nonceStr: fields.nonceStr, signature: fields.signature });
      }
      var known = answers[url];
      if (known && known.answer) { use(known.answer); return; }
      if (known) { known.waiting.push([use, reject]); return; }
      answers[url] = { answer: null, waiting: [[use, reject]] };
      fetchConfig(url, function (error, answer) {
        var waiting = answers[url].waiting;
        if (error) { delete answers[url]; } else { answers[url] = { answer: answer, waiting: [] }; }
        for (var i = 0; i < waiting.length; i++) {
          if (error) { waiting[i][1](new Error(error)); } else { waiting[i][0](answer); }
        }
      });
    });
  }

  function register() {
    registration = { apis: apis.slice(), tags: tags.slice(), answers: {}, last: null,
                     at: null };
    var options = {
      corpId: WECOM.corpId,
      jsApiList: registration.apis.length ? registration.apis : undefined,
      openTagList: registration.tags,
      getConfigSignature: function (url) { return signatureFor(url, "corp"); }
    };
    if (WECOM.agentId) {
      options.agentId = WECOM.agentId;
      options.getAgentConfigSignature = function (url) { return signatureFor(url, "agent"); };
    }
    window.ww.register(options);
  }

  function runWeCom() {
    if (!waiters.length) { return; }
    var asked = waiters;
    waiters = [];
    function rejectAll(message) {
      for (var i = 0; i < asked.length; i++) { asked[i].reject(new Error(message)); }
    }
    loadSdk(function (ok) {
      if (!ok) { rejectAll("WeCom's JS-SDK could not be loaded from " + WECOM.sdkUrl); return; }
      if (!window.WeixinJSBridge && !IN_WECHAT) {
        rejectAll("not in WeCom's browser: the JS-SDK works only inside WeCom");
        return;
      }
      var uncovered = !registration || missing(registration.apis, apis).length ||
        missing(registration.tags, tags).length;
      // WeCom's SDK keeps a URL's registration until the URL changes: more APIs can be
      // registered on the next URL, not on this one.
      if (uncovered && registration && registration.at === pageUrl()) {
        rejectAll("wechatMiddleware.ready: in WeCom, ask for every API and open tag in the " +
          "first ready() call of a page URL (WeCom's SDK registers a URL once)");
        return;
      }
      if (uncovered) { register(); }
      registration.at = pageUrl();  // WeCom configures this URL with these lists
      window.ww.ensureConfigReady().then(guarded(function () {
        var signed = registration.last ? registration.last.url : pageUrl();
        for (var i = 0; i < asked.length; i++) { asked[i].resolve({ url: signed }); }
      }), guarded(function (error) {
        var message = error && (error.errMsg || error.message) ?
          String(error.errMsg || error.message) : "config:fail";
        if (/Aborted/.test(message)) {  // the URL changed before WeCom answered: again
          waiters.push.apply(waiters, asked);
          schedule();
          return;
        }
        rejectAll(message);
        var last = registration.last;
        var answer = last && last.answer;
        // Which ticket signed what WeCom refused: the app's for agentConfig, else the corp's.
        var agent = message.indexOf("agentConfig") === 0 && answer && answer.agentConfig;
        report(last ? last.url : pageUrl(),
               agent ? answer.agentConfig.ticketId : answer && answer.ticketId, message,
               error && error.realAuthUrl);
      }));
    });
  }

  // WeChat's client dispatches WeixinOpenTagsError on the document (e.detail.errMsg) when
  // the open tags cannot be used though wx.config passed (the rest of the JS-SDK works).
  if (document.addEventListener) {
    document.addEventListener("WeixinOpenTagsError", guarded(function (event) {
      var detail = event && event.detail;
      var message = detail && detail.errMsg ? String(detail.errMsg) : "WeixinOpenTagsError";
      var signed = WECOM ? window.wechatMiddleware.signedUrl() : current && current.signedUrl;
      report(signed || urlToSign(), current ? current.ticketId : "", message, null, tags.slice());
    }), false);
  }

  // ------------------------------------------------------------------ route changes

  // Android checks the current URL: configure again for the new one. iOS checks the landing
  // URL, whose configuration stays valid, except for open tags (run() sees both). WeCom's
  // SDK notices a new URL itself, at the next ready() or API call.
  var routeChanged = guarded(function () {
    if (!WECOM && current && current.key !== roundKey()) { schedule(); }
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

    // A Promise resolved ({url}) once WeChat accepted the configuration of jsApiList (and
    // options.openTagList) for this page; rejected with an Error carrying WeChat's errMsg.
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
    signedUrl: function () {
      if (WECOM) { return registration && registration.last ? registration.last.url : null; }
      return current ? current.signedUrl : null;
    }
  };
})(window, document);
