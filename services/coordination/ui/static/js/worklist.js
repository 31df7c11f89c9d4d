// The clinic worklist: GET /v1/flags (most severe first, then the oldest raised), the patients'
// names, an acknowledge action, and live changes from the flag stream.

import { acknowledge, setUpAcknowledgement } from "./acknowledge.js";
import { api, patientNames } from "./api.js";
import { ago, announce, element, formatDateTime, pseudonym } from "./format.js";
import { followFlags, showPolling } from "./live.js";
import { icon, MARKS, severityBadge } from "./marks.js";
import { pageConfig, requireSession } from "./session.js";

const PAGE_SIZE = 100;
const POLL_SECONDS = 60;

const config = pageConfig();
const vocabulary = config.vocabulary;
const session = requireSession();
const state = { flags: [], cursor: null, seen: null, names: new Map(), fresh: new Set() };

const rows = document.getElementById("worklist-rows");
const summary = document.getElementById("worklist-summary");
const clinicFilter = document.getElementById("clinic-filter");
const statusFilter = document.getElementById("status-filter");
const more = document.getElementById("more");

const ruleLabel = (id) => vocabulary.rules[id]?.label ?? id.replace(/_/g, " ");
const patientLabel = (id) => state.names.get(id) || pseudonym(id);

function statusCell(flag) {
  if (flag.status === "acknowledged") {
    const reason = vocabulary.ack_reasons.find(([code]) => code === flag.ack_reason)?.[1] ?? flag.ack_reason;
    return element("td", {}, element("span", { className: "status status-acknowledged" },
      icon(MARKS.acknowledged, 14), "Acknowledged"),
      element("span", { className: "since-date", text: `${reason ?? ""} · ${flag.acknowledged_by ?? ""}` }));
  }
  return element("td", {}, element("span", { className: "status status-open" },
    icon(MARKS.open, 13), "Open"));
}

function row(flag) {
  const name = patientLabel(flag.patient_id);
  const link = element("a", { className: "patient-link", href: `/ui/patients/${encodeURIComponent(flag.patient_id)}` },
    name);
  const patient = element("td", {}, link, state.names.get(flag.patient_id) ? null
    : element("span", { className: "sr-only", text: " (name not shown for your role)" }),
    session.clinics.length > 1 ? element("span", { className: "since-date", text: flag.clinic_id }) : null);
  const rule = element("td", {}, element("span", { className: "rule-name", text: ruleLabel(flag.rule_id) }),
    state.fresh.has(flag.flag_id) ? element("span", { className: "badge-new", text: "New" }) : null,
    element("div", { className: "explanation", text: flag.explanation }));
  const since = element("td", {}, element("span", { text: ago(flag.raised_at) }),
    element("time", { className: "since-date", datetime: flag.raised_at, text: formatDateTime(flag.raised_at) }));
  const actions = element("td", {});
  if (flag.status === "open") {
    const button = element("button", {
      type: "button", className: "button-secondary button-small", "data-flag": flag.flag_id,
      "aria-label": `Acknowledge ${ruleLabel(flag.rule_id)} for ${name}`,
    }, "Acknowledge");
    button.addEventListener("click", () => onAcknowledge(flag, button));
    actions.append(button);
  }
  const tr = element("tr", {
    "data-flag-id": flag.flag_id, "data-rule": flag.rule_id, "data-status": flag.status,
    "data-severity": flag.severity, "data-patient": flag.patient_id,
    className: state.fresh.has(flag.flag_id) ? "is-new" : null,
  }, element("td", {}, severityBadge(flag.severity)), patient, rule, since, statusCell(flag), actions);
  return tr;
}

function render() {
  rows.replaceChildren(...state.flags.map(row));
  const open = state.flags.filter((f) => f.status === "open").length;
  summary.textContent = state.flags.length
    ? `${open} open, ${state.flags.length - open} acknowledged${state.cursor ? " (more below)" : ""}.`
    : "No flags need attention in these clinics.";
  more.hidden = !state.cursor;
}

async function load({ append = false } = {}) {
  const params = { status: statusFilter.value, clinic: clinicFilter.value, limit: PAGE_SIZE };
  if (append) params.cursor = state.cursor;
  try {
    const page = await api("/v1/flags", { params });
    const flags = append ? state.flags.concat(page.flags) : page.flags;
    const ids = flags.map((f) => f.patient_id);
    state.names = await patientNames(ids);
    if (state.seen) {
      for (const flag of flags) if (!state.seen.has(flag.flag_id)) state.fresh.add(flag.flag_id);
    }
    state.seen = new Set(flags.map((f) => f.flag_id));
    state.flags = flags;
    state.cursor = page.next_cursor;
    render();
    document.body.dataset.loaded = "true";
  } catch (error) {
    summary.textContent = error.status === 403
      ? "Your roles do not include reading the worklist."
      : `The worklist could not be loaded: ${error.message}`;
  }
}

async function onAcknowledge(flag, button) {
  const done = await acknowledge(flag, `${ruleLabel(flag.rule_id)} · ${patientLabel(flag.patient_id)}`);
  if (!done) {
    button.focus();
    return;
  }
  state.flags = state.flags.map((f) => (f.flag_id === done.flag_id ? done : f));
  render();
  announce(`${ruleLabel(done.rule_id)} for ${patientLabel(done.patient_id)} acknowledged.`);
  rows.querySelector(`tr[data-flag-id="${CSS.escape(done.flag_id)}"] a`)?.focus();
}

let pending = null;
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => load(), 400); // one reload for a burst of changes
}

function onChange(kind, flag) {
  if (kind === "raised" && flag.status !== "resolved") {
    state.fresh.add(flag.flag_id);
    announce(`New ${flag.severity} flag: ${ruleLabel(flag.rule_id)}.`);
  }
  refreshSoon();
}

function start() {
  for (const clinic of session.clinics) clinicFilter.append(new Option(clinic, clinic));
  clinicFilter.addEventListener("change", () => load());
  statusFilter.addEventListener("change", () => load());
  more.addEventListener("click", () => load({ append: true }));
  setUpAcknowledgement(vocabulary);
  load();
  followFlags({
    onChange,
    onUnavailable: () => {
      showPolling(POLL_SECONDS);
      setInterval(() => { if (!document.hidden) load(); }, POLL_SECONDS * 1000);
    },
  });
}

if (session) start();
