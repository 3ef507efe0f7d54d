"""Pincodes and distances. No geocoding service is reachable, so the demo pincodes ship with
their coordinates (core/data/pincodes.csv); an address without coordinates falls back to them."""

import csv
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class PincodeInfo:
    pincode: str
    area: str
    city: str
    lat: Decimal
    lng: Decimal


@cache
def pincode_table() -> dict[str, PincodeInfo]:
    path = Path(__file__).parent / "data" / "pincodes.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["pincode"]: PincodeInfo(
                row["pincode"], row["area"], row["city"], Decimal(row["lat"]), Decimal(row["lng"])
            )
            for row in csv.DictReader(handle)
        }


def pincode_coordinates(pincode: str) -> tuple[Decimal, Decimal] | None:
    info = pincode_table().get(str(pincode))
    return (info.lat, info.lng) if info else None


def haversine_km(lat1, lng1, lat2, lng2) -> float:
    """Great-circle distance. A float is right here: distance is a ranking input, never money."""
    phi1, phi2 = math.radians(float(lat1)), math.radians(float(lat2))
    dphi = phi2 - phi1
    dlmb = math.radians(float(lng2) - float(lng1))
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))
