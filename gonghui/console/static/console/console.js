// Gonghui cadre console: the few behaviours htmx does not cover.
(function () {
  "use strict";

  // --- side navigation as a drawer on narrow screens -----------------------------------
  function setNav(open) {
    document.body.classList.toggle("nav-open", open);
    var toggle = document.querySelector(".nav-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;

    if (target.closest(".nav-toggle")) {
      setNav(!document.body.classList.contains("nav-open"));
      return;
    }
    if (target.closest(".nav-backdrop")) {
      setNav(false);
      return;
    }

    // --- tree: the first click loads children through htmx; every click toggles them --
    var toggle = target.closest(".tree-toggle");
    if (toggle) {
      var box = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (box) box.hidden = !open;
      return;
    }

    // --- sign-in tabs without a page load -----------------------------------------------
    var tab = target.closest("[role=tab][data-panel]");
    if (tab) {
      event.preventDefault();
      var tabs = tab.parentElement.querySelectorAll("[role=tab]");
      for (var i = 0; i < tabs.length; i++) {
        var selected = tabs[i] === tab;
        tabs[i].setAttribute("aria-selected", selected ? "true" : "false");
        tabs[i].setAttribute("tabindex", selected ? "0" : "-1");
        var panel = document.getElementById(tabs[i].getAttribute("data-panel"));
        if (panel) panel.hidden = !selected;
      }
      var first = document.querySelector("#" + tab.getAttribute("data-panel") + " input:not([type=hidden])");
      if (first) first.focus();
      return;
    }

    // --- recovery codes: copy and print ---------------------------------------------------
    var copy = target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.innerText.trim()).then(function () {
          copy.textContent = copy.getAttribute("data-done") || "已复制";
        });
      }
      return;
    }
    if (target.closest("[data-print]")) {
      window.print();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("nav-open")) setNav(false);
  });

  // --- "获取验证码" cooldown -----------------------------------------------------------------
  function startCooldown(seconds) {
    var button = document.getElementById("send-code");
    if (!button || !(seconds > 0)) return;
    var label = button.getAttribute("data-label") || button.textContent.trim();
    var wait = button.getAttribute("data-wait") || "%s";
    button.setAttribute("data-label", label);
    var left = seconds;
    (function tick() {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.textContent = wait.replace("%s", String(left));
      left -= 1;
      window.setTimeout(tick, 1000);
    })();
  }

  function scan(root) {
    var items = root.querySelectorAll ? root.querySelectorAll("[data-cooldown]") : [];
    for (var i = 0; i < items.length; i++) {
      var seconds = parseInt(items[i].getAttribute("data-cooldown"), 10);
      items[i].removeAttribute("data-cooldown");
      if (seconds > 0) {
        startCooldown(seconds);
        var code = document.getElementById("id_sms-code");
        if (code) code.focus();
      }
    }
  }

  // --- errors of htmx requests become a toast instead of silence --------------------------
  function toast(text) {
    var host = document.querySelector(".toast-host");
    if (!host) {
      host = document.createElement("div");
      host.className = "toast-host";
      host.setAttribute("role", "status");
      document.body.appendChild(host);
    }
    var item = document.createElement("div");
    item.className = "alert alert-error flash";
    item.textContent = text;
    host.appendChild(item);
    window.setTimeout(function () { item.remove(); }, 6000);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.detail.target); });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    toast(status === 404 ? "内容不存在或您无权访问。" : status === 403 ? "无权进行此操作。" : "操作失败，请刷新页面后重试。");
  });
  document.addEventListener("htmx:sendError", function () { toast("网络连接失败，请检查网络后重试。"); });
})();
