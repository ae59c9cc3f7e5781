"""Orders: what a maker asks for, and the jobs it becomes.

A quote names the best few labs for a design, a material, a quantity and a place, with the
price broken down, the lead time and the distance, and says for every lab considered that
cannot why not. Placing an order makes one job per part copy; each job is matched to a lab
(`hub.routing`), offered to its node over MQTT (`hub.dispatch`) and moved along by the node's
events until it completes or fails. A lab's staff may accept or decline an offer; a maker may
cancel.
- the domain's service: placing, cancelling and reading orders, and their jobs' states;
- `quotes`: the quote; `history`: an order's events as readable lines for the maker;
- `jobrows`: a batch's job rows read, locked and written back, for applying node events;
- `models`: orders, jobs, order events; `schemas`: API shapes; `views`: the routes under
  `/api/v1` (quotes, orders, a lab's accept and decline of a job).
"""
