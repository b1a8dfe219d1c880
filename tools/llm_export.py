#!/usr/bin/env python3
"""Content embeddings (LEARN's CEX) from a Hugging Face causal LM, for `learnrec content import`.

Reads item texts (one per line, line i = item i: `learnrec dataset texts DATA > texts.txt`
writes them), runs a frozen LLM over each, mean-pools the last hidden states over the text's
tokens, L2-normalises, and writes an (items, hidden) float16 .npy, as LEARN (Jia et al., AAAI
2025) does with Baichuan2-7B. The texts carry the prompt: learnrec builds item text as
"Title: ... Brand: ... Category: ...".

    python3 tools/llm_export.py --model PATH_OR_NAME --texts texts.txt --out llm.npy
    learnrec content import --from llm.npy --data DATA --out content.npy

An honest note: this script has never run with real LLM weights. learnrec's build and test
machines reach no model hub and Debian packages no `transformers`, so the model-loading part
(load_model and embed) is untested here. What is tested (tests/tools/test_llm_export.py) is the
pooling, against reference outputs that Hugging Face transformers produced
(../shared/fixtures/llm), and the output file, which `learnrec content import` reads.
Needs: numpy, torch and transformers (pip install torch transformers).
"""
import argparse
import os
import sys

import numpy as np


def mean_pool(last_hidden, mask):
    """Mean of each row's hidden states over its real tokens, then L2 norm; float64.

    last_hidden: (batch, tokens, hidden); mask: (batch, tokens), 1 for a real token.
    A row with no tokens (an empty text) stays zero."""
    h = np.asarray(last_hidden, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)[:, :, None]
    counts = m.sum(axis=1)
    summed = (h * m).sum(axis=1)
    pooled = np.divide(summed, counts, out=np.zeros_like(summed), where=counts > 0)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.divide(pooled, norms, out=np.zeros_like(pooled), where=norms > 0)


def read_texts(path):
    """One text per line; only the newline ends a line (no trimming)."""
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]


def save_npy(path, array, dtype=np.float16):
    """Writes aside, then renames, so a reader never sees half a file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array, dtype=dtype))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_model(name, device, dtype):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name, trust_remote_code=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    torch_dtype = {"float32": torch.float32, "float16": torch.float16,
                   "bfloat16": torch.bfloat16}[dtype]
    model = AutoModel.from_pretrained(name, torch_dtype=torch_dtype, trust_remote_code=True)
    model.to(device).eval()
    return tok, model


def embed(tok, model, texts, batch_size, max_length, device):
    import torch

    out = None
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        enc = tok(batch, padding=True, truncation=True, max_length=max_length,
                  return_tensors="pt")
        with torch.no_grad():
            h = model(input_ids=enc["input_ids"].to(device),
                      attention_mask=enc["attention_mask"].to(device)).last_hidden_state
        pooled = mean_pool(h.float().cpu().numpy(), enc["attention_mask"].numpy())
        if out is None:
            out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        out[start:start + len(batch)] = pooled
        print("\r%d / %d items" % (min(start + batch_size, len(texts)), len(texts)),
              end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a Hugging Face model name or local folder")
    ap.add_argument("--texts", required=True, help="item texts, one per line, line i = item i")
    ap.add_argument("--out", required=True, help="the .npy to write (float16, items x hidden)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=256, help="tokens per text (default 256)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    ap.add_argument("--model-dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    args = ap.parse_args(argv)
    texts = read_texts(args.texts)
    if not texts:
        ap.error("%s holds no texts" % args.texts)
    try:
        tok, model = load_model(args.model, args.device, args.model_dtype)
    except ImportError as e:
        sys.exit("llm_export: %s; install torch and transformers (pip install torch transformers)" % e)
    emb = embed(tok, model, texts, args.batch_size, args.max_length, args.device)
    save_npy(args.out, emb)
    print("wrote %s: %d items x %d (float16)" % (args.out, emb.shape[0], emb.shape[1]))


if __name__ == "__main__":
    main()
