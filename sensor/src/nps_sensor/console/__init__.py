"""`nps-sensor console`: the appliance's own screen (tty1, serial line)."""
