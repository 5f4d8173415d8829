"""CLIP at sprite scale: the loss against hand-computed values, P(caption | image), the task."""

import math

import numpy as np
import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.sprites.captions import class_prompt
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites
from diffprob.stable_diffusion.clip_training import (
    CLIPTask,
    clip_from_part,
    default_text_config,
    zero_shot_report,
)
from diffprob.stable_diffusion.contrastive import (
    MAX_LOGIT_SCALE,
    ContrastiveModel,
    caption_probabilities,
    caption_similarities,
    clip_loss,
    same_caption_positives,
    zero_shot_classify,
)
from diffprob.stable_diffusion.fit import FitConfig, fit
from diffprob.stable_diffusion.image_encoder import ImageEncoderConfig
from diffprob.stable_diffusion.tokenizer import CaptionTokenizer


def ce(logits, target):
    """-log softmax(logits)[target], by hand."""
    return -(logits[target] - math.log(sum(math.exp(z) for z in logits)))


# --- clip_loss ---------------------------------------------------------------------


def test_clip_loss_matches_a_hand_computed_2x2_case():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [0.6, 0.8]])  # unit rows; cosines [[1, .6], [0, .8]]
    s = 2.0  # exp(logit_scale)
    logits = [[s * 1.0, s * 0.6], [s * 0.0, s * 0.8]]
    image_to_text = (ce(logits[0], 0) + ce(logits[1], 1)) / 2
    columns = [[logits[0][0], logits[1][0]], [logits[0][1], logits[1][1]]]
    text_to_image = (ce(columns[0], 0) + ce(columns[1], 1)) / 2
    expected = (image_to_text + text_to_image) / 2
    got = clip_loss(u, v, math.log(s))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.2987, abs=1e-4)  # the number, for the record
    # the loss normalises: rescaling rows changes nothing
    got_scaled = clip_loss(3 * u, v * torch.tensor([[0.5], [7.0]]), torch.tensor(math.log(s)))
    assert got_scaled.item() == pytest.approx(expected, rel=1e-6)


def test_clip_loss_is_symmetric_in_its_towers():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert clip_loss(u, v, 1.3).item() == pytest.approx(clip_loss(v, u, 1.3).item(), rel=1e-6)


@pytest.mark.parametrize("batch", [2, 5, 32])
def test_uninformative_embeddings_cost_log_b(batch):
    same = torch.ones(batch, 3)
    assert clip_loss(same, same, math.log(1 / 0.07)).item() == pytest.approx(math.log(batch))


def test_orthonormal_pairs_cost_log_of_one_plus_the_rest():
    # u = v = I: each row's logits are s on the diagonal, 0 elsewhere
    for batch, s in [(4, 1.0), (4, 10.0), (7, 3.0)]:
        eye = torch.eye(batch)
        expected = math.log(1 + (batch - 1) * math.exp(-s))
        assert clip_loss(eye, eye, math.log(s)).item() == pytest.approx(
            expected, rel=1e-5, abs=1e-6
        )


def test_multi_positive_targets():
    eye = torch.eye(2)
    # one-hot positives are CLIP's loss exactly
    assert torch.equal(
        clip_loss(eye, eye, 0.0, positives=torch.eye(2, dtype=bool)), clip_loss(eye, eye, 0.0)
    )
    # both captions right for both images: uniform targets, -(1/2)(log p_00 + log p_01)
    # with logits [1, 0]: log(e + 1) - 1/2
    everything = torch.ones(2, 2, dtype=bool)
    assert clip_loss(eye, eye, 0.0, positives=everything).item() == pytest.approx(
        math.log(math.e + 1) - 0.5, rel=1e-6
    )
    with pytest.raises(ParameterError, match="diagonal"):
        clip_loss(eye, eye, 0.0, positives=torch.zeros(2, 2, dtype=bool))
    with pytest.raises(ParameterError, match="shape"):
        clip_loss(eye, torch.eye(3), 0.0)


def test_same_caption_positives():
    got = same_caption_positives(["a red potion", "a hero", "a red potion", "a red slime"])
    assert got.tolist() == [
        [True, False, True, False],
        [False, True, False, False],
        [True, False, True, False],
        [False, False, False, True],
    ]


# --- the model and P(caption | image) ---------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    return CaptionTokenizer.default()


def tiny_model(tokenizer, seed=0):
    torch.manual_seed(seed)
    text = default_text_config(tokenizer, width=16, layers=1, embed_dim=8)
    return ContrastiveModel(text, ImageEncoderConfig(embed_dim=8, width=4)).eval()


def test_temperature_starts_at_0_07_and_is_clamped(tokenizer):
    model = tiny_model(tokenizer)
    assert model.temperature == pytest.approx(0.07, rel=1e-6)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(MAX_LOGIT_SCALE)
    assert model.temperature == pytest.approx(0.01, rel=1e-5)
    with pytest.raises(ParameterError, match="embed_dim"):
        ContrastiveModel(
            default_text_config(tokenizer, embed_dim=8), ImageEncoderConfig(embed_dim=9)
        )


