// The patient's course as one SVG drawn with d3 (scales, axes, time ticks): flags, a lane per
// medication with its dose steps, a lane per therapy episode with its sessions, life changes and
// team decisions, then a score chart per instrument with its bands. Every lane shares one time
// axis, so what happened at the same time lines up. Every mark is focusable: arrow keys move
// between marks, Enter selects one.

import { formatDate, formatDateTime, number, words } from "./format.js";
import { MARKS, SEVERITY, shapePath } from "./marks.js";

const d3 = window.d3;

const LANE = { flag: 24, medication: 42, therapy: 42, point: 30, score: 122, title: 24, empty: 22 };
const DRUG_COLOURS = ["#2f5f8a", "#8a4f0f", "#5b3f8c", "#1d6e5a", "#7a2f4f", "#3f5f1f", "#4a4a4a", "#0f5f6e"];
const BAND_FILLS = ["#edf6ee", "#fbf5d9", "#fbe8cf", "#f9dccf", "#f6d0d3"];
const SHORT_BANDS = { "moderately severe": "mod. severe", "no clinically significant insomnia": "none" };
const TEXT_WIDTH = 7.4; // px per character of a bold 11.5 px label, generous: flag labels are packed by it

const textWidth = (text) => text.length * TEXT_WIDTH;

/** Shortens a drawn label (measured, so the font in use decides) to ``width`` pixels. */
function fit(selection, width) {
  const node = selection.node();
  const full = node.textContent;
  if (node.getComputedTextLength() <= width) return selection;
  selection.append("title").text(full); // the whole text stays available on hover
  let keep = full.length;
  while (keep > 1 && node.getComputedTextLength() > width) {
    keep -= 1;
    node.firstChild.nodeValue = `${full.slice(0, keep)}…`;
  }
  return selection;
}

/** A segment's label stays only if it fits over its own segment (the tooltip has it anyway). */
function segmentLabel(selection, width) {
  if (selection.node().getComputedTextLength() + 8 > width) selection.remove();
}

/** Flags packed into as few rows as fit without any bar or label overlapping another. A label
 * goes inside its bar when it fits, else after it, else (near the right edge) before it. */
function packFlags(flags, x, ruleLabel, limit) {
  const rows = []; // per row, the occupied [left, right] pixel intervals
  for (const item of [...flags].sort((a, b) => a.from - b.from)) {
    const left = x(item.from);
    const right = Math.max(x(item.to), left + 8);
    const label = ruleLabel(item.flag.rule_id) + (item.flag.status === "acknowledged" ? " ✓" : "");
    const w = textWidth(label);
    let placement = "inside";
    let span = [left, right];
    if (right - left < w + 24) {
      placement = right + 6 + w <= limit ? "after" : "before";
      span = placement === "after" ? [left, right + 6 + w] : [left - 6 - w, right];
    }
    const free = (row) => row.every(([a, b]) => span[0] >= b + 6 || span[1] + 6 <= a);
    let row = rows.findIndex(free);
    if (row < 0) {
      row = rows.length;
      rows.push([]);
    }
    rows[row].push(span);
    Object.assign(item, { row, left, right, label, placement });
  }
  return Math.max(rows.length, 1);
}

function describeEntry(entry) {
  return { title: entry.summary, when: formatDateTime(entry.occurred_at), entry };
}

