"""freeenergy: the mathematics of the project."""
