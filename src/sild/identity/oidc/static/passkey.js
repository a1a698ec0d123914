// Passkeys for the Sild login pages (docs/spec/identity.md §7): WebAuthn Level 3 JSON
// helpers (parse*OptionsFromJSON, toJSON), no build step, no dependencies.
"use strict";

async function postJSON(url, body) {
  const r = await fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const data = await r.json();
  if (!r.ok) { throw new Error(data.error_description || data.error || r.statusText); }
  return data;
}

function show(text) { document.getElementById("passkey-status").textContent = text; }

const login = document.getElementById("passkey-login");
if (login) {
  login.addEventListener("click", async () => {
    try {
      const nonce = login.dataset.nonce;
      const options = await postJSON("/login/passkey/options", {nonce});
      const credential = await navigator.credentials.get(
        {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
      const done = await postJSON("/login/passkey", {nonce, credential: credential.toJSON()});
      window.location.assign(done.location);
    } catch (e) {
      show("Passkey login failed: " + e.message);
    }
  });
}

const register = document.getElementById("passkey-register");
if (register) {
  register.addEventListener("click", async () => {
    try {
      const options = await postJSON("/passkeys/register/options", {});
      const credential = await navigator.credentials.create(
        {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)});
      await postJSON("/passkeys/register", credential.toJSON());
      show("Passkey registered.");
    } catch (e) {
      show("Passkey registration failed: " + e.message);
    }
  });
}
