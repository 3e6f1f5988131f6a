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
        var code = document.querySelector(".code-row input");
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

  // --- 门户形象: the live preview of the union's portal home header ---------------------------
  // The colour arithmetic mirrors gonghui/portal/branding.py (theme_for): a darker shade
  // for the gradient, and white or near-black text, whichever contrasts more.
  var HEX = /^#[0-9a-fA-F]{6}$/;
  function channels(hex) {
    return [parseInt(hex.substr(1, 2), 16), parseInt(hex.substr(3, 2), 16), parseInt(hex.substr(5, 2), 16)];
  }
  function luminance(hex) {
    var c = channels(hex).map(function (v) {
      v = v / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  function darken(hex, factor) {
    return "#" + channels(hex).map(function (v) { return ("0" + Math.round(v * factor).toString(16)).slice(-2); }).join("");
  }
  function themeStyle(el, color) {
    el.style.setProperty("--theme", color);
    el.style.setProperty("--theme-deep", darken(color, 0.72));
    el.style.setProperty("--on-theme", contrast(color, "#ffffff") >= contrast(color, "#1d1d1f") ? "#ffffff" : "#1d1d1f");
  }

  function setupBranding(form) {
    var hero = document.getElementById("pv-hero");
    if (!hero) return;
    var max = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
    var color = form.querySelector("input[name=theme_color]");
    var colorValue = document.getElementById("theme-color-value");
    var intro = form.querySelector("textarea[name=intro]");
    var objectUrls = {};

    function applyColor() {
      var value = color.value;
      if (!HEX.test(value)) return;
      themeStyle(hero, value);
      var bannerThumb = form.querySelector(".banner-thumb");
      if (bannerThumb) themeStyle(bannerThumb, value);
      var logoInitial = form.querySelector(".logo-thumb span");
      if (logoInitial) logoInitial.style.color = value;
      if (colorValue) colorValue.textContent = value.toUpperCase();
      var swatches = form.querySelectorAll("[data-swatch]");
      for (var i = 0; i < swatches.length; i++) {
        swatches[i].setAttribute("aria-pressed", swatches[i].getAttribute("data-swatch").toLowerCase() === value.toLowerCase() ? "true" : "false");
      }
    }

    function thumb(kind, url) {
      var box = form.querySelector("[data-image=" + kind + "] .image-thumb");
      if (!box) return;
      box.classList.toggle("is-empty", !url);
      var img = box.querySelector("img");
      if (url) {
        if (!img) {
          box.innerHTML = "";
          img = document.createElement("img");
          img.alt = "";
          box.appendChild(img);
        }
        img.src = url;
      } else if (img) {
        img.remove();
        if (kind === "logo") {
          var initial = document.createElement("span");
          initial.textContent = document.getElementById("pv-monogram").textContent;
          initial.style.color = color.value;
          box.appendChild(initial);
        }
      }
    }

    function show(kind, url) {
      if (kind === "logo") {
        var logo = document.getElementById("pv-logo");
        logo.hidden = !url;
        if (url) logo.src = url;
        document.getElementById("pv-monogram").hidden = !!url;
      } else {
        var banner = document.getElementById("pv-banner");
        banner.hidden = !url;
        if (url) banner.src = url;
        document.getElementById("pv-art").hidden = !!url;
        document.getElementById("pv-watermark").hidden = !!url;
        hero.classList.toggle("has-image", !!url);
      }
      thumb(kind, url);
    }

    function refresh(kind) {
      var input = form.querySelector("input[name=" + kind + "]");
      var clear = form.querySelector("input[name=clear_" + kind + "]");
      var file = input && input.files && input.files[0];
      var field = input.closest(".field");
      var label = field.querySelector("[data-file-name]");
      if (label) {
        label.textContent = file ? file.name : label.getAttribute("data-empty");
        label.classList.toggle("is-chosen", !!file);
      }
      var tooBig = !!(file && max && file.size > max);
      field.querySelector("[data-size-warning]").hidden = !tooBig;
      field.querySelector("[data-broken-warning]").hidden = true;
      if (objectUrls[kind]) {
        URL.revokeObjectURL(objectUrls[kind]);
        objectUrls[kind] = null;
      }
      var saved = clear && clear.checked ? "" : hero.getAttribute("data-" + kind) || "";
      if (!file || tooBig || !/^image\//.test(file.type)) {
        show(kind, saved);
        return;
      }
      // Decode first: a file that is not really an image keeps the saved look and says why.
      var url = URL.createObjectURL(file);
      objectUrls[kind] = url;
      var probe = new Image();
      probe.onload = function () { if (objectUrls[kind] === url) show(kind, url); };
      probe.onerror = function () {
        if (objectUrls[kind] !== url) return;
        field.querySelector("[data-broken-warning]").hidden = false;
        show(kind, saved);
      };
      probe.src = url;
    }

    form.addEventListener("change", function (event) {
      var name = event.target.name;
      if (name === "logo" || name === "banner") {
        var clear = form.querySelector("input[name=clear_" + name + "]");
        if (clear && event.target.files.length) clear.checked = false;
        refresh(name);
      } else if (name === "clear_logo" || name === "clear_banner") {
        var kind = name.slice(6);
        if (event.target.checked) form.querySelector("input[name=" + kind + "]").value = "";
        refresh(kind);
      }
    });
    form.addEventListener("input", function (event) {
      if (event.target === color) applyColor();
      if (event.target === intro) {
        var text = intro.value.trim();
        document.getElementById("pv-intro").textContent = intro.value;
        document.getElementById("pv-intro-card").hidden = !text;
      }
    });
    form.addEventListener("click", function (event) {
      var swatch = event.target instanceof Element && event.target.closest("[data-swatch]");
      if (!swatch) return;
      color.value = swatch.getAttribute("data-swatch");
      applyColor();
    });
    applyColor();
    // A reload can keep files chosen before it (the browser restores the inputs).
    refresh("logo");
    refresh("banner");
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    var branding = document.getElementById("branding-form");
    if (branding) setupBranding(branding);
  });
  document.addEventListener("htmx:afterSwap", function (event) { scan(event.detail.target); });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    toast(status === 404 ? "内容不存在或您无权访问。" : status === 403 ? "无权进行此操作。" : "操作失败，请刷新页面后重试。");
  });
  document.addEventListener("htmx:sendError", function () { toast("网络连接失败，请检查网络后重试。"); });
})();
