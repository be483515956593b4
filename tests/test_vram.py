"""The VRAM planner, against numbers worked out by hand."""

from click.testing import CliRunner

from homelab import vram
from homelab.settings import CatalogueModel
from tasks import cli

KIB = 1024


def model(**fields):
    base = {"name": "m", "hf_repo": "o/m", "revision": "0" * 40, "kind": "chat", "weights_gib": 1.0,
            "max_model_len": 1024, "max_num_seqs": 1, "overhead_gib": 0.5}
    return CatalogueModel.model_validate({**base, **fields})


MISTRAL = model(name="mistral-7b-instruct", weights_gib=4.2, kv_layers=32, kv_heads=8, head_dim=128,
                max_model_len=8192, max_num_seqs=2, overhead_gib=1.0)
GPT2 = model(name="gpt2", kind="completion", weights_gib=0.25, kv_layers=12, kv_heads=12, head_dim=64,
             max_model_len=1024, max_num_seqs=8, overhead_gib=0.75)
MINILM = model(name="all-minilm-l6-v2", kind="embedding", weights_gib=0.05, max_model_len=256, max_num_seqs=32,
               overhead_gib=0.5)


def test_kv_bytes_per_token():
    # 2 (K,V) x 32 layers x 8 KV heads x 128 x 2 bytes = 131072 = 128 KiB
    assert MISTRAL.kv_bytes_per_token == 128 * KIB
    # 2 x 12 x 12 x 64 x 2 = 36864 = 36 KiB
    assert GPT2.kv_bytes_per_token == 36 * KIB
    assert MINILM.kv_bytes_per_token == 0


def test_shares_by_hand():
    plan = vram.plan([MISTRAL, GPT2, MINILM], gpu_gib=12.0, headroom_gib=1.0)
    mistral = plan.share("mistral-7b-instruct")
    # KV: 128 KiB x 8192 x 2 = 2 GiB; need 4.2 + 2 + 1.0 = 7.2 GiB; 7.2 / 12 = 0.60
    assert mistral.kv_gib == 2.0 and round(mistral.need_gib, 6) == 7.2 and mistral.utilization == 0.60
    gpt2 = plan.share("gpt2")
    # KV: 36 KiB x 1024 x 8 = 288 MiB = 0.28125 GiB; need 1.28125 GiB; /12 = 0.1068 -> 0.11
    assert gpt2.kv_gib == 0.28125 and gpt2.utilization == 0.11
    # 0.55 / 12 = 0.0458 -> 0.05
    assert plan.share("all-minilm-l6-v2").utilization == 0.05
    assert plan.utilization == 0.76 and plan.fits
    assert "DOES NOT FIT" not in plan.table() and "128 KiB" in plan.table()


def test_too_much_does_not_fit_and_says_what_to_change():
    greedy = model(name="mistral-7b-instruct", weights_gib=4.2, kv_layers=32, kv_heads=8, head_dim=128,
                   max_model_len=8192, max_num_seqs=6, overhead_gib=1.0)  # KV 6 GiB, need 11.2
    plan = vram.plan([greedy, GPT2], gpu_gib=12.0, headroom_gib=1.0)
    assert not plan.fits and "DOES NOT FIT" in plan.table()
    assert "mistral-7b-instruct: 6.00 GiB" in plan.advice() and "max_num_seqs" in plan.advice()


def test_disabled_models_take_no_share():
    plan = vram.plan([MISTRAL, model(name="off", enabled=False, weights_gib=50)], gpu_gib=12.0, headroom_gib=1.0)
    assert [s.name for s in plan.shares] == ["mistral-7b-instruct"] and plan.fits


def test_tasks_plan_prints_vram_ram_and_cpu():
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 0, result.output
    assert "gpu-node: GPU memory" in result.output and "mistral-7b-instruct" in result.output
    assert "gpu-node: RAM and CPU (WSL2 on the PC)" in result.output
    assert "the stack needs 24 GiB: fits" in result.output and "pods request 7.01: fits" in result.output
    assert ".wslconfig [wsl2]: memory=24GB, processors=12, swap=2GB" in result.output
