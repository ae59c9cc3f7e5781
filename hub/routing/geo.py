"""Geography of makers and labs: great-circle distance (they are points on a sphere, and
'nearest' means along it), and the grid that blurs a maker's place wherever it is shown to
anyone but the maker."""

import math
from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = radians(lat1), radians(lat2)
    dphi, dlam = phi2 - phi1, radians(lon2 - lon1)
    a = sin(dphi / 2) ** 2 + cos(phi1) * cos(phi2) * sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))


def cell_index(value: float, step: float) -> int:
    # the epsilon keeps 41.40 / 0.01 (4139.999...) in cell 4140, as a person would count it
    return math.floor(value / step + 1e-9)


def snap(value: float, step: float) -> float:
    """The centre of the grid cell of size `step` holding `value` (used to blur makers' places)."""
    return round((cell_index(value, step) + 0.5) * step, 6)
