#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen2-layout model directory, as Hugging Face files: config.json,
model.safetensors (float32) and a byte-level BPE tokenizer.json, so that the LLM's command-line
paths are tested on a clone without ../shared (the parity tests use the reference fixtures there).

usage: tiny_llm.py OUT_DIR [--hidden N] [--seed S]
Needs Debian's python3-numpy only."""
import argparse
import json
import os
import struct

import numpy as np


def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters, as byte-level BPE writes its vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer(merge_words):
    """Byte tokens, then one merge per adjacent pair of the given words (in order), as tokens."""
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: i for i, b in enumerate(range(256))}
    merges = []
    for w in merge_words:
        sym = [b2u[b] for b in w.encode()]
        while len(sym) > 1:
            a, b = sym[0], sym[1]
            if a + b not in vocab:
                vocab[a + b] = len(vocab)
                merges.append([a, b])
            sym = [a + b] + sym[2:]
    eot = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }, eot + 1


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    H, L, heads, kv, ffn = a.hidden, 2, 4, 2, 2 * a.hidden
    hd = H // heads
    tok, vocab = tokenizer([" the", " and", " of", "Title", "Brand", "Category", " Lab", "er", "in", "on"])
    rng = np.random.default_rng(a.seed)
    w = lambda *s: rng.normal(0, 0.2, s)
    t = [("model.embed_tokens.weight", w(vocab, H)), ("model.norm.weight", 1 + w(H) * 0.5)]
    for i in range(L):
        p = f"model.layers.{i}."
        t += [(p + "input_layernorm.weight", 1 + w(H) * 0.5), (p + "post_attention_layernorm.weight", 1 + w(H) * 0.5),
              (p + "self_attn.q_proj.weight", w(heads * hd, H)), (p + "self_attn.q_proj.bias", w(heads * hd)),
              (p + "self_attn.k_proj.weight", w(kv * hd, H)), (p + "self_attn.k_proj.bias", w(kv * hd)),
              (p + "self_attn.v_proj.weight", w(kv * hd, H)), (p + "self_attn.v_proj.bias", w(kv * hd)),
              (p + "self_attn.o_proj.weight", w(H, heads * hd)),
              (p + "mlp.gate_proj.weight", w(ffn, H)), (p + "mlp.up_proj.weight", w(ffn, H)),
              (p + "mlp.down_proj.weight", w(H, ffn))]
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": H,
              "intermediate_size": ffn, "num_hidden_layers": L, "num_attention_heads": heads,
              "num_key_value_heads": kv, "hidden_act": "silu", "max_position_embeddings": 512,
              "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True,
              "use_sliding_window": False, "sliding_window": None, "vocab_size": vocab,
              "bos_token_id": None, "eos_token_id": None, "torch_dtype": "float32"}
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
