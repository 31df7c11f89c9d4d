// Dates, durations and codes as a clinician reads them (the browser's locale and time zone).

const DATE = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
});

export const formatDate = (value) => (value ? DATE.format(new Date(value)) : "—");
export const formatDateTime = (value) => (value ? DATE_TIME.format(new Date(value)) : "—");

/** "today", "3 days ago", "5 weeks ago": how long a flag has been waiting. */
export function ago(value, now = Date.now()) {
  const days = Math.floor((now - new Date(value).getTime()) / 86400000);
  if (days < 1) return "today";
  if (days === 1) return "yesterday";
  if (days < 21) return `${days} days ago`;
  if (days < 120) return `${Math.round(days / 7)} weeks ago`;
  return `${Math.round(days / 30.4)} months ago`;
}

/** ``non_response`` → "non response"; known acronyms kept. */
export function words(code) {
  if (code === null || code === undefined) return "";
  const text = String(code).replace(/_/g, " ");
  return { cbt: "CBT", act: "ACT", ipt: "IPT", emdr: "EMDR", dbt: "DBT" }[text] ?? text;
}

export const number = (value) => (Number.isInteger(value) ? String(value) : String(Number(value.toFixed(2))));

/** A pseudonymous label for a patient whose name the caller may not see. */
export const pseudonym = (patientId) => `Patient ${patientId.slice(0, 8)}`;

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function announce(text) {
  const announcer = document.getElementById("announcer");
  if (!announcer) return;
  announcer.textContent = "";
  // A fresh text node after a tick, so screen readers announce a repeated message too.
  setTimeout(() => { announcer.textContent = text; }, 50);
}
