// The hosted lead form's script (web/forms.py): solves the page's ALTCHA proof of work in the
// background and sends the form once it is solved and the page is old enough to be a person's.
// Without it (no JavaScript, no crypto.subtle outside a secure context) the form still posts,
// and the submission is held for review instead of accepted.
//
// The challenge is ALTCHA v2 with the iterated-SHA-256 key derivation (the `altcha` package's
// derive_key_sha): key = SHA-256^cost(salt || nonce || counter as a big-endian uint32), cut to
// keyLength bytes; the first counter whose key's hex starts with keyPrefix solves it. The
// payload sent is base64(JSON {challenge, solution: {counter, derivedKey, time}}).
//
// A page of yours that posts JSON can use `RelleksForms.solve(challenge)` (a Promise of the
// payload) with the challenge of GET /f/{publicId}/challenge.
(function () {
  "use strict";

  var BATCH = 64; // digests asked for at once: crypto.subtle runs them off the main thread

  function bytesOf(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function hexOf(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function startsWith(bytes, prefix) {
    for (var i = 0; i < prefix.length; i++) {
      var byte = bytes[i >> 1];
      var nibble = i % 2 === 0 ? byte >> 4 : byte & 15;
      if (nibble !== parseInt(prefix[i], 16)) return false;
    }
    return true;
  }

  async function derive(p, salt, nonce, counter) {
    var data = new Uint8Array(salt.length + nonce.length + 4);
    data.set(salt, 0);
    data.set(nonce, salt.length);
    new DataView(data.buffer).setUint32(salt.length + nonce.length, counter, false);
    var key = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    for (var i = 1; i < p.cost; i++) key = new Uint8Array(await crypto.subtle.digest("SHA-256", key));
    return key.slice(0, p.keyLength || 32);
  }

  async function solve(challenge) {
    var p = challenge.parameters;
    var salt = bytesOf(p.salt), nonce = bytesOf(p.nonce);
    var prefix = String(p.keyPrefix || "").toLowerCase();
    var started = performance.now();
    for (var base = 0; base <= 0xffffffff; base += BATCH) {
      var batch = [];
      for (var counter = base; counter < base + BATCH; counter++) {
        batch.push(derive(p, salt, nonce, counter));
      }
      var keys = await Promise.all(batch);
      for (var k = 0; k < keys.length; k++) {
        if (startsWith(keys[k], prefix)) {
          var solution = {counter: base + k, derivedKey: hexOf(keys[k]),
                          time: Math.round(performance.now() - started)};
          return btoa(JSON.stringify({challenge: challenge, solution: solution}));
        }
      }
    }
    throw new Error("no solution");
  }

  window.RelleksForms = {solve: solve};

  var form = document.querySelector("form[data-challenge]");
  if (!form || !window.crypto || !crypto.subtle || !window.TextEncoder) return;
  var field = form.querySelector("input[name=altcha]");
  var status = document.getElementById("form-status");
  var button = form.querySelector("button[type=submit]");
  var loaded = performance.now();
  var minimum = Number(form.getAttribute("data-min-ms") || "0") + 250;
  var solving = solve(JSON.parse(form.getAttribute("data-challenge"))).then(function (payload) {
    field.value = payload;
    form.setAttribute("data-solved", "true");
  }, function () { /* sent without a proof: held for review, not lost */ });
  var sending = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) return;
    sending = true;
    if (button) button.disabled = true;
    if (status && form.getAttribute("data-solved") !== "true") {
      status.textContent = status.getAttribute("data-checking");
    }
    solving.then(function () {
      var wait = minimum - (performance.now() - loaded);
      setTimeout(function () { HTMLFormElement.prototype.submit.call(form); },
                 Math.max(0, wait));
    });
  });
})();
