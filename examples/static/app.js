/* The examples' page script (ES5, like the helper): shows what the JS-SDK says, and
 * switches the single-page app's routes with history.pushState. Everything WeChat
 * needs (which URL to sign, configuring again after a route change) is the helper's
 * job: /wechat/jssdk/wechat.js, loaded by request.wechat.jssdk_tags(). */
(function (window, document) {
  "use strict";
  var APIS = ["updateAppMessageShareData", "updateTimelineShareData"];
  var configured = 0; // how many times this page reached wx.ready

  function show(id, text) {
    var element = document.getElementById(id);
    if (element) { element.textContent = text; }
  }

  function configure() {
    if (!window.wechatMiddleware) { show("wx-status", "unavailable"); return; }
    show("wx-status", "loading");
    window.wechatMiddleware.ready(APIS).then(function () {
      configured += 1;
      show("wx-status", "ready");
      show("wx-ready-count", String(configured));
    }, function (error) {
      show("wx-status", "error: " + (error && error.message));
    });
  }

  // The single-page app: links marked data-route change the route without a page load.
  function showRoute() {
    show("route", window.location.pathname + window.location.search);
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

  window.exampleApp = { configure: configure };
  showRoute();
  configure();
})(window, document);
