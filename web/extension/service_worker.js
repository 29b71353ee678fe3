// sitoken service worker: one request at a time per tab, the origin from sender.origin, to the native host.
"use strict";
const HOST = "cn.sitoken.web";
const OPERATIONS = new Set(["status", "get-certificate", "authenticate", "sign"]);
const busy = new Set();
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
  if (!message || !OPERATIONS.has(message.operation)) {
    sendResponse({ ok: false, error: "bad-message", message: "unknown operation" });
    return false;
  }
  if (busy.has(tab)) {
    sendResponse({ ok: false, error: "busy", message: "another sitoken request of this tab is still open" });
    return false;
  }
  busy.add(tab);
  const params = message.params && typeof message.params === "object" ? message.params : {};
  const envelope = { id: nextId++, origin, operation: message.operation, params };
  chrome.runtime.sendNativeMessage(HOST, envelope, (reply) => {
    busy.delete(tab);
    if (chrome.runtime.lastError) sendResponse(hostError(chrome.runtime.lastError.message));
    else sendResponse(reply);
  });
  return true; // the answer comes later
});
