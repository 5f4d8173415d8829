"""The caption tokenizer: known ids, padding and mask, round trips, and refusals."""

import json

import numpy as np
import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.sprites.captions import MAX_CAPTION_WORDS, VOCABULARY, _all_captions, check_prompt
from diffprob.stable_diffusion.tokenizer import SPECIAL_TOKENS, CaptionTokenizer


@pytest.fixture(scope="module")
def tok():
    return CaptionTokenizer.default()


def test_ids_of_a_known_caption(tok):
    ids, mask = tok.encode("a red potion")
    word = {w: 3 + i for i, w in enumerate(VOCABULARY)}
    expected = [1, word["a"], word["red"], word["potion"], 2] + [0] * (tok.max_length - 5)
    assert ids.tolist() == [expected]
    assert mask.tolist() == [[True] * 5 + [False] * (tok.max_length - 5)]
    assert ids.dtype == torch.long and mask.dtype == torch.bool


def test_sizes_and_special_ids(tok):
    assert SPECIAL_TOKENS == ("<pad>", "<bos>", "<eos>")
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.vocab_size == len(VOCABULARY) + 3 == len(tok.tokens)
    assert tok.tokens[3:] == VOCABULARY
    assert tok.max_length == MAX_CAPTION_WORDS + 2


def test_every_caption_of_the_grammar_round_trips(tok):
    texts = [text for text, _ in _all_captions()]
    ids, mask = tok.encode(texts)
    assert ids.shape == mask.shape == (len(texts), tok.max_length)
    assert tok.decode(ids) == texts
    lengths = torch.tensor([len(t.split()) + 2 for t in texts])
    assert torch.equal(mask.sum(dim=1), lengths)
    rows = torch.arange(len(texts))
    assert torch.all(ids[:, 0] == 1) and torch.all(ids[rows, lengths - 1] == 2)
    # padding exactly where the mask is False, and the mask is a prefix of each row
    assert torch.equal(mask, ids != 0)
    assert not (mask[:, 1:] & ~mask[:, :-1]).any()
    assert int(lengths.max()) == tok.max_length  # the longest caption fills a row


def test_case_and_punctuation_are_ignored(tok):
    a, _ = tok.encode("A Red, POTION!")
    b, _ = tok.encode("a red potion")
    assert torch.equal(a, b)
    ids, mask = tok.encode("")
    assert ids[0, :2].tolist() == [1, 2] and mask.sum().item() == 2


def test_unknown_words_get_the_check_prompt_error(tok):
    with pytest.raises(ParameterError) as err:
        tok.encode(["a red potion", "a red potoin"])
    with pytest.raises(ParameterError) as ref:
        check_prompt("a red potoin")
    assert str(err.value) == str(ref.value)
    assert "nearest known words: potion" in str(err.value)


def test_length_limits(tok):
    longest = "a hero with short black hair in a red tunic"
    assert tok.encode(longest)[1].sum().item() == len(longest.split()) + 2
    with pytest.raises(ParameterError, match="has 11 words; at most 10 fit in 12 tokens"):
        tok.encode(longest + " red")
    ids, mask = tok.encode("a red potion", max_length=6)
    assert ids.shape == (1, 6) and mask.tolist() == [[True] * 5 + [False]]
    with pytest.raises(ParameterError, match="at most 2 fit"):
        tok.encode("a red potion", max_length=4)
    for bad in (1, 2.5, True):
        with pytest.raises(ParameterError, match="max_length"):
            tok.encode("a", max_length=bad)
    with pytest.raises(ParameterError, match="at least one text"):
        tok.encode([])


def test_decode_reads_rows_up_to_eos(tok):
    ids, _ = tok.encode(["a blue slime"])
    assert tok.decode(ids[0]) == "a blue slime"
    assert tok.decode(ids.numpy()) == ["a blue slime"]
    row = ids[0].tolist()
    row[5] = row[3]  # a word after <eos> is not read
    assert tok.decode(row) == "a blue slime"
    with pytest.raises(ParameterError, match="token ids must be in"):
        tok.decode([1, tok.vocab_size])
    with pytest.raises(ParameterError, match="integer array"):
        tok.decode(np.zeros((2, 2, 2), dtype=np.int64))


def test_to_dict_round_trips_through_json(tok):
    data = json.loads(json.dumps(tok.to_dict()))
    again = CaptionTokenizer.from_dict(data)
    assert again == tok and hash(again) == hash(tok)
    assert torch.equal(again.encode("an ice spell orb")[0], tok.encode("an ice spell orb")[0])
    small = CaptionTokenizer(["red", "potion", "a"], max_length=5)
    assert CaptionTokenizer.from_dict(small.to_dict()) == small != tok
    assert small.encode("a red potion")[0].tolist() == [[1, 5, 3, 4, 2]]
    with pytest.raises(ParameterError, match="unknown word 'pation'.*nearest known words: potion"):
        small.encode("a red pation")
    with pytest.raises(ParameterError, match="unknown word 'blue' in the prompt; no known word"):
        small.encode("a blue potion")
    assert "vocab_size=107" not in repr(small) and "max_length=5" in repr(small)


@pytest.mark.parametrize(
    "data, match",
    [
        ([], "must be a dict"),
        ({"vocabulary": ["a"]}, "keys"),
        ({"vocabulary": ["a"], "max_length": 4, "extra": 1}, "keys"),
        ({"vocabulary": "a red", "max_length": 4}, "list of words"),
        ({"vocabulary": ["a", "a"], "max_length": 4}, "unique"),
        ({"vocabulary": ["ice cream"], "max_length": 4}, "one lower-case word"),
        ({"vocabulary": ["Red"], "max_length": 4}, "one lower-case word"),
        ({"vocabulary": [3], "max_length": 4}, "sequence of words"),
        ({"vocabulary": [], "max_length": 4}, "at least one word"),
        ({"vocabulary": ["a"], "max_length": 1}, "max_length"),
        ({"vocabulary": ["a"], "max_length": 10**6}, "max_length"),
        ({"vocabulary": ["a"], "max_length": "12"}, "max_length"),
        ({"vocabulary": ["a"], "max_length": True}, "max_length"),
    ],
)
def test_from_dict_refuses_malformed_data(data, match):
    with pytest.raises(ParameterError, match=match):
        CaptionTokenizer.from_dict(data)
