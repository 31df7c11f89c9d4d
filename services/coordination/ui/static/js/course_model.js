// A patient's timeline entries (GET /v1/patients/{id}/timeline) and flags, arranged as the
// chart's lanes: one per medication course with its dose steps, one per therapy episode with its
// modality/step segments and sessions, life changes, team decisions and scores per instrument.
// Pure: no drawing, no requests.

import { number, words } from "./format.js";

const DAY = 86400000;
const time = (value) => new Date(value).getTime();

function dailyDose(dose, schedule) {
  return dose * (schedule?.times_per_day || 1);
}

function medicationLanes(entries, end) {
  const courses = new Map();
  const course = (entry) => {
    const id = entry.data.medication_id || entry.stream_id;
    if (!courses.has(id)) {
      courses.set(id, { id, name: "unknown medication", unit: "", schedule: null, steps: [], effects: [],
        stop: null, start: null });
    }
    return courses.get(id);
  };
  for (const entry of entries) {
    const at = time(entry.occurred_at);
    const d = entry.data;
    if (entry.type === "MedicationStarted") {
      const c = course(entry);
      Object.assign(c, { name: d.drug?.name ?? c.name, unit: d.unit, schedule: d.schedule, start: at,
        asNeeded: Boolean(d.schedule?.as_needed) });
      c.steps.push({ at, daily: dailyDose(d.dose, d.schedule), dose: d.dose, entry });
    } else if (entry.type === "DoseAdjusted") {
      const c = course(entry);
      c.unit = d.unit || c.unit;
      c.steps.push({ at, daily: d.daily_dose ?? dailyDose(d.dose, c.schedule), dose: d.dose, entry,
        direction: d.direction });
    } else if (entry.type === "MedicationDiscontinued") {
      course(entry).stop = { at, entry };
    } else if (entry.type === "AdverseEffectReported") {
      course(entry).effects.push({ at, entry, severity: d.severity });
    }
  }
  const lanes = [];
  for (const c of courses.values()) {
    c.steps.sort((a, b) => a.at - b.at);
    const until = c.stop ? c.stop.at : end;
    c.segments = c.steps.map((step, i) => ({
      ...step, from: step.at, to: i + 1 < c.steps.length ? c.steps[i + 1].at : until,
      label: `${c.asNeeded ? "≤ " : ""}${number(step.daily)} ${c.unit}/day`,
    }));
    c.maxDaily = Math.max(1, ...c.steps.map((s) => s.daily));
    const last = c.segments.at(-1);
    c.status = c.stop ? "stopped" : last ? last.label : "";
    c.first = c.steps.length ? c.steps[0].at : c.stop?.at ?? c.effects[0]?.at ?? end;
    lanes.push(c);
  }
  return lanes.sort((a, b) => a.first - b.first || a.name.localeCompare(b.name));
}

function sessionKind(entry) {
  switch (entry.type) {
    case "SessionCompleted": return "completed";
    case "SessionMissed": return "missed";
    case "SessionCancelled": return entry.data.by === "patient" ? "cancelled_patient" : "cancelled_clinic";
    default: return "scheduled";
  }
}

