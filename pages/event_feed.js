// A capped, newest-first feed of agent events. The server only ever sends new rows
// (`prepend`) or a fresh window (`replace`), never the whole table again.
//
// The feed keeps the newest `maxRows` events as data, and the DOM holds only the rows in
// view (plus a few either side): at 2,000 events a second a tick brings ~200 rows, and
// styling and laying out all of them kept Chromium's main thread ~95 % busy, so new rows
// showed late. A tick now costs the ~45 rows a screen holds, whatever the rate. Rows have a
// fixed height, so where each row sits is arithmetic, not layout.
//
// The rows are plain DOM, built here, not Vue's (Vue's reactive rows cost ~45 ms a tick).
// Every field goes in through `textContent` (never markup), so whatever an agent wrote
// stays text. Pause is local, so a click answers at once; the server is told, and stops
// sending.
const ROW_PX = 26; // a body row's height, set on each row; the CSS leaves it alone
const OVERSCAN = 4; // rows built beyond each edge of the view, so a scroll shows no gap
const VIEW_VH = 70; // the scrolled rows' height, in percent of the window's

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

function cell(className) {
  const el = document.createElement("div");
  el.className = className ? `lw-feed-cell ${className}` : "lw-feed-cell";
  el.setAttribute("role", "cell");
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
    blankRow.style.height = `${ROW_PX}px`;
    blankRow.setAttribute("data-testid", "event-row");
    const badge = document.createElement("span");
    const kind = cell();
    kind.appendChild(badge);
    blankRow.append(cell("lw-mono"), cell("lw-mono"), cell("lw-mono"), kind, cell(),
      cell("lw-feed-summary"));
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
  <div class="lw-feed-table" role="table" data-testid="events-table" ref="table">
    <div class="lw-feed-row lw-feed-head" role="row">
      <div role="columnheader">Time</div><div role="columnheader">Workflow</div>
      <div role="columnheader">Agent</div><div role="columnheader">Kind</div>
      <div role="columnheader">Tool</div><div role="columnheader">Summary</div>
    </div>
    <div class="lw-feed-scroll" ref="scroll" style="max-height: ${VIEW_VH}vh"
      @scroll.passive="scrolled">
      <div role="rowgroup" class="lw-feed-body" ref="body"></div>
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
  created() {
    // Not reactive: Vue must not wrap 300 rows it never renders.
    this.kept = [];
    this.first = 0; // the index in `kept` of the first row in the DOM
    this.frame = 0;
  },
  mounted() {
    window.lwEventFeed = this; // the server's shared per-filter message finds the feed here
    this.replace(this.rows);
    // A hidden tab is sent nothing; shown again, it gets a fresh window.
    this.onVisibility = () => this.$emit("visibility", document.visibilityState === "visible");
    document.addEventListener("visibilitychange", this.onVisibility);
    if (document.visibilityState !== "visible") this.onVisibility();
  },
  unmounted() {
    if (window.lwEventFeed === this) window.lwEventFeed = null;
    document.removeEventListener("visibilitychange", this.onVisibility);
    cancelAnimationFrame(this.frame);
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
      // Read before any change, while layout is clean: reading it later would force one.
      const top = this.$refs.scroll.scrollTop;
      const added = Math.min(rows.length, this.maxRows);
      this.kept = rows.slice(0, added).concat(this.kept).slice(0, this.maxRows);
      this.sized();
      if (top > 0) {
        // Scrolled down to read: the rows in view stay where they are, a little lower.
        this.first += added;
        body.style.paddingTop = `${this.first * ROW_PX}px`;
        this.$refs.scroll.scrollTop = top + added * ROW_PX;
        this.trim();
        if (body.childElementCount === 0) this.render(this.windowAt(top + added * ROW_PX));
      } else if (this.first !== 0 || added >= this.size()) {
        this.render(0);
      } else {
        body.prepend(this.fragment(0, added));
        this.trim();
      }
      this.counted();
    },
    countMissed(count) {
      if (this.paused) this.missed += count;
    },
    replace(rows) {
      this.missed = 0;
      this.kept = rows.slice(0, this.maxRows);
      if (!this.$refs.body) return;
      this.$refs.scroll.scrollTop = 0;
      this.sized();
      this.render(0);
    },
    // How many rows the DOM holds: what the view shows, and the overscan either side.
    size() {
      return Math.ceil((window.innerHeight * VIEW_VH) / 100 / ROW_PX) + 2 * OVERSCAN;
    },
    windowAt(scrollTop) {
      return Math.max(0, Math.floor(scrollTop / ROW_PX) - OVERSCAN);
    },
    fragment(from, to) {
      return fragmentOf(this.kept.slice(from, Math.min(to, this.kept.length)));
    },
    render(first) {
      this.first = first;
      this.$refs.body.style.paddingTop = `${first * ROW_PX}px`;
      this.$refs.body.replaceChildren(this.fragment(first, first + this.size()));
      this.counted();
    },
    // The rowgroup is as tall as all kept rows, so the scrollbar tells where you are.
    sized() {
      this.$refs.body.style.height = `${this.kept.length * ROW_PX}px`;
    },
    // Drops the DOM rows past the window or past the kept rows, in one mutation: every
    // observer of the document (the styles' one among them) then sees one change a tick.
    trim() {
      const body = this.$refs.body;
      const last = Math.min(this.kept.length - this.first, this.size());
      if (body.childElementCount <= Math.max(last, 0)) return;
      const cut = document.createRange();
      if (last > 0) cut.setStartBefore(body.children[last]);
      else cut.setStartBefore(body.firstElementChild);
      cut.setEndAfter(body.lastElementChild);
      cut.deleteContents();
    },
    scrolled() {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        const first = this.windowAt(this.$refs.scroll.scrollTop);
        if (first !== this.first) this.render(first);
      });
    },
    counted() {
      // The rows the feed keeps; the DOM holds those in view.
      this.$refs.table.setAttribute("data-count", String(this.kept.length));
    },
    toggle() {
      this.paused = !this.paused;
      if (!this.paused) this.missed = 0;
      this.$emit("pause", this.paused);
    },
  },
};
