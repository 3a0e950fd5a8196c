"""The process's runtime adapters: systemd (sd_notify, watchdog health, journal log levels)
and Prometheus metrics. Standard library and prometheus_client only; no mailbot services."""
