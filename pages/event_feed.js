// A capped, newest-first feed of agent events. The server only ever sends new rows
// (`prepend`) or a fresh window (`replace`), never the whole table again. Every field is
// shown through Vue's text interpolation, so whatever an agent wrote stays text.
// Pause is local, so a click answers at once; the server is told, and stops sending.
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
  <table class="lw-feed-table" data-testid="events-table" :data-count="items.length">
    <thead><tr><th>Time</th><th>Workflow</th><th>Agent</th><th>Kind</th><th>Tool</th><th>Summary</th></tr></thead>
    <tbody>
      <tr v-for="e in items" :key="e.seq" data-testid="event-row" :data-seq="e.seq"
        :data-kind="e.kind" :data-adw-id="e.adw_id" :data-agent="e.agent" :data-tool="e.tool"
        :class="e.is_error ? 'lw-feed-error' : ''">
        <td class="lw-mono">{{ clock(e.ts) }}</td>
        <td class="lw-mono"><a v-if="e.adw_id" :href="'/workflows/' + e.adw_id">{{ e.adw_id }}</a>
          <span v-else>{{ e.app }}</span></td>
        <td class="lw-mono">{{ e.agent }}</td>
        <td><span :class="'lw-kind lw-kind-' + e.kind">{{ e.kind }}</span></td>
        <td>{{ e.tool }}</td>
        <td class="lw-feed-summary" :title="e.summary">{{ e.summary }}</td>
      </tr>
    </tbody>
  </table>
  </div>
</div>`,
  props: {
    rows: { type: Array, default: () => [] },
    maxRows: { type: Number, default: 300 },
  },
  data() {
    return { items: this.rows.slice(0, this.maxRows), paused: false, missed: 0 };
  },
  mounted() {
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
      const merged = rows.concat(this.items);
      this.items = merged.length > this.maxRows ? merged.slice(0, this.maxRows) : merged;
    },
    countMissed(count) {
      if (this.paused) this.missed += count;
    },
    replace(rows) {
      this.missed = 0;
      this.items = rows.slice(0, this.maxRows);
    },
    toggle() {
      this.paused = !this.paused;
      if (!this.paused) this.missed = 0;
      this.$emit("pause", this.paused);
    },
    clock(ts) {
      return ts ? new Date(ts).toLocaleTimeString([], { hour12: false }) : "";
    },
  },
};
