"""Prompt faithfulness: the judges on sprites with known answers, and evaluate() on a pipeline."""

import json
from collections import Counter

import numpy as np
import pytest

from diffprob.errors import CheckpointError, DataError, ParameterError
from diffprob.evaluation.compare import compare_models
from diffprob.evaluation.evaluate import evaluate, load_model_file
from diffprob.evaluation.faithfulness import (
    faithfulness_prompts,
    judge_colours,
    judge_variants,
    matching_sprites,
    prompt_faithfulness,
)
from diffprob.sprites.attributes import generate_sprites_with_attributes
from diffprob.sprites.captions import colour_noun_prompts, main_colour_role
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites
from diffprob.sprites.palettes import colour_roles, slot_palette

PROMPTS = dict(colour_noun_prompts())


@pytest.fixture(scope="module")
def real_judged():
    """231 real sprites, three for each of the 77 colour-noun prompts, and their judgement."""
    pairs = faithfulness_prompts(231, seed=0)
    images = matching_sprites(pairs, seed=1)
    return pairs, images, prompt_faithfulness(images, pairs, n_bootstrap=50, seed=0)


def test_prompts_are_balanced_and_seeded():
    pairs = faithfulness_prompts(100, seed=3)
    counts = Counter(p for p, _ in pairs)
    assert len(pairs) == 100 and set(counts) == set(PROMPTS)
    assert set(counts.values()) == {1, 2}  # 100 = 77 + 23 extra
    assert pairs == faithfulness_prompts(100, seed=3)
    assert all(PROMPTS[p] == e for p, e in pairs)
    with pytest.raises(ParameterError, match="n must be"):
        faithfulness_prompts(0)


def test_real_sprites_of_every_prompt_are_judged_faithful(real_judged):
    pairs, _, result = real_judged
    est = result.estimates
    assert est["class_accuracy"].value == 1.0
    assert est["colour_accuracy"].value == 1.0  # the colour rule is exact on real sprites
    assert est["variant_accuracy"].value >= 0.97  # slime/ghost silhouettes: ~0.99
    assert est["faithful"].value >= 0.97
    assert result.predicted_colour == [e["colour"] for _, e in pairs]
    assert est["variant_accuracy"].low <= est["variant_accuracy"].value <= 1.0
    # a prompt that names no variant ("a red creature") is left out of variant accuracy
    named = [e["variant"] is not None for _, e in pairs]
    assert np.isnan(result.variant_ok[~np.asarray(named)]).all()
    assert result.prompts == [p for p, _ in pairs]
    nouns = result.by_noun()
    assert nouns["potion"]["n"] == 18 and np.isnan(nouns["creature"]["variant_accuracy"])
    json.dumps(result.to_dict())


def test_colour_judge_reads_the_drawn_colour_of_every_role():
    images, _, attrs = generate_sprites_with_attributes(300, seed=4)
    groups = _by_class_role(attrs)
    assert len(groups) == 8  # tunic, body, fruit, frosting, liquid, blade, shield, glow
    for (name, role), idx in groups.items():
        found, counts = judge_colours(images[idx], name, role)
        assert found == [attrs[i].colours[role] for i in idx], (name, role)
        assert counts.shape == (len(idx), len(colour_roles(name)[role]))


def _by_class_role(attrs):
    """{(class, main colour role): sprite indices}; heroes' tunics included."""
    groups = {}
    for i, a in enumerate(attrs):
        role = main_colour_role(a.class_name, a.variant)
        if role in a.colours:
            groups.setdefault((a.class_name, role), []).append(i)
    return groups


def _recolour(image, class_name, role, old, new):
    """The sprite with every shade of `role`'s option `old` painted as option `new`."""
    names = [n for n, _ in colour_roles(class_name)[role]]
    choice = {r: np.zeros(2, np.int64) for r in colour_roles(class_name)}
    choice[role] = np.array([names.index(old), names.index(new)])
    palette = slot_palette(class_name, choice)  # (2, slots, 3): old and new side by side
    out = image.copy()
    for before, after in zip(palette[0, 1:], palette[1, 1:], strict=True):
        if not (before == after).all():
            out[(image == before).all(axis=-1)] = after
    return out