export function drawCourse(container, course, { vocabulary, onSelect, tooltip, fresh = new Set() }) {
  const width = Math.max(container.clientWidth, 640);
  const narrow = width < 980;
  const margin = { left: narrow ? 142 : 176, right: narrow ? 88 : 112, top: 30, bottom: 30 };
  const x = d3.scaleTime().domain(course.domain).range([margin.left, width - margin.right]);
  const ruleLabel = (id) => vocabulary.rules[id]?.label ?? words(id);
  const flagRows = packFlags(course.flags, x, ruleLabel, width - 4);
  const order = (name) => {
    const i = vocabulary.instrument_order.indexOf(name);
    return i < 0 ? vocabulary.instrument_order.length : i;
  };
  const instruments = [...course.scores.keys()].sort((a, b) => order(a) - order(b) || a.localeCompare(b));

  // ---- vertical layout
  const sections = [];
  let y = margin.top;
  const section = (id, title, lanes) => {
    const top = y;
    y += LANE.title;
    const placed = lanes.map((lane) => {
      const placedLane = { ...lane, top: y };
      y += lane.height;
      return placedLane;
    });
    sections.push({ id, title, top, lanes: placed });
    y += 6;
  };
  section("flags", "Flags", [{ kind: "flags", height: course.flags.length ? flagRows * LANE.flag : LANE.empty }]);
  section("medications", "Medications", course.medications.length
    ? course.medications.map((m, i) => ({ kind: "medication", height: LANE.medication, course: m, colour:
      DRUG_COLOURS[i % DRUG_COLOURS.length] }))
    : [{ kind: "empty", height: LANE.empty, text: "No medication recorded" }]);
  section("therapy", "Therapy", course.episodes.length
    ? course.episodes.map((e) => ({ kind: "therapy", height: LANE.therapy, episode: e }))
    : [{ kind: "empty", height: LANE.empty, text: "No therapy episode recorded" }]);
  section("events", "Life and team", [
    { kind: "life", height: LANE.point, label: "Life changes" },
    { kind: "team", height: LANE.point, label: "Team decisions" }]);
  section("scores", "Scores", instruments.length
    ? instruments.map((name) => ({ kind: "score", height: LANE.score, instrument: name }))
    : [{ kind: "empty", height: LANE.empty, text: "No questionnaire recorded" }]);
  const height = y + margin.bottom - 6;

  // ---- frame, axes, grid
  const [from, to] = course.domain;
  const svg = d3.create("svg")
    .attr("width", width).attr("height", height).attr("viewBox", `0 0 ${width} ${height}`)
    .attr("role", "group").attr("aria-roledescription", "course chart")
    .attr("aria-label", `Course of care from ${formatDate(from)} to ${formatDate(to)}`);
  const ticks = x.ticks(Math.max(4, Math.floor((width - margin.left - margin.right) / 110)));
  svg.append("g").attr("class", "grid").selectAll("line").data(ticks).join("line")
    .attr("x1", (d) => x(d)).attr("x2", (d) => x(d)).attr("y1", margin.top).attr("y2", height - margin.bottom);
  svg.append("g").attr("class", "axis axis-top").attr("transform", `translate(0,${margin.top})`)
    .call(d3.axisTop(x).tickValues(ticks).tickSizeOuter(0));
  svg.append("g").attr("class", "axis axis-bottom").attr("transform", `translate(0,${height - margin.bottom})`)
    .call(d3.axisBottom(x).tickValues(ticks).tickSizeOuter(0));

  container.replaceChildren(svg.node()); // in the document from here on, so labels can be measured
  const lanesLayer = svg.append("g").attr("class", "lanes");
  const marksLayer = svg.append("g").attr("class", "marks");
  const nav = []; // one array of marks per lane, in time order, for the arrow keys

  // A mark: a group with its shape, a focus ring, and what the tooltip and detail panel show.
  function mark(parent, { lane, at, cx, cy, shape, r, spec, info, classes, data }) {
    const g = parent.append("g")
      .attr("class", `mark ${classes || ""}${fresh.has(info.key) ? " is-new" : ""}`)
      .attr("transform", `translate(${cx},${cy})`)
      .attr("tabindex", -1).attr("role", "button")
      .attr("aria-label", `${info.title}, ${info.when}`);
    for (const [name, value] of Object.entries(data || {})) g.attr(`data-${name}`, value);
    g.append("path").attr("class", "shape").attr("d", shapePath(shape, r))
      .attr("fill", spec.filled === false ? "#ffffff" : spec.color).attr("stroke", spec.filled === false
        ? spec.color : "#ffffff").attr("stroke-width", spec.filled === false ? 2 : 1.2);
    g.append("path").attr("class", "focus-ring").attr("d", shapePath("circle", r + 4));
    g.datum({ info, at });
    (nav[lane] ||= []).push(g.node());
    return g;
  }

  // A bar-shaped mark (a dose step, a therapy segment, a flag's period).
  function barMark(parent, { lane, x0, x1, y0, h, fill, stroke, dash, info, classes, data }) {
    const g = parent.append("g")
      .attr("class", `mark ${classes || ""}${fresh.has(info.key) ? " is-new" : ""}`)
      .attr("tabindex", -1).attr("role", "button").attr("aria-label", `${info.title}, ${info.when}`);
    for (const [name, value] of Object.entries(data || {})) g.attr(`data-${name}`, value);
    g.append("rect").attr("class", "shape").attr("x", x0).attr("y", y0).attr("width", Math.max(x1 - x0, 3))
      .attr("height", h).attr("rx", 3).attr("fill", fill).attr("stroke", stroke || "none")
      .attr("stroke-dasharray", dash || null);
    g.append("rect").attr("class", "focus-ring").attr("x", x0 - 2).attr("y", y0 - 2)
      .attr("width", Math.max(x1 - x0, 3) + 4).attr("height", h + 4).attr("rx", 4);
    g.datum({ info, at: x.invert(x0).getTime() });
    (nav[lane] ||= []).push(g.node());
    return g;
  }

  // The lane's name and up to two lines under it; score lanes leave room for their axis.
  function laneLabel(lane, title, ...subs) {
    const room = margin.left - (lane.kind === "score" ? 34 : 14);
    fit(lanesLayer.append("text").attr("class", "lane-label").attr("x", 10).attr("y", lane.top + 15).text(title), room);
    subs.filter(Boolean).forEach((sub, i) => {
      fit(lanesLayer.append("text").attr("class", "lane-sub").attr("x", 10).attr("y", lane.top + 29 + 13 * i)
        .text(sub), room);
    });
  }

  let laneIndex = 0;
  for (const s of sections) {
    lanesLayer.append("text").attr("class", "section-title").attr("x", 10).attr("y", s.top + 16).text(s.title);
    lanesLayer.append("line").attr("x1", 10).attr("x2", width - 10).attr("y1", s.top + 21).attr("y2", s.top + 21)
      .attr("stroke", "#d0d7de");
    s.lanes.forEach((lane, i) => {
      if (i % 2 === 1 || lane.kind === "score") {
        lanesLayer.append("rect").attr("class", "lane-bg").attr("x", margin.left).attr("y", lane.top)
          .attr("width", width - margin.left - margin.right).attr("height", lane.height);
      }
      const layer = marksLayer.append("g").attr("class", `lane lane-${lane.kind}`)
        .attr("data-lane", lane.kind);
      const index = laneIndex++;
      switch (lane.kind) {
        case "flags": drawFlags(layer, lane, index); break;
        case "medication": drawMedication(layer, lane, index); break;
        case "therapy": drawTherapy(layer, lane, index); break;
        case "life": drawPoints(layer, lane, index, course.life); break;
        case "team": drawPoints(layer, lane, index, course.team); break;
        case "score": drawScores(layer, lane, index); break;
        default:
          layer.append("text").attr("class", "lane-sub").attr("x", margin.left + 4).attr("y", lane.top + 15)
            .text(lane.text);
      }
    });
  }

  function drawFlags(layer, lane, index) {
    if (!course.flags.length) {
      layer.append("text").attr("class", "lane-sub").attr("x", margin.left + 4).attr("y", lane.top + 15)
        .text("No flags");
      return;
    }
    laneLabel(lane, "Risk flags", `${course.flags.filter((f) => f.open).length} open`);
    for (const item of course.flags) {
      const { flag } = item;
      const spec = SEVERITY[flag.severity] || SEVERITY.info;
      const top = lane.top + item.row * LANE.flag + 3;
      const state = flag.status === "resolved" ? "resolved" : flag.status;
      const info = { key: flag.flag_id, title: `${spec.label} flag: ${ruleLabel(flag.rule_id)} (${state})`,
        when: `raised ${formatDateTime(flag.raised_at)}${flag.resolved_at ? `, resolved ${formatDateTime(flag.resolved_at)}` : ""}`,
        flag };
      const g = barMark(layer, { lane: index, x0: item.left, x1: item.right, y0: top, h: 18,
        fill: flag.status === "resolved" ? "#ffffff" : spec.tint, stroke: spec.color,
        dash: flag.status === "resolved" ? "4 3" : null, info, classes: "flag-mark",
        data: { rule: flag.rule_id, severity: flag.severity, status: flag.status, "flag-id": flag.flag_id } });
      g.append("path").attr("d", shapePath(spec.shape, 5.5)).attr("transform", `translate(${item.left + 10},${top + 9})`)
        .attr("fill", spec.color).attr("aria-hidden", "true");
      const labelX = { inside: item.left + 20, after: item.right + 6, before: item.left - 6 }[item.placement];
      g.append("text").attr("class", "flag-label").attr("x", labelX).attr("y", top + 13)
        .attr("text-anchor", item.placement === "before" ? "end" : "start")
        .attr("fill", item.placement === "inside" ? spec.color : "#1f2328").text(item.label);
    }
  }

  function drawMedication(layer, lane, index) {
    const c = lane.course;
    laneLabel(lane, c.name, c.status);
    const base = lane.top + 38;
    for (const seg of c.segments) {
      const h = 6 + 16 * (seg.daily / c.maxDaily);
      const x0 = x(seg.from);
      const x1 = Math.max(x(seg.to), x0 + 3);
      barMark(layer, { lane: index, x0, x1: x1 - 1, y0: base - h, h, fill: lane.colour,
        info: { key: seg.entry.event_id, ...describeEntry(seg.entry), title: `${c.name} ${seg.label}: ${seg.entry.summary}` },
        classes: "dose-step", data: { "event-id": seg.entry.event_id, daily: seg.daily } });
      segmentLabel(layer.append("text").attr("class", "dose-label").attr("x", x0 + 2).attr("y", lane.top + 13)
        .attr("fill", lane.colour).text(seg.label), x1 - x0);
    }
    for (const effect of c.effects) {
      mark(layer, { lane: index, at: effect.at, cx: x(effect.at), cy: base - 8, shape: MARKS.adverse.shape, r: 6,
        spec: MARKS.adverse, info: { key: effect.entry.event_id, ...describeEntry(effect.entry) },
        classes: "adverse-mark", data: { "event-id": effect.entry.event_id } });
    }
    if (c.stop) {
      mark(layer, { lane: index, at: c.stop.at, cx: x(c.stop.at), cy: base - 8, shape: "square", r: 5,
        spec: MARKS.stop, info: { key: c.stop.entry.event_id, ...describeEntry(c.stop.entry) },
        classes: "stop-mark", data: { "event-id": c.stop.entry.event_id } });
    }
    nav[index]?.sort((a, b) => d3.select(a).datum().at - d3.select(b).datum().at);
  }

  function drawTherapy(layer, lane, index) {
    const e = lane.episode;
    const booked = e.counts.completed + e.counts.missed + e.counts.cancelled;
    const attended = `${e.counts.completed} of ${booked} attended`;
    laneLabel(lane, `${words(e.modality) || "Therapy"} episode`, attended);
    const top = lane.top + 19;
    for (const seg of e.segments) {
      const x0 = x(seg.from);
      const x1 = Math.max(x(seg.to), x0 + 3);
      barMark(layer, { lane: index, x0, x1: x1 - 1, y0: top, h: 18, fill: "#e3ecf7", stroke: "#7d9cc4",
        info: { key: seg.entry.event_id, ...describeEntry(seg.entry),
          title: seg.entries.map((entry) => entry.summary).join("; ") }, classes: "therapy-segment",
        data: { "event-id": seg.entry.event_id, modality: seg.modality, step: seg.step } });
      segmentLabel(layer.append("text").attr("class", "episode-label").attr("x", x0 + 2).attr("y", lane.top + 13)
        .attr("fill", "#1f4e8c").text(seg.label), x1 - x0);
    }
    for (const session of e.sessions) {
      const spec = MARKS[session.kind];
      mark(layer, { lane: index, at: session.at, cx: x(session.at), cy: top + 9, shape: spec.shape, r: 5.5, spec,
        info: { key: session.entry.event_id, ...describeEntry(session.entry) },
        classes: `session-mark session-${session.kind}`, data: { kind: session.kind, "event-id": session.entry.event_id } });
    }
    if (e.end) {
      mark(layer, { lane: index, at: e.end.at, cx: x(e.end.at), cy: top + 9, shape: "square", r: 5, spec: MARKS.stop,
        info: { key: e.end.entry.event_id, ...describeEntry(e.end.entry) }, classes: "stop-mark",
        data: { "event-id": e.end.entry.event_id } });
    }
    nav[index]?.sort((a, b) => d3.select(a).datum().at - d3.select(b).datum().at);
  }

  function drawPoints(layer, lane, index, points) {
    laneLabel(lane, lane.label, points.length ? null : "none");
    // Marks closer than their width are moved up and down in turn, so each stays visible.
    let lastX = -Infinity;
    let step = 0; // 0: on the lane's middle, 1: above it, 2: below it
    for (const point of [...points].sort((a, b) => a.at - b.at)) {
      const spec = MARKS[point.kind];
      step = x(point.at) - lastX < 14 ? (step + 1) % 3 : 0;
      lastX = x(point.at);
      const cy = lane.top + lane.height / 2 + [0, -7, 7][step];
      mark(layer, { lane: index, at: point.at, cx: x(point.at), cy, shape: spec.shape,
        r: 6.5, spec, info: { key: point.entry.event_id, ...describeEntry(point.entry) },
        classes: `${lane.kind}-mark`, data: { kind: point.kind, "event-id": point.entry.event_id } });
    }
  }

  function drawScores(layer, lane, index) {
    const meta = vocabulary.instruments[lane.instrument] || { name: lane.instrument, what: "", max: null, bands: [[0, ""]] };
    const points = course.scores.get(lane.instrument);
    const max = meta.max ?? Math.max(...points.map((p) => p.max || p.total));
    const y = d3.scaleLinear().domain([0, max]).range([lane.top + lane.height - 10, lane.top + 12]);
    const latest = points.at(-1);
    const band = latest ? SHORT_BANDS[words(latest.band)] ?? words(latest.band) : "";
    laneLabel(lane, meta.name, meta.what, latest ? `latest ${latest.total}` : null, band);
    layer.attr("data-instrument", lane.instrument).classed("score-chart", true);
    const bands = meta.bands.map(([lower, label], i) => ({ lower, label, upper: meta.bands[i + 1]?.[0] ?? max, i }));
    const shade = (i) => BAND_FILLS[Math.round((i * (BAND_FILLS.length - 1)) / Math.max(bands.length - 1, 1))];
    const bandLayer = layer.append("g").attr("class", "bands");
    for (const band of bands) {
      bandLayer.append("rect").attr("class", "band").attr("x", margin.left).attr("width", width - margin.left - margin.right)
        .attr("y", y(band.upper)).attr("height", Math.max(0, y(band.lower) - y(band.upper))).attr("fill", shade(band.i))
        .attr("data-band", band.label);
      if (band.lower > 0) {
        bandLayer.append("line").attr("class", "threshold").attr("data-threshold", band.lower)
          .attr("x1", margin.left).attr("x2", width - margin.right).attr("y1", y(band.lower)).attr("y2", y(band.lower));
      }
      if (y(band.lower) - y(band.upper) >= 11) {
        // The axis gives each threshold's number; the label adds it where there is room.
        const name = SHORT_BANDS[band.label] ?? band.label;
        fit(bandLayer.append("text").attr("class", "band-label").attr("x", width - margin.right + 6)
          .attr("y", (y(band.lower) + y(band.upper)) / 2 + 4)
          .text(narrow || band.lower === 0 ? name : `${name} ≥${band.lower}`), margin.right - 8);
      }
    }
    layer.append("g").attr("class", "axis axis-score").attr("transform", `translate(${margin.left},0)`)
      .call(d3.axisLeft(y).tickValues([0, ...bands.slice(1).map((b) => b.lower), max]).tickSize(3)
        .tickFormat(d3.format("d")));
    layer.append("path").attr("class", "score-line").attr("aria-hidden", "true")
      .attr("d", d3.line().x((p) => x(p.at)).y((p) => y(p.total))(points));
    let lastLabel = -Infinity;
    for (const p of points) {
      const spec = p.safety ? MARKS.safety : MARKS.score;
      mark(layer, { lane: index, at: p.at, cx: x(p.at), cy: y(p.total), shape: spec.shape, r: p.safety ? 6.5 : 4.5,
        spec, info: { key: p.entry.event_id, ...describeEntry(p.entry) },
        classes: `score-point${p.safety ? " safety-point" : ""}`,
        data: { total: p.total, band: p.band, "event-id": p.entry.event_id } });
      if (x(p.at) - lastLabel >= 22) {
        layer.append("text").attr("class", "mark-label").attr("x", x(p.at)).attr("y", y(p.total) - 9)
          .attr("text-anchor", "middle").text(number(p.total));
        lastLabel = x(p.at);
      }
    }
  }

  // ---- enrolment and the moment shown
  const guides = svg.append("g").attr("class", "guides").attr("aria-hidden", "true");
  const moment = course.reference;
  guides.append("line").attr("class", "now-line").attr("x1", x(moment)).attr("x2", x(moment))
    .attr("y1", margin.top).attr("y2", height - margin.bottom);
  guides.append("text").attr("class", "now-label").attr("x", x(moment) - 4).attr("y", margin.top + 12)
    .attr("text-anchor", "end").text(course.asOf ? "as of" : "now");
  // Enrolment is marked where it came before the care recorded (a history entered later, as when a
  // record is migrated, starts before it), and labelled only where the label stays clear of "now".
  const firstCare = Math.min(...course.entries.filter((e) => e.type !== "PatientEnrolled")
    .map((e) => new Date(e.occurred_at).getTime()));
  if (course.enrolled && course.enrolled.at <= firstCare && x(moment) - x(course.enrolled.at) > 70) {
    guides.append("line").attr("class", "now-line").attr("x1", x(course.enrolled.at)).attr("x2", x(course.enrolled.at))
      .attr("y1", margin.top).attr("y2", height - margin.bottom);
    guides.append("text").attr("class", "now-label").attr("x", x(course.enrolled.at) + 4).attr("y", margin.top + 12)
      .text("enrolled");
  }
  svg.node().append(marksLayer.node()); // marks above the guides

  wireInteraction(svg, nav.filter(Boolean), container, { onSelect, tooltip });
  return svg.node();
}

