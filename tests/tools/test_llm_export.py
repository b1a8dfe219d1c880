"""Tests of tools/llm_export.py's pooling and output against Hugging Face reference outputs.

usage: /usr/bin/python3 test_llm_export.py REPO_DIR SHARED_DIR LEARNREC_BIN"""
import os
import subprocess
import sys
import tempfile

import numpy as np

repo, shared, learnrec = sys.argv[1:4]
sys.path.insert(0, os.path.join(repo, "tools"))
import llm_export  # noqa: E402

fixtures = os.path.join(shared, "fixtures", "llm")
results = []


def case(fn):
    try:
        fn()
        results.append(True)
        print("ok   " + fn.__name__)
    except AssertionError as e:
        results.append(False)
        print("FAIL %s\n  %s" % (fn.__name__, e))
    return fn


# The fixtures' pooled[0] is text 0's last hidden states averaged over all tokens, L2-normalised:
# agreement to about 1e-5 relative is what float32 reaches (fixtures/llm/README.md).
@case
def pooling_matches_transformers_reference():
    for model in ("qwen2-bytelevel", "llama-spbpe"):
        h = np.load(os.path.join(fixtures, model, "last_hidden_0.npy"))
        want = np.load(os.path.join(fixtures, model, "pooled.npy"))[0]
        got = llm_export.mean_pool(h[None], np.ones((1, h.shape[0])))[0]
        err = np.abs(got - want).max()
        assert err < 1e-5, "%s: max abs difference %g" % (model, err)
        assert abs(np.linalg.norm(got) - 1) < 1e-9


@case
def padding_does_not_change_the_pooled_vector():
    h = np.load(os.path.join(fixtures, "qwen2-bytelevel", "last_hidden_0.npy"))
    t = h.shape[0]
    padded = np.concatenate([h, np.full((5, h.shape[1]), 1e3, np.float32)])[None]
    mask = np.concatenate([np.ones(t), np.zeros(5)])[None]
    a = llm_export.mean_pool(padded, mask)[0]
    b = llm_export.mean_pool(h[None], np.ones((1, t)))[0]
    assert np.abs(a - b).max() < 1e-12


@case
def empty_text_pools_to_a_zero_row():
    got = llm_export.mean_pool(np.ones((2, 3, 4)), np.array([[1, 1, 0], [0, 0, 0]]))
    assert np.all(got[1] == 0) and abs(np.linalg.norm(got[0]) - 1) < 1e-12


@case
def texts_keep_every_line_as_given():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write("a b\n\n \tx\nlast")
        assert llm_export.read_texts(p) == ["a b", "", " \tx", "last"]


@case
def output_is_float16_and_learnrec_imports_it():
    sci = os.path.join(shared, "datasets", "amazon-scientific")
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        emb = llm_export.mean_pool(rng.normal(size=(4385, 3, 64)), np.ones((4385, 3)))
        src, out = os.path.join(d, "llm.npy"), os.path.join(d, "content.npy")
        llm_export.save_npy(src, emb)
        a = np.load(src)
        assert a.dtype == np.float16 and a.shape == (4385, 64), (a.dtype, a.shape)
        r = subprocess.run([learnrec, "content", "import", "--from", src, "--data", sci,
                            "--out", out], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        back = np.load(out)
        assert back.dtype == np.float32 and back.shape == (4385, 64)
        cos = (back * emb).sum(axis=1) / np.linalg.norm(emb, axis=1)
        assert cos.min() > 0.9999, cos.min()


print("%d passed, %d failed" % (sum(results), len(results) - sum(results)))
sys.exit(0 if all(results) else 1)
