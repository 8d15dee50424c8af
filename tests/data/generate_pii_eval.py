#!/usr/bin/env python3
"""Generate the labelled PII-redaction evaluation set ``pii_eval.jsonl``.

Each output line is a JSON object::

    {"text": "...", "spans": [{"start": S, "end": E, "type": "T"}]}

``start``/``end`` are offsets in Unicode code points (Python ``str`` indices), ``end``
exclusive; a span covers exactly the PII value as written (a phone's leading ``+`` or
trunk prefix and inner separators included, surrounding punctuation excluded).
Types: EMAIL, PHONE, CARD, IBAN, IP, NATIONAL_ID, URL, PERSON.

The messages are customer chat messages in English, Russian, Persian, German, French,
Turkish and Ukrainian. About a quarter are hard negatives with no spans (dates, times,
amounts, order/invoice/tracking numbers, ages, room numbers, versions, quantities, plain
links, and card / IBAN / INN / national-code look-alikes whose check digits are wrong).

Every labelled value is valid by its own rules: phones pass
``phonenumbers.is_valid_number`` (national formats parsed with their region), cards
pass Luhn and come from real issuer ranges, IBANs have correct lengths and mod-97 check
digits, national ids have correct check digits and a keyword just before them.

The output is deterministic for a given ``phonenumbers`` version (fixed seed).

Usage:  python3 generate_pii_eval.py [--out PATH]
        (default output: pii_eval.jsonl next to this script)

Requires only the standard library and ``phonenumbers`` (pip install phonenumbers).
"""

import argparse
import json
import os
import random
import re
import sys
from collections import Counter

try:
    import phonenumbers
except ImportError:  # pragma: no cover - environment check
    sys.stderr.write(
        "error: this script needs the 'phonenumbers' package.\n"
        "       install it with:  pip install phonenumbers\n"
    )
    sys.exit(2)

SEED = 20240115
rng = random.Random(SEED)

FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")  # U+06F0..U+06F9
AR_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")  # U+0660..U+0669
TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")

LANGS = ["en", "ru", "fa", "de", "fr", "tr", "uk"]
SAMPLES_PER_LANG = {"en": 115, "ru": 140, "fa": 140, "de": 75, "fr": 65, "tr": 70, "uk": 70}
NEGATIVE_SHARE = 0.25
TYPES = ["EMAIL", "PHONE", "CARD", "IBAN", "IP", "NATIONAL_ID", "URL", "PERSON"]
STRUCTURED = ["EMAIL", "PHONE", "CARD", "IBAN", "IP", "NATIONAL_ID"]
ID_KEYWORDS = ["ИНН", "СНИЛС", "کد ملی", "کد ملی من", "national code", "code melli", "INN"]


def digits(n, first_nonzero=False):
    s = "".join(rng.choice("0123456789") for _ in range(n))
    if first_nonzero and n and s[0] == "0":
        s = rng.choice("123456789") + s[1:]
    return s


_decks = {}


def deal(key, options):
    """Draw from a shuffled deck holding each value `weight` times (options: list of
    (int weight, value)); the deck is refilled when empty. Unlike independent draws this
    guarantees every option shows up in proportion, even in small samples."""
    deck = _decks.get(key)
    if not deck:
        deck = [v for w, v in options for _ in range(w)]
        rng.shuffle(deck)
        _decks[key] = deck
    return deck.pop()


def pick(key, options):
    """Evenly cycle through the written variants in `options` (see deal)."""
    return options[deal(key, [(1, i) for i in range(len(options))])]


# --------------------------------------------------------------------------- phones

def _ru(sub):
    return sub[:3], sub[3:5], sub[5:]


def ph_ru_intl():
    c = rng.choice(["912", "916", "903", "905", "915", "925", "926", "977", "985", "999", "921", "952", "960", "917"])
    s = digits(7)
    a, b, d = _ru(s)
    f = pick("ph_ru_intl-0", [f"+7 {c} {a}-{b}-{d}", f"+7 ({c}) {a}-{b}-{d}", f"+7{c}{s}", f"+7 {c} {a} {b} {d}"])
    return f, "RU", False


def ph_ru_nat():
    c = rng.choice(["912", "916", "903", "905", "915", "925", "926", "977", "985", "999", "921", "952", "960", "917"])
    s = digits(7)
    a, b, d = _ru(s)
    f = pick("ph_ru_nat-0", [f"8 ({c}) {a}-{b}-{d}", f"8 {c} {a} {b} {d}", f"8{c}{s}", f"8-{c}-{a}-{b}-{d}"])
    return f, "RU", True


def ph_ru_land():
    c = rng.choice(["495", "499", "812", "343", "383", "846"])
    s = digits(7, first_nonzero=True)
    a, b, d = _ru(s)
    if rng.random() < 0.5:
        return f"+7 ({c}) {a}-{b}-{d}", "RU", False
    return f"8 ({c}) {a}-{b}-{d}", "RU", True


def ph_kz_intl():
    c = rng.choice(["700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"])
    s = digits(7)
    f = pick("ph_kz_intl-0", [f"+7 {c} {s[:3]} {s[3:]}", f"+7 ({c}) {s[:3]}-{s[3:5]}-{s[5:]}", f"+7{c}{s}"])
    return f, "KZ", False


IR_MOBILE = ["912", "913", "914", "915", "916", "917", "918", "919", "935", "936", "937", "938", "939",
             "901", "902", "903", "905", "990", "991", "921", "922", "930", "933"]


def ph_ir_intl():
    c = rng.choice(IR_MOBILE)
    s = digits(7)
    return pick("ph_ir_intl-0", [f"+98 {c} {s[:3]} {s[3:]}", f"+98{c}{s}", f"+98 {c} {s}"]), "IR", False


def ph_ir_nat():
    c = rng.choice(IR_MOBILE)
    s = digits(7)
    return pick("ph_ir_nat-0", [f"0{c}{s}", f"0{c} {s[:3]} {s[3:]}", f"0{c}-{s[:3]}-{s[3:]}"]), "IR", True


def ph_ir_land():
    c = rng.choice(["21", "31", "51", "71", "41"])
    s = digits(8, first_nonzero=True)
    return pick("ph_ir_land-0", [f"0{c}-{s}", f"0{c} {s[:4]} {s[4:]}", f"+98 {c} {s[:4]} {s[4:]}"]), "IR", None


DE_MOBILE = ["151", "152", "157", "160", "162", "163", "170", "171", "172", "173", "174", "175", "176",
             "177", "178", "179", "1511", "1520"]


def ph_de_mob_intl():
    c = rng.choice(DE_MOBILE)
    s = digits(rng.choice([7, 8]))
    return pick("ph_de_mob_intl-0", [f"+49 {c} {s}", f"+49{c}{s}"]), "DE", False


def ph_de_mob_nat():
    c = rng.choice(DE_MOBILE)
    s = digits(rng.choice([7, 8]))
    return pick("ph_de_mob_nat-0", [f"0{c} {s}", f"0{c}{s}", f"0{c}/{s}"]), "DE", True


def ph_de_land():
    c = pick("de-city", ["30", "30", "30", "89", "40", "69", "221", "711"])
    s = digits(8 if c == "30" else rng.choice([7, 8]) if len(c) == 2 else 7, first_nonzero=True)
    if rng.random() < 0.7:
        return pick("ph_de_land-0", [f"0{c} {s}", f"0{c}/{s}", f"0{c}-{s}"]), "DE", True
    return f"+49 {c} {s}", "DE", False


def ph_fr_intl():
    first = rng.choice("67" * 3 + "12345")
    s = digits(8)
    pairs = " ".join(s[i:i + 2] for i in range(0, 8, 2))
    return pick("ph_fr_intl-0", [f"+33 {first} {pairs}", f"+33{first}{s}"]), "FR", False


