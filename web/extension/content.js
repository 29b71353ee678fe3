// sitoken content script: relays the page library's requests to the service worker and back.
// It adds nothing the page could forge: the service worker takes the origin from the browser.
"use strict";
window.addEventListener("message", (event) => {
  const data = event.data;
  if (event.source !== window || !data) return;
  if (data.sitoken === "cancel") {  // the page stopped waiting: the service worker closes that request
    chrome.runtime.sendMessage({ cancel: data.id });
    return;
  }
  if (data.sitoken !== "request") return;
  // At once, before the host is even started: the page then knows the extension is here, and
  // a slow host start (a cold Python on an old PC) is not mistaken for a missing extension.
  window.postMessage({ sitoken: "received", id: data.id }, window.location.origin);
  chrome.runtime.sendMessage({ id: data.id, operation: data.operation, params: data.params }, (reply) => {
    const answer = reply || { ok: false, error: "extension-error",
      message: chrome.runtime.lastError ? chrome.runtime.lastError.message : "no answer" };
    window.postMessage({ sitoken: "reply", id: data.id, reply: answer }, window.location.origin);
  });
});
