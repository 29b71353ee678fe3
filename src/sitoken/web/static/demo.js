// The demo portal's page: login and document signing through sitoken-web.js, each step checked by the server.
(function (global) {
  "use strict";
  let csrf = null;

  async function post(path, body) {
    const answer = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                                       body: JSON.stringify(body) });
    const data = await answer.json();
    if (!answer.ok) throw Object.assign(new Error(data.message || data.error), data);
    return data;
  }

  // Log in: the server's nonce, signed by the token for this origin, checked by the server.
  async function login() {
    const issued = await (await fetch("/auth/nonce")).json();
    csrf = issued.csrf;
    const authToken = await global.sitoken.authenticate(issued.nonce);
    return { authToken, ...(await post("/auth/login", { authToken })) };
  }

  // Sign a document: the server hashes it, the token signs the hash, the server verifies.
  async function signDocument() {
    const { certificate } = await global.sitoken.getSigningCertificate();
    const started = await post("/sign/start", { certificate });
    const signed = await global.sitoken.sign(certificate, started.hash, started.hashAlgorithm);
    const verified = await post("/sign/finish", { certificate, signature: signed.signature, algorithm: signed.algorithm });
    return { certificate, ...verified };
  }

  function show(id, text, failed) {
    const out = document.getElementById(id);
    out.textContent = text;
    out.className = failed ? "error" : "ok";
  }

  function describe(error) {
    const tries = error.remaining !== undefined && error.remaining !== null ? ` (${error.remaining} tries left)` : "";
    return `${error.code || error.error || "error"}${tries}: ${error.message}`;
  }

  global.sitokenDemo = {
    post, login, signDocument,
    async loginClicked() {
      try {
        const { holder } = await login();
        show("login-result", `Logged in as ${holder.name}, ID number ${holder.id_number || holder.credit_code}`);
        document.getElementById("sign").disabled = false;
      } catch (e) { show("login-result", describe(e), true); }
    },
    async signClicked() {
      try {
        const result = await signDocument();
        show("sign-result", `Signed and verified by the portal: "${result.document}" (signer ${result.signer.name})`);
      } catch (e) { show("sign-result", describe(e), true); }
    },
  };
})(window);
