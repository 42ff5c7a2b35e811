"""Service families for the traffic view: what a (protocol, server port) is for.

The names follow IANA's service registry where it is clear; the families group them
the way an operator reads a traffic map (is this web, file sharing, remote access,
industrial control?). An unknown port keeps its number, in family `other`.
"""

from __future__ import annotations

SERVICES: dict[tuple[str, int], tuple[str, str]] = {
    ("tcp", 80): ("http", "web"),
    ("tcp", 443): ("https", "web"),
    ("udp", 443): ("quic", "web"),
    ("tcp", 8080): ("http-alt", "web"),
    ("tcp", 8443): ("https-alt", "web"),
    ("udp", 53): ("dns", "name resolution"),
    ("tcp", 53): ("dns", "name resolution"),
    ("udp", 5353): ("mdns", "name resolution"),
    ("udp", 5355): ("llmnr", "name resolution"),
    ("udp", 137): ("netbios-ns", "name resolution"),
    ("udp", 67): ("dhcp", "network services"),
    ("udp", 68): ("dhcp", "network services"),
    ("udp", 547): ("dhcpv6", "network services"),
    ("udp", 123): ("ntp", "network services"),
    ("udp", 161): ("snmp", "network management"),
    ("udp", 162): ("snmp-trap", "network management"),
    ("udp", 514): ("syslog", "network management"),
    ("udp", 1900): ("ssdp", "discovery"),
    ("udp", 3702): ("ws-discovery", "discovery"),
    ("tcp", 22): ("ssh", "remote access"),
    ("tcp", 23): ("telnet", "remote access"),
    ("tcp", 3389): ("rdp", "remote access"),
    ("tcp", 5900): ("vnc", "remote access"),
    ("tcp", 5985): ("winrm", "remote access"),
    ("tcp", 5986): ("winrm-https", "remote access"),
    ("tcp", 445): ("smb", "file sharing"),
    ("tcp", 139): ("netbios-ssn", "file sharing"),
    ("tcp", 2049): ("nfs", "file sharing"),
    ("tcp", 21): ("ftp", "file sharing"),
    ("tcp", 25): ("smtp", "mail"),
    ("tcp", 587): ("submission", "mail"),
    ("tcp", 993): ("imaps", "mail"),
    ("tcp", 88): ("kerberos", "directory"),
    ("udp", 88): ("kerberos", "directory"),
    ("tcp", 389): ("ldap", "directory"),
    ("tcp", 636): ("ldaps", "directory"),
    ("tcp", 135): ("msrpc", "directory"),
    ("tcp", 1433): ("mssql", "database"),
    ("tcp", 3306): ("mysql", "database"),
    ("tcp", 5432): ("postgresql", "database"),
    ("tcp", 502): ("modbus", "industrial"),
    ("tcp", 102): ("s7comm", "industrial"),
    ("tcp", 44818): ("ethernet-ip", "industrial"),
    ("udp", 2222): ("ethernet-ip-io", "industrial"),
    ("tcp", 20000): ("dnp3", "industrial"),
    ("tcp", 4840): ("opc-ua", "industrial"),
    ("udp", 47808): ("bacnet", "industrial"),
    ("tcp", 1883): ("mqtt", "industrial"),
    ("tcp", 8883): ("mqtt-tls", "industrial"),
    ("udp", 5060): ("sip", "voice and video"),
    ("tcp", 5060): ("sip", "voice and video"),
    ("tcp", 554): ("rtsp", "voice and video"),
    ("tcp", 9100): ("jetdirect", "printing"),
    ("tcp", 631): ("ipp", "printing"),
}
PROTOCOL_FAMILIES = {"icmp": "control", "icmpv6": "control", "igmp": "control", "gre": "tunnels", "esp": "tunnels"}


def classify(proto: str, port: int | None) -> tuple[str, str]:
    """(service name, family) of a traffic record's protocol and server port."""
    if port is None:
        return proto, PROTOCOL_FAMILIES.get(proto, "other")
    known = SERVICES.get((proto, port))
    if known:
        return known
    return f"{proto}/{port}", "other"
