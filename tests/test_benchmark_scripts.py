"""The benchmark scripts end in one `error: ...` line with the command line's exit codes, and the
DoReMi step-size study refuses step sizes <= 0 and another profile's study folder before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bimix.paths import REPO_ROOT

STUDY = REPO_ROOT / "data" / "runs" / "regime" / "doremi-eta"


def _script(name, *args, cache):
    env = {**os.environ, "BIMIX_CACHE": str(cache)}
    env.pop("BIMIX_DEBUG", None)
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / f"{name}.py"), *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


def _study_state():
    return sorted((p.relative_to(STUDY).as_posix(), p.stat().st_size) for p in STUDY.rglob("*") if p.is_file())


@pytest.mark.parametrize("etas", ["0,1", "-0.3", "nan", "inf", "x"])
def test_doremi_eta_refuses_step_sizes_that_are_not_positive(etas, tmp_path):
    code, err = _script("run_doremi_eta", "--profile", "smoke", "--etas", etas, "--out", str(tmp_path / "out"),
                        cache=tmp_path / "cache")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_doremi_eta_keeps_profiles_out_of_each_others_study(tmp_path):
    before = _study_state()
    assert before, "the committed cpu study"
    code, err = _script("run_doremi_eta", "--profile", "smoke", "--etas", "2", "--seeds", "0",
                        cache=tmp_path / "cache")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {STUDY} is the study of profile cpu; the smoke profile's proxies go elsewhere")
    assert _study_state() == before and not (tmp_path / "cache").exists()
    # and the other way round: a smoke study elsewhere takes no cpu proxies
    sidecars = tmp_path / "regime" / "doremi-eta" / "doremi_proxy" / "sidecars"
    sidecars.mkdir(parents=True)
    (sidecars / "doremi-proxy-s0-x.json").write_text(json.dumps({"profile": "smoke", "status": "complete"}))
    code, err = _script("run_doremi_eta", "--profile", "cpu", "--out", str(tmp_path / "regime"),
                        cache=tmp_path / "cache")
    assert code == 2 and "is the study of profile smoke; the cpu profile's" in err and err.count("\n") == 1


@pytest.mark.parametrize("name, args, says", [
    ("bench_corpus", ("--profile", "laptop", "--json", "unused.json"), "error: unknown profile 'laptop'"),
    ("run_regime", ("no-such-config.toml",), "error: "),
    ("bench_entropy", ("--profile", "laptop", "--tokenizers", "bpe", "--json", "unused.json"),
     "error: unknown profile 'laptop'"),
    ("bench_lever_loss", ("--profile", "laptop"), "error: unknown profile 'laptop'"),
    ("bench_lever_loss", ("--seeds", "3"), "error: --seeds needs at least two seeds"),
])
def test_benchmark_errors_are_one_line(name, args, says, tmp_path):
    code, err = _script(name, *args, cache=tmp_path / "cache")
    assert code == 2 and err.startswith(says) and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_bench_proxy_levers_time_every_lever_against_fp32(monkeypatch):
    # the levers the compute ladder was measured with (bf16 autocast, fused AdamW, 2x batch): each is
    # timed, fp32 is the unit, and 2x batch trains twice the tokens per step
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    import bench_proxy
    from bimix.profiles import get_profile

    model = get_profile("smoke").proxy.model
    levers = bench_proxy.measure_levers(model, 64, batch=2, steps=1, rounds=1)
    assert set(levers) == {"fp32", "bf16", "fused_adamw", "bf16+fused", "batch_x2"}
    assert levers["fp32"]["speedup"] == 1.0
    assert all(v["tokens_per_s"] > 0 and v["speedup"] > 0 for v in levers.values())
    one = bench_proxy.time_training(model, 64, batch=2, steps=2, precision="bf16", fused=True)
    assert one["tokens_per_step"] == 2 * model.seq_len and one["step_s"] > 0


def test_lever_loss_adopts_a_lever_only_when_faster_and_equal_within_seed_noise(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    import bench_lever_loss

    def run(lever, seed, loss, speed):
        return {"lever": lever, "seed": seed, "final_loss": loss, "tokens_per_s": speed}

    runs = [run("fp32", 0, 4.00, 100), run("fp32", 1, 4.01, 100),  # seed noise 0.01 nats
            run("bf16", 0, 4.005, 140), run("bf16", 1, 4.012, 140),  # 1.4x, within noise
            run("batch_x2", 0, 4.30, 200), run("batch_x2", 1, 4.00, 200)]  # 2x, one seed far off
    out = bench_lever_loss.summarise(runs)
    assert out["seed_noise_nats"] == pytest.approx(0.01)
    bf16, x2 = out["levers"]["bf16"], out["levers"]["batch_x2"]
    assert bf16["speedup"] == pytest.approx(1.4) and bf16["equal_loss"] and bf16["adopt"]
    assert x2["diff_vs_fp32"] == pytest.approx([0.30, -0.01]) and not x2["equal_loss"] and not x2["adopt"]
    assert not out["levers"]["fp32"]["adopt"]
    slow = [r if r["lever"] != "bf16" else {**r, "tokens_per_s": 120} for r in runs]
    assert not bench_lever_loss.summarise(slow)["levers"]["bf16"]["adopt"]  # 1.2x < the 1.3x gate
