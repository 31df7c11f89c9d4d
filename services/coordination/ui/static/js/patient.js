// The patient page: summary, flags and timeline from the coordination API (as of a moment, when
// asked), the course chart, the event detail, acknowledgement and live changes.

import { acknowledge, setUpAcknowledgement } from "./acknowledge.js";
import { api, patientNames } from "./api.js";
import { ago, announce, element, formatDate, formatDateTime, number, pseudonym, words } from "./format.js";
import { drawCourse } from "./course_chart.js";
import { buildCourse } from "./course_model.js";
import { followFlags, showPolling } from "./live.js";
import { icon, MARKS, SEVERITY, severityBadge } from "./marks.js";
import { pageConfig, requireSession } from "./session.js";

const TIMELINE_PAGE = 1000;
const TIMELINE_PAGES = 5; // 5000 events: years of weekly care
const EVENTS_POLL_SECONDS = 30; // the flag stream carries flags only; new events are looked for this often

const config = pageConfig();
const vocabulary = config.vocabulary;
const patientId = config.patient_id;
const session = requireSession();

const state = { summary: null, flags: [], entries: [], course: null, name: null, seen: null, fresh: new Set(),
  asOf: null };
const $ = (id) => document.getElementById(id);
const ruleLabel = (id) => vocabulary.rules[id]?.label ?? words(id);
const base = `/v1/patients/${encodeURIComponent(patientId)}`;

// ---------------------------------------------------------------- loading

