/* FakeWeChat: WeChat's (and WeCom's) native side of the JS-SDK, window.WeixinJSBridge, for
 * tests only. In WeChat the client injects this object into every page; the official SDKs
 * (jweixin-1.6.0.js, WeCom's @wecom/jssdk) talk to nothing else. A test browser installs
 * this script before the page's own (Playwright's add_init_script), so the official SDKs
 * run unmodified against it; the JS-SDK stand-in carries it too, for a desktop browser.
 *
 * What the SDKs ask of it (docs/fake-beliefs.md, "The native side"):
 * - invoke("preVerifyJSAPI", {verifyAppId, verifyTimestamp, verifyNonceStr,
 *   verifySignature, verifyJsApiList, verifyOpenTagList, ...}, callback): WeChat's check of
 *   wx.config. The page does not send its URL: the client takes it from the web view, the
 *   landing URL on iOS WeChat and the current URL elsewhere (WeCom: the current URL on
 *   every platform), without the #fragment. The fake's server decides (the same check the
 *   stand-in used), so the URL rule and the tickets have one home, fake_jssdk.py.
 * - invoke("agentConfig", {corpid, agentid, timestamp, nonceStr, signature, jsApiList}, cb):
 *   WeCom's check of the app's identity (WeCom's client only).
 * - invoke(api, params, callback) for every other API: "<api>:ok" when the latest check
 *   granted it, else "<api>:permission denied" (a failed check revokes what an earlier one
 *   granted). Android answers checkJsApi's checkResult as a JSON string (jweixin parses it
 *   there), iOS as an object.
 * - on(event, handler): kept, never fired (menu events need a user).
 * Open tags are granted for the URL the page had when it was checked: after a route
 * change they need a new check (the community's finding for iOS; docs/fake-beliefs.md).
 *
 * __BRIDGE_DELAY_MS__ < 0 installs the bridge at once; otherwise it arrives that many
 * milliseconds later with the WeixinJSBridgeReady event, as on a slow client.
 * ES5, like the SDKs' targets.
 */
