"""Guardrails on generated copy: faithful to the offer, no banned or absent claims, an allowed tone, no PII,
no links, markup or competitors, and nothing an instruction hidden in the offer or customer data could have
put there, even when the backend obeys that instruction word for word.

Every check reads a *normalised* view of the copy (:func:`normalise`): zero-width and bidi controls are
removed (and reported), NFKC folds full-width and compatibility forms, confusable letters map to their Latin
look-alikes (Unicode's confusables table, via ``confusable-homoglyphs``) and accents are dropped; letters
spaced or dotted apart ("f r e e") and digits standing in for letters ("fr33") are read as words, and numbers
written in words ("fifty percent") as numbers. Non-Latin letters in copy are themselves a violation.

Faithfulness is exact: every number in the copy (percentages, prices, dates, anything with digits or number
words) must occur in the offer's own fields, and every product or category name the catalogue knows must
belong to this offer. Claims of urgency, expiry or prizes are allowed only when the offer text makes them.
Before any copy is written, the offer's structured fields are range-checked (:func:`check_offer_fields`).

Each ``check_*`` returns :class:`Violation`s (empty = pass); :func:`enforce` and :func:`check_offer_fields`
raise the one typed error, :class:`GuardrailError`. The copy checked is at most a few hundred characters
(:class:`OfferCopy`'s limits), so the simple patterns here run on bounded text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from stdnum import iban, luhn

from loyaltylens.config import Settings, get_settings
from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.errors import InvalidInputError
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.vocabulary import CHANNELS, SEGMENTS

ALLOWED_TONES: dict[str, frozenset[str]] = {
    "budget": frozenset({"friendly", "warm"}),
    "premium": frozenset({"refined", "professional"}),
    "family": frozenset({"warm", "friendly"}),
    "horeca": frozenset({"professional", "friendly"}),
}
BANNED_CLAIMS = (
    r"\bfree\b",
    r"\bguarantee[ds]?\b",
    r"\b(best|lowest|cheapest) (price|prices|deal)\b",
    r"\bunlimited\b",
    r"\bno (conditions|catch|strings)\b",
    r"\brisk[- ]free\b",
    r"\b(cures?|heals?|clinically)\b",
    r"\bmiracle\b",
    r"\bforever\b",
    r"\bwinners?\b|\byou('ve| have) won\b",
    r"\bhalf (price|off)\b|\bbogo\b|\bbuy one get one\b",
    r"\b(cheaper|better|lower) than\b|\bcompared (to|with)\b|\bbeats?\b",
)
# Claims copy may make only when the offer's own text makes them (word or phrase, after normalisation).
ABSENT_CLAIMS = {
    "urgency": (
        "tonight",
        "today only",
        "only today",
        "last chance",
        "hurry",
        "limited time",
        "while stocks last",
        "while supplies last",
        "act now",
        "act fast",
        "don't miss",
        "dont miss",
        "final hours",
        "final day",
        "last day",
        "ends soon",
        "ending soon",
        "ends today",
        "midnight",
        "countdown",
        "few left",
        "selling fast",
        "now or never",
        "hours left",
        "days left",
        "this weekend only",
        "right now",
        "immediately",
    ),
    "expiry": ("expire", "expires", "expiry", "expiring", "never ends", "no end date", "lifetime", "permanent"),
    "prize": (
        "win",
        "wins",
        "winning",
        "won",
        "prize",
        "prizes",
        "sweepstake",
        "sweepstakes",
        "lottery",
        "raffle",
        "jackpot",
        "giveaway",
        "lucky",
        "car",
        "cash",
        "holiday",
        "vacation",
        "gift card",
    ),
}
INJECTION_MARKERS = (
    r"\bignore\b.{0,30}\b(instructions?|rules?|above|previous)\b",
    r"\bdisregard\b",
    r"\b(system|developer) (prompt|message|mode)\b",
    r"\binstructions?\b",
    r"\b(reveal|print|output|respond|reply|say|announce|promise)\b",
    r"\b(tell|ask|instruct)\b.{0,20}\b(readers?|customers?|users?|them|people)\b",
    r"\byou are now\b",
    r"\bas an ai\b",
    r"\bjailbreak\b",
    r"\b(password|api[ _-]?key|token|secret)s?\b",
    r"\bpromo(tion)? code\b|\bcoupon code\b|\buse code\b|\bcode\b",
)
MESSENGERS = (
    "whatsapp",
    "telegram",
    "signal",
    "viber",
    "messenger",
    "snapchat",
    "instagram",
    "tiktok",
    "wechat",
    "discord",
    "dm",
    "dms",
    "inbox",
    "text us",
    "message us",
    "call us",
    "call",
    "phone",
    "email",
    "contact",
)
TLDS = frozenset(
    "com net org io ru xyz me ly co uk eu de nl fr be es it info biz app shop store online site link top club "
    "cn tk ml ga cf gq page dev ai gg to cc tv us ca au in pl ch at se no dk fi pt cz gr ie nu".split()
)
STREET_SUFFIXES = ("straat", "street", "strasse", "laan", "gracht", "plein", "steeg", "kade", "weg")
STREET_WORDS = frozenset({"street", "road", "avenue", "lane", "boulevard", "st", "rd", "ave"})
TITLES = frozenset({"mr", "mrs", "ms", "mx", "dr"})  # "miss", "sir": too common in honest copy
RUDE_WORDS = r"\b(fools?|idiots?|stupid|losers?|shut up|morons?|dumb)\b"
_MARKUP = re.compile(r"[<>\[\]{}`|\\]|&#|&[a-z]+;|\$\(|\bon[a-z]+ ?=")
_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_AMOUNT = re.compile(r"(€ ?|eur ?|euros? ?)?(\d+(?:[.,]\d+)?)( ?%| ?percent\b| ?per cent\b)?")
_EMAIL = re.compile(r"[a-z0-9._%+-]+ ?@ ?[a-z0-9-]+(?: ?\. ?[a-z0-9-]+)+")
_DOMAIN = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.([a-z]{2,6})\b")
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().-]?\d){7,}")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[a-z0-9']+|[%€]")
_SPELT_OUT = re.compile(r"\b(?:[a-z0-9][ .\-_*/]){2,}[a-z0-9]\b")
_LEET = str.maketrans("013457@$", "oieastas")
_KNOWN_NAMES = sorted(
    {name.lower() for label, products in CATEGORY_COPY.values() for name in (label, *products)},
    key=len,
    reverse=True,
)
_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {
    **{w: i for i, w in enumerate(_UNITS)},
    "oh": 0,
    "a hundred": 100,
    **{w: 10 + i for i, w in enumerate(_TEENS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    "hundred": 100,
    "thousand": 1000,
}
_NUMBER_CONTEXT = frozenset({"percent", "per", "%", "euro", "euros", "eur", "€", "off", "for", "x", "times", "pounds"})


@dataclass(frozen=True)
class Violation:
    rule: str  # faithfulness, banned_claim, absent_claim, tone, pii, injection, link, markup, competitor, unicode
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


class GuardrailError(InvalidInputError):
    """Copy (or the offer it is for) fails the guardrails; ``violations`` says which and why."""

    def __init__(self, violations: Sequence[Violation]):
        super().__init__("guardrails: " + "; ".join(map(str, violations)))
        self.violations = list(violations)


@dataclass(frozen=True)
class GuardrailPolicy:
    """The configurable part of the guardrails (from :class:`Settings`)."""

    competitors: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    max_discount_pct: float
    max_min_spend: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> GuardrailPolicy:
        settings = settings or get_settings()
        return cls(
            tuple(c.lower() for c in settings.guardrail_competitors),
            tuple(d.lower() for d in settings.guardrail_allowed_domains),
            settings.guardrail_max_discount_pct,
            settings.guardrail_max_min_spend,
        )


@dataclass(frozen=True)
class Normalised:
    text: str  # NFKC, confusables to Latin, no accents, lower case, hidden characters removed
    tokens: tuple[str, ...]  # its words, numbers and % / € signs
    decoded: tuple[str, ...]  # words spelt out ("f r e e") or in leet ("fr33"), read back
    respelt: str  # ``text`` with those words read back in place
    numeric: str  # ``text`` with numbers written in words replaced by digits
    hidden: tuple[str, ...]  # zero-width / bidi / control characters found
    foreign: tuple[str, ...]  # non-Latin letters found


def check_copy(
    copy: OfferCopy,
    variables: dict[str, str],
    private: Sequence[str] = (),
    policy: GuardrailPolicy | None = None,
) -> list[Violation]:
    """Every guardrail violation of ``copy`` written for the offer and customer in ``variables``;
    ``private``: the customer record's personal values (name, street, e-mail, ...), never to be repeated."""
    policy = policy or GuardrailPolicy.from_settings()
    raw = f"{copy.headline}\n{copy.body}\n{copy.cta}"
    view = normalise(raw)
    return [
        *check_unicode(view),
        *check_faithfulness(raw, variables),
        *check_banned_claims(raw),
        *check_absent_claims(view, variables),
        *check_tone(copy.tone, variables["segment"], raw),
        *check_pii(raw, private),
        *check_injection(raw),
        *check_links_and_markup(raw, policy),
        *check_competitors(view, policy),
    ]


