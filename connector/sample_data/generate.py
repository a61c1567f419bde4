"""Regenerate the sample data shipped with cx360 (deterministic: a fixed seed).

Run ``python -m connector.sample_data.generate`` after changing it; the files it writes are
committed and read by the demo, the sandbox CRM's seed and the tests.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEED = 360
# The end of the sample period; the demo and tests pass this as ``now``.
PERIOD_END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERIOD_DAYS = 300

ACCOUNTS = [
    # (key, name, domain, country, mood) mood shifts the score distribution of its contacts
    ("acme", "Acme Maschinenbau GmbH", "acme-maschinenbau.de", "DE", 2),
    ("nordlicht", "Nordlicht Logistik AG", "nordlicht-logistik.de", "DE", -2),
    ("brightwave", "Brightwave Analytics Ltd", "brightwave.co.uk", "GB", 1),
    ("kessler", "Kessler & Söhne KG", "kessler-soehne.de", "DE", 0),
    ("tidepool", "Tidepool Software Inc", "tidepool.io", "US", 3),
    ("alpenrad", "Alpenrad Fahrradtechnik GmbH", "alpenrad.at", "AT", -1),
    ("meridian", "Meridian Health Partners", "meridianhealth.com", "US", 0),
    ("vogelsang", "Vogelsang Bau GmbH", "vogelsang-bau.de", "DE", -3),
]

FIRST = [
    "Anna",
    "Lukas",
    "Sophie",
    "Jonas",
    "Marie",
    "Felix",
    "Laura",
    "Paul",
    "Emma",
    "Leon",
    "Hannah",
    "Tim",
    "Clara",
    "Ben",
    "Julia",
    "Noah",
    "Olivia",
    "James",
    "Grace",
    "Oliver",
    "Mia",
    "Elias",
    "Lea",
    "David",
    "Sarah",
    "Max",
    "Nina",
    "Tom",
    "Eva",
    "Finn",
    "Amelia",
    "Harry",
    "Isla",
    "Jakob",
    "Lina",
    "Moritz",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hall",
    "Green",
    "Baker",
    "Adams",
    "Keller",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Lange",
    "Krüger",
    "Werner",
    "Lehmann",
    "Schulz",
    "Jäger",
]

COMMENTS_DE = {
    "promoter": [
        "Sehr schnelle Hilfe vom Support, danke!",
        "Top Beratung, gerne wieder.",
        "Die neue Version spart uns jede Woche Stunden.",
        "Zuverlässig wie immer.",
    ],
    "passive": [
        "Im Großen und Ganzen gut, die Rechnungsstellung ist umständlich.",
        "Solide, aber der Preis ist hoch.",
        "Funktioniert, mehr nicht.",
    ],
    "detractor": [
        "Lieferung kam zwei Wochen zu spät, keiner hat sich gemeldet.",
        "Support reagiert nicht, wir überlegen zu wechseln.",
        "Zu viele Fehler seit dem letzten Update.",
    ],
}
COMMENTS_EN = {
    "promoter": [
        "Great onboarding, the team really listened.",
        "Love the reporting features.",
        "Fast answers every time we call.",
    ],
    "passive": ["Good product, but the UI feels dated.", "Okay overall, onboarding was slow."],
    "detractor": [
        "Billing errors three months in a row.",
        "Nobody called back about our outage.",
        "Too expensive for what we get.",
    ],
}
RATING_COMMENTS = [
    "Angenehme Zusammenarbeit, klare Ansprechpartner.",
    "Viel Potenzial, aber ständige Eskalationen.",
    "Great to work with, growing fast.",
    "Schwierige Abstimmung, viele Nachforderungen.",
    "Expanding to two new sites next year.",
    "",
]
EMPLOYEES = [
    "k.berger@cx360-demo.example",
    "s.yilmaz@cx360-demo.example",
    "m.ono@cx360-demo.example",
    "t.novak@cx360-demo.example",
    "r.lindqvist@cx360-demo.example",
    "j.meier@cx360-demo.example",
]
TOUCHPOINTS = ["onboarding", "support", "renewal", "quarterly"]
CHANNELS = ["email", "in_app", "phone"]


def _band(score: int) -> str:
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


def _nps_score(rng: random.Random, mood: int) -> int:
    base = rng.gauss(7.6 + mood * 0.6, 2.0)
    return max(0, min(10, round(base)))


def _ascii(text: str) -> str:
    for a, b in (
        ("ä", "ae"),
        ("ö", "oe"),
        ("ü", "ue"),
        ("ß", "ss"),
        ("Ä", "Ae"),
        ("Ö", "Oe"),
        ("Ü", "Ue"),
        (" & ", "-"),
        (" ", ""),
    ):
        text = text.replace(a, b)
    return text.lower()


def generate() -> None:
    rng = random.Random(SEED)
    accounts: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    ratings: list[dict[str, Any]] = []
    names = [(f, la) for f in FIRST for la in LAST]
    rng.shuffle(names)
    for key, name, domain, country, mood in ACCOUNTS:
        accounts.append({"key": key, "name": name, "domain": domain, "country": country})
        for _ in range(rng.randint(3, 6)):
            first, last = names.pop()
            email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
            contacts.append(
                {
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "account_domain": domain,
                    "mood": mood,
                }
            )
    # Three contacts whose email will not be found in the CRM (unmatched on purpose).
    for first, last, domain in (
        ("Petra", "Unbekannt", "gmx.de"),
        ("Kim", "Lee", "gmail.com"),
        ("Sam", "Rivera", "outlook.com"),
    ):
        contacts.append(
            {
                "email": f"{_ascii(first)}.{_ascii(last)}@{domain}",
                "first_name": first,
                "last_name": last,
                "account_domain": "",
                "mood": 0,
                "unknown": True,
            }
        )

    for c_index, contact in enumerate(contacts):
        german = contact["email"].endswith((".de", ".at")) or c_index % 5 == 0
        comments = COMMENTS_DE if german else COMMENTS_EN
        n = rng.randint(3, 11)
        for i in range(n):
            kind = "nps" if rng.random() < 0.72 else "csat"
            days_ago = rng.uniform(0, PERIOD_DAYS)
            answered = PERIOD_END - timedelta(days=days_ago, minutes=rng.randint(0, 600))
            answered = answered.replace(second=0, microsecond=0)
            if kind == "nps":
                score = _nps_score(rng, contact["mood"])
                band = _band(score)
            else:
                score = max(1, min(5, round(rng.gauss(3.9 + contact["mood"] * 0.3, 0.9))))
                band = "promoter" if score >= 4 else "detractor" if score <= 2 else "passive"
            comment = rng.choice(comments[band]) if rng.random() < 0.55 else None
            item = {
                "source": "sample",
                "external_id": f"s-{c_index:03d}-{i:02d}",
                "kind": kind,
                "score": score,
                "email": contact["email"],
                "answered_at": answered.isoformat().replace("+00:00", "Z"),
                "touchpoint": rng.choice(TOUCHPOINTS),
                "channel": rng.choice(CHANNELS),
            }
            if contact["account_domain"]:
                item["account_domain"] = contact["account_domain"]
            if comment:
                item["comment"] = comment
            responses.append(item)
        if contact.get("unknown"):
            continue
        for employee in rng.sample(EMPLOYEES, rng.randint(0, 3)):
            for r in range(rng.randint(1, 2)):
                rated = PERIOD_END - timedelta(days=rng.uniform(0, 200))
                rel = max(0, min(10, round(rng.gauss(7 + contact["mood"] * 0.5, 2))))
                pot = max(0, min(10, round(rng.gauss(6.5 - contact["mood"] * 0.3, 2.2))))
                ratings.append(
                    {
                        "source": "sample",
                        "external_id": f"r-{c_index:03d}-{employee.split('@')[0]}-{r}",
                        "employee": employee,
                        "email": contact["email"],
                        "relationship": rel,
                        "potential": pot,
                        "comment": rng.choice(RATING_COMMENTS) or None,
                        "rated_at": rated.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                    }
                )
    responses.sort(key=lambda r: r["answered_at"])
    ratings.sort(key=lambda r: r["rated_at"])
    with open(HERE / "accounts.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["key", "name", "domain", "country"])
        writer.writeheader()
        writer.writerows(accounts)
    with open(HERE / "contacts.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["email", "first_name", "last_name", "account_domain", "in_crm"]
        )
        writer.writeheader()
        for c in contacts:
            writer.writerow(
                {
                    "email": c["email"],
                    "first_name": c["first_name"],
                    "last_name": c["last_name"],
                    "account_domain": c["account_domain"],
                    "in_crm": "no" if c.get("unknown") else "yes",
                }
            )
    for name, rows in (("responses.jsonl", responses), ("ratings.jsonl", ratings)):
        with open(HERE / name, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(
                    json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False)
                    + "\n"
                )

    write_deals(generate_deals())


#: Deals are dated relative to the day they are seeded (``closed_days_ago``), so the demo's
#: won deals stay in the revenue window whenever it runs.
DEAL_STAGES = ("won", "lost", "open")


def generate_deals() -> list[dict[str, Any]]:
    """Deals of the sample accounts (their own random stream, so the other files stay as they
    are): won deals in the last year, one won before it, lost and open ones; the last account
    has none won, so its revenue is 0."""
    rng = random.Random(SEED + 22)
    deals: list[dict[str, Any]] = []
    for index, (key, name, domain, _, _) in enumerate(ACCOUNTS):
        short = name.split()[0]
        won = 0 if index == len(ACCOUNTS) - 1 else rng.randint(1, 4)
        plan = [("won", rng.randint(1, 330)) for _ in range(won)]
        plan += [("won", rng.randint(400, 700)), ("lost", rng.randint(1, 300))]
        plan += [("open", -rng.randint(10, 90))]  # expected to close in the future
        for number, (stage, days_ago) in enumerate(plan, start=1):
            deals.append(
                {
                    "key": f"{key}-{number}",
                    "account_domain": domain,
                    "name": f"{short} deal {number}",
                    "amount": f"{rng.randrange(5_000, 120_000, 250)}.00",
                    "stage": stage,
                    "closed_days_ago": days_ago,
                }
            )
    return deals


def write_deals(deals: list[dict[str, Any]]) -> None:
    with open(HERE / "deals.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh,
            fieldnames=["key", "account_domain", "name", "amount", "stage", "closed_days_ago"],
        )
        writer.writeheader()
        writer.writerows(deals)


if __name__ == "__main__":
    generate()
