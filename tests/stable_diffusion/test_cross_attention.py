"""Cross-attention with known answers: padding is masked, the null caption adds exactly 0."""

import math

import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.stable_diffusion.cross_attention import (
    CrossAttention,
    SpatialTransformer,
    TransformerBlock,
    context_padding_mask,
)


@pytest.fixture()
def attention():
    torch.manual_seed(0)
    return CrossAttention(8, context_dim=6, heads=2)


def test_padding_mask_marks_all_zero_rows():
    context = torch.zeros(2, 4, 3)
    context[0, :2] = 1.0
    context[1, 0, 2] = -0.5  # one non-zero entry makes a row real
    assert context_padding_mask(context).tolist() == [
        [True, True, False, False],
        [True, False, False, False],
    ]


def test_padded_rows_do_not_change_the_output(attention):
    x = torch.randn(2, 5, 8)
    text = torch.randn(2, 4, 6)
    text[:, 2:] = 0  # two padding tokens per caption
    mask = context_padding_mask(text)
    out = attention(x, text)
    # Other values in the padded rows, with the mask given explicitly: the same output.
    other = text.clone()
    other[:, 2:] = torch.randn(2, 2, 6) * 100
    assert torch.allclose(attention(x, other, mask), out, atol=1e-6)
    # And the same as the caption without its padding at all.
    assert torch.allclose(attention(x, text[:, :2]), out, atol=1e-6)


def test_matches_a_hand_computed_softmax():
    torch.manual_seed(1)
    attention = CrossAttention(4, context_dim=3, heads=1)
    x, text = torch.randn(1, 2, 4), torch.randn(1, 3, 3)
    text[0, 2] = 0
    q, k, v = attention.to_q(x)[0], attention.to_k(text)[0, :2], attention.to_v(text)[0, :2]
    weights = torch.softmax(q @ k.T / math.sqrt(4), dim=-1)  # P(token | position)
    expected = attention.to_out(weights @ v)
    assert torch.allclose(attention(x, text)[0], expected, atol=1e-6)


def test_all_masked_row_gives_exactly_zero_not_nan(attention):
    x = torch.randn(3, 5, 8)
    text = torch.randn(3, 4, 6)
    text[1] = 0  # the null caption
    out = attention(x, text)
    assert torch.isfinite(out).all()
    assert torch.equal(out[1], torch.zeros(5, 8))
    assert out[0].abs().sum() > 0 and out[2].abs().sum() > 0
    # The other rows are as if computed alone.
    assert torch.allclose(attention(x[[0, 2]], text[[0, 2]]), out[[0, 2]], atol=1e-6)


def test_gradients_stay_finite_through_a_null_caption(attention):
    x = torch.randn(2, 5, 8, requires_grad=True)
    text = torch.zeros(2, 4, 6)
    text[0, 0] = 1.0
    attention(x, text).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in attention.parameters())


def test_self_attention_ignores_context_and_needs_none():
    torch.manual_seed(2)
    attention = CrossAttention(8, None, heads=4)
    x = torch.randn(2, 5, 8)
    assert attention(x).shape == x.shape


def test_cross_attention_refuses_a_missing_context(attention):
    with pytest.raises(ParameterError, match="needs a context"):
        attention(torch.randn(1, 5, 8))


@pytest.mark.parametrize("heads", [0, 3, True])
def test_heads_must_divide_the_width(heads):
    with pytest.raises(ParameterError, match="heads must be"):
        CrossAttention(8, 6, heads=heads)


def test_transformer_block_none_context_equals_null_caption():
    torch.manual_seed(3)
    block = TransformerBlock(8, 6, heads=2)
    x = torch.randn(2, 5, 8)
    assert torch.equal(block(x, None), block(x, torch.zeros(2, 3, 6)))


def test_spatial_transformer_starts_as_identity_and_reads_the_text_once_trained():
    torch.manual_seed(4)
    block = SpatialTransformer(8, context_dim=6, heads=2)
    x, text = torch.randn(2, 8, 4, 4), torch.randn(2, 3, 6)
    assert torch.equal(block(x, text), x)
    torch.nn.init.normal_(block.proj_out.weight, std=0.5)  # as if trained
    other = torch.randn(2, 3, 6)
    assert not torch.allclose(block(x, text), block(x, other))
    # Padding rows still do not matter, through the whole block.
    padded = torch.cat([text, torch.zeros(2, 2, 6)], dim=1)
    assert torch.allclose(block(x, padded), block(x, text), atol=1e-5)
    # And the null caption is the same as no text.
    assert torch.equal(block(x, torch.zeros_like(text)), block(x, None))