def enforce(
    copy: OfferCopy, variables: dict[str, str], private: Sequence[str] = (), policy: GuardrailPolicy | None = None
) -> OfferCopy:
    """``copy`` if it passes every guardrail, else :class:`GuardrailError`."""
    violations = check_copy(copy, variables, private, policy)
    if violations:
        raise GuardrailError(violations)
    return copy


def check_offer_fields(variables: dict[str, str], policy: GuardrailPolicy | None = None) -> None:
    """Refuse (:class:`GuardrailError`) an offer whose structured fields are out of range or unknown, before
    any copy is rendered from them: a discount of 100 % would otherwise read "Save 100%"."""
    policy = policy or GuardrailPolicy.from_settings()
    problems = []
    discount, spend = _float(variables.get("discount_pct")), _float(variables.get("min_spend"))
    if discount is None or not 0 < discount <= policy.max_discount_pct:
        problems.append(f"discount_pct {variables.get('discount_pct')!r} is not in (0, {policy.max_discount_pct:g}]")
    if spend is None or not 0 <= spend <= policy.max_min_spend:
        problems.append(f"min_spend {variables.get('min_spend')!r} is not in [0, {policy.max_min_spend:g}]")
    for field, known in (("segment", SEGMENTS), ("channel", CHANNELS), ("category", tuple(CATEGORY_COPY))):
        if variables.get(field) not in known:
            problems.append(f"{field} {variables.get(field)!r} is not one of {list(known)}")
    if problems:
        raise GuardrailError([Violation("offer_fields", p) for p in problems])


