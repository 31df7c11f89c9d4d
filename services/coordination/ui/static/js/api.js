// The JSON API with the user's bearer token. Requests stay few (the service limits each caller's
// rate): pages load in parallel once, then refresh on a live change, not on a timer loop.

import { currentToken, goToSignIn } from "./session.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function detailOf(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  return `the service answered ${status}`;
}

function withParams(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) query.append(name, one);
  }
  const text = query.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * ``method`` GET by default; ``body`` is sent as JSON; ``idempotencyKey`` makes a retried
 * command record nothing twice. A 401 ends the session (the token expired or was refused).
 */
export async function api(path, { method = "GET", body, params, idempotencyKey, retried = false } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${currentToken()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(withParams(path, params), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  if (response.status === 401) {
    goToSignIn();
    throw new ApiError(401, "signed out");
  }
  if (response.status === 429 && !retried) {
    const wait = Math.min(5, Number(response.headers.get("Retry-After")) || 1);
    await sleep(wait * 1000);
    return api(path, { method, body, params, idempotencyKey, retried: true });
  }
  const data = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, detailOf(data, response.status));
  return data;
}

const names = new Map();

/** Display names from the assessment service (through /ui/api, which passes the token on);
 * null where the caller may not see identity. Kept in memory for the page's life only. */
export async function patientNames(ids) {
  const missing = [...new Set(ids)].filter((id) => !names.has(id));
  for (let i = 0; i < missing.length; i += 100) {
    const batch = missing.slice(i, i + 100);
    try {
      const answer = await api("/ui/api/patient-names", { params: { id: batch } });
      for (const id of batch) names.set(id, answer.names[id] ?? null);
    } catch (error) {
      if (error.status === 401) throw error;
      for (const id of batch) names.set(id, null);
    }
  }
  return new Map(ids.map((id) => [id, names.get(id) ?? null]));
}

export function newIdempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
