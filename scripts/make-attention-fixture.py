#!/usr/bin/env python3
"""Writes src/model/testdata/attention.safetensors: window and anchored stripe attention of a
small case, computed in float64 from the equations of GRL.md (independently of the Rust code),
so that the unit tests check attention numerically without the reference fixtures.

The case: an 8x16 token map, 2 heads of 2 channels, 4x4 windows, 4x8 stripes, anchors at half
resolution (df 2), the cpb MLP 8 wide. Inputs and weights are `pattern(seed, n)`, which the
tests compute too; the file holds only the expected outputs, `[128, 4]` each (tokens row-major):
`window`, `window_shifted`, `stripe_h` (horizontal, unshifted), `stripe_v_shifted`.

Pure Python, no dependencies. Usage:
  scripts/make-attention-fixture.py            # write the fixture
  scripts/make-attention-fixture.py --check D  # first check these equations against the
                                                 reference fixture folder D (e.g.
                                                 ../shared/fixtures/grl/sr3_psd): its tables,
                                                 indices, masks and first block's attention
"""
import json
import math
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/model/testdata/attention.safetensors"
H, W, HEADS, HEAD_DIM, WS, STRIPE, DF, CPB_HIDDEN = 8, 16, 2, 2, 4, (4, 8), 2, 8
LOGIT_SCALE = (1.0, 4.8)  # head 1 above ln(100): the clamp applies


def pattern(seed, n):
    """n values in [-1, 1), exact in f32: the top 11 bits of a multiplicative hash."""
    return [((((i + seed * 1_000_003) % 2**32) * 2_654_435_761 % 2**32) >> 21) / 1024 - 1 for i in range(n)]


