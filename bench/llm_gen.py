"""Writes a random-weight Hugging Face model directory in a real model's shape, for the LLM speed
benchmark (bench/llm_speed.sh): config.json as transformers writes it and one model.safetensors of
bfloat16 weights, written by hand (8-byte little-endian header length, JSON header, data) one
slice at a time, so a 1B model never sits in memory as float32. Speed does not depend on the
weights' values; the shapes and the dtype are what matter.

usage: /usr/bin/python3 bench/llm_gen.py SHAPE OUTDIR [--seed N] [--tokenizer FILE] [--force]

SHAPE: qwen2-0.5b (Qwen2-0.5B: hidden 896, 24 layers, 14 heads / 2 KV heads, FFN 4864,
       vocab 151,936, q/k/v biases, tied embeddings, rope_theta 1e6)
       llama-1b   (Llama-3.2-1B: hidden 2048, 16 layers, 32 heads / 8 KV heads, FFN 8192,
       vocab 128,256, tied, rope_theta 500000 with llama3 rope scaling)
       tiny       (a Qwen2 of hidden 64, 2 layers, vocab 1,000: a quick self-test)
Weights are normal(0, 0.02), norm weights 1 + normal(0, 0.02), seeded (--seed, default 1).
--tokenizer FILE copies a tokenizer.json into OUTDIR (the fixtures' qwen2-bytelevel tokenizer
has ids below 1,000, which fit every shape). An OUTDIR that already holds this shape and seed
is kept unless --force.
"""
import argparse
import json
import os
import shutil
import struct
import sys

SHAPES = {
    "qwen2-0.5b": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden=896, layers=24,
                       heads=14, kv_heads=2, ffn=4864, vocab=151936, qkv_bias=True, tied=True,
                       theta=1000000.0, eps=1e-6, max_pos=32768, bos=151643, eos=151643),
    "llama-1b": dict(arch="LlamaForCausalLM", model_type="llama", hidden=2048, layers=16,
                     heads=32, kv_heads=8, ffn=8192, vocab=128256, qkv_bias=False, tied=True,
                     theta=500000.0, eps=1e-5, max_pos=131072, bos=128000, eos=128001,
                     rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
    "tiny": dict(arch="Qwen2ForCausalLM", model_type="qwen2", hidden=64, layers=2, heads=4,
                 kv_heads=2, ffn=176, vocab=1000, qkv_bias=True, tied=True, theta=1000000.0,
                 eps=1e-6, max_pos=512, bos=None, eos=None),
}


def config_json(s):
    """config.json with the keys transformers 4.4x writes for these architectures."""
    c = {"architectures": [s["arch"]], "attention_dropout": 0.0, "bos_token_id": s["bos"],
         "eos_token_id": s["eos"], "hidden_act": "silu", "hidden_size": s["hidden"],
         "initializer_range": 0.02, "intermediate_size": s["ffn"],
         "max_position_embeddings": s["max_pos"], "model_type": s["model_type"],
         "num_attention_heads": s["heads"], "num_hidden_layers": s["layers"],
         "num_key_value_heads": s["kv_heads"], "rms_norm_eps": s["eps"],
         "rope_theta": s["theta"], "tie_word_embeddings": s["tied"], "torch_dtype": "bfloat16",
         "transformers_version": "4.45.0", "use_cache": True, "vocab_size": s["vocab"]}
    if s["model_type"] == "qwen2":
        c.update(max_window_layers=s["layers"], sliding_window=s["max_pos"],
                 use_sliding_window=False)
    else:
        c.update(attention_bias=False, head_dim=s["hidden"] // s["heads"], mlp_bias=False,
                 pretraining_tp=1, rope_scaling=s.get("rope_scaling"))
    return dict(sorted(c.items()))


def tensors(s):
    """(name, shape, kind) of every tensor, kind 'w' (normal 0.02), 'norm' or 'bias'."""
    h, d = s["hidden"], s["hidden"] // s["heads"]
    kv = s["kv_heads"] * d
    out = [("model.embed_tokens.weight", (s["vocab"], h), "w"), ("model.norm.weight", (h,), "norm")]
    if not s["tied"]:
        out.append(("lm_head.weight", (s["vocab"], h), "w"))
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (h,), "norm"),
                (p + "post_attention_layernorm.weight", (h,), "norm"),
                (p + "self_attn.q_proj.weight", (h, h), "w"),
                (p + "self_attn.k_proj.weight", (kv, h), "w"),
                (p + "self_attn.v_proj.weight", (kv, h), "w"),
                (p + "self_attn.o_proj.weight", (h, h), "w"),
                (p + "mlp.gate_proj.weight", (s["ffn"], h), "w"),
                (p + "mlp.up_proj.weight", (s["ffn"], h), "w"),
                (p + "mlp.down_proj.weight", (h, s["ffn"]), "w")]
        if s["qkv_bias"]:
            out += [(p + "self_attn.q_proj.bias", (h,), "bias"),
                    (p + "self_attn.k_proj.bias", (kv,), "bias"),
                    (p + "self_attn.v_proj.bias", (kv,), "bias")]
    return sorted(out)


def to_bf16(x):
    """float32 -> bfloat16 bits, rounded to nearest even (as torch's .to(torch.bfloat16))."""
    import numpy as np
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, s, seed):
    import numpy as np
    specs = tensors(s)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in specs:
        n = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)  # the data starts 8-byte aligned, as safetensors pads it
    rng = np.random.default_rng(seed)
    chunk = 1 << 22  # elements per slice: 16 MiB of float32 at a time
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, shape, kind in specs:
            left = int(np.prod(shape))
            while left:
                k = min(left, chunk)
                x = rng.standard_normal(k, dtype=np.float32) * np.float32(0.02)
                if kind == "norm":
                    x += np.float32(1.0)
                f.write(to_bf16(x).tobytes())
                left -= k
    os.replace(path + ".part", path)
    return off // 2


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1].split("\n")[0],
                                 description="Writes a random-weight model directory (bfloat16 "
                                             "safetensors + config.json) in a real model's shape.")
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tokenizer", help="a tokenizer.json to copy into OUTDIR")
    ap.add_argument("--force", action="store_true", help="rewrite an OUTDIR already made")
    a = ap.parse_args()
    s = SHAPES[a.shape]
    os.makedirs(a.outdir, exist_ok=True)
    stamp = os.path.join(a.outdir, "llm_gen.json")
    want = {"shape": a.shape, "seed": a.seed}
    done = os.path.exists(stamp) and json.load(open(stamp)) == want
    if not done or a.force:
        if os.path.exists(stamp):
            os.remove(stamp)
        with open(os.path.join(a.outdir, "config.json"), "w") as f:
            json.dump(config_json(s), f, indent=2)
            f.write("\n")
        n = write_safetensors(os.path.join(a.outdir, "model.safetensors"), s, a.seed)
        with open(stamp, "w") as f:
            json.dump(want, f)
        print(f"{a.outdir}: {a.shape}, {n:,} parameters, bfloat16, seed {a.seed}")
    else:
        print(f"{a.outdir}: {a.shape} seed {a.seed} already there (--force to rewrite)")
    if a.tokenizer:
        shutil.copyfile(a.tokenizer, os.path.join(a.outdir, "tokenizer.json"))


if __name__ == "__main__":
    sys.exit(main())
