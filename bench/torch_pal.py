#!/usr/bin/python3
"""PyTorch reference of learnrec's PAL training step, to time learnrec against PyTorch on CPU.

What it measures
----------------
The training speed (examples per second) of the same model and loss that learnrec trains in C
(towers/pal.c, towers/layers.c, towers/train.c), written the way a PyTorch user would write it:

* content adaptor Linear(Dc -> H) on each item's (frozen, L2-normalised) content row, plus a
  learned position embedding (max_len rows) counted from the newest or the oldest item, or none;
* dropout on the embedding sum and on both residual branches;
* L pre-LN causal transformer blocks (fused qkv with bias, A heads, LayerNorm eps 1e-5,
  MLP H -> 4H -> H with tanh-approximated GELU);
* final LayerNorm, Linear(H -> D), L2 normalisation;
* user tower: the output at the newest position of a history (its newest max_len items);
  item tower: the same weights over each item alone (a length-1 sequence);
* InfoNCE with a full softmax over every item: logits = U V^T / tau, where V is the item tower
  over the whole catalogue, recomputed with gradients at every step; cross-entropy against the
  next item; gradient clipping at norm 1; AdamW (betas 0.9/0.98, eps 1e-6, weight decay on
  matrices and embeddings only, as learnrec) with learnrec's warm-up + cosine schedule.

One timed step is: build the batch, forward both towers, loss, backward, clip, AdamW step.
Each row of Scientific.train.inter (history -> next item) is one example (34,101 of them).

Two batch layouts, because that is the comparison:

* ``--layout padded``: every history left-padded to max_len (50) with a padding item whose
  content row is zeros; an attention key-padding mask keeps padding from ever being attended;
  positions counted from the newest item put the newest at one fixed position. This is what a
  typical PyTorch implementation does.
* ``--layout packed-free``: PyTorch's best effort at not computing padding without a packed
  (ragged) attention: each epoch, examples are sorted by history length (ties in random order),
  cut into batches, and the batches shuffled; each batch is padded only to its own longest
  history (still masked).

Two shortcuts learnrec also takes are taken here too, so that the ratio measures the
implementation and not the algorithm: the item tower's attention over a single token is its
value projection alone (q and k are not computed; the result and gradients are identical), and
the final LayerNorm/projection run only on the one output row per history.

``--adaptor-once`` (off by default, learnrec does not do it) applies the content adaptor once per
step to the whole catalogue and gathers the adapted rows for both towers instead of gathering
content rows and adapting each token; it is mathematically the same model.

* ``--layout windows`` (learnrec's way with positions counted from the oldest item or none):
  each user's training sequence in windows of max_len items, one causal pass per window giving
  the output at every position, each position predicting its next item (the same examples: each
  target once). The first window covers the first max_len prefixes, each further window ends
  ``--window-stride`` items later and predicts its last that many targets. Windows are sorted
  by length, cut into batches of about --batch predictions, and padded to each batch's longest.

The masking is exact, so the per-example layouts train the same model; they differ only in speed
and in how batches are composed.

Reproduce (the numbers are for the machine it runs on; use the Debian interpreter, which has
torch 1.13 and numpy):

    /usr/bin/python3 bench/torch_pal.py --content C.npy \\
        --data ../shared/datasets/amazon-scientific --threads 2 --batch 1024 --layers 1 \\
        --hidden 256 --heads 4 --dim 64 --positions newest --layout padded --steps 10 \\
        --warmup-steps 2

It prints one line on stdout:

    torch <version>, threads T, layout L, layers L, batch B: X examples/s (S s per step,
    N steps), ~E s per epoch of 34101 examples

and a few notes (loss, share of computed tokens that are padding) on stderr. With
``--layout packed-free`` the cost of a step depends on its batch's history length; the timed steps
walk one freshly shuffled epoch, so ``--steps`` equal to the batches per epoch (printed on
stderr; 34 at batch 1024) times exactly one epoch, and fewer steps give a noisier estimate.

``--epochs-check K`` instead trains K full epochs and prints the validation Recall@10 after each
(full ranking of Scientific.valid.inter's target among all items, ties counted as learnrec does),
as a cross-check that the model learns the same way as learnrec's.

For inference, ``load_pal`` builds the model from learnrec's safetensors weights (any mode and
position setting), and ``item_inputs`` / ``user_vectors`` / ``item_vectors`` run the towers as
learnrec's inference does (bench/py_rpc_server.py serves with them); on small models they agree
with ``learnrec embed-users`` / ``embed-items`` to about 2e-7.

No packages beyond torch and numpy.
"""
import argparse
import json
import math
import os
import sys
import time


