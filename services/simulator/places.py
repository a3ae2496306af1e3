"""Where the simulated traffic happens and who is in it: facilities in different timezones
with their statutes, synthetic names, the agencies that file requests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facility:
    jurisdiction: str
    id: str
    name: str
    timezone: str
    statutes: tuple[str, ...]


FACILITIES = (
    Facility(
        "us-mn-hennepin",
        "hcadc",
        "Hennepin County Adult Detention Center",
        "America/Chicago",
        ("609.52", "609.2231", "169A.20", "152.025", "609.582"),
    ),
    Facility(
        "us-ca-los-angeles",
        "mcj",
        "Men's Central Jail",
        "America/Los_Angeles",
        ("PC 211", "PC 459", "PC 484", "PC 245(a)(1)", "VC 23152"),
    ),
    Facility(
        "us-il-cook",
        "ccdoc",
        "Cook County Jail",
        "America/Chicago",
        ("720 ILCS 5/16-1", "720 ILCS 5/12-3.05", "625 ILCS 5/11-501"),
    ),
    Facility(
        "us-or-multnomah",
        "mcdc",
        "Multnomah County Detention Center",
        "America/Los_Angeles",
        ("ORS 164.055", "ORS 163.160", "ORS 813.010"),
    ),
    Facility(
        "us-az-maricopa",
        "lbj",
        "Lower Buckeye Jail",
        "America/Phoenix",
        ("ARS 13-1802", "ARS 13-1203", "ARS 28-1381"),
    ),
    Facility(
        "us-fl-miami-dade",
        "tgk",
        "Turner Guilford Knight Correctional Center",
        "America/New_York",
        ("FS 812.014", "FS 784.03", "FS 316.193"),
    ),
)
FIRST_NAMES = (
    "Avery",
    "Jordan",
    "Riley",
    "Morgan",
    "Casey",
    "Quinn",
    "Rowan",
    "Emerson",
    "Sage",
    "Parker",
    "Reese",
    "Skyler",
    "Dakota",
    "Hayden",
    "Marlowe",
    "Ellis",
)
LAST_NAMES = (
    "Almanza",
    "Brightwater",
    "Castellano",
    "Dunmore",
    "Everhart",
    "Fairbairn",
    "Galloway",
    "Holloway",
    "Ibarra",
    "Jessup",
    "Kettering",
    "Lindqvist",
)
AGENCIES = (("dhs-ice", 0.92), ("usms", 0.08))
LEVELS = ("felony", "misdemeanor", "misdemeanor", "infraction")