function therapyLanes(entries, end) {
  const episodes = new Map();
  const episode = (entry) => {
    const id = entry.data.episode_id || entry.stream_id;
    if (!episodes.has(id)) {
      episodes.set(id, { id, changes: [], sessions: [], booked: new Map(), done: new Set(), end: null, start: null });
    }
    return episodes.get(id);
  };
  for (const entry of entries) {
    const at = time(entry.occurred_at);
    const d = entry.data;
    switch (entry.type) {
      case "TherapyEpisodeStarted":
        Object.assign(episode(entry), { start: at });
        episode(entry).changes.push({ at, modality: d.modality, step: d.care_step, entry });
        break;
      case "ModalityChanged":
        episode(entry).changes.push({ at, modality: d.to_modality, entry });
        break;
      case "CareStepChanged":
        episode(entry).changes.push({ at, step: d.to_step, entry });
        break;
      case "SessionScheduled":
        episode(entry).booked.set(d.session_id, { at: d.scheduled_at ? time(d.scheduled_at) : at, entry });
        break;
      case "SessionCompleted":
      case "SessionMissed":
      case "SessionCancelled":
        episode(entry).sessions.push({ at, kind: sessionKind(entry), entry });
        episode(entry).done.add(d.session_id);
        break;
      case "TherapyEpisodeEnded":
        episode(entry).end = { at, entry };
        break;
      default:
    }
  }
  const lanes = [];
  for (const e of episodes.values()) {
    // A booked session is shown as booked only until its outcome is known.
    for (const [sessionId, booked] of e.booked) {
      if (!e.done.has(sessionId)) e.sessions.push({ at: booked.at, kind: "scheduled", entry: booked.entry });
    }
    e.sessions.sort((a, b) => a.at - b.at);
    e.changes.sort((a, b) => a.at - b.at);
    // Changes at one moment (a new modality and a step up decided together) make one segment.
    const moments = [];
    for (const change of e.changes) {
      const last = moments.at(-1);
      if (last && last.at === change.at) last.changes.push(change);
      else moments.push({ at: change.at, changes: [change] });
    }
    let modality = null;
    let step = null;
    const until = e.end ? e.end.at : end;
    e.segments = moments.map((moment, i) => {
      for (const change of moment.changes) {
        modality = change.modality ?? modality;
        step = change.step ?? step;
      }
      return { from: moment.at, to: i + 1 < moments.length ? moments[i + 1].at : until, modality, step,
        entries: moment.changes.map((c) => c.entry), entry: moment.changes[0].entry,
        label: `${words(modality) || "therapy"}${step ? ` · step ${step}` : ""}` };
    });
    e.modality = modality;
    e.step = step;
    e.first = e.start ?? e.sessions[0]?.at ?? until;
    const counts = { completed: 0, missed: 0, cancelled: 0 };
    for (const s of e.sessions) {
      if (s.kind === "completed" || s.kind === "missed") counts[s.kind] += 1;
      else if (s.kind.startsWith("cancelled")) counts.cancelled += 1;
    }
    e.counts = counts;
    lanes.push(e);
  }
  return lanes.sort((a, b) => a.first - b.first);
}

function scores(entries) {
  const byInstrument = new Map();
  for (const entry of entries) {
    if (entry.type !== "AssessmentRecorded") continue;
    const d = entry.data;
    if (!byInstrument.has(d.instrument)) byInstrument.set(d.instrument, []);
    byInstrument.get(d.instrument).push({ at: time(entry.occurred_at), total: d.total, band: d.band,
      max: d.max_total, safety: Boolean(d.safety_item_positive), entry });
  }
  for (const points of byInstrument.values()) points.sort((a, b) => a.at - b.at);
  return byInstrument;
}

const TEAM = { EscalationDecided: "escalation", CarePlanReviewed: "review", CaseConferenceHeld: "conference" };

/**
 * ``asOf``: the moment the page shows the course as known at (null: now); entries recorded
 * later are left out here too, so the control means the same whatever the API does with it.
 */
export function buildCourse(entries, flags, { asOf = null, now = Date.now() } = {}) {
  const known = asOf ? entries.filter((e) => time(e.recorded_at) <= asOf) : entries;
  const reference = asOf ?? now;
  const times = known.map((e) => time(e.occurred_at));
  for (const flag of flags) times.push(time(flag.raised_at));
  const end = Math.max(reference, ...times);
  const episodes = therapyLanes(known, end);
  for (const e of episodes) for (const s of e.sessions) times.push(s.at); // a booked session's own time
  const first = times.length ? Math.min(...times) : reference - 90 * DAY;
  const last = Math.max(end, ...times);
  const span = Math.max(last - first, 14 * DAY);
  const domain = [first - span * 0.02, last + span * 0.03];
  const enrolled = known.find((e) => e.type === "PatientEnrolled");
  return {
    domain,
    reference,
    asOf,
    enrolled: enrolled ? { at: time(enrolled.occurred_at), entry: enrolled } : null,
    medications: medicationLanes(known, end),
    episodes,
    life: known.filter((e) => e.type === "LifeCircumstanceChanged").map((entry) => ({
      at: time(entry.occurred_at), kind: entry.data.direction === "improved" ? "life_better" : "life_worse", entry })),
    team: known.filter((e) => e.type in TEAM).map((entry) => ({ at: time(entry.occurred_at), kind: TEAM[entry.type],
      entry })),
    scores: scores(known),
    flags: flags.filter((f) => !f.withdrawn).map((flag) => ({
      flag, from: time(flag.raised_at), to: flag.resolved_at ? time(flag.resolved_at) : end,
      open: !flag.resolved_at })),
    entries: known,
  };
}
