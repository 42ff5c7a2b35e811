"""Which capture worker gets a packet: a classic BPF program over the *inner* flow.

The kernel's own fanout hash (PACKET_FANOUT_HASH) hashes the outer headers: all the
ERSPAN or VXLAN traffic from one switch would land on one worker. This program
walks the encapsulations the sensor sees on a mirror port (a stacked VLAN tag,
GRE with ERSPAN I/II/III or transparent Ethernet bridging, VXLAN, one inner VLAN
tag; GTP-U and Teredo, whose one tunnel carries a whole mobile network's or many
hosts' traffic) down to the innermost IPv4 or IPv6 header and returns a symmetric hash of
the addresses and, for TCP/UDP/SCTP outside fragments, the ports: both directions
of a flow, and all fragments of a datagram, reach the same worker, which is what
the per-worker flow, fragment and duplicate state needs. The kernel takes the
value modulo the number of workers.

A fanout program sees the packet from its network header: the outer Ethernet
header is gone and the outer VLAN tag, if any, was moved to packet metadata by
the kernel before the taps; the EtherType is read through SKF_AD_PROTOCOL.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Instruction classes and fields of classic BPF (linux/filter.h).
LD, LDX, ST, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, MSH = 0x00, 0x20, 0x40, 0x60, 0xA0
ADD, SUB, MUL, AND, LSH, RSH, XOR = 0x00, 0x10, 0x20, 0x50, 0x60, 0x70, 0xA0
JA, JEQ, JSET = 0x00, 0x10, 0x40
K, X = 0x00, 0x08
TAX, TXA = 0x00, 0x80
A_REG = 0x10
SKF_AD_PROTOCOL = -0x1000 + 0  # SKF_AD_OFF + SKF_AD_PROTOCOL

PACKET_FANOUT_HASH = 0
PACKET_FANOUT_CBPF = 6

# Scratch memory slots.
M_BASE, M_L4, M_HASH, M_T1, M_T2, M_OUTER = 0, 1, 2, 3, 4, 5
GTPU_PORT, TEREDO_PORT = 2152, 3544
GTP_EXTENSIONS = 2  # extension headers walked (a 5G PDU session container is one); more: the outer flow


@dataclass
class _Insn:
    code: int
    k: int = 0
    jt: str | int = 0
    jf: str | int = 0
    label: str = ""


class _Asm:
    """A tiny assembler: instructions with symbolic jump targets."""

    def __init__(self) -> None:
        self.code: list[_Insn] = []
        self.labels: dict[str, int] = {}

    def at(self, label: str) -> None:
        self.labels[label] = len(self.code)

    def op(self, code: int, k: int = 0, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append(_Insn(code, k & 0xFFFFFFFF, jt, jf))

    def jmp(self, label: str) -> None:
        self.code.append(_Insn(JMP | JA, 0, 0, 0, label))

    def assemble(self) -> bytes:
        out = []
        for i, ins in enumerate(self.code):
            k = ins.k
            if ins.label:
                k = self.labels[ins.label] - i - 1
            jt = self.labels[ins.jt] - i - 1 if isinstance(ins.jt, str) else ins.jt
            jf = self.labels[ins.jf] - i - 1 if isinstance(ins.jf, str) else ins.jf
            if not (0 <= jt < 256 and 0 <= jf < 256):
                raise ValueError(f"jump out of range at {i}")
            out.append(struct.pack("HBBI", ins.code, jt, jf, k & 0xFFFFFFFF))
        return b"".join(out)


def _l3_dispatch(a: _Asm, prefix: str) -> None:
    """A = EtherType, M[BASE] = offset of the header after it: go to IPv4/IPv6/tag."""
    a.op(JMP | JEQ | K, 0x8100, f"{prefix}tag", f"{prefix}ad")
    a.at(f"{prefix}ad")
    a.op(JMP | JEQ | K, 0x88A8, f"{prefix}tag", f"{prefix}ip")
    a.at(f"{prefix}tag")
    # One stacked tag: the EtherType follows its 2-byte TCI.
    a.op(LDX | MEM, M_BASE)
    a.op(LD | H | IND, 2)
    a.op(ST, M_T1)
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 4)
    a.op(ST, M_BASE)
    a.op(LD | MEM, M_T1)
    a.at(f"{prefix}ip")
    a.op(JMP | JEQ | K, 0x0800, f"{prefix}v4", f"{prefix}v6?")
    a.at(f"{prefix}v6?")
    # Conditional jumps reach 255 instructions ahead: the far ones go through a JA.
    a.op(JMP | JEQ | K, 0x86DD, f"{prefix}to_v6", f"{prefix}none")
    a.at(f"{prefix}to_v6")
    a.jmp("o_v6")
    a.at(f"{prefix}none")
    a.op(RET | K, 0)


def program() -> bytes:
    """The fanout program (struct sock_filter array): the outer headers, the tunnels
    they may carry, the inner frame, then the hash; each part jumps to the next by label."""
    a = _Asm()
    # The kernel's checker wants every scratch slot written before any path reads it.
    a.op(LD | IMM, 0)
    for slot in (M_BASE, M_L4, M_HASH, M_T1, M_T2, M_OUTER):
        a.op(ST, slot)
    a.op(LD | H | ABS, SKF_AD_PROTOCOL)  # M[BASE] = 0: the network header
    _l3_dispatch(a, "o_")

    _outer_ipv4(a)
    _vxlan(a)
    _gtp_u(a)
    _teredo(a)
    _gre(a)
    _inner_ethernet(a)
    _ipv4_hash(a)
    _ipv6_hash(a)
    _ports_and_mix(a)
    return a.assemble()


def _outer_ipv4(a: _Asm) -> None:
    """The outer IPv4 header: a GRE or VXLAN tunnel, else the flow itself."""
    # --- outer IPv4: tunnels or the flow itself -------------------------------------
    a.at("o_v4")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | H | IND, 6)  # flags + fragment offset
    a.op(JMP | JSET | K, 0x3FFF, "v4_hash", "o_v4_whole")  # a fragment: no tunnel, no ports
    a.at("o_v4_whole")
    _l4_offset(a)
    a.op(LDX | MEM, M_BASE)
    a.op(LD | B | IND, 9)
    a.op(JMP | JEQ | K, 47, "gre", "o_udp?")
    a.at("o_udp?")
    a.op(JMP | JEQ | K, 17, "o_udp", "v4_hash")
    a.at("o_udp")
    a.op(LDX | MEM, M_L4)
    a.op(LD | H | IND, 2)
    a.op(JMP | JEQ | K, 4789, "vxlan", "o_udp_dport")
    a.at("o_udp_dport")
    a.op(JMP | JEQ | K, GTPU_PORT, "gtp", "o_teredo_d?")
    a.at("o_teredo_d?")
    a.op(JMP | JEQ | K, TEREDO_PORT, "teredo", "o_udp_sport")
    a.at("o_udp_sport")
    a.op(LD | H | IND, 0)
    a.op(JMP | JEQ | K, GTPU_PORT, "gtp", "o_teredo_s?")
    a.at("o_teredo_s?")
    a.op(JMP | JEQ | K, TEREDO_PORT, "teredo", "v4_hash")


def _vxlan(a: _Asm) -> None:
    """VXLAN: 8 bytes of UDP, 8 of VXLAN, then an Ethernet frame."""
    # --- VXLAN: 8 bytes UDP, 8 bytes VXLAN, then Ethernet ----------------------------
    a.at("vxlan")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 16)
    a.op(ST, M_BASE)
    a.jmp("inner_eth")


def _gtp_u(a: _Asm) -> None:
    """GTP-U (either port 2152; X = M[L4]): a G-PDU's inner IP packet after the header,
    its optional 4 bytes and up to GTP_EXTENSIONS extension headers; anything else on
    the port (echo, end marker, a header that does not parse) hashes as the outer flow."""
    a.at("gtp")
    a.op(LD | MEM, M_BASE)
    a.op(ST, M_OUTER)  # to hash the outer flow after all
    a.op(LD | B | IND, 8)  # flags: version 1, protocol type GTP; E, S, PN
    a.op(ST, M_T1)
    a.op(ALU | AND | K, 0xF0)
    a.op(JMP | JEQ | K, 0x30, "gtp_v1", "gtp_outer")
    a.at("gtp_v1")
    a.op(LD | B | IND, 9)
    a.op(JMP | JEQ | K, 0xFF, "gtp_pdu", "gtp_outer")  # a G-PDU: a user's packet
    a.at("gtp_pdu")
    a.op(LD | B | IND, 19)  # the first extension header's type (meaningful with E)
    a.op(ST, M_T2)
    a.op(LD | MEM, M_T1)
    a.op(ALU | AND | K, 0x07)
    a.op(JMP | JEQ | K, 0, "gtp_short", "gtp_long")
    a.at("gtp_short")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 16)  # UDP 8, GTP 8
    a.op(ST, M_BASE)
    a.jmp("gtp_ip")
    a.at("gtp_long")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 20)  # UDP 8, GTP 12
    a.op(ST, M_BASE)
    a.op(LD | MEM, M_T1)
    a.op(JMP | JSET | K, 0x04, "gtp_ext0", "gtp_ip")
    for n in range(GTP_EXTENSIONS):
        a.at(f"gtp_ext{n}")
        a.op(LD | MEM, M_T2)
        a.op(JMP | JEQ | K, 0, "gtp_ip", f"gtp_walk{n}")
        a.at(f"gtp_walk{n}")
        a.op(LDX | MEM, M_BASE)
        a.op(LD | B | IND, 0)  # its length in 4-byte units
        a.op(JMP | JEQ | K, 0, "gtp_outer", f"gtp_len{n}")
        a.at(f"gtp_len{n}")
        a.op(ALU | LSH | K, 2)
        a.op(ALU | ADD | X)
        a.op(ST, M_BASE)  # past it
        a.op(ALU | SUB | K, 1)
        a.op(MISC | TAX)
        a.op(LD | B | IND, 0)  # its last byte: the next one's type
        a.op(ST, M_T2)
    a.op(LD | MEM, M_T2)
    a.op(JMP | JEQ | K, 0, "gtp_ip", "gtp_outer")
    a.at("gtp_ip")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | B | IND, 0)
    a.op(ALU | RSH | K, 4)
    a.op(JMP | JEQ | K, 4, "i_v4", "gtp_v6?")
    a.at("gtp_v6?")
    a.op(JMP | JEQ | K, 6, "o_v6", "gtp_outer")
    _outer_flow(a, "gtp_outer")


def _outer_flow(a: _Asm, label: str) -> None:
    """At `label`: a tunnel whose inside cannot be hashed goes back to its outer IPv4
    header (kept in M[OUTER] when the tunnel was entered) and hashes as that flow."""
    a.at(label)
    a.op(LD | MEM, M_OUTER)
    a.op(ST, M_BASE)
    a.jmp("v4_hash")


def _teredo(a: _Asm) -> None:
    """Teredo (either port 3544; X = M[L4]): the IPv6 packet after an optional origin
    indication; with an authentication header, or no IPv6 after, the outer flow."""
    a.at("teredo")
    a.op(LD | MEM, M_BASE)
    a.op(ST, M_OUTER)
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 8)
    a.op(ST, M_BASE)
    a.op(LD | H | IND, 8)
    a.op(JMP | JEQ | K, 0, "teredo_origin", "teredo_ip")
    a.at("teredo_origin")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 16)
    a.op(ST, M_BASE)
    a.at("teredo_ip")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | B | IND, 0)
    a.op(ALU | RSH | K, 4)
    a.op(JMP | JEQ | K, 6, "o_v6", "teredo_outer")
    _outer_flow(a, "teredo_outer")


def _gre(a: _Asm) -> None:
    """GRE: its optional fields, then ERSPAN I/II/III or transparent Ethernet bridging."""
    # --- GRE ------------------------------------------------------------------------
    a.at("gre")
    a.op(LDX | MEM, M_L4)
    a.op(LD | H | IND, 0)  # flags: C (0x8000), K (0x2000), S (0x1000) add 4 bytes each
    a.op(ST, M_T1)
    a.op(ALU | RSH | K, 15)
    a.op(ALU | AND | K, 1)
    a.op(ST, M_T2)
    a.op(LD | MEM, M_T1)
    a.op(ALU | RSH | K, 13)
    a.op(ALU | AND | K, 1)
    a.op(LDX | MEM, M_T2)
    a.op(ALU | ADD | X)
    a.op(ST, M_T2)
    a.op(LD | MEM, M_T1)
    a.op(ALU | RSH | K, 12)
    a.op(ALU | AND | K, 1)
    a.op(LDX | MEM, M_T2)
    a.op(ALU | ADD | X)
    a.op(ALU | LSH | K, 2)
    a.op(ALU | ADD | K, 4)
    a.op(LDX | MEM, M_L4)
    a.op(ALU | ADD | X)
    a.op(ST, M_BASE)  # M[BASE] = end of the GRE header
    a.op(LD | H | IND, 2)  # GRE protocol (X still holds the GRE offset)
    a.op(JMP | JEQ | K, 0x6558, "inner_eth", "g_e12?")
    a.at("g_e12?")
    a.op(JMP | JEQ | K, 0x88BE, "erspan12", "g_e3?")
    a.at("g_e3?")
    a.op(JMP | JEQ | K, 0x22EB, "erspan3", "v4_hash")
    a.at("erspan12")
    a.op(LD | MEM, M_T1)
    a.op(JMP | JSET | K, 0x1000, "erspan2", "inner_eth")  # type I: no header
    a.at("erspan2")
    a.op(LD | MEM, M_BASE)
    a.op(ALU | ADD | K, 8)
    a.op(ST, M_BASE)
    a.jmp("inner_eth")
    a.at("erspan3")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | B | IND, 11)  # the O flag: an 8-byte platform sub-header follows
    a.op(ALU | AND | K, 1)
    a.op(ALU | LSH | K, 3)
    a.op(ALU | ADD | K, 12)
    a.op(ALU | ADD | X)
    a.op(ST, M_BASE)


def _inner_ethernet(a: _Asm) -> None:
    """An inner Ethernet frame at M[BASE]: down to its IPv4 or IPv6 header."""
    # --- an inner Ethernet frame at M[BASE] ---------------------------------------------
    a.at("inner_eth")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | H | IND, 12)
    a.op(ST, M_T1)
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 14)
    a.op(ST, M_BASE)
    a.op(LD | MEM, M_T1)
    _l3_dispatch(a, "i_")
    a.at("i_v4")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | H | IND, 6)
    a.op(JMP | JSET | K, 0x3FFF, "v4_hash", "i_v4_whole")
    a.at("i_v4_whole")
    _l4_offset(a)
    a.jmp("v4_hash")
    a.at("i_v6")
    a.jmp("o_v6")


def _ipv4_hash(a: _Asm) -> None:
    """The hash of an IPv4 header at M[BASE] (its ports if M[L4] is set)."""
    # --- hash of an IPv4 header at M[BASE] (ports if M[L4] is set) ----------------------
    a.at("v4_hash")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | W | IND, 12)
    a.op(ST, M_T1)
    a.op(LD | W | IND, 16)
    a.op(LDX | MEM, M_T1)
    a.op(ALU | XOR | X)
    a.op(ST, M_HASH)
    a.op(LDX | MEM, M_BASE)
    a.op(LD | H | IND, 6)
    a.op(JMP | JSET | K, 0x3FFF, "mix", "v4_ports?")
    a.at("v4_ports?")
    a.op(LD | B | IND, 9)
    a.op(JMP | JEQ | K, 6, "ports", "v4_udp?")
    a.at("v4_udp?")
    a.op(JMP | JEQ | K, 17, "ports", "v4_sctp?")
    a.at("v4_sctp?")
    a.op(JMP | JEQ | K, 132, "ports", "mix")


def _ipv6_hash(a: _Asm) -> None:
    """IPv6 at M[BASE]: its addresses, and its ports when no extension header follows."""
    # --- IPv6 at M[BASE]: addresses, and ports when no extension header ------------------
    a.at("o_v6")
    a.op(LDX | MEM, M_BASE)
    a.op(LD | IMM, 0)
    for off in range(8, 40, 4):
        a.op(ST, M_T1)
        a.op(LD | W | IND, off)
        a.op(ST, M_T2)
        a.op(LD | MEM, M_T1)
        a.op(LDX | MEM, M_T2)
        a.op(ALU | XOR | X)
        a.op(LDX | MEM, M_BASE)
    a.op(ST, M_HASH)
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 40)
    a.op(ST, M_L4)
    a.op(LD | B | IND, 6)
    a.op(JMP | JEQ | K, 6, "ports", "v6_udp?")
    a.at("v6_udp?")
    a.op(JMP | JEQ | K, 17, "ports", "mix")


def _ports_and_mix(a: _Asm) -> None:
    """Symmetric ports (sport ^ dport) into the hash, then its bits spread."""
    # --- symmetric ports: sport ^ dport ----------------------------------------------
    a.at("ports")
    a.op(LDX | MEM, M_L4)
    a.op(LD | H | IND, 0)
    a.op(ST, M_T1)
    a.op(LD | H | IND, 2)
    a.op(LDX | MEM, M_T1)
    a.op(ALU | XOR | X)
    a.op(LDX | MEM, M_HASH)
    a.op(ALU | XOR | X)
    a.op(ST, M_HASH)

    # --- spread the bits, return ------------------------------------------------------
    a.at("mix")
    a.op(LD | MEM, M_HASH)
    a.op(ALU | MUL | K, 0x9E3779B1)
    a.op(ST, M_T1)
    a.op(ALU | RSH | K, 16)
    a.op(LDX | MEM, M_T1)
    a.op(ALU | XOR | X)
    a.op(RET | A_REG)
    a.at("none")
    a.op(RET | K, 0)


def _l4_offset(a: _Asm) -> None:
    """M[L4] = M[BASE] + 4 * IHL of the IPv4 header at M[BASE]; leaves X = M[L4]."""
    a.op(LDX | MEM, M_BASE)
    a.op(LD | B | IND, 0)
    a.op(ALU | AND | K, 0x0F)
    a.op(ALU | LSH | K, 2)
    a.op(ALU | ADD | X)
    a.op(ST, M_L4)
    a.op(MISC | TAX)


def symmetric_hash_reference(src: int, dst: int, sport: int | None, dport: int | None) -> int:
    """What `program` returns for an IPv4 flow (for tests)."""
    h = src ^ dst
    if sport is not None and dport is not None:
        h ^= sport ^ dport
    h = (h * 0x9E3779B1) & 0xFFFFFFFF
    return h ^ (h >> 16)
