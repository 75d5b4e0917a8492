"""The read side of the core: typed queries over the store that return frozen snapshots.

Every front end reads through here: the GUI (on its worker threads, through ui.tasks.run_task)
and the headless CLI. Each query takes an open Store, reads inside one read_session (one
consistent snapshot) and returns frozen dataclasses or tuples of them, never ORM rows, so a
result can cross from the thread that read it to the thread that shows it.

- rules: the domain rules a screen or a listing applies to a caseload row (staleness, device
  problem, battery threshold, the map marker's state)
- caseload: the whole caseload with its incidents and map markers (CaseloadSnapshot); the live
  feed's per-device updates arrive as values (workstation.changes.LiveFix), never re-read
- record: one participant's record (ParticipantRecord), audited before it is read
- outbox: the outbox and the sync journal as the officer sees them
- visits: today's visits, the input of workstation.route.plan_route
"""
