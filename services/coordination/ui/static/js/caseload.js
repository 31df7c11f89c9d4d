// The caseload: GET /v1/caseload in the order the page's link chose (the API's sort options), the
// patients' names, more pages on request, and the same list as a CSV file. Every read goes
// through the API, which scopes it to the caller's clinics and records it in the access log.

import { api, patientNames } from "./api.js";
import { element, formatDate, pseudonym } from "./format.js";
import { currentToken, goToSignIn, pageConfig, requireSession } from "./session.js";

const PAGE_SIZE = 100;
const CSV_PAGE = 1000;
const SEVERITIES = ["urgent", "high", "warning", "info"];

const config = pageConfig();
const session = requireSession();
const state = { rows: [], cursor: null, names: new Map() };

const rows = document.getElementById("caseload-rows");
const summary = document.getElementById("caseload-summary");
const clinicFilter = document.getElementById("clinic-filter");
const download = document.getElementById("csv-download");
const more = document.getElementById("more");

const patientLabel = (id) => state.names.get(id) || pseudonym(id);

function score(instrument) {
  if (!instrument) return element("td", { text: "—" });
  const change = instrument.change_percent;
  return element("td", {},
    element("span", { text: `${instrument.baseline.total} → ${instrument.latest.total}` }),
    element("span", { className: "since-date", text: change === null ? "one score" : `${change > 0 ? "+" : ""}${change} %` }));
}

function flags(open) {
  const parts = SEVERITIES.filter((s) => open[s] > 0).map((s) => `${open[s]} ${s}`);
  return element("td", { "data-flags": SEVERITIES.map((s) => open[s]).join(",") }, parts.length ? parts.join(", ") : "none");
}

function row(r) {
  const link = element("a", { className: "patient-link", href: `/ui/patients/${encodeURIComponent(r.patient_id)}` },
    patientLabel(r.patient_id));
  const patient = element("td", {}, link,
    session.clinics.length > 1 ? element("span", { className: "since-date", text: r.clinic_id }) : null,
    r.care_manager ? element("span", { className: "since-date", text: `care manager ${r.care_manager}` }) : null);
  const last = element("td", {}, element("span", { text: r.last_contact_at ? formatDate(r.last_contact_at) : "none" }),
    r.days_since_contact === null ? null : element("span", { className: "since-date", text: `${r.days_since_contact} days ago` }));
  const due = element("td", {}, element("span", { text: formatDate(r.next_contact_due) }),
    r.contact_overdue ? element("span", { className: "badge-new", text: "Overdue" }) : null);
  return element("tr", { "data-patient": r.patient_id, "data-phq9": r.phq9 ? r.phq9.latest.total : "" },
    patient, element("td", { text: String(r.weeks_in_treatment) }), score(r.phq9), score(r.gad7), last, due,
    element("td", { text: r.case_review_due ? "Due" : "—" }), flags(r.open_flags));
}

function render() {
  rows.replaceChildren(...state.rows.map(row));
  const due = state.rows.filter((r) => r.case_review_due).length;
  summary.textContent = state.rows.length
    ? `${state.rows.length} patients in active care${state.cursor ? " (more below)" : ""}; ${due} with a case review due.`
    : "No patients in active care in these clinics.";
  more.hidden = !state.cursor;
}

async function load({ append = false } = {}) {
  const params = { sort: config.sort, clinic: clinicFilter.value, limit: PAGE_SIZE };
  if (append) params.cursor = state.cursor;
  try {
    const page = await api("/v1/caseload", { params });
    const list = append ? state.rows.concat(page.patients) : page.patients;
    state.names = await patientNames(list.map((r) => r.patient_id));
    state.rows = list;
    state.cursor = page.next_cursor;
    render();
    document.body.dataset.loaded = "true";
  } catch (error) {
    summary.textContent = error.status === 403
      ? "Your roles do not include reading the caseload."
      : `The caseload could not be loaded: ${error.message}`;
  }
}

/** Every page of the caseload as one CSV file (the token cannot ride on a plain link). */
async function downloadCsv(event) {
  event.preventDefault();
  const lines = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ sort: config.sort, limit: CSV_PAGE });
    if (clinicFilter.value) query.set("clinic", clinicFilter.value);
    if (cursor) query.set("cursor", cursor);
    const response = await fetch(`/v1/caseload?${query}`, {
      headers: { Accept: "text/csv", Authorization: `Bearer ${currentToken()}` }, cache: "no-store",
    });
    if (response.status === 401) {
      goToSignIn();
      return;
    }
    if (!response.ok) {
      summary.textContent = `The CSV could not be made: the service answered ${response.status}`;
      return;
    }
    const text = (await response.text()).split("\r\n").filter((line) => line);
    lines.push(...(lines.length ? text.slice(1) : text));
    cursor = response.headers.get("X-Next-Cursor");
  } while (cursor);
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const anchor = element("a", { href: url, download: "caseload.csv", hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function start() {
  for (const clinic of session.clinics) clinicFilter.append(new Option(clinic, clinic));
  clinicFilter.addEventListener("change", () => load());
  more.addEventListener("click", () => load({ append: true }));
  download.addEventListener("click", downloadCsv);
  load();
}

if (session) start();