(function (window, document) {
  "use strict";
  if (window.WeixinJSBridge) { return; }
  var CONFIG_ENDPOINT = __CONFIG_ENDPOINT__;
  var AGENT_CONFIG_ENDPOINT = __AGENT_CONFIG_ENDPOINT__;  // null outside WeCom mode
  var DELAY_MS = __BRIDGE_DELAY_MS__;
  var TIMEOUT_MS = 10000;
  var UA = window.navigator.userAgent || "";
  var ANDROID = /Android/i.test(UA);
  var LANDING_URL = landingUrl().split("#")[0];

  // The APIs this client has (checkJsApi), by the names the SDKs send it.
  var KNOWN = [
    "checkJsApi", "updateAppMessageShareData", "updateTimelineShareData",
    "menu:share:timeline", "menu:share:appmessage", "menu:share:qq", "menu:share:weiboApp",
    "menu:share:QZone", "startRecord", "stopRecord", "onVoiceRecordEnd", "playVoice",
    "pauseVoice", "stopVoice", "onVoicePlayEnd", "uploadVoice", "downloadVoice",
    "translateVoice", "chooseImage", "imagePreview", "uploadImage", "downloadImage",
    "getLocalImgData", "getNetworkType", "openLocation", "geoLocation", "hideOptionMenu",
    "showOptionMenu", "hideMenuItems", "showMenuItems", "hideAllNonBaseMenuItem",
    "showAllNonBaseMenuItem", "closeWindow", "scanQRCode", "getBrandWCPayRequest",
    "openProductViewWithPid", "batchAddCard", "chooseCard", "batchViewCard", "editAddress",
    "selectExternalContact", "openUserProfile", "getContext", "getCurExternalContact"
  ];
  var granted = { config: null, agent: null };  // {apis, tags, at} of the latest passed check
  var invocations = [];  // [name, params] of every invoke, for tests
  var handlers = {};

  function landingUrl() {
    try {
      var entry = window.performance.getEntriesByType("navigation")[0];
      if (entry && typeof entry.name === "string" && entry.name) { return entry.name; }
    } catch (e) {}
    return window.location.href;
  }

  function currentUrl() { return window.location.href.split("#")[0]; }

  function later(callback, res) {
    setTimeout(function () { if (typeof callback === "function") { callback(res); } }, 0);
  }

  function list(value) {
    if (typeof value === "string") { return value ? value.split(/[;,]/) : []; }
    return Object.prototype.toString.call(value) === "[object Array]" ? value.slice() : [];
  }

  // The URL this platform checks: the landing URL on iOS WeChat, else the current one.
  function checkedUrl() {
    return /iPhone|iPad|iPod/i.test(UA) && !/wxwork/i.test(UA) ? LANDING_URL : currentUrl();
  }

  // Ask the fake's server whether WeChat would accept these fields on this page.
  function check(endpoint, body, done) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", endpoint, true);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.timeout = TIMEOUT_MS;
    xhr.onload = function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) {}
      done(xhr.status === 200 && answer && typeof answer.errMsg === "string" ? answer.errMsg : "");
    };
    xhr.onerror = xhr.ontimeout = xhr.onabort = function () { done(""); };
    body.url = currentUrl();
    body.landing_url = LANDING_URL;
    xhr.send(JSON.stringify(body));
  }

  function preVerify(params, callback) {
    var at = currentUrl();
    check(CONFIG_ENDPOINT, {
      appId: params.verifyAppId || params.appId,
      timestamp: params.verifyTimestamp,
      nonceStr: params.verifyNonceStr,
      signature: params.verifySignature,
      jsApiList: list(params.verifyJsApiList),
      openTagList: list(params.verifyOpenTagList)
    }, function (errMsg) {
      var ok = errMsg === "config:ok";
      granted.config = ok ? { apis: list(params.verifyJsApiList),
                              tags: list(params.verifyOpenTagList), at: at } : null;
      var res = { errMsg: errMsg || "config:fail" };
      if (!ok) { res.realAuthUrl = [checkedUrl()]; }  // as newer clients add beside errMsg
      if (typeof callback === "function") { callback(res); }
    });
  }

  function agentConfig(params, callback) {
    if (!AGENT_CONFIG_ENDPOINT) { later(callback, { errMsg: "agentConfig:fail" }); return; }
    var at = currentUrl();
    check(AGENT_CONFIG_ENDPOINT, {
      corpid: params.corpid,
      agentid: params.agentid,
      timestamp: params.timestamp,
      nonceStr: params.nonceStr,
      signature: params.signature,
      jsApiList: list(params.jsApiList)
    }, function (errMsg) {
      var ok = errMsg === "agentConfig:ok";
      granted.agent = ok ? { apis: list(params.jsApiList), tags: [], at: at } : null;
      if (typeof callback === "function") { callback({ errMsg: errMsg || "agentConfig:fail" }); }
    });
  }

  function allows(name) {
    var grants = [granted.config, granted.agent];
    for (var i = 0; i < grants.length; i++) {
      if (grants[i] && grants[i].apis.indexOf(name) >= 0) { return true; }
    }
    return false;
  }

  function api(name, params, callback) {
    if (name === "checkJsApi") {  // answered with or without a check, as WeChat does
      var result = {};
      var names = list(params.jsApiList);
      for (var i = 0; i < names.length; i++) { result[names[i]] = KNOWN.indexOf(names[i]) >= 0; }
      later(callback, { errMsg: "checkJsApi:ok",
                        checkResult: ANDROID ? JSON.stringify(result) : result });
      return;
    }
    if (!allows(name)) { later(callback, { errMsg: name + ":permission denied" }); return; }
    // getNetworkType answers in the client's own words, which jweixin reads ("wifi").
    later(callback, name === "getNetworkType" ? { err_msg: "network_type:wifi" }
                                              : { errMsg: name + ":ok" });
  }

  var bridge = {
    invoke: function (name, params, callback) {
      params = params || {};
      invocations.push([name, params]);
      if (name === "preVerifyJSAPI") { preVerify(params, callback); return; }
      if (name === "agentConfig") { agentConfig(params, callback); return; }
      api(name, params, callback);
    },
    on: function (name, handler) { handlers[name] = handler; },
    call: function (name) { invocations.push([name, {}]); },
    // For tests: what was asked, and what the latest checks granted.
    __fake: {
      known: KNOWN,
      landingUrl: LANDING_URL,
      invocations: invocations,
      count: function (name) {
        var n = 0;
        for (var i = 0; i < invocations.length; i++) { if (invocations[i][0] === name) { n++; } }
        return n;
      },
      allows: allows,
      // Whether the open tag may render on the page as it is now.
      tagReady: function (tag) {
        var grant = granted.config;
        return !!grant && grant.tags.indexOf(tag) >= 0 && grant.at === currentUrl();
      }
    }
  };

  function install() {
    window.WeixinJSBridge = bridge;
    var event;
    try { event = new Event("WeixinJSBridgeReady"); } catch (e) {
      event = document.createEvent("Event");
      event.initEvent("WeixinJSBridgeReady", false, false);
    }
    document.dispatchEvent(event);
  }

  if (DELAY_MS < 0) { install(); } else { setTimeout(install, DELAY_MS); }
})(window, document);
