"""Captions of sprites in plain words, drawn from their known attributes, and parsed back.

A caption describes a sprite's :class:`~diffprob.sprites.attributes.SpriteAttributes`:
"a red potion", "a blue slime", "a hero with blonde hair in a green tunic", "an ice spell
orb", "a chocolate cupcake". The grammar is a fixed list of *phrasings* per class (see
:func:`phrasings`); a caption picks one, uniformly among those whose roles the sprite
shows, and fills in the sprite's colour names. Every phrasing names the sprite's main
colour (:func:`main_colour_role`); some add a second attribute (hair, belly, eyes,
wrapper, topping, hilt, rim, core, ...), some name the shape variant and some leave it
out ("a red creature", "a fire spell"). Because the grammar is small and unambiguous,
:func:`parse_caption` reads any caption it produces back into the attributes it states,
so the truth behind every caption is known.

* :func:`caption`, :func:`captions_for`, :func:`all_captions` -- captions of attribute
  sets, seeded, or all of them;
* :func:`parse_caption`, :func:`matches_attributes` -- what a caption says, and whether a
  sprite agrees with it;
* :func:`class_prompt`, :func:`colour_noun_prompts` -- prompts for evaluation;
* :data:`VOCABULARY`, :func:`check_prompt` -- the known words, and a one-line error naming
  an unknown word and its nearest known words.

Notes
-----
Main colour roles: a hero's ``outfit`` (its tunic), a creature's ``body``, a fruit's
``fruit``, a cupcake's ``frosting``, an ice cream's ``frosting`` (in the drawing the
first scoop and the drips are painted in the ``frosting`` role; the ``scoop`` role is the
optional second scoop, so it is a second attribute), a potion's ``liquid``, a sword's
``blade``, a shield's ``shield`` and a spell's ``glow``. Colour names are the palette's
(:func:`~diffprob.sprites.palettes.class_palettes`), so "an ice orb" means the ``ice``
glow and "a plum fruit" the ``plum`` fruit colour.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass

import numpy as np

from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES, VARIANTS, class_index
from diffprob.sprites.palettes import colour_roles

__all__ = [
    "caption",
    "captions_for",
    "all_captions",
    "parse_caption",
    "matches_attributes",
    "main_colour_role",
    "class_prompt",
    "colour_noun_prompts",
    "phrasings",
    "check_prompt",
    "prompt_words",
    "VOCABULARY",
    "MAX_CAPTION_WORDS",
]

_MAIN_ROLES = {
    "hero": "outfit",
    "creature": "body",
    "food": {"fruit": "fruit", "cupcake": "frosting", "ice cream": "frosting"},
    "item": {"potion": "liquid", "sword": "blade", "shield": "shield"},
    "spell": "glow",
}

_CLASS_PROMPTS = {
    "hero": "a hero",
    "creature": "a creature",
    "food": "some food",
    "item": "an item",
    "spell": "a spell",
}

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class _Phrasing:
    """One phrasing: words, ``{a}`` articles and ``{role}`` colour slots."""

    class_name: str
    variants: tuple  # the variants it may describe
    variant: str | None  # the variant it states, or None
    text: str
    colour_noun: bool = False  # an "a <colour> <noun>" prompt

    @property
    def roles(self) -> tuple:
        return tuple(r for r in _SLOT.findall(self.text) if r != "a")


def _build_phrasings() -> list[_Phrasing]:
    out = []

    def add(cls, variants, text, variant=None, colour_noun=False):
        out.append(_Phrasing(cls, tuple(variants), variant, text, colour_noun))

    heroes, hair = VARIANTS["hero"], VARIANTS["hero"][:3]
    add("hero", heroes, "{a} hero in {a} {outfit} tunic")
    add("hero", heroes, "{a} hero dressed in {outfit}")
    add("hero", heroes, "{a} hero in {a} {outfit} tunic and {trousers} trousers")
    add("hero", heroes, "{a} hero with {skin} skin in {a} {outfit} tunic")
    add("hero", hair, "{a} hero with {hair} hair in {a} {outfit} tunic")
    for v in hair:
        style = v.split()[0]
        add("hero", [v], f"{{a}} hero with {style} hair in {{a}} {{outfit}} tunic", v)
        add("hero", [v], f"{{a}} hero with {style} {{hair}} hair in {{a}} {{outfit}} tunic", v)
    add("hero", ["helmet"], "{a} hero in {a} helmet and {a} {outfit} tunic", "helmet")
    add("hero", ["helmet"], "{a} hero in {a} {trim} helmet and {a} {outfit} tunic", "helmet")

    creature = {
        "slime": "{body} slime",
        "ghost": "{body} ghost",
        "round": "round {body} creature",
        "tall": "tall {body} creature",
        None: "{body} creature",
    }
    for v, noun in creature.items():
        variants = [v] if v else VARIANTS["creature"]
        add("creature", variants, f"{{a}} {noun}", v, colour_noun=v in ("slime", "ghost", None))
        add("creature", variants, f"{{a}} {noun} with {{a}} {{belly}} belly", v)
        add("creature", variants, f"{{a}} {noun} with {{pupil}} eyes", v)

    add("food", ["fruit"], "{a} {fruit} fruit", "fruit", colour_noun=True)
    add("food", ["fruit"], "{a} {fruit} fruit with {a} {leaf} leaf", "fruit")
    add("food", ["cupcake"], "{a} {frosting} cupcake", "cupcake", colour_noun=True)
    add("food", ["cupcake"], "{a} cupcake with {frosting} frosting", "cupcake")
    add("food", ["cupcake"], "{a} {frosting} cupcake in {a} {wrapper} wrapper", "cupcake")
    add("food", ["cupcake"], "{a} {frosting} cupcake with {a} {topping} on top", "cupcake")
    ice = ["ice cream"]
    add("food", ice, "{a} {frosting} ice cream", "ice cream", colour_noun=True)
    add("food", ice, "{a} ice cream with {a} {frosting} scoop", "ice cream")
    add("food", ice, "{a} {frosting} ice cream with {a} {scoop} scoop on top", "ice cream")
    add("food", ice, "{a} {frosting} ice cream with {a} {topping} on top", "ice cream")
    add("food", ice, "{a} {frosting} ice cream in {a} {cone} cone", "ice cream")

    add("item", ["potion"], "{a} {liquid} potion", "potion", colour_noun=True)
    add("item", ["potion"], "{a} potion of {liquid} liquid", "potion")
    add("item", ["potion"], "{a} {liquid} potion in {a} {glass} bottle", "potion")
    add("item", ["sword"], "{a} {blade} sword", "sword", colour_noun=True)
    add("item", ["sword"], "{a} sword with {a} {blade} blade", "sword")
    add("item", ["sword"], "{a} {blade} sword with {a} {hilt} hilt", "sword")
    add("item", ["sword"], "{a} {blade} sword with {a} {metal} guard", "sword")
    add("item", ["shield"], "{a} {shield} shield", "shield", colour_noun=True)
    add("item", ["shield"], "{a} {shield} shield with {a} {metal} rim", "shield")
    add("item", ["shield"], "{a} shield painted {shield}", "shield")

    for v in VARIANTS["spell"]:
        add("spell", [v], f"{{a}} {{glow}} {v}", v, colour_noun=True)
        add("spell", [v], f"{{a}} {{glow}} spell {v}", v)
        add("spell", [v], f"{{a}} {v} of {{glow}} magic", v)
        add("spell", [v], f"{{a}} {{glow}} {v} with {{a}} {{core}} core", v)
    add("spell", VARIANTS["spell"], "{a} {glow} spell", colour_noun=True)
    add("spell", VARIANTS["spell"], "{a} {glow} spell with {a} {core} core")
    return out


_PHRASINGS = _build_phrasings()


def _options(class_name, role) -> list[str]:
    return [name for name, _ in colour_roles(class_name)[role]]


def _article(text: str) -> str:
    """Turn each ``{a}`` into "a" or "an" by the first letter of the word after it."""
    words = text.split()
    for i, w in enumerate(words):
        if w == "{a}":
            words[i] = "an" if words[i + 1][0] in "aeiou" else "a"
    return " ".join(words)


def _a(text: str) -> str:
    return re.sub(r"\ban\b", "a", text)


def _fill(p: _Phrasing, colours: dict) -> str:
    return _article(_SLOT.sub(lambda m: "{a}" if m[1] == "a" else colours[m[1]], p.text))


def _regex(p: _Phrasing) -> re.Pattern:
    def slot(m):
        if m[1] == "a":
            return "(?:a|an)"
        names = sorted(_options(p.class_name, m[1]), key=len, reverse=True)
        return f"(?P<{m[1]}>{'|'.join(re.escape(n) for n in names)})"

    return re.compile(_SLOT.sub(slot, p.text))


_REGEXES = [_regex(p) for p in _PHRASINGS]


def _all_captions():
    """Every caption the grammar can produce: ``(text, phrasing)`` pairs."""
    for p in _PHRASINGS:
        roles = p.roles
        for names in itertools.product(*(_options(p.class_name, r) for r in roles)):
            yield _fill(p, dict(zip(roles, names, strict=True))), p


def _vocabulary() -> tuple[str, ...]:
    words = {"a", "an"}
    for p in _PHRASINGS:
        words.update(w for w in p.text.split() if not _SLOT.fullmatch(w))
    for text in _CLASS_PROMPTS.values():
        words.update(text.split())
    for name in CLASSES:
        words.add(name)
        for v in VARIANTS[name]:
            words.update(v.split())
        for options in colour_roles(name).values():
            for option, _ in options:
                words.update(option.split())
    return tuple(sorted(words))


VOCABULARY = _vocabulary()
"""Every word of the caption grammar and of the generator's class, variant and colour
names (multi-word names split into words), sorted."""

MAX_CAPTION_WORDS = max(len(text.split()) for text, _ in _all_captions())
"""The number of words of the longest caption :func:`caption` can produce."""


def phrasings(class_name=None) -> list[str]:
    """The phrasings of the grammar, as templates with ``{a}`` and ``{role}`` slots.

    Examples
    --------
    >>> phrasings("item")[:2]
    ['{a} {liquid} potion', '{a} potion of {liquid} liquid']
    """
    wanted = CLASSES if class_name is None else (CLASSES[class_index(class_name)],)
    return [p.text for p in _PHRASINGS if p.class_name in wanted]


def main_colour_role(class_name, variant=None) -> str:
    """The colour role every caption of a sprite names (a potion's ``liquid``, ...).

    ``variant`` may be None for heroes, creatures and spells, whose main role does not
    depend on it.

    Examples
    --------
    >>> main_colour_role("item", "potion"), main_colour_role("spell")
    ('liquid', 'glow')
    """
    name = CLASSES[class_index(class_name)]
    if variant is not None and variant not in VARIANTS[name]:
        raise ParameterError(
            f"unknown variant {variant!r} of class {name!r}; expected one of {VARIANTS[name]}"
        )
    role = _MAIN_ROLES[name]
    if isinstance(role, dict):
        if variant is None:
            raise ParameterError(f"the main colour of a {name} depends on its variant; give one")
        role = role[variant]
    return role


def class_prompt(class_name) -> str:
    """A plain prompt naming a class only: "a hero", "a creature", "some food", "an item",
    "a spell".

    Food is "some food" because "a food" is not plain English. These prompts name no
    colour; :func:`caption` produces them only when asked (``class_share``), and
    :func:`parse_caption` reads them as the class with no variant and no colours.

    Examples
    --------
    >>> [class_prompt(c) for c in CLASSES]
    ['a hero', 'a creature', 'some food', 'an item', 'a spell']
    """
    return _CLASS_PROMPTS[CLASSES[class_index(class_name)]]


def caption(attrs, rng=None, *, class_share: float = 0.0) -> str:
    """One caption of a sprite, a phrasing drawn uniformly among those that fit it.

    Parameters
    ----------
    attrs : SpriteAttributes
        The sprite's attributes (:mod:`~diffprob.sprites.attributes`).
    rng : int or numpy.random.Generator, optional
        Seed or generator for ``numpy.random.default_rng``.
    class_share : float, default 0
        Probability of returning the class prompt (:func:`class_prompt`) instead, e.g.
        so that a text-to-image model also learns what "a hero" alone means.

    Examples
    --------
    >>> from diffprob.sprites.attributes import SpriteAttributes
    >>> potion = SpriteAttributes("item", "potion", {"liquid": "red", "glass": "glass"})
    >>> sorted({caption(potion, seed) for seed in range(20)})
    ['a potion of red liquid', 'a red potion', 'a red potion in a glass bottle']
    """
    if not 0.0 <= class_share <= 1.0:
        raise ParameterError(f"class_share must be in [0, 1], got {class_share!r}")
    rng = np.random.default_rng(rng)
    if class_share > 0 and rng.random() < class_share:
        return class_prompt(attrs.class_name)
    options = all_captions(attrs)
    return options[rng.integers(len(options))]


def all_captions(attrs) -> list[str]:
    """Every caption of a sprite, one per phrasing that fits it, in grammar order.

    A phrasing fits when it may describe the sprite's variant and the sprite shows every
    colour role it names.

    Examples
    --------
    >>> from diffprob.sprites.attributes import SpriteAttributes
    >>> all_captions(SpriteAttributes("item", "shield", {"shield": "red", "metal": "gold"}))
    ['a red shield', 'a red shield with a gold rim', 'a shield painted red']
    """
    fits = [
        p
        for p in _PHRASINGS
        if p.class_name == attrs.class_name
        and attrs.variant in p.variants
        and all(r in attrs.colours for r in p.roles)
    ]
    if not fits:
        role = main_colour_role(attrs.class_name, attrs.variant)
        raise ParameterError(f"{attrs!r} shows no {role!r} colour, which every caption names")
    return [_fill(p, attrs.colours) for p in fits]


def captions_for(attrs_list, seed=0, *, class_share: float = 0.0) -> list[str]:
    """One caption per sprite, drawn with one generator seeded with ``seed``.

    Examples
    --------
    >>> from diffprob.sprites.attributes import generate_sprites_with_attributes
    >>> _, _, attrs = generate_sprites_with_attributes(3, seed=0)
    >>> len(captions_for(attrs, seed=0))
    3
    """
    rng = np.random.default_rng(seed)
    return [caption(a, rng, class_share=class_share) for a in attrs_list]


def prompt_words(text: str) -> list[str]:
    """The words of a prompt: lower case, split at spaces and punctuation.

    Examples
    --------
    >>> prompt_words("An ICE-cream, please!")
    ['an', 'ice', 'cream', 'please']
    """
    if not isinstance(text, str):
        raise ParameterError(f"a prompt must be a string, got {type(text).__name__}")
    return re.findall(r"[^\W_]+", text.lower())


def check_prompt(text: str, vocabulary=None) -> list[str]:
    """The words of a prompt, after checking that each is a known word.

    Case does not matter and punctuation separates words. An empty prompt gives ``[]``.

    Parameters
    ----------
    text : str
        The prompt.
    vocabulary : sequence of str, optional
        The known words; :data:`VOCABULARY` by default.

    Raises
    ------
    ParameterError
        Naming the first unknown word and the nearest known words.

    Examples
    --------
    >>> check_prompt("A red Potion.")
    ['a', 'red', 'potion']
    >>> check_prompt("a red potoin")
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: unknown word 'potoin' in the prompt; nearest known words: potion, pink
    """
    where = " (see diffprob.sprites.captions.VOCABULARY)" if vocabulary is None else ""
    vocabulary = VOCABULARY if vocabulary is None else tuple(vocabulary)
    known = set(vocabulary)
    words = prompt_words(text)
    for w in words:
        if w not in known:
            near = difflib.get_close_matches(w, vocabulary, n=3, cutoff=0.6)
            hint = f"nearest known words: {', '.join(near)}" if near else "no known word is close"
            hint += "" if near else where
            raise ParameterError(f"unknown word {w!r} in the prompt; {hint}")
    return words


def parse_caption(text: str) -> dict:
    """What a caption of the grammar says: its class, variant (or None) and colours.

    Parameters
    ----------
    text : str
        A caption :func:`caption` can produce, or a class prompt; case, punctuation and
        "a"/"an" are not checked.

    Returns
    -------
    dict
        ``{"class_name": str, "variant": str or None, "colours": {role: colour name}}``
        with the roles the caption names.

    Raises
    ------
    ParameterError
        For an unknown word (as :func:`check_prompt`) or text that is not a caption.

    Examples
    --------
    >>> parse_caption("a hero with long blonde hair in a green tunic")
    {'class_name': 'hero', 'variant': 'long hair', 'colours': {'hair': 'blonde', 'outfit': 'green'}}
    >>> parse_caption("An ice spell orb")
    {'class_name': 'spell', 'variant': 'orb', 'colours': {'glow': 'ice'}}
    """
    joined = " ".join(check_prompt(text))
    for name, prompt in _CLASS_PROMPTS.items():
        if _a(joined) == _a(prompt):
            return {"class_name": name, "variant": None, "colours": {}}
    for p, regex in zip(_PHRASINGS, _REGEXES, strict=True):
        m = regex.fullmatch(joined)
        if m:
            colours = {r: m[r] for r in p.roles}
            return {"class_name": p.class_name, "variant": p.variant, "colours": colours}
    raise ParameterError(f"{text!r} is not a caption of the sprite caption grammar")


def matches_attributes(parsed: dict, attrs) -> bool:
    """Whether a sprite agrees with everything a parsed caption says about it.

    Examples
    --------
    >>> from diffprob.sprites.attributes import SpriteAttributes
    >>> slime = SpriteAttributes("creature", "slime", {"body": "blue"})
    >>> matches_attributes(parse_caption("a blue creature"), slime)
    True
    >>> matches_attributes(parse_caption("a blue ghost"), slime)
    False
    """
    return (
        parsed["class_name"] == attrs.class_name
        and parsed["variant"] in (None, attrs.variant)
        and all(attrs.colours.get(r) == c for r, c in parsed["colours"].items())
    )


def colour_noun_prompts() -> list[tuple[str, dict]]:
    """Every "a <colour> <noun>" prompt the generator can draw, with what it asks for.

    The nouns are potion, sword, shield, slime, ghost, creature, fruit, cupcake, ice
    cream, spell, star, orb and spiral, each with every option of its main colour role
    (heroes are described by their tunic, "a hero in a red tunic", so they have none).

    Returns
    -------
    list of (str, dict)
        ``(prompt, expected)`` with ``expected = {"class_name", "variant" (None when the
        noun names only the class), "role", "colour"}``, in grammar order.

    Examples
    --------
    >>> prompts = dict(colour_noun_prompts())
    >>> prompts["a purple shield"]
    {'class_name': 'item', 'variant': 'shield', 'role': 'shield', 'colour': 'purple'}
    >>> prompts["an ice orb"]["role"]
    'glow'
    """
    out = []
    for p in _PHRASINGS:
        if p.colour_noun:
            (role,) = p.roles
            for colour in _options(p.class_name, role):
                expected = {
                    "class_name": p.class_name,
                    "variant": p.variant,
                    "role": role,
                    "colour": colour,
                }
                out.append((_fill(p, {role: colour}), expected))
    return out
