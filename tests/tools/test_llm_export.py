"""Tests of tools/llm_export.py's pooling and output against Hugging Face reference outputs.

usage: /usr/bin/python3 test_llm_export.py REPO_DIR SHARED_DIR LEARNREC_BIN [local|shared|all]
  local: cases on data made here; shared: cases on SHARED_DIR's fixtures and datasets (exit 77,
  ctest's "skipped", when they are missing); all (default): both."""
import os
import subprocess
import sys
import tempfile

import numpy as np

repo, shared, learnrec = sys.argv[1:4]
mode = sys.argv[4] if len(sys.argv) > 4 else "all"
sys.path.insert(0, os.path.join(repo, "tools"))
import llm_export  # noqa: E402

fixtures = os.path.join(shared, "fixtures", "llm")
sci = os.path.join(shared, "datasets", "amazon-scientific")
results, skipped = [], []


def run_case(fn):
    try:
        fn()
        results.append(True)
        print("ok   " + fn.__name__)
    except AssertionError as e:
        results.append(False)
        print("FAIL %s\n  %s" % (fn.__name__, e))
    return fn


def case(fn):
    """A case that needs nothing outside the repository."""
    return run_case(fn) if mode != "shared" else fn


def shared_case(*paths):
    """A case that reads the shared folder: skipped, with the missing path named, without it."""
    def wrap(fn):
        if mode == "local":
            return fn
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            skipped.append(fn.__name__)
            print("skipped: %s needs %s, which is missing; run make test "
                  "SHARED=/path/to/shared (or cmake -DLR_SHARED_DIR=...; README: Datasets)"
                  % (fn.__name__, missing[0]))
            return fn
        return run_case(fn)
    return wrap


# The fixtures' pooled[0] is text 0's last hidden states averaged over all tokens, L2-normalised:
# agreement to about 1e-5 relative is what float32 reaches (fixtures/llm/README.md).
@shared_case(fixtures)
def pooling_matches_transformers_reference():
    for model in ("qwen2-bytelevel", "llama-spbpe"):
        h = np.load(os.path.join(fixtures, model, "last_hidden_0.npy"))
        want = np.load(os.path.join(fixtures, model, "pooled.npy"))[0]
        got = llm_export.mean_pool(h[None], np.ones((1, h.shape[0])))[0]
        err = np.abs(got - want).max()
        assert err < 1e-5, "%s: max abs difference %g" % (model, err)
        assert abs(np.linalg.norm(got) - 1) < 1e-9


# The same definition written out as loops in float64: the mean over unmasked tokens, then / norm.
@case
def pooling_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(3, 7, 16)).astype(np.float32)
    mask = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]])
    got = llm_export.mean_pool(h, mask)
    for b in range(3):
        n = int(mask[b].sum())
        mean = [sum(float(h[b, t, j]) for t in range(n)) / n for j in range(16)]
        norm = sum(x * x for x in mean) ** 0.5
        want = np.array([x / norm for x in mean])
        err = np.abs(got[b] - want).max()
        assert err < 1e-6, "row %d: max abs difference %g" % (b, err)


@case
def padding_does_not_change_the_pooled_vector():
    h = np.random.default_rng(4).normal(size=(9, 64)).astype(np.float32)
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


def check_f16_output_imports(data, n):
    """llm_export's output for a catalogue of n items is float16 and learnrec imports it."""
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        emb = llm_export.mean_pool(rng.normal(size=(n, 3, 64)), np.ones((n, 3)))
        src, out = os.path.join(d, "llm.npy"), os.path.join(d, "content.npy")
        llm_export.save_npy(src, emb)
        a = np.load(src)
        assert a.dtype == np.float16 and a.shape == (n, 64), (a.dtype, a.shape)
        r = subprocess.run([learnrec, "content", "import", "--from", src, "--data", data,
                            "--out", out], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        back = np.load(out)
        assert back.dtype == np.float32 and back.shape == (n, 64)
        cos = (back * emb).sum(axis=1) / np.linalg.norm(emb, axis=1)
        assert cos.min() > 0.9999, cos.min()


@case
def output_is_float16_and_learnrec_imports_it():
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([learnrec, "dataset", "synth", "--items", "1000", "--users", "50",
                            "--out", d], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        check_f16_output_imports(d, 1000)


@shared_case(sci)
def output_for_scientific_is_float16_and_learnrec_imports_it():
    check_f16_output_imports(sci, 4385)


print("%d passed, %d failed, %d skipped" % (sum(results), len(results) - sum(results), len(skipped)))
if not all(results):
    sys.exit(1)
sys.exit(77 if skipped and not results else 0 if results else 1)
