/* FakeWeChat: a stand-in for jweixin-1.6.0.js, for tests only. */
(function (window) {
  "use strict";
  var CONFIG_ENDPOINT = __CONFIG_ENDPOINT__;
  var CONFIG_TIMEOUT_MS = 10000;
  // The URL this document was loaded with (kept across history.pushState), which iOS WeChat
  // checks the signature against: the navigation's own record, so a stand-in loaded after a
  // route change still knows it; else the page's URL as this script first runs.
  var LANDING_URL = landingUrl().split("#")[0];
  var state = "idle";  // idle | pending | ready | error
  var lastError = null;
  var generation = 0;  // a later wx.config supersedes an earlier one still in flight
  var readyHandlers = [];
  var errorHandlers = [];
  var calls = [];
  var APIS = [
    "checkJsApi", "updateAppMessageShareData", "updateTimelineShareData",
    "onMenuShareTimeline", "onMenuShareAppMessage", "onMenuShareQQ", "onMenuShareWeibo",
    "onMenuShareQZone", "startRecord", "stopRecord", "onVoiceRecordEnd", "playVoice",
    "pauseVoice", "stopVoice", "onVoicePlayEnd", "uploadVoice", "downloadVoice",
    "translateVoice", "chooseImage", "previewImage", "uploadImage", "downloadImage",
    "getLocalImgData", "getNetworkType", "openLocation", "getLocation", "hideOptionMenu",
    "showOptionMenu", "hideMenuItems", "showMenuItems", "hideAllNonBaseMenuItem",
    "showAllNonBaseMenuItem", "closeWindow", "scanQRCode", "chooseWXPay",
    "openProductSpecificView", "addCard", "chooseCard", "openCard", "openAddress"
  ];

  function landingUrl() {
    try {
      var entry = window.performance.getEntriesByType("navigation")[0];
      if (entry && typeof entry.name === "string" && entry.name) { return entry.name; }
    } catch (e) {}
    return window.location.href;
  }

  function call(fn, arg) {
    try { fn(arg); } catch (e) { setTimeout(function () { throw e; }, 0); }
  }

  function settle(gen, debug, errMsg) {
    if (gen !== generation) { return; }
    if (debug) { try { window.alert(JSON.stringify({ errMsg: errMsg })); } catch (e) {} }
    var i;
    if (errMsg === "config:ok") {
      state = "ready";
      lastError = null;
      for (i = 0; i < readyHandlers.length; i++) { call(readyHandlers[i]); }
    } else {
      state = "error";
      lastError = { errMsg: errMsg };
      for (i = 0; i < errorHandlers.length; i++) { call(errorHandlers[i], lastError); }
    }
  }

  function config(cfg) {
    cfg = cfg || {};
    var gen = ++generation;
    var debug = !!cfg.debug;
    state = "pending";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", CONFIG_ENDPOINT, true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.timeout = CONFIG_TIMEOUT_MS;
    xhr.onload = function () {
      var errMsg = "config:fail";
      try {
        var res = JSON.parse(xhr.responseText);
        if (xhr.status === 200 && res && typeof res.errMsg === "string") { errMsg = res.errMsg; }
      } catch (e) {}
      settle(gen, debug, errMsg);
    };
    xhr.onerror = xhr.ontimeout = xhr.onabort = function () { settle(gen, debug, "config:fail"); };
    xhr.send(JSON.stringify({
      appId: cfg.appId,
      timestamp: cfg.timestamp,
      nonceStr: cfg.nonceStr,
      signature: cfg.signature,
      url: window.location.href.split("#")[0],
      landing_url: LANDING_URL,
      jsApiList: cfg.jsApiList || [],
      openTagList: cfg.openTagList || []
    }));
  }

  function ready(fn) {
    if (typeof fn !== "function") { return; }
    readyHandlers.push(fn);
    if (state === "ready") { setTimeout(function () { call(fn); }, 0); }
  }

  function error(fn) {
    if (typeof fn !== "function") { return; }
    errorHandlers.push(fn);
    if (state === "error") {
      var res = lastError;
      setTimeout(function () { call(fn, res); }, 0);
    }
  }

  function api(name) {
    return function (options) {
      options = options || {};
      calls.push({ api: name, options: options });
      var res = { errMsg: name + ":ok" };
      if (name === "checkJsApi") {
        res.checkResult = {};
        var list = options.jsApiList || [];
        for (var i = 0; i < list.length; i++) {
          res.checkResult[list[i]] = APIS.indexOf(list[i]) >= 0;
        }
      }
      setTimeout(function () {
        if (typeof options.success === "function") { call(options.success, res); }
        if (typeof options.complete === "function") { call(options.complete, res); }
      }, 0);
    };
  }

  var wx = { config: config, ready: ready, error: error };
  for (var i = 0; i < APIS.length; i++) { wx[APIS[i]] = api(APIS[i]); }
  wx.miniProgram = {
    getEnv: function (fn) { if (typeof fn === "function") { call(fn, { miniprogram: false }); } },
    navigateTo: api("miniProgram.navigateTo"),
    navigateBack: api("miniProgram.navigateBack"),
    switchTab: api("miniProgram.switchTab"),
    reLaunch: api("miniProgram.reLaunch"),
    redirectTo: api("miniProgram.redirectTo"),
    postMessage: api("miniProgram.postMessage")
  };
  wx.__fake = {
    configEndpoint: CONFIG_ENDPOINT,
    landingUrl: LANDING_URL,
    state: function () { return state; },
    calls: calls
  };
  /* FakeWeCom begin: WeCom mode only; FakeWeChat serves the script without these lines. */
  // wx.agentConfig registers the app (agent) as wx.config registers the corp. It needs no
  // wx.config first (WeCom 3.0.24+), leaves wx.ready/wx.error alone, and answers its own
  // success/fail/complete; outside WeCom (no "wxwork" in the User-Agent) it fails.
  var AGENT_CONFIG_ENDPOINT = __AGENT_CONFIG_ENDPOINT__;
  wx.agentConfig = function (cfg) {
    cfg = cfg || {};
    calls.push({ api: "agentConfig", options: cfg });
    function answer(errMsg) {
      var res = { errMsg: errMsg };
      var handler = errMsg === "agentConfig:ok" ? cfg.success : cfg.fail;
      if (typeof handler === "function") { call(handler, res); }
      if (typeof cfg.complete === "function") { call(cfg.complete, res); }
    }
    var request = new XMLHttpRequest();
    request.open("POST", AGENT_CONFIG_ENDPOINT, true);
    request.setRequestHeader("Content-Type", "application/json");
    request.timeout = CONFIG_TIMEOUT_MS;
    request.onload = function () {
      var reply = null;
      try { reply = JSON.parse(request.responseText); } catch (e) {}
      var known = request.status === 200 && reply && typeof reply.errMsg === "string";
      answer(known ? reply.errMsg : "agentConfig:fail");
    };
    request.onerror = request.ontimeout = request.onabort = function () {
      answer("agentConfig:fail");
    };
    request.send(JSON.stringify({
      corpid: cfg.corpid,
      agentid: cfg.agentid,
      timestamp: cfg.timestamp,
      nonceStr: cfg.nonceStr,
      signature: cfg.signature,
      url: window.location.href.split("#")[0],
      landing_url: LANDING_URL,
      jsApiList: cfg.jsApiList || []
    }));
  };
  /* FakeWeCom end */
  window.wx = window.jWeixin = wx;
})(window);
