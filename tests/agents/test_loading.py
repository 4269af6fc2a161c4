"""Tiny offline models of the real classes: build, save by path, reload identically; remote code only on request."""

import json
from pathlib import Path

import pytest
import torch

from gea.agents.backbone import Backbone, ImagePreprocessing
from gea.agents.loading import build_tiny_model, load_pretrained_model
from gea.agents.text_tokenizer import build_text_tokenizer
from gea.errors import ConfigError


@pytest.mark.parametrize("name", ["tiny", "tiny-idefics3"])
def test_tiny_model_round_trip_by_path(name: str, tmp_path: Path) -> None:
    model, tokenizer = build_tiny_model(name, min_vocab_size=900)
    assert model.get_input_embeddings().weight.shape[0] >= 900
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.bin")) and list(tmp_path.glob("*.safetensors"))
    loaded, loaded_tokenizer = load_pretrained_model(tmp_path)
    assert type(loaded) is type(model)
    images = torch.randint(0, 256, (2, 40, 40, 3), dtype=torch.uint8)
    features = [Backbone(m, ImagePreprocessing.for_model(m), 4).image_features(images) for m in (model, loaded)]
    assert features[0].shape == (2, 4, 128)
    torch.testing.assert_close(features[0], features[1])
    text = " turn left"
    assert loaded_tokenizer(text).input_ids == tokenizer(text).input_ids


def test_text_tokenizer_encodes_any_text_and_knows_action_names() -> None:
    tokenizer = build_text_tokenizer()
    ids = tokenizer("Instruction: pick up the purple key ~é", add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == "Instruction: pick up the purple key ~é"
    assert len(tokenizer(" turn left", add_special_tokens=False).input_ids) <= 2


def test_remote_code_is_not_run_unless_configured(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    (tmp_path / "custom_config.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig\n"
        "class CustomConfig(PretrainedConfig):\n    model_type = 'gea_custom'\n"
    )
    auto_map = {"AutoConfig": "custom_config.CustomConfig", "AutoModelForImageTextToText": "custom_config.Model"}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gea_custom", "auto_map": auto_map}))
    build_text_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="trust_remote_code"):
        load_pretrained_model(tmp_path)
    assert not marker.exists()


def test_missing_checkpoint_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tiny models"):
        load_pretrained_model(tmp_path / "nowhere")