def ph_fr_nat():
    first = rng.choice("67" * 3 + "12345")
    s = digits(8)
    p = [s[i:i + 2] for i in range(0, 8, 2)]
    return pick("ph_fr_nat-0", [f"0{first} " + " ".join(p), f"0{first}." + ".".join(p), f"0{first}{s}",
                       f"0{first} " + " ".join(p)]), "FR", True


TR_MOBILE = ["530", "532", "533", "535", "536", "537", "538", "539", "541", "542", "543", "544", "545",
             "505", "506", "507", "551", "552", "553", "554", "555", "501"]


def ph_tr_intl():
    c = rng.choice(TR_MOBILE)
    s = digits(7, first_nonzero=True)
    return pick("ph_tr_intl-0", [f"+90 {c} {s[:3]} {s[3:5]} {s[5:]}", f"+90{c}{s}", f"+90 ({c}) {s[:3]} {s[3:5]} {s[5:]}"]), "TR", False


def ph_tr_nat():
    c = rng.choice(TR_MOBILE)
    s = digits(7, first_nonzero=True)
    return pick("ph_tr_nat-0", [f"0{c} {s[:3]} {s[3:5]} {s[5:]}", f"0{c}{s}", f"0 {c} {s[:3]} {s[3:5]} {s[5:]}",
                       f"0({c}) {s[:3]} {s[3:5]} {s[5:]}"]), "TR", True


def ph_tr_land():
    c = rng.choice(["212", "216", "312", "232"])
    s = digits(7, first_nonzero=True)
    return f"0{c} {s[:3]} {s[3:5]} {s[5:]}", "TR", True


UA_MOBILE = ["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"]


def ph_ua_intl():
    c = rng.choice(UA_MOBILE)
    s = digits(7)
    return pick("ph_ua_intl-0", [f"+380 {c} {s[:3]} {s[3:]}", f"+380 ({c}) {s[:3]}-{s[3:5]}-{s[5:]}", f"+380{c}{s}"]), "UA", False


def ph_ua_nat():
    c = rng.choice(UA_MOBILE)
    s = digits(7)
    return pick("ph_ua_nat-0", [f"0{c} {s[:3]} {s[3:]}", f"0{c}-{s[:3]}-{s[3:5]}-{s[5:]}", f"0{c}{s}",
                       f"(0{c}) {s[:3]}-{s[3:5]}-{s[5:]}"]), "UA", True


US_AREA = ["212", "646", "718", "917", "415", "310", "312", "617", "202", "305", "404", "713", "206", "702", "512"]


def ph_us_nat():
    a = rng.choice(US_AREA)
    e = rng.choice("23456789") + digits(2)
    s = digits(4)
    return pick("ph_us_nat-0", [f"({a}) {e}-{s}", f"{a}-{e}-{s}", f"({a}) {e}-{s}"]), "US", True


def ph_us_intl():
    a = rng.choice(US_AREA)
    e = rng.choice("23456789") + digits(2)
    s = digits(4)
    return pick("ph_us_intl-0", [f"+1 {a} {e} {s}", f"+1 ({a}) {e}-{s}", f"+1-{a}-{e}-{s}", f"+1{a}{e}{s}"]), "US", False


def ph_gb():
    if rng.random() < 0.75:
        s = "7" + rng.choice("34579") + digits(8)
        if rng.random() < 0.7:
            return f"+44 {s[:4]} {s[4:]}", "GB", False
        return f"0{s[:4]} {s[4:]}", "GB", True
    s = digits(8, first_nonzero=True)
    return f"+44 20 {s[:4]} {s[4:]}", "GB", False


PHONE_FORMATS = {
    "ru_intl": ph_ru_intl, "ru_nat": ph_ru_nat, "ru_land": ph_ru_land, "kz_intl": ph_kz_intl,
    "ir_intl": ph_ir_intl, "ir_nat": ph_ir_nat, "ir_land": ph_ir_land,
    "de_mob_intl": ph_de_mob_intl, "de_mob_nat": ph_de_mob_nat, "de_land": ph_de_land,
    "fr_intl": ph_fr_intl, "fr_nat": ph_fr_nat,
    "tr_intl": ph_tr_intl, "tr_nat": ph_tr_nat, "tr_land": ph_tr_land,
    "ua_intl": ph_ua_intl, "ua_nat": ph_ua_nat,
    "us_nat": ph_us_nat, "us_intl": ph_us_intl, "gb": ph_gb,
}
INTL_EXCLUDE = {"en": {"us_intl", "gb"}, "ru": {"ru_intl"}, "fa": {"ir_intl"}, "de": {"de_mob_intl"},
                "fr": {"fr_intl"}, "tr": {"tr_intl"}, "uk": {"ua_intl", "ru_intl", "kz_intl"}}
INTL_ANY = ["ru_intl", "kz_intl", "ir_intl", "de_mob_intl", "fr_intl", "tr_intl", "ua_intl", "us_intl", "gb"]

PHONE_MIX = {
    "ru": [(3, "ru_intl"), (4, "ru_nat"), (1, "ru_land"), (2, "kz_intl"), (1, "ua_intl")],
    "fa": [(2, "ir_intl"), (6, "ir_nat"), (1, "ir_land"), (1, "INTL")],
    "en": [(3, "us_nat"), (2, "us_intl"), (2, "gb"), (2, "INTL")],
    "de": [(3, "de_mob_intl"), (3, "de_mob_nat"), (3, "de_land"), (1, "INTL")],
    "fr": [(4, "fr_intl"), (5, "fr_nat"), (1, "INTL")],
    "tr": [(4, "tr_intl"), (4, "tr_nat"), (1, "tr_land"), (1, "INTL")],
    "uk": [(4, "ua_intl"), (5, "ua_nat"), (1, "INTL")],
}
# digit script of Iranian national-format mobiles in Persian messages
FA_SCRIPT_MIX = [(6, None), (3, "fa"), (1, "ar")]

phone_format_counter = Counter()


