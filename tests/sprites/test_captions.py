"""Sprite captions: every caption parses back to its sprite, prompts, vocabulary, errors."""

import re

import numpy as np
import pytest

from diffprob.errors import ParameterError
from diffprob.sprites import captions as C
from diffprob.sprites.attributes import SpriteAttributes, generate_sprites_with_attributes
from diffprob.sprites.classes import CLASSES, VARIANTS
from diffprob.sprites.palettes import class_palettes, colour_roles


@pytest.fixture(scope="module")
def attrs():
    return generate_sprites_with_attributes(2000, size=16, seed=5)[2]


def test_every_phrasing_of_thousands_of_sprites_parses_back_to_the_sprite(attrs):
    for a in attrs:
        main = C.main_colour_role(a.class_name, a.variant)
        for text in C.all_captions(a):
            parsed = C.parse_caption(text)
            assert C.matches_attributes(parsed, a), (text, a)
            assert parsed["class_name"] == a.class_name
            assert parsed["colours"][main] == a.colours[main], text  # the main colour is named
            assert parsed["colours"].items() <= a.colours.items()


def test_every_phrasing_fits_some_sprite(attrs):
    fitted = set()
    for a in attrs:
        for p in C._PHRASINGS:
            if a.class_name == p.class_name and a.variant in p.variants:
                if all(r in a.colours for r in p.roles):
                    fitted.add(p)
    assert fitted == set(C._PHRASINGS)


def test_the_grammar_is_unambiguous_and_round_trips_exhaustively():
    meanings = {}
    for text, p in C._all_captions():
        parsed = C.parse_caption(text)
        assert parsed["class_name"] == p.class_name and parsed["variant"] == p.variant
        assert set(parsed["colours"]) == set(p.roles)
        assert meanings.setdefault(text, (p.class_name, p.variant)) == (p.class_name, p.variant)
        assert len(text.split()) <= C.MAX_CAPTION_WORDS
    assert max(len(t.split()) for t in meanings) == C.MAX_CAPTION_WORDS
    assert len(meanings) > 500


def test_articles_agree_with_the_next_word():
    for text, _ in C._all_captions():
        words = text.split()
        for w, nxt in zip(words[:-1], words[1:], strict=True):
            if w in ("a", "an"):
                assert (w == "an") == (nxt[0] in "aeiou"), text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red potion", ("item", "potion", {"liquid": "red"})),
        ("a potion of red liquid", ("item", "potion", {"liquid": "red"})),
        ("a blue slime", ("creature", "slime", {"body": "blue"})),
        ("a hero with blonde hair in a green tunic", ("hero", None, {"hair": "blonde", "outfit": "green"})),
        ("an ice spell orb", ("spell", "orb", {"glow": "ice"})),
        ("a chocolate cupcake", ("food", "cupcake", {"frosting": "chocolate"})),
        ("a gold sword", ("item", "sword", {"blade": "gold"})),
        ("a red shield", ("item", "shield", {"shield": "red"})),
        ("A Hero in an orange tunic.", ("hero", None, {"outfit": "orange"})),
        ("a fire spell with a pale yellow core", ("spell", None, {"glow": "fire", "core": "pale yellow"})),
        ("a mint ice cream with a pistachio scoop on top", ("food", "ice cream", {"frosting": "mint", "scoop": "pistachio"})),
        ("a hero in a gold helmet and a red tunic", ("hero", "helmet", {"trim": "gold", "outfit": "red"})),
        ("some food", ("food", None, {})),
        ("an item", ("item", None, {})),
    ],
)  # fmt: skip
def test_known_captions_parse_to_their_attributes(text, expected):
    parsed = C.parse_caption(text)
    assert (parsed["class_name"], parsed["variant"], parsed["colours"]) == expected


def test_the_brief_examples_are_produced_by_the_grammar():
    texts = {t for t, _ in C._all_captions()}
    for t in ["a red potion", "a blue slime", "a hero with blonde hair in a green tunic",
              "an ice spell orb", "a chocolate cupcake", "a potion of red liquid"]:  # fmt: skip
        assert t in texts


def test_captions_are_seeded_and_vary(attrs):
    first = C.captions_for(attrs[:300], seed=1)
    assert first == C.captions_for(attrs[:300], seed=1)
    assert first != C.captions_for(attrs[:300], seed=2)
    assert len(first) == 300
    assert len(set(C.captions_for([attrs[0]] * 200, seed=0))) > 1
    rng = np.random.default_rng(4)
    assert C.caption(attrs[0], rng) in C.all_captions(attrs[0])


def test_class_share_replaces_captions_by_class_prompts(attrs):
    texts = C.captions_for(attrs[:100], seed=0, class_share=1.0)
    assert texts == [C.class_prompt(a.class_name) for a in attrs[:100]]
    mixed = C.captions_for(attrs[:1000], seed=0, class_share=0.1)
    share = np.mean([t in C._CLASS_PROMPTS.values() for t in mixed])
    assert 0.06 < share < 0.14
    with pytest.raises(ParameterError, match="class_share"):
        C.caption(attrs[0], 0, class_share=1.5)


