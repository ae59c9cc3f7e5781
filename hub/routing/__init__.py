"""Matching a job to the best online lab whose machine can make it, with reasons.

The matcher never reads the database: it works on an in-memory registry of immutable lab and
machine snapshots, replaced whole when a lab changes, so a match never sees half an update.
Every lab that cannot make a job says why; every price shows its inputs.
- `matcher`: `match(...)`, hard checks then ranking (distance, lead time, price, fairness
  under `Weights`), nearest labs first with a bound on the score; `match_naive`, the plain
  scan it is compared with;
- `checks`: the hard checks (membership, online, process, material and colour, queue,
  nozzle, fit in the build volume, licence, opening hours, lead time), all run, all explained;
- `registry`: `LabRegistry`, the live labs indexed by position for nearest-first search;
- the snapshot types: the labs, machines and job the matcher reads;
- `sync`: loads the registry and the fairness counts from the database, the truth;
- `pricing`: price and lead time with their inputs; `fairness`: how far each lab is above its
  fair share of recent jobs; `geo`: great-circle distance.
"""
