// 会员卡核验: scan the member's QR with the camera where the browser has BarcodeDetector
// (Chrome on Android, recent Safari), then submit it like a paste. Everywhere else the
// paste box alone does the job; nothing here is required for it.
(function () {
  "use strict";

  var stream = null;
  var scanning = false;

  function stop(button) {
    scanning = false;
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    document.getElementById("verify-camera").hidden = true;
    button.textContent = button.getAttribute("data-start");
  }

  function submit(text) {
    var form = document.getElementById("verify-form");
    document.getElementById("verify-token").value = text;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function start(button, detector) {
    var video = document.getElementById("verify-video");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (media) {
      stream = media;
      scanning = true;
      video.srcObject = media;
      document.getElementById("verify-camera").hidden = false;
      button.textContent = button.getAttribute("data-stop");
      return video.play();
    }).then(function () {
      var look = function () {
        if (!scanning) return;
        detector.detect(video).then(function (codes) {
          if (codes.length && codes[0].rawValue) {
            if (navigator.vibrate) navigator.vibrate(60);
            stop(button);
            submit(codes[0].rawValue);
            return;
          }
          window.setTimeout(look, 200);
        }).catch(function () { window.setTimeout(look, 400); });
      };
      look();
    }).catch(function () {
      stop(button);
      var note = document.getElementById("verify-unsupported");
      note.textContent = note.getAttribute("data-camera-error");
      note.hidden = false;
    });
  }

  function setUp() {
    var button = document.getElementById("verify-start");
    if (!button) return;
    var supported = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    if (!supported) return; // the note saying "paste instead" stays visible
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      document.getElementById("verify-unsupported").hidden = true;
      button.hidden = false;
      button.addEventListener("click", function () {
        if (scanning) stop(button); else start(button, detector);
      });
    }).catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", setUp);
  // A new result: clear the box and have it ready for the next paste.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "verify-result") {
      var box = document.getElementById("verify-token");
      if (box) box.value = "";
      event.detail.target.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }
  });
})();
