// 电子会员卡: the countdown under the live QR (htmx swaps in a fresh QR before it ends),
// and the print button of the printable card.
(function () {
  "use strict";

  var timer = null;

  function startCountdown(root) {
    var label = root.querySelector("[data-countdown]");
    var qr = root.querySelector("[data-remaining]");
    if (!label || !qr) return;
    var endsAt = Date.now() + parseInt(qr.getAttribute("data-remaining"), 10) * 1000;
    var template = label.getAttribute("data-template") || "%s";
    var expired = label.getAttribute("data-expired") || "";
    if (timer) window.clearInterval(timer);
    var tick = function () {
      var left = Math.ceil((endsAt - Date.now()) / 1000);
      if (left <= 0) {
        label.textContent = expired;
        label.classList.remove("is-soon");
        qr.classList.add("is-expired");
        window.clearInterval(timer);
        timer = null;
        // Missed the scheduled refresh (a sleeping phone, a lost request): ask now.
        document.body.dispatchEvent(new CustomEvent("refresh-qr"));
        return;
      }
      label.textContent = template.replace("%s", String(left));
      label.classList.toggle("is-soon", left <= 10);
    };
    tick();
    timer = window.setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdown(document);
    var print = document.querySelector("[data-print]");
    if (print) print.addEventListener("click", function () { window.print(); });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "card-qr-box") startCountdown(event.detail.target);
  });
})();
