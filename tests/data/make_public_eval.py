#!/usr/bin/env python3
"""Builds the independent redaction evaluation set from public data nobody on the team wrote.

Sentences: the 200-odd English templates of Microsoft's presidio-evaluator (MIT licence,
`presidio_evaluator/data_generator/raw_data/templates.txt`), filled with values in six locales
from Mimesis (MIT licence: names, patronymics, street addresses, flats, postcodes, cities,
phone numbers, e-mail addresses, cards, IPs, URLs, dates) and from presidio-evaluator's
`FakeNameGenerator.com_3000.csv` (names and street addresses of 3,000 people of many
nationalities). Rows without personal data: Mimesis's own sentences in Russian, Persian, German,
French, Turkish and English (not its film quotes, which address named characters unlabelled),
and templates that hold only cities, countries,
companies, jobs, ages and dates.

Held out: every template whose SHA-256 starts with a byte below 77 (three in ten) and every
FakeNameGenerator row with an odd number go only to `pii_public_heldout.jsonl`; the rest to
`pii_public_tune.jsonl`. Tune against the first; report the second.

    pip install presidio-evaluator==0.3.2 mimesis==22.2.0 faker==40.63.0
    python3 tests/data/make_public_eval.py

Labels: PERSON for any name placeholder (a title before it is not part of the span), ADDRESS
for a full address or a house number with its street (with the flat that follows), PHONE,
EMAIL, CARD, IBAN, IP, URL, and NATIONAL_ID for US social security and driving-licence numbers.
Templates that name a street without a house number are left out: a street alone is not an
address by the definition the gateway uses.
"""

import csv
import hashlib
import json
import os
import random
import re
from importlib import resources

from faker import Faker
from mimesis import Address, Datetime, Finance, Internet, Locale, Payment, Person, Text

HERE = os.path.dirname(os.path.abspath(__file__))
LOCALES = {"ru": Locale.RU, "fa": Locale.FA, "de": Locale.DE, "fr": Locale.FR, "tr": Locale.TR, "en": Locale.EN}
FAKER_IBAN = {"ru": "ru_RU", "fa": "fa_IR", "de": "de_DE", "fr": "fr_FR", "tr": "tr_TR", "en": "en_GB"}

RAW = resources.files("presidio_evaluator") / "data_generator" / "raw_data"
TEMPLATES = [
    t.strip().replace("\\n", "\n")
    for t in (RAW / "templates.txt").read_text(encoding="utf-8").splitlines()
    if t.strip()
]
with (RAW / "FakeNameGenerator.com_3000.csv").open(encoding="utf-8-sig") as f:
    PEOPLE = list(csv.DictReader(f))
with (RAW / "us_driver_licenses.csv").open(encoding="utf-8") as f:
    LICENCES = [r["us_driver_license"] for r in csv.DictReader(f)]

NAME = {"person", "name", "first_name", "last_name", "name_female", "name_male", "first_name_male",
        "first_name_female", "first_name_nonbinary", "last_name_male", "last_name_female"}
TYPES = {"phone_number": "PHONE", "email": "EMAIL", "credit_card_number": "CARD", "iban": "IBAN",
         "ip_address": "IP", "url": "URL", "ssn": "NATIONAL_ID", "us_driver_license": "NATIONAL_ID"}


def held_out_template(t):
    return hashlib.sha256(t.encode()).digest()[0] < 77


def digits(fmt, rng):
    return "".join(str(rng.randint(0, 9)) if c == "#" else rng.choice("ABCDEFGH") if c == "@" else c for c in fmt)


