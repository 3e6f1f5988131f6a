// 报名签到: scan the member's ticket QR with the camera where the browser has
// BarcodeDetector, then submit it like a typed code. Everywhere else the code box alone
// does the job; nothing here is required for it. After each answer the box is cleared
// and focused for the next person, and the camera (if on) keeps scanning.
(function () {
  "use strict";

  var stream = null;
  var scanning = false;
  var paused = false;

  function stop(button) {
    scanning = false;
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    document.getElementById("checkin-camera").hidden = true;
    button.textContent = button.getAttribute("data-start");
  }

  function submit(text) {
    var form = document.getElementById("checkin-form");
    document.getElementById("checkin-code").value = text;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function start(button, detector) {
    var video = document.getElementById("checkin-video");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (media) {
      stream = media;
      scanning = true;
      video.srcObject = media;
      document.getElementById("checkin-camera").hidden = false;
      button.textContent = button.getAttribute("data-stop");
      return video.play();
    }).then(function () {
      var last = "";
      var look = function () {
        if (!scanning) return;
        if (paused) { window.setTimeout(look, 300); return; }
        detector.detect(video).then(function (codes) {
          var text = codes.length && codes[0].rawValue;
          if (text && text !== last) {
            last = text;
            if (navigator.vibrate) navigator.vibrate(60);
            paused = true;
            submit(text);
            // The same ticket held in front of the camera is not sent twice in a row.
            window.setTimeout(function () { last = ""; }, 4000);
          }
          window.setTimeout(look, 250);
        }).catch(function () { window.setTimeout(look, 400); });
      };
      look();
    }).catch(function () {
      stop(button);
      var note = document.getElementById("checkin-unsupported");
      note.textContent = note.getAttribute("data-camera-error");
      note.hidden = false;
    });
  }

  function setUp() {
    var button = document.getElementById("checkin-start");
    if (!button) return;
    var supported = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    if (!supported) return;
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) return;
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      document.getElementById("checkin-unsupported").hidden = true;
      button.hidden = false;
      button.addEventListener("click", function () {
        if (scanning) stop(button); else start(button, detector);
      });
    }).catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", setUp);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "checkin-result") {
      var box = document.getElementById("checkin-code");
      if (box) { box.value = ""; if (!scanning) box.focus(); }
      paused = false;
      event.detail.target.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }
  });
})();