def test_class_prompts_name_each_class():
    for name in CLASSES:
        parsed = C.parse_caption(C.class_prompt(name))
        assert parsed == {"class_name": name, "variant": None, "colours": {}}
    assert C.class_prompt(3) == "an item"
    with pytest.raises(ParameterError):
        C.class_prompt("dragon")


def test_main_colour_roles():
    assert C.main_colour_role("item", "potion") == "liquid"
    assert C.main_colour_role("item", "shield") == "shield"
    assert C.main_colour_role("food", "cupcake") == "frosting"
    assert C.main_colour_role("hero", "helmet") == "outfit"
    for name in CLASSES:
        for v in VARIANTS[name]:
            assert C.main_colour_role(name, v) in colour_roles(name)
    with pytest.raises(ParameterError, match="depends on its variant"):
        C.main_colour_role("food")
    with pytest.raises(ParameterError, match="unknown variant"):
        C.main_colour_role("item", "slime")


def test_colour_noun_prompts_cover_the_required_grid():
    prompts = dict(C.colour_noun_prompts())
    palettes = class_palettes()
    for colour in ("red", "green", "blue", "purple"):
        for noun, (cls, variant, role) in {
            "potion": ("item", "potion", "liquid"),
            "shield": ("item", "shield", "shield"),
            "slime": ("creature", "slime", "body"),
        }.items():
            expected = {"class_name": cls, "variant": variant, "role": role, "colour": colour}
            assert prompts[f"a {colour} {noun}"] == expected
    for text, e in prompts.items():
        # each is "a(n) <colour> <noun>", reads back as asked, and names a drawable colour
        assert e["colour"] in dict(palettes[e["class_name"]][e["role"]])
        assert e["role"] == C.main_colour_role(e["class_name"], e["variant"])
        parsed = C.parse_caption(text)
        assert parsed == {
            "class_name": e["class_name"],
            "variant": e["variant"],
            "colours": {e["role"]: e["colour"]},
        }
        article, rest = text.split(" ", 1)
        assert article in ("a", "an") and rest.startswith(e["colour"] + " ")
    assert len(prompts) == len(C.colour_noun_prompts()) >= 70


def test_vocabulary_covers_the_grammar_and_the_generator_names():
    vocab = C.VOCABULARY
    assert list(vocab) == sorted(set(vocab))
    assert all(re.fullmatch(r"[a-z]+", w) for w in vocab)
    names = set(CLASSES) | {w for vs in VARIANTS.values() for v in vs for w in v.split()}
    for name in CLASSES:
        for options in colour_roles(name).values():
            names |= {w for option, _ in options for w in option.split()}
    assert names <= set(vocab)
    assert {"pale", "yellow", "ice", "cream", "short", "hair"} <= set(vocab)
    for text, _ in C._all_captions():
        assert set(text.split()) <= set(vocab)


def test_unknown_words_are_refused_with_the_nearest_known_words():
    with pytest.raises(ParameterError) as err:
        C.check_prompt("a red potoin")
    msg = str(err.value)
    assert msg.startswith("unknown word 'potoin' in the prompt; nearest known words: potion")
    assert "\n" not in msg
    with pytest.raises(ParameterError, match="unknown word 'sheild'.*shield"):
        C.parse_caption("a blue sheild")
    with pytest.raises(ParameterError, match="unknown word 'zzzq'; no known word is close|zzzq"):
        C.check_prompt("zzzq")
    with pytest.raises(ParameterError, match="must be a string"):
        C.check_prompt(None)


def test_prompts_are_case_insensitive_and_tolerate_punctuation():
    assert C.check_prompt("  A RED, Potion!! ") == ["a", "red", "potion"]
    assert C.check_prompt("an ice-cream") == ["an", "ice", "cream"]
    assert C.check_prompt("") == []
    assert C.parse_caption("A Blue Slime.") == C.parse_caption("a blue slime")


def test_text_outside_the_grammar_is_not_parsed():
    with pytest.raises(ParameterError, match="not a caption"):
        C.parse_caption("a red slime potion")
    with pytest.raises(ParameterError, match="not a caption"):
        C.parse_caption("a green hero")  # known words, but not a phrasing


def test_a_sprite_without_its_main_colour_has_no_caption():
    with pytest.raises(ParameterError, match="shows no 'liquid' colour"):
        C.caption(SpriteAttributes("item", "potion", {"glass": "glass"}), 0)


def test_phrasings_are_listed_per_class():
    assert len(C.phrasings()) == len(C._PHRASINGS)
    assert all("{liquid}" in p or "{blade}" in p or "{shield}" in p for p in C.phrasings("item"))
