"""One module per protocol: `dissect(p: Packet) -> None` records facts with `p.fact`.

The vocabulary of facts (source, key -> value), which `profile` and `predict` read:

* names: (PROTO, "hostname") -> name, about the device that owns it (sources `dhcp`,
  `dhcpv6`, `dns`, `mdns`, `llmnr`, `nbns`, `netbios`, `lldp`, `cdp`, `smb`, `ssdp`);
  ("dns", "name") -> name for an address a DNS answer gave it.
* bindings: (PROTO, "mac") -> "aa:bb:..", an IP-to-MAC binding (`dhcp`, `ndp`, `arp`).
* DHCP: ("dhcp", "vendor_class"), ("dhcp", "prl") -> "1,3,6,15" (option 55, order
  kept), ("dhcp", "fqdn"), ("dhcp", "requested_ip"), ("dhcp", "assigned_ip");
  ("dhcpv6", "duid"), ("dhcpv6", "vendor_class"), ("dhcpv6", "fqdn").
* services: (PROTO, "service") -> (transport, port, product) about the server.
* clients: ("tls", "sni"), ("tls", "ja3"), ("tls", "ja4"), ("http", "user_agent"),
  ("http", "host"), ("ssh", "client_banner"), ("ssh", "hassh").
* servers: ("tls", "ja3s"), ("tls", "cert_subject"), ("http", "server"),
  ("ssh", "server_banner"), ("ssh", "hassh_server").
* fingerprints: ("tcp", "syn") / ("tcp", "synack") -> p0f signature
  "ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass".
* attributes of one protocol: (PROTO, KEY) -> text, e.g. ("mdns", "model"),
  ("nbns", "workgroup"), ("ssdp", "server"), ("lldp", "system_description"),
  ("cdp", "platform"), ("smb", "native_os"), ("ntlm", "os_version"),
  ("snmp", "sys_descr"), ("modbus", "vendor"), ("s7comm", "module"), ...
"""
