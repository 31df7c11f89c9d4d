// The signed-in user's token: kept in this tab's sessionStorage (never a cookie, so a page load
// carries no credential and another site cannot make the browser use it), sent as a bearer
// header by api.js.

const KEY = "carecoord.token";

export function pageConfig() {
  return JSON.parse(document.getElementById("ui-config").textContent);
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function currentToken() {
  return sessionStorage.getItem(KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** The token's claims, read without verifying (the server verifies; this only labels the page). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

function signInUrl() {
  const here = location.pathname + location.search;
  return "/ui/sign-in?next=" + encodeURIComponent(here);
}

export function goToSignIn() {
  forgetToken();
  location.assign(signInUrl());
}

/** The token and its claims; or null, on the way to the sign-in page, when there is none or it
 * expired (the page then starts nothing). */
export function requireSession() {
  const token = currentToken();
  const c = token ? claims(token) : null;
  if (!c || (c.exp && c.exp * 1000 < Date.now())) {
    goToSignIn();
    return null;
  }
  showSession(c);
  return { token, claims: c, roles: new Set(c.roles || []), clinics: c.clinics || [] };
}

function showSession(c) {
  const bar = document.getElementById("session");
  if (!bar) return;
  document.getElementById("session-who").textContent =
    `${c.sub} · ${(c.roles || []).join(", ")} · ${(c.clinics || []).join(", ")}`;
  document.getElementById("sign-out").addEventListener("click", () => {
    forgetToken();
    location.assign("/ui/sign-in");
  });
  bar.hidden = false;
}

/** Where to go after signing in: only a page of this UI, never another site. */
export function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/ui\/[A-Za-z0-9\-_/?=&%.:]*$/.test(next) && !next.startsWith("/ui/sign-in") ? next : "/ui/worklist";
}