def test_caption_probabilities_are_the_softmax_at_the_temperature(tokenizer):
    model = tiny_model(tokenizer)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1 / 0.25))
    images, _ = generate_sprites(6, seed=3)
    captions = ["a red potion", "a blue slime", "a hero", "an ice orb"]
    p = caption_probabilities(model, tokenizer, images, captions)
    assert p.shape == (6, 4) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    # by hand from the towers
    from diffprob.diffusion.model_range import to_model_range

    with torch.no_grad():
        u = model.encode_image(torch.from_numpy(to_model_range(images)))
        v = model.encode_text(*tokenizer.encode(captions))
        expected = torch.softmax((u @ v.T).double() / 0.25, dim=1).numpy()
    np.testing.assert_allclose(p, expected, rtol=1e-5, atol=1e-7)
    # the temperature sharpens without reordering
    cos = caption_similarities(model, tokenizer, images, captions)
    np.testing.assert_array_equal(p.argmax(axis=1), cos.argmax(axis=1))
    # uint8 images and the same images in model range agree
    q = caption_probabilities(model, tokenizer, torch.from_numpy(to_model_range(images)), captions)
    np.testing.assert_allclose(p, q, rtol=1e-6)
    np.testing.assert_array_equal(
        zero_shot_classify(model, tokenizer, images, captions), p.argmax(axis=1)
    )
    with pytest.raises(ParameterError, match="captions"):
        caption_probabilities(model, tokenizer, images, [])
    with pytest.raises(ParameterError, match="images"):
        caption_probabilities(model, tokenizer, images.astype(np.float32), captions)


def test_model_is_deterministic_and_rebuilds_from_its_config(tokenizer):
    images, _ = generate_sprites(4, seed=1)
    a = caption_similarities(tiny_model(tokenizer), tokenizer, images, ["a hero", "a red potion"])
    b = caption_similarities(tiny_model(tokenizer), tokenizer, images, ["a hero", "a red potion"])
    np.testing.assert_array_equal(a, b)
    model = tiny_model(tokenizer)
    task_config = {**model.model_config(), "tokenizer": tokenizer.to_dict()}
    rebuilt, tok = clip_from_part(task_config, model.state_dict())
    assert tok == tokenizer
    c = caption_similarities(rebuilt, tok, images, ["a hero", "a red potion"])
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ParameterError):
        ContrastiveModel.from_config({**model.model_config(), "extra": 1})


# --- the training task ------------------------------------------------------------------


def tiny_task(tokenizer, **kwargs):
    text = default_text_config(tokenizer, width=16, layers=1, embed_dim=8)
    return CLIPTask(text, ImageEncoderConfig(embed_dim=8, width=4), eval_n=50, **kwargs)


def test_batches_are_fresh_and_reproducible(tokenizer):
    task = tiny_task(tokenizer)
    a = task.batch(np.random.default_rng([0, 5]), 16)
    b = task.batch(np.random.default_rng([0, 5]), 16)
    c = task.batch(np.random.default_rng([0, 6]), 16)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["images"], c["images"])
    assert a["images"].shape == (16, 3, 16, 16) and a["images"].abs().max() <= 1
    # the diagonal is always a positive; attribute positives include identical captions
    assert bool(a["positives"].diagonal().all())
    ids = a["ids"]
    same_text = (ids[:, None, :] == ids[None, :, :]).all(-1)
    assert bool(a["positives"][same_text].all())
    caption_only = tiny_task(tokenizer, positives="caption").batch(
        np.random.default_rng([0, 5]), 16
    )
    assert torch.equal(caption_only["positives"], same_text)


def test_class_prompts_are_true_of_every_sprite_of_the_class(tokenizer):
    task = tiny_task(tokenizer, class_share=1.0)
    batch = task.batch(np.random.default_rng(1), 20)
    # every caption is a class prompt: positives = same class
    words = tokenizer.decode(batch["ids"])
    assert set(words) <= {class_prompt(c) for c in CLASSES}
    same = np.array([[x == y for y in words] for x in words])
    np.testing.assert_array_equal(batch["positives"].numpy(), same)


def test_fit_trains_and_reports(tokenizer, tmp_path):
    task = tiny_task(tokenizer)
    config = FitConfig(steps=6, batch_size=16, warmup_steps=1, log_every=3, seed=0)
    result = fit(task, config, progress=False)
    again = fit(task, config, progress=False)
    assert [h["loss"] for h in result.history] == [h["loss"] for h in again.history]
    assert {"zero_shot_class_accuracy", "temperature"} <= set(result.metadata)
    assert 0 <= result.metadata["zero_shot_class_accuracy"] <= 1
    assert result.history[0]["loss"] > 0 and "retrieval" in result.history[0]
    report = zero_shot_report(result.model, tokenizer, 40, n_resamples=20)
    for key in ("class_accuracy", "variant_accuracy", "colour_accuracy"):
        e = report[key]
        assert 0 <= e.low <= e.value <= e.high <= 1
    assert report["chance"]["class_accuracy"] == 0.2
