"""One module per protocol: `dissect(p: Packet) -> None` records facts with `p.fact`.

Each protocol module ends with a `PROTOCOL` (`discovery.protocol.Protocol`) that says
how its packets are recognised, which of them are worth reading, what makes a message
a repeat, and every fact it records (`Fact`: source, key, whose it is, an example of
its value, and the rule that reads it). The dispatcher (`discovery.dispatch`) builds
its tables from those declarations (`discovery.registry`), and `predict` reads each
fact through the rule its declaration names: the declarations are the vocabulary of
facts, and `registry.FACTS` lists them all.

To add a protocol: a module here with its dissector and its `PROTOCOL`, its rules in
`discovery/fingerprints` where its facts say what a device is, its tests in
`tests/sensor/discovery/dissectors`. Nothing else names it. Modules without a
`PROTOCOL` (`addresses`, `dnsrecords`, `netbios`) hold what several protocols share.

A dissector reads bytes from the network: it bounds every read, raises `Malformed`
(or lets an IndexError, ValueError, struct.error escape) at the first byte it cannot
read, and records what it found before; the dispatcher counts the failure as
`malformed-NAME` and goes on.
"""
