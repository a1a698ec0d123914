// Sild portal: the usage chain checked again in the browser (docs/spec/portal-usage.md §3.3,
// docs/spec/tracker.md §3.1–§3.3). Vanilla JS, WebCrypto SHA-256, no inline script (CSP).
// For each [data-proof-url] it fetches the register's proof and recomputes every record
// hash and chain link from the proof's first listed record to its head. The ledger part
// (the anchored head map and its receipt, §3.4) is checked by the server and by
// `sild tracker verify`; this module says so in its text.
"use strict";

const enc = new TextEncoder();

function b64decode(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// sild.core.canonical: keys sorted, no whitespace, UTF-8 (keys are ASCII here).
function canonical(value) {
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  if (value !== null && typeof value === "object") {
    return "{" + Object.keys(value).sort().map(
      (k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Returns {ok, count, problem}: the first record that breaks the chain, if any.
async function checkChain(proof) {
  let seq = Number(proof.from.seq);
  let chain = b64decode(proof.from.chain);
  let last = "";
  const anchored = proof.anchor !== undefined && proof.anchor !== null;
  const items = proof.records.concat(anchored ? (proof.unanchored || []) : []);
  let atHead = false;
  const head = proof.head;
  for (const item of items) {
    const n = Number(item.seq);
    if (n !== seq + 1) return {ok: false, count: n, problem: "missing"};
    let digest, sealed;
    if (item.content !== undefined) {
      if (item.content.register !== proof.register || item.content.subject !== proof.subject) {
        return {ok: false, count: n, problem: "foreign"};
      }
      digest = await sha256(enc.encode(canonical(item.content)));
      sealed = item.content.flags.includes("sealed");
    } else {
      digest = b64decode(item.digest);
      sealed = item.sealed === true;
    }
    const recordHash = await sha256(enc.encode(canonical({
      type: "sild.tracker.usage/1", seq: n, logged_at: item.logged_at, sealed: sealed,
      digest: b64encode(digest)})));
    const link = new Uint8Array(65);
    link[0] = 0x02;
    link.set(chain, 1);
    link.set(recordHash, 33);
    chain = await sha256(link);
    if (!equal(chain, b64decode(item.chain)) || item.logged_at < last) {
      return {ok: false, count: n, problem: "altered"};
    }
    seq = n;
    last = item.logged_at;
    if (n === Number(head.seq)) atHead = equal(chain, b64decode(head.chain));
  }
  if (seq === Number(head.seq) && seq === Number(proof.from.seq)) {
    atHead = equal(chain, b64decode(head.chain));
  }
  if (!atHead) return {ok: false, count: seq + 1, problem: "missing"};
  const end = anchored && proof.current ? proof.current : head;
  if (Number(end.seq) !== seq || !equal(chain, b64decode(end.chain))) {
    return {ok: false, count: seq + 1, problem: "missing"};
  }
  return {ok: true, count: items.length, problem: ""};
}

async function checkOne(el) {
  el.textContent = el.dataset.checkingText || "Checking in your browser…";
  try {
    const resp = await fetch(el.dataset.proofUrl, {credentials: "same-origin"});
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const result = await checkChain(await resp.json());
    el.dataset.result = result.ok ? "ok" : "fail";
    el.textContent = result.ok
      ? (el.dataset.okText || "Chain checked in your browser") + " (" + result.count + ")"
      : (el.dataset.failText || "Browser check failed at record") + " " + result.count +
        " (" + result.problem + ")";
    el.className = "usage-browser badge " + (result.ok ? "badge-ok" : "badge-fail");
  } catch (e) {
    el.dataset.result = "error";
    el.textContent = (el.dataset.errorText || "Browser check not possible") + ": " + e.message;
  }
}

if (globalThis.crypto && crypto.subtle) {
  for (const el of document.querySelectorAll("[data-proof-url]")) checkOne(el);
}

export {canonical, checkChain};
