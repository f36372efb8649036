"""Run history: what the hub saw, folded into runs, phases and agents that outlive the process.

`recorder` folds hub changes and agent `result` events into rows (on the event loop, cheap);
`backfill` fills the history from the agents dir in a child process; `service` wires both to
the store and keeps the activity tally across restarts.
"""
