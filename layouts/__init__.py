"""Mesh layouts: floorplan (placement), wiring (heater metal and pads), mesh_layout (the cells), extract (reading a
layout back: the one extractor), lvs (layout versus schematic), preview (PNG), readback (GDS in)."""