def test_a_sprite_recoloured_to_another_palette_colour_is_unfaithful():
    red = PROMPTS["a red potion"]
    potion = matching_sprites([red], seed=0)[0]
    blue = _recolour(potion, "item", "liquid", "red", "blue")
    assert (blue != potion).any()
    assert judge_colours(np.stack([potion, blue]), "item", "liquid")[0] == ["red", "blue"]
    judged = prompt_faithfulness(np.stack([potion, blue]), [red, red], n_bootstrap=0)
    assert judged.colour_ok.tolist() == [True, False]
    assert judged.class_ok.tolist() == [True, True]  # still a potion
    assert judged.estimates["colour_accuracy"].value == 0.5
    again = prompt_faithfulness(blue[None], [PROMPTS["a blue potion"]], n_bootstrap=0)
    assert again.colour_ok.tolist() == [True]
    # the same with a creature's body (with light and dark shades) and a spell's glow
    for prompt, role, new in (("a green slime", "body", "purple"), ("a fire orb", "glow", "ice")):
        expected = PROMPTS[prompt]
        sprite = matching_sprites([expected], seed=2)[0]
        moved = _recolour(sprite, expected["class_name"], role, expected["colour"], new)
        assert judge_colours(moved[None], expected["class_name"], role)[0] == [new]
        assert not prompt_faithfulness(moved[None], [expected], n_bootstrap=0).colour_ok[0]


def test_variant_judge_on_real_sprites():
    images, _, attrs = generate_sprites_with_attributes(200, seed=5, classes=["item", "spell"])
    for name in ("item", "spell"):
        idx = [i for i, a in enumerate(attrs) if a.class_name == name]
        found = judge_variants(images[idx], name)
        assert np.mean([f == attrs[i].variant for f, i in zip(found, idx, strict=True)]) >= 0.98


def test_noise_is_not_faithful(real_judged):
    from diffprob.evaluation.baselines import pure_noise

    pairs, _, _ = real_judged
    noise = prompt_faithfulness(pure_noise(len(pairs), rng=0), pairs, n_bootstrap=0)
    assert noise.estimates["colour_accuracy"].value < 0.5
    assert noise.estimates["faithful"].value < 0.2


def test_bad_arguments(real_judged):
    pairs, images, _ = real_judged
    with pytest.raises(ParameterError, match="prompts for"):
        prompt_faithfulness(images[:3], pairs[:2])
    with pytest.raises(ParameterError, match="expected must hold"):
        prompt_faithfulness(images[:1], [{"class_name": "item"}])
    with pytest.raises(ParameterError, match="n_bootstrap"):
        prompt_faithfulness(images[:1], pairs[:1], n_bootstrap=1)
    with pytest.raises(ParameterError, match="unknown colour role"):
        judge_colours(images[:1], "item", "outline")
    impossible = {"class_name": "item", "variant": "sword", "role": "liquid", "colour": "red"}
    with pytest.raises(DataError, match="no generator sprite matches"):
        matching_sprites([impossible], max_rounds=1)


# -- evaluate() on a text-to-sprite pipeline -----------------------------------------------------
SOURCE = "sprites(n=200, size=16, seed=0)"


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory):
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

    path = tmp_path_factory.mktemp("txt2img") / "tiny.pt"
    pipe = Txt2ImgPipeline.tiny(seed=0)
    pipe.metadata["data_source"] = SOURCE  # a small stand-in training set, for speed
    pipe.save(path)
    return path


@pytest.fixture(scope="module")
def pipeline_report(pipeline_file):
    return evaluate(
        str(pipeline_file),
        n=10,
        steps=2,
        kid_subsets=2,
        n_bootstrap=10,
        n_reference=50,
        n_faithfulness=12,
    )


