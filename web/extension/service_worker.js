// sitoken service worker: one request at a time per tab, the origin from sender.origin, to the native host.
"use strict";
const HOST = "cn.sitoken.web";
const OPERATIONS = new Set(["status", "get-certificate", "authenticate", "sign"]);
const busy = new Map(); // tab → its open request: {pageId, finish}
let nextId = 1;

function allowedOrigin(origin) {
  try {
    const url = new URL(origin);
    if (url.origin !== origin) return false;
    return url.protocol === "https:" ||
      (url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname));
  } catch (e) {
    return false;
  }
}

function hostError(message) {
  // Chromium's words for a host that is not installed or not allowed for this extension...
  // (Firefox: "No such native application …").
  if (/not found|forbidden|no such native application/i.test(message)) return { ok: false, error: "no-host", message };
  // ... and for one that died before answering ("Native host has exited."): the next request
  // starts a new host, so the page may simply try again.
  if (/exited|communicating/i.test(message)) return { ok: false, error: "host-crashed", message };
  return { ok: false, error: "host-error", message };
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  // Chromium sets sender.origin; Firefox sets only sender.url, which the browser sets as well.
  const origin = sender.origin || (sender.url ? new URL(sender.url).origin : undefined);
  const tab = sender.tab ? sender.tab.id : -1;
  if (!allowedOrigin(origin)) {
    sendResponse({ ok: false, error: "origin-refused", message: "sitoken answers HTTPS pages (and localhost) only" });
    return false;
  }
  if (message && message.cancel !== undefined) {  // the page gave up waiting (its timeout)
    const open = busy.get(tab);
    if (open && open.pageId === message.cancel) open.finish({ ok: false, error: "timeout", message: "the page stopped waiting" });
    sendResponse({ ok: true });
    return false;
  }
  if (!message || !OPERATIONS.has(message.operation)) {
    sendResponse({ ok: false, error: "bad-message", message: "unknown operation" });
    return false;
  }
  if (busy.has(tab)) {
    sendResponse({ ok: false, error: "busy", message: "another sitoken request of this tab is still open" });
    return false;
  }
  const params = message.params && typeof message.params === "object" ? message.params : {};
  const envelope = { id: nextId++, origin, operation: message.operation, params };
  // A port of its own per request (not sendNativeMessage): the page's timeout can close it, and
  // the browser then stops that host, so a dialog nobody answers does not keep the tab busy.
  const port = chrome.runtime.connectNative(HOST);
  const finish = (reply) => {
    if (busy.get(tab) !== request) return;  // answered already (or cancelled)
    busy.delete(tab);
    port.disconnect();
    sendResponse(reply);
  };
  const request = { pageId: message.id, finish };
  busy.set(tab, request);
  port.onMessage.addListener((reply) => finish(reply));
  port.onDisconnect.addListener((closed) => {
    // Chromium reports why in runtime.lastError, Firefox in the port's error.
    const error = (closed && closed.error) || chrome.runtime.lastError;
    finish(hostError(error ? error.message : "Native host has exited."));
  });
  port.postMessage(envelope);
  return true; // the answer comes later
});
