// sitoken-web.js: the page's side of the sitoken extension. No build step: load it with <script>.
//   const token = await sitoken.authenticate(nonce);        // POST it to the portal's login endpoint
//   const cert = await sitoken.getSigningCertificate();      // {certificate, subject}
//   const sig = await sitoken.sign(cert.certificate, hashBase64, "SHA-256");
// Failures reject with a SitokenError whose `code` is stable: no-extension, no-host, cancelled,
// pin-incorrect (`remaining`), pin-locked, token-not-found, token-absent, key-not-found, busy, timeout…
// Each call takes an optional last argument {timeoutMs} (default 5 minutes, status 30 s): past it
// the call rejects with `timeout` and the extension closes the request, its host and dialog.
// The extension acknowledges every request at once; none within 3 s rejects with `no-extension`.
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
  const EXTENSION_ACK_MS = 3000;
  const pending = new Map();
  let counter = 0;
  global.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== global || !data || !pending.has(data.id)) return;
    const entry = pending.get(data.id);
    if (data.sitoken === "received") {  // the extension is here: only the operation's own limit is left
      entry.seen = true;
      clearTimeout(entry.unseen);
      return;
    }
    if (data.sitoken !== "reply") return;
    const { resolve, reject, timer } = entry;
    pending.delete(data.id);
    clearTimeout(timer);
    clearTimeout(entry.unseen);
    const reply = data.reply || {};
    if (reply.ok) resolve(reply.result);
    else reject(new SitokenError(reply.error || "error", reply.message, reply));
  });
  function call(operation, params, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = `sitoken-${Date.now()}-${++counter}`;
      const entry = { resolve, reject, seen: false };
      // The content script acknowledges at once: silence means the extension is not installed.
      const missing = () => {
        pending.delete(id);
        clearTimeout(entry.timer);
        clearTimeout(entry.unseen);
        reject(new SitokenError("no-extension", "the sitoken extension is not installed in this browser"));
      };
      // The PIN dialog waits for a person: minutes, not seconds.
      entry.timer = setTimeout(() => {
        if (!entry.seen) return missing();
        pending.delete(id);
        // The extension closes the request (and its host, with any dialog still open): the tab is free.
        global.postMessage({ sitoken: "cancel", id }, global.location.origin);
        reject(new SitokenError("timeout", "no answer from the sitoken host in time"));
      }, timeoutMs);
      entry.unseen = setTimeout(missing, EXTENSION_ACK_MS);
      pending.set(id, entry);
      global.postMessage({ sitoken: "request", id, operation, params }, global.location.origin);
    });
  }
  // The holder has minutes to find the USB-Key and type the PIN; a page may wait less ({timeoutMs}).
  function wait(options, fallback = 300000) {
    return options && options.timeoutMs > 0 ? options.timeoutMs : fallback;
  }
  global.sitoken = {
    SitokenError,
    status: (options) => call("status", {}, wait(options, 30000)),
    authenticate: (nonce, options) => call("authenticate", { nonce }, wait(options)),
    getSigningCertificate: (options) => call("get-certificate", {}, wait(options)),
    sign: (certificate, hash, hashAlgorithm, options) =>
      call("sign", { certificate, hash, hashAlgorithm }, wait(options)),
  };
})(window);
