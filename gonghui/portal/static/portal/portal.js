// Gonghui member portal: the one bit of behaviour htmx does not cover — after a code is
// sent, the "获取验证码" button counts down before it may be pressed again.
(function () {
  "use strict";

  function startCooldown(seconds) {
    var button = document.getElementById("send-code");
    if (!button || !(seconds > 0)) return;
    var label = button.getAttribute("data-label") || button.textContent.trim();
    var wait = button.getAttribute("data-wait") || "%s";
    button.setAttribute("data-label", label);
    var left = seconds;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.textContent = wait.replace("%s", String(left));
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  function scan(root) {
    var items = root.querySelectorAll("[data-cooldown]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var seconds = parseInt(el.getAttribute("data-cooldown"), 10);
      el.removeAttribute("data-cooldown");
      if (seconds > 0) {
        startCooldown(seconds);
        if (el.getAttribute("data-ok") === "1") {
          var code = document.getElementById("id_code");
          if (code) code.focus();
        }
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.detail.target); });
})();