def phone_valid(written, region, national):
    """national: True -> parse with region; False -> international, region must match;
    None -> decide by the leading '+'."""
    ascii_text = written.translate(TO_ASCII)
    if national is None:
        national = not ascii_text.startswith("+")
    try:
        n = phonenumbers.parse(ascii_text, region if national else None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(n):
        return False
    if phonenumbers.region_code_for_number(n) != region:
        return False
    if written != ascii_text:  # the Unicode-digit form must parse the same
        n2 = phonenumbers.parse(written, region if national else None)
        if not phonenumbers.is_valid_number(n2) or n2.national_number != n.national_number:
            return False
    return True


def gen_phone(lang):
    kind = deal("phone-" + lang, PHONE_MIX[lang])
    if kind == "INTL":  # a foreign number: any other country's international format
        kind = deal("phone-intl-" + lang, [(1, k) for k in INTL_ANY if k not in INTL_EXCLUDE[lang]])
    script = deal("fa-script", FA_SCRIPT_MIX) if lang == "fa" and kind == "ir_nat" else None
    for _ in range(2000):
        written, region, national = PHONE_FORMATS[kind]()
        if script == "fa":
            written = written.translate(FA_DIGITS)
        elif script == "ar":
            written = written.translate(AR_DIGITS)
        if phone_valid(written, region, national):
            phone_format_counter[kind + ("_" + script if script else "")] += 1
            return written
    raise RuntimeError(f"could not generate a valid phone for {kind}")


# --------------------------------------------------------------------------- cards

def luhn_ok(num):
    total = 0
    for i, ch in enumerate(reversed(num)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(partial):
    for c in "0123456789":
        if luhn_ok(partial + c):
            return partial + c
    raise AssertionError


IR_BINS = ["603799", "610433", "589210", "589463", "502229", "585947", "627353", "622106"]


def card_number(brand):
    if brand == "visa":
        prefix, length = "4", 16
    elif brand == "mc":
        prefix = str(rng.randint(51, 55)) if rng.random() < 0.6 else str(rng.randint(2221, 2720))
        length = 16
    elif brand == "mir":
        prefix, length = str(rng.randint(2200, 2204)), 16
    elif brand == "amex":
        prefix, length = rng.choice(["34", "37"]), 15
    elif brand == "ir":
        prefix, length = rng.choice(IR_BINS), 16
    else:
        raise ValueError(brand)
    return luhn_complete(prefix + digits(length - 1 - len(prefix)))


def format_card(num, persian=False):
    if len(num) == 15:
        f = rng.choice([f"{num[:4]} {num[4:10]} {num[10:]}", num])
    else:
        g = [num[i:i + 4] for i in range(0, 16, 4)]
        f = rng.choice([" ".join(g), " ".join(g), "-".join(g), num])
    return f.translate(FA_DIGITS) if persian else f


CARD_MIX = {
    "ru": [(2, "mir"), (1, "visa"), (1, "mc")],
    "uk": [(1, "visa"), (1, "mc")],
    "fa": [(5, "ir"), (1, "visa")],
}
CARD_DEFAULT = [(2, "visa"), (2, "mc"), (1, "amex")]
card_brand_counter = Counter()


def gen_card(lang):
    brand = deal("card-" + lang, CARD_MIX.get(lang, CARD_DEFAULT))
    card_brand_counter[brand] += 1
    num = card_number(brand)
    assert luhn_ok(num)
    persian = lang == "fa" and brand == "ir" and rng.random() < 0.35
    return format_card(num, persian)


def gen_bad_card(lang):
    brand = deal("badcard-" + lang, CARD_MIX.get(lang, [(1, "visa"), (1, "mc")]))
    if brand == "amex":
        brand = "visa"
    num = card_number(brand)
    last = int(num[-1])
    num = num[:-1] + str((last + rng.randint(1, 9)) % 10)
    assert not luhn_ok(num)
    return format_card(num, lang == "fa" and rng.random() < 0.3)


# --------------------------------------------------------------------------- IBAN

def _alnum(n):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(n))


def _letters(n):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))


IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "IT": 27, "ES": 24, "TR": 26, "UA": 29,
                "IR": 26, "RU": 33, "PL": 28}


def bban(country):
    if country == "DE":
        return digits(18, first_nonzero=True)
    if country == "GB":
        return rng.choice(["NWBK", "BARC", "HBUK", "LOYD", "MIDL"]) + digits(14)
    if country == "FR":
        return rng.choice(["30004", "30003", "20041", "10107", "30002"]) + digits(5) + digits(11) + digits(2)
    if country == "NL":
        return rng.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"]) + digits(10)
    if country == "IT":
        return _letters(1) + rng.choice(["03069", "02008", "05034", "01030"]) + digits(5) + digits(12)
    if country == "ES":
        return rng.choice(["2100", "0049", "0182", "2080"]) + digits(16)
    if country == "TR":
        return rng.choice(["00010", "00012", "00046", "00062", "00064"]) + "0" + digits(16)
    if country == "UA":
        return rng.choice(["305299", "322001", "300528", "380805"]) + digits(19)
    if country == "IR":
        return rng.choice(["017", "012", "018", "019", "054", "055", "057", "062", "016", "015"]) + digits(19)
    if country == "RU":
        return "04" + digits(7) + digits(5) + "40817810" + digits(7)
    if country == "PL":
        return digits(24, first_nonzero=True)
    raise ValueError(country)


def iban_mod97(s):
    s = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97


def iban_compact(country):
    b = bban(country)
    check = 98 - iban_mod97(country + "00" + b)
    iban = f"{country}{check:02d}{b}"
    assert len(iban) == IBAN_LENGTHS[country], (country, len(iban))
    assert iban_mod97(iban) == 1
    return iban


def format_iban(iban):
    if rng.random() < 0.55:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


IBAN_HOME = {"ru": "RU", "fa": "IR", "de": "DE", "fr": "FR", "tr": "TR", "uk": "UA", "en": "GB"}
iban_country_counter = Counter()


def iban_country(lang):
    if deal("iban-home-" + lang, [(1, True), (1, False)]):
        return IBAN_HOME[lang]
    return deal("iban-any", [(1, c) for c in sorted(IBAN_LENGTHS)])


def gen_iban(lang):
    country = iban_country(lang)
    iban_country_counter[country] += 1
    return format_iban(iban_compact(country))


def gen_bad_iban(lang):
    country = iban_country(lang)
    good = iban_compact(country)
    while True:
        cc = f"{rng.randint(2, 98):02d}"
        bad = good[:2] + cc + good[4:]
        if iban_mod97(bad) != 1:
            return format_iban(bad)


# --------------------------------------------------------------------------- national ids

def melli_ok(s):
    if len(s) != 10 or not s.isdigit() or len(set(s)) == 1:
        return False
    d = [int(c) for c in s]
    r = sum(d[i] * (10 - i) for i in range(9)) % 11
    return d[9] == (r if r < 2 else 11 - r)


def gen_melli_digits():
    while True:
        s = digits(9)
        d = [int(c) for c in s]
        r = sum(d[i] * (10 - i) for i in range(9)) % 11
        s += str(r if r < 2 else 11 - r)
        if melli_ok(s):
            return s


def inn_check(d, w):
    return sum(a * b for a, b in zip(d, w)) % 11 % 10


W10 = [2, 4, 10, 3, 5, 9, 4, 6, 8]
W11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
W12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]


def inn_ok(s):
    if not s.isdigit():
        return False
    d = [int(c) for c in s]
    if len(s) == 10:
        return inn_check(d[:9], W10) == d[9]
    if len(s) == 12:
        return inn_check(d[:10], W11) == d[10] and inn_check(d[:11], W12) == d[11]
    return False


REGIONS = ["77", "78", "50", "66", "16", "02", "54", "52", "23", "61", "63", "74"]


def gen_inn10():
    d = [int(c) for c in rng.choice(REGIONS) + digits(7)]
    d.append(inn_check(d, W10))
    s = "".join(map(str, d))
    assert inn_ok(s)
    return s


def gen_inn12():
    d = [int(c) for c in rng.choice(REGIONS) + digits(8)]
    d.append(inn_check(d, W11))
    d.append(inn_check(d, W12))
    s = "".join(map(str, d))
    assert inn_ok(s)
    return s


def snils_check(nine):
    total = sum(int(nine[i]) * (9 - i) for i in range(9))
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    r = total % 101
    return 0 if r == 100 else r


def gen_snils():
    while True:
        n = digits(9)
        if int(n) > 1001998:
            break
    c = snils_check(n)
    return f"{n[:3]}-{n[3:6]}-{n[6:]} {c:02d}"


def snils_ok(s):
    m = re.fullmatch(r"(\d{3})-(\d{3})-(\d{3}) (\d{2})", s)
    return bool(m) and snils_check("".join(m.groups()[:3])) == int(m.group(4))


def gen_bad_inn():
    good = gen_inn10() if rng.random() < 0.6 else gen_inn12()
    while True:
        bad = good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
        if not inn_ok(bad):
            return bad


def gen_bad_melli(lang):
    good = gen_melli_digits()
    while True:
        bad = good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
        if not melli_ok(bad):
            return bad.translate(FA_DIGITS) if lang == "fa" and rng.random() < 0.3 else bad


def gen_melli(lang):
    s = gen_melli_digits()
    return s.translate(FA_DIGITS) if lang == "fa" and rng.random() < 0.25 else s


# --------------------------------------------------------------------------- email / ip / url / user

