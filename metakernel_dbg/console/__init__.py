"""The console tracer: pdb-like prompts driving the shared debug session."""
