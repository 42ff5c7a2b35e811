"""Discovery: what each device says about itself in the packets it sends.

The engine's fast path sees every packet; discovery sees only the few that can carry
a name, an attribute or a fingerprint. `select` picks them with vector operations
over a whole batch (a port table for UDP, the first payload bytes for TCP, the
EtherType for link-layer protocols, SYN flags for TCP fingerprints), so that bulk
traffic costs a few array reads. Each picked packet goes to one dissector: a small
module per protocol, in the manner of Zeek's analyzers, that turns bytes into
facts (`facts.Facts`). Facts are additive, so the live service's capture workers
hand them to the control process with their harvests like flows and hosts.

The reporter turns facts into each asset's profile (`profile`): hostnames, vendor,
services, TLS names, User-Agents, and the OS and device predictions with the
evidence behind them (`predict`, from fingerprint databases read at run time by
`fingerprints`).
"""
