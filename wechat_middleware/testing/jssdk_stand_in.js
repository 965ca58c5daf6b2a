/* FakeWeChat: a stand-in for jweixin-1.6.0.js, for a plain browser (the demo, a desktop).
 *
 * The fake serves it after its native side (wechat_bridge.js), so a browser that is not
 * WeChat gets both halves: window.WeixinJSBridge, then window.wx. Tests of real WeChat
 * pages use the official jweixin from npm instead (tests/support/official_sdks.py); this
 * stand-in keeps what the demo needs in any browser and behaves as jweixin 1.6.0 does:
 * - wx.config(cfg) asks the bridge "preVerifyJSAPI" with the verify* fields (after
 *   WeixinJSBridgeReady when the bridge is not there yet); cfg.check === false skips it.
 * - wx.ready(fn) waits only until the first configuration completes; afterwards it runs
 *   fn at once, whatever later configurations say (jweixin: `0 != state ? f() : push(f)`).
 *   Ready handlers also run after a failed first check, after wx.error's.
 * - wx.error(fn) runs fn at once after a failure nobody handled, else keeps fn (one
 *   handler: the latest) for the next failure.
 * - every API sends its parameters with the latest config's verify* fields and answers
 *   success, cancel or fail, then complete, from the bridge's errMsg; debug alerts it.
 * Unlike jweixin it runs in any browser (jweixin does nothing outside MicroMessenger).
 */
(function (window, document) {
  "use strict";
  if (window.jWeixin) { return; }
  var BRIDGE_NAMES = {  // jweixin's names for the bridge's
    config: "preVerifyJSAPI", onMenuShareTimeline: "menu:share:timeline",
    onMenuShareAppMessage: "menu:share:appmessage", onMenuShareQQ: "menu:share:qq",
    onMenuShareWeibo: "menu:share:weiboApp", onMenuShareQZone: "menu:share:QZone",
    previewImage: "imagePreview", getLocation: "geoLocation",
    openProductSpecificView: "openProductViewWithPid", addCard: "batchAddCard",
    openCard: "batchViewCard", chooseWXPay: "getBrandWCPayRequest", openAddress: "editAddress"
  };
  var state = 0;        // jweixin's: 0 until a configuration completes, then 1 (or -1)
  var data = {};        // the latest configuration's answer
  var cfg = {};         // the latest wx.config argument
  var completes = [];   // ready handlers waiting for the first configuration
  var failHandler = null;

  function bridgeName(name) { return BRIDGE_NAMES[name] || name; }

  function bridgeNames(names) {
    var out = [];
    for (var i = 0; names && i < names.length; i++) { out.push(bridgeName(names[i])); }
    return out;
  }

  function whenBridge(fn) {
    if (window.WeixinJSBridge) { fn(); return; }
    document.addEventListener("WeixinJSBridgeReady", fn, false);
  }

  function withVerify(params) {
    params.appId = cfg.appId;
    params.verifyAppId = cfg.appId;
    params.verifySignType = "sha1";
    params.verifyTimestamp = cfg.timestamp + "";
    params.verifyNonceStr = cfg.nonceStr;
    params.verifySignature = cfg.signature;
    return params;
  }

  function runCompletes() {
    var handlers = completes;
    completes = [];
    for (var i = 0; i < handlers.length; i++) { handlers[i](); }
  }

  // Dispatch an answer to options' success / cancel / fail, then complete.
  function answer(name, res, options) {
    options = options || {};
    if (cfg.debug && !options.isInnerInvoke) { window.alert(JSON.stringify(res)); }
    var keyword = String(res.errMsg || name + ":fail");
    keyword = keyword.substring(keyword.indexOf(":") + 1);
    var handler = keyword === "ok" ? options.success :
      keyword === "cancel" ? options.cancel : options.fail;
    if (typeof handler === "function") { handler(res); }
    if (typeof options.complete === "function") { options.complete(res); }
  }

  function invoke(name, params, options) {
    whenBridge(function () {
      window.WeixinJSBridge.invoke(bridgeName(name), withVerify(params), function (res) {
        if (name === "checkJsApi" && typeof res.checkResult === "string") {
          res.checkResult = JSON.parse(res.checkResult);  // Android's answer, as jweixin
        }
        answer(name, res, options);
      });
    });
  }

  function config(options) {
    cfg = options || {};
    var verify = cfg.check !== false;
    whenBridge(function () {
      if (!verify) { state = 1; runCompletes(); return; }
      var params = withVerify({ verifyJsApiList: bridgeNames(cfg.jsApiList),
                                verifyOpenTagList: bridgeNames(cfg.openTagList) });
      window.WeixinJSBridge.invoke("preVerifyJSAPI", params, function (res) {
        state = 1;
        data = res;
        answer("config", res, {
          fail: function (failed) { if (failHandler) { failHandler(failed); } else { state = -1; } },
          complete: runCompletes
        });
      });
    });
  }

  var wx = {
    config: config,
    ready: function (fn) { if (state !== 0) { fn(); } else { completes.push(fn); } },
    error: function (fn) { if (state === -1) { fn(data); } else { failHandler = fn; } }
  };
  function api(name) {
    return function (options) {
      options = options || {};
      var params = {};
      for (var key in options) {
        if (Object.prototype.hasOwnProperty.call(options, key) && typeof options[key] !== "function") {
          params[key] = options[key];
        }
      }
      invoke(name, params, options);
    };
  }
  // The client's APIs (the bridge served before this script lists them) by jweixin's names.
  var jweixinNames = {};
  for (var name in BRIDGE_NAMES) {
    if (Object.prototype.hasOwnProperty.call(BRIDGE_NAMES, name)) { jweixinNames[BRIDGE_NAMES[name]] = name; }
  }
  var known = window.WeixinJSBridge.__fake.known;
  for (var i = 0; i < known.length; i++) {
    var apiName = jweixinNames[known[i]] || known[i];
    wx[apiName] = api(apiName);
  }
  wx.invoke = function (name, params, callback) {
    whenBridge(function () { window.WeixinJSBridge.invoke(name, withVerify(params || {}), callback); });
  };
  wx.miniProgram = {
    getEnv: function (fn) { if (typeof fn === "function") { fn({ miniprogram: false }); } }
  };
  window.wx = window.jWeixin = wx;
})(window, document);
