"""Synthetic patients: French names, birth dates, INS-like identifiers (NIR with a valid key)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

_FIRST = {
    "1": ["Jean", "Pierre", "Louis", "Lucas", "Hugo", "Thomas", "Nicolas", "Julien", "Antoine", "Mathis", "Gabriel", "Yanis"],
    "2": ["Marie", "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah", "Julie", "Claire", "Anaïs", "Louise"],
}
_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "Lefèvre",
    "Lebrun",
    "Marchand",
    "Duval",
    "Lemoine",
    "Leclerc",
    "Guerin",
    "Boucher",
]
_DEPARTMENTS = ["14", "50", "61", "76", "27", "59", "62", "80", "44", "49", "72", "85"]


def nir_key(nir13: str) -> str:
    """The two-digit NIR control key: 97 - (number mod 97)."""
    return f"{97 - int(nir13) % 97:02d}"


def generate(count: int = 1000, seed: int = 2025) -> list[dict[str, str]]:
    rng = random.Random(seed)
    patients = []
    for index in range(count):
        sex = rng.choice("12")
        year, month = rng.randint(1930, 2020), rng.randint(1, 12)
        department = rng.choice(_DEPARTMENTS)
        nir13 = f"{sex}{year % 100:02d}{month:02d}{department}{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
        first, last = rng.choice(_FIRST[sex]), rng.choice(_LAST)
        patients.append(
            {
                "id": f"pat-{index + 1:04d}",
                "ins": nir13 + nir_key(nir13),
                "first_name": first,
                "last_name": last,
                "birth_date": f"{year}-{month:02d}-{rng.randint(1, 28):02d}",
                "phone": f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                "email": f"{first.lower()}.{last.lower()}{index}@example.fr".replace("é", "e").replace("ï", "i").replace("è", "e"),
            }
        )
    return patients


def create_directory(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE patients (id TEXT PRIMARY KEY, ins TEXT, first_name TEXT, last_name TEXT,"
            " birth_date TEXT, phone TEXT, email TEXT)"
        )
        db.executemany("INSERT INTO patients VALUES (:id, :ins, :first_name, :last_name, :birth_date, :phone, :email)", generate())
        db.execute("CREATE INDEX patients_by_name ON patients (last_name)")