# --- normalisation ---------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)  # every check reads the same copy and offer text
def normalise(text: str) -> Normalised:
    hidden = tuple(sorted({f"U+{ord(c):04X}" for c in text if _is_hidden(c)}))
    visible = unicodedata.normalize("NFKC", "".join(" " if c in "\n\t" else c for c in text if not _is_hidden(c)))
    foreign = tuple(sorted({c for c in visible if c.isalpha() and not _is_latin(c)}))
    folded = "".join(_confusables().get(c, c) for c in visible)
    plain = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)).lower()
    tokens = tuple(_TOKEN.findall(plain))
    decoded = ["".join(c for c in m.group(0) if c.isalnum()) for m in _SPELT_OUT.finditer(plain)]
    decoded += [_unleet(w) for w in tokens if _unleet(w) != w]
    respelt = _SPELT_OUT.sub(lambda m: "".join(c for c in m.group(0) if c.isalnum()), plain)
    respelt = re.sub(r"[a-z0-9]+", lambda m: _unleet(m.group(0)), respelt)
    return Normalised(plain, tokens, tuple(decoded), respelt, _numbers_in_words(tokens), hidden, foreign)


def _unleet(word: str) -> str:
    return word.translate(_LEET) if any(c.isdigit() for c in word) and any(c.isalpha() for c in word) else word


