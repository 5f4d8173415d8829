"""The text tower: configuration, shapes, padding and the pooled <eos> feature."""

import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.stable_diffusion.text_encoder import TextEncoder, TextEncoderConfig

PAD, BOS, EOS = 0, 1, 2


def tiny(**kwargs) -> TextEncoder:
    torch.manual_seed(0)
    settings = dict(vocab_size=12, max_length=10, width=16, layers=2, heads=4, embed_dim=8)
    settings.update(kwargs)
    return TextEncoder(TextEncoderConfig(**settings)).eval()


def batch(rows, length):
    """``<bos> words <eos>`` then padding, as the caption tokenizer writes them."""
    ids = torch.full((len(rows), length), PAD, dtype=torch.long)
    for i, words in enumerate(rows):
        seq = [BOS, *words, EOS]
        ids[i, : len(seq)] = torch.tensor(seq)
    return ids, ids != PAD


def test_config_round_trip_and_refusals():
    cfg = TextEncoderConfig(vocab_size=50, max_length=12, width=96, layers=3, embed_dim=32)
    assert TextEncoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ParameterError, match="unknown text encoder configuration keys"):
        TextEncoderConfig.from_dict({**cfg.to_dict(), "dropout": 0.1})
    with pytest.raises(ParameterError, match="multiple of heads"):
        TextEncoderConfig(vocab_size=50, max_length=12, width=30, heads=4)
    for bad in ({"layers": 0}, {"width": 10**6}, {"heads": True}, {"max_length": 2.5}):
        with pytest.raises(ParameterError):
            TextEncoderConfig(**{"vocab_size": 50, "max_length": 12, **bad})
    with pytest.raises(ParameterError):
        TextEncoderConfig(vocab_size=2, max_length=12)  # no room for the 3 special tokens


def test_shapes_and_padding_rows_are_exactly_zero():
    enc = tiny()
    ids, mask = batch([[3, 4], [5, 6, 7, 8, 9], []], length=10)
    tokens, pooled = enc(ids, mask)
    assert tokens.shape == (3, 10, 16) and pooled.shape == (3, 8)
    assert bool((tokens[~mask] == 0).all())
    # real rows are LayerNorm outputs, never all zero
    assert bool((tokens[mask].abs().sum(-1) > 0).all())
    # the text U-Net's rule recovers the mask
    assert torch.equal(tokens.abs().sum(-1) > 0, mask)


def test_padded_ids_do_not_change_anything():
    enc = tiny()
    ids, mask = batch([[3, 4], [5, 6, 7]], length=10)
    other = ids.clone()
    other[~mask] = torch.randint(
        3, 12, (int((~mask).sum()),), generator=torch.Generator().manual_seed(1)
    )
    a_tokens, a_pooled = enc(ids, mask)
    b_tokens, b_pooled = enc(other, mask)
    torch.testing.assert_close(a_tokens, b_tokens, rtol=0, atol=1e-6)
    torch.testing.assert_close(a_pooled, b_pooled, rtol=0, atol=1e-6)


def test_pooled_is_the_projected_eos_row_and_independent_of_padding_length():
    enc = tiny()
    short_ids, short_mask = batch([[3, 4, 5]], length=5)
    long_ids, long_mask = batch([[3, 4, 5]], length=10)
    tokens, pooled = enc(short_ids, short_mask)
    long_tokens, long_pooled = enc(long_ids, long_mask)
    # <bos> 3 4 5 <eos>: the <eos> row is position 4
    torch.testing.assert_close(pooled, enc.projection(tokens[:, 4]))
    torch.testing.assert_close(pooled, long_pooled, rtol=0, atol=1e-6)
    torch.testing.assert_close(tokens, long_tokens[:, :5], rtol=0, atol=1e-6)


def test_word_order_matters_through_position_embeddings():
    enc = tiny()
    ids, mask = batch([[3, 4], [4, 3]], length=6)
    _, pooled = enc(ids, mask)
    assert not torch.allclose(pooled[0], pooled[1], atol=1e-4)


def test_deterministic_and_same_in_train_and_eval_mode():
    ids, mask = batch([[3, 4], [5]], length=6)
    a = tiny()(ids, mask)
    b = tiny()(ids, mask)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    enc = tiny().train()
    c = enc(ids, mask)
    torch.testing.assert_close(c[1], a[1], rtol=0, atol=1e-6)


def test_gradients_are_finite_with_padding():
    enc = tiny().train()
    ids, mask = batch([[3], [5, 6, 7, 8]], length=10)
    tokens, pooled = enc(ids, mask)
    (tokens.square().sum() + pooled.square().sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)
    assert enc.token_embedding.weight.grad[PAD].abs().sum() == 0  # padding never read


def test_bad_inputs_are_one_line_errors():
    enc = tiny()
    ids, mask = batch([[3, 4]], length=6)
    with pytest.raises(ParameterError, match="mask shape"):
        enc(ids, mask[:, :5])
    with pytest.raises(ParameterError, match="max_length"):
        enc(*batch([[3]], length=11))
    with pytest.raises(ParameterError, match="token ids"):
        enc(ids + 20, mask)
    with pytest.raises(ParameterError, match="BoolTensor"):
        enc(ids, mask.long())
    with pytest.raises(ParameterError, match="first"):
        enc(ids, ~mask)
    holed = mask.clone()
    holed[0, 1] = False
    with pytest.raises(ParameterError, match="start of each row"):
        enc(ids, holed)


def test_default_size_is_small():
    cfg = TextEncoderConfig(vocab_size=80, max_length=16)
    n = sum(p.numel() for p in TextEncoder(cfg).parameters())
    assert 50_000 < n < 300_000