def make_parser():
    """The command line, built before the heavy imports so that --help and a wrong option are
    answered where torch or faiss is not installed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", required=True, help=".npy content embeddings (items x Dc)")
    ap.add_argument("--data", required=True, help="directory with Scientific.{train,valid}.inter")
    ap.add_argument("--prefix", default="Scientific", help="file name prefix in --data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--positions", choices=["newest", "oldest", "none"], default="newest")
    ap.add_argument("--layout", choices=["padded", "packed-free", "windows"], default="padded")
    ap.add_argument("--window-stride", type=int, default=0,
                    help="windows layout: items between windows' ends (default max-len / 2)")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--lr-warmup", type=float, default=0.05, help="LR warm-up share of the steps")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    ap.add_argument("--epochs-check", type=int, default=0, metavar="K",
                    help="train K full epochs and print validation Recall@10 instead of timing")
    ap.add_argument("--adaptor-once", action="store_true",
                    help="adapt the whole catalogue once per step and gather adapted rows "
                         "(not what learnrec does)")
    ap.add_argument("--seed", type=int, default=1)
    return ap


if __name__ == "__main__":
    make_parser().parse_args()  # --help, or exit 2 on a wrong option, before the heavy imports

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5


# ---- data ---------------------------------------------------------------------------------------

def read_inter(path, max_len):
    """Reads a RecBole .inter file (user, space-separated history, target item) into a matrix of
    histories left-padded to max_len with -1 (the newest item in the last column), their lengths
    (at most max_len: longer histories keep their newest items) and the targets."""
    hists, targets = [], []
    with open(path) as f:
        header = f.readline()
        if "item_id_list" not in header:
            raise SystemExit(f"{path}: unexpected header {header.strip()!r}")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            hist = [int(x) for x in parts[1].split()][-max_len:]
            hists.append(hist)
            targets.append(int(parts[2]))
    n = len(hists)
    mat = np.full((n, max_len), -1, dtype=np.int64)
    lens = np.zeros(n, dtype=np.int64)
    for i, h in enumerate(hists):
        lens[i] = len(h)
        if h:
            mat[i, max_len - len(h):] = h
    return mat, lens, np.asarray(targets, dtype=np.int64)


def epoch_batches(lens, batch, layout, rng):
    """One epoch's batches of example indexes.

    padded: a random permutation cut into batches (every batch then padded to max_len).
    packed-free: examples sorted by history length (random order among equal lengths), cut into
    batches, batch order shuffled; each batch is later padded only to its own longest history."""
    n = len(lens)
    if layout == "padded":
        order = rng.permutation(n)
    else:
        order = np.lexsort((rng.random(n), lens))  # by length, random among ties
    batches = [order[i:i + batch] for i in range(0, n, batch)]
    if layout != "padded":
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def read_windows(path, max_len, stride):
    """Each user's training sequence from a RecBole .inter file (row k of a user: the history
    seq[:k] cut to its newest items, and the target seq[k]), cut into learnrec's windows
    (towers/train.c build_examples). Returns the windows left-padded to max_len with -1, their
    lengths, and per window the targets of its columns (-1 where a column predicts nothing)."""
    rows = {}
    with open(path) as f:
        f.readline()
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            hist = [int(x) for x in parts[1].split()]
            rows.setdefault(parts[0], []).append((len(hist), hist, int(parts[2])))
    wins, tgts = [], []
    for user_rows in rows.values():
        user_rows.sort(key=lambda r: r[0])
        seq = user_rows[0][1] + [r[2] for r in user_rows]
        tl, end = len(seq), 0
        while end < tl - 1:
            nxt = min(end + (max_len if end == 0 else stride), tl - 1)
            lo = max(0, nxt - max_len)
            toks = seq[lo:nxt]
            tg = [-1] * len(toks)
            for j in range(end, nxt):  # token j predicts seq[j + 1]
                tg[j - lo] = seq[j + 1]
            wins.append(toks)
            tgts.append(tg)
            end = nxt
    n = len(wins)
    mat = np.full((n, max_len), -1, dtype=np.int64)
    tmat = np.full((n, max_len), -1, dtype=np.int64)
    lens = np.zeros(n, dtype=np.int64)
    for i, (w, t) in enumerate(zip(wins, tgts)):
        lens[i] = len(w)
        mat[i, max_len - len(w):] = w
        tmat[i, max_len - len(w):] = t
    return mat, lens, tmat


def window_batches(lens, preds, batch, rng):
    """One epoch's batches of window indexes: sorted by length (random among ties), cut where a
    batch reaches `batch` predictions, batch order shuffled."""
    order = np.lexsort((rng.random(len(lens)), lens))
    batches, cur, got = [], [], 0
    for i in order:
        cur.append(i)
        got += int(preds[i])
        if got >= batch:
            batches.append(np.asarray(cur))
            cur, got = [], 0
    if cur:
        batches.append(np.asarray(cur))
    return [batches[i] for i in rng.permutation(len(batches))]


# ---- model --------------------------------------------------------------------------------------

class Block(nn.Module):
    """Pre-LN transformer block: x += Drop(Proj(CausalMHA(LN1 x))); x += Drop(FC2(GELU(FC1(LN2 x))))."""

    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.ln1 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.fc = nn.Linear(hidden, 4 * hidden)
        self.fcproj = nn.Linear(4 * hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def mlp(self, x):
        return self.drop(self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh")))

    def forward(self, x, att_bias):
        """x: (B, T, H); att_bias: (B, 1, T, T) additive mask, 0 where attending is allowed and
        -inf elsewhere (the future and padding keys)."""
        B, T, H = x.shape
        A, hs = self.heads, H // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(H, dim=-1)
        q = q.view(B, T, A, hs).transpose(1, 2)  # (B, A, T, hs)
        k = k.view(B, T, A, hs).transpose(1, 2)
        v = v.view(B, T, A, hs).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(hs)) + att_bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H)
        x = x + self.drop(self.proj(y))
        return x + self.mlp(x)

    def forward_last(self, x, key_bias):
        """Inference over the last position only (as learnrec's last_layer_for_outputs): layer
        norm for every token, the query, attention, projection and MLP for the last one, with
        the keys and values folded as lr_attention_last_forward does: q.(Wk h_t + bk) =
        (Wk^T q).h_t + q.bk (the q.bk term is the same for every t and softmax drops it) and
        sum_t a_t (Wv h_t + bv) = Wv (sum_t a_t h_t) + bv.
        x: (B, T, H); key_bias: (B, 1, 1, T), 0 for the keys the last token may attend, -inf for
        padding. Returns (B, H), the block's output at the last position."""
        B, T, H = x.shape
        A, hs = self.heads, H // self.heads
        h = self.ln1(x)
        q = F.linear(h[:, -1], self.qkv.weight[:H], self.qkv.bias[:H]).view(B, A, 1, hs)
        wk = self.qkv.weight[H:2 * H].view(A, hs, H)
        wv = self.qkv.weight[2 * H:].view(A, hs, H)
        u = q @ wk  # (B, A, 1, H): Wk_a^T q_a per head
        att = torch.softmax(u @ h.unsqueeze(1).transpose(-2, -1) * (1.0 / math.sqrt(hs)) + key_bias,
                            dim=-1)  # (B, A, 1, T)
        z = att @ h.unsqueeze(1)  # (B, A, 1, H)
        y = (z @ wv.transpose(-2, -1)).reshape(B, H) + self.qkv.bias[2 * H:]
        x = x[:, -1] + self.proj(y)
        return x + self.mlp(x)

    def forward_single(self, x):
        """x: (N, H), each row a sequence of one token: attention over one key returns its value,
        so only the v third of the qkv projection is needed (as learnrec does)."""
        H = self.hidden
        v = F.linear(self.ln1(x), self.qkv.weight[2 * H:], self.qkv.bias[2 * H:])
        x = x + self.drop(self.proj(v))
        return x + self.mlp(x)


class PAL(nn.Module):
    def __init__(self, content_dim, hidden, layers, heads, dim, max_len, positions, dropout):
        super().__init__()
        if hidden % heads:
            raise SystemExit(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.max_len, self.positions = max_len, positions
        self.adapter = nn.Linear(content_dim, hidden)
        self.pos_emb = nn.Embedding(max_len, hidden) if positions != "none" else None
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(layers))
        self.lnf = nn.LayerNorm(hidden, eps=LN_EPS)
        self.out = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)
        # learnrec's (GPT-2's) initialisation: N(0, 0.02) for matrices and embeddings, residual
        # projections N(0, 0.02 / sqrt(2L)), biases 0, layer-norm gains 1.
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith(".proj.weight") or name.endswith(".fcproj.weight"):
                    std /= math.sqrt(2.0 * max(layers, 1))
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "lnf.weight":
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def head(self, x):
        """Final layer norm, output projection, L2 normalisation: (N, H) -> (N, D)."""
        return F.normalize(self.out(self.lnf(x)), dim=-1, eps=1e-12)

    def users(self, emb, lens):
        """User tower. emb: (B, T, H) adapted content of histories left-padded to T (padding rows:
        the adapted zero content), lens: (B,) history lengths. Returns (B, D), the output at the
        newest position (the last column)."""
        B, T, _ = emb.shape
        col = torch.arange(T)
        first = T - lens  # (B,) column of each history's oldest item
        if self.pos_emb is not None:
            if self.positions == "newest":
                pos = (T - 1 - col).expand(B, T)  # newest item at row 0 (padding: rows >= len)
            else:
                pos = (col.unsqueeze(0) - first.unsqueeze(1)).clamp_(min=0)  # oldest at row 0
            emb = emb + self.pos_emb(pos)
        x = self.drop(emb)
        # causal mask with padding keys removed; a padding query may still see itself, so no
        # softmax row is all -inf (those rows are never used)
        valid = col.unsqueeze(0) >= first.unsqueeze(1)  # (B, T)
        causal = torch.ones(T, T, dtype=torch.bool).tril_()
        allowed = (causal & valid[:, None, :]) | torch.eye(T, dtype=torch.bool)
        att_bias = torch.zeros(B, 1, T, T).masked_fill_(~allowed[:, None], float("-inf"))
        for blk in self.blocks:
            x = blk(x, att_bias)
        return self.head(x[:, -1])

    def users_all(self, emb, lens, out_mask):
        """The user tower's outputs at the positions out_mask (B, T) marks, histories left-padded
        to T: (P, D) in row-major order of the mask."""
        B, T, _ = emb.shape
        col = torch.arange(T)
        first = T - lens
        if self.pos_emb is not None:
            if self.positions == "newest":
                raise SystemExit("windows need positions counted from the oldest item, or none")
            emb = emb + self.pos_emb((col.unsqueeze(0) - first.unsqueeze(1)).clamp_(min=0))
        x = self.drop(emb)
        valid = col.unsqueeze(0) >= first.unsqueeze(1)
        causal = torch.ones(T, T, dtype=torch.bool).tril_()
        allowed = (causal & valid[:, None, :]) | torch.eye(T, dtype=torch.bool)
        att_bias = torch.zeros(B, 1, T, T).masked_fill_(~allowed[:, None], float("-inf"))
        for blk in self.blocks:
            x = blk(x, att_bias)
        return self.head(x[out_mask])

    def users_last(self, emb, lens):
        """The user tower for inference (no dropout), equal to users() in eval mode: the last
        block runs only at the newest position, the shortcut learnrec's inference takes."""
        B, T, _ = emb.shape
        col = torch.arange(T)
        first = T - lens
        if self.pos_emb is not None:
            if self.positions == "newest":
                pos = (T - 1 - col).expand(B, T)
            else:
                pos = (col.unsqueeze(0) - first.unsqueeze(1)).clamp_(min=0)
            emb = emb + self.pos_emb(pos)
        x = emb
        if not self.blocks:
            return self.head(x[:, -1])
        valid = col.unsqueeze(0) >= first.unsqueeze(1)  # (B, T)
        if len(self.blocks) > 1:
            causal = torch.ones(T, T, dtype=torch.bool).tril_()
            allowed = (causal & valid[:, None, :]) | torch.eye(T, dtype=torch.bool)
            att_bias = torch.zeros(B, 1, T, T).masked_fill_(~allowed[:, None], float("-inf"))
            for blk in self.blocks[:-1]:
                x = blk(x, att_bias)
        key_bias = torch.zeros(B, 1, 1, T).masked_fill_(~valid[:, None, None, :], float("-inf"))
        return self.head(self.blocks[-1].forward_last(x, key_bias))

    def items(self, emb):
        """Item tower. emb: (N, H) adapted content rows; each item is a sequence of one token,
        which sits at position row 0 whichever way positions are counted."""
        if self.pos_emb is not None:
            emb = emb + self.pos_emb.weight[0]
        x = self.drop(emb)
        for blk in self.blocks:
            x = blk.forward_single(x)
        return self.head(x)


