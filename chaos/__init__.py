"""`make chaos`: the engine under real faults (see chaos/__main__.py)."""
