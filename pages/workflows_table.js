// The workflows table: a Quasar table in server-side mode that the server patches row by row.
// A change sends the page's ids in order and only the rows that differ (`patch`), never the
// whole page again; every tab on the same view gets the same message (`tick`). Every field is
// shown through Vue's text interpolation, so whatever an agent wrote stays text.
// Quasar reads `pagination` from the prop only while an update:pagination listener exists.
// The tab tells the server when it is hidden, so a background tab is not rendered for.
// One row is a component of its own: Vue re-renders a row only when its `row` object changes,
// and `patch` keeps the objects of rows that did not. A change that moves one row then
// renders that row, not the page's 25 (at 10 tabs in one Chromium, rendering every row of
// every tab on each change made write → DOM p95 ~285 ms). The cells are what QTr and QTd
// render for left-aligned columns.
const WorkflowRow = {
  props: { row: Object, phases: Array, colors: Object },
  template: `
<tr class="q-tr" data-testid="workflow-row" :data-adw-id="row.adw_id" :data-status="row.status">
  <td class="q-td text-left">
    <a :href="'/workflows/' + row.adw_id" class="lw-mono text-primary">{{ row.adw_id }}</a>
    <div v-if="row.error" class="lw-error" data-testid="workflow-error">{{ row.error }}</div>
  </td>
  <td class="q-td text-left">
    <a v-if="row.url" :href="row.url" target="_blank" class="text-primary">{{ row.issue }}</a>
    <span v-else>{{ row.issue }}</span>
  </td>
  <td class="q-td text-left">{{ row.issue_class }}</td>
  <td class="q-td text-left">
    <span class="lw-steps" data-testid="phase-progress" :data-phase="row.phase"
      :data-steps="row.steps">
      <span v-for="(s, i) in row.steps" :class="'lw-step lw-' + s"
        :title="phases[i]">{{ s == 'd' ? '✓' : i + 1 }}</span>
      <span class="q-ml-sm">{{ row.phase }}</span>
    </span>
  </td>
  <td class="q-td text-left">
    <q-badge data-testid="status-badge" :color="colors[row.status]" :label="row.status" />
  </td>
  <td class="q-td text-left">
    <div v-if="row.now_text" class="lw-now" data-testid="now-activity"
      :data-agent="row.now_agent" :data-tool="row.now_tool"
      :data-kind="row.now_kind" :title="row.now_text">
      <span class="lw-mono">{{ row.now_agent }}</span> · {{ row.now_text }}
      <span class="lw-age" :data-ts="row.now_ts"></span></div>
    <div v-if="row.tokens" class="lw-tokens" data-testid="workflow-tokens">{{ row.tokens }}</div>
  </td>
  <td class="q-td text-left">{{ row.cost }}</td>
  <td class="q-td text-left"><span :data-ts="row.ts"></span></td>
</tr>`,
};

// The page's rows, in a component of their own (see `anchor`).
const WorkflowRows = {
  components: { WorkflowRow },
  props: { page: Object, phases: Array, colors: Object },
  template: `<workflow-row v-for="row in page.items" :key="row.adw_id" :row="row"
    :phases="phases" :colors="colors" />`,
};

const PAGE_ROW = [{ adw_id: "__page__" }];
const NO_ROWS = [];

function samePager(a, b) {
  const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
  return [...keys].every((k) => a?.[k] === b?.[k]);
}

export default {
  components: { WorkflowRows },
  template: `
<q-table :rows="anchor" :columns="columns" row-key="adw_id" :pagination="pager"
  @update:pagination="(p) => (pager = p)" :rows-per-page-options="rowsPerPageOptions"
  @request="(r) => $emit('request', r.pagination)">
  <template v-slot:body>
    <workflow-rows :page="page" :phases="phases" :colors="colors" />
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
    return { page: { items: this.rows }, pager: this.pagination };
  },
  computed: {
    // Quasar's table gets one stand-in row (none for an empty page), the same array every
    // time, so a patch does not render the table, its header and its pager again: only
    // `workflow-rows`, which alone reads `page.items`.
    anchor() {
      return this.page.items.length ? PAGE_ROW : NO_ROWS;
    },
  },
  watch: {
    // A full re-render of the element (rare: the table appears or hides) brings new props.
    rows(value) { this.page.items = value; },
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
      const known = new Map(this.page.items.map((row) => [row.adw_id, row]));
      // A row the tab lacks (it should never) is left out rather than drawn empty.
      this.page.items = change.ids.map((id) => change.rows[id] || known.get(id)).filter(Boolean);
      // Every patch carries the pagination; a new object would render the table again.
      if (change.pagination && !samePager(this.pager, change.pagination)) {
        this.pager = change.pagination;
      }
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