def transform(seed):
    """An affine transform (logit scale, cpb MLP) from `pattern`; weights [d_in][d_out]."""
    rows = lambda v, n: [v[i * n:(i + 1) * n] for i in range(len(v) // n)]
    return {
        "logit_scale": LOGIT_SCALE,
        "fc1_w": rows(pattern(seed, 2 * CPB_HIDDEN), CPB_HIDDEN),
        "fc1_b": [0.5 * x for x in pattern(seed + 1, CPB_HIDDEN)],
        "fc2_w": rows(pattern(seed + 2, CPB_HIDDEN * HEADS), HEADS),
    }


# Tables, indices and masks (GRL.md section 5).

def log_map(t):
    t *= 8
    return math.copysign(math.log2(abs(t) + 1) / math.log2(8), t)


def coords_table(window, anchor):
    """Flattened [T][2] table: per axis the offsets -(a-1)-(s-a)//2 ..= s-1-(s-a)//2 over the
    upper end (the window table is the case a = s)."""
    axes = []
    for s, a in zip(window, anchor):
        lo, hi = -(a - 1) - (s - a) // 2, s - 1 - (s - a) // 2
        axes.append([log_map(c / hi) for c in range(lo, hi + 1)])
    return [[ch, cw] for ch in axes[0] for cw in axes[1]]


def positions(size):
    return [(h, w) for h in range(size[0]) for w in range(size[1])]


def index_window(ws):
    return [[(qh - kh + ws - 1) * (2 * ws - 1) + (qw - kw + ws - 1) for kh, kw in positions((ws, ws))]
            for qh, qw in positions((ws, ws))]


def index_a2w(s, a):
    return [[(ah - wh + s[0] - 1) * (a[1] + s[1] - 1) + (aw - ww + s[1] - 1) for wh, ww in positions(s)]
            for ah, aw in positions(a)]


def index_w2a(s, a):
    return [[(wh - ah + a[0] - 1) * (a[1] + s[1] - 1) + (ww - aw + a[1] - 1) for ah, aw in positions(a)]
            for wh, ww in positions(s)]


def windows(size, window):
    """Token indices (row-major in the map) of each window, windows row-major."""
    return [[(i + a) * size[1] + (j + b) for a in range(window[0]) for b in range(window[1])]
            for i in range(0, size[0], window[0]) for j in range(0, size[1], window[1])]


def region_ids(size, window, shift):
    """Swin's 3 x 3 regions, slices (0, -w), (-w, -shift), (-shift, None) per axis."""
    def region(p, n, w, s):
        return 0 if p < n - w else (1 if p < n - s else 2)
    return [[region(h, size[0], window[0], shift[0]) * 3 + region(w, size[1], window[1], shift[1])
             for h, w in [divmod(t, size[1]) for t in win]] for win in windows(size, window)]


def mask(query_ids, key_ids):
    return [[[0.0 if q == k else -100.0 for k in ks] for q in qs] for qs, ks in zip(query_ids, key_ids)]


# Attention (GRL.md section 4).

def bias_table(t, table):
    """16 * sigmoid(cpb_mlp(table)): [T][heads]."""
    out = []
    for row in table:
        hidden = [max(0.0, row[0] * w0 + row[1] * w1 + b) for w0, w1, b in zip(*t["fc1_w"], t["fc1_b"])]
        out.append([16 / (1 + math.exp(-sum(x * w[h] for x, w in zip(hidden, t["fc2_w"]))))
                    for h in range(len(t["logit_scale"]))])
    return out


def normalize(x):
    n = max(math.sqrt(sum(v * v for v in x)), 1e-12)
    return [v / n for v in x]


def attend(q, k, v, t, table, index, mask_):
    """One window: q [n_q][c], k [n_k][c], v [n_k][c_v], channels (heads, head_dim)."""
    bias, out, heads = bias_table(t, table), [[0.0] * len(v[0]) for _ in q], len(t["logit_scale"])
    for h in range(heads):
        dq, dv = len(q[0]) // heads, len(v[0]) // heads
        head = lambda x, d: [row[h * d:(h + 1) * d] for row in x]
        qh, kh, vh = [normalize(r) for r in head(q, dq)], [normalize(r) for r in head(k, dq)], head(v, dv)
        temperature = math.exp(min(t["logit_scale"][h], math.log(100)))
        for i, qi in enumerate(qh):
            logits = [sum(a * b for a, b in zip(qi, kj)) * temperature + bias[index[i][j]][h]
                      + (mask_[i][j] if mask_ else 0.0) for j, kj in enumerate(kh)]
            top = max(logits)
            p = [math.exp(x - top) for x in logits]
            for e in range(dv):
                out[i][h * dv + e] = sum(pj * vj[e] for pj, vj in zip(p, vh)) / sum(p)
    return out


def rolled(size, shift):
    """Map position p of the map rolled by -shift (torch.roll) -> original token index."""
    return [((h + shift[0]) % size[0]) * size[1] + (w + shift[1]) % size[1] for h, w in positions(size)]


def window_attention(qkv, size, ws, shift, t):
    """qkv [L][3c] packed (3, heads, head_dim) -> [L][c]."""
    c = len(qkv[0]) // 3
    s = ws // 2 if shift else 0
    orig = rolled(size, (s, s))
    table, index = coords_table((ws, ws), (ws, ws)), index_window(ws)
    masks = mask(*[region_ids(size, (ws, ws), (s, s))] * 2) if shift else None
    out = [None] * len(qkv)
    for n, win in enumerate(windows(size, (ws, ws))):
        rows = [qkv[orig[p]] for p in win]
        y = attend([r[:c] for r in rows], [r[c:2 * c] for r in rows], [r[2 * c:] for r in rows],
                   t, table, index, masks[n] if masks else None)
        for p, row in zip(win, y):
            out[orig[p]] = row
    return out


def stripe_attention(qkv, anchor, size, stripe, df, shift, t1, t2):
    """qkv [L][3c], anchor [L / df^2][c] (map size / df) -> [L][c]."""
    c = len(qkv[0]) // 3
    a = (stripe[0] // df, stripe[1] // df)
    asize = (size[0] // df, size[1] // df)
    s = (stripe[0] // 2, stripe[1] // 2) if shift else (0, 0)
    sa = (s[0] // df, s[1] // df)
    orig, aorig = rolled(size, s), rolled(asize, sa)
    table = coords_table(stripe, a)
    i_a2w, i_w2a = index_a2w(stripe, a), index_w2a(stripe, a)
    if shift:
        ids, aids = region_ids(size, stripe, s), region_ids(asize, a, sa)
        m_a2w, m_w2a = mask(aids, ids), mask(ids, aids)
    out = [None] * len(qkv)
    for n, (win, awin) in enumerate(zip(windows(size, stripe), windows(asize, a))):
        rows = [qkv[orig[p]] for p in win]
        anchors = [anchor[aorig[p]] for p in awin]
        z = attend(anchors, [r[c:2 * c] for r in rows], [r[2 * c:] for r in rows], t1, table, i_a2w,
                   m_a2w[n] if shift else None)
        y = attend([r[:c] for r in rows], anchors, z, t2, table, i_w2a, m_w2a[n] if shift else None)
        for p, row in zip(win, y):
            out[orig[p]] = row
    return out


# Safetensors, by hand (f32 little-endian).

def read_safetensors(path):
    data = Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header, body = json.loads(data[8:8 + n]), data[8 + n:]
    fmt = {"F32": "f", "I64": "q"}
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            lo, hi = info["data_offsets"]
            f = fmt[info["dtype"]]
            out[name] = (list(struct.unpack(f"<{(hi - lo) // struct.calcsize(f)}{f}", body[lo:hi])), info["shape"])
    return out


def write_safetensors(path, tensors, metadata):
    header, body = {"__metadata__": metadata}, b""
    for name, (values, shape) in tensors.items():
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + body)


def flat(rows):
    return [x for row in rows for x in row]


def check_reference(folder):
    """Checks the equations above against a reference fixture folder; raises on a mismatch."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    kw = cfg["model_kwargs"]
    ws, stripe, df = kw["window_size"], tuple(kw["stripe_size"]), kw["anchor_window_down_factor"]
    size = tuple(cfg["padded_input_shape"][2:])
    buffers = read_safetensors(Path(folder) / "buffers.safetensors")
    a, sv, av = (stripe[0] // df, stripe[1] // df), stripe[::-1], (stripe[1] // df, stripe[0] // df)
    half = lambda x: (x[0] // 2, x[1] // 2)
    ids = lambda s, w: region_ids(s, w, half(w))
    asize = (size[0] // df, size[1] // df)
    ours = {
        "table_w": flat(coords_table((ws, ws), (ws, ws))), "index_w": flat(index_window(ws)),
        "table_sh": flat(coords_table(stripe, a)), "table_sv": flat(coords_table(sv, av)),
        "index_sh_a2w": flat(index_a2w(stripe, a)), "index_sh_w2a": flat(index_w2a(stripe, a)),
        "index_sv_a2w": flat(index_a2w(sv, av)), "index_sv_w2a": flat(index_w2a(sv, av)),
        "mask_w": flat(flat(mask(ids(size, (ws, ws)), ids(size, (ws, ws))))),
        "mask_sh_a2w": flat(flat(mask(ids(asize, a), ids(size, stripe)))),
        "mask_sh_w2a": flat(flat(mask(ids(size, stripe), ids(asize, a)))),
        "mask_sv_a2w": flat(flat(mask(ids(asize, av), ids(size, sv)))),
        "mask_sv_w2a": flat(flat(mask(ids(size, sv), ids(asize, av)))),
    }
    for name, values in ours.items():
        ref = buffers["model." + name][0]
        worst = max(abs(x - y) for x, y in zip(values, ref))
        assert len(values) == len(ref) and worst < 1e-6, f"{name}: {worst}"
    print(f"{folder}: the 13 tables, indices and masks match")

    # The first block's attention (window shifted, horizontal stripes unshifted).
    weights = read_safetensors(Path(folder) / "model.safetensors")
    io = read_safetensors(Path(folder) / "io.safetensors")
    p = "model.layers.0.blocks.0.attn."
    get = lambda n: weights[p + n][0]
    x, dim = io["inter.norm_start"][0], kw["embed_dim"]
    x = [x[i * dim:(i + 1) * dim] for i in range(len(x) // dim)]

    def linear(rows, name, d_out):
        w, b = get(name + ".weight"), get(name + ".bias")
        return [[sum(r[i] * w[o * len(r) + i] for i in range(len(r))) + b[o] for o in range(d_out)] for r in rows]

    def torch_transform(name, heads):
        w1, b1, w2 = get(name + ".cpb_mlp.0.weight"), get(name + ".cpb_mlp.0.bias"), get(name + ".cpb_mlp.2.weight")
        hidden = len(b1)
        return {"logit_scale": get(name + ".logit_scale"), "fc1_b": b1,
                "fc1_w": [[w1[j * 2 + i] for j in range(hidden)] for i in range(2)],
                "fc2_w": [[w2[h * hidden + j] for h in range(heads)] for j in range(hidden)]}

    qkv = linear(x, "qkv.body", 3 * dim)
    pooled = [[sum(x[(ah * df + i) * size[1] + aw * df + j][ch] for i in range(df) for j in range(df)) / df**2
               for ch in range(dim)] for ah, aw in positions(asize)]
    anchor = linear(pooled, "anchor.body.0.reduction", dim // 2)
    worst = max(abs(u - v) for u, v in zip(flat(anchor), io["inter.layers.0.blocks.0.attn.anchor"][0]))
    assert worst < 1e-4, f"anchor: {worst}"
    half_c, heads = 3 * dim // 2, kw["num_heads_stripe"][0]
    win = window_attention([r[:half_c] for r in qkv], size, ws, True,
                           torch_transform("window_attn.attn_transform", kw["num_heads_window"][0]))
    stp = stripe_attention([r[half_c:] for r in qkv], anchor, size, stripe, df, False,
                           torch_transform("stripe_attn.attn_transform1", heads),
                           torch_transform("stripe_attn.attn_transform2", heads))
    out = linear([w + s for w, s in zip(win, stp)], "proj", dim)
    worst = max(abs(u - v) for u, v in zip(flat(out), io["inter.layers.0.blocks.0.attn"][0]))
    assert worst < 1e-4, f"attention: {worst}"
    print(f"{folder}: the first block's attention matches within {worst:.1e}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check_reference(sys.argv[2])
    c, size = HEADS * HEAD_DIM, (H, W)
    qkv = [pattern(1, H * W * 3 * c)[i * 3 * c:(i + 1) * 3 * c] for i in range(H * W)]
    anchor = [pattern(2, H * W // DF**2 * c)[i * c:(i + 1) * c] for i in range(H * W // DF**2)]
    tw, t1, t2 = transform(10), transform(20), transform(30)
    cases = {
        "window": window_attention(qkv, size, WS, False, tw),
        "window_shifted": window_attention(qkv, size, WS, True, tw),
        "stripe_h": stripe_attention(qkv, anchor, size, STRIPE, DF, False, t1, t2),
        "stripe_v_shifted": stripe_attention(qkv, anchor, size, STRIPE[::-1], DF, True, t1, t2),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT, {k: (flat(v), [H * W, c]) for k, v in cases.items()},
                      {"made_by": "scripts/make-attention-fixture.py"})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