# ---- learnrec's weights (inference) -------------------------------------------------------------

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
              "I32": np.int32}
_POSITIONS = {0: "none", 1: "newest", 2: "oldest"}  # the pos_emb metadata (LR_POS_*)


def read_safetensors(path):
    """Reads a safetensors file: returns ({name: numpy array}, the __metadata__ dict).
    The layout: an 8-byte little-endian header length, the JSON header (name -> dtype, shape,
    data_offsets relative to the data section; "__metadata__" -> str -> str), the data."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    n = int.from_bytes(buf[:8], "little")
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(buf)[8 + n:]
    tensors = {}
    for name, t in header.items():
        dt = _ST_DTYPES.get(t["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name} has dtype {t['dtype']}, not readable here")
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=dt)
        tensors[name] = arr.reshape(t["shape"]) if t["shape"] else arr.reshape(())
    return tensors, meta


def load_pal(path):
    """Builds a PAL in eval mode from learnrec's safetensors weights (towers/pal_io.c: every
    tensor float32 under its table name, the config in __metadata__). Returns (model, cfg) with
    cfg the metadata as typed values (content_dim, n_items, hidden, layers, heads, out_dim,
    max_len, positions, mode, dropout). In id and both modes the model gets an `item_emb`
    (nn.Embedding); in id mode `adapter` is None."""
    tensors, meta = read_safetensors(path)
    if meta.get("learnrec.format") != "pal-1":
        raise ValueError(f"{path}: not learnrec PAL weights (learnrec.format is "
                         f"{meta.get('learnrec.format')!r})")
    cfg = {k: int(meta[k]) for k in ("content_dim", "n_items", "hidden", "layers", "heads",
                                     "out_dim", "max_len", "pos_emb")}
    cfg["positions"] = _POSITIONS[cfg.pop("pos_emb")]
    cfg["mode"] = meta["mode"]
    cfg["dropout"] = float(meta["dropout"])
    H = cfg["hidden"]
    model = PAL(max(cfg["content_dim"], 1), H, cfg["layers"], cfg["heads"], cfg["out_dim"],
                cfg["max_len"], cfg["positions"], cfg["dropout"])
    if cfg["mode"] == "id":
        model.adapter = None
    if cfg["mode"] != "content":
        model.item_emb = nn.Embedding(cfg["n_items"], H)
    state = {}
    for name, arr in tensors.items():
        key = name
        if name.startswith("layers."):
            key = "blocks." + name[len("layers."):]
        elif name in ("pos_emb", "item_emb"):
            key = name + ".weight"
        state[key] = torch.from_numpy(np.array(arr, dtype=np.float32))
    model.load_state_dict(state, strict=True)  # every tensor present, none left over
    model.eval()
    return model, cfg


@torch.no_grad()
def item_inputs(model, cfg, content):
    """Every item's input embedding before positions: adaptor(content row) [+ item_emb], as
    learnrec's inference cache (towers/pal.c lr_towers_pal_cache_content). content: (N, Dc)
    float32 array or tensor, or None in id mode. Rows: the items the model can read (all
    content rows in content mode, at most n_items in id and both modes)."""
    if cfg["mode"] == "id":
        return model.item_emb.weight.detach().clone()
    c = torch.as_tensor(content)
    if c.dim() != 2 or c.shape[1] != cfg["content_dim"]:
        raise ValueError(f"the content is {tuple(c.shape)}, the model reads {cfg['content_dim']} "
                         f"columns")
    if cfg["mode"] == "both":
        c = c[:cfg["n_items"]]
    table = model.adapter(c.float())
    if cfg["mode"] == "both":
        table += model.item_emb.weight[:table.shape[0]]
    return table


@torch.no_grad()
def user_vectors(model, table, histories):
    """User tower over histories (lists of item indexes into `table`, oldest first; each cut to
    its newest max_len items). Returns (B, D) float32; a row of zeros for an empty history."""
    B, T = len(histories), model.max_len
    hs = [h[-T:] for h in histories]
    lens = torch.tensor([len(h) for h in hs], dtype=torch.int64)
    keep = (lens > 0).nonzero().flatten()
    if len(keep) < B:
        out = torch.zeros(B, model.out.out_features)
        if len(keep) == 0:
            return out
    width = int(lens.max())
    idx = torch.zeros(len(keep), width, dtype=torch.int64)  # left padding: row 0 (masked)
    for r, b in enumerate(keep.tolist()):
        idx[r, width - len(hs[b]):] = torch.as_tensor(hs[b], dtype=torch.int64)
    if len(keep) == B:
        return model.users_last(table[idx], lens)
    out[keep] = model.users_last(table[idx], lens[keep])
    return out


@torch.no_grad()
def item_vectors(model, table):
    """Item tower over every row of `table` (each item a sequence of one): (N, D)."""
    return model.items(table)


def encode(model, content_pad, hist, lens, adaptor_once):
    """Both towers for one batch. content_pad: (N + 1, Dc), last row zeros (the padding item);
    hist: (B, T) item indexes with padding = N. Returns U (B, D) and V (N, D)."""
    n_items = content_pad.shape[0] - 1
    if adaptor_once:  # adapt the catalogue once, gather adapted rows for the histories
        table = model.adapter(content_pad)  # the padding row becomes the adaptor's bias
        U = model.users(table[hist], lens)
        V = model.items(table[:n_items])
    else:  # as learnrec: gather content rows per token, then adapt each
        U = model.users(model.adapter(content_pad[hist]), lens)
        V = model.items(model.adapter(content_pad[:n_items]))
    return U, V


# ---- training -----------------------------------------------------------------------------------

def make_optimizer(model, args):
    """AdamW with weight decay on matrices and embeddings only (learnrec's `decay` flag)."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay},
              {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), eps=1e-6, foreach=True)


