// sitoken-web.js: the page's side of the sitoken extension. No build step: load it with <script>.
//   const token = await sitoken.authenticate(nonce);        // POST it to the portal's login endpoint
//   const cert = await sitoken.getSigningCertificate();      // {certificate, subject}
//   const sig = await sitoken.sign(cert.certificate, hashBase64, "SHA-256");
// Failures reject with a SitokenError whose `code` is stable: no-extension, no-host, cancelled,
// pin-incorrect (`remaining`), pin-locked, token-not-found, token-absent, key-not-found, busy, timeout…
// Each call takes an optional last argument {timeoutMs} (default 5 minutes, status 5 s): past it
// the call rejects with `timeout` and the extension closes the request, its host and dialog.
(function (global) {
  "use strict";
  class SitokenError extends Error {
    constructor(code, message, details) {
      super(message || code);
      this.name = "SitokenError";
      this.code = code;
      Object.assign(this, details || {});
    }
  }
  const pending = new Map();
  let counter = 0;
  global.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== global || !data || data.sitoken !== "reply" || !pending.has(data.id)) return;
    const { resolve, reject, timer } = pending.get(data.id);
    pending.delete(data.id);
    clearTimeout(timer);
    const reply = data.reply || {};
    if (reply.ok) resolve(reply.result);
    else reject(new SitokenError(reply.error || "error", reply.message, reply));
  });
  function call(operation, params, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = `sitoken-${Date.now()}-${++counter}`;
      // The PIN dialog waits for a person: minutes, not seconds. No answer at all: no extension.
      const timer = setTimeout(() => {
        pending.delete(id);
        // The extension closes the request (and its host, with any dialog still open): the tab is free.
        global.postMessage({ sitoken: "cancel", id }, global.location.origin);
        // status answers at once when the extension is there: silence means it is not installed.
        reject(new SitokenError(operation === "status" ? "no-extension" : "timeout",
          "no answer from the sitoken extension"));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      global.postMessage({ sitoken: "request", id, operation, params }, global.location.origin);
    });
  }
  // The holder has minutes to find the USB-Key and type the PIN; a page may wait less ({timeoutMs}).
  function wait(options, fallback = 300000) {
    return options && options.timeoutMs > 0 ? options.timeoutMs : fallback;
  }
  global.sitoken = {
    SitokenError,
    status: (options) => call("status", {}, wait(options, 5000)),
    authenticate: (nonce, options) => call("authenticate", { nonce }, wait(options)),
    getSigningCertificate: (options) => call("get-certificate", {}, wait(options)),
    sign: (certificate, hash, hashAlgorithm, options) =>
      call("sign", { certificate, hash, hashAlgorithm }, wait(options)),
  };
})(window);