FIRST = {
    "en": ["john", "emily", "michael", "sarah", "david", "jessica", "chris", "laura", "james", "kate"],
    "ru": ["ivan", "anna", "sergey", "olga", "dmitry", "elena", "alexey", "maria", "pavel", "natalia"],
    "fa": ["ali", "sara", "mohammad", "zahra", "reza", "maryam", "hossein", "fatemeh", "amir", "narges"],
    "de": ["lukas", "anna", "jonas", "lea", "felix", "sophie", "max", "laura", "paul", "julia"],
    "fr": ["camille", "lucas", "chloe", "louis", "manon", "hugo", "lea", "antoine", "julie", "thomas"],
    "tr": ["mehmet", "ayse", "mustafa", "fatma", "emre", "zeynep", "burak", "elif", "can", "merve"],
    "uk": ["oksana", "taras", "olena", "andriy", "iryna", "bohdan", "natalia", "yurii", "kateryna", "dmytro"],
}
LAST = {
    "en": ["smith", "johnson", "brown", "miller", "wilson", "taylor", "clark", "walker"],
    "ru": ["petrov", "ivanova", "smirnov", "kuznetsova", "popov", "sokolova", "volkov", "morozova"],
    "fa": ["rezaei", "ahmadi", "hosseini", "mohammadi", "karimi", "moradi", "jafari", "rahimi"],
    "de": ["mueller", "schmidt", "schneider", "fischer", "weber", "wagner", "becker", "hoffmann"],
    "fr": ["martin", "bernard", "dubois", "durand", "leroy", "moreau", "laurent", "girard"],
    "tr": ["yilmaz", "kaya", "demir", "sahin", "celik", "yildiz", "ozturk", "aydin"],
    "uk": ["kovalenko", "shevchenko", "bondarenko", "tkachenko", "melnyk", "kravchenko", "boyko", "koval"],
}
DOMAINS = {
    "en": ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk", "acme-corp.com"],
    "ru": ["yandex.ru", "mail.ru", "gmail.com", "rambler.ru", "bk.ru", "romashka-shop.ru"],
    "fa": ["gmail.com", "yahoo.com", "chmail.ir", "outlook.com", "parsian-co.ir"],
    "de": ["web.de", "gmx.de", "t-online.de", "gmail.com", "posteo.de", "mueller-gmbh.de"],
    "fr": ["orange.fr", "free.fr", "gmail.com", "laposte.net", "sfr.fr", "boutique-exemple.fr"],
    "tr": ["gmail.com", "hotmail.com", "yandex.com.tr", "outlook.com", "ornek-sirket.com.tr"],
    "uk": ["ukr.net", "gmail.com", "i.ua", "meta.ua", "outlook.com"],
}
CYRILLIC_EMAILS = {
    "ru": ["мария@почта.рф", "иван.петров@пример.рф", "ольга@домен.рф", "заказы@магазин.рф",
           "сергей.иванов@почта.рф", "info@ромашка.рф", "анна_к@сайт.рф"],
    "uk": ["олена@пошта.укр", "тарас.коваль@приклад.укр", "info@магазин.укр"],
}
EMAIL_RE = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")


def gen_email(lang):
    if lang in CYRILLIC_EMAILS and rng.random() < 0.18:
        return rng.choice(CYRILLIC_EMAILS[lang])
    f, l = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
    local = rng.choice([f"{f}.{l}", f"{f}{l}{rng.randint(1, 99)}", f"{f[0]}.{l}", f"{f}_{l}",
                        f"{f}{rng.randint(1970, 2005)}", f"{l}.{f}", f"{f}+orders"])
    e = f"{local}@{rng.choice(DOMAINS[lang])}"
    assert EMAIL_RE.match(e), e
    return e


EXCLUDED_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198, 203}


def gen_ipv4():
    while True:
        a = rng.randint(1, 223)
        if a not in EXCLUDED_FIRST_OCTETS:
            break
    return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def gen_ipv6():
    h = lambda: f"{rng.randint(1, 0xffff):x}"  # noqa: E731
    return rng.choice([
        f"2001:db8::{h()}:{h()}:{h()}",
        f"2a02:6b8:{h()}:{h()}::{h()}",
        f"2001:db8:{h()}:{h()}:{h()}:{h()}:{h()}:{h()}",
        f"2a00:1450:4001:{h()}::{h()}",
        f"2001:0db8:85a3:0000:0000:{rng.randint(0x1000, 0xffff):04x}:{rng.randint(0x1000, 0xffff):04x}:{rng.randint(0x1000, 0xffff):04x}",
    ])


def gen_ip(lang):
    return gen_ipv6() if rng.random() < 0.15 else gen_ipv4()


URL_HOSTS = ["crm.romashka-shop.ru", "files.acme-corp.com", "api.partner-store.de", "cdn.bazar-online.ir",
             "portal.mybiz.com.tr", "dashboard.boutique-exemple.fr", "storage.magazyn.com.ua",
             "ftp.example-logistics.com", "admin.shop-example.ru", "reports.mueller-gmbh.de"]


