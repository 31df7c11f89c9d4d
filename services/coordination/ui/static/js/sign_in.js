// Sign-in: a local token from the server (local stack only), or a token the user brings.

import { nextPage, storeToken } from "./session.js";

function fail(id, text) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.hidden = false;
}

async function localSignIn(event) {
  event.preventDefault();
  const form = event.target;
  document.getElementById("sign-in-error").hidden = true;
  const roles = [...form.querySelectorAll("input[name=roles]:checked")].map((i) => i.value);
  const clinics = [...form.querySelectorAll("input[name=clinics]:checked")].map((i) => i.value)
    .concat(form.other_clinics.value.split(",").map((c) => c.trim()).filter(Boolean));
  if (!roles.length) return fail("sign-in-error", "Choose at least one role.");
  if (!clinics.length) return fail("sign-in-error", "Choose at least one clinic.");
  const response = await fetch("/ui/api/local-token", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ staff_id: form.staff_id.value.trim(), roles, clinics: [...new Set(clinics)] }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    const detail = Array.isArray(body?.detail) ? body.detail.map((d) => `${d.loc?.at(-1)}: ${d.msg}`).join("; ")
      : body?.detail || `the service answered ${response.status}`;
    return fail("sign-in-error", `Not signed in: ${detail}`);
  }
  const answer = await response.json();
  storeToken(answer.access_token);
  location.assign(nextPage());
}

async function tokenSignIn(event) {
  event.preventDefault();
  document.getElementById("token-error").hidden = true;
  const token = document.getElementById("token-input").value.trim().replace(/^Bearer\s+/i, "");
  if (!token) return fail("token-error", "Paste a token first.");
  // Checked against the service before it is kept: a refused token is said so here.
  const response = await fetch("/v1/rules", { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) return fail("token-error", "The service refused this token (expired, or not for it).");
  storeToken(token);
  location.assign(nextPage());
}

document.getElementById("local-sign-in")?.addEventListener("submit", localSignIn);
document.getElementById("token-sign-in").addEventListener("submit", tokenSignIn);
