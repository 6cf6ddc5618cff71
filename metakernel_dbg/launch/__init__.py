"""How child kernels start: jupyter_client children, the warm pool, the fork server."""