def _token(n, alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return "".join(rng.choice(alphabet) for _ in range(n))


def gen_url(lang):
    host = rng.choice(URL_HOSTS)
    user = rng.choice(FIRST[lang]) + rng.choice(["", "_admin", str(rng.randint(1, 99))])
    pw = _token(rng.randint(8, 14))
    kind = rng.choice(["userpass", "token", "access_token", "api_key", "password", "sig", "code"])
    if kind == "userpass":
        scheme = "ftp" if host.startswith("ftp.") else "https"
        return f"{scheme}://{user}:{pw}@{host}/" + rng.choice(["export/orders.csv", "backup/", "reports/2024/q1.xlsx", ""])
    if kind == "token":
        return f"https://{host}/share/{_token(8)}?token={_token(32)}"
    if kind == "access_token":
        return f"https://{host}/api/v2/orders?access_token={_token(40)}&limit={rng.choice([10, 50, 100])}"
    if kind == "api_key":
        return f"https://{host}/v1/export?format=csv&api_key={_token(32, '0123456789abcdef')}"
    if kind == "password":
        return f"https://{host}/login?user={user}&password={pw}"
    if kind == "sig":
        sig = _token(20) + "%2B" + _token(18) + "%3D"
        return f"https://{host}/files/invoice_{rng.randint(1000, 9999)}.pdf?sv=2022-11-02&se=2024-03-01&sp=r&sig={sig}"
    return f"https://{host}/oauth/callback?code={_token(24)}&state={_token(10)}"


PLAIN_URLS = {
    "en": ["https://shop.acme-corp.com/catalog?page=2&sort=price", "https://www.acme-corp.com/help/returns",
           "https://acme-corp.com/products/4567?color=blue"],
    "ru": ["https://romashka-shop.ru/catalog/divany?page=3", "https://www.romashka-shop.ru/dostavka",
           "https://romashka-shop.ru/product/12345"],
    "fa": ["https://bazar-online.ir/product/dkp-123456/", "https://www.bazar-online.ir/search?q=گوشی",
           "https://bazar-online.ir/landing/offer"],
    "de": ["https://www.mueller-gmbh.de/produkte/schuhe?farbe=rot&groesse=42", "https://mueller-gmbh.de/hilfe/versand"],
    "fr": ["https://www.boutique-exemple.fr/produits/robe-ete?taille=38", "https://boutique-exemple.fr/livraison"],
    "tr": ["https://www.ornek-sirket.com.tr/urun/ayakkabi-123?renk=siyah", "https://ornek-sirket.com.tr/kampanyalar"],
    "uk": ["https://magazyn.com.ua/catalog/telefony?page=2", "https://www.magazyn.com.ua/dostavka"],
}


USER_RE = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{4,31}$")


def gen_user(lang):
    while True:
        f, l = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
        u = rng.choice([f"{f}_{l}", f"{f}{l}", f"{f}_{rng.randint(1, 99)}", f"{l}_{f}{rng.randint(80, 99)}",
                        f"{f.capitalize()}{l.capitalize()}", f"{f}_{l}_shop", f"real_{f}"])
        u = "@" + u
        if USER_RE.match(u) and not u.endswith("_"):
            return u


# --------------------------------------------------------------------------- non-PII fillers

def fa_maybe(s, lang, p=0.4):
    return s.translate(FA_DIGITS) if lang == "fa" and rng.random() < p else s


def gen_date(lang):
    y, m, d = rng.randint(2023, 2025), rng.randint(1, 12), rng.randint(1, 28)
    iso = f"{y}-{m:02d}-{d:02d}"
    dot = f"{d:02d}.{m:02d}.{y}"
    if lang == "en":
        return rng.choice([iso, f"{m:02d}/{d:02d}/{y}", f"{d}/{m}/{y}"])
    if lang in ("ru", "uk", "de", "tr"):
        return rng.choice([dot, dot, iso])
    if lang == "fr":
        return rng.choice([f"{d:02d}/{m:02d}/{y}", iso])
    if lang == "fa":
        jal = f"{rng.randint(1402, 1404)}/{rng.randint(1, 12):02d}/{rng.randint(1, 29):02d}"
        return rng.choice([iso, jal.translate(FA_DIGITS), jal])
    raise ValueError(lang)


def gen_time(lang):
    t = f"{rng.randint(8, 21)}:{rng.choice(['00', '15', '30', '45', '10', '20'])}"
    if lang == "fr" and rng.random() < 0.4:
        t = t.replace(":", "h")
    return fa_maybe(t, lang)


def gen_amount(lang):
    big = rng.randint(1, 9)
    if lang == "ru":
        return rng.choice([f"{big} {rng.randint(100, 999)} 000 руб", f"{rng.randint(1, 99)} {rng.randint(100, 999)} ₽",
                           f"{rng.randint(1, 99)} 000 рублей", f"{rng.randint(1, 9)} {rng.randint(100, 999)},50 руб."])
    if lang == "uk":
        return rng.choice([f"{rng.randint(1, 99)} {rng.randint(100, 999)} грн", f"{rng.randint(100, 999)},00 ₴"])
    if lang == "fa":
        return rng.choice([f"{rng.randint(1, 99)} {rng.randint(100, 999)} 000 تومان",
                           f"{rng.randint(1, 99)}٬{rng.randint(100, 999)}٬000 تومان".translate(FA_DIGITS),
                           f"{rng.randint(1, 9)},{rng.randint(100, 999)},000 ریال",
                           f"{rng.randint(100, 999)} هزار تومان".translate(FA_DIGITS)])
    if lang == "en":
        return rng.choice([f"${rng.randint(1, 9)},{rng.randint(100, 999)}.99", f"${rng.randint(10, 999)}",
                           f"£{rng.randint(10, 999)}.{rng.randint(10, 99)}", f"€{rng.randint(10, 999)}.90"])
    if lang == "de":
        return rng.choice([f"{rng.randint(1, 9)}.{rng.randint(100, 999)},00 €", f"{rng.randint(10, 999)},99 EUR",
                           f"€ {rng.randint(10, 999)}"])
    if lang == "fr":
        return rng.choice([f"{rng.randint(1, 9)} {rng.randint(100, 999)},99 €", f"{rng.randint(10, 999)} €",
                           f"{rng.randint(10, 999)},50 euros"])
    if lang == "tr":
        return rng.choice([f"{rng.randint(1, 9)}.{rng.randint(100, 999)},90 TL", f"{rng.randint(1, 99)}.{rng.randint(100, 999)} ₺",
                           f"{rng.randint(100, 999)} lira"])
    raise ValueError(lang)


def gen_orderno(lang):
    return fa_maybe(digits(rng.choice([6, 7, 8, 9, 10]), first_nonzero=True), lang, 0.3)


def gen_invoice(lang):
    y = rng.randint(2023, 2025)
    return rng.choice([f"INV-{y}-{rng.randint(1, 99999):05d}", f"{y}/{rng.randint(1, 9999):04d}",
                       f"RE-{rng.randint(100000, 999999)}", f"{rng.randint(10000000, 99999999)}"])


def gen_track(lang):
    return rng.choice([
        f"RA{digits(9)}RU", f"1Z{_token(6, 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789')}{digits(10)}",
        f"CP{digits(9)}TR", f"{rng.choice(['20', '59'])}{digits(12)}", f"LP{digits(14)}", digits(14, True),
    ])


def gen_age(lang):
    a = rng.choice([19, 20, 25, 26, 27, 28, 29, 30, 35, 36, 37, 38, 39, 40, 45, 46, 47, 48, 50, 55, 57, 60, 65, 68])
    return fa_maybe(str(a), lang)


def gen_version(lang):
    return f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"


def ordinal_en(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def gen_floor_ord(lang):
    n = rng.randint(1, 24)
    if lang == "fr":
        return "1er" if n == 1 else f"{n}e"
    return ordinal_en(n)


FILLERS = {
    "DATE": gen_date, "TIME": gen_time, "AMT": gen_amount, "ORDERNO": gen_orderno, "INV": gen_invoice,
    "TRACK": gen_track, "AGE": gen_age, "VER": gen_version, "FLOORORD": gen_floor_ord,
    "ROOM": lambda lang: fa_maybe(str(rng.randint(101, 915)), lang),
    "FLOOR": lambda lang: fa_maybe(str(rng.randint(1, 24)), lang),
    "N": lambda lang: fa_maybe(str(rng.randint(2, 40)), lang),
    "N2": lambda lang: str(rng.choice([10, 20, 50, 100])),
    "PLAINURL": lambda lang: rng.choice(PLAIN_URLS[lang]),
    "BADCARD": gen_bad_card,
    "BADCARDU": lambda lang: gen_bad_card("en").replace(" ", "").replace("-", ""),
    "BADIBAN": gen_bad_iban,
    "BADINN": lambda lang: gen_bad_inn(),
    "BADMELLI": gen_bad_melli,
}

PII_SLOTS = {
    "PHONE": ("PHONE", gen_phone),
    "EMAIL": ("EMAIL", gen_email),
    "CARD": ("CARD", gen_card),
    "IBAN": ("IBAN", gen_iban),
    "IP": ("IP", gen_ip),
    "IP6": ("IP", lambda lang: gen_ipv6()),
    "URL": ("URL", gen_url),
    "USER": ("PERSON", gen_user),
    "MELLI": ("NATIONAL_ID", gen_melli),
    "INN": ("NATIONAL_ID", lambda lang: gen_inn10()),
    "INN12": ("NATIONAL_ID", lambda lang: gen_inn12()),
    "SNILS": ("NATIONAL_ID", lambda lang: gen_snils()),
}

# --------------------------------------------------------------------------- templates

POS = {
    "ru": [
        "Здравствуйте! Мой номер {PHONE}, перезвоните, пожалуйста.",
        "Перезвоните мне на {PHONE} после {TIME}",
        "Телефон для связи: {PHONE}",
        "{PHONE} — это мой рабочий, звоните до {TIME}",
        "Можно на WhatsApp {PHONE} или на почту {EMAIL}",
        "Почта {EMAIL}, пришлите туда счёт",
        "Добрый день, не приходит письмо на {EMAIL}. Проверьте, пожалуйста",
        "Оплатил картой {CARD}, но заказ №{ORDERNO} всё ещё не оплачен",
        "Спишите с карты {CARD}, пожалуйста",
        "Верните деньги на карту {CARD}, сумма {AMT}",
        "Реквизиты для возврата: {IBAN}",
        "Переведите на счёт {IBAN}, получатель ООО «Ромашка»",
        "Мой ИНН {INN}, нужен закрывающий документ",
        "ИНН организации {INN}, КПП 773601001",
        "ИНН {INN12}, я ИП, выставьте счёт",
        "СНИЛС {SNILS}, это для оформления вычета",
        "Мой СНИЛС: {SNILS}, телефон {PHONE}",
        "У меня не открывается личный кабинет с IP {IP}, это блокировка?",
        "Сервер {IP} не отвечает с утра",
        "Вот ссылка с доступом: {URL}",
        "Скинул вам ссылку на выгрузку {URL} — там всё видно",
        "Пишите в телегу {USER}",
        "Вот доступ к нашей CRM: {URL}, логин там же",
        "Мой телеграм {USER}, лучше писать туда",
        "Мой ник в телеграме {USER}, номер {PHONE}",
        "Контакты: {PHONE}, {EMAIL}, телеграм {USER}",
        "Я писал с другого номера, вот новый — {PHONE}. Старый {PHONE} больше не активен.",
        "Телефон получателя {PHONE}, квартира {ROOM}, {FLOOR} этаж",
        "Привяжите, пожалуйста, почту {EMAIL} к аккаунту вместо {EMAIL}",
        "Ошибка при оплате картой {CARD} — пишет «операция отклонена»",
        "Мой ИНН {INN12}, почта для чеков {EMAIL}",
        "Курьер не дозвонился на {PHONE}, хотя я был дома весь день",
        "Подскажите, почему с адреса {IP} не проходит авторизация?",
        "Заходил с IP {IP} и с {IP}, оба раза пишет «доступ запрещён»",
        "Номер {PHONE} не отвечает, наберите на {PHONE}",
        "мой телефон {PHONE} спасибо",
        "Для договора: ИНН {INN}, р/с {IBAN}",
    ],
    "fa": [
        "سلام، شماره من {PHONE} است. لطفاً با من تماس بگیرید.",
        "لطفاً با شماره {PHONE} تماس بگیرید",
        "شماره همراهم {PHONE} هست، پیامک بدید",
        "به این شماره زنگ بزنید: {PHONE}",
        "شماره قبلیم {PHONE} بود، شماره جدیدم {PHONE} است",
        "ایمیلم {EMAIL} هست، فاکتور رو اونجا بفرستید",
        "شماره تماس: {PHONE}، ایمیل: {EMAIL}",
        "شماره کارتم {CARD} است، لطفاً مبلغ را برگردانید",
        "لطفاً وجه را به کارت {CARD} واریز کنید",
        "از کارت {CARD} پول کم شده ولی سفارش {ORDERNO} ثبت نشده",
        "شماره شبا: {IBAN}",
        "برای استرداد وجه، شبای من {IBAN} است",
        "کد ملی من {MELLI} است",
        "کد ملی: {MELLI}",
        "کد ملی {MELLI} و شماره موبایل {PHONE}",
        "برای احراز هویت: کد ملی من {MELLI}، شماره کارت {CARD}",
        "آی‌پی من {IP} است و سایت باز نمی‌شود",
        "از آدرس {IP} نمی‌توانم وارد پنل شوم",
        "آی‌پی سرور ما {IP} است، لطفاً در فایروال باز کنید",
        "لینک دسترسی را فرستادم: {URL}",
        "آیدی تلگرامم {USER} هست",
        "این لینک گزارش است: {URL}",
        "تلگرام: {USER}",
        "در تلگرام به {USER} پیام بدید یا با {PHONE} تماس بگیرید",
        "پیک قبل از آمدن با {PHONE} هماهنگ کند",
        "لطفاً رسید را به {EMAIL} ایمیل کنید",
        "از ساعت {TIME} تا ۱۸ با شماره {PHONE} در دسترسم",
        "سلام وقت بخیر، سفارش {ORDERNO} رو ثبت کردم، شماره‌ام {PHONE} هست",
        "کد ملی من {MELLI} است، لطفاً فاکتور رسمی صادر کنید",
        "{PHONE} شماره منه، لطفاً زنگ بزنید",
        "شماره موبایل {PHONE}",
        "کد ملی من: {MELLI} - شماره تماس {PHONE}",
    ],
    "en": [
        "Hi, you can reach me at {PHONE}.",
        "Please call me back on {PHONE} after {TIME}",
        "My number changed, the new one is {PHONE}",
        "Text me at {PHONE} or email {EMAIL}",
        "My email is {EMAIL}, please send the receipt there.",
        "I can't log in with {EMAIL}, it says the account doesn't exist",
        "I paid with card {CARD} but order #{ORDERNO} still shows unpaid",
        "Please refund to my card {CARD}",
        "Card number {CARD}, exp 08/27",
        "Wire the refund to {IBAN} please",
        "Our company IBAN is {IBAN}, reference invoice {INV}",
        "My national code is {MELLI}",
        "code melli: {MELLI}",
        "My INN is {INN}, I need an invoice for the company",
        "INN {INN12} - that's my individual tax number",
        "I'm getting blocked from {IP}, can you whitelist it?",
        "Our office IP is {IP}, and the backup line is {IP}",
        "My IPv6 address is {IP6}, is that supported?",
        "Here's the link with access: {URL}",
        "The webhook is failing, it calls {URL}",
        "Ping me on Telegram: {USER}",
        "Use this link, it has my token: {URL}",
        "DM me {USER} if anything changes",
        "My telegram is {USER}, phone {PHONE}",
        "Contact: {PHONE}, {EMAIL}",
        "Ship to apartment {ROOM}, recipient phone {PHONE}",
        "{EMAIL} is my old email, please use {EMAIL} instead",
        "The courier should call {PHONE} when he arrives",
        "call me {PHONE} thx",
        "For the Iranian office: national code {MELLI}, phone {PHONE}",
    ],
    "de": [
        "Hallo, Sie erreichen mich unter {PHONE}.",
        "Bitte rufen Sie mich zurück: {PHONE}",
        "Meine Handynummer ist {PHONE}, Festnetz {PHONE}",
        "Meine E-Mail-Adresse lautet {EMAIL}",
        "Bitte schicken Sie die Rechnung an {EMAIL}, danke!",
        "Ich habe mit der Karte {CARD} bezahlt, aber die Bestellung ist nicht bestätigt",
        "Bitte überweisen Sie die Erstattung auf {IBAN}",
        "Meine IBAN: {IBAN}, Kontoinhaber bin ich selbst",
        "Kann ich per Lastschrift von {IBAN} zahlen?",
        "Unsere feste IP-Adresse ist {IP}, bitte freischalten",
        "Seit heute Morgen wird {IP} bei Ihnen geblockt",
        "Der Link mit Zugang: {URL}",
        "Schreiben Sie mir auf Telegram: {USER}",
        "Telegram: {USER}, das geht schneller als E-Mail",
        "Erreichbar unter {PHONE} oder {EMAIL}",
        "Der Fahrer soll bitte vorher unter {PHONE} anrufen",
        "Mein Login {EMAIL} funktioniert seit gestern nicht mehr",
        "Die Zahlung mit {CARD} wurde abgelehnt, obwohl genug Geld drauf ist",
        "Für die Rechnung an unsere Moskauer Filiale: INN {INN}",
        "Mein Telegram {USER}, Handy {PHONE}",
    ],
    "fr": [
        "Bonjour, vous pouvez me joindre au {PHONE}.",
        "Rappelez-moi au {PHONE} s'il vous plaît",
        "Mon portable : {PHONE}",
        "Mon adresse e-mail est {EMAIL}",
        "Envoyez la facture à {EMAIL}, merci",
        "J'ai payé avec la carte {CARD} mais la commande n'apparaît pas",
        "Voici mon IBAN pour le remboursement : {IBAN}",
        "Mon RIB : {IBAN}",
        "Notre adresse IP fixe est {IP}",
        "Le lien d'accès : {URL}",
        "Écrivez-moi sur Telegram : {USER}",
        "Voici le lien avec le jeton : {URL}",
        "Joignable au {PHONE} ou par mail {EMAIL}",
        "Le livreur peut appeler le {PHONE} en arrivant",
        "Remboursez sur la carte {CARD} svp",
        "Mon numéro a changé : {PHONE} (l'ancien était {PHONE})",
    ],
    "tr": [
        "Merhaba, numaram {PHONE}, beni arayabilir misiniz?",
        "Lütfen {PHONE} numarasından bana ulaşın",
        "Cep telefonum {PHONE}",
        "E-posta adresim {EMAIL}",
        "Faturayı {EMAIL} adresine gönderin lütfen",
        "{CARD} numaralı kartımla ödedim ama sipariş görünmüyor",
        "İade için IBAN: {IBAN}",
        "IBAN numaram {IBAN}, alıcı adı benim",
        "IP adresim {IP}, siteye giremiyorum",
        "Erişim linki: {URL}",
        "Telegram'dan yazın: {USER}",
        "Rapor linki: {URL}",
        "{PHONE} veya {EMAIL} üzerinden ulaşabilirsiniz",
        "Kurye gelince {PHONE} numarasını arasın",
        "Kartım {CARD}, ödeme reddedildi",
        "Yeni numaram {PHONE}, eskisi {PHONE} artık kullanılmıyor",
    ],
    "uk": [
        "Добрий день, мій номер {PHONE}, передзвоніть, будь ласка.",
        "Телефон для зв'язку: {PHONE}",
        "Зателефонуйте мені на {PHONE} після {TIME}",
        "Моя пошта {EMAIL}",
        "Надішліть рахунок на {EMAIL}, дякую",
        "Оплатив карткою {CARD}, але замовлення не підтверджене",
        "Поверніть кошти на картку {CARD}",
        "Мій IBAN: {IBAN}",
        "Реквізити для повернення: {IBAN}",
        "Моя IP-адреса {IP}, сайт не відкривається",
        "Сервер {IP} не відповідає з ранку",
        "Посилання з доступом: {URL}",
        "Пишіть у телеграм {USER}",
        "Ось посилання на звіт: {URL}",
        "Мій телеграм {USER}",
        "Мій номер {PHONE}, пошта {EMAIL}",
        "Кур'єр має подзвонити на {PHONE}",
        "Новий номер {PHONE}, старий {PHONE} вже не працює",
    ],
}

NEG = {
    "ru": [
        "Где мой заказ №{ORDERNO}? Обещали доставить {DATE}",
        "Сколько стоит доставка, если сумма заказа {AMT}?",
        "Можно записаться на {DATE} в {TIME}?",
        "Трек-номер {TRACK}, посылка стоит на месте уже неделю",
        "Мне {AGE} лет, могу ли я оформить рассрочку?",
        "Квартира {ROOM}, {FLOOR} этаж, домофон не работает",
        "После обновления до версии {VER} приложение вылетает",
        "Нужно {N} штук, есть ли скидка от {N2}?",
        "Оплатил {AMT} по счёту №{ORDERNO}, когда будет отгрузка?",
        "Карта {BADCARD} не проходит, что делать?",
        "Проверьте счёт {BADIBAN}, мне кажется, в нём опечатка",
        "ИНН {BADINN} — система пишет, что он некорректный",
        "Ссылка на каталог: {PLAINURL}",
        "Оплата прошла {DATE} в {TIME}, сумма {AMT}",
        "Заказ {ORDERNO} от {DATE} так и не пришёл",
        "Номер транзакции {BADCARDU}, деньги списались дважды",
    ],
    "fa": [
        "سفارش {ORDERNO} کی ارسال می‌شود؟",
        "سفارش شماره {ORDERNO} هنوز به دستم نرسیده",
        "قیمت این گوشی {AMT} است؟",
        "برای {DATE} ساعت {TIME} وقت خالی دارید؟",
        "کد پیگیری مرسوله {ORDERNO} است ولی وضعیتش تغییر نکرده",
        "من {AGE} سالمه، می‌تونم وام بگیرم؟",
        "طبقه {FLOOR}، واحد {ROOM}",
        "نسخه {VER} اپلیکیشن باز نمی‌شود",
        "{N} عدد از این کالا می‌خواهم، تخفیف دارد؟",
        "کد ملی {BADMELLI} را وارد کردم ولی خطا می‌دهد",
        "شماره کارت {BADCARD} را سیستم قبول نمی‌کند",
        "این شبا درست است؟ {BADIBAN}",
        "مبلغ {AMT} در تاریخ {DATE} واریز شد",
        "لینک محصول: {PLAINURL}",
        "فاکتور {INV} به مبلغ {AMT} را پرداخت کردم",
        "کد ملی من {BADMELLI} است ولی سایت می‌گوید نامعتبر است",
    ],
    "en": [
        "Where is my order #{ORDERNO}? It was supposed to arrive on {DATE}.",
        "Can I book a table for {N} at {TIME} on {DATE}?",
        "I was charged {AMT} twice for invoice {INV}",
        "Tracking {TRACK} hasn't updated since {DATE}",
        "I'm {AGE} years old, can I open an account?",
        "Room {ROOM} on the {FLOORORD} floor has no hot water",
        "The app crashes since version {VER}",
        "I need {N} units, do you offer a discount above {N2}?",
        "My card {BADCARD} keeps getting declined",
        "Is this IBAN right? {BADIBAN}",
        "Here's the catalogue link: {PLAINURL}",
        "Transaction ID {BADCARDU} - can you check it?",
        "My national code {BADMELLI} was rejected by the form",
        "Order #{ORDERNO} was delivered at {TIME}, but {N} items are missing.",
        "INN {BADINN} is flagged as invalid on your site, why?",
    ],
    "de": [
        "Wo bleibt meine Bestellung Nr. {ORDERNO}? Lieferung war für den {DATE} angekündigt.",
        "Ich habe {AMT} bezahlt, Rechnungsnummer {INV}",
        "Haben Sie am {DATE} um {TIME} Uhr einen Termin frei?",
        "Sendungsnummer {TRACK}, seit Tagen keine Bewegung",
        "Zimmer {ROOM} im {FLOOR}. Stock, die Heizung ist kaputt",
        "Nach dem Update auf Version {VER} stürzt die App ab",
        "Ich brauche {N} Stück, gibt es Mengenrabatt?",
        "Diese IBAN wird nicht akzeptiert: {BADIBAN}",
        "Hier der Link zum Produkt: {PLAINURL}",
        "Ich bin {AGE} Jahre alt, darf ich schon bestellen?",
        "Karte {BADCARD} geht nicht, Tippfehler?",
    ],
    "fr": [
        "Où en est ma commande n° {ORDERNO} ? Livraison prévue le {DATE}",
        "J'ai été débité de {AMT} deux fois",
        "Un rendez-vous le {DATE} à {TIME}, c'est possible ?",
        "Numéro de suivi {TRACK}, rien ne bouge",
        "Chambre {ROOM}, {FLOORORD} étage",
        "Depuis la version {VER}, l'appli plante",
        "J'ai {AGE} ans, puis-je ouvrir un compte ?",
        "Il me faut {N} exemplaires",
        "Cet IBAN est refusé : {BADIBAN}",
        "Le lien du catalogue : {PLAINURL}",
        "Facture {INV} du {DATE}, montant {AMT}",
    ],
    "tr": [
        "Sipariş no {ORDERNO} nerede kaldı?",
        "{AMT} ödedim ama onay gelmedi",
        "{DATE} tarihinde saat {TIME} için randevu alabilir miyim?",
        "Kargo takip numarası {TRACK}",
        "Oda {ROOM}, {FLOOR}. kat",
        "Uygulama {VER} sürümünden beri çöküyor",
        "{AGE} yaşındayım, kredi kartı başvurusu yapabilir miyim?",
        "{N} adet sipariş vermek istiyorum",
        "Bu IBAN kabul edilmiyor: {BADIBAN}",
        "Ürün linki: {PLAINURL}",
        "Sipariş numarası {ORDERNO}, fatura {INV}",
    ],
    "uk": [
        "Де моє замовлення №{ORDERNO}? Обіцяли доставити {DATE}",
        "Сплатив {AMT}, а статус не змінився",
        "Можна записатися на {DATE} о {TIME}?",
        "Номер накладної {TRACK}, посилка стоїть",
        "Квартира {ROOM}, {FLOOR} поверх",
        "Після оновлення до версії {VER} застосунок не працює",
        "Мені {AGE} років, чи можу я оформити кредит?",
        "Потрібно {N} штук",
        "Цей IBAN не приймається: {BADIBAN}",
        "Посилання на каталог: {PLAINURL}",
        "Картка {BADCARD} не проходить",
    ],
}

SLOT_RE = re.compile(r"\{([A-Z0-9_]+)\}")


def validate_value(kind, slot, value):
    """Re-check a labelled value by its own rules."""
    a = value.translate(TO_ASCII)
    if kind == "CARD":
        d = re.sub(r"[ -]", "", a)
        assert d.isdigit() and len(d) in (15, 16) and luhn_ok(d), value
    elif kind == "IBAN":
        c = a.replace(" ", "")
        assert len(c) == IBAN_LENGTHS[c[:2]] and iban_mod97(c) == 1, value
        assert a == c or a == " ".join(c[i:i + 4] for i in range(0, len(c), 4)), value
    elif kind == "NATIONAL_ID":
        if slot == "MELLI":
            assert melli_ok(a), value
        elif slot == "SNILS":
            assert snils_ok(a), value
        else:
            assert inn_ok(a), value
    elif kind == "PERSON":
        assert USER_RE.match(value), value
    elif kind == "EMAIL":
        assert EMAIL_RE.match(value), value
    elif kind == "URL":
        assert re.search(r"://[^/@\s]+:[^/@\s]+@|[?&](token|access_token|api_key|password|sig|code)=", value), value
    elif kind == "IP":
        if ":" not in value:
            parts = value.split(".")
            assert len(parts) == 4 and all(p.isdigit() and str(int(p)) == p and int(p) < 256 for p in parts)


def fill(template, lang):
    text, spans, pos = [], [], 0
    for i, piece in enumerate(SLOT_RE.split(template)):
        if i % 2 == 0:
            text.append(piece)
            pos += len(piece)
            continue
        if piece in PII_SLOTS:
            kind, gen = PII_SLOTS[piece]
            value = gen(lang)
            validate_value(kind, piece, value)
            spans.append({"start": pos, "end": pos + len(value), "type": kind, "_value": value, "_slot": piece})
        else:
            value = FILLERS[piece](lang)
        text.append(value)
        pos += len(value)
    return "".join(text), spans


def check_sample(text, spans):
    last_end = -1
    for s in sorted(spans, key=lambda s: s["start"]):
        assert 0 <= s["start"] < s["end"] <= len(text)
        assert text[s["start"]:s["end"]] == s["_value"], (text, s)
        assert s["start"] >= last_end, f"overlapping spans in {text!r}"
        last_end = s["end"]
        assert s["type"] in TYPES
        v = s["_value"]
        assert v == v.strip() and v[-1] not in ".,;:!?", (text, s)
        if s["type"] == "NATIONAL_ID":
            window = text[max(0, s["start"] - 30):s["start"]].lower()
            assert any(k.lower() in window for k in ID_KEYWORDS), f"no id keyword before {v!r} in {text!r}"
        # the value must not be glued to neighbouring letters/digits
        if s["start"] > 0:
            assert not text[s["start"] - 1].isalnum(), (text, s)
        if s["end"] < len(text):
            assert not text[s["end"]].isalnum(), (text, s)


def build():
    samples = []
    seen = set()
    for lang in LANGS:
        n = SAMPLES_PER_LANG[lang]
        n_neg = round(n * NEGATIVE_SHARE)
        plan = []
        for templates, count in ((NEG[lang], n_neg), (POS[lang], n - n_neg)):
            order = []
            while len(order) < count:
                batch = list(templates)
                rng.shuffle(batch)
                order.extend(batch)
            plan.extend(order[:count])
        for template in plan:
            for _ in range(50):
                text, spans = fill(template, lang)
                if text not in seen:
                    break
            else:
                raise RuntimeError(f"cannot make a unique sample from {template!r}")
            seen.add(text)
            check_sample(text, spans)
            samples.append((lang, text, spans))
    rng.shuffle(samples)
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "pii_eval.jsonl"))
    args = ap.parse_args()

    samples = build()

    per_lang = Counter()
    per_lang_neg = Counter()
    spans_per_type = Counter()
    samples_per_type = Counter()
    pii_per_sample = Counter()
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for lang, text, spans in samples:
            per_lang[lang] += 1
            if not spans:
                per_lang_neg[lang] += 1
            pii_per_sample[min(len(spans), 2)] += 1
            for t in {s["type"] for s in spans}:
                samples_per_type[t] += 1
            for s in spans:
                spans_per_type[s["type"]] += 1
            clean = [{"start": s["start"], "end": s["end"], "type": s["type"]} for s in spans]
            f.write(json.dumps({"text": text, "spans": clean}, ensure_ascii=False) + "\n")

    # re-read and re-verify what was written
    with open(args.out, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert len(lines) == len(samples)
    for line, (_, text, spans) in zip(lines, samples):
        obj = json.loads(line)
        assert obj["text"] == text
        for o, s in zip(obj["spans"], spans):
            assert obj["text"][o["start"]:o["end"]] == s["_value"]

    total = len(samples)
    negatives = sum(per_lang_neg.values())
    print(f"wrote {total} samples to {args.out} (seed {SEED}, phonenumbers {phonenumbers.__version__})")
    print("lines per language:  " + ", ".join(f"{l}={per_lang[l]} (neg {per_lang_neg[l]})" for l in LANGS))
    print("spans per type:      " + ", ".join(f"{t}={spans_per_type[t]}" for t in TYPES)
          + f"  (total {sum(spans_per_type.values())})")
    print("samples per type:    " + ", ".join(f"{t}={samples_per_type[t]}" for t in TYPES))
    print(f"negatives (no span): {negatives} ({negatives / total:.1%})")
    print(f"PII per sample:      0={pii_per_sample[0]}, 1={pii_per_sample[1]}, 2+={pii_per_sample[2]}")
    print("phone formats:       " + ", ".join(f"{k}={v}" for k, v in sorted(phone_format_counter.items())))
    print("card brands:         " + ", ".join(f"{k}={v}" for k, v in sorted(card_brand_counter.items())))
    print("IBAN countries:      " + ", ".join(f"{k}={v}" for k, v in sorted(iban_country_counter.items())))

    # requirements (checked after printing, so a failing run still shows the counts)
    assert total >= 600, total
    for lang in LANGS:
        assert per_lang[lang] >= (100 if lang in ("ru", "fa") else 40), (lang, per_lang[lang])
    for t in TYPES:
        assert samples_per_type[t] >= 40, (t, samples_per_type[t])
    assert samples_per_type["PHONE"] >= 150, samples_per_type["PHONE"]
    assert 0.2 <= negatives / total <= 0.3, negatives / total

if __name__ == "__main__":
    main()
