// A capped, newest-first feed of agent events. The server only ever sends new rows
// (`prepend`) or a fresh window (`replace`), never the whole table again.
//
// The rows are plain DOM, built here, not Vue's: at 2,000 events a second a tick brings
// ~200 rows, and Vue's reactive rows and virtual DOM cost ~45 ms a tick in Chromium, which
// then fell seconds behind. Every field goes in through `textContent` (never markup), so
// whatever an agent wrote stays text. Rows off screen skip layout and paint
// (`content-visibility`), so a tick costs what the new rows cost, not the 300 kept.
// Pause is local, so a click answers at once; the server is told, and stops sending.
const CLOCK = new Intl.DateTimeFormat([], {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

// Rows of one tick share a few seconds: format each second once (Intl's format is slow).
let lastSecond = null;
let lastClock = "";

function clock(ts) {
  if (!ts) return "";
  const second = Math.floor(ts / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastClock = CLOCK.format(new Date(ts));
  }
  return lastClock;
}

function cell(text, className) {
  const el = document.createElement("div");
  el.className = className ? `lw-feed-cell ${className}` : "lw-feed-cell";
  el.setAttribute("role", "cell");
  if (text !== null && text !== undefined) el.textContent = String(text);
  return el;
}

function setData(el, name, value) {
  // As Vue did: an attribute bound to null is left out.
  if (value !== null && value !== undefined) el.setAttribute(name, String(value));
}

// A row's bare shape, cloned for each new row: cheaper than building its eight elements.
let blankRow = null;

function blank() {
  if (blankRow === null) {
    blankRow = document.createElement("div");
    blankRow.setAttribute("role", "row");
    blankRow.setAttribute("data-testid", "event-row");
    const badge = document.createElement("span");
    const kind = cell(null);
    kind.appendChild(badge);
    blankRow.append(cell(null, "lw-mono"), cell(null, "lw-mono"), cell(null, "lw-mono"), kind,
      cell(null), cell(null, "lw-feed-summary"));
  }
  return blankRow.cloneNode(true);
}

function setText(el, value) {
  if (value !== null && value !== undefined) el.textContent = String(value);
}

function rowOf(e) {
  const row = blank();
  row.className = e.is_error ? "lw-feed-row lw-feed-error" : "lw-feed-row";
  setData(row, "data-seq", e.seq);
  setData(row, "data-kind", e.kind);
  setData(row, "data-adw-id", e.adw_id);
  setData(row, "data-agent", e.agent);
  setData(row, "data-tool", e.tool);
  const [time, where, agent, kind, tool, summary] = row.children;
  setText(time, clock(e.ts));
  if (e.adw_id) {
    const link = document.createElement("a");
    link.href = `/workflows/${encodeURIComponent(e.adw_id)}`;
    link.textContent = String(e.adw_id);
    where.appendChild(link);
  } else {
    setText(where, e.app);
  }
  setText(agent, e.agent);
  const badge = kind.firstChild;
  badge.className = `lw-kind lw-kind-${String(e.kind).replace(/[^a-z_]/g, "")}`;
  badge.textContent = e.kind ?? "";
  setText(tool, e.tool);
  setText(summary, e.summary);
  if (e.summary) summary.title = String(e.summary);
  return row;
}

function fragmentOf(rows) {
  const fragment = document.createDocumentFragment();
  for (const e of rows) fragment.appendChild(rowOf(e));
  return fragment;
}

export default {
  template: `
<div class="lw-feed">
  <div class="row items-center q-gutter-sm q-mb-sm">
    <q-btn dense outline size="sm" data-testid="events-pause" :data-paused="paused ? 'true' : 'false'"
      :icon="paused ? 'play_arrow' : 'pause'" :label="paused ? 'Resume' : 'Pause'" @click="toggle" />
    <span v-if="paused && missed" class="text-caption text-grey-7" data-testid="events-missed">
      {{ missed }} new while paused</span>
  </div>
  <div class="lw-feed-scroll">
    <div class="lw-feed-table" role="table" data-testid="events-table" ref="table">
      <div class="lw-feed-row lw-feed-head" role="row">
        <div role="columnheader">Time</div><div role="columnheader">Workflow</div>
        <div role="columnheader">Agent</div><div role="columnheader">Kind</div>
        <div role="columnheader">Tool</div><div role="columnheader">Summary</div>
      </div>
      <div role="rowgroup" ref="body"></div>
    </div>
  </div>
</div>`,
  props: {
    rows: { type: Array, default: () => [] },
    maxRows: { type: Number, default: 300 },
  },
  data() {
    return { paused: false, missed: 0 };
  },
  mounted() {
    this.replace(this.rows);
    // A hidden tab is sent nothing; shown again, it gets a fresh window.
    this.onVisibility = () => this.$emit("visibility", document.visibilityState === "visible");
    document.addEventListener("visibilitychange", this.onVisibility);
    if (document.visibilityState !== "visible") this.onVisibility();
  },
  unmounted() {
    document.removeEventListener("visibilitychange", this.onVisibility);
  },
  methods: {
    prepend(text) {
      // Rows come as one JSON text, encoded once on the server for every tab on this filter.
      const rows = typeof text === "string" ? JSON.parse(text) : text;
      if (this.paused) {
        this.missed += rows.length;
        return;
      }
      const body = this.$refs.body;
      if (!body) return;
      if (rows.length >= this.maxRows) {
        body.replaceChildren(fragmentOf(rows.slice(0, this.maxRows)));
      } else {
        body.prepend(fragmentOf(rows));
        if (body.childElementCount > this.maxRows) {
          // The oldest rows go in one mutation, not one per row: every observer of the
          // document (the styles' one among them) then sees one change a tick.
          const cut = document.createRange();
          cut.setStartBefore(body.children[this.maxRows]);
          cut.setEndAfter(body.lastElementChild);
          cut.deleteContents();
        }
      }
      this.counted();
    },
    countMissed(count) {
      if (this.paused) this.missed += count;
    },
    replace(rows) {
      this.missed = 0;
      const body = this.$refs.body;
      if (!body) return;
      body.replaceChildren(fragmentOf(rows.slice(0, this.maxRows)));
      this.counted();
    },
    counted() {
      this.$refs.table.setAttribute("data-count", String(this.$refs.body.childElementCount));
    },
    toggle() {
      this.paused = !this.paused;
      if (!this.paused) this.missed = 0;
      this.$emit("pause", this.paused);
    },
  },
};
