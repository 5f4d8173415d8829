"""The caption tokenizer: one token per word of the sprite caption vocabulary.

Stable Diffusion's text encoder reads byte-pair tokens of a 49 408-word vocabulary; the
sprite captions (:mod:`diffprob.sprites.captions`) use about a hundred words, so a word
is a token here. A caption becomes ``<bos> word ... word <eos>`` followed by ``<pad>``
up to a fixed length, with a mask that is True at the real tokens::

    "a red potion"  ->  ids  [1, id(a), id(red), id(potion), 2, 0, 0, ...]
                        mask [T, T,     T,       T,          T, F, F, ...]

Ids 0, 1 and 2 are ``<pad>``, ``<bos>`` and ``<eos>``; word ``i`` of the vocabulary has
id ``3 + i``. The default length, :attr:`CaptionTokenizer.max_length`, is the longest
caption the grammar can produce plus the two markers, so every caption fits and every
batch has the same shape (the text encoder's position embeddings are sized by it).
An unknown word is refused with the same one-line error as
:func:`~diffprob.sprites.captions.check_prompt`, naming its nearest known words.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from diffprob.errors import ParameterError
from diffprob.sprites.captions import MAX_CAPTION_WORDS, VOCABULARY, check_prompt

__all__ = ["CaptionTokenizer", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
"""The tokens with ids 0, 1 and 2, before the words."""

_MAX_LENGTH_LIMIT = 256
_WORD = re.compile(r"[^\W_]+")


class CaptionTokenizer:
    """Word-level tokenizer over a fixed vocabulary, with ``<pad>``, ``<bos>``, ``<eos>``.

    Parameters
    ----------
    vocabulary : sequence of str, optional
        The known words, each a lower-case word without spaces or punctuation;
        :data:`~diffprob.sprites.captions.VOCABULARY` by default.
    max_length : int, optional
        Length of every encoded row, ``<bos>`` and ``<eos>`` included; by default the
        longest caption of the grammar plus 2.

    Examples
    --------
    >>> tok = CaptionTokenizer.default()
    >>> ids, mask = tok.encode(["a red potion", "an ice spell orb"])
    >>> ids.shape == (2, tok.max_length), mask[0].sum().item()
    (True, 5)
    >>> tok.decode(ids)
    ['a red potion', 'an ice spell orb']
    """

    pad_id = 0
    bos_id = 1
    eos_id = 2

    def __init__(self, vocabulary=None, max_length: int | None = None):
        vocabulary = VOCABULARY if vocabulary is None else vocabulary
        if isinstance(vocabulary, str) or not all(isinstance(w, str) for w in vocabulary):
            raise ParameterError("vocabulary must be a sequence of words (str)")
        vocabulary = tuple(vocabulary)
        if not vocabulary:
            raise ParameterError("vocabulary must hold at least one word")
        for w in vocabulary:
            if not _WORD.fullmatch(w) or w != w.lower():
                raise ParameterError(
                    f"vocabulary word {w!r} must be one lower-case word without punctuation"
                )
        if len(set(vocabulary)) != len(vocabulary):
            raise ParameterError("vocabulary words must be unique")
        if max_length is None:
            max_length = MAX_CAPTION_WORDS + 2
        if (
            isinstance(max_length, bool)
            or not isinstance(max_length, (int, np.integer))
            or not 2 <= max_length <= _MAX_LENGTH_LIMIT
        ):
            raise ParameterError(
                f"max_length must be an integer in [2, {_MAX_LENGTH_LIMIT}], got {max_length!r}"
            )
        self.vocabulary = vocabulary
        self.max_length = int(max_length)
        self._ids = {w: i + len(SPECIAL_TOKENS) for i, w in enumerate(vocabulary)}

    @classmethod
    def default(cls) -> CaptionTokenizer:
        """The tokenizer of the sprite captions: :data:`VOCABULARY`, the default length."""
        return cls()

    @property
    def vocab_size(self) -> int:
        """Number of token ids: the 3 special tokens and the words."""
        return len(SPECIAL_TOKENS) + len(self.vocabulary)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token, in id order."""
        return SPECIAL_TOKENS + self.vocabulary

    def encode(self, texts, max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and mask of a batch of texts, each padded to ``max_length``.

        Parameters
        ----------
        texts : str or sequence of str
            Prompts or captions; case is ignored and punctuation separates words.
        max_length : int, optional
            Row length; :attr:`max_length` by default.

        Returns
        -------
        ids : torch.LongTensor of shape (B, max_length)
            ``<bos>``, the words, ``<eos>``, then ``<pad>``.
        mask : torch.BoolTensor of shape (B, max_length)
            True at ``<bos>``, the words and ``<eos>``; False at padding.

        Raises
        ------
        ParameterError
            For an unknown word (naming its nearest known words) or a text with more
            than ``max_length - 2`` words.
        """
        length = self.max_length if max_length is None else max_length
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
            raise ParameterError(f"max_length must be an integer >= 2, got {max_length!r}")
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ParameterError("texts must hold at least one text")
        ids = torch.full((len(texts), length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            words = check_prompt(text, self.vocabulary)
            if len(words) > length - 2:
                raise ParameterError(
                    f"the prompt {text!r} has {len(words)} words; at most {length - 2} fit "
                    f"in {length} tokens"
                )
            tokens = [self.bos_id] + [self._ids[w] for w in words] + [self.eos_id]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask = ids != self.pad_id
        return ids, mask

    def decode(self, ids):
        """The words of token ids, ``<bos>``, ``<eos>`` and padding left out.

        Parameters
        ----------
        ids : torch.Tensor, numpy.ndarray or list
            One row ``(L,)`` or a batch ``(B, L)`` of token ids; a row is read up to its
            first ``<eos>``.

        Returns
        -------
        str or list of str
            One text for one row, a list for a batch.
        """
        arr = np.asarray(ids.detach().cpu() if isinstance(ids, torch.Tensor) else ids)
        if arr.ndim not in (1, 2) or not np.issubdtype(arr.dtype, np.integer):
            raise ParameterError(f"ids must be a (L,) or (B, L) integer array, got {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ParameterError(f"token ids must be in [0, {self.vocab_size - 1}]")
        rows = [arr] if arr.ndim == 1 else list(arr)
        out = []
        for row in rows:
            words = []
            for i in row.tolist():
                if i == self.eos_id:
                    break
                if i >= len(SPECIAL_TOKENS):
                    words.append(self.vocabulary[i - len(SPECIAL_TOKENS)])
            out.append(" ".join(words))
        return out[0] if arr.ndim == 1 else out

    def to_dict(self) -> dict:
        """``{"vocabulary": [...], "max_length": int}``, JSON-able; see :meth:`from_dict`."""
        return {"vocabulary": list(self.vocabulary), "max_length": self.max_length}

    @classmethod
    def from_dict(cls, data) -> CaptionTokenizer:
        """The tokenizer of :meth:`to_dict`; refuses missing or unknown keys and bad values.

        Examples
        --------
        >>> tok = CaptionTokenizer.default()
        >>> CaptionTokenizer.from_dict(tok.to_dict()) == tok
        True
        """
        if not isinstance(data, dict):
            raise ParameterError(f"a tokenizer must be a dict, got {type(data).__name__}")
        keys = {"vocabulary", "max_length"}
        if set(data) != keys:
            raise ParameterError(
                f"a tokenizer dict has the keys {sorted(keys)}, got {sorted(map(str, data))}"
            )
        if not isinstance(data["vocabulary"], (list, tuple)):
            raise ParameterError("tokenizer vocabulary must be a list of words")
        return cls(data["vocabulary"], data["max_length"])

    def __eq__(self, other):
        if not isinstance(other, CaptionTokenizer):
            return NotImplemented
        return self.vocabulary == other.vocabulary and self.max_length == other.max_length

    def __hash__(self):
        return hash((self.vocabulary, self.max_length))

    def __repr__(self):
        return f"CaptionTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length})"
