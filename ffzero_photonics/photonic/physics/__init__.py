"""Physics of a buildable chip in SI units: detection, heaters, thermal crosstalk, power budget, lab time, EO activation.

Each module is pure numpy plus one frozen parameter dataclass that maps 1:1 to a
TOML table ([detector], [heaters], [thermal], [budget], [clock], [activation]);
docs/platform_defaults.md lists every default value with its unit and source. ``figures`` draws
them (matplotlib) for run directories.
"""
