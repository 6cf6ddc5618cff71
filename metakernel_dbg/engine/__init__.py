"""Functions and renders: the registry, child instances, the render lifecycle."""
