// How each kind of mark looks: a shape AND a colour (and filled or hollow), so no status is told
// by colour alone; the legend, the chart and the worklist's badges all draw from this table.

const SVG = "http://www.w3.org/2000/svg";

/** The outline of ``shape`` centred on 0,0 with radius ``r``, as SVG path data. */
export function shapePath(shape, r) {
  const f = (n) => n.toFixed(2);
  switch (shape) {
    case "circle":
      return `M${f(r)},0A${f(r)},${f(r)} 0 1,1 ${f(-r)},0A${f(r)},${f(r)} 0 1,1 ${f(r)},0Z`;
    case "square": {
      const s = r * 0.86;
      return `M${f(-s)},${f(-s)}H${f(s)}V${f(s)}H${f(-s)}Z`;
    }
    case "triangle":
      return `M0,${f(-r * 1.1)}L${f(r)},${f(r * 0.75)}L${f(-r)},${f(r * 0.75)}Z`;
    case "triangle-down":
      return `M0,${f(r * 1.1)}L${f(r)},${f(-r * 0.75)}L${f(-r)},${f(-r * 0.75)}Z`;
    case "diamond": {
      const s = r * 1.2;
      return `M0,${f(-s)}L${f(s * 0.85)},0L0,${f(s)}L${f(-s * 0.85)},0Z`;
    }
    case "cross": {
      // an X, drawn as an outline so it can be filled like the others
      const a = r * 0.95;
      const w = r * 0.32;
      return `M${f(-a)},${f(-a + w)}L${f(-a + w)},${f(-a)}L0,${f(-w)}L${f(a - w)},${f(-a)}L${f(a)},${f(-a + w)}` +
        `L${f(w)},0L${f(a)},${f(a - w)}L${f(a - w)},${f(a)}L0,${f(w)}L${f(-a + w)},${f(a)}L${f(-a)},${f(a - w)}L${f(-w)},0Z`;
    }
    case "star": {
      const points = [];
      for (let i = 0; i < 10; i += 1) {
        const radius = i % 2 === 0 ? r * 1.2 : r * 0.5;
        const angle = (Math.PI / 5) * i - Math.PI / 2;
        points.push(`${f(radius * Math.cos(angle))},${f(radius * Math.sin(angle))}`);
      }
      return `M${points.join("L")}Z`;
    }
    case "hexagon": {
      const points = [];
      for (let i = 0; i < 6; i += 1) {
        const angle = (Math.PI / 3) * i;
        points.push(`${f(r * 1.05 * Math.cos(angle))},${f(r * 1.05 * Math.sin(angle))}`);
      }
      return `M${points.join("L")}Z`;
    }
    case "check":
      return `M${f(-r * 0.95)},${f(r * 0.05)}L${f(-r * 0.35)},${f(r * 0.65)}L${f(r * 0.95)},${f(-r * 0.65)}` +
        `L${f(r * 0.7)},${f(-r * 0.9)}L${f(-r * 0.35)},${f(r * 0.15)}L${f(-r * 0.7)},${f(-r * 0.2)}Z`;
    default:
      return shapePath("circle", r);
  }
}

export const SEVERITY = {
  urgent: { shape: "diamond", color: "#7d0a1e", tint: "#f9d7dc", label: "Urgent" },
  high: { shape: "square", color: "#c4122f", tint: "#fbe0e3", label: "High" },
  warning: { shape: "triangle", color: "#8a5a00", tint: "#fbedc9", label: "Warning" },
  info: { shape: "circle", color: "#0b5cad", tint: "#dcebfa", label: "Info" },
};

export const MARKS = {
  completed: { shape: "circle", color: "#1a7f37", filled: true, label: "Session attended" },
  missed: { shape: "cross", color: "#c4122f", filled: true, label: "Session missed" },
  cancelled_patient: { shape: "diamond", color: "#b35900", filled: false, label: "Cancelled by patient" },
  cancelled_clinic: { shape: "square", color: "#57606a", filled: false, label: "Cancelled by clinic" },
  scheduled: { shape: "circle", color: "#57606a", filled: false, label: "Session booked" },
  adverse: { shape: "triangle-down", color: "#8a5a00", filled: true, label: "Adverse effect" },
  stop: { shape: "square", color: "#24292f", filled: true, label: "Stopped / ended" },
  life_worse: { shape: "star", color: "#a3122b", filled: true, label: "Life change (worse)" },
  life_better: { shape: "star", color: "#1a7f37", filled: false, label: "Life change (better)" },
  escalation: { shape: "triangle", color: "#6639ba", filled: true, label: "Escalation decided" },
  review: { shape: "square", color: "#0a6b75", filled: true, label: "Care plan reviewed" },
  conference: { shape: "hexagon", color: "#1f4e8c", filled: true, label: "Case conference" },
  acknowledged: { shape: "check", color: "#1a7f37", filled: true, label: "Acknowledged" },
  open: { shape: "circle", color: "#24292f", filled: true, label: "Open" },
  score: { shape: "circle", color: "#24292f", filled: true, label: "Score" },
  safety: { shape: "diamond", color: "#7d0a1e", filled: true, label: "Item 9 positive" },
};

/** A small inline SVG of a mark or severity, for badges and the legend (aria-hidden: the
 * word beside it says the same). */
export function icon(spec, size = 14) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("viewBox", `${-size / 2} ${-size / 2} ${size} ${size}`);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", shapePath(spec.shape, size * 0.36));
  const filled = spec.filled !== false;
  path.setAttribute("fill", filled ? spec.color : "#ffffff");
  path.setAttribute("stroke", spec.color);
  path.setAttribute("stroke-width", filled ? "1" : "2");
  svg.append(path);
  return svg;
}

/** A badge: the severity's shape, then its word. */
export function severityBadge(severity) {
  const spec = SEVERITY[severity] || SEVERITY.info;
  const span = document.createElement("span");
  span.className = `severity severity-${severity}`;
  span.append(icon({ ...spec, filled: true }, 15), document.createTextNode(spec.label));
  return span;
}