class Values:
    def __init__(self, loc, seed, held_out):
        self.loc = loc
        self.rng = random.Random(seed)
        self.person = Person(LOCALES[loc], seed=seed)
        self.address = Address(LOCALES[loc], seed=seed)
        self.internet = Internet(seed=seed)
        self.payment = Payment(seed=seed)
        self.dt = Datetime(LOCALES[loc], seed=seed)
        self.finance = Finance(LOCALES[loc], seed=seed)
        self.faker = Faker(FAKER_IBAN[loc])
        self.faker.seed_instance(seed)
        self.us = Faker("en_US")
        self.us.seed_instance(seed)
        people = [p for p in PEOPLE if (int(p["Number"]) % 2 == 1) == held_out]
        # A third of the rows take their name and street from FakeNameGenerator instead.
        self.fng = self.rng.choice(people) if self.rng.random() < 0.33 else None
        ds = json.loads((resources.files("mimesis") / "datasets" / loc / "address.json").read_text("utf-8"))
        self.flat_fmts = ds["secondary_address_fmt"]

    def first(self, gender=None):
        if self.fng:
            return self.fng["GivenName"]
        return self.person.first_name()

    def last(self):
        if self.fng:
            return self.fng["Surname"]
        return self.person.last_name()

    def full(self):
        if self.fng:
            return f'{self.fng["GivenName"]} {self.fng["Surname"]}'
        if self.loc == "ru" and self.rng.random() < 0.3:
            return f"{self.person.first_name()} {self.person.patronymic()} {self.person.last_name()}"
        if self.loc == "ru" and self.rng.random() < 0.3:
            return f"{self.person.last_name()} {self.person.first_name()}"
        return self.person.full_name()

    def street(self):
        if self.fng:
            return self.fng["StreetAddress"]
        return self.address.address()

    def flat(self):
        return digits(self.rng.choice(self.flat_fmts), self.rng)

    def full_address(self):
        street = self.street()
        if self.fng:
            return f'{street}, {self.fng["ZipCode"]} {self.fng["City"]}'
        if self.rng.random() < 0.5:
            street = f"{street}, {self.flat()}"
        return f"{street}, {self.address.postal_code()} {self.address.city()}"

    def value(self, key):
        if key in NAME:
            if key in ("person", "name", "name_female", "name_male"):
                return self.full(), "PERSON"
            if key.startswith("first_name"):
                return self.first(), "PERSON"
            return self.last(), "PERSON"
        if key == "address":
            return self.full_address(), "ADDRESS"
        if key == "phone_number":
            return self.person.telephone(), "PHONE"
        if key == "email":
            return self.person.email(), "EMAIL"
        if key == "credit_card_number":
            return self.payment.credit_card_number(), "CARD"
        if key == "iban":
            try:
                return self.faker.iban(), "IBAN"
            except AttributeError:
                return Faker("de_DE").iban(), "IBAN"
        if key == "ip_address":
            return (self.internet.ip_v4() if self.rng.random() < 0.7 else self.internet.ip_v6()), "IP"
        if key == "url":
            return self.internet.url(), "URL"
        if key == "ssn":
            return self.us.ssn(), "NATIONAL_ID"
        if key == "us_driver_license":
            return self.rng.choice(LICENCES), "NATIONAL_ID"
        # Unlabelled values: they must come through unchanged.
        if key == "city":
            return (self.fng["City"] if self.fng else self.address.city()), None
        if key == "country":
            return self.address.country(), None
        if key in ("postcode", "zipcode"):
            return (self.fng["ZipCode"] if self.fng else self.address.postal_code()), None
        if key == "state_abbr":
            return self.us.state_abbr(), None
        if key == "organization":
            return self.finance.company(), None
        if key in ("nationality", "nation_woman", "nation_plural"):
            return self.person.nationality(), None
        if key == "job":
            return self.person.occupation(), None
        if key == "age":
            return str(self.rng.randint(18, 90)), None
        if key == "year":
            return str(self.rng.randint(1950, 2026)), None
        if key == "day_of_week":
            return self.dt.day_of_week(), None
        if key == "date_time":
            return self.dt.formatted_datetime(), None
        if key == "date_of_birth":
            return self.dt.formatted_date(), None
        if key == "secondary_address":
            return self.flat(), None
        if key in ("prefix", "prefix_male", "prefix_female"):
            return self.person.title(), None
        raise KeyError(key)


SLOT = re.compile(r"\{\{([a-z_]+)\}\}")
# A house number and its street (and a flat right after) are one address.
STREET = re.compile(
    r"(\{\{secondary_address\}\} )?\{\{building_number\}\} \{\{street_name\}\}((,| |\n ?)\{\{secondary_address\}\})?"
)


def fill(template, v):
    text, spans = "", []
    rest = STREET.sub("{{street_address}}", template)
    pos = 0
    for m in SLOT.finditer(rest):
        text += rest[pos:m.start()]
        key = m.group(1)
        if key == "street_address":
            value = v.street()
            if "secondary_address" in m.group(0) or v.rng.random() < 0.3:
                value = f"{value}, {v.flat()}"
            label = "ADDRESS"
        else:
            value, label = v.value(key)
        start = len(text)
        text += value
        if label:
            spans.append({"start": start, "end": len(text), "type": label})
        pos = m.end()
    text += rest[pos:]
    return text, spans


def usable(t):
    if re.search(r"(?<!\{)\{[a-z_]+\}(?!\})", t):
        return False
    # A street named without a house number is not an address here.
    return "{{street_name}}" not in STREET.sub("", t)


def negatives(loc):
    ds = json.loads((resources.files("mimesis") / "datasets" / loc / "text.json").read_text("utf-8"))
    # Only the encyclopaedic sentences: the quotes are film lines that address named characters
    # ("Stella! Hey, Stella!") and carry no labels.
    return [s for s in ds.get("text", []) if len(s) > 3]


def build(held_out, rows_per_template, seed0):
    out = []
    seed = seed0
    for t in TEMPLATES:
        if not usable(t) or held_out_template(t) != held_out:
            continue
        for _ in range(rows_per_template):
            loc = random.Random(seed).choice(list(LOCALES))
            text, spans = fill(t, Values(loc, seed, held_out))
            out.append({"text": text, "spans": spans, "locale": loc})
            seed += 1
    for loc in LOCALES:
        for i, s in enumerate(negatives(loc)):
            if (hashlib.sha256(s.encode()).digest()[0] < 77) == held_out:
                out.append({"text": s, "spans": [], "locale": loc})
    seen = set()
    out = [r for r in out if not (r["text"] in seen or seen.add(r["text"]))]
    random.Random(seed0).shuffle(out)
    return out


def write(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("pii_public_tune.jsonl", build(False, 12, 1_000_000))
    write("pii_public_heldout.jsonl", build(True, 12, 2_000_000))