async function timeline(params) {
  let entries = [];
  let cursor = null;
  for (let page = 0; page < TIMELINE_PAGES; page += 1) {
    const answer = await api(`${base}/timeline`, { params: { ...params, limit: TIMELINE_PAGE, cursor } });
    entries = entries.concat(answer.entries);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return entries;
}

async function load() {
  const asOf = state.asOf ? new Date(state.asOf).toISOString() : undefined;
  const params = { as_of: asOf };
  try {
    const [summary, flags, entries, names] = await Promise.all([
      api(`${base}/summary`, { params }), api(`${base}/flags`, { params }), timeline(params),
      patientNames([patientId]),
    ]);
    const ids = new Set([...entries.map((e) => e.event_id), ...flags.map((f) => f.flag_id)]);
    if (state.seen) for (const id of ids) if (!state.seen.has(id)) state.fresh.add(id);
    // Drawn again only when something changed, so a periodic look does not move the user's focus.
    const signature = JSON.stringify([entries.map((e) => e.event_id), flags.map((f) => [f.flag_id, f.status]),
      summary.event_count, state.asOf]);
    const changed = signature !== state.signature;
    Object.assign(state, { summary, flags, entries, name: names.get(patientId), seen: ids, signature });
    $("load-error").hidden = true;
    if (changed) render();
    document.body.dataset.loaded = "true";
  } catch (error) {
    const message = { 404: "No such patient in your clinics.", 403: "Your roles do not include reading a patient's course." }[error.status];
    $("load-error").textContent = message || `The course could not be loaded: ${error.message}`;
    $("load-error").hidden = false;
  }
}

// ---------------------------------------------------------------- rendering

function renderHeader() {
  const s = state.summary;
  const name = state.name || pseudonym(patientId);
  $("patient-name").textContent = name;
  document.title = `${name} · carecoord`;
  const parts = [`clinic ${s.clinic_id}`];
  if (s.age_band) parts.push(`age ${s.age_band}`);
  if (s.enrolled_at) parts.push(`enrolled ${formatDate(s.enrolled_at)}`);
  parts.push(`${s.event_count} events`);
  if (s.identity_erased) parts.push("identity erased");
  $("patient-meta").textContent = parts.join(" · ");
}

function flagItem(flag) {
  const item = element("li", { "data-flag-id": flag.flag_id, "data-rule": flag.rule_id, "data-status": flag.status },
    element("div", {}, severityBadge(flag.severity), " ", element("span", { className: "rule-name", text: ruleLabel(flag.rule_id) }),
      state.fresh.has(flag.flag_id) ? element("span", { className: "badge-new", text: "New" }) : null),
    element("div", {}));
  const side = item.lastChild;
  if (flag.status === "open" && !state.asOf) {
    const button = element("button", { type: "button", className: "button-secondary button-small",
      "aria-label": `Acknowledge ${ruleLabel(flag.rule_id)}` }, "Acknowledge");
    button.addEventListener("click", () => onAcknowledge(flag, button));
    side.append(button);
  } else if (flag.status === "acknowledged") {
    side.append(element("span", { className: "status" }, icon(MARKS.acknowledged, 14), "Acknowledged"));
  }
  item.append(element("div", { className: "explanation" },
    `${flag.explanation} — since ${formatDate(flag.raised_at)} (${ago(flag.raised_at, state.asOf ?? Date.now())})`));
  return item;
}

function renderCards() {
  const s = state.summary;
  const open = state.flags.filter((f) => f.status !== "resolved" && !f.withdrawn)
    .sort((a, b) => vocabulary.severities.indexOf(a.severity) - vocabulary.severities.indexOf(b.severity));
  $("open-flags").replaceChildren(...(open.length ? open.map(flagItem)
    : [element("li", { className: "hint", text: "No open flags." })]));
  $("current-meds").replaceChildren(...(s.medications.length ? s.medications.map((m) => element("li", {},
    element("strong", { text: m.drug.name }), ` ${number(m.daily_dose)} ${m.daily_dose_unit}`,
    element("span", { className: "sub", text: `${m.therapeutic_class ? `ATC ${m.therapeutic_class} · ` : ""}since ${formatDate(m.started_at)}` })))
    : [element("li", { className: "hint", text: "None active." })]));
  $("current-therapy").replaceChildren(...(s.therapy_episodes.length ? s.therapy_episodes.map((e) => element("li", {},
    element("strong", { text: words(e.modality) || "therapy" }), ` · care step ${e.care_step ?? "?"}`,
    element("span", { className: "sub", text: `${e.sessions.completed} attended, ${e.sessions.missed} missed, ` +
      `${e.sessions.cancelled_by_patient + e.sessions.cancelled_by_clinic} cancelled` })))
    : [element("li", { className: "hint", text: "No open episode." })]));
  const scores = Object.entries(s.instruments);
  $("latest-scores").replaceChildren(...(scores.length ? scores.map(([name, i]) => element("li", {},
    element("strong", { text: name }), ` ${i.latest.total} (${words(i.band)})`,
    i.safety_item_positive ? element("span", { className: "severity severity-urgent" }, " · item 9 positive") : null,
    element("span", { className: "sub", text: `baseline ${i.baseline.total}${i.change_percent === null ? "" : `, ${i.change_percent > 0 ? "+" : ""}${i.change_percent}%`} · ${formatDate(i.latest.at)}` })))
    : [element("li", { className: "hint", text: "No questionnaire yet." })]));
}

function legendItem(spec, label) {
  return element("span", { className: "legend-item" }, icon(spec, 14), label);
}

function renderLegend() {
  const group = (title, ...items) => element("span", { className: "legend-group" }, element("strong", { text: title }), ...items);
  const flagSpecs = vocabulary.severities.map((sev) => legendItem({ ...SEVERITY[sev], filled: true }, SEVERITY[sev].label));
  $("legend").replaceChildren(
    group("Flags", ...flagSpecs, element("span", { className: "legend-item", text: "bar: while it holds; dashed: resolved; ✓ acknowledged" })),
    group("Medication", element("span", { className: "legend-item", text: "bar height: daily dose" }),
      legendItem(MARKS.adverse, MARKS.adverse.label), legendItem(MARKS.stop, MARKS.stop.label)),
    group("Sessions", ...["completed", "missed", "cancelled_patient", "cancelled_clinic", "scheduled"]
      .map((k) => legendItem(MARKS[k], MARKS[k].label))),
    group("Life and team", ...["life_worse", "life_better", "escalation", "review", "conference"]
      .map((k) => legendItem(MARKS[k], MARKS[k].label))),
    group("Scores", legendItem(MARKS.score, "Total"), legendItem(MARKS.safety, MARKS.safety.label),
      element("span", { className: "legend-item", text: "shading: severity bands (darker is more severe)" })),
  );
}

function showDetail(info) {
  const panel = $("event-detail");
  const rows = [];
  const add = (term, value) => { if (value !== undefined && value !== null && value !== "") rows.push(element("dt", { text: term }), element("dd", { text: String(value) })); };
  if (info.flag) {
    const f = info.flag;
    add("Rule", `${ruleLabel(f.rule_id)} (version ${f.rule_version})`);
    add("Why", f.explanation);
    add("Severity", SEVERITY[f.severity]?.label ?? f.severity);
    add("Status", f.status + (f.withdrawn ? " (withdrawn)" : ""));
    add("Raised", formatDateTime(f.raised_at));
    add("Acknowledged", f.acknowledged_at ? `${formatDateTime(f.acknowledged_at)} by ${f.acknowledged_by}` : null);
    add("Resolved", f.resolved_at ? formatDateTime(f.resolved_at) : null);
  } else {
    const e = info.entry;
    add("When", formatDateTime(e.occurred_at));
    add("Recorded", formatDateTime(e.recorded_at));
    add("Service", e.service);
    add("Event", e.type);
  }
  panel.replaceChildren(element("strong", { text: info.title }), element("dl", {}, ...rows));
}

function renderChart() {
  state.course = buildCourse(state.entries, state.flags, { asOf: state.asOf });
  drawCourse($("chart"), state.course, { vocabulary, onSelect: showDetail, tooltip: $("tooltip"), fresh: state.fresh });
}

function renderTable() {
  $("timeline-rows").replaceChildren(...state.course.entries.map((e) => element("tr", {},
    element("td", {}, element("time", { datetime: e.occurred_at, text: formatDateTime(e.occurred_at) })),
    element("td", { text: e.service }), element("td", { text: e.summary }),
    element("td", { text: formatDateTime(e.recorded_at) }))));
}

function render() {
  renderHeader();
  renderCards();
  renderChart();
  renderTable();
}

// ---------------------------------------------------------------- actions

async function onAcknowledge(flag, button) {
  const done = await acknowledge(flag, `${ruleLabel(flag.rule_id)} · ${state.name || pseudonym(patientId)}`);
  if (!done) {
    button.focus();
    return;
  }
  state.flags = state.flags.map((f) => (f.flag_id === done.flag_id ? done : f));
  render();
  announce(`${ruleLabel(done.rule_id)} acknowledged.`);
  $("open-flags").focus?.();
}

function setUpAsOf() {
  const input = $("as-of");
  const fromUrl = new URLSearchParams(location.search).get("as_of");
  if (fromUrl && !Number.isNaN(Date.parse(fromUrl))) state.asOf = Date.parse(fromUrl);
  const local = (ms) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  };
  input.max = local(Date.now());
  if (state.asOf) input.value = local(state.asOf);
  const apply = () => {
    const url = new URL(location.href);
    if (state.asOf) url.searchParams.set("as_of", new Date(state.asOf).toISOString());
    else url.searchParams.delete("as_of");
    history.replaceState(null, "", url);
    const banner = $("as-of-banner");
    banner.hidden = !state.asOf;
    banner.textContent = state.asOf
      ? `Showing the course as it was known on ${formatDateTime(state.asOf)}; live updates are paused.` : "";
    state.seen = null;
    state.fresh.clear();
    load();
  };
  $("as-of-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.asOf = input.value ? new Date(input.value).getTime() : null;
    apply();
  });
  $("as-of-now").addEventListener("click", () => {
    input.value = "";
    state.asOf = null;
    apply();
  });
  if (state.asOf) apply();
  return Boolean(state.asOf);
}

// ---------------------------------------------------------------- live

let pending = null;
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => { if (!state.asOf) load(); }, 300);
}

function onChange(kind, flag) {
  if (flag.patient_id !== patientId) return;
  if (kind === "raised") announce(`New ${flag.severity} flag: ${ruleLabel(flag.rule_id)}.`);
  refreshSoon();
}

function start() {
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.course) renderChart(); }, 150);
  });
  setUpAcknowledgement(vocabulary);
  renderLegend();
  if (!setUpAsOf()) load();
  followFlags({ onChange, onUnavailable: () => showPolling(EVENTS_POLL_SECONDS) });
  setInterval(() => { if (!document.hidden && !state.asOf) load(); }, EVENTS_POLL_SECONDS * 1000);
}

if (session) start();