function wireInteraction(svg, lanes, container, { onSelect, tooltip }) {
  const all = lanes.flat();
  if (!all.length) return;
  let current = all[0];
  current.setAttribute("tabindex", "0");
  const position = (node) => {
    for (let lane = 0; lane < lanes.length; lane += 1) {
      const i = lanes[lane].indexOf(node);
      if (i >= 0) return { lane, i };
    }
    return { lane: 0, i: 0 };
  };
  const show = (node) => {
    const { info } = d3.select(node).datum();
    tooltip.replaceChildren();
    const title = document.createElement("strong");
    title.textContent = info.title;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = info.when;
    tooltip.append(title, when);
    tooltip.hidden = false;
    const host = tooltip.offsetParent || container;
    const box = node.getBoundingClientRect();
    const hostBox = host.getBoundingClientRect();
    const left = Math.min(box.left - hostBox.left + box.width / 2 + 12, hostBox.width - tooltip.offsetWidth - 8);
    tooltip.style.left = `${Math.max(8, left)}px`;
    tooltip.style.top = `${box.top - hostBox.top - tooltip.offsetHeight - 8}px`;
  };
  const hide = () => { tooltip.hidden = true; };
  const focus = (node) => {
    current.setAttribute("tabindex", "-1");
    current = node;
    current.setAttribute("tabindex", "0");
    current.focus();
  };
  const select = (node) => {
    svg.selectAll(".mark.is-selected").classed("is-selected", false);
    d3.select(node).classed("is-selected", true);
    onSelect(d3.select(node).datum().info);
  };
  svg.selectAll(".mark")
    .on("mouseenter", (event) => show(event.currentTarget))
    .on("mouseleave", hide)
    .on("focus", (event) => show(event.currentTarget))
    .on("blur", hide)
    .on("click", (event) => { focus(event.currentTarget); select(event.currentTarget); });
  svg.on("keydown", (event) => {
    const { lane, i } = position(current);
    const at = d3.select(current).datum().at;
    const nearest = (list) => list.reduce((best, node) =>
      Math.abs(d3.select(node).datum().at - at) < Math.abs(d3.select(best).datum().at - at) ? node : best, list[0]);
    let next = null;
    switch (event.key) {
      case "ArrowRight": next = lanes[lane][Math.min(i + 1, lanes[lane].length - 1)]; break;
      case "ArrowLeft": next = lanes[lane][Math.max(i - 1, 0)]; break;
      case "ArrowDown": next = lane + 1 < lanes.length ? nearest(lanes[lane + 1]) : null; break;
      case "ArrowUp": next = lane > 0 ? nearest(lanes[lane - 1]) : null; break;
      case "Home": next = lanes[lane][0]; break;
      case "End": next = lanes[lane].at(-1); break;
      case "Enter":
      case " ":
        select(current);
        event.preventDefault();
        return;
      case "Escape": hide(); return;
      default: return;
    }
    event.preventDefault();
    if (next) focus(next);
  });
}