def test_evaluate_scores_a_pipeline_end_to_end(pipeline_report, pipeline_file):
    rep = pipeline_report
    s = rep.settings
    assert s["model_kind"] == "txt2img" and s["checkpoint"] == str(pipeline_file)
    assert s["guidance"] == 3.0  # the pipeline's own weight when none is given
    assert s["prompts"]["food"] == "some food" and s["n_faithfulness"] == 12
    assert s["n_per_class"] == [2, 2, 2, 2, 2] and s["data_source"] == SOURCE
    assert list(rep.overall) == ["model", "real", "independent_pixel", "noise"]
    assert rep.overall["real"]["accuracy"] == 1.0
    assert rep.images["model"].shape == (10, 16, 16, 3)
    assert set(rep.faithfulness) == {"model", "real", "noise"}
    real = rep.faithfulness["real"].estimates
    assert real["class_accuracy"].value == 1.0 and real["colour_accuracy"].value == 1.0
    assert rep.faithfulness["model"].images.shape == (12, 16, 16, 3)
    assert rep.timings["sampling_s_per_image"] > 0
    table = rep.table(per_class=False)
    assert "prompt faithfulness: 12" in table and "ms per image" in table
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["faithfulness"]["real"]["colour_accuracy"] == 1.0
    assert "class_accuracy_ci" in data["faithfulness"]["model"]


def test_evaluate_a_pipeline_with_other_guidance_and_no_faithfulness(pipeline_file):
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

    pipe = Txt2ImgPipeline.load(pipeline_file)
    rep = evaluate(
        pipe,
        n=5,
        steps=1,
        guidance=0.0,
        n_bootstrap=0,
        kid_subsets=2,
        n_reference=25,
        n_faithfulness=0,
    )
    assert rep.settings["guidance"] == 0.0 and rep.faithfulness == {}
    assert "prompt faithfulness" not in rep.table()


def test_model_files_are_told_apart(pipeline_file, tmp_path):
    from diffprob.stable_diffusion.parts import save_part
    from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

    assert isinstance(load_model_file(pipeline_file), Txt2ImgPipeline)
    save_part(tmp_path / "vae.pt", "vae", {}, {}, {})
    with pytest.raises(CheckpointError, match="one part"):
        load_model_file(tmp_path / "vae.pt")


def test_compare_models_puts_pixel_and_latent_models_in_one_table(pipeline_report):
    from diffprob.diffusion.models.unet import ContextUnet
    from diffprob.diffusion.schedule import NoiseSchedule

    pixel = evaluate(
        (ContextUnet("tiny").eval(), NoiseSchedule(20), CLASSES, SOURCE),
        n=10,
        steps=2,
        kid_subsets=2,
        n_bootstrap=0,
        n_reference=50,
    )
    assert pixel.faithfulness == {} and pixel.settings["model_kind"] == "pixel"
    comparison = compare_models({"pixel": pixel, "latent": pipeline_report})
    rows = comparison.rows
    assert (
        rows["latent"]["colour_accuracy"]
        == pipeline_report.faithfulness["model"].estimates["colour_accuracy"].value
    )
    assert "colour_accuracy" not in rows["pixel"]
    for row, rep in ((rows["pixel"], pixel), (rows["latent"], pipeline_report)):
        assert row["fd_over_real"] == pytest.approx(
            rep.overall["model"]["fd"] / rep.overall["real"]["fd"]
        )
        assert row["s_per_image"] == pytest.approx(rep.timings["sampling_s"] / 10)
    table = comparison.table()
    assert "pixel" in table and "latent" in table and "ms/im" in table
    json.dumps(comparison.to_dict())


def test_generate_sprites_stand_in_for_training(pipeline_report):
    # the memorisation distances of the pipeline are to its stand-in training set
    train, _ = generate_sprites(200, seed=0)
    assert pipeline_report.settings["n_train"] == len(train)
