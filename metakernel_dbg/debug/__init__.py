"""The debugger: the sans-IO merge core, the debug session, and debug backends."""
