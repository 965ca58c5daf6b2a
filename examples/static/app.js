/* The examples' page script (ES5, like the helper): shows what the JS-SDK says, calls an
 * API from a button, and switches the single-page app's routes with history.pushState.
 * Everything WeChat needs (which URL to sign, configuring again after a route change) is
 * the helper's job: /wechat/jssdk/wechat.js, loaded by request.wechat.jssdk_tags(). An
 * element this script fills but the page lacks is skipped (the examples share it). */
(function (window, document) {
  "use strict";
  var APIS = ["updateAppMessageShareData", "updateTimelineShareData"];
  var IOS_WECHAT = /iPhone|iPad|iPod/i.test(navigator.userAgent) &&
    /MicroMessenger/i.test(navigator.userAgent) && !/wxwork/i.test(navigator.userAgent);
  var configured = 0; // how many times this page reached wx.ready
  var round = 0;      // the latest configure() call: an older one's answer is not shown

  function element(id) { return document.getElementById(id); }

  function show(id, text, state) {
    var found = element(id);
    if (!found) { return; }
    found.textContent = text;
    if (state) { found.setAttribute("data-state", state); }
  }

  function pageUrl() { return window.location.href.split("#")[0]; }

  // The URL the server signed for this page, before the helper's own answer.
  function serverSignedUrl() {
    var config = element("wx-config");
    try {
      var signature = config && JSON.parse(config.textContent);
      return signature && typeof signature.url === "string" ? signature.url : "";
    } catch (e) { return ""; }
  }

  function showSigned(url) {
    show("signed-url", url || "none");
    show("signed-note", url && url !== pageUrl() && IOS_WECHAT
      ? "The landing URL: iOS WeChat checks the URL the page was opened with." : "");
  }

  function configure() {
    var mine = ++round;
    if (!window.wechatMiddleware) {
      show("wx-status", "unavailable", "error");
      show("wx-verdict", "no helper on this page", "error");
      return;
    }
    show("wx-status", "loading", "loading");
    show("wx-verdict", "asking WeChat…", "pending");
    window.wechatMiddleware.ready(APIS).then(function (result) {
      configured += 1;
      show("wx-ready-count", String(configured));
      if (mine !== round) { return; }
      show("wx-status", "ready", "ready");
      showSigned(result && result.url);
      show("wx-verdict", "accepted", "ok");
    }, function (error) {
      if (mine !== round) { return; }
      var message = (error && error.message) || "unknown error";
      show("wx-status", "error: " + message, "error");
      show("wx-verdict", "not accepted: " + message, "error");
    });
  }

  // The button: an API call through the helper, answered by WeChat's bridge.
  function share() {
    show("share-result", "waiting for wechatMiddleware.ready()…", "pending");
    window.wechatMiddleware.ready(APIS).then(function () {
      window.wx.updateAppMessageShareData({
        title: document.title,
        desc: "Signed by wechat_middleware",
        link: pageUrl(),
        imgUrl: (element("avatar") || {}).src || "",
        success: function (res) { show("share-result", res.errMsg + ": the share card is set", "ok"); },
        fail: function (res) { show("share-result", "failed: " + (res && res.errMsg), "error"); }
      });
    }, function (error) {
      show("share-result", "JS-SDK not ready: " + (error && error.message), "error");
    });
  }

  // The single-page app: links marked data-route change the route without a page load.
  function showRoute() {
    show("route", window.location.pathname + window.location.search);
    var links = document.querySelectorAll("a[data-route]");
    for (var i = 0; i < links.length; i++) {
      var here = links[i].getAttribute("href") === window.location.pathname + window.location.search;
      if (here) { links[i].setAttribute("aria-current", "page"); } else { links[i].removeAttribute("aria-current"); }
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target;
    while (link && link.nodeName !== "A") { link = link.parentNode; }
    if (!link || !link.getAttribute || link.getAttribute("data-route") === null) { return; }
    event.preventDefault();
    window.history.pushState({}, "", link.getAttribute("href"));
    showRoute();
    configure();
  });
  window.addEventListener("popstate", function () { showRoute(); configure(); });

  var button = element("share");
  if (button) {
    if (window.wechatMiddleware) { button.addEventListener("click", share); } else { button.disabled = true; }
  }

  window.exampleApp = { configure: configure };
  showSigned(serverSignedUrl());
  showRoute();
  configure();
})(window, document);
