// The workflows table: a Quasar table in server-side mode that the server patches row by row.
// A change sends the page's ids in order and only the rows that differ (`patch`), never the
// whole page again; every tab on the same view gets the same message (`tick`). Every field is
// shown through Vue's text interpolation, so whatever an agent wrote stays text.
// Quasar reads `pagination` from the prop only while an update:pagination listener exists.
// The tab tells the server when it is hidden, so a background tab is not rendered for.
export default {
  template: `
<q-table :rows="items" :columns="columns" row-key="adw_id" :pagination="pager"
  @update:pagination="(p) => (pager = p)" :rows-per-page-options="rowsPerPageOptions"
  @request="(r) => $emit('request', r.pagination)">
  <template v-slot:body="props">
    <q-tr :props="props" data-testid="workflow-row" :data-adw-id="props.row.adw_id"
      :data-status="props.row.status">
      <q-td key="adw_id" :props="props">
        <a :href="'/workflows/' + props.row.adw_id" class="lw-mono text-primary">{{ props.row.adw_id }}</a>
        <div v-if="props.row.error" class="lw-error" data-testid="workflow-error">{{ props.row.error }}</div>
      </q-td>
      <q-td key="issue" :props="props">
        <a v-if="props.row.url" :href="props.row.url" target="_blank" class="text-primary">{{ props.row.issue }}</a>
        <span v-else>{{ props.row.issue }}</span>
      </q-td>
      <q-td key="issue_class" :props="props">{{ props.row.issue_class }}</q-td>
      <q-td key="phase" :props="props">
        <span class="lw-steps" data-testid="phase-progress" :data-phase="props.row.phase"
          :data-steps="props.row.steps">
          <span v-for="(s, i) in props.row.steps" :class="'lw-step lw-' + s"
            :title="phases[i]">{{ s == 'd' ? '✓' : i + 1 }}</span>
          <span class="q-ml-sm">{{ props.row.phase }}</span>
        </span>
      </q-td>
      <q-td key="status" :props="props">
        <q-badge data-testid="status-badge" :color="colors[props.row.status]" :label="props.row.status" />
      </q-td>
      <q-td key="now" :props="props">
        <div v-if="props.row.now_text" class="lw-now" data-testid="now-activity"
          :data-agent="props.row.now_agent" :data-tool="props.row.now_tool"
          :data-kind="props.row.now_kind" :title="props.row.now_text">
          <span class="lw-mono">{{ props.row.now_agent }}</span> · {{ props.row.now_text }}
          <span class="lw-age" :data-ts="props.row.now_ts"></span></div>
        <div v-if="props.row.tokens" class="lw-tokens" data-testid="workflow-tokens">{{ props.row.tokens }}</div>
      </q-td>
      <q-td key="cost" :props="props">{{ props.row.cost }}</q-td>
      <q-td key="updated" :props="props"><span :data-ts="props.row.ts"></span></q-td>
    </q-tr>
  </template>
</q-table>`,
  props: {
    rows: { type: Array, default: () => [] },
    columns: { type: Array, default: () => [] },
    pagination: { type: Object, default: () => ({}) },
    rowsPerPageOptions: { type: Array, default: () => [10, 25, 50, 100] },
    phases: { type: Array, default: () => [] },
    colors: { type: Object, default: () => ({}) },
  },
  emits: ["request", "visibility"],
  data() {
    return { items: this.rows, pager: this.pagination };
  },
  watch: {
    // A full re-render of the element (rare: the table appears or hides) brings new props.
    rows(value) { this.items = value; },
    pagination(value) { this.pager = value; },
  },
  mounted() {
    window.lwWorkflows = this;  // the server's shared per-view message finds the table here
    this.onVisibility = () => this.$emit("visibility", document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", this.onVisibility);
  },
  unmounted() {
    if (window.lwWorkflows === this) window.lwWorkflows = null;
    document.removeEventListener("visibilitychange", this.onVisibility);
  },
  methods: {
    // `ids`: the page's rows in order; `rows`: only those that are new or differ.
    patch(change) {
      const known = new Map(this.items.map((row) => [row.adw_id, row]));
      // A row the tab lacks (it should never) is left out rather than drawn empty.
      this.items = change.ids.map((id) => change.rows[id] || known.get(id)).filter(Boolean);
      if (change.pagination) this.pager = change.pagination;
    },
    // One message for every tab on a view: the time of the change for the header's
    // "Updated" (the page script ticks it) and the patch, or null when the page is unchanged.
    tick(ts, change) {
      const stamp = document.querySelector('[data-testid="last-updated"]');
      if (stamp) stamp.dataset.ts = ts;
      if (change) this.patch(change);
    },
  },
};
