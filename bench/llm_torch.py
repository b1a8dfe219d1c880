"""The PyTorch peer of bench/bench_llm.c: the same Llama / Qwen2 prefill and LEARN pooling (last
hidden states after the final norm, mean over the tokens, L2-normalised) in plain torch, float32
on the CPU, from the same model directory's safetensors (bfloat16 or float32), timed on the same
deterministic random ids (every text exactly --tokens long, so a batch needs no padding and
computes exactly what the C side's packed batch computes).

usage: /usr/bin/python3 bench/llm_torch.py MODELDIR [--threads N] [--batch B ...] [--tokens T]
                                           [--runs R] [--seed S] [--check POOLED.npy]

Prints one JSON line per batch size: seconds per call (best and median of R runs after one
warm-up), prefill tokens/s from the best, the RSS after the calls and the process's peak RSS so
far. --threads sets torch's threads and OpenBLAS's (before torch loads: one process per count).
--check POOLED.npy (rows written by `bench_llm --out`, same --tokens and --seed) recomputes those
rows on the same ids and exits 1 unless every value is within 1e-3: the two sides time equal
computations only while this holds. Needs Debian's interpreter: numpy and torch 1.13.
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

MASK = (1 << 64) - 1


def bench_ids(n_seq, tokens, vocab, seed):
    """The ids bench_llm.c makes: splitmix64 of seed + (i+1)*golden, modulo the vocabulary."""
    out = []
    for i in range(n_seq * tokens):
        z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append(z % vocab)
    return out


def parse_args():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1].split("\n\n")[0],
                                 description="PyTorch peer of bench_llm: prefill tokens/s.")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", metavar="POOLED.npy")
    a = ap.parse_args()
    if a.threads < 1 or a.tokens < 1 or a.runs < 1 or min(a.batch) < 1:
        ap.error("--threads, --batch, --tokens and --runs must be at least 1")
    return a


def load_safetensors(path):
    """name -> float32 numpy array, read from the file's header by hand (bf16 widened exactly)."""
    import numpy as np
    with open(path, "rb") as f:
        hlen = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(hlen))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + hlen)
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        if t["dtype"] == "BF16":
            a = (raw[b:e].view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif t["dtype"] == "F32":
            a = np.array(raw[b:e].view(np.float32))
        else:
            sys.exit(f"{path}: {name}: dtype {t['dtype']} not handled by this peer")
        out[name] = a.reshape(t["shape"])
    return out


def load_model(d):
    import torch
    cfg = json.load(open(os.path.join(d, "config.json")))
    arrays = {}
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) \
        else ["model.safetensors"]
    for f in files:
        arrays.update(load_safetensors(os.path.join(d, f)))
    w = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return cfg, w


def rope_inv_freq(cfg, d):
    """inv_freq as transformers computes it, with the llama3 scaling when config.json asks."""
    import torch
    rp = cfg.get("rope_parameters") or {}
    theta = cfg.get("rope_theta", rp.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    sc = cfg.get("rope_scaling") or (rp if rp.get("rope_type", "default") != "default" else None)
    if sc and sc.get("rope_type", sc.get("type")) == "llama3":
        factor, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
        old = sc["original_max_position_embeddings"]
        wavelen = 2 * torch.pi / inv
        scaled = torch.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
        inv = torch.where(medium, smoothed, scaled)
    elif sc and sc.get("rope_type", sc.get("type")) not in (None, "default"):
        sys.exit(f"rope scaling {sc} not handled by this peer")
    return inv


def rotate_half(x):
    import torch
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms_norm(x, w, eps):
    import torch
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Forward:
    def __init__(self, cfg, w, max_t):
        import torch
        self.cfg, self.w = cfg, w
        self.h, self.nh = cfg["hidden_size"], cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        self.d = cfg.get("head_dim") or self.h // self.nh
        self.eps = cfg["rms_norm_eps"]
        freqs = torch.arange(max_t, dtype=torch.float32)[:, None] * rope_inv_freq(cfg, self.d)[None]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.full((max_t, max_t), float("-inf")).triu(1)

    def lin(self, x, name):
        import torch.nn.functional as F
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def attention(self, x, p):
        import torch
        B, T, _ = x.shape
        q = self.lin(x, p + "q_proj").view(B, T, self.nh, self.d).transpose(1, 2)
        k = self.lin(x, p + "k_proj").view(B, T, self.nkv, self.d).transpose(1, 2)
        v = self.lin(x, p + "v_proj").view(B, T, self.nkv, self.d).transpose(1, 2)
        cos, sin = self.cos[:T], self.sin[:T]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) / (self.d ** 0.5) + self.mask[:T, :T]
        o = torch.matmul(torch.softmax(s, dim=-1), v)
        return self.lin(o.transpose(1, 2).reshape(B, T, self.nh * self.d), p + "o_proj")

    def pooled(self, ids):
        """ids (B, T) int64 -> (B, hidden): final-norm states averaged over T, L2-normalised."""
        import torch
        import torch.nn.functional as F
        x = F.embedding(ids, self.w["model.embed_tokens.weight"])
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            x = x + self.attention(rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps),
                                   p + "self_attn.")
            y = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
            m = p + "mlp."
            x = x + self.lin(F.silu(self.lin(y, m + "gate_proj")) * self.lin(y, m + "up_proj"),
                             m + "down_proj")
        x = rms_norm(x, self.w["model.norm.weight"], self.eps)
        return F.normalize(x.mean(dim=1), dim=-1)


def main():
    a = parse_args()
    # before torch and OpenBLAS start: their pools take these sizes at load
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    cfg, w = load_model(a.model)
    load_s = time.perf_counter() - t0
    fw = Forward(cfg, w, a.tokens)
    vocab = cfg["vocab_size"]

    def ids_for(n):
        return torch.tensor(bench_ids(n, a.tokens, vocab, a.seed), dtype=torch.int64).view(n, a.tokens)

    with torch.inference_mode():
        if a.check:
            want = np.load(a.check)
            got = fw.pooled(ids_for(want.shape[0])).numpy()
            diff = float(np.abs(got - want).max())
            print(json.dumps({"side": "pytorch", "check": a.check, "rows": int(want.shape[0]),
                              "max_abs_diff": diff, "ok": diff <= 1e-3}), flush=True)
            if diff > 1e-3:
                return 1
        for b in a.batch:
            ids = ids_for(b)
            fw.pooled(ids)  # warm-up: first-touch of buffers, thread pools
            times = []
            for _ in range(a.runs):
                t = time.perf_counter()
                fw.pooled(ids)
                times.append(time.perf_counter() - t)
            times.sort()
            with open("/proc/self/statm") as f:
                rss_now = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            print(json.dumps({"side": "pytorch", "model": os.path.basename(os.path.normpath(a.model)),
                              "threads": a.threads, "batch": b, "tokens": a.tokens,
                              "runs": a.runs, "best_s": times[0], "median_s": times[len(times) // 2],
                              "tokens_per_s": b * a.tokens / times[0], "load_s": load_s,
                              "rss_mib": rss_now, "peak_rss_mib": rss, "torch": torch.__version__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
