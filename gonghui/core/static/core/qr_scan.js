// 扫码: camera QR scanning for the pages that check a code (会员卡核验, 报名签到, 商户核销).
// Where the browser has BarcodeDetector (Chrome on Android, recent Safari) a scanned code is
// put in the page's code box and the form is submitted as if typed; everywhere else the box
// alone does the job and nothing here is required for it.
//
// The page marks its start button and names the other parts by id:
//   <button data-qr-scan hidden data-start="…" data-stop="…"
//           data-qr-form="…" data-qr-input="…" data-qr-camera="…" data-qr-video="…"
//           data-qr-note="…" data-qr-result="…"
//           data-qr-continuous   (keep scanning after a code; the check-in desk)
//           data-qr-clear>       (empty the box for the next code after each answer)
// data-qr-note is the "cannot scan here" note; its data-camera-error replaces the text when
// the camera cannot be opened.
(function () {
  "use strict";

  function part(button, name) {
    return document.getElementById(button.getAttribute("data-qr-" + name));
  }

  function Scanner(button, detector) {
    this.button = button;
    this.detector = detector;
    this.continuous = button.hasAttribute("data-qr-continuous");
    this.stream = null;
    this.scanning = false;
    this.paused = false;
    this.last = "";
  }

  Scanner.prototype.stop = function () {
    this.scanning = false;
    if (this.stream) {
      this.stream.getTracks().forEach(function (track) { track.stop(); });
      this.stream = null;
    }
    part(this.button, "camera").hidden = true;
    this.button.textContent = this.button.getAttribute("data-start");
  };

  Scanner.prototype.submit = function (text) {
    var form = part(this.button, "form");
    part(this.button, "input").value = text;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  };

  Scanner.prototype.found = function (text) {
    var self = this;
    if (navigator.vibrate) navigator.vibrate(60);
    if (!self.continuous) {
      self.stop();
      self.submit(text);
      return;
    }
    // The check-in desk: wait for the answer, and do not send the same ticket held in
    // front of the camera twice in a row.
    self.last = text;
    self.paused = true;
    self.submit(text);
    window.setTimeout(function () { self.last = ""; }, 4000);
  };

  Scanner.prototype.start = function () {
    var self = this;
    var video = part(self.button, "video");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (media) {
      self.stream = media;
      self.scanning = true;
      video.srcObject = media;
      part(self.button, "camera").hidden = false;
      self.button.textContent = self.button.getAttribute("data-stop");
      return video.play();
    }).then(function () {
      var look = function () {
        if (!self.scanning) return;
        if (self.paused) { window.setTimeout(look, 300); return; }
        self.detector.detect(video).then(function (codes) {
          var text = codes.length && codes[0].rawValue;
          if (text && text !== self.last) {
            self.found(text);
            if (!self.continuous) return;
          }
          window.setTimeout(look, 250);
        }).catch(function () { window.setTimeout(look, 400); });
      };
      look();
    }).catch(function () {
      self.stop();
      var note = part(self.button, "note");
      note.textContent = note.getAttribute("data-camera-error");
      note.hidden = false;
    });
  };

  Scanner.prototype.answered = function () {
    var box = part(this.button, "input");
    if (box && this.button.hasAttribute("data-qr-clear")) {
      box.value = "";
      if (!this.scanning) box.focus();
    }
    this.paused = false;
  };

  var scanners = [];

  document.addEventListener("DOMContentLoaded", function () {
    var supported = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    document.querySelectorAll("[data-qr-scan]").forEach(function (button) {
      var scanner = new Scanner(button, null);
      scanners.push(scanner);
      if (!supported) return; // the note saying "type or paste instead" stays visible
      window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) return;
        scanner.detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        part(button, "note").hidden = true;
        button.hidden = false;
        button.addEventListener("click", function () {
          if (scanner.scanning) scanner.stop(); else scanner.start();
        });
      }).catch(function () {});
    });
  });

  // A new answer: ready for the next code, and the answer in view.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    scanners.forEach(function (scanner) {
      if (target.id === scanner.button.getAttribute("data-qr-result")) {
        scanner.answered();
        target.scrollIntoView({ behavior: "smooth", block: "nearest" });
      }
    });
  });
})();
