/* wechat_middleware's browser helper (placeholder until the full helper lands). */
(function (window) {
  "use strict";
  var SETTINGS = __WECHAT_MIDDLEWARE_SETTINGS__;
  window.wechatMiddleware = { settings: SETTINGS };
})(window);
