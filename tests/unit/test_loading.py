"""Device/dtype/attention choice and checkpoint safety checks (no model weights needed)."""

import json

import pytest
import torch

from qwen3vl_integrations import EngineConfig, ModelLoadError
from qwen3vl_integrations.core import loading
from qwen3vl_integrations.core.loading import check_checkpoint, choose_device, resolve_checkpoint


def test_cpu_default_is_float32_sdpa(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    choice = choose_device()
    assert (choice.device.type, choice.dtype, choice.attn_implementation) == ("cpu", torch.float32, "sdpa")


@pytest.mark.parametrize("flash_installed,expected", [(True, "flash_attention_2"), (False, "sdpa")])
def test_cuda_default_is_bf16_with_flash_attention_when_installed(monkeypatch, flash_installed, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec",
                        lambda name: (object() if flash_installed else None) if name == "flash_attn" else real(name))
    choice = choose_device()
    assert (choice.device.type, choice.dtype, choice.attn_implementation) == ("cuda", torch.bfloat16, expected)
    assert choose_device("cuda", "float32").attn_implementation == "sdpa"  # flash-attn needs half precision


def test_dtype_names_and_errors():
    assert choose_device("cpu", "bf16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be"):
        choose_device("cpu", "int3")


def write_config(path, **extra):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl", **extra}))


def test_remote_code_checkpoints_are_refused(tmp_path):
    write_config(tmp_path, auto_map={"AutoModel": "evil.Model"})
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="auto_map"):
        check_checkpoint(tmp_path)


def test_pickle_only_checkpoints_are_refused(tmp_path):
    write_config(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="safetensors"):
        check_checkpoint(tmp_path)


def test_unreachable_hub_id_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="tiny|local checkpoint"):
        resolve_checkpoint("Qwen/Qwen3-VL-Embedding-2B-does-not-exist")


def test_engine_config_from_env_and_validation():
    cfg = EngineConfig.from_env({"QWEN3VL_MAX_FRAMES": "32", "QWEN3VL_TRUNCATE": "false", "QWEN3VL_FPS": "2"})
    assert (cfg.max_frames, cfg.truncate, cfg.fps) == (32, False, 2.0)
    with pytest.raises(ValueError, match="QWEN3VL_MAX_FRAMES"):
        EngineConfig.from_env({"QWEN3VL_MAX_FRAMES": "many"})
    with pytest.raises(ValueError, match="min_pixels"):
        EngineConfig(min_pixels=10**9)
    cfg = EngineConfig.from_env({"QWEN3VL_NUM_WORKERS": "0", "QWEN3VL_MIN_BATCH_FILL": "0.9"})
    assert (cfg.num_workers, cfg.min_batch_fill) == (0, 0.9)
    assert (EngineConfig().num_workers, EngineConfig().min_batch_fill) == (None, None)  # auto
    with pytest.raises(ValueError, match="num_workers"):
        EngineConfig(num_workers=-1)
    with pytest.raises(ValueError, match="min_batch_fill"):
        EngineConfig(min_batch_fill=1.5)
    env = {"QWEN3VL_NUM_WORKERS": "auto", "QWEN3VL_MIN_BATCH_FILL": "", "QWEN3VL_PACKING": "off"}
    cfg = EngineConfig.from_env(env)
    assert (cfg.num_workers, cfg.min_batch_fill, cfg.packing) == (None, None, False)
    with pytest.raises(ValueError, match="vision_patch_budget"):
        EngineConfig(vision_patch_budget=0)
    assert EngineConfig.from_env({"QWEN3VL_VISION_PATCH_BUDGET": "4096"}).vision_patch_budget == 4096
    with pytest.raises(ValueError, match="QWEN3VL_TRUNCATE='maybe' is not a boolean"):
        EngineConfig.from_env({"QWEN3VL_TRUNCATE": "maybe"})  # not silently False


def test_remote_media_detection():
    from qwen3vl_integrations.core.inputs import coerce_input, has_remote_media

    assert has_remote_media(coerce_input({"image": "https://example.com/a.png", "text": "x"}))
    assert has_remote_media(coerce_input({"video": ["a.jpg", "HTTP://example.com/b.jpg"]}))
    assert not has_remote_media(coerce_input({"image": "/data/a.png", "video": "clip.mp4", "text": "http://x"}))
    assert not has_remote_media("a plain string that is not an input")


def test_env_value_parses_one_variable_and_raises_typed_errors():
    from qwen3vl_integrations import ConfigError
    from qwen3vl_integrations.core.config import env_value

    env = {"QWEN3VL_PORT": " 8080 ", "QWEN3VL_FLAG": "off", "QWEN3VL_BAD": "x", "QWEN3VL_AUTO": "auto",
           "QWEN3VL_NAME": "a b"}
    assert env_value("PORT", int, environ=env) == 8080
    assert env_value("FLAG", bool, environ=env) is False
    assert env_value("NAME", environ=env) == "a b"
    assert env_value("MISSING", int, 7, environ=env) == 7
    assert env_value("AUTO", int, 3, environ=env, optional=True) is None
    with pytest.raises(ConfigError, match="QWEN3VL_BAD='x' is not a valid int") as info:
        env_value("BAD", int, environ=env)
    assert info.value.param == "QWEN3VL_BAD" and info.value.code == "invalid_config"
    with pytest.raises(ConfigError, match="not a boolean"):
        env_value("BAD", bool, environ=env)
    with pytest.raises(ConfigError, match="finite"):
        env_value("X", float, environ={"QWEN3VL_X": "nan"})


def test_engine_config_fields_are_type_checked_and_named():
    from qwen3vl_integrations import ConfigError

    for field, value in (("max_frames", "32"), ("packing", "yes"), ("fps", None), ("truncate", 1),
                         ("max_queue_items", 0)):
        with pytest.raises(ConfigError) as info:
            EngineConfig(**{field: value})
        assert info.value.param == field
    with pytest.raises(ConfigError, match="unknown EngineConfig field") as info:
        EngineConfig().replace(max_frame=3)
    assert info.value.param == "max_frame"
    assert EngineConfig(fps=2, max_queue_tokens=1000).fps == 2
    assert EngineConfig.from_env({"QWEN3VL_MAX_QUEUE_ITEMS": "64", "QWEN3VL_MAX_QUEUE_TOKENS": "none"}).max_queue_items == 64
