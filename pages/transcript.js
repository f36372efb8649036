// One agent's transcript, oldest first, following new lines like `tail -f`. Older pages
// come from the server on request, so a long transcript never travels whole. A click on a
// line fetches its full payload (the raw line, secrets masked) and shows it as text.
// Everything is shown through Vue's text interpolation: whatever the agent wrote stays text.
const ICONS = { init: "●", message: "»", tool_use: "▶", tool_result: "↳", result: "■", error: "⚠", hook: "◆" };
const PAYLOAD_LIMIT = 20000;

export default {
  template: `
<div class="lw-transcript" data-testid="transcript" :data-agent="agent" :data-count="items.length">
  <div class="row items-center q-gutter-sm q-mb-xs">
    <span class="text-subtitle2 lw-mono">{{ agent }}</span>
    <q-btn dense flat size="sm" data-testid="transcript-pause" :icon="paused ? 'play_arrow' : 'pause'"
      :label="paused ? 'Follow' : 'Pause'" @click="toggle" />
    <q-btn v-if="hasOlder" dense flat size="sm" data-testid="transcript-older" icon="history"
      label="Older" @click="$emit('older', items.length ? items[0].seq : null)" />
    <span v-if="paused && missed" class="text-caption text-grey-7">{{ missed }} new</span>
  </div>
  <div ref="scroll" class="lw-transcript-lines" @scroll="onScroll">
    <div v-for="e in items" :key="e.seq" data-testid="transcript-line" :data-seq="e.seq"
      :data-kind="e.kind" :data-tool="e.tool" :class="'lw-line' + (e.is_error ? ' lw-line-error' : '')">
      <div class="lw-line-head" @click="expand(e.seq)">
        <span class="lw-line-icon">{{ icon(e.kind) }}</span>
        <span v-if="e.tool" class="lw-line-tool">{{ e.tool }}</span>
        <span class="lw-line-text">{{ e.summary }}</span>
      </div>
      <pre v-if="open[e.seq] !== undefined" class="lw-payload" data-testid="transcript-payload">{{ open[e.seq] }}</pre>
    </div>
  </div>
</div>`,
  props: {
    agent: String,
    rows: { type: Array, default: () => [] },
    maxRows: { type: Number, default: 500 },
    hasOlder: { type: Boolean, default: true },
  },
  data() {
    return { items: this.rows.slice(-this.maxRows), paused: false, missed: 0, open: {}, atEnd: true };
  },
  mounted() {
    this.toEnd();
  },
  methods: {
    icon(kind) {
      return ICONS[kind] || "·";
    },
    append(rows) {
      if (this.paused) {
        this.missed += rows.length;
        return;
      }
      const merged = this.items.concat(rows);
      this.items = merged.length > this.maxRows ? merged.slice(-this.maxRows) : merged;
      if (this.atEnd) this.$nextTick(this.toEnd);
    },
    prependOlder(rows) {
      this.items = rows.concat(this.items);
    },
    countMissed(count) {
      if (this.paused) this.missed += count;
    },
    replace(rows) {
      this.missed = 0;
      this.items = rows.slice(-this.maxRows);
      this.$nextTick(this.toEnd);
    },
    toggle() {
      this.paused = !this.paused;
      if (!this.paused) this.missed = 0;
      this.$emit("pause", this.paused);
    },
    toEnd() {
      const el = this.$refs.scroll;
      if (el) el.scrollTop = el.scrollHeight;
    },
    onScroll() {
      const el = this.$refs.scroll;
      this.atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    },
    async expand(seq) {
      if (this.open[seq] !== undefined) {
        delete this.open[seq];
        return;
      }
      this.open[seq] = "…";
      try {
        const response = await fetch(`/api/events/${seq}`, { credentials: "same-origin" });
        const event = await response.json();
        const payload = event.payload;
        let text = typeof payload === "string" ? payload : JSON.stringify(payload, null, 2);
        if (text && text.length > PAYLOAD_LIMIT) {
          text = text.slice(0, PAYLOAD_LIMIT) + `\n… (${text.length - PAYLOAD_LIMIT} more characters)`;
        }
        this.open[seq] = text || "(empty)";
      } catch (error) {
        this.open[seq] = `could not load: ${error}`;
      }
    },
  },
};
