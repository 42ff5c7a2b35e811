"""The appliance's settings (network, proxy, sniffing, identity) and the files they make."""
