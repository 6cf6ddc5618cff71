"""The call plane: the router, the signed wire format, causal ordering, transports."""