def make_schedule(opt, total_steps, warmup_frac):
    """learnrec's schedule: linear warm-up over warmup_frac of the steps, then cosine to 0."""
    warm = max(1, int(warmup_frac * total_steps))

    def factor(step):
        step = min(step, total_steps - 1)
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(total_steps - warm, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


class Trainer:
    def __init__(self, model, content_pad, train, args):
        self.model, self.content_pad, self.args = model, content_pad, args
        mat, lens, targets = train
        n_items = content_pad.shape[0] - 1
        self.hist = torch.from_numpy(np.where(mat < 0, n_items, mat))  # padding item = N
        self.lens = torch.from_numpy(lens)
        self.targets = torch.from_numpy(targets)  # windows: (n, T), -1 where nothing is predicted
        self.opt = make_optimizer(model, args)
        self.sched = None
        self.real_tokens = self.computed_tokens = self.predictions = 0

    def step(self, idx):
        """One training step over the examples idx (a numpy index array). Returns the loss."""
        args, model = self.args, self.model
        idx = torch.from_numpy(idx)
        lens = self.lens[idx]
        T = self.hist.shape[1] if args.layout == "padded" else int(lens.max())
        hist = self.hist[idx, self.hist.shape[1] - T:]  # left-padded to T
        self.real_tokens += int(lens.sum())
        self.computed_tokens += hist.numel()
        if args.layout == "windows":
            tg = self.targets[idx, self.targets.shape[1] - T:]
            mask = tg >= 0
            n_items = self.content_pad.shape[0] - 1
            if args.adaptor_once:
                table = model.adapter(self.content_pad)
                U = model.users_all(table[hist], lens, mask)
                V = model.items(table[:n_items])
            else:
                U = model.users_all(model.adapter(self.content_pad[hist]), lens, mask)
                V = model.items(model.adapter(self.content_pad[:n_items]))
            loss = F.cross_entropy(U @ V.t() / args.tau, tg[mask])
            self.predictions += int(mask.sum())
        else:
            U, V = encode(model, self.content_pad, hist, lens, args.adaptor_once)
            loss = F.cross_entropy(U @ V.t() / args.tau, self.targets[idx])
            self.predictions += len(idx)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        return float(loss)


@torch.no_grad()
def valid_recall10(model, content_pad, valid, args, chunk=1024):
    """Recall@10 of each validation target ranked among all items (full ranking, history items
    not removed). With g items scoring above the target and e others tied with it, the target's
    rank is uniform on g..g+e, as learnrec counts it."""
    model.eval()
    mat, lens, targets = valid
    n_items = content_pad.shape[0] - 1
    hist_all = torch.from_numpy(np.where(mat < 0, n_items, mat))
    lens_all, targets_all = torch.from_numpy(lens), torch.from_numpy(targets)
    V = model.items(model.adapter(content_pad[:n_items]))
    total, n = 0.0, 0
    for s in range(0, len(lens), chunk):
        lens_c = lens_all[s:s + chunk]
        keep = lens_c > 0  # a user with no history has no embedding
        T = int(lens_c.max()) if len(lens_c) else 1  # padding only to the chunk's longest history
        hist = hist_all[s:s + chunk, hist_all.shape[1] - T:][keep]
        U = model.users(model.adapter(content_pad[hist]), lens_c[keep])
        scores = U @ V.t()
        tgt = targets_all[s:s + chunk][keep]
        t = scores.gather(1, tgt[:, None])
        g = (scores > t).sum(1).double()
        e = (scores == t).sum(1).double() - 1
        total += float(((10 - g).clamp(min=0).minimum(e + 1) / (e + 1)).sum())
        n += int(keep.sum())
    model.train()
    return total / max(n, 1)


def main():
    args = make_parser().parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    content = np.load(args.content).astype(np.float32, copy=False)
    if content.ndim != 2:
        raise SystemExit(f"{args.content}: expected a 2-d array, got shape {content.shape}")
    n_items, dc = content.shape
    content_pad = torch.cat([torch.from_numpy(np.ascontiguousarray(content)),
                             torch.zeros(1, dc)])  # row N: the padding item, content zeros
    train_path = os.path.join(args.data, f"{args.prefix}.train.inter")
    if args.layout == "windows":
        train = read_windows(train_path, args.max_len, args.window_stride or max(args.max_len // 2, 1))
        n_ex = int((train[2] >= 0).sum())  # predictions: the same examples as one per row
    else:
        train = read_inter(train_path, args.max_len)
        n_ex = len(train[1])
    top = max(int(train[0].max()), int(train[2].max()))
    if top >= n_items:
        raise SystemExit(f"item index {top} in the training data, but the content has {n_items} rows")
    preds = (train[2] >= 0).sum(1) if args.layout == "windows" else None

    def batches_of_epoch():
        if args.layout == "windows":
            return window_batches(train[1], preds, args.batch, rng)
        return epoch_batches(train[1], args.batch, args.layout, rng)

    model = PAL(dc, args.hidden, args.layers, args.heads, args.dim, args.max_len, args.positions,
                args.dropout)
    model.train()
    tr = Trainer(model, content_pad, train, args)
    per_epoch = math.ceil(n_ex / args.batch)

    if args.epochs_check:
        valid = read_inter(os.path.join(args.data, f"{args.prefix}.valid.inter"), args.max_len)
        tr.sched = make_schedule(tr.opt, per_epoch * args.epochs_check, args.lr_warmup)
        for epoch in range(1, args.epochs_check + 1):
            t0, losses = time.perf_counter(), []
            for idx in batches_of_epoch():
                losses.append(tr.step(idx))
            el = time.perf_counter() - t0
            r10 = valid_recall10(model, content_pad, valid, args)
            print(f"epoch {epoch}: loss {np.mean(losses):.4f}, valid Recall@10 {r10:.4f} "
                  f"({el:.1f} s, {n_ex / el:.0f} examples/s, layout {args.layout})", flush=True)
        return

    # Speed: warm-up steps from one shuffled epoch, then the timed steps walk a fresh one (and
    # more epochs if --steps exceeds one epoch's batches).
    tr.sched = make_schedule(tr.opt, args.warmup_steps + args.steps, args.lr_warmup)
    warm = batches_of_epoch()
    for i in range(args.warmup_steps):
        tr.step(warm[i % len(warm)])
    tr.real_tokens = tr.computed_tokens = tr.predictions = 0
    batches, losses = [], []
    t0 = time.perf_counter()
    for i in range(args.steps):
        if not batches:
            batches = batches_of_epoch()[::-1]
        idx = batches.pop()
        losses.append(tr.step(idx))
    seen = tr.predictions
    el = time.perf_counter() - t0
    rate = seen / el if el > 0 else float("nan")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, layout {args.layout}, "
          f"layers {args.layers}, batch {args.batch}: {rate:.1f} examples/s "
          f"({el / max(args.steps, 1):.3f} s per step, {args.steps} steps), "
          f"~{n_ex / rate:.0f} s per epoch of {n_ex} examples", flush=True)
    pad = 1.0 - tr.real_tokens / max(tr.computed_tokens, 1)
    print(f"notes: hidden {args.hidden}, heads {args.heads}, dim {args.dim}, positions "
          f"{args.positions}, content {n_items} x {dc}, {per_epoch} batches per epoch; timed "
          f"steps computed {tr.computed_tokens} history tokens, {pad:.1%} of them padding; "
          f"mean loss {np.mean(losses) if losses else float('nan'):.4f}"
          + (", adaptor once per step" if args.adaptor_once else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
