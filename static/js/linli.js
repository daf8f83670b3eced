// Linli's own small scripts. Every page works without them; they only save taps.
(function () {
  "use strict";

  // Send a form without its submit event. Not form.submit(): a button named "submit" (every
  // WTForms SubmitField) hides that method behind itself.
  var send = function (form) { HTMLFormElement.prototype.submit.call(form); };

  // A confirmation form that sends itself (the scanned check-in): one tap less.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    if (form.dataset.sent) return;
    form.dataset.sent = "1";
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // A filter that shows its choice at once (the Show button stays for no script).
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { send(select.form); });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // The personal code: fetch a fresh one, show it, fetch again just before it expires.
  var box = document.querySelector("[data-code-url]");
  if (box) {
    var timer = null;
    var qr = box.querySelector("[data-qr]");
    var digits = box.querySelector("[data-digits]");
    var status = box.querySelector("[data-status]");
    var refresh = function () {
      clearTimeout(timer);
      if (document.hidden) return; // no codes for a phone in a pocket
      fetch(box.dataset.codeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": box.dataset.csrf }
      }).then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      }).then(function (code) {
        qr.innerHTML = code.svg; // drawn by our server
        digits.textContent = code.digits.slice(0, 4) + " " + code.digits.slice(4);
        status.textContent = status.dataset.valid || status.textContent;
        timer = setTimeout(refresh, Math.max(code.expires_in - 3, 5) * 1000);
      }).catch(function () {
        status.textContent = status.dataset.offline || "…";
        timer = setTimeout(refresh, 10000);
      });
    };
    box.querySelector("[data-code-form]").addEventListener("submit", function (event) {
      event.preventDefault();
      refresh();
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) refresh();
    });
    refresh();
  }

  // A confirm button sends once; the server would answer a second tap with the same
  // receipt anyway (idempotency key), this only spares the wait.
  document.querySelectorAll("button[data-once]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });

  // The shop's redeem page: read the volunteer's QR code with the live camera. Where the
  // browser has BarcodeDetector it reads the frames itself; elsewhere (Safari) it sends a
  // small frame to the server about twice a second, for a minute at most, one at a time.
  // Browsers give the camera only to https pages (and localhost): on plain http the box
  // says so instead of showing a button that cannot work.
  var scanner = document.querySelector("[data-scanner]");
  if (scanner) {
    scanner.hidden = false;
    var scanStatus = scanner.querySelector("[data-scan-status]");
    var startButton = scanner.querySelector("[data-scan-start]");
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      startButton.hidden = true;
      scanStatus.textContent = window.isSecureContext ? scanner.dataset.denied : scanner.dataset.insecure;
    } else {
      var video = scanner.querySelector("[data-video]");
      var codeForm = document.querySelector("[data-code-form]");
      var detector = "BarcodeDetector" in window
        ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
      var canvas = document.createElement("canvas");
      var stream = null;
      var until = 0;
      var stop = function (message) {
        if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
        stream = null;
        scanner.classList.remove("scanning");
        startButton.hidden = false;
        if (message) scanStatus.textContent = message;
      };
      var found = function (text) {
        stop();
        codeForm.querySelector("input[name=code]").value = text;
        send(codeForm);
      };
      // One small frame to the server: the answer says whether it held a code.
      var askServer = function () {
        var scale = Math.min(1, 480 / Math.max(video.videoWidth, video.videoHeight, 1));
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
        return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.7); })
          .then(function (blob) {
            return fetch(scanner.dataset.frameUrl, {
              method: "POST",
              body: blob,
              credentials: "same-origin",
              headers: { "Content-Type": "image/jpeg", "X-CSRFToken": scanner.dataset.csrf },
            });
          })
          .then(function (response) { return response.ok ? response.json() : { found: false }; })
          .then(function (answer) { return answer.found ? answer.text : null; });
      };
      var look = function () {
        if (!stream) return;
        if (Date.now() > until) { stop(scanner.dataset.timeout); return; }
        if (!video.videoWidth) { setTimeout(look, 200); return; }
        var reading = detector
          ? detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; })
          : askServer();
        reading.then(function (text) {
          if (text) found(text);
          else if (detector) requestAnimationFrame(look);
          else setTimeout(look, 500);
        }).catch(function () { setTimeout(look, 500); });
      };
      startButton.addEventListener("click", function () {
        scanStatus.textContent = "";
        navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
          .then(function (media) {
            stream = media;
            video.srcObject = media;
            scanner.classList.add("scanning");
            startButton.hidden = true;
            scanStatus.textContent = scanner.dataset.looking;
            until = Date.now() + 60000;
            return video.play();
          })
          .then(look)
          .catch(function () { stop(scanner.dataset.denied); });
      });
      window.addEventListener("pagehide", function () { stop(); });
    }
  }

  // The photo of a volunteer's code is read as soon as it is taken.
  document.querySelectorAll("form[data-photo-form]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      if (input.files.length) {
        form.querySelector("[data-file-name]").textContent = input.files[0].name;
        send(form);
      }
    });
  });

  // The hall's big-screen board: the next board every 15 s, fresh figures every minute.
  var big = document.querySelector("[data-boards]");
  if (big) {
    var urls = JSON.parse(big.dataset.boards);
    var at = 0;
    var cache = {};
    var show = function (data) {
      big.querySelector("[data-board-title]").textContent = data.title;
      var list = big.querySelector("[data-board-lines]");
      list.innerHTML = "";
      data.lines.forEach(function (line) {
        var item = document.createElement("li");
        [["board-place", line.position], ["board-name", line.name], ["board-points", line.earned]].forEach(function (part) {
          var span = document.createElement("span");
          span.className = part[0];
          span.textContent = part[1];
          item.appendChild(span);
        });
        list.appendChild(item);
      });
    };
    var load = function (url) {
      return fetch(url, { headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) { cache[url] = { data: data, at: Date.now() }; return data; });
    };
    var next = function () {
      at = (at + 1) % urls.length;
      var url = urls[at];
      var kept = cache[url];
      var fresh = kept && Date.now() - kept.at < Number(big.dataset.refresh) * 1000;
      (fresh ? Promise.resolve(kept.data) : load(url)).then(show).catch(function () {});
    };
    setInterval(next, Number(big.dataset.rotate) * 1000);
  }

  // The projector page: new QR code, count and latest names every few seconds.
  var screen = document.querySelector("[data-screen-url]");
  if (screen) {
    var update = function () {
      fetch(screen.dataset.screenUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
        .then(function (state) {
          Object.keys(state.codes).forEach(function (kind) {
            var slot = screen.querySelector('[data-code="' + kind + '"]');
            if (slot) slot.innerHTML = state.codes[kind]; // drawn by our server
            var short = screen.querySelector('[data-short="' + kind + '"]');
            if (short && state.shorts) short.textContent = state.shorts[kind];
          });
          screen.querySelector("[data-count]").textContent = state.checked_in;
          var list = screen.querySelector("[data-latest]");
          list.innerHTML = "";
          state.latest.forEach(function (row) {
            var item = document.createElement("li");
            item.textContent = row.name + " " + row.time;
            list.appendChild(item);
          });
          screen.classList.remove("stale");
        })
        .catch(function () { screen.classList.add("stale"); })
        .finally(function () { setTimeout(update, 5000); });
    };
    setTimeout(update, 5000);
  }
})();