def _phrase_view(view: Normalised) -> str:
    """Tokens and decoded words, space-separated and space-padded, for whole-word phrase lookups."""
    return f" {' '.join(view.tokens)} {' '.join(view.decoded)} "


def _is_hidden(c: str) -> bool:
    return unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn") and c not in "\n\t"


def _is_latin(c: str) -> bool:
    return unicodedata.name(c, "").startswith("LATIN")


@cache
def _confusables() -> dict[str, str]:
    """Each character Unicode lists as confusable with a Latin letter or digit → that letter or digit (the
    table lists look-alikes both under the Latin letter and under the look-alike)."""
    table = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    mapping = {}
    for char, homoglyphs in table.items():
        if char.isascii() and char.isalnum():
            for homoglyph in homoglyphs:
                if len(homoglyph["c"]) == 1 and not homoglyph["c"].isascii():
                    mapping.setdefault(homoglyph["c"], char.lower())
        elif len(char) == 1 and not char.isascii() and char.isalnum():
            latin = [_base(h["c"]) for h in homoglyphs if len(_base(h["c"])) == 1 and _base(h["c"]).isascii()]
            if latin and latin[0].isalnum():
                mapping.setdefault(char, latin[0].lower())
    return mapping


def _base(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _numbers_in_words(words: Sequence[str]) -> str:
    """The words with every number written out (``twenty five``, ``fifty``, ``one hundred``) as digits;
    a lone unit word (``one``) counts as a number only beside a percent, currency, ``off`` or ``for``."""
    out, i = [], 0
    while i < len(words):
        value, used = _read_number(words, i)
        if used and (value >= 10 or used > 1 or _number_context(words, i, used)):
            out.append(str(value))
            i += used
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _read_number(words: Sequence[str], start: int) -> tuple[int, int]:
    total, current, used = 0, 0, 0
    for word in words[start : start + 6]:
        if word not in _NUMBER_WORDS or word == "oh":
            break
        value = _NUMBER_WORDS[word]
        if value in (100, 1000):
            current = max(current, 1) * value
            if value == 1000:
                total, current = total + current, 0
        elif current % 100 >= 20 and value < 10 or current % 100 == 0:
            current += value
        else:
            break
        used += 1
    return total + current, used


def _number_context(words: Sequence[str], start: int, used: int) -> bool:
    before = words[start - 1] if start else ""
    after = words[start + used] if start + used < len(words) else ""
    return after in _NUMBER_CONTEXT or before in {"for", "save", "get", "buy", "€", "eur"}


# --- checks ----------------------------------------------------------------------------------------------
def check_unicode(view: Normalised) -> list[Violation]:
    violations = []
    if view.hidden:
        violations.append(Violation("unicode", f"hidden characters {list(view.hidden)}"))
    if view.foreign:
        violations.append(Violation("unicode", f"non-Latin letters {list(view.foreign)} (homoglyphs?)"))
    return violations


def check_faithfulness(text: str, variables: dict[str, str]) -> list[Violation]:
    """Numbers (in digits or words) and catalogue names in ``text`` that the offer does not contain.

    The offer's structured fields are the authority: a percentage must be its discount and a euro amount
    its minimum spend. Other numbers (a date) may come from its title or text, unless that text itself
    carries instruction-like content, in which case it is not trusted for anything.
    """
    discount, min_spend = _as_number(variables["discount_pct"]), _as_number(variables["min_spend"])
    free_text = f"{variables['offer_title']} {variables['offer_text']}"
    trusted_text = free_text if not check_injection(free_text) else ""
    allowed = {discount, min_spend} | {_as_number(n) for n in _NUMBER.findall(trusted_text)}
    violations = []
    for match in _AMOUNT.finditer(normalise(text).numeric):
        currency, number, percent = match.group(1), _as_number(match.group(2)), match.group(3)
        if percent and number != discount:
            violations.append(Violation("faithfulness", f"{match.group(2)}% is not the offer's discount"))
        elif currency and number != min_spend:
            violations.append(Violation("faithfulness", f"€{match.group(2)} is not the offer's minimum spend"))
        elif not percent and not currency and number not in allowed:
            violations.append(Violation("faithfulness", f"number {match.group(2)} is not in the offer"))
    label = CATEGORY_COPY.get(variables["category"], (variables["category"], ()))[0]
    offer_names = f"{trusted_text} {label} {variables['category'].replace('_', ' ')}".lower()
    remaining = normalise(text).text
    for name in _KNOWN_NAMES:  # longest first, so "organic baby food" is not also read as "baby food"
        if name in remaining:
            if name not in offer_names:
                violations.append(Violation("faithfulness", f"'{name}' is not part of this offer"))
            remaining = remaining.replace(name, " ")
    return violations


def check_banned_claims(text: str) -> list[Violation]:
    # Product names may contain claim words ("free-range chicken"); they are checked as names instead.
    view = normalise(text)
    cleaned = f"{view.text}\n{view.respelt}"
    for name in _KNOWN_NAMES:
        cleaned = cleaned.replace(name, " ")
    return [
        Violation("banned_claim", f"'{match.group(0)}'")
        for pattern in BANNED_CLAIMS
        if (match := re.search(pattern, cleaned))
    ]


def check_absent_claims(view: Normalised, variables: dict[str, str]) -> list[Violation]:
    """Urgency, expiry and prize claims the offer's own text does not make."""
    offer_text = f"{variables['offer_title']} {variables['offer_text']}"
    trusted = offer_text if not check_injection(offer_text) else ""  # an instructed claim is no offer claim
    offer = f" {' '.join(normalise(trusted).tokens)} "
    copy = _phrase_view(view)
    return [
        Violation("absent_claim", f"{kind} claim '{phrase}' is not in the offer")
        for kind, phrases in ABSENT_CLAIMS.items()
        for phrase in phrases
        if f" {_words(phrase)} " in copy and f" {_words(phrase)} " not in offer
    ]


def check_tone(tone: str, segment: str, text: str = "") -> list[Violation]:
    """The declared tone must suit the segment, and the text must not shout or insult."""
    allowed = ALLOWED_TONES.get(segment, frozenset())
    violations = []
    if tone not in allowed:
        violations.append(
            Violation("tone", f"tone '{tone}' is not allowed for segment '{segment}' ({sorted(allowed)})")
        )
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.5 * len(letters):
        violations.append(Violation("tone", "shouting (mostly capital letters)"))
    if match := re.search(RUDE_WORDS, normalise(text).text):
        violations.append(Violation("tone", f"disrespectful: '{match.group(0)}'"))
    return violations


def check_pii(text: str, private: Sequence[str] = ()) -> list[Violation]:
    """E-mail addresses and phone numbers (also obfuscated or in words), checksum-valid card numbers and
    IBANs, street addresses, titles before names, and any value of the customer's own record."""
    view = normalise(text)
    deobfuscated = _deobfuscate(view.text)
    violations = []
    if match := _EMAIL.search(deobfuscated):
        violations.append(Violation("pii", f"looks like an e-mail address: '{match.group(0)}'"))
    if match := _DIGIT_RUN.search(view.text):
        number = "".join(c for c in match.group(0) if c.isdigit())
        kind = "card number" if 13 <= len(number) <= 19 and luhn.is_valid(number) else "phone or account number"
        violations.append(Violation("pii", f"looks like a {kind}: '{match.group(0)}'"))
    elif _digit_word_run(view.tokens) >= 7:
        violations.append(Violation("pii", "a phone number written in words"))
    compact = "".join(c for c in view.text if c.isalnum()).upper()
    for start in range(len(compact) - 14):
        if compact[start : start + 2].isalpha() and compact[start + 2 : start + 4].isdigit():
            if any(iban.is_valid(compact[start : start + n]) for n in range(15, min(35, len(compact) - start + 1))):
                violations.append(Violation("pii", "contains an IBAN"))
                break
    words = view.tokens
    for i, word in enumerate(words):
        if word in STREET_WORDS or any(word.endswith(s) and len(word) > len(s) + 2 for s in STREET_SUFFIXES):
            violations.append(Violation("pii", f"looks like a street address: '{word}'"))
            break
        if word in TITLES and i + 1 < len(words):
            violations.append(Violation("pii", f"a title before a name: '{word} {words[i + 1]}'"))
            break
    copy_words = _phrase_view(view)
    for value in private:
        for part in {_words(value), *(w for w in _words(value).split() if len(w) >= 3 and not w.isdigit())}:
            if part and f" {part} " in copy_words:
                violations.append(Violation("pii", "repeats the customer's personal details"))
                return violations
    return violations


def check_injection(text: str) -> list[Violation]:
    view = normalise(text)
    searched = f"{view.text} {view.respelt}"
    return [
        Violation("injection", f"'{match.group(0)}' does not belong in offer copy")
        for pattern in INJECTION_MARKERS
        if (match := re.search(pattern, searched))
    ]


def check_links_and_markup(text: str, policy: GuardrailPolicy) -> list[Violation]:
    """Links only to allowed domains; no markup, script schemes or messenger contacts in any form."""
    view = normalise(text)
    violations = []
    if match := _MARKUP.search(view.text):
        violations.append(Violation("markup", f"'{match.group(0)}' is markup or code"))
    squashed = "".join(c for c in view.text if c.isalnum() or c == ":")
    if scheme := next((s for s in _SCHEMES if s in squashed or s[:-1] + "//" in view.text), None):
        violations.append(Violation("markup", f"'{scheme}' link"))
    linked = _deobfuscate(view.text)
    if "://" in linked or "www." in linked:
        violations.append(Violation("link", "a URL"))
    for match in _DOMAIN.finditer(linked):
        domain = match.group(0)
        allowed = any(domain == d or domain.endswith(f".{d}") for d in policy.allowed_domains)
        if match.group(1) in TLDS and not allowed:
            violations.append(Violation("link", f"'{domain}' is not an allowed domain"))
            break
    words = _phrase_view(view)
    if contact := next((m for m in MESSENGERS if f" {_words(m)} " in words), None):
        violations.append(Violation("link", f"points readers to '{contact}'"))
    return violations


def check_competitors(view: Normalised, policy: GuardrailPolicy) -> list[Violation]:
    words = _phrase_view(view)
    squashed_words = {w.replace("'", "") for w in (*view.tokens, *view.decoded)}
    return [
        Violation("competitor", f"names '{name}'")
        for name in policy.competitors
        if f" {_words(name)} " in words or name.replace("'", "").replace(" ", "") in squashed_words
    ]


def _words(text: str) -> str:
    return " ".join(normalise(text).tokens) if text else ""


def _deobfuscate(text: str) -> str:
    """``jan (at) example [dot] com`` and ``jan at example dot com`` read as ``jan@example.com``."""
    text = re.sub(r" ?[\[({<] ?(at|@) ?[\])}>] ?", "@", text)
    text = re.sub(r" ?[\[({<] ?(dot|\.) ?[\])}>] ?", ".", text)
    text = re.sub(r"(?<=[a-z0-9]) (at|@) (?=[a-z0-9-]+ (dot|\.) )", "@", text)
    return re.sub(r"(?<=[a-z0-9]) (dot|\.) (?=[a-z]{2,6}\b)", ".", text)


def _digit_word_run(words: Sequence[str]) -> int:
    """The longest run of single digits written as words or digits ("zero six one two ...")."""
    longest = run = 0
    for word in words:
        run = run + 1 if word in _UNITS or word == "oh" or (word.isdigit() and len(word) <= 2) else 0
        longest = max(longest, run)
    return longest


def _float(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _as_number(text: str) -> float:
    return float(text.replace(",", "."))
