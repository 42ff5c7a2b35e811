"""The live sensing service (`nps-sensor run`): capture workers, reports on schedule, status."""
