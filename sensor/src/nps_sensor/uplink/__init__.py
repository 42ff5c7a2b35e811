"""The sensor's side of the management hub: registration, heartbeats, commands,
configuration and the upload of the report spool (`nps-sensor register`, `nps-sensor uplink`)."""
