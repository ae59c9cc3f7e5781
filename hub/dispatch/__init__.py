"""Dispatch: moving jobs between the hub and the labs.

- `context.DispatchContext`: what every call below needs, built once per hub process.
- `offers`: match a job to labs and offer it to the best one, or park or fail it with every
  lab's reason; commands to a node about a job it holds.
- `events`: node events applied to jobs (at most once, in order); `handlers.InboundHandler`
  feeds them from MQTT in batches.
- `sweeps`: offers nobody answered go to the next lab; waiting jobs are routed again.
- `outbox`, `relay`: offers and commands are rows written with the state change that causes
  them and published after commit; `mqtt.HubMqtt` is the hub's broker session.
- `bulk`: new rows of a transaction written in one statement per table.

The order-side changes that start this (placing, cancelling, a lab's answer) are
`hub.orders.flows`.
"""
