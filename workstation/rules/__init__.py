"""The domain rules, written once and imported by every end that needs them.

The sync server evaluates them on incoming fixes, the workstation core on its local copy, the map
on what it draws; a rule that differs between ends shows the officer one thing while the server
raises another. So each rule lives here, in plain Python on plain values, importing nothing of
ours (an import contract keeps it that way, like `workstation.protocol`):

- `geo`: distance, signed distance to a zone's edge, point in zone;
- `schedule`: time zones (each zone/schedule carries an IANA zone; the agency's default comes from
  configuration) and "is this schedule in effect at time T";
- `incidents`: the incident definition: alert severities and families, how alerts chain into one
  incident, which kinds clear by themselves and which never do, response deadlines, and the
  tamper-needs-a-note rule with its message.
"""
