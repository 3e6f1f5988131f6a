/* 抢票: the countdown to the opening. The server says how many seconds are left (so a
   phone's wrong clock does not matter); at zero the grab buttons come alive. The server
   still refuses a grab before the opening, whatever this script does. */
(function () {
  "use strict";
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function format(total) {
    var d = Math.floor(total / 86400), h = Math.floor(total % 86400 / 3600);
    var m = Math.floor(total % 3600 / 60), s = total % 60;
    var clock = pad(h) + ":" + pad(m) + ":" + pad(s);
    return d > 0 ? d + " 天 " + clock : clock;
  }
  function start(box) {
    if (box.dataset.rushStarted) return;
    box.dataset.rushStarted = "1";
    var deadline = Date.now() + Number(box.dataset.seconds || 0) * 1000;
    var clock = box.querySelector("[data-rush-clock]");
    function tick() {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      clock.textContent = left > 0 ? format(left) : "已开抢";
      if (left > 0) { window.setTimeout(tick, 250); return; }
      box.classList.add("is-open");
      document.querySelectorAll("[data-rush-grab]").forEach(function (b) { b.disabled = false; });
    }
    tick();
  }
  function init() { document.querySelectorAll("[data-rush-countdown]").forEach(start); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
