"""One module per protocol: `dissect(p: Packet) -> None` records facts with `p.fact`.

The vocabulary of facts (source, key -> value), which `profile` and `predict` read:

* names: (PROTO, "hostname") -> name, about the device that owns it (sources `dhcp`,
  `dhcpv6`, `dns`, `mdns`, `llmnr`, `nbns`, `netbios`, `lldp`, `cdp`, `smb`, `ssdp`,
  `snmp` (sysName));
  ("dns", "name") -> name for an address a DNS answer gave it.
* bindings: (PROTO, "mac") -> "aa:bb:..", an IP-to-MAC binding (`dhcp`, `dhcpv6`,
  `ndp`, `arp`), recorded with both `ip` and `mac` set.
* DHCP: ("dhcp", "vendor_class"), ("dhcp", "prl") -> "1,3,6,15" (option 55, order
  kept), ("dhcp", "fqdn"), ("dhcp", "requested_ip"), ("dhcp", "assigned_ip");
  ("dhcpv6", "duid") -> hex, ("dhcpv6", "vendor_class") -> "ENTERPRISE:data",
  ("dhcpv6", "fqdn"), ("dhcpv6", "oro") -> "23,24" (option 6, order kept),
  ("dhcpv6", "assigned_ip"), ("dhcpv6", "mud_url").
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

Link-layer and discovery protocols (LLDP and CDP facts are about the sender's MAC, and
the name, description and platform again about each management address):

* lldp: chassis_id, port_id, port_description, system_description, capabilities and
  capabilities_enabled -> "bridge,router" (IEEE names: other, repeater, bridge,
  wlan-ap, router, telephone, docsis, station, ...), management_address, mud_url;
  LLDP-MED inventory: hardware_version, firmware_version, software_version, serial,
  manufacturer, model, asset_id.
* cdp: platform, software_version (lines joined), port_id, capabilities -> "router,
  switch,igmp" (router, bridge, source-route-bridge, switch, host, igmp, repeater,
  phone, remotely-managed, cvta, mac-relay), management_address, vtp_domain, native_vlan.
* ndp: role -> "router" (router advertisement, or the router flag), prefix ->
  "2001:db8::/64" (a router advertisement's prefix information).
* ssdp: server, user_agent (M-SEARCH), usn, uuid, nt (NOTIFY), st (search answer),
  location; a service ("tcp", port, server) where LOCATION points at the sender.
* ntp: mode -> "client" / "server" / "broadcast" / "symmetric-active" / ...,
  version -> "4", stratum -> "2" and reference -> "GPS" (stratum 1) of servers;
  software, system, processor from a control (ntpq) response.
* snmp: version -> "1" / "2c" / "3", sys_descr, sys_object_id -> "1.3.6.1.4.1.9.1.1",
  sys_location, trap_enterprise, engine_id (hex), engine_enterprise -> "9";
  community strings and user names are never recorded.
* smb: native_os, native_lanman, domain, dialect -> "1" / "2.1" / "3.1.1";
  ntlm: os_version -> "10.0.19041", target_name, netbios_computer, netbios_domain,
  dns_computer, dns_domain, dns_tree, workstation and domain (AUTHENTICATE).

Industrial protocols:

* modbus: vendor, product_code, revision, vendor_url, product_name, model, application.
* s7comm: order_number, hardware_order_number, firmware -> "V3.2.6", system_name,
  module, module_type, plant, location, serial, copyright.
* enip: vendor_id -> "1", vendor (known IDs), device_type -> "programmable logic
  controller" (CIP name, else the number), product_code, revision -> "4.3",
  serial -> "0x00524d8e", product_name.
* bacnet: device_instance, vendor_id, and for the device object object_name, model,
  vendor, firmware, application_version, location, description.
* dnp3: address -> "1" (link-layer address), role -> "master" / "outstation".
"""
